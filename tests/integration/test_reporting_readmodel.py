"""Reporting against the real stack: facts in on Kafka, the read API, reports, exports, public page, streams."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bpass.verify_pack import load_pinned_keys, verify
from contracts import topics
from contracts.telemetry import InServiceDataUpdated, LatestValue, TelemetryMetric
from services.common.auth import Role
from services.common.settings import REPO_ROOT, Settings
from services.reporting.domain.conformance import UPSTREAM_DEFECTS, SchemaError
from tests.conftest import new_key
from tests.support import ServiceProcess, eventually, read_topic, send_fact
from tests.unit.reporting.batterypass_population import found_errors
from tests.unit.reporting.factories import T0, batteries, ceased, custody_chain, minted, status_changed


async def seed(settings: Settings, tenant: str, http: httpx.AsyncClient, n: int = 12) -> list[dict[str, Any]]:
    """n passports: the first four move on (in service, collected, in treatment, recycled). `http`: reporting, as
    the tenant."""
    out = []
    for i, battery in enumerate(batteries(n)):
        fact = minted(battery, tenant)
        await send_fact(settings, topics.PASSPORT_MINTED, fact, fact.passport_id)
        out.append({"passport_id": fact.passport_id, "identifier": battery.identifier, "batch": battery.batch,
                    "model": battery.model.name, "chemistry": battery.model.chemistry[0], "i": i})  # fmt: skip

    async def all_minted() -> bool:
        # The facts below are consumed side by side with the mintings, from topics of their own: only once the
        # mintings are projected is each passport's first version its minting.
        r = await http.get("/reporting/v1/passports:count", params={"group_by": "stage"})
        return r.status_code == 200 and r.json()["total"] == n

    await eventually(all_minted, what=f"the {n} passports minted")
    first = out[0]["passport_id"]
    for step in custody_chain(first, tenant, ["dispatch", "receipt"]):
        await send_fact(settings, topics.CUSTODY_RECORDED, step, first)
    await send_fact(settings, topics.CUSTODY_PASSPORT_STATUS, status_changed(first, tenant, "in_service", T0), first)
    for row, stage in zip(out[1:4], ("collected", "in_treatment", "in_treatment"), strict=True):
        await send_fact(settings, topics.CUSTODY_PASSPORT_STATUS, status_changed(row["passport_id"], tenant, stage, T0),
                   row["passport_id"])  # fmt: skip
    recycled = out[3]
    ceased_fact = ceased(recycled["passport_id"], tenant, recycled["identifier"], T0 + timedelta(days=30))
    for topic in topics.ALL:
        if topic.payload is type(ceased_fact):
            await send_fact(settings, topic, ceased_fact, recycled["passport_id"])
    return out


MOVED_ON = {"in_service": 1, "collected": 1, "in_treatment": 1, "recycled": 1}


async def seed_projected(http: httpx.AsyncClient, rows: list[dict[str, Any]]) -> bool:
    """Every fact `seed` published is in the read model: each passport, the stages the first four moved on to (the
    cease among them), and the first one's custody steps, which travel on a topic of their own."""
    r = await http.get("/reporting/v1/passports:count", params={"group_by": "stage"})
    stages = {g["stage"]: g["count"] for g in r.json().get("groups", [])} if r.status_code == 200 else {}
    if sum(stages.values()) != len(rows) or {stage: stages.get(stage) for stage in MOVED_ON} != MOVED_ON:
        return False
    first = await http.get(f"/reporting/v1/passports/{rows[0]['passport_id']}")
    return first.status_code == 200 and len(first.json()["custody_timeline"]) == 2


@pytest.fixture(scope="module")
async def population(reporting: ServiceProcess, settings: Settings) -> dict[str, Any]:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    key = new_key(settings, Role.oem_admin, tenant)
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=10, headers={"X-API-Key": key}) as http:
        rows = await seed(settings, tenant, http)
        await eventually(lambda: seed_projected(http, rows), what="the seeded population projected")
    return {"tenant": tenant, "key": key, "rows": rows}


def client(reporting: ServiceProcess, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=reporting.base_url, timeout=15, headers={"X-API-Key": key})


async def test_read_lookup_versions_and_as_of(reporting: ServiceProcess, population: dict[str, Any]) -> None:
    first = population["rows"][0]
    async with client(reporting, population["key"]) as http:
        view = (await http.get(f"/reporting/v1/passports/{first['passport_id']}")).json()
        assert view["stage"] == "in_service"
        assert len(view["custody_timeline"]) == 2
        versions = (await http.get(f"/reporting/v1/passports/{first['passport_id']}/versions")).json()["versions"]
        # Facts of different topics are consumed side by side, but the versions tell them in event-time order: the
        # minting and the in-service status (both at T0), then the dispatch (T0 + 1 day) and the receipt (+ 2 days).
        assert sorted(v["change"] for v in versions[:2]) == ["minted", "status_changed"]
        assert [v["change"] for v in versions[2:]] == ["custody_recorded", "custody_recorded"]
        pid = first["passport_id"]
        at_t0 = (await http.get(f"/reporting/v1/passports/{pid}", params={"as_of": versions[0]["valid_from"]})).json()
        assert at_t0["stage"] == "in_service"
        assert at_t0["custody_timeline"] == []
        shipped = (await http.get(f"/reporting/v1/passports/{pid}", params={"as_of": versions[2]["valid_from"]})).json()
        assert [step["kind"] for step in shipped["custody_timeline"]] == ["dispatch"]
        found = await http.get("/reporting/v1/passports:lookup", params={"battery_identifier": first["identifier"]})
        assert found.json()["passport_ids"] == [first["passport_id"]]
        by_uri = await http.get("/reporting/v1/passports:lookup", params={"uri": view["public_uri"]})
        assert by_uri.json()["passport_ids"] == [first["passport_id"]]


async def test_search_filters_pages_and_counts(reporting: ServiceProcess, population: dict[str, Any]) -> None:
    rows = population["rows"]
    async with client(reporting, population["key"]) as http:
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
            page = (await http.get("/reporting/v1/passports", params=params)).json()
            seen += [i["passport_id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(r["passport_id"] for r in rows)
        assert seen == sorted(seen)
        chem = rows[0]["chemistry"]
        hits = (await http.get("/reporting/v1/passports", params={"chemistry": chem, "ext.colour": "blue"})).json()
        assert all(i["chemistry"] == chem and i["extensions"]["colour"] == "blue" for i in hits["items"])
        counts = (await http.get("/reporting/v1/passports:count", params={"group_by": "chemistry,stage"})).json()
        assert counts["source"] == "counters"
        assert counts["total"] == len(rows)
        by_batch = (await http.get("/reporting/v1/passports:count", params={"group_by": "batch"})).json()
        assert by_batch["source"] == "passports"
        assert by_batch["total"] == len(rows)
        bad = await http.get("/reporting/v1/passports:count", params={"group_by": "colour"})
        assert bad.status_code == 422
        assert bad.json()["violations"][0]["reason"] == "unknown_dimension"


async def test_reports_json_and_csv(reporting: ServiceProcess, population: dict[str, Any]) -> None:
    async with client(reporting, population["key"]) as http:
        pop = (await http.get("/reporting/v1/reports/population")).json()
        assert pop["total"] == len(population["rows"])
        eol = (await http.get("/reporting/v1/reports/end-of-life")).json()
        assert eol["by_stage"] == {"collected": 1, "in_treatment": 1, "recycled": 1}
        assert eol["ceased"] == 1
        yields = (await http.get("/reporting/v1/reports/recovery-yields")).json()
        assert {r["material"] for r in yields["rows"]} == {"cobalt", "nickel"}
        csv = await http.get("/reporting/v1/reports/recycled-content", params={"format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text.startswith("chemistry,passports")
        for name in ("in-service", "recycled-content"):
            assert (await http.get(f"/reporting/v1/reports/{name}")).status_code == 200


async def test_other_tenant_sees_nothing(
    reporting: ServiceProcess, population: dict[str, Any], settings: Settings
) -> None:
    stranger = new_key(settings, Role.oem_admin, f"oem-{uuid.uuid4().hex[:10]}")
    pid = population["rows"][0]["passport_id"]
    async with client(reporting, stranger) as http:
        assert (await http.get(f"/reporting/v1/passports/{pid}")).status_code == 404
        assert (await http.get("/reporting/v1/passports")).json()["items"] == []
        job = await http.post("/reporting/v1/exports", json={"format": "csv"})
        assert job.status_code == 202
    async with client(reporting, population["key"]) as http:
        assert (await http.get(f"/reporting/v1/exports/{job.json()['job_id']}")).status_code == 404


async def test_audit_pack_export_job_signed_and_verified_offline(
    reporting: ServiceProcess, population: dict[str, Any], tmp_path: Path
) -> None:
    batch = population["rows"][0]["batch"]
    async with client(reporting, population["key"]) as http:
        started = await http.post(
            "/reporting/v1/exports", json={"format": "audit-pack-pdf", "filters": {"batch": batch}}
        )
        assert started.status_code == 202
        job_url = started.headers["location"]

        async def done() -> dict[str, Any] | None:
            job = (await http.get(job_url)).json()
            return job if job["status"] in ("done", "failed") else None

        job = await eventually(done, what="the audit pack job")
        assert job["status"] == "done"
        assert job["progress_pct"] == 100
        assert job["total"] >= 1
        pdf = (await http.get(job["links"]["download"])).content
        signature = (await http.get(job["links"]["signature"])).json()
        keys = (await http.get("/reporting/v1/signing-keys")).json()
        for fmt in ("csv", "batterypass-json"):
            other = (await http.post("/reporting/v1/exports", json={"format": fmt})).json()
            assert await eventually(lambda o=other: _finished(http, o["job_id"]), what=f"{fmt} export")
    (tmp_path / "pack.pdf").write_bytes(pdf)
    (tmp_path / "pack.pdf.sig.json").write_text(json.dumps(signature))
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    verdict = verify(tmp_path / "pack.pdf", tmp_path / "pack.pdf.sig.json", load_pinned_keys(tmp_path / "keys.json"))
    assert verdict.ok
    assert verdict.pinned, verdict.lines
    save_artifact("audit-pack.pdf", pdf)


async def test_batterypass_export_summary_counts_what_a_validator_finds_in_the_file(
    reporting: ServiceProcess, population: dict[str, Any], settings: Settings
) -> None:
    """The Battery Pass file as downloaded: each passport checked again with the committed schemas; the file's
    trailing summary and the job's status count the same; the battery in service carries its readings."""
    tenant, first = population["tenant"], population["rows"][0]["passport_id"]
    at = T0 + timedelta(days=40)
    latest = {
        TelemetryMetric.state_of_charge_pct: LatestValue(value=Decimal("61.5"), measured_at=at, source_system="bms"),
        TelemetryMetric.full_cycles: LatestValue(value=Decimal("120"), measured_at=at, source_system="bms"),
    }
    usage = InServiceDataUpdated(passport_id=first, tenant=tenant, latest=latest, readings_stored=2)
    await send_fact(settings, topics.IN_SERVICE_DATA, usage, first)
    async with client(reporting, population["key"]) as http:

        async def read() -> bool:
            view = (await http.get(f"/reporting/v1/passports/{first}")).json()
            return bool("full_cycles" in (view.get("in_service") or {}).get("latest", {}))

        await eventually(read, what="the readings in the read model")
        job = (await http.post("/reporting/v1/exports", json={"format": "batterypass-json"})).json()

        async def done() -> dict[str, Any] | None:
            view = (await http.get(f"/reporting/v1/exports/{job['job_id']}")).json()
            return view if view["status"] in ("done", "failed") else None

        finished = await eventually(done, what="the Battery Pass export")
        assert finished["status"] == "done", finished
        document = (await http.get(finished["links"]["download"])).json()
    strict = except_defects = 0
    for passport in document["passports"]:
        errors = found_errors(passport["aspects"])
        assert [(e["aspect"], e["path"], e["rule"]) for e in passport["conformance"]["errors"]] == errors
        strict += not errors
        except_defects += all(any(d.covers(SchemaError(*e, "")) for d in UPSTREAM_DEFECTS) for e in errors)
    summary = document["summary"]
    assert summary["passports"] == len(population["rows"]) == len(document["passports"])
    assert (summary["valid_strict"], summary["valid_except_upstream_defects"]) == (strict, except_defects)
    assert finished["summary"] == summary
    exported = next(p for p in document["passports"] if p["passport_id"] == first)
    condition = exported["aspects"]["PerformanceAndDurability"]["batteryCondition"]
    stamp = at.isoformat().replace("+00:00", "Z")
    assert condition["stateOfCharge"] == {"stateOfChargeValue": 61.5, "lastUpdate": stamp}
    assert condition["numberOfFullCycles"] == {"numberOfFullCyclesValue": 120.0, "lastUpdate": stamp}


def save_artifact(name: str, content: bytes) -> None:
    folder = REPO_ROOT / "var" / "test-artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)


async def _finished(http: httpx.AsyncClient, job_id: str) -> bool:
    return (await http.get(f"/reporting/v1/exports/{job_id}")).json()["status"] == "done"


async def test_public_page_is_public_tier_cached_and_invalidated(
    reporting: ServiceProcess, population: dict[str, Any], settings: Settings
) -> None:
    row = population["rows"][5]
    pid = row["passport_id"]
    browser = {"Accept": "text/html"}  # machines (*/*, no Accept) get JSON
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=10, headers=browser) as anonymous:
        first = await anonymous.get(f"/passport/{pid}")
        assert first.status_code == 200
        assert first.headers["x-cache"] == "miss"
        assert "<html lang='en'>" in first.text
        assert row["identifier"] in first.text
        assert "<dt>Battery status</dt>" not in first.text  # legitimate-interest tier: only named as restricted
        second = await anonymous.get(f"/passport/{pid}")
        assert second.headers["x-cache"] == "hit"
        change = status_changed(pid, population["tenant"], "in_service", T0)
        await send_fact(settings, topics.CUSTODY_PASSPORT_STATUS, change, pid)

        async def dropped() -> bool:
            # The page cached above: the JSON variant was never cached, so it misses before the change too.
            return (await anonymous.get(f"/passport/{pid}")).headers["x-cache"] == "miss"

        await eventually(dropped, what="the cached public page dropped after the change")


async def test_change_stream_and_compacted_state_topic(
    reporting: ServiceProcess, population: dict[str, Any], settings: Settings
) -> None:
    tenant = population["tenant"]
    state_topic = settings.topic(topics.tenant_passport_state(tenant))
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    await admin.start()
    try:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, state_topic)])
        configs = {c[0]: c[1] for c in described[0].resources[0][4]}
        assert configs["cleanup.policy"] == "compact"
    finally:
        await admin.close()
    first = population["rows"][0]["passport_id"].encode()

    # Both topics are fed through the outbox relay, a moment after the read model commits.
    async def first_changes() -> list[int] | None:
        changes = await read_topic(settings, topics.tenant_passport_changes(tenant))
        versions = [json.loads(r.value)["version"] for r in changes if r.key == first]
        return versions if len(versions) >= 4 else None

    assert (await eventually(first_changes, what="4 changes of the first passport"))[:4] == [1, 2, 3, 4]

    async def latest_states() -> dict[bytes, Any] | None:
        states = {r.key: json.loads(r.value) for r in await read_topic(settings, topics.tenant_passport_state(tenant))}
        settled = len(states) >= len(population["rows"]) and states[first]["state"]["stage"] == "in_service"
        return states if settled else None

    latest = await eventually(latest_states, what="the latest state of every passport")
    assert len(latest) == len(population["rows"])
    assert latest[first]["state"]["stage"] == "in_service"
    await asyncio.sleep(0)
