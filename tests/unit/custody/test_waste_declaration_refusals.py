"""A waste declaration's refusals, exactly as the declarer reads them: status code, field, reason and sentence
(who may declare, an operator that is not a verified handler, a producer that is not the owner, a date outside the
window), and what a declaration that passes records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.custody import HandlerRecord, VerificationState, WasteDeclarationRequest
from contracts.errors import Violation
from services.custody.domain import waste_declarations as rules
from services.custody.domain.waste_declarations import DeclarationRefused, PassportCustody

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def passport(
    holder: str | None = "fleet-op", *, in_transit: bool = False, status: str | None = None
) -> PassportCustody:
    return PassportCustody("urn:uuid:p1", "acme", holder, in_transit, "in_service", status)


def declaration(kind: str, party: str, occurred_at: datetime | None = None) -> WasteDeclarationRequest:
    return WasteDeclarationRequest.model_validate(
        {"responsible_party": {"kind": kind, "id": party}, "reason": "worn out", "occurred_at": occurred_at}
    )


def operator(state: VerificationState = VerificationState.verified, why: str | None = None) -> HandlerRecord:
    return HandlerRecord(
        handler_id="northern",
        name="Northern Recycling Ltd",
        roles=["collector"],  # type: ignore[list-item]
        state=state,
        state_reason=why,
        version=1,
        updated_at=NOW,
    )


def refusal(error: DeclarationRefused) -> tuple[int, list[tuple[str, str, str]]]:
    return error.status_code, [(v.field, v.reason, v.message) for v in error.violations]


def test_the_owner_admin_declares_as_its_tenant() -> None:
    declared = rules.declarer(passport(), caller_tenant="acme", owner_admin=True, handler=False)
    assert declared == rules.Declarer("acme", "urn:bpass:tenant:acme")


def test_another_tenant_does_not_even_see_the_passport() -> None:
    with pytest.raises(DeclarationRefused) as refused:
        rules.declarer(passport(), caller_tenant="rival", owner_admin=True, handler=False)
    assert refusal(refused.value) == (
        404,
        [("passport_id", "passport_not_found", "No passport urn:uuid:p1 is visible to you.")],
    )
    assert str(refused.value) == "passport_id: passport_not_found"


def test_a_handler_that_does_not_hold_the_battery_is_told_who_does() -> None:
    with pytest.raises(DeclarationRefused) as refused:
        rules.declarer(passport("fleet-op"), caller_tenant="other", owner_admin=False, handler=True)
    assert refusal(refused.value) == (
        403,
        [
            (
                "passport_id",
                "not_custodian",
                "Only the owner or the handler holding the battery may declare it waste; fleet-op holds it.",
            )
        ],
    )


def test_the_holder_may_not_declare_while_the_battery_is_in_transit() -> None:
    with pytest.raises(DeclarationRefused) as refused:
        rules.declarer(passport("fleet-op", in_transit=True), caller_tenant="fleet-op", owner_admin=False, handler=True)
    assert refusal(refused.value)[1][0][2] == (
        "Only the owner or the handler holding the battery may declare it waste; fleet-op holds it (in transit)."
    )


def test_nobody_holding_the_battery_is_said_so_and_a_non_handler_key_is_refused() -> None:
    with pytest.raises(DeclarationRefused) as refused:
        rules.declarer(passport(None), caller_tenant="fleet-op", owner_admin=False, handler=False)
    assert refusal(refused.value)[1][0][2] == (
        "Only the owner or the handler holding the battery may declare it waste; no handler holds it."
    )
    with pytest.raises(DeclarationRefused):
        rules.declarer(passport("fleet-op"), caller_tenant="fleet-op", owner_admin=False, handler=False)
    with pytest.raises(DeclarationRefused):
        rules.declarer(passport(None), caller_tenant=None, owner_admin=False, handler=True)


def test_a_battery_already_waste_is_a_conflict() -> None:
    code, violations = rules.declaration_violations(
        passport(status="waste"), declaration("producer", "acme"), waste_operator=None, now=NOW
    )
    assert code == 409
    assert [(v.field, v.reason, v.message) for v in violations] == [
        ("passport_id", "already_waste", "urn:uuid:p1 is waste already (stage in_service); responsibility moved then.")
    ]


def test_the_waste_operator_must_be_a_registered_verified_handler() -> None:
    def found(record: HandlerRecord | None) -> list[tuple[str, str, str]]:
        code, violations = rules.declaration_violations(
            passport(), declaration("waste_operator", "northern"), waste_operator=record, now=NOW
        )
        assert code == 422
        return [(v.field, v.reason, v.message) for v in violations]

    assert found(operator()) == []
    assert found(None) == [
        (
            "responsible_party.id",
            "handler_not_registered",
            "The waste operator 'northern' is not in the verified handler registry.",
        )
    ]
    assert found(operator(VerificationState.suspended, "permit withdrawn")) == [
        (
            "responsible_party.id",
            "handler_suspended",
            "The waste operator 'northern' is suspended (permit withdrawn); only verified handlers may report.",
        )
    ]


def test_the_responsible_producer_is_the_passports_owner() -> None:
    assert rules.declaration_violations(passport(), declaration("producer", "acme"), waste_operator=None, now=NOW) == (
        422,
        [],
    )
    code, violations = rules.declaration_violations(
        passport(), declaration("producer", "other-oem"), waste_operator=None, now=NOW
    )
    assert code == 422
    assert [(v.field, v.reason, v.message) for v in violations] == [
        (
            "responsible_party.id",
            "producer_mismatch",
            "The producer responsible for this battery is its passport's owner 'acme', not 'other-oem'.",
        )
    ]
    # a compliance scheme is named by its own registration id: nothing to match
    assert rules.declaration_violations(
        passport(), declaration("compliance_scheme", "epr-de-1"), waste_operator=None, now=NOW
    ) == (422, [])


def test_a_date_more_than_five_minutes_ahead_is_refused_and_one_within_is_not() -> None:
    def found(occurred_at: datetime) -> list[tuple[str, str]]:
        _, violations = rules.declaration_violations(
            passport(), declaration("producer", "acme", occurred_at), waste_operator=None, now=NOW
        )
        return [(v.field, v.reason) for v in violations]

    assert found(NOW + timedelta(minutes=5)) == []
    assert found(NOW + timedelta(minutes=5, microseconds=1)) == [("occurred_at", "date_in_future")]
    _, (late,) = rules.declaration_violations(
        passport(), declaration("producer", "acme", NOW + timedelta(hours=1)), waste_operator=None, now=NOW
    )
    assert late.message == ("occurred_at 2026-06-30T13:00:00+00:00 lies in the future; give when it became waste.")


def test_a_date_before_2000_is_outside_the_window_every_write_path_keeps() -> None:
    earliest = datetime(2000, 1, 1, tzinfo=UTC)
    _, at_earliest = rules.declaration_violations(
        passport(), declaration("producer", "acme", earliest), waste_operator=None, now=NOW
    )
    assert at_earliest == []
    _, violations = rules.declaration_violations(
        passport(),
        declaration("producer", "other-oem", earliest - timedelta(microseconds=1)),
        waste_operator=None,
        now=NOW,
    )
    assert [(v.field, v.reason) for v in violations] == [
        ("responsible_party.id", "producer_mismatch"),
        ("occurred_at", "occurred_at_out_of_range"),
    ], "every rule broken is reported, in order"
    assert violations[1].message.startswith("1999-12-31T23:59:59.999999+00:00 is outside the accepted window")
    assert violations[1].message.endswith("(2026-07-01T12:00:00+00:00).")


def test_a_declaration_without_a_date_is_dated_now() -> None:
    assert (
        rules.declaration_violations(passport(), declaration("producer", "acme"), waste_operator=None, now=NOW)[1] == []
    )


def test_the_stage_declared_is_custodys_or_placed_on_the_market_when_custody_saw_none() -> None:
    assert rules.declared_stage(passport()) == "in_service"
    unknown = PassportCustody("urn:uuid:p2", "acme", None, False, None, None)
    assert rules.declared_stage(unknown) == "placed_on_market"


def test_a_refusal_reads_as_every_field_and_reason_it_names() -> None:
    refused = DeclarationRefused(
        422,
        [
            Violation(field="responsible_party.id", reason="producer_mismatch", message="m1"),
            Violation(field="occurred_at", reason="date_in_future", message="m2"),
        ],
    )
    assert str(refused) == "responsible_party.id: producer_mismatch; occurred_at: date_in_future"
