"""Whether a handler may report a step: registered, verified, and permitted for the waste and the operation."""

from __future__ import annotations

from datetime import datetime

from contracts.custody import HandlerPermit, HandlerRecord, registration_violations
from contracts.errors import Violation

# Waste steps need an EWC code: the permit check has nothing to check without one.
WASTE_KINDS = frozenset({"collection", "treatment_start"})


def handler_violations(
    handler_id: str, record: HandlerRecord | None, field: str = "handler_id", role: str = "handler"
) -> list[Violation]:
    """The handler is registered and verified (`role` names it in the sentence: handler, receiving handler, ...)."""
    state = record.state.value if record is not None else None
    reason = record.state_reason if record is not None else None
    return registration_violations(handler_id, state, reason, field=field, who=role)


def _valid_at(permit: HandlerPermit, at: datetime) -> bool:
    return permit.valid_from <= at and (permit.valid_until is None or at < permit.valid_until)


def permit_violations(
    record: HandlerRecord,
    *,
    kind: str,
    occurred_at: datetime,
    ewc_code: str | None,
    operation: str | None,
    site_id: str | None,
) -> list[Violation]:
    """A permit valid at the event time, for the site, covers the waste code and the operation."""
    violations: list[Violation] = []
    if site_id is not None and record.sites and site_id not in {site.site_id for site in record.sites}:
        violations.append(
            Violation(
                field="site_id",
                reason="unknown_site",
                message=f"{site_id!r} is not a registered site of {record.handler_id}.",
            )
        )
    if ewc_code is None and operation is None:
        if kind in WASTE_KINDS:
            violations.append(
                Violation(
                    field="ewc_code",
                    reason="waste_code_required",
                    message=f"A {kind} step moves waste: give its EWC code (e.g. '16 06 01*').",
                )
            )
        return violations
    at_site = [p for p in record.permits if p.site_id is None or site_id is None or p.site_id == site_id]
    covering = [
        p
        for p in at_site
        if (ewc_code is None or ewc_code in p.waste_codes) and (operation is None or operation in p.operations)
    ]
    if any(_valid_at(p, occurred_at) for p in covering):
        return violations
    when = occurred_at.isoformat()
    if covering:
        numbers = ", ".join(p.number for p in covering)
        violations.append(
            Violation(
                field="occurred_at",
                reason="permit_not_valid",
                message=f"Permit(s) {numbers} of {record.handler_id} cover this step but are not valid at {when} "
                "(expired or not yet in force).",
            )
        )
        return violations
    valid = [p for p in at_site if _valid_at(p, occurred_at)]
    uncovered: list[Violation] = []
    if ewc_code is not None and not any(ewc_code in p.waste_codes for p in valid):
        uncovered.append(
            Violation(
                field="ewc_code",
                reason="permit_does_not_cover_waste_code",
                message=f"No permit of {record.handler_id} valid at {when} covers waste code {ewc_code!r}.",
            )
        )
    if operation is not None and not any(operation in p.operations for p in valid):
        uncovered.append(
            Violation(
                field="operation",
                reason="permit_does_not_cover_operation",
                message=f"No permit of {record.handler_id} valid at {when} covers operation {operation}.",
            )
        )
    if not uncovered:  # each is covered by some permit, but no single permit covers both
        uncovered.append(
            Violation(
                field="operation",
                reason="permit_does_not_cover_operation",
                message=f"No single permit of {record.handler_id} covers waste code {ewc_code!r} with operation "
                f"{operation}.",
            )
        )
    return violations + uncovered
