"""Reporting's read model follows custody's corrections. A PassportStatusChanged naming the entry an error
declaration took out (`corrects_sequence`), at that entry's event time, undoes the change it caused and moves on to
the stage custody has without it; facts are folded in event time (as the projection folds them again when a late
fact arrives), so later changes land on top whatever order they arrived in. An ordinary status fact never moves the
stage back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contracts.custody import PassportStatusChanged
from contracts.passport_data import BatteryStatus
from services.reporting.domain import readmodel
from services.reporting.domain.folds import FOLDS
from tests.unit.reporting.factories import T0, status_changed

pytestmark = pytest.mark.unit

PID = "urn:uuid:00000000-0000-7000-8000-00000000000a"
T1, T2, T3 = (T0 + timedelta(days=n) for n in (1, 2, 3))


def fold(*arrived: PassportStatusChanged) -> dict[str, Any]:
    """The state after the facts, folded in event-time order (ties: arrival order)."""
    state = readmodel.empty_state(PID, "oem")
    for fact in sorted(arrived, key=lambda f: f.occurred_at):
        FOLDS["status_changed"].build(fact)(state)
    return state


def fact(stage: str, at: Any, sequence: int) -> PassportStatusChanged:
    return status_changed(PID, "oem", stage, at, sequence=sequence)


def correction(stage: str, at: Any, sequence: int, corrects: int, **update: Any) -> PassportStatusChanged:
    return fact(stage, at, sequence).model_copy(update={"corrects_sequence": corrects, **update})


SOLD = fact("placed_on_market", T0, 1)
INSTALLED_IN_ERROR = fact("in_service", T2, 2)


def test_a_correction_undoes_the_stage_its_entry_gave_and_an_ordinary_fact_does_not() -> None:
    assert fold(SOLD, INSTALLED_IN_ERROR, fact("placed_on_market", T3, 4))["stage"] == "in_service"
    state = fold(SOLD, INSTALLED_IN_ERROR, correction("placed_on_market", T2, 4, corrects=2))
    assert (state["stage"], state["status"]) == ("placed_on_market", "original")
    assert state["in_service"] == {"placed_on_market_at": T0.isoformat()}
    assert [h["stage"] for h in state["status_history"]] == ["placed_on_market", "in_service", "placed_on_market"]
    assert "step 2 declared erroneous" in state["status_history"][-1]["reason"]


def test_a_later_change_arriving_after_the_correction_lands_on_top() -> None:
    installed = fact("in_service", T3, 5)
    state = fold(SOLD, INSTALLED_IN_ERROR, correction("placed_on_market", T2, 4, corrects=2), installed)
    assert state["stage"] == "in_service"
    assert state["in_service"]["put_into_service_at"] == T3.isoformat()


def test_a_correction_moves_on_to_the_stage_custody_kept_without_the_entry() -> None:
    # A corrective installation custody recorded while it was already in service published no change of its own.
    state = fold(SOLD, INSTALLED_IN_ERROR, correction("in_service", T2, 4, corrects=2))
    assert state["stage"] == "in_service"
    assert [h["stage"] for h in state["status_history"]] == ["placed_on_market", "in_service", "in_service"]


def test_taking_out_the_only_stage_leaves_the_battery_manufactured() -> None:
    state = fold(SOLD, correction("manufactured", T0, 2, corrects=1))
    assert (state["stage"], state["in_service"]) == ("manufactured", {})


def test_a_correction_back_to_original_status() -> None:
    collected = fact("collected", T2, 3)
    assert collected.status is BatteryStatus.waste
    state = fold(SOLD, fact("in_service", T1, 2), collected, correction("in_service", T2, 4, corrects=3))
    assert (state["stage"], state["status"]) == ("in_service", "original")


def test_a_correction_of_a_step_that_changed_nothing_here_changes_nothing() -> None:
    assert fold(SOLD, correction("placed_on_market", T1, 3, corrects=2)) == fold(SOLD)
