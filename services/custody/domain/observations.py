"""An EPCIS custody observation as a custody step: who reported it, between whom, about which objects.

The reporting handler is the capturing handler (a handler key names it). A platform operator capturing on a
handler's behalf: the party whose GLN is a registered handler, on the side the business step implies (the
source for a dispatch, the destination for a receipt, the location otherwise). Source and destination parties
(possessing party first, then owning party) become the from / to handlers when their GLNs are registered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from contracts.custody import CustodyEventKind
from contracts.errors import Violation
from services.custody.domain.epcis import CustodyKind, CustodyObservation
from services.custody.domain.epcis.mapping import PartyOrLocation
from services.custody.domain.event_time import event_time_violations
from services.custody.domain.steps import CustodyStep

_GLN = re.compile(r"^https://id\.gs1\.org/(?:414|417)/(\d{13})")
_PARTY_ROLES = ("possessing_party", "owning_party")
_KIND: Mapping[CustodyKind, CustodyEventKind] = {
    CustodyKind.COLLECTED: CustodyEventKind.collection,
    **{k: CustodyEventKind(k.value) for k in CustodyKind if k is not CustodyKind.COLLECTED},
}


def gln_of(identifier: str | None) -> str | None:
    match = _GLN.match(identifier or "")
    return match.group(1) if match else None


def glns_of(observation: CustodyObservation) -> set[str]:
    named = [observation.read_point, observation.biz_location]
    named += [p.id for p in observation.sources + observation.destinations]
    return {gln for gln in (gln_of(i) for i in named) if gln}


def _party(parties: tuple[PartyOrLocation, ...], handlers: Mapping[str, tuple[str, str | None]]) -> str | None:
    for role in _PARTY_ROLES:
        for party in parties:
            gln = gln_of(party.id)
            if party.role == role and gln is not None and gln in handlers:
                return handlers[gln][0]
    return None


def _location(
    observation: CustodyObservation, handlers: Mapping[str, tuple[str, str | None]]
) -> tuple[str, str | None] | None:
    for place in (observation.biz_location, observation.read_point):
        gln = gln_of(place)
        if gln is not None and gln in handlers:
            return handlers[gln]
    return None


def to_step(
    observation: CustodyObservation,
    index: int,
    *,
    capturer: str | None,
    source: str,
    capture_id: str,
    handlers: Mapping[str, tuple[str, str | None]],
    received_at: datetime | None = None,
) -> CustodyStep:
    """`handlers`: GLN -> (handler id, site id) for the GLNs of the registry this event names."""
    kind = _KIND[observation.kind]
    from_handler = _party(observation.sources, handlers)
    to_handler = _party(observation.destinations, handlers)
    location = _location(observation, handlers)
    handler = capturer
    if handler is None:
        if kind is CustodyEventKind.dispatch:
            handler = from_handler
        elif kind is CustodyEventKind.receipt:
            handler = to_handler
        handler = handler or (location[0] if location else None) or from_handler or to_handler
    hard: list[Violation] = []
    if handler is None:
        hard.append(
            Violation(
                field=f"epcisBody.eventList.{index}",
                reason="handler_unknown",
                message="No handler reports this event: capture it with a handler's key, or name a registered "
                "handler's GLN as its party or location.",
            )
        )
    hard += event_time_violations(
        observation.event_time, received_at or datetime.now(UTC), f"epcisBody.eventList.{index}.eventTime"
    )
    site = location[1] if location and location[0] == handler else None
    references = observation.identifiers + tuple(q.epc_class for q in observation.quantities if q.epc_class)
    content: dict[str, Any] = {
        "epcis": observation.model_dump(mode="json", exclude_none=True),
        "capture_id": capture_id,
    }
    return CustodyStep(
        kind=kind.value,
        occurred_at=observation.event_time,
        handler_id=handler or "",
        source_event_id=observation.event_id or observation.event_hash,
        source=source,
        references=tuple(dict.fromkeys(references)),
        content=content,
        from_handler_id=from_handler,
        to_handler_id=to_handler,
        site_id=site,
        ewc_code=observation.waste_code,
        operation=observation.waste_operation,
        epcis_event_hash=observation.event_hash,
        hard_violations=hard,
    )
