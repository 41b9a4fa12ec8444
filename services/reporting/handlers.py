"""Reporting handlers: one per fact topic, each mapping its contract onto a read-model fold (domain.readmodel).

A new fact type is one method here (and a Subscription in app.py): build `FactChange`s, hand them over.
"""

from __future__ import annotations

from functools import partial

from contracts.custody import CustodyRecorded
from contracts.identity import PassportMinted
from services.common.consumer import Inbound, UnitOfWork
from services.reporting.domain import readmodel
from services.reporting.projection import FactChange, Projection


class Projector:
    """Applies facts to the read model, a batch at a time."""

    def __init__(self, projection: Projection) -> None:
        self.projection = projection

    async def on_passport_minted(self, uow: UnitOfWork, items: list[Inbound[PassportMinted]]) -> None:
        await self.projection.apply(
            uow,
            [
                FactChange(
                    item.payload.passport_id,
                    item.payload.tenant,
                    "minted",
                    partial(readmodel.apply_minted, fact=item.payload),
                )
                for item in items
            ],
        )

    async def on_custody_recorded(self, uow: UnitOfWork, items: list[Inbound[CustodyRecorded]]) -> None:
        await self.projection.apply(
            uow,
            [
                FactChange(
                    item.payload.passport_id,
                    item.payload.tenant,
                    "custody_recorded",
                    partial(readmodel.apply_custody, fact=item.payload),
                )
                for item in items
            ],
        )
