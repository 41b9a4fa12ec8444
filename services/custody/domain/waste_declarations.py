"""Who becomes responsible for a waste battery, and who may declare one waste. No I/O.

Art. 77(7): a battery that becomes waste keeps its passport; responsibility for it moves to the producer, its
producer responsibility organisation (compliance scheme) or the waste management operator. Custody learns it
two ways: a registered handler collects the battery (the collector, a waste operator, becomes responsible), or
the owning OEM or the handler holding the battery declares it waste and names the responsible party.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.custody import (
    HandlerRecord,
    ResponsibilityBasis,
    ResponsiblePartyKind,
    WasteDeclarationRequest,
)
from contracts.errors import Violation, future_violation
from services.custody.domain.event_time import EARLIEST, event_time_violations
from services.custody.domain.permits import handler_violations

ALREADY_WASTE = "already_waste"
NOT_CUSTODIAN = "not_custodian"
PRODUCER_MISMATCH = "producer_mismatch"
# The stage a declaration reports when custody saw none: a battery becomes waste after it was on the market.
STAGE_WHEN_UNKNOWN = "placed_on_market"


@dataclass(frozen=True)
class Responsibility:
    operator: str
    kind: ResponsiblePartyKind
    basis: ResponsibilityBasis


def responsibility_on_collection(kind: str, handler_id: str, violations: list[Violation]) -> Responsibility | None:
    """A clean collection by a registered, verified collector makes it the responsible waste operator; a flagged
    one (recorded despite broken rules, by tenant policy) moves nothing."""
    if kind != "collection" or violations:
        return None
    return Responsibility(handler_id, ResponsiblePartyKind.waste_operator, ResponsibilityBasis.collection)


class DeclarationRefused(Exception):
    def __init__(self, status_code: int, violations: list[Violation]) -> None:
        self.status_code = status_code
        self.violations = violations
        super().__init__("; ".join(f"{v.field}: {v.reason}" for v in violations))


@dataclass(frozen=True)
class PassportCustody:
    """The passport as custody holds it."""

    passport_id: str
    tenant: str
    holder: str | None
    in_transit: bool
    stage: str | None
    status: str | None


@dataclass(frozen=True)
class Declarer:
    """Who declares: `party` is recorded as the log entry's handler, `source` as its CloudEvents source."""

    party: str
    source: str


def declarer(passport: PassportCustody, *, caller_tenant: str | None, owner_admin: bool, handler: bool) -> Declarer:
    """The owning tenant's OEM admin, or the handler holding the battery (nothing in transit) may declare it
    waste; other tenants' OEM keys do not see the passport (404), other handlers are refused (403)."""
    if owner_admin:
        if caller_tenant != passport.tenant:
            raise DeclarationRefused(
                404,
                [
                    Violation(
                        field="passport_id",
                        reason="passport_not_found",
                        message=f"No passport {passport.passport_id} is visible to you.",
                    )
                ],
            )
        return Declarer(passport.tenant, f"urn:bpass:tenant:{passport.tenant}")
    if handler and caller_tenant and passport.holder == caller_tenant and not passport.in_transit:
        return Declarer(caller_tenant, f"urn:bpass:handler:{caller_tenant}")
    holds = f"{passport.holder} holds it" if passport.holder else "no handler holds it"
    raise DeclarationRefused(
        403,
        [
            Violation(
                field="passport_id",
                reason=NOT_CUSTODIAN,
                message=f"Only the owner or the handler holding the battery may declare it waste; {holds}"
                f"{' (in transit)' if passport.in_transit else ''}.",
            )
        ],
    )


def declaration_violations(
    passport: PassportCustody,
    request: WasteDeclarationRequest,
    *,
    waste_operator: HandlerRecord | None,
    now: datetime,
) -> tuple[int, list[Violation]]:
    """(status code, violations) of a declaration; no violations: it may be recorded."""
    if passport.status == "waste":
        return 409, [
            Violation(
                field="passport_id",
                reason=ALREADY_WASTE,
                message=f"{passport.passport_id} is waste already (stage {passport.stage}); responsibility moved then.",
            )
        ]
    violations: list[Violation] = []
    party = request.responsible_party
    if party.kind is ResponsiblePartyKind.waste_operator:
        role = "waste operator"
        violations += handler_violations(party.id, waste_operator, "responsible_party.id", role)
    elif party.kind is ResponsiblePartyKind.producer and party.id != passport.tenant:
        violations.append(
            Violation(
                field="responsible_party.id",
                reason=PRODUCER_MISMATCH,
                message=f"The producer responsible for this battery is its passport's owner {passport.tenant!r}, "
                f"not {party.id!r}.",
            )
        )
    occurred_at = request.occurred_at or now
    future = future_violation("occurred_at", occurred_at, now, "give when it became waste")
    if future is not None:
        violations.append(future)
    elif occurred_at < EARLIEST:  # the event-time window every custody write path keeps
        violations += event_time_violations(occurred_at, now)
    return 422, violations


def declared_stage(passport: PassportCustody) -> str:
    return passport.stage or STAGE_WHEN_UNKNOWN
