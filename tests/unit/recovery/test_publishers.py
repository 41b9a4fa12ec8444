"""Whom recovery believes: the registry rule and who holds a passport after each custody step."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.recovery.domain.publishers import (
    Custody,
    RegisteredHandler,
    custody_after,
    custody_violation,
    publisher_violations,
)

pytestmark = pytest.mark.unit

AT = datetime(2026, 3, 1, tzinfo=UTC)


def step(before: Custody, kind: str, by: str, frm: str | None = None, to: str | None = None) -> Custody:
    return custody_after(
        before,
        kind=kind,
        handler_id=by,
        from_handler_id=frm,
        to_handler_id=to,
        sequence=before.sequence + 1,
        occurred_at=AT,
    )


def test_custody_follows_custodys_state_machine_through_a_battery_life() -> None:
    state = Custody(None)
    state = step(state, "dispatch", "carrier", to="dealer")
    assert (state.holder, state.in_transit, state.in_transit_to) == ("carrier", True, "dealer")
    state = step(state, "receipt", "dealer", frm="carrier")
    assert (state.holder, state.in_transit) == ("dealer", False)
    state = step(state, "in_service", "dealer")
    assert state.holder == "dealer"
    assert state.sequence == 3
    state = step(state, "collection", "collector")
    state = step(state, "handover", "collector", frm="collector", to="recycler")
    assert state.holder == "recycler"
    state = step(state, "handover", "recycler", frm="recycler")  # parties missing: custody changes nothing
    assert state.holder == "recycler"
    state = step(state, "treatment_start", "recycler")
    assert (state.holder, state.in_transit) == ("recycler", False)
    assert custody_violation("inputs.0.passport_id", "p", "recycler", state) is None


@pytest.mark.parametrize(
    ("custody", "phrase"),
    [
        (None, "no custody step"),
        (Custody("collector", sequence=4), "collector holds it since custody step 4"),
        (Custody("collector", "recycler", True, 5), "in transit from collector to recycler"),
        (Custody("recycler", "refiner", True, 6), "recycler dispatched it to refiner"),
    ],
)
def test_a_passport_not_held_by_the_recycler_is_refused_naming_the_input(custody: Custody | None, phrase: str) -> None:
    refused = custody_violation("inputs.3.passport_id", "urn:uuid:p", "recycler", custody)
    assert refused is not None
    assert (refused.field, refused.reason) == ("inputs.3.passport_id", "not_in_custody")
    assert phrase in refused.message


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (None, "handler_not_registered"),
        (RegisteredHandler("h", frozenset({"recycler"}), "pending"), "handler_not_verified"),
        (RegisteredHandler("h", frozenset({"recycler"}), "suspended", "permit revoked"), "handler_suspended"),
        (RegisteredHandler("h", frozenset({"carrier", "collector"}), "verified"), "handler_role_not_allowed"),
    ],
)
def test_only_a_verified_handler_in_the_role_may_report(record: RegisteredHandler | None, reason: str) -> None:
    (refused,) = publisher_violations("h", record, role="recycler", field="recycler_id")
    assert (refused.field, refused.reason) == ("recycler_id", reason)
    assert "'h'" in refused.message


def test_a_verified_recycler_may_report() -> None:
    record = RegisteredHandler("h", frozenset({"recycler", "collector"}), "verified")
    assert publisher_violations("h", record, role="recycler", field="recycler_id") == []
    assert publisher_violations("h", record, role="refiner", field="refiner_id")[0].reason == (
        "handler_role_not_allowed"
    )
