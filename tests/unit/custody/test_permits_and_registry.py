"""Registry lifecycle and the handler / permit rules every custody step is checked against."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contracts.custody import (
    HandlerChange,
    HandlerDetails,
    HandlerPermit,
    HandlerRegistration,
    HandlerRole,
    HandlerSite,
    VerificationState,
)
from services.custody.domain.permits import handler_violations, permit_violations
from services.custody.domain.registry import IllegalRegistryChange, amend, change_state, register

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, tzinfo=UTC)
PERMIT = HandlerPermit(
    permit_type="environmental_permit",
    number="EPR/1",
    issuing_authority="Environment Agency",
    valid_from=datetime(2026, 1, 1, tzinfo=UTC),
    valid_until=datetime(2026, 7, 1, tzinfo=UTC),
    waste_codes=["16 06 01*", "20 01 33*"],
    operations=["R4", "R12"],
    site_id="plant",
)
TRANSPORT = HandlerPermit(
    permit_type="waste_carrier_registration",
    number="CBDU1",
    issuing_authority="Environment Agency",
    valid_from=datetime(2025, 1, 1, tzinfo=UTC),
    waste_codes=["16 06 05"],
)


def registration(**changes: object) -> HandlerRegistration:
    base = {
        "handler_id": "northern-recycling",
        "name": "Northern Recycling Ltd",
        "roles": [HandlerRole.recycler],
        "sites": [HandlerSite(site_id="plant", name="Plant", gln="9521234000013")],
        "permits": [PERMIT, TRANSPORT],
    }
    return HandlerRegistration.model_validate({**base, **changes})


def verified() -> object:
    record, violations = register(registration(), NOW)
    assert violations == []
    return change_state(record, HandlerChange.verified, "documents checked", NOW)


def test_lifecycle_pending_verified_suspended_verified_with_versions() -> None:
    record, _ = register(registration(), NOW)
    assert (record.state, record.version) == (VerificationState.pending, 1)
    record = change_state(record, HandlerChange.verified, None, NOW)
    record = change_state(record, HandlerChange.suspended, "permit revoked", NOW)
    assert (record.state, record.version, record.state_reason) == (VerificationState.suspended, 3, "permit revoked")
    with pytest.raises(IllegalRegistryChange) as illegal:
        change_state(record, HandlerChange.suspended, None, NOW)
    assert illegal.value.violation.reason == "already_suspended"
    amended, violations = amend(record, HandlerDetails(name="New name", roles=[HandlerRole.carrier]), NOW)
    assert violations == []
    assert (amended.name, amended.version, amended.state) == ("New name", 4, VerificationState.suspended)


def test_details_are_checked() -> None:
    _, violations = register(
        registration(sites=[HandlerSite(site_id="a", name="A"), HandlerSite(site_id="a", name="A again")]), NOW
    )
    assert {v.reason for v in violations} == {"duplicate_site", "unknown_site"}
    with pytest.raises(ValidationError, match="EWC code"):
        HandlerPermit.model_validate({**PERMIT.model_dump(), "waste_codes": ["160601"]})
    with pytest.raises(ValidationError, match="R1-R13"):
        HandlerPermit.model_validate({**PERMIT.model_dump(), "operations": ["R14"]})
    with pytest.raises(ValidationError, match="after valid_from"):
        HandlerPermit.model_validate({**PERMIT.model_dump(), "valid_until": "2025-01-01T00:00:00Z"})


def test_only_registered_verified_handlers_pass() -> None:
    record, _ = register(registration(), NOW)
    assert handler_violations("x", None)[0].reason == "handler_not_registered"
    assert handler_violations("northern-recycling", record)[0].reason == "handler_not_verified"
    suspended = change_state(record, HandlerChange.suspended, "fraud", NOW)
    found = handler_violations("northern-recycling", suspended)
    assert found[0].reason == "handler_suspended"
    assert "fraud" in found[0].message
    assert handler_violations("northern-recycling", change_state(record, HandlerChange.verified, None, NOW)) == []


@pytest.mark.parametrize(
    ("when", "ewc", "operation", "site", "kind", "reasons"),
    [
        (NOW, "16 06 01*", "R4", "plant", "treatment_start", set()),
        (NOW, "16 06 05", None, None, "collection", set()),  # the transport registration covers it
        (datetime(2026, 7, 1, tzinfo=UTC), "16 06 01*", "R4", None, "treatment_start", {"permit_not_valid"}),
        (datetime(2025, 12, 31, tzinfo=UTC), "20 01 33*", None, None, "collection", {"permit_not_valid"}),
        (NOW, "16 01 04*", None, None, "collection", {"permit_does_not_cover_waste_code"}),
        (NOW, None, "D10", None, "treatment_start", {"permit_does_not_cover_operation"}),
        (NOW, "16 06 05", "R4", None, "treatment_start", {"permit_does_not_cover_operation"}),
        (NOW, None, None, None, "collection", {"waste_code_required"}),
        (NOW, None, None, None, "dispatch", set()),
        (NOW, "16 06 01*", None, "elsewhere", "collection", {"unknown_site", "permit_does_not_cover_waste_code"}),
    ],
)
def test_permit_rules(
    when: datetime, ewc: str | None, operation: str | None, site: str | None, kind: str, reasons: set[str]
) -> None:
    record = verified()
    found = permit_violations(
        record,  # type: ignore[arg-type]
        kind=kind,
        occurred_at=when,
        ewc_code=ewc,
        operation=operation,
        site_id=site,
    )
    assert {v.reason for v in found} == reasons
