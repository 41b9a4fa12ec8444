"""Annex XIII 4(a) performance snapshots at status changes, and the lifecycle reports (second life, state of health)
with the counters they are built from (no I/O)."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from services.reporting.domain import counters, dimensions, lifecycle_reports, performance, readmodel, reports
from services.reporting.domain.lifecycle_reports import LifecycleRow
from services.reporting.exports.formats import rows_to_csv
from tests.unit.reporting.factories import T0, batteries, ceased, minted


def fresh(tenant: str = "acme") -> dict[str, Any]:
    fact = minted(batteries(1, run="lifecycle")[0], tenant)
    state = readmodel.empty_state(fact.passport_id, tenant)
    readmodel.apply_minted(state, fact)
    return state


def reading(value: str, at: datetime, source: str = "bms-1") -> dict[str, Any]:
    return {"value": value, "measured_at": at.isoformat(), "source_system": source}


def test_a_status_change_snapshots_static_and_latest_in_service_values() -> None:
    state = fresh()
    static = state["static_data"]
    readmodel.apply_in_service_data(
        state,
        {
            "state_of_health_pct": reading("97.5", T0),
            "full_cycles": reading("120", T0),
            "state_of_charge_pct": reading("55", T0),  # usage data (4(d)), not a 4(a) value
        },
    )
    changed = readmodel.apply_status(state, occurred_at=T0 + timedelta(days=1), stage="placed_on_market", by="dealer")
    assert "performance_snapshots" in changed
    [snap] = state["performance_snapshots"]
    assert snap["at"] == (T0 + timedelta(days=1)).isoformat()
    assert (snap["status"], snap["stage"], snap["by"]) == ("original", "placed_on_market", "dealer")
    values = snap["values"]
    assert values["rated_capacity_ah"] == {
        "value": str(static["rated_capacity_ah"]),
        "unit": "Ah",
        "source": "static_data v1",
    }
    assert values["state_of_health_pct"] == {
        "value": "97.5",
        "unit": "%",
        "measured_at": T0.isoformat(),
        "source": "bms-1",
    }
    assert values["full_cycles"]["unit"] == "cycles"
    assert "state_of_charge_pct" not in values
    for name, entry in values.items():
        assert entry["unit"] == {**performance.PERFORMANCE_STATIC, **performance.PERFORMANCE_DYNAMIC}[name]


def test_snapshots_follow_each_change_once_and_stand_as_taken() -> None:
    state = fresh()
    readmodel.apply_status(state, occurred_at=T0, stage="placed_on_market")
    readmodel.apply_in_service_data(state, {"state_of_health_pct": reading("91", T0 + timedelta(days=400))})
    readmodel.apply_status(state, occurred_at=T0 + timedelta(days=500), stage="collected", status="waste", by="c-1")
    # Redelivered or stale changes change nothing and take no snapshot.
    assert readmodel.apply_status(state, occurred_at=T0 + timedelta(days=500), stage="collected", status="waste") == []
    assert readmodel.apply_status(state, occurred_at=T0, stage="placed_on_market") == []
    snaps = state["performance_snapshots"]
    assert [(s["status"], s["stage"]) for s in snaps] == [("original", "placed_on_market"), ("waste", "collected")]
    assert "state_of_health_pct" not in snaps[0]["values"]  # no reading yet when it was placed on the market
    assert snaps[1]["values"]["state_of_health_pct"]["value"] == "91"
    # A change of the responsible operator alone is no status change: no snapshot.
    changed = readmodel.apply_status(state, occurred_at=T0 + timedelta(days=501), responsible_operator="pro-1")
    assert changed
    assert "performance_snapshots" not in changed
    assert len(state["performance_snapshots"]) == 2


def test_the_same_change_is_never_snapshotted_twice() -> None:
    state = fresh()
    assert performance.snapshot_performance(state, at=T0, by=None, reason=None)
    assert not performance.snapshot_performance(state, at=T0, by="someone else", reason="again")
    assert len(state["performance_snapshots"]) == 1


def test_snapshots_are_deterministic() -> None:
    first, second = fresh(), None
    second = copy.deepcopy(first)
    for state in (first, second):
        readmodel.apply_in_service_data(state, {"capacity_fade_pct": reading("3.2", T0)})
        readmodel.apply_status(state, occurred_at=T0, stage="in_service", by="dealer", reason="custody step 2")
    assert first["performance_snapshots"] == second["performance_snapshots"]


def test_snapshots_are_bounded_keeping_the_baseline_and_the_latest() -> None:
    state = fresh()
    statuses = ["repurposed", "re-used"]
    for i in range(performance.MAX_PERFORMANCE_SNAPSHOTS + 10):
        readmodel.apply_status(state, occurred_at=T0 + timedelta(days=i), status=statuses[i % 2])
    snaps = state["performance_snapshots"]
    assert len(snaps) == performance.MAX_PERFORMANCE_SNAPSHOTS
    assert snaps[0]["at"] == T0.isoformat()
    assert snaps[-1]["at"] == (T0 + timedelta(days=performance.MAX_PERFORMANCE_SNAPSHOTS + 9)).isoformat()


def test_ceasing_snapshots_once() -> None:
    state = fresh()
    fact = ceased(state["passport_id"], "acme", state["battery_identifier"], T0)
    changed = readmodel.apply_ceased(state, ceased_at=T0, reason="recycled", details={"recycler_id": "rec-1"})
    assert "performance_snapshots" in changed
    assert state["performance_snapshots"][-1]["stage"] == "recycled"
    assert state["performance_snapshots"][-1]["by"] == "rec-1"
    assert readmodel.apply_ceased(state, ceased_at=fact.ceased_at, reason="again") == []
    assert len(state["performance_snapshots"]) == 1


def test_without_static_data_in_the_state_only_dynamic_values_are_taken() -> None:
    state = fresh()
    del state["static_data"]
    readmodel.apply_in_service_data(state, {"remaining_energy_kwh": reading("70.1", T0)})
    readmodel.apply_status(state, occurred_at=T0, stage="placed_on_market")
    assert set(state["performance_snapshots"][0]["values"]) == {"remaining_energy_kwh"}


# --- Dimensions and counters ---------------------------------------------------------------------------------------


def test_age_counts_from_placing_on_market_in_utc_else_manufacture() -> None:
    state = fresh()
    state["static_data"]["manufacturing_date"] = "2024-05-20"
    assert dimensions.dimensions(state).age_month == 2024 * 12 + 4
    late = datetime(2025, 1, 31, 23, 30, tzinfo=timezone(timedelta(hours=-2)))  # 1 Feb in UTC
    readmodel.apply_status(state, occurred_at=late, stage="placed_on_market")
    assert dimensions.dimensions(state).age_month == 2025 * 12 + 1
    del state["static_data"]["manufacturing_date"]
    state["in_service"].pop("placed_on_market_at")
    assert dimensions.dimensions(state).age_month == -1


def dims(**changes: Any) -> dimensions.Dimensions:
    state = fresh()
    state["static_data"]["manufacturing_date"] = "2024-05-20"
    return dataclasses.replace(dimensions.dimensions(state), **changes)


def test_soh_counters_move_with_the_reading_and_leave_when_ceased() -> None:
    new = dims(state_of_health_pct=Decimal("97.46"))
    assert new.soh_key is not None
    assert new.soh_key[-1] == 974
    [(key, value)] = counters.soh_deltas([("t", None, new)]).items()
    assert key == ("t", *new.soh_key)
    assert value == (1, Decimal("97.46"))
    older = dims(state_of_health_pct=Decimal("96.0"))
    moved = counters.soh_deltas([("t", new, older)])
    assert moved[("t", *new.soh_key)] == (-1, Decimal("-97.46"))
    assert moved[("t", *older.soh_key)] == (1, Decimal("96.0"))  # type: ignore[misc]
    assert counters.soh_deltas([("t", new, new)]) == {}
    gone = dims(state_of_health_pct=Decimal("97.46"), ceased=True)
    assert gone.soh_key is None
    assert counters.soh_deltas([("t", new, gone)]) == {("t", *new.soh_key): (-1, Decimal("-97.46"))}
    assert counters.soh_deltas([("t", None, dims())]) == {}  # no reading: not counted


def test_lifecycle_counters_count_predecessors_and_superseded_passports() -> None:
    original = dims()
    superseded = dims(successor_count=2)
    deltas = counters.lifecycle_deltas([("t", None, original)])
    assert deltas == {("t", *original.lifecycle_key): (1, 0, 0, 0)}
    deltas = counters.lifecycle_deltas([("t", original, superseded)])
    assert deltas == {("t", *original.lifecycle_key): (0, 0, 0, 1)}
    successor = dims(status="repurposed", predecessor_count=3, responsible_operator="second-life-co")
    deltas = counters.lifecycle_deltas([("t", None, successor)])
    assert deltas == {("t", successor.model or "", "repurposed", "second-life-co"): (1, 3, 1, 0)}
    not_counted_yet = dims(predecessor_count=None)  # a row written before migration 006
    assert counters.lifecycle_deltas([("t", not_counted_yet, original)]) == {
        ("t", *original.lifecycle_key): (1, 0, 0, 0)
    }


# --- The reports ---------------------------------------------------------------------------------------------------

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_second_life_report_groups_by_status_model_and_operator() -> None:
    rows = [
        LifecycleRow("M1", "original", "", 100, 0, 0, 7),
        LifecycleRow("M1", "repurposed", "", 3, 6, 3, 0),
        LifecycleRow("M2", "remanufactured", "reman-co", 2, 2, 2, 1),
        LifecycleRow("M1", "waste", "pro-scheme", 10, 0, 0, 0),
        LifecycleRow("", "re-used", "", 1, 1, 1, 0),
    ]
    report = lifecycle_reports.second_life("oem-1", rows, NOW, {})
    assert report["by_status"] == {"repurposed": 3, "re-used": 1, "remanufactured": 2, "waste": 10}
    assert report["second_life_total"] == 6
    assert report["predecessor_passports"] == 9
    assert report["from_predecessors"] == 6
    assert report["superseded"] == 8
    assert report["superseded_by_model"] == {"M1": 7, "M2": 1}
    assert report["by_model"]["M1"] == {"repurposed": 3, "re-used": 0, "remanufactured": 0, "waste": 10}
    assert report["by_responsible_operator"]["oem-1"]["repurposed"] == 3  # '' is the tenant itself
    assert report["by_responsible_operator"]["pro-scheme"]["waste"] == 10
    statuses = {(r["status"], r["model"]) for r in report["rows"]}
    assert ("original", "M1") in statuses  # shown for its superseded passports
    assert ("re-used", reports.UNKNOWN) in statuses
    csv = rows_to_csv(report["rows"]).decode("utf-8")
    assert csv.splitlines()[0].startswith("status,model,responsible_operator,passports")


def test_state_of_health_report_gives_count_min_median_mean_max_and_buckets() -> None:
    histogram = [
        ("M1", 0, 990, 2, Decimal("198.0")),
        ("M1", 0, 955, 1, Decimal("95.5")),
        ("M1", 2, 801, 3, Decimal("240.3")),
        ("M1", 2, 555, 1, Decimal("55.5")),
        ("M2", -1, 1000, 1, Decimal("100")),
    ]
    report = lifecycle_reports.state_of_health("oem-1", histogram, NOW, {})
    rows = {(r["model"], r["age_years"]): r for r in report["rows"]}
    young = rows[("M1", "0")]
    assert (young["passports"], young["min_pct"], young["p50_pct"], young["max_pct"]) == (3, "95.5", "99", "99")
    assert young["mean_pct"] == "97.83"
    assert young["soh_95_100"] == 3
    old = rows[("M1", "2")]
    assert (old["min_pct"], old["p50_pct"], old["max_pct"]) == ("55.5", "80.1", "80.1")
    assert (old["soh_lt_60"], old["soh_80_90"]) == (1, 3)
    assert rows[("M2", reports.UNKNOWN)]["soh_95_100"] == 1  # 100 % falls in the last bucket
    assert list(report["by_age_years"]) == ["0", "2", reports.UNKNOWN]
    assert report["overall"]["passports"] == 8
    assert report["overall"]["p50_pct"] == "80.1"  # lower median of 8
    assert [r["model"] for r in report["rows"]] == ["M1", "M1", "M2"]
    assert report["charts"][0]["series"][0] == {"label": "lt_60", "value": 1}


def test_month_index_matches_the_counters() -> None:
    assert lifecycle_reports.month_index(NOW) == 2026 * 12 + 2
    placed = dims(placed_on_market_at=datetime(2026, 3, 31, 23, 0, tzinfo=UTC))
    assert placed.age_month == lifecycle_reports.month_index(NOW)
    assert dims().manufacturing_date == date(2024, 5, 20)


def test_audit_pack_and_json_export_carry_the_snapshots() -> None:
    import orjson
    from reportlab.platypus import Table

    from services.reporting.exports.auditpack import build_pdf, passport_section
    from services.reporting.exports.formats import JsonWriter

    state = fresh()
    readmodel.apply_in_service_data(state, {"state_of_health_pct": reading("93.3", T0)})
    readmodel.apply_status(state, occurred_at=T0, stage="placed_on_market")
    texts = [
        [cell.text for cell in row]
        for item in passport_section(state)
        if isinstance(item, Table)
        for row in item._cellvalues  # reportlab keeps the cells it was given
    ]
    [snapshot_row] = [row for row in texts if row[0] == T0.isoformat() and row[1] == "original / placed_on_market"]
    assert "state_of_health_pct 93.3 %" in snapshot_row[2]
    assert "rated_capacity_ah" in snapshot_row[2]
    assert build_pdf([state], tenant="acme", title="t", generated_at=T0, key_id="k").startswith(b"%PDF")
    writer = JsonWriter({"tenant": "acme"}, batterypass=False)
    writer.add([state])
    [exported] = orjson.loads(writer.finish())["passports"]
    assert exported["performance_snapshots"] == state["performance_snapshots"]
