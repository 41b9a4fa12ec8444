"""The simulator's ground truth and arrival order: what it claims happened, and that custody accepts the order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpass.simulate import (
    ANCHOR,
    DEALER,
    DELEGATES,
    HANDLERS,
    MAX_BACKDATE_DAYS,
    SimulationError,
    handler_registration,
    lifecycle,
    population,
    telemetry,
)
from bpass.simulate_schedule import (
    OBSERVATION_KINDS,
    Truth,
    custody_arrivals,
    interleave,
    late_merge,
    shuffled,
    truth,
)
from contracts.custody import CustodyEventReported, HandlerRecord
from contracts.telemetry import METRIC_RANGES, TelemetryMetric
from services.custody.domain.authority import Write, actor_of, authority_violations
from services.custody.domain.transitions import CustodyState, Step, transition

PID = "urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11"
PERMITS_FROM = datetime(2015, 1, 1, tzinfo=UTC)


def lifecycles(run: str, n: int, seed: int) -> list[list[tuple[str, CustodyEventReported]]]:
    return [lifecycle(battery, PID)[0] for battery in population(run, n, seed)]


def kinds_of(run: str, n: int, seed: int) -> list[list[str]]:
    return [[e.kind.value for _, e in events] for events in lifecycles(run, n, seed)]


def test_the_default_population_is_the_one_earlier_runs_sent() -> None:
    """A rerun of an existing label (make run's `demo`) must send what the first run sent, or the end check would
    compare the read model to facts the platform never received."""
    people = list(population("demo", 6, 7))
    assert [(b.identifier, b.target_stage, b.manufactured.isoformat()) for b in people] == [
        ("DEMOE80000000", "in_service", "2025-07-23"),
        ("DEMOLS0000001", "placed_on_market", "2026-07-27"),
        ("DEMOLS0000002", "in_service", "2026-03-04"),
        ("DEMOSH0000003", "in_service", "2026-02-08"),
        ("DEMOE60000004", "in_service", "2026-06-26"),
        ("DEMOEN0000005", "recycled", "2024-02-07"),
    ]
    events, completed = lifecycle(people[5], PID)
    assert events[-1][1].occurred_at == datetime(2026, 4, 10, 8, 35, tzinfo=UTC)
    assert completed == datetime(2026, 4, 15, 8, 40, tzinfo=UTC)


@settings(max_examples=25, deadline=None)
@given(days=st.integers(1, MAX_BACKDATE_DAYS), seed=st.integers(0, 10_000))
def test_backdated_lifecycles_end_between_half_and_all_of_the_days_before_the_anchor(days: int, seed: int) -> None:
    for battery in population("bd", 12, seed, backdate_days=days):
        events, completed = lifecycle(battery, PID)
        times = [e.occurred_at for _, e in events] + ([completed] if battery.target_stage == "recycled" else [])
        last = times[-1] if times else datetime.combine(battery.manufactured, datetime.min.time(), UTC)
        behind = (ANCHOR - last) / timedelta(days=1)
        # steps fall at 08:00 plus a few minutes per battery, the anchor at 12:00: a few days either way
        assert days // 2 - 4 <= behind <= days + 1, (battery, behind)
        # custody refuses nothing for being too old: the handlers' permits and its 2000-01-01 bound hold
        assert all(t >= PERMITS_FROM for t in times)
        assert datetime.combine(battery.manufactured, datetime.min.time(), UTC) >= PERMITS_FROM - timedelta(days=31)


@pytest.mark.parametrize("days", [0, -3, MAX_BACKDATE_DAYS + 1])
def test_backdating_out_of_range_is_refused(days: int) -> None:
    with pytest.raises(SimulationError, match="backdate_days"):
        list(population("bd", 1, 7, backdate_days=days))


def test_backdating_keeps_every_other_choice() -> None:
    plain = list(population("bd", 30, 7))
    dated = list(population("bd", 30, 7, backdate_days=365))
    assert [(b.identifier, b.target_stage, b.gaps, b.colour) for b in plain] == [
        (b.identifier, b.target_stage, b.gaps, b.colour) for b in dated
    ]
    assert [b.manufactured for b in plain] != [b.manufactured for b in dated]


@given(st.lists(st.lists(st.integers(), max_size=6), max_size=6), st.integers())
def test_interleave_keeps_each_sequence_in_its_order(sequences: list[list[int]], seed: int) -> None:
    tagged = [[(n, i) for i in range(len(s))] for n, s in enumerate(sequences)]
    merged = interleave(random.Random(seed), tagged)
    assert sorted(merged) == sorted(x for s in tagged for x in s)
    for n, s in enumerate(tagged):
        assert [x for x in merged if x[0] == n] == s


TENANT = "acme"


def handler_registration_record(handler_id: str, delegate_of: list[str]) -> HandlerRecord:
    """A simulated handler as the operator registers it, verified."""
    name, roles = next((n, r) for h, n, r in HANDLERS if h == handler_id)
    registration = handler_registration(handler_id, name, roles, delegate_of)
    return HandlerRecord.model_validate(
        {**registration, "state": "verified", "version": 1, "updated_at": datetime(2026, 1, 1, tzinfo=UTC)}
    )


# The simulated handlers, the carrier and the dealer as the OEM's delegates.
RECORDS = {h: handler_registration_record(h, [TENANT] if h in DELEGATES else []) for h, _, _ in HANDLERS}


def replay(
    events: list[tuple[str, CustodyEventReported]], order: list[int], records: dict[str, HandlerRecord] = RECORDS
) -> list[str]:
    """Custody's write authority and transition rules over one battery's steps in arrival order, as its ingest
    applies them: the reasons it would refuse or flag."""
    state, reasons = CustodyState(), []
    for n in order:
        handler, e = events[n]
        step = Step(e.kind.value, handler, e.from_handler_id, e.to_handler_id)
        actor = actor_of(f"urn:bpass:handler:{handler}", handler, records)
        holder = records.get(state.holder) if state.holder else None
        write = Write(step.kind, step.handler_id, step.from_handler_id, step.to_handler_id)
        reasons += [v.reason for v in authority_violations(write, actor, TENANT, state, holder)]
        state, broken = transition(state, step)
        reasons += [v.reason for v in broken]
    return reasons


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), batteries=st.integers(1, 30))
def test_every_shuffled_arrival_is_one_custody_accepts_and_sends_every_step_once(seed: int, batteries: int) -> None:
    plans = lifecycles("sh", batteries, 7)
    kinds = [[e.kind.value for _, e in events] for events in plans]
    first, late = custody_arrivals(random.Random(seed), kinds)
    assert sorted(first + late) == [(b, n) for b, k in enumerate(kinds) for n in range(len(k))]
    assert all(kinds[b][n] in OBSERVATION_KINDS for b, n in late)
    for b, k in enumerate(kinds):
        order = [n for bb, n in first + late if bb == b]
        assert replay(plans[b], order) == [], (k, order)
        transfers = [n for n in order if k[n] not in OBSERVATION_KINDS]
        assert transfers == sorted(transfers)


def test_in_event_order_custody_accepts_every_lifecycle_and_the_replay_can_refuse() -> None:
    plans = lifecycles("sh", 100, 7)
    assert all(replay(events, list(range(len(events)))) == [] for events in plans)
    full = next(events for events in plans if len(events) == 7)
    assert "not_holder" in replay(full, [0, 1, 5, 4])  # a handover before the collection
    assert replay(full, [1, 0]) != []  # a receipt before its dispatch
    dealer_not_delegate = {**RECORDS, DEALER: handler_registration_record(DEALER, [])}
    assert "stage_owner_only" in replay(full, [0, 1, 2], dealer_not_delegate)


def test_the_shuffle_really_reorders_and_holds_back() -> None:
    kinds = kinds_of("sh", 200, 7)
    first, late = custody_arrivals(random.Random(1), kinds)
    arrival = first + late
    out_of_order = {b for b in range(len(kinds)) if [n for bb, n in arrival if bb == b] != sorted(range(len(kinds[b])))}
    with_observations = {b for b, k in enumerate(kinds) if set(k) & OBSERVATION_KINDS}
    assert len(out_of_order) > len(with_observations) / 2
    assert 0.1 < len({b for b, _ in late}) / len(with_observations) < 0.4
    # an observation published after a later transfer (say, in service after the collection)
    assert any(
        kinds[b][n] in OBSERVATION_KINDS and any(bb == b and m > n for bb, m in arrival[:i])
        for i, (b, n) in enumerate(arrival)
    )
    # batteries interleaved, not one after the other
    assert [b for b, _ in first] != sorted(b for b, _ in first)


def test_without_shuffle_everything_goes_in_event_order() -> None:
    kinds = kinds_of("sh", 50, 7)
    first, late = custody_arrivals(None, kinds)
    assert late == []
    assert first == [(b, n) for b, k in enumerate(kinds) for n in range(len(k))]
    assert shuffled(None, [3, 1, 2]) == [3, 1, 2]
    assert late_merge(None, ["late"], ["r1", "r2"]) == ["r1", "r2", "late"]
    assert sorted(late_merge(random.Random(3), ["a", "b"], ["r1", "r2"])) == ["a", "b", "r1", "r2"]


def truths_of(run: str, n: int, seed: int, backdate_days: int | None = None) -> list[tuple[str, Truth]]:
    out = []
    for battery in population(run, n, seed, backdate_days):
        events, completed = lifecycle(battery, PID)
        steps = [(e.kind.value, e.occurred_at) for _, e in events]
        ceased = completed + timedelta(days=3) if battery.target_stage == "recycled" else None
        out.append((battery.target_stage, truth(battery.identifier, steps, ceased)))
    return out


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), days=st.one_of(st.none(), st.integers(1, MAX_BACKDATE_DAYS)))
def test_the_truth_ends_in_the_target_stage_and_as_of_probes_fall_between_events(seed: int, days: int | None) -> None:
    rng = random.Random(seed)
    for target, t in truths_of("tr", 20, seed, days):
        assert t.stage == target
        assert t.ceased == (target == "recycled")
        end_of_life = target in ("collected", "in_treatment", "recycled")
        assert t.status == ("waste" if end_of_life else "original")
        times = [e.occurred_at for e in t.history]
        assert times == sorted(times)
        for instant in t.probe_instants(rng, 3):
            assert instant not in times
            assert t.first_event_at is not None
            assert t.first_event_at < instant
            before = [e.stage for e in t.history if e.occurred_at < instant]
            assert t.stage_at(instant) == (before[-1] if before else "manufactured")


def test_the_truth_of_a_recycled_battery() -> None:
    at = datetime(2025, 1, 1, 8, tzinfo=UTC)
    kinds = ["dispatch", "receipt", "placed_on_market", "in_service", "collection", "handover", "treatment_start"]
    steps = [(kind, at + timedelta(days=d)) for d, kind in enumerate(kinds)]
    t = truth("X1", list(reversed(steps)), at + timedelta(days=9))
    assert [(e.stage, e.status, (e.occurred_at - at).days) for e in t.history] == [
        ("placed_on_market", "original", 2),
        ("in_service", "original", 3),
        ("collected", "waste", 4),
        ("in_treatment", "waste", 6),
        ("recycled", "waste", 9),
    ]
    assert (t.stage, t.status, t.ceased, t.first_event_at) == ("recycled", "waste", True, at)
    assert t.stage_at(at + timedelta(days=1)) == "manufactured"
    assert t.stage_at(at + timedelta(days=5)) == "collected"
    assert t.stage_at(at + timedelta(days=10)) == "recycled"
    manufactured_only = truth("X2", [], None)
    assert (manufactured_only.stage, manufactured_only.probe_instants(random.Random(1), 3)) == ("manufactured", [])


@settings(max_examples=10, deadline=None)
@given(days=st.one_of(st.none(), st.integers(1, MAX_BACKDATE_DAYS)))
def test_bms_readings_fall_while_the_battery_is_in_service_and_age_it(days: int | None) -> None:
    with_readings = 0
    for battery in population("tm", 60, 7, days):
        events, _ = lifecycle(battery, PID)
        messages = telemetry(battery, PID, events)
        times = {e.kind.value: e.occurred_at for _, e in events}
        if "in_service" not in times:
            assert messages == []
            continue
        with_readings += bool(messages)
        readings = [r for m in messages for r in m.readings]
        assert [r.measured_at for r in readings] == sorted(r.measured_at for r in readings)
        assert all(times["in_service"] < r.measured_at < times.get("collection", ANCHOR) for r in readings)
        assert all(0 < r.value <= 100 for r in readings if r.metric is TelemetryMetric.state_of_health_pct)
        # every message a complete set: each metric of the contract once, inside its range
        assert all(sorted(r.metric for r in m.readings) == sorted(TelemetryMetric) for m in messages)
        assert all(METRIC_RANGES[r.metric][0] <= r.value <= METRIC_RANGES[r.metric][1] for r in readings)
        assert readings == [r for m in telemetry(battery, PID, events) for r in m.readings]  # deterministic
    assert with_readings > 10
