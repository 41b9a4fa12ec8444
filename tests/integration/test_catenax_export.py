"""The Catena-X BatteryPass 6.1.0 export over HTTP from a running reporting service: passports minted and moved on
Kafka, the job requested and downloaded, and the file validated again against the committed schema."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from jsonschema import Draft4Validator  # type: ignore[import-untyped]

from contracts import topics
from contracts.telemetry import InServiceDataUpdated, LatestValue, TelemetryMetric
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.support import ServiceProcess, eventually, send_fact
from tests.unit.reporting.factories import T0, batteries, minted, status_changed
from tests.unit.reporting.test_catenax_export import SCHEMA, allowed_codes, pointer_of

PASSPORTS = 5


async def test_catenax_export_downloaded_over_http_validates_but_for_the_gaps_it_explains(
    reporting: ServiceProcess, settings: Settings
) -> None:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    key = new_key(settings, Role.oem_admin, tenant)
    facts = [minted(battery, tenant) for battery in batteries(PASSPORTS)]
    for fact in facts:
        await send_fact(settings, topics.PASSPORT_MINTED, fact, fact.passport_id)
    first = facts[0].passport_id
    at = T0 + timedelta(days=40)
    await send_fact(settings, topics.CUSTODY_PASSPORT_STATUS, status_changed(first, tenant, "in_service", T0), first)
    latest = {
        TelemetryMetric.state_of_charge_pct: LatestValue(value=Decimal("61.5"), measured_at=at, source_system="bms"),
        TelemetryMetric.state_of_certified_energy_pct: LatestValue(
            value=Decimal("97.25"), measured_at=at, source_system="bms"
        ),
    }
    usage = InServiceDataUpdated(passport_id=first, tenant=tenant, latest=latest, readings_stored=2)
    await send_fact(settings, topics.IN_SERVICE_DATA, usage, first)
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=15, headers={"X-API-Key": key}) as http:

        async def projected() -> bool:
            count = await http.get("/reporting/v1/passports:count", params={"group_by": "stage"})
            view = await http.get(f"/reporting/v1/passports/{first}")
            return (
                count.status_code == 200
                and count.json()["total"] == PASSPORTS
                and view.status_code == 200
                and view.json()["stage"] == "in_service"
                and "state_of_certified_energy_pct" in (view.json().get("in_service") or {}).get("latest", {})
            )

        await eventually(projected, what="the passports, the in-service stage and the readings projected")
        refused = await http.post("/reporting/v1/exports", json={"format": "catenax-batterypass-6"})
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["field"] == "format"
        started = await http.post("/reporting/v1/exports", json={"format": "catenax-batterypass-6.1"})
        assert started.status_code == 202, started.text

        async def done() -> dict[str, Any] | None:
            job = (await http.get(started.headers["location"])).json()
            return job if job["status"] in ("done", "failed") else None

        job = await eventually(done, what="the Catena-X export")
        assert job["status"] == "done", job
        download = await http.get(job["links"]["download"])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/json")
    assert job["file_name"].endswith(".catenax-batterypass-6.1.json")
    document = download.json()
    assert document["aspect"] == "urn:samm:io.catenax.battery.battery_pass:6.1.0#BatteryPass"
    assert sorted(p["passport_id"] for p in document["passports"]) == sorted(f.passport_id for f in facts)
    validator = Draft4Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    for passport in document["passports"]:
        explained = {m["field"]: m["reason"] for m in passport["conformance"]["missing"]}
        found = set()
        for error in validator.iter_errors(passport["aspect"]):
            pointer = pointer_of(error)
            assert error.validator == "required", (pointer, error.message)
            assert allowed_codes(pointer), f"{pointer} is missing but the mapping document does not list it"
            assert f"BatteryPass{pointer}" in explained, pointer
            found.add(f"BatteryPass{pointer}")
        assert set(explained) == found
        assert passport["conformance"]["valid_strict"] is (not found)
        assert passport["conformance"]["errors"] == []
    summary = document["summary"]
    assert (summary["passports"], summary["valid_strict"]) == (PASSPORTS, 0)
    assert job["summary"] == summary
    moved = next(p["aspect"] for p in document["passports"] if p["passport_id"] == first)
    stamp = at.isoformat().replace("+00:00", "Z")
    assert moved["performance"]["dynamic"]["stateOfCharge"] == {"value": 61.5, "time": stamp}
    assert moved["performance"]["dynamic"]["energy"]["soce"] == {"value": 97.25, "time": stamp}
    assert moved["operation"]["intoServiceDate"] == T0.date().isoformat()


async def test_the_dashboard_exports_a_batch_as_catenax(reporting: ServiceProcess, settings: Settings) -> None:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    key = new_key(settings, Role.oem_admin, tenant)
    facts = [minted(battery, tenant) for battery in batteries(3)]
    for fact in facts:
        await send_fact(settings, topics.PASSPORT_MINTED, fact, fact.passport_id)
    batch = facts[0].subject.batch_number
    in_batch = sorted(f.passport_id for f in facts if f.subject.batch_number == batch)
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=15) as http:
        signed_in = await http.post("/dashboard/login", data={"api_key": key})
        assert signed_in.status_code == 303

        async def listed() -> bool:
            page = await http.get(f"/dashboard/batches/{batch}")
            return page.status_code == 200 and all(pid in page.text for pid in in_batch)

        await eventually(listed, what="the batch on the dashboard")
        page = await http.get(f"/dashboard/batches/{batch}")
        assert "<option value='catenax-batterypass-6.1'>Catena-X BatteryPass 6.1 JSON</option>" in page.text
        started = await http.post("/dashboard/exports", data={"format": "catenax-batterypass-6.1", "batch": batch})
        assert started.status_code == 303
        job_page = started.headers["location"]

        async def done() -> dict[str, Any] | None:
            job = (await http.get(job_page.replace("?", ".json?", 1) if "?" in job_page else f"{job_page}.json")).json()
            return job if job["status"] in ("done", "failed") else None

        job = await eventually(done, what="the dashboard's Catena-X export")
        assert job["status"] == "done", job
        document = (await http.get(f"{job_page.split('?')[0]}/download")).json()
    assert document["format"] == "catenax-batterypass-6.1"
    assert sorted(p["passport_id"] for p in document["passports"]) == in_batch
    assert document["summary"]["passports"] == len(in_batch)
