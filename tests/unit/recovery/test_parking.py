"""When a treatment batch from the topic waits for facts recovery has not consumed yet, and when it is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.errors import Violation
from services.recovery.config import RecoverySettings
from services.recovery.domain.parking import (
    DEFAULT_MAX_AGE,
    Unresolved,
    Wait,
    decide,
    expired,
    never_appeared,
)

pytestmark = pytest.mark.unit

PARKED = datetime(2026, 3, 1, 9, tzinfo=UTC)
UNKNOWN_ID = Unresolved("inputs.0.passport_id", "unknown_passport", "urn:uuid:p-1", "minting")
UNKNOWN_IDENTIFIER = Unresolved("inputs.1.battery_identifier", "unknown_passport", "RC-ABC", "minting")
NO_CUSTODY = Unresolved("inputs.2.passport_id", "not_in_custody", "urn:uuid:p-3", "custody")


def refused(u: Unresolved) -> Violation:
    return Violation(field=u.field, reason=u.reason, message="…")


def test_a_batch_waits_when_every_refusal_is_a_reference_recovery_has_not_seen_yet() -> None:
    wait = decide(
        [refused(UNKNOWN_ID), refused(UNKNOWN_IDENTIFIER), refused(NO_CUSTODY)],
        [UNKNOWN_ID, UNKNOWN_IDENTIFIER, NO_CUSTODY],
    )
    assert wait == Wait(
        minting=("RC-ABC", "urn:uuid:p-1"),
        custody=("urn:uuid:p-3",),
        unresolved=(UNKNOWN_ID, UNKNOWN_IDENTIFIER, NO_CUSTODY),
    )


def test_unknown_passports_alone_or_custody_alone_wait_too() -> None:
    only_minting = decide([refused(UNKNOWN_IDENTIFIER)], [UNKNOWN_IDENTIFIER])
    assert only_minting is not None
    assert (only_minting.minting, only_minting.custody) == (("RC-ABC",), ())
    only_custody = decide([refused(NO_CUSTODY)], [NO_CUSTODY])
    assert only_custody is not None
    assert (only_custody.minting, only_custody.custody) == ((), ("urn:uuid:p-3",))


@pytest.mark.parametrize(
    "other",
    [
        Violation(field="losses_kg", reason="mass_balance_gap", message="…"),
        Violation(field="inputs.1.battery_identifier", reason="ambiguous_identifier", message="…"),
        Violation(field="inputs.4.passport_id", reason="not_in_custody", message="held by another recycler"),
        Violation(field="outputs.0.lot_id", reason="lot_already_reported", message="…"),
    ],
    ids=["balance", "ambiguous", "custody-known-elsewhere", "lot-taken"],
)
def test_any_other_refusal_refuses_the_batch_at_once(other: Violation) -> None:
    assert decide([refused(UNKNOWN_ID), other, refused(NO_CUSTODY)], [UNKNOWN_ID, NO_CUSTODY]) is None


def test_nothing_wrong_or_no_reference_awaited_is_no_wait() -> None:
    assert decide([], [UNKNOWN_ID]) is None
    assert decide([refused(UNKNOWN_ID)], []) is None


def test_only_the_references_behind_a_present_refusal_are_awaited() -> None:
    wait = decide([refused(NO_CUSTODY)], [UNKNOWN_ID, NO_CUSTODY])
    assert wait is not None
    assert (wait.minting, wait.custody, wait.unresolved) == ((), ("urn:uuid:p-3",), (NO_CUSTODY,))


def test_the_wait_is_bounded() -> None:
    assert timedelta(days=7) == DEFAULT_MAX_AGE
    assert not expired(PARKED, PARKED + timedelta(days=7), DEFAULT_MAX_AGE)
    assert expired(PARKED, PARKED + timedelta(days=7, seconds=1), DEFAULT_MAX_AGE)


def test_a_batch_that_waited_too_long_names_each_reference_that_never_appeared() -> None:
    wait = decide([refused(UNKNOWN_IDENTIFIER), refused(NO_CUSTODY)], [UNKNOWN_IDENTIFIER, NO_CUSTODY])
    assert wait is not None
    violations = never_appeared(wait, PARKED, DEFAULT_MAX_AGE)
    assert [(v.field, v.reason) for v in violations] == [
        ("inputs.1.battery_identifier", "reference_never_appeared"),
        ("inputs.2.passport_id", "reference_never_appeared"),
    ]
    assert "waited 7 day(s)" in violations[0].message
    assert "no passport 'RC-ABC' was minted" in violations[0].message
    assert "no custody step of passport urn:uuid:p-3" in violations[1].message


def test_the_wait_is_configured_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RecoverySettings().parking_max_age == DEFAULT_MAX_AGE
    monkeypatch.setenv("BPASS_RECOVERY_PARKING_MAX_AGE_S", "3600")
    assert RecoverySettings().parking_max_age == timedelta(hours=1)
