"""Versions stored as deltas between snapshots, and rows from before migration 003, against the real stack."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import orjson

from contracts import topics
from contracts.telemetry import InServiceDataUpdated, LatestValue, TelemetryMetric
from services.common.auth import Role
from services.common.settings import Settings
from services.reporting.domain import dimensions, readmodel
from tests.conftest import new_key
from tests.support import ServiceProcess, eventually, read_topic, send_fact
from tests.unit.reporting.factories import T0, batteries, custody_chain, minted

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "reporting" / "migrations"


def in_service(pid: str, tenant: str, day: int) -> InServiceDataUpdated:
    at = T0 + timedelta(days=day)
    return InServiceDataUpdated(
        passport_id=pid,
        tenant=tenant,
        latest={
            TelemetryMetric.state_of_health_pct: LatestValue(
                value=Decimal(100) - day, measured_at=at, source_system="bms"
            ),
            TelemetryMetric.full_cycles: LatestValue(value=Decimal(day * 30), measured_at=at, source_system="bms"),
        },
        readings_stored=2,
    )


async def version_of(http: httpx.AsyncClient, pid: str) -> int:
    response = await http.get(f"/reporting/v1/passports/{pid}")
    return int(response.json()["version"]) if response.status_code == 200 else 0


async def test_every_version_reads_back_as_the_change_stream_published_it(
    reporting: ServiceProcess, settings: Settings
) -> None:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    key = new_key(settings, Role.oem_admin, tenant)
    fact = minted(batteries(1)[0], tenant)
    pid = fact.passport_id
    await send_fact(settings, topics.PASSPORT_MINTED, fact, pid)
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=10, headers={"X-API-Key": key}) as http:
        await eventually(lambda: _at_least(http, pid, 1), what="the passport minted")
        for step in custody_chain(pid, tenant, ["dispatch", "receipt"]):
            await send_fact(settings, topics.CUSTODY_RECORDED, step, pid)
        # readings dated after the custody steps (days 1 and 2): each arrives in event-time order, nothing is late
        for day in range(3, readmodel.SNAPSHOT_EVERY + 6):
            await send_fact(settings, topics.IN_SERVICE_DATA, in_service(pid, tenant, day), pid)
        last = 1 + 2 + readmodel.SNAPSHOT_EVERY + 3
        await eventually(lambda: _at_least(http, pid, last), what=f"{last} versions projected")

        async def stream() -> dict[int, dict[str, object]] | None:
            # The change stream leaves through the outbox relay, a moment after the read model commits.
            versions = {
                body["version"]: body["state"]
                for record in await read_topic(settings, topics.tenant_passport_changes(tenant))
                if record.key == pid.encode()
                for body in [json.loads(record.value)]
            }
            return versions if len(versions) >= last else None

        published = await eventually(stream, what=f"{last} versions on the change stream")
        assert sorted(published) == list(range(1, last + 1))
        listed = (await http.get(f"/reporting/v1/passports/{pid}/versions")).json()["versions"]
        assert [v["version"] for v in listed] == list(range(1, last + 1))
        for version in range(1, last + 1):
            response = await http.get(f"/reporting/v1/passports/{pid}/versions/{version}")
            assert response.status_code == 200
            assert response.json() == published[version], f"version {version}"
        current = (await http.get(f"/reporting/v1/passports/{pid}")).json()
        assert current == published[last]
        assert current["static_data"]["battery_model"]
        first = await http.get(f"/reporting/v1/passports/{pid}", params={"as_of": listed[0]["valid_from"]})
        assert first.json()["version"] >= 1
        assert (await http.get(f"/reporting/v1/passports/{pid}/versions/{last + 1}")).status_code == 404


async def _at_least(http: httpx.AsyncClient, pid: str, version: int) -> bool:
    return await version_of(http, pid) >= version


async def test_a_passport_projected_before_migration_003_moves_to_the_json_columns_and_on(
    reporting: ServiceProcess, settings: Settings, db: asyncpg.Connection
) -> None:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    key = new_key(settings, Role.oem_admin, tenant)
    fact = minted(batteries(1)[0], tenant)
    pid = fact.passport_id
    state = readmodel.empty_state(pid, tenant)
    readmodel.apply_minted(state, fact)
    state.update(version=1, updated_at=T0.isoformat())
    dims = dimensions.dimensions(state)
    # as the projection wrote it before migration 003: the whole state in jsonb, a full version row
    await db.execute(
        """INSERT INTO reporting.passport_view (passport_id, tenant, version, state, updated_at, battery_identifier,
               model, chemistry, category, status, stage, minted_at)
           VALUES ($1, $2, 1, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11)""",
        pid, tenant, orjson.dumps(state).decode(), T0, dims.battery_identifier, dims.model, dims.chemistry,
        dims.category, dims.status, dims.stage, dims.minted_at,
    )  # fmt: skip
    await db.execute(
        "INSERT INTO reporting.passport_view_versions (passport_id, version, change, state, valid_from)"
        " VALUES ($1, 1, 'minted', $2::jsonb, $3)",
        pid,
        orjson.dumps(state).decode(),
        T0,
    )
    # migration 011, as an upgrade applies it: the row moves to the JSON columns the projection reads
    async with db.transaction():
        await db.execute("SET LOCAL search_path = reporting")
        await db.execute((MIGRATIONS / "011_projection_rows_as_json.sql").read_text())
    moved = await db.fetchrow("SELECT state, state_json FROM reporting.passport_view WHERE passport_id = $1", pid)
    assert moved["state"] is None
    assert "static_data" not in json.loads(moved["state_json"])
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=10, headers={"X-API-Key": key}) as http:
        before = (await http.get(f"/reporting/v1/passports/{pid}")).json()
        assert before == state
        [step] = custody_chain(pid, tenant, ["dispatch"])
        await send_fact(settings, topics.CUSTODY_RECORDED, step, pid)
        await eventually(lambda: _at_least(http, pid, 2), what="the custody step projected")
        after = (await http.get(f"/reporting/v1/passports/{pid}")).json()
        assert after["static_data"] == state["static_data"]
        assert len(after["custody_timeline"]) == 1
        assert (await http.get(f"/reporting/v1/passports/{pid}/versions/1")).json() == state
        assert (await http.get(f"/reporting/v1/passports/{pid}/versions/2")).json() == after
    row = await db.fetchrow(
        "SELECT state, state_json, static_json FROM reporting.passport_view WHERE passport_id = $1", pid
    )
    assert row["state"] is None
    assert row["state_json"] is not None
    assert json.loads(row["static_json"]) == state["static_data"]
