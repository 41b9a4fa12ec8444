"""Second life (Art. 77(7)): who may make a new battery out of which passports, and what custody says. No I/O.

A repurposed, remanufactured or re-used battery gets a new passport under the operator's tenant, linked to its
predecessors (N to 1). The operator may name a predecessor when it holds the battery now (custody, as custody's
facts tell identity), or when it is the OEM owning the predecessor. Predecessors are looked at as the caller
may see them: a passport that is neither the caller's own nor ever was in its custody is "not found".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from contracts.custody import CustodyRecorded, Holding, holding_after
from contracts.errors import ValidationFailed, Violation, future_violation
from contracts.identity import STATUS_AFTER_OPERATION, SecondLifeRequest
from contracts.passport_data import BatteryStatus
from services.identity.domain import identifiers

DUPLICATE_PREDECESSOR = "duplicate_predecessor"
STATUS_CONTRADICTS_OPERATION = "status_contradicts_operation"
PREDECESSOR_NOT_FOUND = "predecessor_not_found"
PREDECESSOR_NOT_IN_CUSTODY = "predecessor_not_in_custody"
PREDECESSOR_CEASED = "predecessor_ceased"
PREDECESSOR_IN_TREATMENT = "predecessor_in_treatment"
IDENTIFIER_TAKEN = "battery_identifier_taken"
SECOND_LIFE_CONFLICT = "second_life_conflict"

# Clocks of the operator's systems may run a little ahead.


class SecondLifeRefused(Exception):
    """The operation is refused for the state of things (404 / 409), not for its form (422: ValidationFailed)."""

    def __init__(self, status_code: int, violations: list[Violation]) -> None:
        self.status_code = status_code
        self.violations = violations
        super().__init__("; ".join(f"{v.field}: {v.reason}" for v in violations))


@dataclass(frozen=True)
class CustodyView:
    """What custody's facts tell identity about who holds a passport's battery."""

    tenant: str
    sequence: int = 0
    holder: str | None = None
    in_transit: bool = False
    pending_to: str | None = None
    parties: tuple[str, ...] = ()
    in_treatment: bool = False


def fold_custody(view: CustodyView, fact: CustodyRecorded) -> CustodyView:
    """The view after one custody log entry (an entry at or before the view's sequence changes nothing).

    The holder follows custody's own rules (services/custody/domain/transitions.py): a dispatch leaves the
    sender holding it, in transit; a handover, receipt, collection, storage or treatment start gives it to the
    receiving or reporting handler; observations move nothing. Flagged entries count: custody's state does too.
    """
    if fact.sequence <= view.sequence:
        return view
    named = [h for h in (fact.handler_id, fact.from_handler_id, fact.to_handler_id) if h]
    parties = tuple(dict.fromkeys([*view.parties, *named]))
    kind = fact.kind.value
    held = holding_after(
        Holding(view.holder, view.in_transit, view.pending_to),
        kind=kind,
        handler_id=fact.handler_id,
        from_handler_id=fact.from_handler_id,
        to_handler_id=fact.to_handler_id,
    )
    return replace(
        view,
        sequence=fact.sequence,
        holder=held.holder,
        in_transit=held.in_transit,
        pending_to=held.in_transit_to,
        parties=parties,
        in_treatment=view.in_treatment or kind == "treatment_start",
    )


@dataclass(frozen=True)
class Predecessor:
    """A named predecessor as identity knows it: its owner, its custody, whether it ceased."""

    passport_id: str
    tenant: str
    custody: CustodyView
    ceased: bool = False


@dataclass(frozen=True)
class Checked:
    """A request in canonical form: predecessor ids as `urn:uuid:` in request order, the new battery's status."""

    predecessor_ids: list[str]
    status: BatteryStatus
    occurred_at: datetime
    problems: list[Violation] = field(default_factory=list)


def check_request(request: SecondLifeRequest, *, now: datetime) -> Checked:
    """Form rules: predecessor ids well-formed and distinct, a status that fits the operation, no future date."""
    violations: list[Violation] = []
    ids: list[str] = []
    first: dict[str, int] = {}
    for index, text in enumerate(request.predecessor_ids):
        where = f"predecessor_ids.{index}"
        try:
            canonical = identifiers.format_passport_id(identifiers.parse_passport_id(text, field=where))
        except ValidationFailed as failed:
            violations += failed.violations
            continue
        if canonical in first:
            violations.append(
                Violation(
                    field=where,
                    reason=DUPLICATE_PREDECESSOR,
                    message=f"{canonical} is also predecessor_ids.{first[canonical]}; name each predecessor once.",
                )
            )
            continue
        first[canonical] = index
        ids.append(canonical)
    status = STATUS_AFTER_OPERATION[request.operation]
    given = request.static_data.battery_status
    if given is not None and given is not status:
        violations.append(
            Violation(
                field="static_data.battery_status",
                reason=STATUS_CONTRADICTS_OPERATION,
                message=f"{request.operation.value} makes a {status.value} battery, not a {given.value} one; send "
                f"battery_status {status.value!r} or leave it out.",
            )
        )
    occurred_at = request.occurred_at or now
    future = future_violation("occurred_at", occurred_at, now, "give when the operation was done")
    if future is not None:
        violations.append(future)
    return Checked(ids, status, occurred_at, violations)


def _visible(predecessor: Predecessor | None, caller_tenant: str) -> bool:
    if predecessor is None:
        return False
    return predecessor.tenant == caller_tenant or caller_tenant in predecessor.custody.parties


def authorise(
    predecessor_ids: Sequence[str],
    found: Mapping[str, Predecessor],
    *,
    caller_tenant: str,
    owner_admin: bool,
) -> None:
    """Raise SecondLifeRefused unless the caller may make a new battery of every predecessor.

    404 `predecessor_not_found`: unknown, or another tenant's passport never in the caller's custody.
    409 `predecessor_ceased` (recycled, Art. 77(8)), `predecessor_in_treatment` (recycling has started), or
    `predecessor_not_in_custody` (the caller does not hold it now, or it is in transit, and is not its owner).
    """
    missing = [
        Violation(
            field=f"predecessor_ids.{index}",
            reason=PREDECESSOR_NOT_FOUND,
            message=f"No passport {pid} is visible to you: it must be yours or have been in your custody.",
        )
        for index, pid in enumerate(predecessor_ids)
        if not _visible(found.get(pid), caller_tenant)
    ]
    if missing:
        raise SecondLifeRefused(404, missing)
    conflicts: list[Violation] = []
    for index, pid in enumerate(predecessor_ids):
        p = found[pid]
        where = f"predecessor_ids.{index}"
        if p.ceased:
            conflicts.append(
                Violation(
                    field=where,
                    reason=PREDECESSOR_CEASED,
                    message=f"{pid} was recycled and its passport has ceased (Art. 77(8)); it has no second life.",
                )
            )
        elif p.custody.in_treatment:
            conflicts.append(
                Violation(
                    field=where,
                    reason=PREDECESSOR_IN_TREATMENT,
                    message=f"Recycling of {pid} has started ({p.custody.holder}); it can no longer be re-used.",
                )
            )
        elif not (owner_admin and p.tenant == caller_tenant) and not (
            p.custody.holder == caller_tenant and not p.custody.in_transit
        ):
            now_with = (
                f"it is in transit to {p.custody.pending_to or 'another handler'}"
                if p.custody.in_transit
                else f"{p.custody.holder or 'its producer'} holds it"
            )
            conflicts.append(
                Violation(
                    field=where,
                    reason=PREDECESSOR_NOT_IN_CUSTODY,
                    message=f"{pid} is not in your custody ({now_with}); record its receipt or handover to you first.",
                )
            )
    if conflicts:
        raise SecondLifeRefused(409, conflicts)


@dataclass(frozen=True)
class RecordedOperation:
    """A second-life operation as recorded, to answer a retry."""

    successor_id: str
    operation: str
    predecessor_ids: tuple[str, ...]


def check_retry(recorded: RecordedOperation | None, request: SecondLifeRequest, predecessor_ids: Sequence[str]) -> None:
    """A battery identifier the caller already has a passport for: the same operation again is a retry (answered
    with that passport); anything else is refused (409)."""
    if recorded is None:
        raise SecondLifeRefused(
            409,
            [
                Violation(
                    field="subject.battery_identifier",
                    reason=IDENTIFIER_TAKEN,
                    message=f"You already have a passport for {request.subject.battery_identifier!r} that no "
                    "second-life operation made; give the new battery an identifier of its own.",
                )
            ],
        )
    if recorded.operation != request.operation.value or set(recorded.predecessor_ids) != set(predecessor_ids):
        raise SecondLifeRefused(
            409,
            [
                Violation(
                    field="subject.battery_identifier",
                    reason=SECOND_LIFE_CONFLICT,
                    message=f"{request.subject.battery_identifier!r} was already made by {recorded.operation} of "
                    f"{len(recorded.predecessor_ids)} other predecessor(s) (passport {recorded.successor_id}); a "
                    "retry must repeat the same operation and predecessors.",
                )
            ],
        )
