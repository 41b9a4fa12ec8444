"""Offline verification of a signed audit pack: `bpass verify-pack pack.pdf [--signature pack.pdf.sig.json]
[--public-key key.pem | --keys signing-keys.json]`. Needs no network and nothing of the platform but this file.

Checks: the file's SHA-256 and size equal the signature file's; the Ed25519 signature over the file's bytes
verifies with the pinned public key (a PEM file, or the JSON of GET /reporting/v1/signing-keys); and the key id
names that key. Without a pinned key it refuses (anyone can sign a forged pack with a key of their own and embed
it); only when told `--trust-embedded-key` does it verify against the key inside the signature file, and then it
says that this proves integrity only, not origin.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SIGNATURE_FORMAT = "bpass-signature/1"


@dataclass
class Verdict:
    ok: bool
    key_id: str | None = None
    pinned: bool = False
    lines: list[str] = field(default_factory=list)


def _key_id(raw: bytes) -> str:
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_pinned_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    """Key id -> key, from a PEM public key or the signing-keys JSON document."""
    text = path.read_bytes()
    if text.lstrip().startswith(b"{"):
        doc = json.loads(text)
        keys = {}
        for entry in doc.get("keys", []):
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(entry["public_key"]))
            keys[_key_id(_raw(key))] = key
        return keys
    loaded = serialization.load_pem_public_key(text)
    if not isinstance(loaded, Ed25519PublicKey):
        raise ValueError(f"{path} holds no Ed25519 public key")
    return {_key_id(_raw(loaded)): loaded}


NO_PINNED_KEY = (
    "FAIL no pinned key: pass --public-key (a PEM, or the JSON of GET /reporting/v1/signing-keys) to prove who signed"
    " the pack, or --trust-embedded-key to check its integrity only"
)


def verify(
    pack: Path,
    signature_file: Path,
    pinned: dict[str, Ed25519PublicKey] | None,
    *,
    trust_embedded_key: bool = False,
) -> Verdict:
    """The checks' verdict; without pinned keys it is a refusal unless `trust_embedded_key` is given."""
    if pinned is None and not trust_embedded_key:
        return Verdict(False, lines=[NO_PINNED_KEY])
    content = pack.read_bytes()
    try:
        sig = json.loads(signature_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return Verdict(False, lines=[f"FAIL signature file unreadable: {exc}"])
    verdict = Verdict(True, key_id=sig.get("key_id"))
    if sig.get("format") != SIGNATURE_FORMAT or sig.get("algorithm") != "Ed25519":
        return Verdict(False, lines=[f"FAIL unsupported signature format {sig.get('format')}/{sig.get('algorithm')}"])
    digest = hashlib.sha256(content).hexdigest()
    if digest != sig.get("sha256") or len(content) != sig.get("size"):
        verdict.ok = False
        verdict.lines.append(f"FAIL sha256 {digest} / {len(content)} bytes does not match the signed file")
    else:
        verdict.lines.append(f"ok   sha256 {digest} ({len(content)} bytes)")
    try:
        embedded = Ed25519PublicKey.from_public_bytes(base64.b64decode(sig["public_key"]))
        signature = base64.b64decode(sig["signature"])
    except (KeyError, ValueError, binascii.Error) as exc:
        return Verdict(False, lines=[*verdict.lines, f"FAIL malformed signature file: {exc}"])
    if _key_id(_raw(embedded)) != sig.get("key_id"):
        verdict.ok = False
        verdict.lines.append("FAIL key id does not name the embedded public key")
    key = embedded
    if pinned is not None:
        if sig.get("key_id") not in pinned:
            return Verdict(
                False,
                key_id=sig.get("key_id"),
                lines=[*verdict.lines, f"FAIL signed by {sig.get('key_id')}, which is not among the pinned keys"],
            )
        key = pinned[sig["key_id"]]
        verdict.pinned = True
    try:
        key.verify(signature, content)
        verdict.lines.append(f"ok   Ed25519 signature by {sig.get('key_id')} verifies")
    except InvalidSignature:
        verdict.ok = False
        verdict.lines.append(f"FAIL Ed25519 signature does not verify with {sig.get('key_id')}")
    if not verdict.pinned:
        verdict.lines.append("note embedded key trusted (--trust-embedded-key): integrity shown, origin not")
    return verdict
