"""Write authority: who may record which custody step, for which passport. One rule table, no I/O.

Every write path (HTTP `/custody/v1/events`, topic `bpass.custody.events.v1`, EPCIS capture, early steps applied
when their passport is minted) asks `authority_violations` before the custody transition rules. A refusal here
is never recorded as flagged evidence, whatever the tenant's policy: a party that may not write does not write.

Who is who, for one passport of tenant T:

- the *holder*: the handler the custody state names; while no handler holds the battery (before its first custody
  step, or after a dispatch back to nobody), it is with its producer: the OEM T itself and its *delegates*
  (handlers whose registry record carries the identifier `oem_delegate` = T: the OEM's plant, warehouse, dealer);
- the *consignee*: the `to_handler_id` of the dispatch that put the battery in transit;
- the *owner*: the OEM T (a `urn:bpass:tenant:T` source or a T OEM key) and its delegates;
- an *authority*: a `urn:bpass:authority:<id>` source (a regulator's key over HTTP);
- a *collector* / *recycler*: a handler whose registry record has that role.

| step | who may record it | refusal |
| --- | --- | --- |
| dispatch, handover | the holder, as the `from` side (never the receiver claiming it) | `not_holder` |
| receipt | the consignee; the holder; a recycler receiving from the collector holding it | `not_consignee` |
| collection | a registered collector, unless in transit to another or waste held by another | `collector_only` ... |
| storage, treatment_start | the holder | `not_holder` |
| placed_on_market, in_service | the owner (OEM or delegate) | `stage_owner_only` |
| stolen, destroyed | the holder or an authority | `holder_or_authority_only` |
| recalled | the owner or an authority | `owner_or_authority_only` |
| any other observation | the holder, the consignee or an authority | `not_holder` |
| a transfer from an OEM or authority source | nobody: handlers record transfers (OEM: its delegate) | `handler_only` |

A refused collection is `collector_only` (not a collector), `not_consignee` (in transit to another) or
`not_holder` (waste another operator holds).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from contracts.custody import HandlerRecord
from contracts.errors import Violation
from services.custody.domain.transitions import WASTE_STAGES, CustodyState

TENANT_SOURCE_PREFIX = "urn:bpass:tenant:"
AUTHORITY_SOURCE_PREFIX = "urn:bpass:authority:"
# Registry identifier scheme naming the tenant a handler acts for (its value is the tenant).
DELEGATE_SCHEME = "oem_delegate"

NOT_HOLDER = "not_holder"
NOT_CONSIGNEE = "not_consignee"
STAGE_OWNER_ONLY = "stage_owner_only"
HOLDER_OR_AUTHORITY_ONLY = "holder_or_authority_only"
OWNER_OR_AUTHORITY_ONLY = "owner_or_authority_only"
COLLECTOR_ONLY = "collector_only"
HANDLER_ONLY = "handler_only"
REASONS = frozenset(
    {
        NOT_HOLDER,
        NOT_CONSIGNEE,
        STAGE_OWNER_ONLY,
        HOLDER_OR_AUTHORITY_ONLY,
        OWNER_OR_AUTHORITY_ONLY,
        COLLECTOR_ONLY,
        HANDLER_ONLY,
    }
)

TRANSFER_KINDS = frozenset({"dispatch", "handover", "receipt", "collection", "storage", "treatment_start"})
STAGE_KINDS = frozenset({"placed_on_market", "in_service"})
HOLDER_OR_AUTHORITY_KINDS = frozenset({"stolen", "destroyed"})
OWNER_OR_AUTHORITY_KINDS = frozenset({"recalled"})


class ActorKind(StrEnum):
    handler = "handler"
    oem = "oem"
    authority = "authority"


@dataclass(frozen=True)
class Actor:
    """Who writes: a handler (with its registry roles and the tenants it is a delegate of), an OEM, an authority."""

    kind: ActorKind
    id: str
    roles: frozenset[str] = frozenset()
    delegate_of: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Write:
    """The step as far as authority goes: its kind, who reports it, and the parties it names."""

    kind: str
    handler_id: str
    from_handler_id: str | None = None
    to_handler_id: str | None = None


def handler_actor(handler_id: str, record: HandlerRecord | None) -> Actor:
    if record is None:
        return Actor(ActorKind.handler, handler_id)
    return Actor(
        ActorKind.handler,
        handler_id,
        frozenset(role.value for role in record.roles),
        frozenset(i.value for i in record.identifiers if i.scheme == DELEGATE_SCHEME),
    )


def source_party(source: str) -> tuple[ActorKind, str] | None:
    """The OEM or authority a CloudEvents source names (`urn:bpass:tenant:<t>[:<system>]`), else None."""
    for prefix, kind in ((TENANT_SOURCE_PREFIX, ActorKind.oem), (AUTHORITY_SOURCE_PREFIX, ActorKind.authority)):
        if source.startswith(prefix):
            return kind, source[len(prefix) :].split(":", 1)[0]
    return None


def actor_of(source: str, handler_id: str, handlers: dict[str, HandlerRecord]) -> Actor:
    """The party a step is written by: an OEM or authority source speaks for itself; otherwise the reporting
    handler (whose binding to a `urn:bpass:handler:` source is checked where the step is read)."""
    party = source_party(source)
    if party is not None:
        return Actor(party[0], party[1])
    return handler_actor(handler_id, handlers.get(handler_id))


@dataclass(frozen=True)
class Standing:
    """What the actor is to one passport."""

    holder: bool
    consignee: bool
    owner: bool
    authority: bool


def standing(actor: Actor, tenant: str, state: CustodyState) -> Standing:
    owner = (actor.kind is ActorKind.oem and actor.id == tenant) or (
        actor.kind is ActorKind.handler and tenant in actor.delegate_of
    )
    if actor.kind is ActorKind.handler:
        holder = state.holder == actor.id if state.holder is not None else owner
    else:
        holder = state.holder is None and owner
    consignee = actor.kind is ActorKind.handler and state.in_transit and state.pending_to == actor.id
    return Standing(holder, consignee, owner, actor.kind is ActorKind.authority)


def _refusal(field: str, reason: str, message: str) -> list[Violation]:
    return [Violation(field=field, reason=reason, message=message)]


def _holding(state: CustodyState) -> str:
    """Where the battery is, without naming other parties (a refusal is no way to learn who holds what)."""
    if state.holder is None:
        return "it is with its producer"
    if state.in_transit and state.pending_to:
        return "another handler holds it, in transit to a named consignee"
    return "another handler holds it"


def authority_violations(
    write: Write,
    actor: Actor,
    tenant: str,
    state: CustodyState,
    holder_record: HandlerRecord | None = None,
) -> list[Violation]:
    """The rules of the table above that `actor` breaks by writing `write` on a passport of `tenant` in `state`
    (`holder_record`: the registry record of the handler holding it, for the collector -> recycler rule)."""
    kind = write.kind
    who = actor.id
    if kind in TRANSFER_KINDS and actor.kind is not ActorKind.handler:
        return _refusal(
            "kind",
            HANDLER_ONLY,
            f"{kind} moves custody and is reported by a registered handler; {who} is not one (an OEM reports "
            "transfers through its delegate handler).",
        )
    me = standing(actor, tenant, state)
    if kind in ("dispatch", "handover"):
        if write.from_handler_id not in (None, write.handler_id):
            return _refusal(
                "handler_id",
                NOT_HOLDER,
                f"A {kind} is reported by the handler handing over ({write.from_handler_id}), not by {who}.",
            )
        if not me.holder:
            field = "from_handler_id" if write.from_handler_id else "handler_id"
            return _refusal(field, NOT_HOLDER, f"{who} may not {kind} this battery: {_holding(state)}.")
        return []
    if kind == "receipt":
        receiver = write.to_handler_id or write.handler_id
        if receiver != write.handler_id:
            return _refusal(
                "to_handler_id", NOT_CONSIGNEE, f"A receipt is reported by its receiver {receiver}, not by {who}."
            )
        if me.consignee or me.holder:
            return []
        if (
            not state.in_transit
            and state.holder is not None
            and write.from_handler_id == state.holder
            and "recycler" in actor.roles
            and holder_record is not None
            and "collector" in {r.value for r in holder_record.roles}
        ):
            return []  # a recycler receiving waste from the collector holding it
        return _refusal("handler_id", NOT_CONSIGNEE, f"{who} is not the consignee of this battery: {_holding(state)}.")
    if kind == "collection":
        if "collector" not in actor.roles:
            return _refusal(
                "handler_id", COLLECTOR_ONLY, f"{who} is not a registered collector; only collectors collect waste."
            )
        if state.in_transit and state.pending_to not in (None, who):
            return _refusal("handler_id", NOT_CONSIGNEE, f"{who} may not collect this battery: {_holding(state)}.")
        if state.stage in WASTE_STAGES and state.holder not in (None, who):
            where = _holding(state)
            return _refusal("handler_id", NOT_HOLDER, f"{who} may not collect this battery: it is waste and {where}.")
        return []
    if kind in ("storage", "treatment_start"):
        if me.holder:
            return []
        return _refusal("handler_id", NOT_HOLDER, f"{who} may not record {kind}: {_holding(state)}.")
    if kind in STAGE_KINDS:
        if me.owner:
            return []
        return _refusal(
            "kind",
            STAGE_OWNER_ONLY,
            f"{kind} changes the battery's stage and is recorded by its producer or the producer's delegate, "
            f"not by {who}.",
        )
    if kind in HOLDER_OR_AUTHORITY_KINDS:
        if me.holder or me.authority:
            return []
        where = _holding(state)
        return _refusal(
            "kind", HOLDER_OR_AUTHORITY_ONLY, f"{kind} is recorded by the holder or an authority, not {who}: {where}."
        )
    if kind in OWNER_OR_AUTHORITY_KINDS:
        if me.owner or me.authority:
            return []
        return _refusal(
            "kind",
            OWNER_OR_AUTHORITY_ONLY,
            f"{kind} is recorded by the battery's producer, the producer's delegate or an authority, not by {who}.",
        )
    if me.holder or me.consignee or me.authority:
        return []
    return _refusal("handler_id", NOT_HOLDER, f"{who} may not record {kind} on this battery: {_holding(state)}.")
