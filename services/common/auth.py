"""Principals: who is calling. Every HTTP route and every consumed message has one.

Systems authenticate with API keys (`X-API-Key: <key>` or `Authorization: Bearer <key>`). Keys are stored
hashed (SHA-256) in a keyring file shared by the services; each names a tenant and a role, may expire and may
be revoked. Messages carry their principal in the CloudEvents `source` (`urn:bpass:tenant:<tenant>[:<system>]`,
`urn:bpass:handler:<handler id>`, `urn:bpass:service:<service>`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request, status

from contracts.topics import TENANT_NAME
from services.common.db import PLATFORM, set_scope


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
        self._mtime: float | None = None
        self._by_hash: dict[str, KeyEntry] = {}

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._by_hash = {}
            self._mtime = None
            return
        if mtime == self._mtime:
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
        self._mtime = mtime

    def authenticate(self, key: str, now: datetime | None = None) -> Principal | None:
        self._load()
        entry = self._by_hash.get(hash_key(key))
        if entry is None or entry.revoked:
            return None
        if entry.expires_at is not None and entry.expires_at <= (now or datetime.now(UTC)):
            return None
        return Principal(tenant=entry.tenant, role=entry.role, key_id=entry.key_id)


def add_key(
    path: Path,
    *,
    tenant: str | None,
    role: Role,
    key_id: str | None = None,
    key: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, str]:
    """Create a key in the keyring file; returns (key_id, key). The key itself is never stored."""
    if tenant is not None and not TENANT_NAME.match(tenant):
        raise ValueError(f"tenant {tenant!r}: use 2-63 of a-z, 0-9 and '-'")
    key = key or f"bpk_{secrets.token_urlsafe(32)}"
    key_id = key_id or f"key_{secrets.token_hex(6)}"
    data: dict[str, Any] = {"keys": []}
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
    data["keys"] = [k for k in data["keys"] if k["key_id"] != key_id]
    data["keys"].append(
        {
            "key_id": key_id,
            "sha256": hash_key(key),
            "tenant": tenant,
            "role": role.value,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "revoked": False,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)
    return key_id, key


def revoke_key(path: Path, key_id: str) -> bool:
    """Mark a key revoked (kept for the audit trail); services refuse it from their next request on."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"keys": []}
    found = False
    for entry in data["keys"]:
        if entry["key_id"] == key_id:
            entry["revoked"] = True
            found = True
    if found:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(path)
    return found


def list_keys(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["keys"]
    return [{k: v for k, v in e.items() if k != "sha256"} for e in entries]


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
