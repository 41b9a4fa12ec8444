"""API keys over HTTP (identity), against the real services: an OEM admin manages its own tenant's keys, the
platform operator every key; keys are answered once, listed without hashes, revoked for every service at once."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bpass.examples import valid_static_payload
from contracts.attributes import BatteryCategory
from services.common.auth import Role, add_key, hash_key
from services.common.settings import Settings
from tests.conftest import new_key
from tests.support import ServiceProcess

pytestmark = pytest.mark.timeout(60)

KEYS = "/identity/v1/api-keys"


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def refusal(response: httpx.Response) -> tuple[int, str, str]:
    """(status, field, reason) of a refusal: a 422's first violation, or a 403/404's detail."""
    body = response.json()
    if response.status_code == 422:
        violation = body["violations"][0]
        return 422, violation["field"], violation["reason"]
    return response.status_code, body.get("field", ""), body["reason"]


async def mint(http: httpx.AsyncClient, identity: str, key: str) -> str:
    body = {
        "subject": {"kind": "battery", "battery_identifier": f"AK-{uuid.uuid4().hex[:12]}"},
        "category": "ev",
        "static_data": valid_static_payload(BatteryCategory.ev),
    }
    response = await http.post(f"{identity}/identity/v1/passports", json=body, headers={"X-API-Key": key})
    assert response.status_code == 201, response.text
    passport_id: str = response.json()["passport_id"]
    return passport_id


async def test_oem_admin_manages_its_own_tenant_keys(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str]
) -> None:
    name, admin_key = tenant
    identity, reporting = platform["identity"].base_url, platform["reporting"].base_url
    admin = {"X-API-Key": admin_key}
    async with httpx.AsyncClient(base_url=identity, timeout=10) as http:
        created = await http.post(KEYS, json={"role": "oem_user", "label": "MES line 3"}, headers=admin)
        assert created.status_code == 201, created.text
        user = created.json()
        assert created.headers["location"] == f"{KEYS}/{user['key_id']}"
        assert (user["tenant"], user["role"], user["status"], user["revoked"]) == (name, "oem_user", "active", False)
        assert user["created_by"].startswith(f"oem_admin:{name}:")
        assert user["label"] == "MES line 3"
        # The key is answered once and stored hashed: the keyring holds its hash, never the key.
        keyring = settings.api_keys_file.read_text()
        assert user["key"] not in keyring
        assert hash_key(user["key"]) in keyring
        passport_id = await mint(http, identity, user["key"])

        # Auditors: granted by the OEM, time-bound (at most 366 days), read-only.
        auditor_body: dict[str, Any] = {"role": "auditor", "label": "Annual audit"}
        assert refusal(await http.post(KEYS, json=auditor_body, headers=admin)) == (
            422,
            "expires_at",
            "expires_at_required",
        )
        too_far = await http.post(KEYS, json={**auditor_body, "expires_at": in_days(367)}, headers=admin)
        assert refusal(too_far) == (422, "expires_at", "expires_at_too_far")
        past = await http.post(KEYS, json={**auditor_body, "expires_at": in_days(-1)}, headers=admin)
        assert refusal(past) == (422, "expires_at", "expires_at_in_past")
        naive = await http.post(KEYS, json={**auditor_body, "expires_at": "2026-12-31T00:00:00"}, headers=admin)
        assert naive.status_code == 422
        assert naive.json()["violations"][0]["field"] == "expires_at"
        granted = await http.post(KEYS, json={**auditor_body, "expires_at": in_days(90)}, headers=admin)
        assert granted.status_code == 201, granted.text
        auditor = {"X-API-Key": granted.json()["key"]}
        assert (await http.get(f"/identity/v1/passports/{passport_id}", headers=auditor)).status_code == 200
        assert (await http.patch(f"/identity/v1/passports/{passport_id}", json={}, headers=auditor)).status_code == 403
        assert refusal(await http.post(KEYS, json={"role": "oem_user"}, headers=auditor)) == (
            403,
            "",
            "role_not_allowed",
        )
        assert (await http.get(KEYS, headers=auditor)).status_code == 403

        # What an OEM admin may not do: grant other roles, or keys of another tenant.
        carrier = await http.post(KEYS, json={"role": "carrier", "tenant": name}, headers=admin)
        assert refusal(carrier) == (403, "role", "role_not_grantable")
        elsewhere = await http.post(KEYS, json={"role": "oem_user", "tenant": "someone-else"}, headers=admin)
        assert refusal(elsewhere) == (404, "tenant", "tenant_not_found")
        public = await http.post(KEYS, json={"role": "public"}, headers=admin)
        assert refusal(public) == (422, "role", "role_not_grantable")
        assert (await http.post(KEYS, json={"role": "oem_user"}, headers={"X-API-Key": user["key"]})).status_code == 403

        # The list: this tenant's OEM and auditor keys, newest first, never a key or a hash.
        listed = await http.get(KEYS, headers=admin)
        assert listed.status_code == 200
        keys = listed.json()["keys"]
        assert [k["key_id"] for k in keys[:2]] == [granted.json()["key_id"], user["key_id"]]
        assert {k["tenant"] for k in keys} == {name}
        assert all("key" not in k and "sha256" not in k for k in keys)
        only_auditors = await http.get(KEYS, params={"role": "auditor"}, headers=admin)
        assert [k["key_id"] for k in only_auditors.json()["keys"]] == [granted.json()["key_id"]]
        assert (await http.get(KEYS, params={"tenant": "someone-else"}, headers=admin)).status_code == 404
        one = await http.get(f"{KEYS}/{user['key_id']}", headers=admin)
        assert one.status_code == 200
        assert one.json()["key_id"] == user["key_id"]
        assert "key" not in one.json()

        # Revoked: every service refuses the key from the next request on; the entry stays for the audit trail.
        revoked = await http.post(f"{KEYS}/{user['key_id']}/revoke", headers=admin)
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["status"] == "revoked"
        assert revoked.json()["revoked_by"].startswith(f"oem_admin:{name}:")
        for url in (f"{identity}/identity/v1/passports/{passport_id}", f"{reporting}/reporting/v1/passports"):
            response = await http.get(url, headers={"X-API-Key": user["key"]})
            assert response.status_code == 401, (url, response.text)
            assert response.json()["reason"] == "invalid_api_key"
        again = await http.post(f"{KEYS}/{user['key_id']}/revoke", headers=admin)
        assert again.status_code == 200
        assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
        by_status = await http.get(KEYS, params={"status": "revoked"}, headers=admin)
        assert [k["key_id"] for k in by_status.json()["keys"]] == [user["key_id"]]
        unknown = await http.post(f"{KEYS}/key_000000000000/revoke", headers=admin)
        assert refusal(unknown) == (404, "key_id", "api_key_not_found")


async def test_other_tenants_keys_are_not_found(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str]
) -> None:
    name, admin_key = tenant
    rival_key = new_key(settings, Role.oem_admin, f"rival-{uuid.uuid4().hex[:8]}")
    # A handler whose id happens to equal the tenant's name: its keys are the platform's to manage.
    handler_key_id, _ = add_key(settings.api_keys_file, tenant=name, role=Role.repairer)
    async with httpx.AsyncClient(base_url=platform["identity"].base_url, timeout=10) as http:
        created = await http.post(KEYS, json={"role": "oem_user"}, headers={"X-API-Key": admin_key})
        key_id, key = created.json()["key_id"], created.json()["key"]
        rival = {"X-API-Key": rival_key}
        assert refusal(await http.get(f"{KEYS}/{key_id}", headers=rival)) == (404, "key_id", "api_key_not_found")
        assert refusal(await http.post(f"{KEYS}/{key_id}/revoke", headers=rival)) == (
            404,
            "key_id",
            "api_key_not_found",
        )
        assert key_id not in {k["key_id"] for k in (await http.get(KEYS, headers=rival)).json()["keys"]}
        assert (await http.get(KEYS, params={"tenant": name}, headers=rival)).status_code == 404
        owner = {"X-API-Key": admin_key}
        own = (await http.get(KEYS, headers=owner)).json()["keys"]
        assert key_id in {k["key_id"] for k in own}
        assert handler_key_id not in {k["key_id"] for k in own}
        assert (await http.get(f"{KEYS}/{handler_key_id}", headers=owner)).status_code == 404
        assert (await http.post(f"{KEYS}/{handler_key_id}/revoke", headers=owner)).status_code == 404
        # The key still works (an oem_user may not manage keys, but it authenticates): the rival changed nothing.
        assert refusal(await http.get(KEYS, headers={"X-API-Key": key})) == (403, "", "role_not_allowed")


async def test_platform_operator_manages_every_key(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str]
) -> None:
    name, admin_key = tenant
    operator = {"X-API-Key": new_key(settings, Role.platform_operator)}
    handler_id = f"carrier-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=platform["identity"].base_url, timeout=10) as http:
        carrier = await http.post(KEYS, json={"role": "carrier", "tenant": handler_id}, headers=operator)
        assert carrier.status_code == 201, carrier.text
        assert carrier.json()["created_by"].startswith("platform_operator:-:")
        assert refusal(await http.post(KEYS, json={"role": "carrier"}, headers=operator)) == (
            422,
            "tenant",
            "tenant_required",
        )
        regulator_with_tenant = await http.post(KEYS, json={"role": "regulator", "tenant": name}, headers=operator)
        assert refusal(regulator_with_tenant) == (422, "tenant", "tenant_not_allowed")
        bad_tenant = await http.post(KEYS, json={"role": "oem_user", "tenant": "Not A Tenant"}, headers=operator)
        assert refusal(bad_tenant) == (422, "tenant", "invalid_tenant")
        regulator = await http.post(KEYS, json={"role": "regulator", "label": "KBA"}, headers=operator)
        assert regulator.status_code == 201
        assert regulator.json()["tenant"] is None

        # The operator sees and revokes an OEM tenant's key; the OEM admin sees who did it.
        oem_user = await http.post(KEYS, json={"role": "oem_user"}, headers={"X-API-Key": admin_key})
        key_id = oem_user.json()["key_id"]
        everyone = await http.get(KEYS, params={"tenant": name}, headers=operator)
        assert key_id in {k["key_id"] for k in everyone.json()["keys"]}
        revoked = await http.post(f"{KEYS}/{key_id}/revoke", headers=operator)
        assert revoked.status_code == 200
        seen_by_owner = await http.get(f"{KEYS}/{key_id}", headers={"X-API-Key": admin_key})
        assert seen_by_owner.json()["revoked_by"].startswith("platform_operator:")
        handler_keys = await http.get(KEYS, params={"tenant": handler_id}, headers=operator)
        assert [k["role"] for k in handler_keys.json()["keys"]] == ["carrier"]


async def test_concurrent_creations_and_revocations_lose_nothing(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str]
) -> None:
    _, admin_key = tenant
    admin = {"X-API-Key": admin_key}
    async with httpx.AsyncClient(base_url=platform["identity"].base_url, timeout=20) as http:
        first = await asyncio.gather(*(http.post(KEYS, json={"role": "oem_user"}, headers=admin) for _ in range(10)))
        assert [r.status_code for r in first] == [201] * 10
        created = [r.json() for r in first]
        # Revocations of half of them race with creations of ten more (and with the CLI's writes of other tests).
        second = await asyncio.gather(
            *(http.post(f"{KEYS}/{k['key_id']}/revoke", headers=admin) for k in created[:5]),
            *(http.post(KEYS, json={"role": "oem_user"}, headers=admin) for _ in range(10)),
        )
        assert [r.status_code for r in second] == [200] * 5 + [201] * 10
    entries = {e["key_id"]: e for e in json.loads(settings.api_keys_file.read_text())["keys"]}
    made = created + [r.json() for r in second[5:]]
    assert all(k["key_id"] in entries for k in made)
    assert [entries[k["key_id"]]["revoked"] for k in made] == [True] * 5 + [False] * 15
