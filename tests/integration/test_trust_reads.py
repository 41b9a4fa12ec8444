"""Read entitlement: the legitimate-interest tier (material composition, dismantling, state of health) is read by
value-chain operators whose handler is registered and verified in the handler registry, for a purpose that is the
work of one of its roles. A suspended or unknown handler's key stating a purpose was answered 200 with that tier;
now 403 with a reason code, and allowed reads are still logged."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx

from bpass.examples import valid_static_data
from contracts import topics
from contracts.passport_data import BatteryCategory
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.support import ServiceProcess, entitled_reader, eventually, send_fact
from tests.unit.reporting.factories import batteries, minted, replaced

LEGITIMATE_INTEREST_FIELD = "material_composition"


async def projected_passport(platform: dict[str, ServiceProcess], settings: Settings) -> tuple[str, str]:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    fact = minted(batteries(1)[0], tenant)
    fact = replaced(fact, static_data=valid_static_data(BatteryCategory(fact.category.value)))
    await send_fact(settings, topics.PASSPORT_MINTED, fact, fact.passport_id)
    owner = new_key(settings, Role.oem_admin, tenant)

    async def projected() -> bool:
        async with httpx.AsyncClient(base_url=platform["reporting"].base_url, timeout=10) as http:
            response = await http.get(f"/reporting/v1/passports/{fact.passport_id}", headers={"X-API-Key": owner})
        return response.status_code == 200

    await eventually(projected, what="the passport in reporting")
    return tenant, fact.passport_id


async def read(platform: dict[str, ServiceProcess], key: str, passport_id: str, purpose: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=platform["reporting"].base_url, timeout=10) as http:
        return await http.get(
            f"/reporting/v1/passports/{passport_id}", params={"purpose": purpose}, headers={"X-API-Key": key}
        )


def reason(response: httpx.Response) -> tuple[int, str]:
    body: dict[str, Any] = response.json()
    return response.status_code, body["reason"] if response.status_code != 200 else ""


async def test_only_registered_verified_handlers_read_for_a_purpose_of_their_role(
    platform: dict[str, ServiceProcess], settings: Settings, db: asyncpg.Connection
) -> None:
    _, pid = await projected_passport(platform, settings)
    carrier_id, recycler_id = f"carrier-{uuid.uuid4().hex[:8]}", f"recycler-{uuid.uuid4().hex[:8]}"
    carrier = new_key(settings, Role.carrier, carrier_id)
    recycler = new_key(settings, Role.recycler, recycler_id)

    # Unknown to the registry: the key alone entitles to nothing.
    assert reason(await read(platform, carrier, pid, "transport")) == (403, "handler_not_registered")
    assert reason(await read(platform, new_key(settings, Role.recycler), pid, "recycling")) == (
        403,
        "handler_not_registered",
    )
    await entitled_reader(settings, db, carrier_id, ["carrier"], state="pending")
    assert reason(await read(platform, carrier, pid, "transport")) == (403, "handler_not_verified")

    await entitled_reader(settings, db, carrier_id, ["carrier"], version=2)
    allowed = await read(platform, carrier, pid, "transport")
    assert allowed.status_code == 200, allowed.text
    assert LEGITIMATE_INTEREST_FIELD in allowed.json()["static_data"], allowed.json()["static_data"].keys()
    # A purpose outside the carrier's work, or an authority's purpose.
    for purpose in ("recycling", "repair", "market_surveillance"):
        assert reason(await read(platform, carrier, pid, purpose)) == (403, "purpose_not_allowed_for_role"), purpose

    # A recycler key of a handler registered as a carrier only: the registry's roles decide, not the key's.
    await entitled_reader(settings, db, recycler_id, ["carrier"])
    assert reason(await read(platform, recycler, pid, "recycling")) == (403, "purpose_not_allowed_for_role")
    await entitled_reader(settings, db, recycler_id, ["carrier", "recycler"], version=2)
    assert (await read(platform, recycler, pid, "recycling")).status_code == 200

    # Suspended: refused from then on; an older registry fact arriving late does not lift the suspension.
    await entitled_reader(settings, db, carrier_id, ["carrier"], state="suspended", version=3)
    assert reason(await read(platform, carrier, pid, "transport")) == (403, "handler_suspended")
    await entitled_reader(settings, db, carrier_id, ["carrier"], version=2)
    assert reason(await read(platform, carrier, pid, "transport")) == (403, "handler_suspended")

    # Every allowed read is in the access log; refused ones returned nothing.
    rows = await db.fetch("SELECT role, purpose FROM reporting.access_log WHERE passport_id = $1 ORDER BY id", pid)
    assert [(r["role"], r["purpose"]) for r in rows] == [("carrier", "transport"), ("recycler", "recycling")]


async def test_custodys_registry_decides_through_its_facts(
    platform: dict[str, ServiceProcess], settings: Settings
) -> None:
    _, pid = await projected_passport(platform, settings)
    handler_id = f"carrier-{uuid.uuid4().hex[:8]}"
    key = new_key(settings, Role.carrier, handler_id)
    operator = {"X-API-Key": new_key(settings, Role.platform_operator)}
    registration = {
        "handler_id": handler_id,
        "name": f"{handler_id} Ltd",
        "roles": ["carrier"],
        "sites": [{"site_id": "main", "name": "Main site", "country": "GB"}],
    }
    async with httpx.AsyncClient(base_url=platform["custody"].base_url, timeout=10, headers=operator) as custody:
        assert (await custody.post("/custody/v1/handlers", json=registration)).status_code == 201
        assert (await custody.post(f"/custody/v1/handlers/{handler_id}/verify", json={})).status_code == 200

        async def allowed() -> bool:
            return (await read(platform, key, pid, "transport")).status_code == 200

        await eventually(allowed, what="the verified carrier's read")
        assert (await custody.post(f"/custody/v1/handlers/{handler_id}/suspend", json={"reason": "permit"})).is_success

    async def refused() -> tuple[int, str] | None:
        answer = reason(await read(platform, key, pid, "transport"))
        return answer if answer[0] == 403 else None

    assert await eventually(refused, what="the suspended carrier refused") == (403, "handler_suspended")
