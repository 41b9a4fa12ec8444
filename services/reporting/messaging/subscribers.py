"""Reporting's topic adapters: fact records to the use cases (`usecases.project`, `usecases.handler_registry`).

Every fact topic the read model folds has one subscriber, `FactSubscriber.project`: the consumer hands it every
record of a batch of any of those topics in one call, and it turns each into the fold its type names
(`domain.folds.FOLDS`) and projects them together. A new fact type is one `Fold` and one entry of `FACT_TOPICS`.
"""

from __future__ import annotations

from typing import Any

from contracts import topics
from contracts.base import Message
from contracts.custody import CustodyRecorded, HandlerRegistryChanged, PassportStatusChanged
from contracts.identity import PassportAmended, PassportMinted, PassportSuperseded
from contracts.recovery import PassportCeased, RecoveryAttributed
from contracts.telemetry import InServiceDataUpdated
from services.common.runtime import Subscription
from services.common.static_documents import resolve_or_refuse
from services.common.unit_of_work import ApplyBatch, Inbound, UnitOfWork
from services.reporting.domain.folds import FOLDS, Apply, minted
from services.reporting.messaging.streams import traceparent_of
from services.reporting.usecases import handler_registry as registry
from services.reporting.usecases.project import FactChange, Projection

# The fact topics folded into the read model, by their payload: (the fold's name in FOLDS, what the topic brings).
FACT_TOPICS: dict[type[Message], tuple[str, str]] = {
    PassportMinted: ("minted", "Minted passports."),
    PassportAmended: ("amended", "New versions of passport data."),
    PassportSuperseded: ("superseded", "Passports continued by a second-life passport."),
    CustodyRecorded: ("custody_recorded", "Custody steps (timeline, current handler)."),
    PassportStatusChanged: ("status_changed", "Lifecycle stage and status changes."),
    InServiceDataUpdated: ("in_service_data", "Latest in-service (BMS) values."),
    RecoveryAttributed: ("recovery_attributed", "Recovered material attributed to passports."),
    PassportCeased: ("ceased", "Recycled passports cease, with their recovery outcome."),
}


def change_of(uow: UnitOfWork, change: str, item: Inbound[Any], apply: Apply | None = None) -> FactChange:
    """One record as the fact change its fold makes, in the record's own trace (its consume span)."""
    fold = FOLDS[change]
    f = item.payload
    value = item.record.value
    return FactChange(
        f.passport_id,
        f.tenant,
        change,
        apply if apply is not None else fold.build(f),
        traceparent_of(uow.spans.get(item.dedup_key)),
        reads_static=fold.reads_static,
        occurred_at=fold.occurred_at(f),
        body=value if isinstance(value, bytes) else f.model_dump_json().encode(),
    )


class FactSubscriber:
    """The subscriber of every fact topic: a batch's facts of all of them, projected in one call."""

    def __init__(self, projection: Projection) -> None:
        self.projection = projection

    async def project(self, uow: UnitOfWork, items: list[Inbound[Any]]) -> None:
        changes: list[FactChange] = []
        mintings: list[Inbound[PassportMinted]] = []
        for item in items:
            if isinstance(item.payload, PassportMinted):
                mintings.append(item)
            else:
                changes.append(change_of(uow, FACT_TOPICS[type(item.payload)][0], item))
        if mintings:  # a minting's static data is the document its digest names
            resolved = await resolve_or_refuse(uow, mintings)
            changes += [change_of(uow, "minted", item, minted(item.payload, doc)) for item, doc in resolved]
        await self.projection.project(uow, changes)


def subscriptions(facts: FactSubscriber) -> list[Subscription]:
    """Every fact topic the read model folds in, and custody's handler registry."""
    wanted: list[tuple[type[Message], ApplyBatch[Any], str]] = [
        *((payload, facts.project, description) for payload, (_, description) in FACT_TOPICS.items()),
        (HandlerRegistryChanged, registry.on_registry_changed, "Handler registry: who may read for which purpose."),
    ]
    return [
        Subscription(topic, handler, description)
        for payload, handler, description in wanted
        for topic in topics.ALL
        if topic.payload is payload and topic.kind is topics.TopicKind.fact
    ]
