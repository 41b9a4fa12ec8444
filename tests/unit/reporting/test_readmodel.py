"""The read model as a fold over facts, its typed dimensions and the counter deltas."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from services.reporting.domain import counters, dimensions, readmodel
from tests.unit.reporting.factories import T0, batteries, ceased, custody_chain, minted, status_changed


def folded(tenant: str = "acme") -> tuple[dict, str]:
    battery = batteries(1)[0]
    fact = minted(battery, tenant)
    state = readmodel.empty_state(fact.passport_id, tenant)
    assert "battery_identifier" in readmodel.apply_minted(state, fact)
    return state, fact.passport_id


def test_minted_fills_the_state_and_is_applied_once() -> None:
    state, pid = folded()
    assert state["minted"] is True
    assert state["stage"] == "manufactured"
    assert state["status"] == "original"
    again = minted(batteries(1)[0], "acme", pid)
    assert readmodel.apply_minted(state, again) == []


def test_custody_moves_the_holder_never_the_stage_and_ignores_replays() -> None:
    """The stage moves with custody's PassportStatusChanged (one history entry with the status it decides), never
    with the custody step alone: a collection folded before its status fact used to leave a stage without entry."""
    state, pid = folded()
    chain = custody_chain(pid, "acme", ["dispatch", "collection", "treatment_start", "handover"])
    for fact in chain:
        readmodel.apply_custody(state, fact)
    assert state["stage"] == "manufactured"
    assert state["status_history"] == []
    assert state["current_handler_id"] == (chain[-1].to_handler_id or chain[-1].handler_id)
    assert [s["sequence"] for s in state["custody_timeline"]] == [1, 2, 3, 4]
    assert readmodel.apply_custody(state, chain[0]) == []


def test_ceased_adds_its_recycled_entry_to_the_history() -> None:
    state, pid = folded()
    readmodel.apply_status(state, occurred_at=T0, stage="collected", status="waste", cause="custody:2:e2")
    fact = ceased(pid, "acme", state["battery_identifier"], T0 + timedelta(days=30))
    changed = readmodel.apply_ceased(state, ceased_at=fact.ceased_at, reason="recycled", cause="recovery:r:b")
    assert "status_history" in changed
    assert [(h["stage"], h["status"], h["cause"]) for h in state["status_history"]] == [
        ("collected", "waste", "custody:2:e2"),
        ("recycled", "waste", "recovery:r:b"),
    ]
    assert state["status_history"][-1]["occurred_at"] == fact.ceased_at.isoformat()


def test_status_changes_record_placed_on_market_and_history() -> None:
    state, pid = folded()
    changed = readmodel.apply_status(state, occurred_at=T0, stage="placed_on_market", by="dealer")
    assert "stage" in changed
    assert state["in_service"]["placed_on_market_at"] == T0.isoformat()
    readmodel.apply_status(state, occurred_at=T0 + timedelta(days=9), stage="in_service")
    assert state["stage"] == "in_service"
    assert len(state["status_history"]) == 2
    assert readmodel.apply_status(state, occurred_at=T0, stage="placed_on_market") == []  # never backwards
    fact = status_changed(pid, "acme", "collected", T0 + timedelta(days=99))
    readmodel.apply_status(state, occurred_at=fact.occurred_at, stage=fact.stage.value, status="waste")
    assert state["status"] == "waste"
    assert state["stage"] == "collected"


def test_ceased_closes_with_outcome_and_dimensions_carry_yield() -> None:
    state, pid = folded()
    fact = ceased(pid, "acme", state["battery_identifier"], T0)
    readmodel.apply_ceased(
        state,
        ceased_at=fact.ceased_at,
        reason=fact.reason,
        outcome=[o.model_dump(mode="json") for o in fact.recovery_outcome],
    )
    dims = dimensions.dimensions(state)
    assert dims.ceased
    assert dims.stage == "recycled"
    assert dims.materials["cobalt"] == (Decimal("4.5"), Decimal("4.1"))
    assert readmodel.apply_ceased(state, ceased_at=T0, reason="again") == []


def test_in_service_data_keeps_the_newest_reading() -> None:
    state, _ = folded()
    new = {"value": "97.5", "measured_at": (T0 + timedelta(days=2)).isoformat(), "source_system": "bms"}
    old = {"value": "99", "measured_at": T0.isoformat(), "source_system": "bms"}
    assert readmodel.apply_in_service_data(state, {"state_of_health_pct": new}) == ["in_service"]
    assert readmodel.apply_in_service_data(state, {"state_of_health_pct": old}) == []
    assert state["in_service"]["latest"]["state_of_health_pct"]["value"] == "97.5"


def test_amendment_is_a_new_data_version_with_reason() -> None:
    state, _ = folded()
    static = dict(state["static_data"], weight_kg="500")
    changed = readmodel.apply_amended(
        state, static_data=static, extensions=None, data_version=2, amended_at=T0, reason="weighed again"
    )
    assert "static_data" in changed
    assert state["amendments"][0]["reason"] == "weighed again"
    assert readmodel.apply_amended(state, static_data=static, extensions=None, data_version=2, amended_at=T0) == []


def test_counter_deltas_move_a_passport_between_rows_and_net_out() -> None:
    state, _ = folded()
    before = dimensions.dimensions(state)
    readmodel.apply_status(state, occurred_at=T0, stage="in_service")
    after = dimensions.dimensions(state)
    deltas = counters.counter_deltas([("acme", None, before), ("acme", before, after)])
    assert {key[-1]: d.n for key, d in deltas.items()} == {"in_service": 1}  # the manufactured +1 -1 nets out
    assert sum(d.rc_n for d in deltas.values()) == 1
    assert counters.counter_deltas([("acme", after, after)]) == {}


def test_dimensions_of_a_minted_passport() -> None:
    state, _ = folded()
    dims = dimensions.dimensions(state)
    assert dims.model
    assert dims.chemistry
    assert dims.batch
    assert dims.plant
    assert dims.plant.startswith("GLN")
    assert dims.recycled is not None
    assert len(dims.recycled) == len(dimensions.RECYCLED_FIELDS)


def test_an_amendment_names_the_fields_it_changed_not_their_container() -> None:
    state, _ = folded()
    static = {**state["static_data"], "warranty_period_months": 97}
    changed = readmodel.apply_amended(
        state,
        static_data=static,
        extensions={"fleet": "north"},
        data_version=2,
        amended_at=T0,
        changed_fields=["warranty_period_months", "extensions.fleet"],
    )
    assert readmodel.changed_paths(state, "amended", changed) == [
        "data_version",
        "amendments",
        "static_data.warranty_period_months",
        "extensions.fleet",
    ]
    assert readmodel.changed_paths(state, "custody_recorded", ["custody_timeline"]) == ["custody_timeline"]
