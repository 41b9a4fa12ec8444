"""API keys: stored hashed, revocable, with expiry; principals from message sources."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.common.auth import Keyring, Role, add_key, hash_key, list_keys, principal_from_source, revoke_key


def test_key_is_stored_hashed_and_authenticates(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key_id, key = add_key(path, tenant="acme", role=Role.oem_admin)
    assert key not in path.read_text()
    assert hash_key(key) in path.read_text()
    principal = Keyring(path).authenticate(key)
    assert principal is not None
    assert (principal.tenant, principal.role, principal.key_id) == ("acme", Role.oem_admin, key_id)
    assert Keyring(path).authenticate(key + "x") is None
    assert all("sha256" not in entry for entry in list_keys(path))


def test_revoked_key_is_refused_without_restart(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key_id, key = add_key(path, tenant="acme", role=Role.oem_user)
    keyring = Keyring(path)
    assert keyring.authenticate(key) is not None
    assert revoke_key(path, key_id)
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 1))  # a new mtime even within one tick
    assert keyring.authenticate(key) is None
    assert not revoke_key(path, "no-such-key")


def test_expired_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    now = datetime.now(UTC)
    _, key = add_key(path, tenant="acme", role=Role.oem_user, expires_at=now + timedelta(hours=1))
    assert Keyring(path).authenticate(key, now=now) is not None
    assert Keyring(path).authenticate(key, now=now + timedelta(hours=2)) is None


def test_principal_from_cloudevents_source() -> None:
    assert principal_from_source("urn:bpass:tenant:acme:mes") == ("tenant", "acme")
    assert principal_from_source("urn:bpass:handler:carrier-7") == ("handler", "carrier-7")
    assert principal_from_source("https://example.com/system") is None
