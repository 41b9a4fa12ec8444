"""Principals: who is calling. Every HTTP route and every consumed message has one.

Systems authenticate with API keys (`X-API-Key: <key>` or `Authorization: Bearer <key>`). Keys are stored
hashed (SHA-256) in a keyring file shared by the services (written by the CLI and identity's `/identity/v1/api-keys`,
under a file lock); each names a tenant and a role, may expire and may be revoked. Messages carry their principal in
the CloudEvents `source` (`urn:bpass:tenant:<tenant>[:<system>]`, `urn:bpass:handler:<handler id>`,
`urn:bpass:service:<service>`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, HTTPException, Request, status

from contracts.topics import TENANT_NAME
from services.common.db import PLATFORM, set_scope

T = TypeVar("T")


class Role(StrEnum):
    oem_admin = "oem_admin"
    oem_user = "oem_user"
    carrier = "carrier"
    collector = "collector"
    recycler = "recycler"
    refiner = "refiner"
    repairer = "repairer"
    auditor = "auditor"
    regulator = "regulator"
    platform_operator = "platform_operator"
    public = "public"


OEM_ROLES = frozenset({Role.oem_admin, Role.oem_user})
TENANT_BOUND_ROLES = OEM_ROLES | {Role.auditor}


@dataclass(frozen=True)
class Principal:
    tenant: str | None
    role: Role
    key_id: str

    @property
    def name(self) -> str:
        return f"{self.role.value}:{self.tenant or '-'}:{self.key_id}"


PUBLIC = Principal(tenant=None, role=Role.public, key_id="anonymous")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyEntry:
    key_id: str
    sha256: str
    tenant: str | None
    role: Role
    expires_at: datetime | None
    revoked: bool


class Keyring:
    """The keyring file, re-read when it changes on disk (revocations apply without a restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._version: tuple[int, int, int] | None = None
        self._by_hash: dict[str, KeyEntry] = {}

    def _load(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._by_hash = {}
            self._version = None
            return
        # Every write replaces the file (a new inode), so two writes within one timestamp tick still differ.
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if version == self._version:
            return
        data = json.loads(self.path.read_text(encoding="utf-8"))
        entries = {}
        for raw in data.get("keys", []):
            expires = raw.get("expires_at")
            entry = KeyEntry(
                key_id=raw["key_id"],
                sha256=raw["sha256"],
                tenant=raw.get("tenant"),
                role=Role(raw["role"]),
                expires_at=datetime.fromisoformat(expires) if expires else None,
                revoked=bool(raw.get("revoked", False)),
            )
            entries[entry.sha256] = entry
        self._by_hash = entries
        self._version = version

    def authenticate(self, key: str, now: datetime | None = None) -> Principal | None:
        self._load()
        entry = self._by_hash.get(hash_key(key))
        if entry is None or entry.revoked:
            return None
        if entry.expires_at is not None and entry.expires_at <= (now or datetime.now(UTC)):
            return None
        return Principal(tenant=entry.tenant, role=entry.role, key_id=entry.key_id)


KEYRING_LOCK_TIMEOUT_S = 5.0


class KeyringBusy(TimeoutError):
    """Another writer held the keyring's lock for longer than the timeout."""


@contextmanager
def _keyring_lock(path: Path, timeout_s: float) -> Iterator[None]:
    """An exclusive lock on `<keyring>.lock` for a read-modify-write of the keyring (CLI and identity's HTTP API
    write the same file; readers need no lock: every write is an atomic replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise KeyringBusy(f"the keyring {path} stayed locked for {timeout_s} s") from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)  # releases the lock


def _read_keyring(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"keys": []}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    data.setdefault("keys", [])
    return data


def _write_keyring(path: Path, data: dict[str, Any]) -> None:
    """Write a temporary file next to the keyring, flush it to disk, then rename it over the keyring."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
            out.flush()
            os.fsync(out.fileno())
        tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _update_keyring(
    path: Path, change: Callable[[list[dict[str, Any]]], tuple[T, bool]], timeout_s: float = KEYRING_LOCK_TIMEOUT_S
) -> T:
    """Apply `change` to the keyring's entries under the lock; it returns (result, whether it changed them)."""
    with _keyring_lock(path, timeout_s):
        data = _read_keyring(path)
        result, changed = change(data["keys"])
        if changed:
            _write_keyring(path, data)
        return result


KEY_FIELDS = (
    "key_id",
    "tenant",
    "role",
    "label",
    "expires_at",
    "created_at",
    "created_by",
    "revoked",
    "revoked_at",
    "revoked_by",
)


def public_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A keyring entry without its hash; fields added later (created_*, label, revoked_*) are None in old ones."""
    view = {name: entry.get(name) for name in KEY_FIELDS}
    view["revoked"] = bool(entry.get("revoked", False))
    return view


def create_key(
    path: Path,
    *,
    tenant: str | None,
    role: Role,
    key_id: str | None = None,
    key: str | None = None,
    expires_at: datetime | None = None,
    created_by: str | None = None,
    label: str | None = None,
    now: datetime | None = None,
) -> tuple[dict[str, Any], str]:
    """Create a key in the keyring file; returns (its entry without the hash, the key). The key itself is never
    stored. An existing entry with the same key id is replaced."""
    if tenant is not None and not TENANT_NAME.match(tenant):
        raise ValueError(f"tenant {tenant!r}: use 2-63 of a-z, 0-9 and '-'")
    key = key or f"bpk_{secrets.token_urlsafe(32)}"
    entry: dict[str, Any] = {
        "key_id": key_id or f"key_{secrets.token_hex(6)}",
        "sha256": hash_key(key),
        "tenant": tenant,
        "role": role.value,
        "label": label,
        "expires_at": expires_at.isoformat() if expires_at else None,
        "created_at": (now or datetime.now(UTC)).isoformat(),
        "created_by": created_by,
        "revoked": False,
        "revoked_at": None,
        "revoked_by": None,
    }

    def append(entries: list[dict[str, Any]]) -> tuple[None, bool]:
        entries[:] = [k for k in entries if k["key_id"] != entry["key_id"]]
        entries.append(entry)
        return None, True

    _update_keyring(path, append)
    return public_entry(entry), key


def add_key(
    path: Path,
    *,
    tenant: str | None,
    role: Role,
    key_id: str | None = None,
    key: str | None = None,
    expires_at: datetime | None = None,
    created_by: str | None = None,
    label: str | None = None,
) -> tuple[str, str]:
    """Create a key in the keyring file; returns (key_id, key). The key itself is never stored."""
    entry, key = create_key(
        path,
        tenant=tenant,
        role=role,
        key_id=key_id,
        key=key,
        expires_at=expires_at,
        created_by=created_by,
        label=label,
    )
    return str(entry["key_id"]), key


def revoke_key_entry(
    path: Path,
    key_id: str,
    *,
    revoked_by: str | None = None,
    visible: Callable[[dict[str, Any]], bool] | None = None,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """Mark a key revoked (kept for the audit trail); its entry without the hash, or None when there is no such key
    (or `visible` says the caller may not see it). Revoking a revoked key changes nothing."""

    def revoke(entries: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, bool]:
        for entry in entries:
            if entry["key_id"] != key_id:
                continue
            if visible is not None and not visible(public_entry(entry)):
                return None, False
            if entry.get("revoked"):
                return public_entry(entry), False
            entry.update(revoked=True, revoked_at=(now or datetime.now(UTC)).isoformat(), revoked_by=revoked_by)
            return public_entry(entry), True
        return None, False

    return _update_keyring(path, revoke)


def revoke_key(path: Path, key_id: str, *, revoked_by: str | None = None) -> bool:
    """Mark a key revoked (kept for the audit trail); services refuse it from their next request on."""
    return revoke_key_entry(path, key_id, revoked_by=revoked_by) is not None


def list_keys(path: Path) -> list[dict[str, Any]]:
    """Every key's entry without its hash, oldest first."""
    return [public_entry(e) for e in _read_keyring(path)["keys"]]


def principal_from_source(source: str) -> tuple[str, str] | None:
    """(`tenant`|`handler`|`service`, name) from a CloudEvents source, or None when it names no principal."""
    parts = source.split(":")
    if len(parts) >= 4 and parts[0] == "urn" and parts[1] == "bpass" and parts[2] in {"tenant", "handler", "service"}:
        return parts[2], parts[3]
    return None


def _keyring(request: Request) -> Keyring:
    keyring: Keyring = request.app.state.keyring
    return keyring


async def optional_principal(
    request: Request,
    x_api_key: Annotated[str | None, Header(description="API key")] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    key = x_api_key
    if key is None and authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    if key is None:
        set_scope(db_scope_of(PUBLIC))
        return PUBLIC
    principal = _keyring(request).authenticate(key)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail={"reason": "invalid_api_key", "message": "The API key is unknown, revoked or expired."},
            headers={"WWW-Authenticate": "Bearer"},
        )
    set_scope(db_scope_of(principal))
    return principal


def db_scope_of(principal: Principal) -> str | None:
    """Whose rows a principal's requests may touch in PostgreSQL: a tenant's own principals (OEM users, the
    auditors it grants) only their tenant's, by row-level security; cross-tenant principals (handlers,
    authorities, the platform operator, the public) the platform's, and the service decides row by row."""
    if principal.role in TENANT_BOUND_ROLES:
        return principal.tenant  # None (a tenant role without a tenant) sees nothing
    return PLATFORM


async def public_surface() -> None:
    """Router dependency of the public surface (QR resolver, public pages): anyone may read, and what they read
    is the public tier only, which the routes decide; their database work is the platform's."""
    set_scope(PLATFORM)


async def require_principal(principal: Annotated[Principal, Depends(optional_principal)]) -> Principal:
    if principal.role is Role.public:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail={"reason": "missing_api_key", "message": "Send your API key in the X-API-Key header."},
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def require_roles(*roles: Role) -> Any:
    async def dependency(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail={
                    "reason": "role_not_allowed",
                    "message": f"Role {principal.role.value} may not do this; allowed: "
                    + ", ".join(r.value for r in roles)
                    + ".",
                },
            )
        return principal

    return Depends(dependency)
