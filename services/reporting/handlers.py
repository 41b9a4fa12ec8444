"""Reporting handlers: one per fact topic, each handing its facts to the projection with their folds (folds.py)."""

from __future__ import annotations

from functools import partial
from typing import Any

from contracts.custody import CustodyRecorded, PassportStatusChanged
from contracts.identity import PassportAmended, PassportMinted, PassportSuperseded
from contracts.recovery import PassportCeased, RecoveryAttributed
from contracts.telemetry import InServiceDataUpdated
from services.common.consumer import Inbound, UnitOfWork
from services.common.static_documents import resolve_or_refuse
from services.reporting.folds import FOLDS, Apply, minted
from services.reporting.projection import FactChange, Projection
from services.reporting.streams import traceparent_of


def trace(uow: UnitOfWork, item: Inbound[Any]) -> str | None:
    """The fact's own trace (its consume span): the messages it causes join it."""
    return traceparent_of(uow.spans.get(item.dedup_key))


def change_of(uow: UnitOfWork, change: str, item: Inbound[Any], apply: Apply | None = None) -> FactChange:
    fold = FOLDS[change]
    f = item.payload
    value = item.record.value
    return FactChange(
        f.passport_id,
        f.tenant,
        change,
        apply if apply is not None else fold.build(f),
        trace(uow, item),
        reads_static=fold.reads_static,
        occurred_at=fold.occurred_at(f),
        body=value if isinstance(value, bytes) else f.model_dump_json().encode(),
    )


class Projector:
    """Applies facts to the read model, a batch at a time."""

    def __init__(self, projection: Projection) -> None:
        self.projection = projection

    async def _apply(self, uow: UnitOfWork, changes: list[FactChange]) -> None:
        """Deferred to the end of the batch: the facts of every topic in it are folded in one pass (one lock, read
        and write of each passport), in event-time order."""
        uow.batch(self, partial(self.projection.apply, uow)).extend(changes)

    async def _facts(self, uow: UnitOfWork, change: str, items: list[Inbound[Any]]) -> None:
        await self._apply(uow, [change_of(uow, change, item) for item in items])

    async def on_passport_minted(self, uow: UnitOfWork, items: list[Inbound[PassportMinted]]) -> None:
        await self._apply(
            uow,
            [
                change_of(uow, "minted", item, minted(item.payload, static_data))
                for item, static_data in await resolve_or_refuse(uow, items)
            ],
        )

    async def on_passport_amended(self, uow: UnitOfWork, items: list[Inbound[PassportAmended]]) -> None:
        await self._facts(uow, "amended", items)

    async def on_custody_recorded(self, uow: UnitOfWork, items: list[Inbound[CustodyRecorded]]) -> None:
        await self._facts(uow, "custody_recorded", items)

    async def on_status_changed(self, uow: UnitOfWork, items: list[Inbound[PassportStatusChanged]]) -> None:
        await self._facts(uow, "status_changed", items)

    async def on_passport_superseded(self, uow: UnitOfWork, items: list[Inbound[PassportSuperseded]]) -> None:
        await self._facts(uow, "superseded", items)

    async def on_in_service_data(self, uow: UnitOfWork, items: list[Inbound[InServiceDataUpdated]]) -> None:
        await self._facts(uow, "in_service_data", items)

    async def on_recovery_attributed(self, uow: UnitOfWork, items: list[Inbound[RecoveryAttributed]]) -> None:
        await self._facts(uow, "recovery_attributed", items)

    async def on_passport_ceased(self, uow: UnitOfWork, items: list[Inbound[PassportCeased]]) -> None:
        await self._facts(uow, "ceased", items)
