"""What an EPCIS capture keeps of aggregation events for pack membership, in the capture's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.common.db import DbConnection
from services.custody.domain.epcis import CustodyObservation
from services.custody.domain.steps import parking_key
from services.custody.membership import store
from services.custody.membership.intervals import MembershipObservation, observations_of

AGGREGATION_EVENT = "AggregationEvent"


def membership_observations(observation: CustodyObservation) -> list[MembershipObservation]:
    """The (event, child) observations of an aggregation event, its identifiers keyed as the custody log parks
    them (a GS1 key in any notation is one key); none for other events or an error declaration."""
    if observation.event_type != AGGREGATION_EVENT or observation.error_declaration is not None:
        return []
    return observations_of(
        observation.event_hash,
        parking_key(observation.parent_id) if observation.parent_id else None,
        [parking_key(child) for child in observation.child_epcs],
        observation.action,
        observation.event_time,
    )


async def keep(
    conn: DbConnection,
    applied: Iterable[CustodyObservation],
    declared_erroneous: Sequence[str],
    *,
    capture_id: str,
    capturer: str | None,
) -> None:
    """Keep the aggregation observations of the events a capture applied (recorded, flagged or parked), then mark
    those of the events it declared erroneous (the same document may hold both)."""
    kept = [o for observation in applied for o in membership_observations(observation)]
    await store.record(conn, kept, capture_id=capture_id, capturer=capturer)
    await store.declare_erroneous(conn, declared_erroneous)
