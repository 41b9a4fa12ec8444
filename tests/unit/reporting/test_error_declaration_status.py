"""Reporting's read model follows custody's corrections: a PassportStatusChanged that names the entry an error
declaration took out (`corrects_sequence`) sets the stage custody has without it, an earlier one included, and
takes out the in-service dates of the stages it undid; an ordinary one never moves the stage back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.passport_data import BatteryStatus
from services.reporting.domain import readmodel
from services.reporting.domain.folds import FOLDS
from tests.unit.reporting.factories import T0, status_changed

pytestmark = pytest.mark.unit

PID = "urn:uuid:00000000-0000-7000-8000-00000000000a"


def fold(*facts: object) -> dict[str, object]:
    state = readmodel.empty_state(PID, "oem")
    for fact in facts:
        FOLDS["status_changed"].build(fact)(state)
    return state


def test_a_correction_moves_the_stage_back_and_an_ordinary_fact_does_not() -> None:
    sold = status_changed(PID, "oem", "placed_on_market", T0, sequence=1)
    installed = status_changed(PID, "oem", "in_service", T0 + timedelta(days=1), sequence=2)
    plain = status_changed(PID, "oem", "placed_on_market", T0 + timedelta(days=3), sequence=4)
    assert fold(sold, installed, plain)["stage"] == "in_service"

    correction = plain.model_copy(update={"corrects_sequence": 2})
    state = fold(sold, installed, correction)
    assert state["stage"] == "placed_on_market"
    in_service = state["in_service"]
    assert isinstance(in_service, dict)
    assert "put_into_service_at" not in in_service
    assert in_service["placed_on_market_at"] == T0.isoformat()
    history = state["status_history"]
    assert isinstance(history, list)
    assert [h["stage"] for h in history] == ["placed_on_market", "in_service", "placed_on_market"]
    assert "step 2 declared erroneous" in history[-1]["reason"]


def test_a_correction_back_to_original_status() -> None:
    waste = status_changed(PID, "oem", "collected", T0, sequence=2)
    correction = status_changed(PID, "oem", "in_service", T0 + timedelta(days=2), sequence=3).model_copy(
        update={"corrects_sequence": 2, "status": BatteryStatus.original}
    )
    state = fold(waste, correction)
    assert (state["stage"], state["status"]) == ("in_service", "original")


def test_a_correction_taking_out_the_only_stage_leaves_the_battery_manufactured() -> None:
    sold = status_changed(PID, "oem", "placed_on_market", T0, sequence=1)
    correction = status_changed(PID, "oem", "manufactured", T0 + timedelta(days=1), sequence=2).model_copy(
        update={"corrects_sequence": 1}
    )
    state = fold(sold, correction)
    assert state["stage"] == "manufactured"
    assert state["in_service"] == {}
    # An ordinary fact never names it; if one did, it would not move the stage back.
    assert fold(sold, correction.model_copy(update={"corrects_sequence": None}))["stage"] == "placed_on_market"
