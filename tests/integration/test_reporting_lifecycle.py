"""Annex XIII 4(a) snapshots at status changes and the lifecycle reports (second life, state of health by model and
age), against the real stack: facts published on their Kafka topics, read back over HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from contracts import topics
from contracts.identity import PassportMinted
from contracts.passport_data import BatteryStatus
from contracts.telemetry import InServiceDataUpdated, LatestValue, TelemetryMetric
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.support import ServiceProcess, eventually, send_fact
from tests.unit.reporting.factories import T0, batteries, minted, replaced, status_changed


def passport(tenant: str, model: str, status: BatteryStatus | None = None, made: date | None = None) -> PassportMinted:
    fact = minted(batteries(1)[0], tenant)
    static = fact.static_data.model_copy(
        update={"battery_model": model, "battery_status": status, "manufacturing_date": made or date(2025, 12, 1)}
    )
    return replaced(fact, static_data=static)


def health(pid: str, tenant: str, soh: str, at: datetime) -> InServiceDataUpdated:
    latest = {
        TelemetryMetric.state_of_health_pct: LatestValue(value=Decimal(soh), measured_at=at, source_system="bms-7"),
        TelemetryMetric.full_cycles: LatestValue(value=Decimal(300), measured_at=at, source_system="bms-7"),
    }
    return InServiceDataUpdated(passport_id=pid, tenant=tenant, latest=latest, readings_stored=2)


def years_since(month_of: date) -> int:
    now = datetime.now(UTC)
    return max(0, (now.year * 12 + now.month - (month_of.year * 12 + month_of.month)) // 12)


@pytest.fixture(scope="module")
async def fleet(reporting: ServiceProcess, settings: Settings) -> dict[str, Any]:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    model = f"LIFE-{uuid.uuid4().hex[:6]}"
    facts = {
        "placed_a": passport(tenant, model),
        "placed_b": passport(tenant, model),
        "repurposed": passport(tenant, model, BatteryStatus.repurposed, made=date(2019, 6, 15)),
        "remanufactured": passport(tenant, f"{model}-R", BatteryStatus.remanufactured),
        "waste": passport(tenant, model),
    }
    for fact in facts.values():
        await send_fact(settings, topics.PASSPORT_MINTED, fact, fact.passport_id)
    pid = {name: fact.passport_id for name, fact in facts.items()}
    key = new_key(settings, Role.oem_admin, tenant)
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=10, headers={"X-API-Key": key}) as http:

        async def minted() -> bool:
            # Readings and status changes are consumed side by side with the mintings, from topics of their own:
            # a placing projected before its minting would snapshot no static part.
            r = await http.get("/reporting/v1/passports:count", params={"group_by": "stage"})
            return r.status_code == 200 and r.json()["total"] == len(facts)

        await eventually(minted, what="the passports minted")
        for name, soh in (("placed_a", "97.5"), ("placed_b", "88.0"), ("repurposed", "81.2")):
            await send_fact(settings, topics.IN_SERVICE_DATA, health(pid[name], tenant, soh, T0), pid[name])

        async def readings_projected() -> bool:
            r = await http.get("/reporting/v1/reports/state-of-health")
            return r.status_code == 200 and r.json()["overall"]["passports"] == 3

        await eventually(readings_projected, what="the state-of-health readings projected")
    # The status changes come after the readings: the snapshots they take hold them.
    for name in ("placed_a", "placed_b"):
        fact = status_changed(pid[name], tenant, "placed_on_market", T0 + timedelta(days=1))
        await send_fact(settings, topics.CUSTODY_PASSPORT_STATUS, fact, pid[name])
    waste = status_changed(pid["waste"], tenant, "collected", T0 + timedelta(days=2))
    await send_fact(settings, topics.CUSTODY_PASSPORT_STATUS, waste, pid["waste"])
    return {"tenant": tenant, "model": model, "pid": pid, "key": key, "waste_fact": waste}


def client(reporting: ServiceProcess, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=reporting.base_url, timeout=15, headers={"X-API-Key": key})


async def test_status_changes_snapshot_the_performance_values_once(
    reporting: ServiceProcess, fleet: dict[str, Any], settings: Settings
) -> None:
    pid = fleet["pid"]
    async with client(reporting, fleet["key"]) as http:

        async def snapshots(name: str) -> list[dict[str, Any]] | None:
            view = (await http.get(f"/reporting/v1/passports/{pid[name]}")).json()
            return view.get("performance_snapshots") or None

        [placed] = await eventually(lambda: snapshots("placed_a"), what="the placed-on-market snapshot")
        assert (placed["status"], placed["stage"]) == ("original", "placed_on_market")
        assert placed["at"] == (T0 + timedelta(days=1)).isoformat()
        values = placed["values"]
        assert values["state_of_health_pct"] == {
            "value": "97.5",
            "unit": "%",
            "measured_at": T0.isoformat(),
            "source": "bms-7",
        }
        assert values["full_cycles"]["value"] == "300"
        assert values["rated_capacity_ah"]["source"] == "static_data v1"  # the static part, from the passport
        [collected] = await eventually(lambda: snapshots("waste"), what="the waste snapshot")
        assert (collected["status"], collected["stage"]) == ("waste", "collected")

        # The same change delivered again (a new message id, so not an inbox duplicate) takes no second snapshot.
        await send_fact(settings, topics.CUSTODY_PASSPORT_STATUS, fleet["waste_fact"], pid["waste"])
        marker = status_changed(pid["waste"], fleet["tenant"], "in_treatment", T0 + timedelta(days=5))
        await send_fact(settings, topics.CUSTODY_PASSPORT_STATUS, marker, pid["waste"])
        later = await eventually(
            lambda: _when(snapshots("waste"), lambda s: len(s) >= 2), what="the in-treatment snapshot"
        )
        assert [s["stage"] for s in later] == ["collected", "in_treatment"]


async def _when(value: Any, ok: Any) -> Any:
    got = await value
    return got if got and ok(got) else None


async def test_state_of_health_report_by_model_and_age(
    reporting: ServiceProcess, fleet: dict[str, Any], settings: Settings
) -> None:
    model, pid = fleet["model"], fleet["pid"]
    # A newer reading moves a passport to another bucket: counters follow.
    newer = health(pid["placed_b"], fleet["tenant"], "86.4", T0 + timedelta(days=30))
    await send_fact(settings, topics.IN_SERVICE_DATA, newer, pid["placed_b"])
    async with client(reporting, fleet["key"]) as http:
        young_age = str(years_since((T0 + timedelta(days=1)).date()))

        async def report() -> dict[str, Any] | None:
            # Wait for the newer reading and both placings themselves: the overall range alone was right before.
            body = (await http.get("/reporting/v1/reports/state-of-health", params={"model": model})).json()
            rows = {r["age_years"]: r for r in body["rows"]}
            young = rows.get(young_age)
            return body if young and young["min_pct"] == "86.4" and young["passports"] == 2 else None

        body = await eventually(report, what="the newer state-of-health reading in the report")
        assert (body["overall"]["min_pct"], body["overall"]["max_pct"]) == ("81.2", "97.5")
        rows = {r["age_years"]: r for r in body["rows"]}
        young = rows[young_age]
        assert young["passports"] == 2
        assert (young["min_pct"], young["p50_pct"], young["max_pct"], young["mean_pct"]) == (
            "86.4",
            "86.4",
            "97.5",
            "91.95",
        )
        assert young["soh_80_90"] == 1
        assert young["soh_95_100"] == 1
        old = rows[str(years_since(date(2019, 6, 15)))]  # not placed on the market: its age counts from manufacture
        assert (old["passports"], old["p50_pct"]) == (1, "81.2")
        assert body["by_model"][model]["passports"] == 3
        csv = await http.get("/reporting/v1/reports/state-of-health", params={"model": model, "format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text.startswith("model,age_years,passports,min_pct,p50_pct,mean_pct,max_pct,soh_lt_60")
        refused = await http.get("/reporting/v1/reports/state-of-health", params={"chemistry": "LFP"})
        assert refused.status_code == 422
        assert refused.json()["violations"][0] == {
            "field": "chemistry",
            "reason": "unsupported_filter",
            "message": "The state-of-health report filters on model and status only.",
        }


async def test_second_life_report_and_its_tenant_scope(
    reporting: ServiceProcess, fleet: dict[str, Any], settings: Settings
) -> None:
    model, tenant = fleet["model"], fleet["tenant"]
    async with client(reporting, fleet["key"]) as http:

        async def report() -> dict[str, Any] | None:
            body = (await http.get("/reporting/v1/reports/second-life")).json()
            return body if body["waste"] == 1 else None

        body = await eventually(report, what="the second-life report")
        assert body["by_status"] == {"repurposed": 1, "re-used": 0, "remanufactured": 1, "waste": 1}
        assert body["second_life_total"] == 2
        assert body["by_model"][model] == {"repurposed": 1, "re-used": 0, "remanufactured": 0, "waste": 1}
        assert body["by_responsible_operator"] == {tenant: {"repurposed": 1, "re-used": 0, "remanufactured": 1,
                                                            "waste": 1}}  # fmt: skip
        assert body["superseded"] == 0
        csv = (await http.get("/reporting/v1/reports/second-life", params={"format": "csv"})).text
        assert csv.splitlines()[0] == (
            "status,model,responsible_operator,passports,from_predecessors,predecessor_passports,superseded"
        )
        assert len(csv.splitlines()) == 4
        listed = (await http.get("/reporting/v1/reports")).json()["reports"]
        assert {"second-life", "state-of-health"} <= {r["name"] for r in listed}
    regulator = new_key(settings, Role.regulator)
    async with client(reporting, regulator) as http:
        missing = await http.get("/reporting/v1/reports/second-life")
        assert missing.status_code == 422
        assert missing.json()["violations"][0]["reason"] == "tenant_required"
        named = (await http.get("/reporting/v1/reports/second-life", params={"tenant": tenant})).json()
        assert named["second_life_total"] == 2
    stranger = new_key(settings, Role.oem_admin, f"oem-{uuid.uuid4().hex[:10]}")
    async with client(reporting, stranger) as http:
        assert (await http.get("/reporting/v1/reports/second-life")).json()["second_life_total"] == 0
        assert (await http.get("/reporting/v1/reports/state-of-health")).json()["overall"]["passports"] == 0
        other = await http.get("/reporting/v1/reports/second-life", params={"tenant": tenant})
        assert other.status_code == 404
