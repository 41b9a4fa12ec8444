"""API key rules (who may grant what) and the keyring under concurrent writers (processes, as CLI and services)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import HTTPException

from contracts.errors import ValidationFailed
from services.common.auth import (
    Keyring,
    Principal,
    Role,
    add_key,
    create_key,
    hash_key,
    list_keys,
    revoke_key,
    revoke_key_entry,
)
from services.identity.api.api_keys import ApiKeyRequest, KeyStatus, key_status, key_tenant, manages

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
ADMIN = Principal(tenant="acme", role=Role.oem_admin, key_id="k1")
OPERATOR = Principal(tenant=None, role=Role.platform_operator, key_id="k2")


def reasons(principal: Principal, **body: Any) -> list[tuple[str, str]]:
    try:
        key_tenant(principal, ApiKeyRequest.model_validate(body), NOW)
    except ValidationFailed as failed:
        return [(v.field, v.reason) for v in failed.violations]
    return []


def refused(principal: Principal, **body: Any) -> tuple[int, str, str]:
    with pytest.raises(HTTPException) as caught:
        key_tenant(principal, ApiKeyRequest.model_validate(body), NOW)
    detail = caught.value.detail
    return caught.value.status_code, detail["field"], detail["reason"]


def test_an_oem_admin_grants_its_own_tenant_oem_and_auditor_keys() -> None:
    assert key_tenant(ADMIN, ApiKeyRequest(role=Role.oem_user), NOW) == "acme"
    assert key_tenant(ADMIN, ApiKeyRequest(role=Role.oem_admin, tenant="acme"), NOW) == "acme"
    auditor = ApiKeyRequest(role=Role.auditor, expires_at=NOW + timedelta(days=366))
    assert key_tenant(ADMIN, auditor, NOW) == "acme"
    assert refused(ADMIN, role="carrier") == (403, "role", "role_not_grantable")
    assert refused(ADMIN, role="platform_operator") == (403, "role", "role_not_grantable")
    assert refused(ADMIN, role="oem_user", tenant="other") == (404, "tenant", "tenant_not_found")


def test_auditor_keys_are_time_bound() -> None:
    assert reasons(ADMIN, role="auditor") == [("expires_at", "expires_at_required")]
    far = (NOW + timedelta(days=366, seconds=1)).isoformat()
    assert reasons(ADMIN, role="auditor", expires_at=far) == [("expires_at", "expires_at_too_far")]
    assert reasons(OPERATOR, role="auditor", tenant="acme", expires_at=far) == [("expires_at", "expires_at_too_far")]
    past = (NOW - timedelta(seconds=1)).isoformat()
    assert reasons(ADMIN, role="oem_user", expires_at=past) == [("expires_at", "expires_at_in_past")]
    assert reasons(ADMIN, role="oem_user", expires_at=far) == []  # only auditors have a ceiling


def test_the_operator_names_tenants_where_roles_need_them() -> None:
    assert key_tenant(OPERATOR, ApiKeyRequest(role=Role.recycler, tenant="recycler-7"), NOW) == "recycler-7"
    assert key_tenant(OPERATOR, ApiKeyRequest(role=Role.regulator), NOW) is None
    assert reasons(OPERATOR, role="carrier") == [("tenant", "tenant_required")]
    assert reasons(OPERATOR, role="oem_admin") == [("tenant", "tenant_required")]
    assert reasons(OPERATOR, role="platform_operator", tenant="acme") == [("tenant", "tenant_not_allowed")]
    assert reasons(OPERATOR, role="oem_user", tenant="ACME!") == [("tenant", "invalid_tenant")]
    assert reasons(OPERATOR, role="public") == [("role", "role_not_grantable")]
    assert reasons(OPERATOR, role="oem_user", tenant="acme", label="a\tb") == [("label", "invalid_label")]


def test_who_manages_which_key() -> None:
    acme_user = {"key_id": "a", "tenant": "acme", "role": "oem_user"}
    acme_auditor = {"key_id": "b", "tenant": "acme", "role": "auditor"}
    acme_handler = {"key_id": "c", "tenant": "acme", "role": "repairer"}  # a handler id equal to the tenant's name
    other = {"key_id": "d", "tenant": "other", "role": "oem_admin"}
    assert [manages(ADMIN, e) for e in (acme_user, acme_auditor, acme_handler, other)] == [True, True, False, False]
    assert all(manages(OPERATOR, e) for e in (acme_user, acme_auditor, acme_handler, other))
    tenantless_admin = Principal(tenant=None, role=Role.oem_admin, key_id="k3")
    assert not manages(tenantless_admin, {"key_id": "e", "tenant": None, "role": "oem_user"})
    auditor = Principal(tenant="acme", role=Role.auditor, key_id="k4")
    assert not manages(auditor, acme_user)


def test_key_status() -> None:
    assert key_status({"revoked": False, "expires_at": None}, NOW) is KeyStatus.active
    assert key_status({"revoked": False, "expires_at": NOW.isoformat()}, NOW) is KeyStatus.expired
    assert key_status({"revoked": True, "expires_at": None}, NOW) is KeyStatus.revoked


def test_entries_record_who_and_when_and_old_entries_still_load(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    old_key = "bpk_old"
    path.write_text(
        json.dumps(
            {
                "keys": [
                    {
                        "key_id": "key_old",
                        "sha256": hash_key(old_key),
                        "tenant": "acme",
                        "role": "oem_admin",
                        "expires_at": None,
                        "revoked": False,
                    }
                ]
            }
        )
    )
    entry, key = create_key(path, tenant="acme", role=Role.auditor, created_by="oem_admin:acme:k1", now=NOW)
    assert (entry["created_at"], entry["created_by"]) == (NOW.isoformat(), "oem_admin:acme:k1")
    keyring = Keyring(path)
    assert keyring.authenticate(old_key) is not None
    assert keyring.authenticate(key) is not None
    old = next(e for e in list_keys(path) if e["key_id"] == "key_old")
    assert (old["created_at"], old["created_by"], old["revoked_at"]) == (None, None, None)
    assert all("sha256" not in e for e in list_keys(path))
    # A revocation visible to the caller only; the second one changes nothing.
    assert revoke_key_entry(path, "key_old", visible=lambda e: e["tenant"] == "other") is None
    first = revoke_key_entry(path, "key_old", revoked_by="x", now=NOW)
    assert first is not None
    assert (first["revoked"], first["revoked_at"], first["revoked_by"]) == (True, NOW.isoformat(), "x")
    again = revoke_key_entry(path, "key_old", revoked_by="y")
    assert again is not None
    assert again["revoked_by"] == "x"
    # Two writes within one timestamp tick: each replaces the file, the keyring notices both.
    assert keyring.authenticate(old_key) is None


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    # Each writer opens the lock file itself: flock excludes separate open files alike whether they belong to threads
    # of one process (identity's request threads) or to processes (the CLI); threads keep the test fast.
    path = tmp_path / "keys.json"
    seed, _ = add_key(path, tenant="acme", role=Role.oem_admin)
    go = threading.Event()

    def add_many(tenant: str) -> list[str]:
        assert go.wait(10)
        return [add_key(path, tenant=tenant, role=Role.oem_user)[0] for _ in range(25)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(add_many, f"tenant-{n}") for n in range(4)]
        go.set()
        revoked = revoke_key(path, seed)
        created = [key_id for future in futures for key_id in future.result(timeout=30)]
    assert revoked
    entries = {e["key_id"]: e for e in list_keys(path)}
    assert set(created) | {seed} == set(entries)
    assert len(created) == 100
    assert entries[seed]["revoked"] is True
    assert not list(tmp_path.glob(".*.tmp"))
