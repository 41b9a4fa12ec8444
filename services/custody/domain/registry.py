"""The handler registry's lifecycle: register (pending) -> verify -> suspend -> verify again; amend any time."""

from __future__ import annotations

from datetime import datetime

from contracts.custody import HandlerChange, HandlerDetails, HandlerRecord, HandlerRegistration, VerificationState
from contracts.errors import Violation


class IllegalRegistryChange(Exception):
    """The change does not apply to the handler in its current state."""

    def __init__(self, violation: Violation) -> None:
        self.violation = violation
        super().__init__(violation.message)


def _details_violations(details: HandlerDetails) -> list[Violation]:
    site_ids = [site.site_id for site in details.sites]
    violations = [
        Violation(field=f"sites.{i}.site_id", reason="duplicate_site", message=f"Site {s!r} is listed twice.")
        for i, s in enumerate(site_ids)
        if s in site_ids[:i]
    ]
    for i, permit in enumerate(details.permits):
        if permit.site_id is not None and permit.site_id not in site_ids:
            violations.append(
                Violation(
                    field=f"permits.{i}.site_id",
                    reason="unknown_site",
                    message=f"Permit {permit.number} names site {permit.site_id!r}, which is not among the sites.",
                )
            )
    return violations


def register(registration: HandlerRegistration, now: datetime) -> tuple[HandlerRecord, list[Violation]]:
    record = HandlerRecord(**registration.model_dump(), state=VerificationState.pending, version=1, updated_at=now)
    return record, _details_violations(registration)


def amend(record: HandlerRecord, details: HandlerDetails, now: datetime) -> tuple[HandlerRecord, list[Violation]]:
    amended = record.model_copy(update={**dict(details), "version": record.version + 1, "updated_at": now})
    return amended, _details_violations(details)


def change_state(record: HandlerRecord, change: HandlerChange, reason: str | None, now: datetime) -> HandlerRecord:
    if change is HandlerChange.verified:
        target = VerificationState.verified
    elif change is HandlerChange.suspended:
        target = VerificationState.suspended
    else:
        raise ValueError(change)
    if record.state is target:
        raise IllegalRegistryChange(
            Violation(
                field="state",
                reason=f"already_{target.value}",
                message=f"Handler {record.handler_id} is already {target.value}.",
            )
        )
    return record.model_copy(
        update={"state": target, "state_reason": reason, "version": record.version + 1, "updated_at": now}
    )
