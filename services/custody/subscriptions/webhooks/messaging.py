"""The captured-events fact (`bpass.custody.epcis-events-captured.v1`, written by EPCIS capture) fanned out to the
webhook stream subscriptions: the deliveries of each batch are written in the consumer's transaction (its inbox row
included), and this process's delivery worker is woken once they are committed."""

from __future__ import annotations

from contracts.custody import EpcisEventsCaptured
from services.common.unit_of_work import Inbound, UnitOfWork
from services.custody.subscriptions.webhooks import delivery
from services.custody.subscriptions.webhooks.usecases import fan_out


async def on_events_captured(uow: UnitOfWork, items: list[Inbound[EpcisEventsCaptured]]) -> None:
    added = 0
    # A batch mixes partitions (the fact is keyed by capture id): its captures fan out in the order they recorded.
    for item in uow.each(sorted(items, key=lambda i: (i.payload.record_time, i.payload.capture_id))):
        fact = item.payload
        added += await fan_out(uow.conn, fact.capture_id, fact.record_time, [e.event_hash for e in fact.events])
    if added:
        uow.after_commit.append(delivery.wake)
