"""Tiered passport reads, the stated purpose and the read log (issue #7), against the running platform.

One passport of one OEM is read by a recycler (legitimate interest, with and without a purpose), a regulator
(authorities), another OEM (nothing: 404 on every id endpoint) and the public page; the owner and the regulator
then find the logged reads with who, when, which fields and why.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from bpass.examples import valid_static_data
from contracts import topics
from contracts.attributes import AccessTier
from contracts.passport_data import BatteryCategory
from contracts.telemetry import InServiceDataUpdated, LatestValue, TelemetryMetric
from services.common.auth import Role, add_key
from services.common.settings import Settings
from services.reporting.domain.tiers import state_for_tier
from tests.support import ServiceProcess, entitled_reader, eventually, send_fact
from tests.unit.reporting.factories import T0, batteries, custody_chain, minted, replaced

OWNER_ONLY = ("extensions", "product_family", "amendments", "minted_by")


@dataclass
class World:
    base_url: str
    tenant: str
    pid: str
    keys: dict[str, str]
    readers: dict[str, str]  # who -> the principal name the log records (`role:tenant:key id`)

    def client(self, who: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=10, headers={"X-API-Key": self.keys[who]})


@pytest.fixture
async def world(platform: dict[str, ServiceProcess], settings: Settings, db: asyncpg.Connection) -> World:
    """A passport with static data of every tier, extensions, custody steps and in-service data."""
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    fact = minted(batteries(1)[0], tenant)
    fact = replaced(
        fact, static_data=valid_static_data(BatteryCategory(fact.category.value)), extensions={"supplier_lot": "S-9"}
    )
    pid = fact.passport_id
    await send_fact(settings, topics.PASSPORT_MINTED, fact, pid)
    for step in custody_chain(pid, tenant, ["dispatch", "receipt"]):
        await send_fact(settings, topics.CUSTODY_RECORDED, step, pid)
    at = T0 + timedelta(days=30)
    soh = LatestValue(value=Decimal("93.5"), measured_at=at, source_system="bms")
    usage = InServiceDataUpdated(
        passport_id=pid, tenant=tenant, latest={TelemetryMetric.state_of_health_pct: soh}, readings_stored=1
    )
    await send_fact(settings, topics.IN_SERVICE_DATA, usage, pid)
    # A registered, verified operator whose roles cover every purpose these tests state.
    recycler_id = f"recycler-{uuid.uuid4().hex[:8]}"
    await entitled_reader(settings, db, recycler_id, ["carrier", "collector", "recycler", "repairer"])
    keys, readers = {}, {}
    for who, role, key_tenant in (
        ("owner", Role.oem_admin, tenant),
        ("auditor", Role.auditor, tenant),
        ("other_oem", Role.oem_admin, f"oem-{uuid.uuid4().hex[:10]}"),
        ("recycler", Role.recycler, recycler_id),
        ("regulator", Role.regulator, None),
    ):
        key_id, keys[who] = add_key(settings.api_keys_file, tenant=key_tenant, role=role)
        readers[who] = f"{role.value}:{key_tenant or '-'}:{key_id}"
    world = World(platform["reporting"].base_url, tenant, pid, keys, readers)

    async def complete() -> dict[str, Any] | None:
        async with world.client("owner") as http:
            response = await http.get(f"/reporting/v1/passports/{pid}")
        state: dict[str, Any] = response.json() if response.status_code == 200 else {}
        done = len(state.get("custody_timeline") or []) == 2 and (state.get("in_service") or {}).get("latest")
        return state if done else None

    await eventually(complete, what="the passport with its custody steps and in-service data")
    return world


async def log_rows(world: World, who: str, **params: str) -> list[dict[str, Any]]:
    async with world.client(who) as http:
        response = await http.get("/reporting/v1/access-log", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_recycler_reads_the_legitimate_interest_tier_with_a_purpose_and_the_read_is_logged(
    world: World,
) -> None:
    async with world.client("owner") as http:
        full = (await http.get(f"/reporting/v1/passports/{world.pid}")).json()
    async with world.client("recycler") as http:
        refused = await http.get(f"/reporting/v1/passports/{world.pid}")
        assert refused.status_code == 400
        assert refused.json()["reason"] == "purpose_required"
        assert "purpose" in refused.json()["detail"]
        # the owner's read above warmed the cache: the recycler's read is cut from the cached full state
        response = await http.get(
            f"/reporting/v1/passports/{world.pid}", params={"purpose": "recycling", "purpose_text": "WO-4711"}
        )
    assert response.status_code == 200, response.text
    assert response.headers["X-Access-Tier"] == "legitimate_interest"
    assert response.headers["X-Cache"] == "hit"
    view = response.json()
    assert view == state_for_tier(full, AccessTier.legitimate_interest)
    for hidden in (*OWNER_ONLY, "custody_timeline", "current_handler_id"):
        assert hidden not in view
    assert view["in_service"]["latest"]["state_of_health_pct"]["value"] == "93.5"
    assert "material_composition" in view["static_data"]
    assert "test_reports_url" not in view["static_data"]
    assert "test_reports_url" in full["static_data"]

    for who in ("owner", "auditor", "regulator"):
        rows = await log_rows(world, who, passport_id=world.pid, purpose="recycling")
        assert len(rows) == 1, (who, rows)
        row = rows[0]
        assert row["role"] == "recycler"
        assert row["reader"].startswith("recycler:")
        assert row["tenant"] == world.tenant
        assert row["tier"] == "legitimate_interest"
        assert row["access"] == "current"
        assert row["purpose"] == "recycling"
        assert row["purpose_text"] == "WO-4711"
        assert "static_data.material_composition" in row["fields"]
        assert "extensions" not in row["fields"]
        assert datetime.now(UTC) - datetime.fromisoformat(row["at"]) < timedelta(minutes=2)
    # the refused read (no purpose) returned nothing and is not in the log; filters narrow the log
    assert await log_rows(world, "owner", passport_id=world.pid, purpose="repair") == []
    assert len(await log_rows(world, "regulator", tenant=world.tenant, reader=rows[0]["reader"])) == 1


async def test_versions_and_as_of_reads_are_tiered_and_logged(world: World) -> None:
    params = {"purpose": "repair"}
    async with world.client("recycler") as http:
        listing = await http.get(f"/reporting/v1/passports/{world.pid}/versions", params=params)
        first = await http.get(f"/reporting/v1/passports/{world.pid}/versions/1", params=params)
        now = await http.get(
            f"/reporting/v1/passports/{world.pid}", params={**params, "as_of": datetime.now(UTC).isoformat()}
        )
        unstated = await http.get(f"/reporting/v1/passports/{world.pid}/versions/1")
    assert listing.status_code == first.status_code == now.status_code == 200
    assert unstated.status_code == 400
    assert unstated.json()["reason"] == "purpose_required"
    for response in (first, now):
        assert response.headers["X-Access-Tier"] == "legitimate_interest"
        assert not set(OWNER_ONLY) & set(response.json())
    rows = await log_rows(world, "owner", passport_id=world.pid)
    assert sorted(r["access"] for r in rows) == ["as_of", "version", "versions"]


async def test_a_regulator_reads_the_authorities_tier(world: World) -> None:
    async with world.client("regulator") as http:
        response = await http.get(f"/reporting/v1/passports/{world.pid}")
    assert response.status_code == 200
    assert response.headers["X-Access-Tier"] == "authorities"
    view = response.json()
    assert "test_reports_url" in view["static_data"]
    assert len(view["custody_timeline"]) == 2
    assert not set(OWNER_ONLY) & set(view)
    rows = await log_rows(world, "owner", passport_id=world.pid)
    assert [(r["role"], r["tier"], r["purpose"]) for r in rows] == [("regulator", "authorities", None)]
    # search results are cut like the passports they summarise
    async with world.client("regulator") as http:
        found = (await http.get("/reporting/v1/passports", params={"tenant": world.tenant})).json()["items"]
    assert [item["passport_id"] for item in found] == [world.pid]
    assert found[0]["extensions"] == {}
    assert found[0]["product_family"] is None
    assert found[0]["status"] == view["status"]


async def test_owner_and_auditor_read_everything_unlogged(world: World) -> None:
    for who in ("owner", "auditor"):
        async with world.client(who) as http:
            response = await http.get(f"/reporting/v1/passports/{world.pid}")
        assert response.status_code == 200
        assert response.headers["X-Access-Tier"] == "owner"
        assert response.json()["extensions"] == {"supplier_lot": "S-9"}
    assert await log_rows(world, "owner", passport_id=world.pid) == []


async def test_another_tenants_oem_sees_nothing_of_the_passport_or_its_log(world: World) -> None:
    async with world.client("recycler") as http:  # something in the log to leak
        assert (await http.get(f"/reporting/v1/passports/{world.pid}", params={"purpose": "collection"})).is_success
    async with world.client("other_oem") as http:
        for path, params in (
            (f"/reporting/v1/passports/{world.pid}", {}),
            (f"/reporting/v1/passports/{world.pid}", {"as_of": datetime.now(UTC).isoformat()}),
            (f"/reporting/v1/passports/{world.pid}/versions", {}),
            (f"/reporting/v1/passports/{world.pid}/versions/1", {}),
        ):
            response = await http.get(path, params=params)
            assert response.status_code == 404, (path, params, response.text)
            assert response.json()["reason"] == "passport_not_found"
        assert (await http.get("/reporting/v1/access-log", params={"tenant": world.tenant})).status_code == 404
    assert await log_rows(world, "other_oem", passport_id=world.pid) == []
    assert all(r["tenant"] != world.tenant for r in await log_rows(world, "other_oem"))
    assert len(await log_rows(world, "owner", passport_id=world.pid)) == 1


async def test_the_owner_its_auditor_and_a_regulator_read_who_read_which_passport_at_which_tier(
    world: World, settings: Settings
) -> None:
    started = datetime.now(UTC)
    second = minted(batteries(1)[0], world.tenant)
    await send_fact(settings, topics.PASSPORT_MINTED, second, second.passport_id)

    async def projected() -> bool:
        async with world.client("owner") as http:
            return (await http.get(f"/reporting/v1/passports/{second.passport_id}")).status_code == 200

    await eventually(projected, what="the tenant's second passport")
    reads = [  # (who, passport, purpose) -> the tier the log must name
        ("recycler", world.pid, "recycling", "legitimate_interest"),
        ("recycler", second.passport_id, "repair", "legitimate_interest"),
        ("regulator", second.passport_id, None, "authorities"),
    ]
    for who, pid, purpose, tier in reads:
        async with world.client(who) as http:
            response = await http.get(f"/reporting/v1/passports/{pid}", params={"purpose": purpose} if purpose else {})
        assert response.status_code == 200, response.text
        assert response.headers["X-Access-Tier"] == tier
    made = sorted((world.readers[who], pid, tier, purpose) for who, pid, purpose, tier in reads)

    def entries(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, str | None]]:
        return sorted((r["reader"], r["passport_id"], r["tier"], r["purpose"]) for r in rows)

    # The tenant's owner and its auditor see exactly these reads of the tenant's passports (the owner's own reads
    # are not logged); the regulator sees them when it names the tenant, and among every tenant's when it does not.
    for who in ("owner", "auditor"):
        rows = await log_rows(world, who)
        assert entries(rows) == made, who
        assert {r["tenant"] for r in rows} == {world.tenant}
        assert {r["role"] for r in rows} == {"recycler", "regulator"}
    assert entries(await log_rows(world, "regulator", tenant=world.tenant)) == made
    everyone = await log_rows(world, "regulator", since=started.isoformat(), limit="500")
    assert set(made) <= set(entries(everyone))
    of_second = await log_rows(world, "auditor", passport_id=second.passport_id)
    assert entries(of_second) == [m for m in made if m[1] == second.passport_id]

    # Another tenant's owner sees none of them: not in its own log, not by passport, not by naming the tenant.
    theirs = await log_rows(world, "other_oem", since=started.isoformat(), limit="500")
    assert not set(made) & set(entries(theirs))
    assert all(r["tenant"] != world.tenant for r in theirs)
    for pid in (world.pid, second.passport_id):
        assert await log_rows(world, "other_oem", passport_id=pid) == []
    async with world.client("other_oem") as http:
        refused = await http.get("/reporting/v1/access-log", params={"tenant": world.tenant})
    assert (refused.status_code, refused.json()["reason"]) == (404, "tenant_not_found")


async def test_only_owners_auditors_and_regulators_query_the_log(world: World) -> None:
    async with world.client("recycler") as http:
        response = await http.get("/reporting/v1/access-log")
    assert response.status_code == 403
    async with httpx.AsyncClient(base_url=world.base_url, timeout=10) as http:
        assert (await http.get("/reporting/v1/access-log")).status_code == 401


async def test_the_log_pages_newest_first(world: World) -> None:
    async with world.client("recycler") as http:
        for purpose in ("collection", "transport", "dismantling"):
            response = await http.get(f"/reporting/v1/passports/{world.pid}", params={"purpose": purpose})
            assert response.status_code == 200
    seen: list[str] = []
    cursor = None
    async with world.client("owner") as http:
        while True:
            params = {"passport_id": world.pid, "limit": "2", **({"cursor": cursor} if cursor else {})}
            page = (await http.get("/reporting/v1/access-log", params=params)).json()
            seen.extend(r["purpose"] for r in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert seen == ["dismantling", "transport", "collection"]


async def test_the_public_page_holds_only_public_fields(world: World) -> None:
    async with world.client("owner") as http:
        full = (await http.get(f"/reporting/v1/passports/{world.pid}")).json()
    async with httpx.AsyncClient(base_url=world.base_url, timeout=10) as http:
        response = await http.get(f"/passport/{world.pid}", params={"format": "json"})
    assert response.status_code == 200
    page = response.json()
    allowed = state_for_tier(full, AccessTier.public)
    assert set(page) <= set(allowed) | {"version"}
    assert set(page["static_data"]) <= set(allowed["static_data"])
    assert "material_composition" not in page["static_data"]
    assert "extensions" not in page


async def test_a_regulators_export_holds_the_authorities_tier_and_is_logged(world: World) -> None:
    async with world.client("regulator") as http:
        body = {"format": "json", "tenant": world.tenant, "passport_ids": [world.pid], "purpose": "market_surveillance"}
        started = await http.post("/reporting/v1/exports", json=body)
        assert started.status_code == 202, started.text
        job = started.headers["Location"]

        async def done() -> dict[str, Any] | None:
            view: dict[str, Any] = (await http.get(job)).json()
            return view if view["status"] in ("done", "failed") else None

        assert (await eventually(done, what="the export"))["status"] == "done"
        exported = (await http.get(f"{job}/download")).json()["passports"]
    assert len(exported) == 1
    assert exported[0]["passport_id"] == world.pid
    assert not set(OWNER_ONLY) & set(exported[0])
    assert "test_reports_url" in exported[0]["static_data"]
    rows = await log_rows(world, "owner", passport_id=world.pid)
    assert [(r["access"], r["purpose"], r["tier"]) for r in rows] == [
        ("export:json", "market_surveillance", "authorities")
    ]
