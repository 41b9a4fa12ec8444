"""The custody state machine: legal walks raise nothing; who holds custody is tracked; illegal steps are named."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.custody.domain.transitions import CustodyState, Step, transition

pytestmark = pytest.mark.unit

HANDLERS = ("h1", "h2", "h3")


def reasons(state: CustodyState, step: Step) -> set[str]:
    return {v.reason for v in transition(state, step)[1]}


def legal_steps(state: CustodyState) -> list[Step]:
    """Every step the rules allow from `state` (a model written independently of the implementation)."""
    steps: list[Step] = []
    for h in HANDLERS:
        for other in HANDLERS:
            if state.in_transit:
                if state.pending_to in (None, other):
                    steps.append(Step("receipt", other, state.pending_from))
                    steps.append(Step("handover", other, state.holder, other))
                if state.pending_to in (None, h):
                    steps.append(Step("collection", h))
            else:
                if state.holder in (None, h):
                    steps.append(Step("dispatch", h, None, other))
                    steps.append(Step("handover", h, h, other))
                    steps.append(Step("storage", h))
                    steps.append(Step("treatment_start", h))
                steps.append(Step("collection", h))
                if state.holder in (None, h):
                    steps.append(Step("receipt", h))
        steps.append(Step("in_service", h))
        steps.append(Step("inspected", h))
    return steps


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_walk_of_legal_steps_breaks_no_rule_and_tracks_the_holder(data: st.DataObject) -> None:
    state = CustodyState()
    for _ in range(data.draw(st.integers(1, 25))):
        step = data.draw(st.sampled_from(legal_steps(state)))
        new, violations = transition(state, step)
        assert violations == [], (state, step, violations)
        if step.kind in ("receipt", "handover"):
            assert new.holder == (step.to_handler_id or step.handler_id)
            assert not new.in_transit
        if step.kind == "dispatch":
            assert new.in_transit
            assert new.holder == state.holder or state.holder is None
        if step.kind in ("in_service", "inspected"):
            assert (new.holder, new.in_transit) == (state.holder, state.in_transit)
        state = new


@settings(max_examples=300, deadline=None)
@given(holder=st.sampled_from(HANDLERS), giver=st.sampled_from(HANDLERS), taker=st.sampled_from(HANDLERS))
def test_no_handover_from_a_party_that_does_not_hold_custody(holder: str, giver: str, taker: str) -> None:
    state = CustodyState(holder=holder)
    found = reasons(state, Step("handover", giver, giver, taker))
    assert ("not_custodian" in found) == (giver != holder)


@settings(max_examples=300, deadline=None)
@given(sender=st.sampled_from(HANDLERS), addressee=st.sampled_from(HANDLERS), receiver=st.sampled_from(HANDLERS))
def test_no_receipt_that_contradicts_the_last_dispatch(sender: str, addressee: str, receiver: str) -> None:
    state, violations = transition(CustodyState(holder=sender), Step("dispatch", sender, None, addressee))
    assert violations == []
    found = reasons(state, Step("receipt", receiver, sender))
    assert ("receipt_contradicts_dispatch" in found) == (receiver != addressee)
    wrong_sender = next(h for h in HANDLERS if h != sender)
    assert "receipt_contradicts_dispatch" in reasons(state, Step("receipt", addressee, wrong_sender))


def test_the_first_handler_takes_custody_and_nobody_else_may_dispatch() -> None:
    state, violations = transition(CustodyState(), Step("dispatch", "h1", None, "h2"))
    assert violations == []
    assert reasons(state, Step("dispatch", "h1")) == {"in_transit"}
    received, _ = transition(state, Step("receipt", "h2"))
    assert received.holder == "h2"
    assert reasons(received, Step("dispatch", "h1")) == {"not_custodian"}
    assert reasons(received, Step("storage", "h3")) == {"not_custodian"}
    assert reasons(received, Step("receipt", "h3")) == {"receipt_without_dispatch"}
    assert reasons(received, Step("handover", "h2", "h2")) == {"handover_parties_missing"}
    assert reasons(received, Step("handover", "h3", "h2", "h1")) == {"reporter_not_party"}


def test_stages_follow_the_steps() -> None:
    state = CustodyState()
    for kind, stage in (
        ("placed_on_market", "placed_on_market"),
        ("in_service", "in_service"),
        ("inspected", "in_service"),
        ("collection", "collected"),
        ("treatment_start", "in_treatment"),
    ):
        state, violations = transition(state, Step(kind, "h1"))
        assert violations == []
        assert state.stage == stage
