"""Waste responsibility (Art. 77(7)): collection moves it to the collector; a declaration to the named party."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.custody import (
    HandlerRecord,
    ResponsibilityBasis,
    ResponsiblePartyKind,
    VerificationState,
    WasteDeclarationRequest,
)
from contracts.errors import Violation
from services.custody.domain import waste_declarations as rules
from services.custody.domain.waste_declarations import DeclarationRefused, PassportCustody

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
PASSPORT = PassportCustody("urn:uuid:p", "acme", "fleet-op", False, "in_service", None)


def declaration(kind: str, party: str, **extra: object) -> WasteDeclarationRequest:
    return WasteDeclarationRequest.model_validate(
        {"responsible_party": {"kind": kind, "id": party}, "reason": "capacity below 60 %", **extra}
    )


def handler(handler_id: str, state: VerificationState = VerificationState.verified) -> HandlerRecord:
    return HandlerRecord(
        handler_id=handler_id,
        name="Northern Recycling Ltd",
        roles=["collector"],  # type: ignore[list-item]
        state=state,
        version=1,
        updated_at=NOW,
    )


def test_a_clean_collection_makes_the_collector_responsible() -> None:
    moved = rules.responsibility_on_collection("collection", "northern", [])
    assert moved == rules.Responsibility(
        "northern", ResponsiblePartyKind.waste_operator, ResponsibilityBasis.collection
    )
    assert rules.responsibility_on_collection("dispatch", "carrier", []) is None
    flagged = [Violation(field="handler_id", reason="handler_not_verified", message="m")]
    assert rules.responsibility_on_collection("collection", "northern", flagged) is None


def test_the_owner_admin_or_the_holder_declares() -> None:
    assert rules.declarer(PASSPORT, caller_tenant="acme", owner_admin=True, handler=False).source == (
        "urn:bpass:tenant:acme"
    )
    holder = rules.declarer(PASSPORT, caller_tenant="fleet-op", owner_admin=False, handler=True)
    assert (holder.party, holder.source) == ("fleet-op", "urn:bpass:handler:fleet-op")
    with pytest.raises(DeclarationRefused) as other_oem:
        rules.declarer(PASSPORT, caller_tenant="rival", owner_admin=True, handler=False)
    assert (other_oem.value.status_code, other_oem.value.violations[0].reason) == (404, "passport_not_found")
    with pytest.raises(DeclarationRefused) as not_holder:
        rules.declarer(PASSPORT, caller_tenant="carrier", owner_admin=False, handler=True)
    assert (not_holder.value.status_code, not_holder.value.violations[0].reason) == (403, "not_custodian")


def test_declaration_rules() -> None:
    ok = rules.declaration_violations(
        PASSPORT, declaration("waste_operator", "northern"), waste_operator=handler("northern"), now=NOW
    )
    assert ok == (422, [])
    code, found = rules.declaration_violations(
        PASSPORT, declaration("waste_operator", "ghost"), waste_operator=None, now=NOW
    )
    assert [(v.field, v.reason) for v in found] == [("responsible_party.id", "handler_not_registered")]
    code, found = rules.declaration_violations(
        PASSPORT,
        declaration("producer", "someone-else", occurred_at=(NOW + timedelta(hours=1)).isoformat()),
        waste_operator=None,
        now=NOW,
    )
    assert {v.reason for v in found} == {"producer_mismatch", "date_in_future"}
    assert (
        rules.declaration_violations(
            PASSPORT, declaration("compliance_scheme", "ear-123"), waste_operator=None, now=NOW
        )[1]
        == []
    )
    waste = PassportCustody("urn:uuid:p", "acme", "northern", False, "collected", "waste")
    code, found = rules.declaration_violations(waste, declaration("producer", "acme"), waste_operator=None, now=NOW)
    assert (code, [v.reason for v in found]) == (409, ["already_waste"])


def test_the_declared_stage_is_the_known_one() -> None:
    assert rules.declared_stage(PASSPORT) == "in_service"
    assert rules.declared_stage(PassportCustody("urn:uuid:p", "acme", None, False, None, None)) == "placed_on_market"
