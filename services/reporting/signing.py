"""Ed25519 signing of audit packs. The private key lives in a file (BPASS_REPORTING_SIGNING_KEY_FILE, default
var/local/reporting-signing-key.pem), made at first start; public keys are recorded in `signing_keys` and served
at /reporting/v1/signing-keys so an auditor pins one and verifies packs offline (`bpass verify-pack`).

Signature file (`<pack>.pdf.sig.json`, detached): {"format": "bpass-signature/1", "algorithm": "Ed25519",
"key_id", "public_key" (base64, raw 32 bytes), "sha256" (hex of the signed file), "size", "file_name",
"signed_at", "signature" (base64 of the Ed25519 signature over the file's bytes)}.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.common.settings import REPO_ROOT

KEY_FILE_ENV = "BPASS_REPORTING_SIGNING_KEY_FILE"
DEFAULT_KEY_FILE = REPO_ROOT / "var" / "local" / "reporting-signing-key.pem"
SIGNATURE_FORMAT = "bpass-signature/1"


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)

    @property
    def public_raw(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def sign(self, content: bytes, file_name: str, now: datetime | None = None) -> dict[str, Any]:
        return {
            "format": SIGNATURE_FORMAT,
            "algorithm": "Ed25519",
            "key_id": self.key_id,
            "public_key": base64.b64encode(self.public_raw).decode(),
            "sha256": hashlib.sha256(content).hexdigest(),
            "size": len(content),
            "file_name": file_name,
            "signed_at": (now or datetime.now(UTC)).isoformat(),
            "signature": base64.b64encode(self.private_key.sign(content)).decode(),
        }


def key_file() -> Path:
    return Path(os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE)


def load_or_create(path: Path | None = None) -> Signer:
    """The signing key in `path`; created (mode 0600, exclusively) when missing."""
    path = path or key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        try:
            os.link(tmp, path)  # atomic and exclusive: a process that made it first wins, we use theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError(f"{path} holds no Ed25519 private key")
    return Signer(key)


class SignerSlot:
    """The service's signer, loaded when the service starts (not when its spec is built)."""

    def __init__(self) -> None:
        self._signer: Signer | None = None

    def load(self) -> Signer:
        self._signer = load_or_create()
        return self._signer

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            raise RuntimeError("the signing key is not loaded yet")
        return self._signer


def public_pem_of(raw: bytes) -> str:
    return (
        Ed25519PublicKey.from_public_bytes(raw)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
