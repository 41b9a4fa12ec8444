"""One passport travels end to end through real Kafka, PostgreSQL and Redis, all four services as processes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from bpass.examples import valid_static_data
from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.custody import CustodyEventKind, CustodyEventReported, CustodyTargets
from contracts.identity import PassportSpec
from contracts.passport_data import BatteryKind, PassportSubject
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.support import ServiceProcess, cloudevent_headers, eventually, headers_of, publish, read_topic


async def register_verified_handler(
    custody_url: str, operator_key: str, handler_id: str, *, delegate_of: str | None = None
) -> None:
    """The platform operator registers a handler and verifies it (409 when a previous run already did: then its
    details are amended). `delegate_of`: the OEM tenant it acts for, so it may ship that OEM's new batteries."""
    details: dict[str, Any] = {"name": f"{handler_id} Ltd", "roles": ["carrier"]}
    if delegate_of is not None:
        details["identifiers"] = [{"scheme": "oem_delegate", "value": delegate_of}]
    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": operator_key}) as http:
        registered = await http.post(f"{custody_url}/custody/v1/handlers", json={"handler_id": handler_id, **details})
        assert registered.status_code in (201, 409), registered.text
        if registered.status_code == 409:
            amended = await http.put(f"{custody_url}/custody/v1/handlers/{handler_id}", json=details)
            assert amended.status_code == 200, amended.text
        verified = await http.post(f"{custody_url}/custody/v1/handlers/{handler_id}/verify")
        assert verified.status_code in (200, 409), verified.text


def mint_body(identifier: str, category: BatteryCategory = BatteryCategory.ev) -> dict[str, Any]:
    spec = PassportSpec(
        subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=identifier),
        category=category,
        static_data=valid_static_data(category),
    )
    return spec.model_dump(mode="json", exclude_none=True)


async def test_passport_minted_projected_streamed_and_custody_applied(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str]
) -> None:
    tenant_name, key = tenant
    identity, reporting = platform["identity"], platform["reporting"]
    identifier = f"E2E-{uuid.uuid4().hex[:12]}"
    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": key}) as http:
        # 1. The OEM mints over HTTP at identity.
        minted = await http.post(f"{identity.base_url}/identity/v1/passports", json=mint_body(identifier))
        assert minted.status_code == 201, minted.text
        passport_id = minted.json()["passport_id"]
        assert passport_id.startswith("urn:uuid:")

        # Minting again is idempotent: same passport, 200, nothing new.
        again = await http.post(f"{identity.base_url}/identity/v1/passports", json=mint_body(identifier))
        assert again.status_code == 200
        assert again.json()["passport_id"] == passport_id

        # 2-4. Reporting projects the minted fact; the owner reads it back over HTTP.
        async def projected() -> dict[str, Any] | None:
            r = await http.get(f"{reporting.base_url}/reporting/v1/passports/{passport_id}")
            return r.json() if r.status_code == 200 else None

        view = await eventually(projected, what="the minted passport in the reporting read model")
        assert view["battery_identifier"] == identifier
        assert view["tenant"] == tenant_name
        assert view["minted"] is True

        # Another tenant does not see it.
        stranger = new_key(settings, Role.oem_admin, f"oem-{uuid.uuid4().hex[:10]}")
        hidden = await http.get(
            f"{reporting.base_url}/reporting/v1/passports/{passport_id}", headers={"X-API-Key": stranger}
        )
        assert hidden.status_code == 404

        # 5. A verified carrier publishes a custody event on the inbound topic, by battery identifier.
        operator = new_key(settings, Role.platform_operator)
        await register_verified_handler(platform["custody"].base_url, operator, "carrier-e2e", delegate_of=tenant_name)
        event = CustodyEventReported(
            kind=CustodyEventKind.dispatch,
            occurred_at="2026-11-28T10:00:00+01:00",  # type: ignore[arg-type]
            handler_id="carrier-e2e",
            targets=CustodyTargets(passport_ids=[passport_id]),
            transport_document="CMR-123",
        )
        await publish(
            settings,
            topics.CUSTODY_EVENTS.name,
            event.model_dump_json().encode(),
            key=passport_id,
            headers=cloudevent_headers(event, source="urn:bpass:handler:carrier-e2e"),
        )

        async def custody_projected() -> dict[str, Any] | None:
            r = await http.get(f"{reporting.base_url}/reporting/v1/passports/{passport_id}")
            body = r.json()
            return body if r.status_code == 200 and body.get("custody_timeline") else None

        view = await eventually(custody_projected, what="the custody step on the passport")
        assert view["custody_timeline"][0]["kind"] == "dispatch"
        assert view["current_handler_id"] == "carrier-e2e"
        assert view["version"] == 2

        # The custody chain of that passport verifies.
        verification = await http.get(
            f"{platform['custody'].base_url}/custody/v1/passports/{passport_id}/custody-log/verification"
        )
        assert verification.json()["intact"] is True
        assert verification.json()["entries"] == 1

    # 6. The owner's change stream carries both changes, keyed by passport id, in order.
    async def changes() -> list[Any] | None:
        records = await read_topic(settings, topics.tenant_passport_changes(tenant_name))
        mine = [r for r in records if r.key == passport_id.encode()]
        return mine if len(mine) >= 2 else None

    records = await eventually(changes, what="two change-stream messages")
    assert [headers_of(r)["ce_type"] for r in records] == ["eu.battery-passport.reporting.passport-changed.v1"] * 2
    import json

    bodies = [json.loads(r.value) for r in records]
    assert [b["version"] for b in bodies] == [1, 2]
    assert [b["change"] for b in bodies] == ["minted", "custody_recorded"]
