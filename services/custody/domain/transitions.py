"""Who holds custody of a passport, and which steps are legal from there: a small state machine per passport.

The chain starts with nobody holding custody (the battery is with its producer, who is not a handler): the
first handler that dispatches, collects or receives it takes custody. Which party may report which step at all
(the holder, the consignee, the producer's delegate, a collector, an authority) is `authority.py`'s; this table
is the order of steps. From then on:

| step | legal when | afterwards |
| --- | --- | --- |
| dispatch (by or from F, to T) | nothing in transit; F holds custody (or nobody) | in transit F -> T; F holds it |
| handover (F to T, reported by F or T) | F holds custody (or nobody); not in transit to another | T holds it |
| receipt (by R, from F) | in transit to R from F; or nothing in transit and nobody else (or F) holds it | R holds it |
| collection (by C) | not in transit to someone else | C holds it; `collected` (waste) |
| storage, treatment start (by H) | H holds custody (or nobody); nothing in transit | H holds it (`in_treatment`) |
| any other observation | always | stage may change (placed on market, in service) |
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from contracts.errors import Violation

TRANSFER_KINDS = frozenset({"dispatch", "handover", "receipt", "collection", "storage", "treatment_start"})
STAGE_AFTER = {
    "placed_on_market": "placed_on_market",
    "in_service": "in_service",
    "collection": "collected",
    "treatment_start": "in_treatment",
}
WASTE_STAGES = frozenset({"collected", "in_treatment"})


@dataclass(frozen=True)
class CustodyState:
    """Custody of one passport: who holds it, and the dispatch awaiting receipt, if any."""

    holder: str | None = None
    in_transit: bool = False
    pending_from: str | None = None
    pending_to: str | None = None
    stage: str | None = None


@dataclass(frozen=True)
class Step:
    """The custody meaning of an event for one passport."""

    kind: str
    handler_id: str
    from_handler_id: str | None = None
    to_handler_id: str | None = None


def _violation(field: str, reason: str, message: str) -> Violation:
    return Violation(field=field, reason=reason, message=message)


def _not_custodian(party: str, holder: str, field: str = "handler_id") -> Violation:
    return _violation(
        field, "not_custodian", f"{party} does not hold custody of this passport; {holder} does since its last step."
    )


def _in_transit(state: CustodyState, field: str = "kind") -> Violation:
    to = f" to {state.pending_to}" if state.pending_to else ""
    return _violation(
        field,
        "in_transit",
        f"The passport was dispatched by {state.pending_from}{to} and is not received yet; report the receipt first.",
    )


def transition(state: CustodyState, step: Step) -> tuple[CustodyState, list[Violation]]:
    """The state after `step`, and the rules it breaks (the state is computed as if it happened regardless)."""
    violations: list[Violation] = []
    kind, handler = step.kind, step.handler_id
    holder = state.holder
    stage = STAGE_AFTER.get(kind, state.stage)
    if kind == "dispatch":
        sender = step.from_handler_id or handler
        if state.in_transit:
            violations.append(_in_transit(state))
        elif holder is not None and holder != sender:
            violations.append(
                _not_custodian(sender, holder, "from_handler_id" if step.from_handler_id else "handler_id")
            )
        return CustodyState(sender, True, sender, step.to_handler_id, stage), violations
    if kind == "handover":
        giver, taker = step.from_handler_id, step.to_handler_id
        if giver is None or taker is None:
            violations.append(
                _violation(
                    "from_handler_id", "handover_parties_missing", "A handover names from_handler_id and to_handler_id."
                )
            )
            return replace(state, stage=stage), violations
        if handler not in (giver, taker):
            violations.append(
                _violation("handler_id", "reporter_not_party", f"{handler} is neither side of the handover it reports.")
            )
        if state.in_transit and state.pending_to not in (None, taker):
            violations.append(
                _violation(
                    "to_handler_id",
                    "handover_contradicts_dispatch",
                    f"The passport is in transit to {state.pending_to}, not to {taker}.",
                )
            )
        elif holder is not None and holder != giver:
            violations.append(_not_custodian(giver, holder, "from_handler_id"))
        return CustodyState(taker, False, None, None, stage), violations
    if kind == "receipt":
        receiver = step.to_handler_id or handler
        if state.in_transit:
            if state.pending_to is not None and state.pending_to != receiver:
                violations.append(
                    _violation(
                        "handler_id",
                        "receipt_contradicts_dispatch",
                        f"The last dispatch sent the passport to {state.pending_to}, not to {receiver}.",
                    )
                )
            if step.from_handler_id is not None and step.from_handler_id != state.pending_from:
                violations.append(
                    _violation(
                        "from_handler_id",
                        "receipt_contradicts_dispatch",
                        f"The last dispatch came from {state.pending_from}, not from {step.from_handler_id}.",
                    )
                )
        elif holder is not None and holder != receiver and step.from_handler_id != holder:
            violations.append(
                _violation(
                    "kind",
                    "receipt_without_dispatch",
                    f"{holder} holds custody and dispatched nothing; {receiver} cannot have received it.",
                )
            )
        return CustodyState(receiver, False, None, None, stage), violations
    if kind == "collection":
        if state.in_transit and state.pending_to not in (None, handler):
            violations.append(_in_transit(state))
        return CustodyState(handler, False, None, None, stage), violations
    if kind in ("storage", "treatment_start"):
        if state.in_transit:
            violations.append(_in_transit(state))
        elif holder is not None and holder != handler:
            violations.append(_not_custodian(handler, holder))
        return CustodyState(handler, False, None, None, stage), violations
    return replace(state, stage=stage), violations
