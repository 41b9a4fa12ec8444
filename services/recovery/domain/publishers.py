"""Whom recovery believes: the publisher is a registered, verified handler in the role it reports as, and a
recycler reports treatment only of passports in its custody.

Recovery keeps its own copies of custody's facts (the handler registry and who holds each passport); this module
holds the rules, `store.publishers` the copies.

Who holds a passport after a custody step follows custody's state machine (custody's `domain/transitions.py`):
custody computes the state after every recorded step as if it happened, flagged or not, so the same function of
the step alone gives the holder here.

| step | holder afterwards | in transit |
| --- | --- | --- |
| dispatch (by H, from F, to T) | F (or H) | yes, to T |
| handover (F to T) | T | no |
| receipt (by H, from F, to T) | T (or H) | no |
| collection, storage, treatment start (by H) | H | no |
| any other observation | unchanged | unchanged |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.custody import Holding, holding_after, registration_violations
from contracts.errors import Violation


@dataclass(frozen=True)
class RegisteredHandler:
    """Recovery's copy of a handler registry entry."""

    handler_id: str
    roles: frozenset[str]
    state: str  # pending | verified | suspended
    state_reason: str | None = None


@dataclass(frozen=True)
class Custody:
    """Who holds a passport after its latest custody step known to recovery."""

    holder: str | None
    in_transit_to: str | None = None
    in_transit: bool = False
    sequence: int = 0
    occurred_at: datetime | None = None


def custody_after(
    before: Custody,
    *,
    kind: str,
    handler_id: str,
    from_handler_id: str | None,
    to_handler_id: str | None,
    sequence: int,
    occurred_at: datetime,
) -> Custody:
    """The custody of a passport after one recorded step (see the table above: `contracts.custody.holding_after`)."""
    held = holding_after(
        Holding(before.holder, before.in_transit, before.in_transit_to),
        kind=kind,
        handler_id=handler_id,
        from_handler_id=from_handler_id,
        to_handler_id=to_handler_id,
    )
    return Custody(held.holder, held.in_transit_to, held.in_transit, sequence, occurred_at)


def publisher_violations(
    handler_id: str, record: RegisteredHandler | None, *, role: str, field: str
) -> list[Violation]:
    """The publisher is in the verified handler registry, verified, with `role` among its roles."""
    refused = registration_violations(
        handler_id,
        record.state if record is not None else None,
        record.state_reason if record is not None else None,
        field=field,
        who=role,
        unregistered_hint=f"; a {role} registers with the platform operator before it reports",
    )
    if refused or record is None:
        return refused
    if role not in record.roles:
        roles = ", ".join(sorted(record.roles)) or "none"
        return [
            Violation(
                field=field,
                reason="handler_role_not_allowed",
                message=f"{handler_id!r} is registered as {roles}, not as a {role}; only a {role} may report this.",
            )
        ]
    return []


def custody_violation(field: str, passport_id: str, recycler_id: str, custody: Custody | None) -> Violation | None:
    """A recycler reports treatment of a passport only while it holds it (received, nothing in transit)."""
    if custody is not None and custody.holder == recycler_id and not custody.in_transit:
        return None
    if custody is None or custody.holder is None:
        why = "no custody step of it has reached recovery"
    elif custody.in_transit and custody.holder == recycler_id:
        why = f"{recycler_id} dispatched it to {custody.in_transit_to or 'another handler'}"
    elif custody.in_transit:
        to = custody.in_transit_to or "another handler"
        why = f"it is in transit from {custody.holder} to {to}; report the receipt first"
    else:
        why = f"{custody.holder} holds it since custody step {custody.sequence}"
    return Violation(
        field=field,
        reason="not_in_custody",
        message=f"Passport {passport_id} is not in the custody of {recycler_id}: {why}. A recycler reports "
        "treatment of the batteries it holds (custody events on bpass.custody.events.v1).",
    )
