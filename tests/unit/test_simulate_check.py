"""The simulator's end check: a read model that tells what was sent agrees; any field that does not is named."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bpass.simulate_check import CheckResult, Disagreement, compare_as_of, compare_current, sample_of
from bpass.simulate_schedule import Truth, truth

PID = "urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11"
AT = datetime(2025, 3, 1, 8, tzinfo=UTC)
KINDS = ["dispatch", "receipt", "placed_on_market", "in_service", "collection", "handover", "treatment_start"]


SOH = [(AT + timedelta(days=3, hours=h), Decimal(v)) for h, v in ((5, "99.5"), (30, "98.10"), (9, "99.0"))]


def recycled() -> Truth:
    steps = [(kind, AT + timedelta(days=d)) for d, kind in enumerate(KINDS)]
    return truth("B1", steps, AT + timedelta(days=9), SOH)


def state_of(t: Truth, **overrides: Any) -> dict[str, Any]:
    """The read model as it should be: a leading `manufactured` entry (the mint) and one entry per stage."""
    history = [{"occurred_at": "2026-12-01T10:00:00+00:00", "stage": "manufactured", "status": "original"}]
    history += [
        {"occurred_at": e.occurred_at.isoformat().replace("+00:00", "Z"), "stage": e.stage, "status": e.status}
        for e in t.history
    ]
    latest = {"state_of_health_pct": {"value": "98.1", "measured_at": "2025-03-05T14:00:00Z", "source_system": "b"}}
    return {
        "stage": t.stage,
        "status": t.status,
        "ceased": t.ceased,
        "status_history": history,
        "in_service": {"latest": latest},
        **overrides,
    }


def fields(found: list[Disagreement]) -> list[str]:
    return [d.field for d in found]


def test_a_read_model_that_tells_what_was_sent_agrees() -> None:
    t = recycled()
    assert compare_current(t, PID, state_of(t)) == []
    without_mint_entry = state_of(t)
    without_mint_entry["status_history"].pop(0)
    assert compare_current(t, PID, without_mint_entry) == []


def test_each_wrong_field_is_named() -> None:
    t = recycled()
    found = compare_current(t, PID, state_of(t, stage="in_treatment", status="original", ceased=False))
    assert fields(found) == ["stage", "status", "ceased"]
    assert found[0].expected == "recycled"
    assert found[0].actual == "in_treatment"
    assert "B1" in found[0].line()


def test_a_history_in_arrival_order_or_with_a_wrong_time_or_a_missing_stage_disagrees() -> None:
    t = recycled()
    swapped = state_of(t)
    h = swapped["status_history"]
    h[2], h[3] = h[3], h[2]  # in service before placed on the market: arrival order, not event order
    late_time = state_of(t)
    late_time["status_history"][3]["occurred_at"] = (AT + timedelta(days=30)).isoformat()
    missing = state_of(t)
    del missing["status_history"][4]
    mint_last = state_of(t)
    mint_last["status_history"].append(mint_last["status_history"].pop(0))
    for state in (swapped, late_time, missing, mint_last):
        assert fields(compare_current(t, PID, state)) == ["status_history"]


def test_the_latest_reading_is_the_one_measured_last_not_the_one_that_arrived_last() -> None:
    t = recycled()
    assert t.latest_soh == (AT + timedelta(days=4, hours=6), Decimal("98.10"))
    arrived_last = state_of(t)
    arrived_last["in_service"]["latest"]["state_of_health_pct"] = {
        "value": "99.0",
        "measured_at": (AT + timedelta(days=3, hours=9)).isoformat(),
    }
    found = compare_current(t, PID, arrived_last)
    assert [(d.field, d.expected, d.actual) for d in found] == [
        (
            "in_service.latest.state_of_health_pct",
            "98.1@2025-03-05T14:00:00+00:00",
            "99@2025-03-04T17:00:00+00:00",
        )
    ]
    assert fields(compare_current(t, PID, state_of(t, in_service={}))) == ["in_service.latest.state_of_health_pct"]
    no_readings = truth("B2", [], None)
    assert no_readings.latest_soh is None
    assert compare_current(no_readings, PID, {"stage": "manufactured", "status": "original", "ceased": False}) == []


def test_as_of_reads_compare_the_stage_at_that_instant() -> None:
    t = recycled()
    inside_collected = AT + timedelta(days=5)
    assert compare_as_of(t, PID, inside_collected, {"stage": "collected"}) == []
    wrong = compare_as_of(t, PID, inside_collected, {"stage": "recycled"})
    assert [(d.expected, d.actual) for d in wrong] == [("collected", "recycled")]
    assert wrong[0].field.startswith("as_of.stage@2025-03-06")
    nothing = compare_as_of(t, PID, AT + timedelta(hours=12), None)
    assert [(d.expected, d.actual) for d in nothing] == [("manufactured", "no version")]


def test_the_summary_counts_batteries_not_fields() -> None:
    ok = CheckResult(population=3000, checked=200, as_of_reads=480)
    assert ok.summary() == ["200 batteries checked (a sample of 3000), 480 as_of reads: 200 agree"]
    ok.seconds = 3.21
    assert ok.summary() == ["200 batteries checked (a sample of 3000), 480 as_of reads: 200 agree in 3.2 s"]
    bad = CheckResult(population=60, checked=60, as_of_reads=150)
    bad.disagreements = [
        Disagreement("B1", "p1", "stage", "recycled", "in_treatment"),
        Disagreement("B1", "p1", "status_history", "[a]", "[b]"),
        Disagreement("B2", "p2", "as_of.stage@2025-01-01T00:00:00+00:00", "collected", "in_service"),
    ]
    lines = bad.summary()
    assert lines[0] == "60 batteries checked, 150 as_of reads: 58 agree, 2 disagree"
    assert lines[1] == "disagreements by field: stage 1, status_history 1, as_of.stage 1"
    assert len(lines) == 5


def test_the_sample_is_seeded_and_all_when_small() -> None:
    truths = {f"p{i:04d}": recycled() for i in range(500)}
    first = sample_of(truths, 200, random.Random(4))
    assert len(set(first)) == 200
    assert first == sample_of(truths, 200, random.Random(4))
    assert sample_of(truths, 1000, random.Random(4)) == sorted(truths)
