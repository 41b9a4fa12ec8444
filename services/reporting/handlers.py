"""Reporting handlers: one per fact topic, each mapping its contract onto a read-model fold (domain.readmodel).

A new fact type is one method here and one Subscription in app.py: build `FactChange`s, hand them over.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson

from contracts.custody import CustodyRecorded, PassportStatusChanged
from contracts.identity import PassportAmended, PassportMinted, PassportSuperseded
from contracts.recovery import PassportCeased, RecoveryAttributed
from contracts.telemetry import InServiceDataUpdated
from services.common.consumer import Inbound, UnitOfWork
from services.common.static_documents import resolve_or_refuse
from services.reporting.domain import readmodel
from services.reporting.projection import FactChange, Projection
from services.reporting.streams import traceparent_of


def trace(uow: UnitOfWork, item: Inbound[Any]) -> str | None:
    """The fact's own trace (its consume span): the messages it causes join it."""
    return traceparent_of(uow.spans.get(item.dedup_key))


def attribution_of(fact: RecoveryAttributed) -> dict[str, Any]:
    return {
        "attribution_id": ":".join(
            part or "-" for part in (fact.stage.value, fact.recycler_id, fact.batch_id, fact.refiner_id, fact.report_id)
        ),
        "stage": fact.stage.value,
        "recycler_id": fact.recycler_id,
        "batch_id": fact.batch_id,
        "refiner_id": fact.refiner_id,
        "report_id": fact.report_id,
        "attributed_at": fact.attributed_at.isoformat(),
        "materials": [{"material": m.value, "recovered_kg": str(kg)} for m, kg in sorted(fact.totals_kg.items())],
        "lines": [line.model_dump(mode="json", exclude={"steps"}) for line in fact.lines],
    }


def ceased_details(fact: PassportCeased) -> dict[str, Any]:
    return {
        "recycler_id": fact.recycler_id,
        "batch_id": fact.batch_id,
        "processes": [p.value for p in fact.processes],
        "chemistry": fact.chemistry.value if fact.chemistry else None,
        "input_mass_kg": str(fact.input_mass_kg),
        "legal_basis": fact.legal_basis,
        "reported_by": fact.reported_by,
        "flags": [f.model_dump(mode="json") for f in fact.flags],
        "evidence": [e.model_dump(mode="json") for e in fact.evidence],
    }


def minted_with_links(
    state: dict[str, Any], fact: PassportMinted, static_data: dict[str, Any] | None = None
) -> list[str]:
    """A minted passport, linked to the passports it was made from (second life, Art. 77(7)). `static_data`: the
    resolved document the fact names (passports of one model share it: the state gets its own copy)."""
    own = orjson.loads(orjson.dumps(static_data)) if static_data is not None else None
    changed = readmodel.apply_minted(state, fact=fact, static_data=own)
    links = readmodel.apply_links(state, predecessor_ids=fact.predecessor_ids)
    return changed + [name for name in links if name not in changed]


def superseded(state: dict[str, Any], fact: PassportSuperseded) -> list[str]:
    """A predecessor continued by a new passport: its successor, its new status and responsible operator."""
    changed = readmodel.apply_links(state, successor_ids=[fact.successor_id])
    status = readmodel.apply_status(
        state,
        occurred_at=fact.superseded_at,
        status=fact.status.value,
        by=fact.superseded_by,
        reason=f"{fact.operation.value} into {fact.successor_id} by {fact.successor_tenant}",
        responsible_operator=fact.responsible_operator,
    )
    return changed + [name for name in status if name not in changed]


class Projector:
    """Applies facts to the read model, a batch at a time."""

    def __init__(self, projection: Projection) -> None:
        self.projection = projection

    async def _apply(self, uow: UnitOfWork, changes: list[FactChange]) -> None:
        """Deferred to the end of the batch: the facts of every topic in it are folded in one pass (one lock, read
        and write of each passport), in the order the consumer calls the handlers."""
        uow.batch(self, partial(self.projection.apply, uow)).extend(changes)

    async def on_passport_minted(self, uow: UnitOfWork, items: list[Inbound[PassportMinted]]) -> None:
        await self._apply(
            uow,
            [
                FactChange(
                    f.passport_id,
                    f.tenant,
                    "minted",
                    partial(minted_with_links, fact=f, static_data=static_data),
                    trace(uow, item),
                )
                for item, static_data in await resolve_or_refuse(uow, items)
                for f in [item.payload]
            ],
        )

    async def on_passport_amended(self, uow: UnitOfWork, items: list[Inbound[PassportAmended]]) -> None:
        await self._apply(
            uow,
            [
                FactChange(
                    f.passport_id,
                    f.tenant,
                    "amended",
                    partial(
                        readmodel.apply_amended,
                        static_data=f.static_data.model_dump(mode="json", exclude_none=True),
                        extensions=f.extensions,
                        data_version=f.version,
                        amended_at=f.amended_at,
                        amended_by=f.amended_by,
                        reason=f.reason,
                        changed_fields=f.changed_fields,
                    ),
                    trace(uow, item),
                    reads_static=True,
                )
                for item in items
                for f in [item.payload]
            ],
        )

    async def on_custody_recorded(self, uow: UnitOfWork, items: list[Inbound[CustodyRecorded]]) -> None:
        await self._apply(
            uow,
            [
                FactChange(
                    f.passport_id,
                    f.tenant,
                    "custody_recorded",
                    partial(readmodel.apply_custody, fact=f),
                    trace(uow, item),
                )
                for item in items
                for f in [item.payload]
            ],
        )

    async def on_status_changed(self, uow: UnitOfWork, items: list[Inbound[PassportStatusChanged]]) -> None:
        await self._apply(
            uow,
            [
                FactChange(
                    f.passport_id,
                    f.tenant,
                    "status_changed",
                    partial(
                        readmodel.apply_status,
                        occurred_at=f.occurred_at,
                        status=f.status.value if f.status else None,
                        stage=f.stage.value,
                        by=f.handler_id,
                        reason=f"custody step {f.sequence}",
                        responsible_operator=f.responsible_operator,
                    ),
                    trace(uow, item),
                    reads_static=True,  # the 4(a) snapshot takes the static performance values
                )
                for item in items
                for f in [item.payload]
            ],
        )

    async def on_passport_superseded(self, uow: UnitOfWork, items: list[Inbound[PassportSuperseded]]) -> None:
        await self._apply(
            uow,
            [
                FactChange(
                    f.passport_id,
                    f.tenant,
                    "superseded",
                    partial(superseded, fact=f),
                    trace(uow, item),
                    reads_static=True,  # a status change: the 4(a) snapshot takes the static performance values
                )
                for item in items
                for f in [item.payload]
            ],
        )

    async def on_in_service_data(self, uow: UnitOfWork, items: list[Inbound[InServiceDataUpdated]]) -> None:
        await self._apply(
            uow,
            [
                FactChange(
                    f.passport_id,
                    f.tenant,
                    "in_service_data",
                    partial(
                        readmodel.apply_in_service_data,
                        latest={
                            metric.value: {
                                "value": str(v.value),
                                "measured_at": v.measured_at.isoformat(),
                                "source_system": v.source_system,
                            }
                            for metric, v in f.latest.items()
                        },
                    ),
                    trace(uow, item),
                )
                for item in items
                for f in [item.payload]
            ],
        )

    async def on_recovery_attributed(self, uow: UnitOfWork, items: list[Inbound[RecoveryAttributed]]) -> None:
        await self._apply(
            uow,
            [
                FactChange(
                    f.passport_id,
                    f.tenant,
                    "recovery_attributed",
                    partial(readmodel.apply_recovery, attribution=attribution_of(f)),
                    trace(uow, item),
                )
                for item in items
                for f in [item.payload]
            ],
        )

    async def on_passport_ceased(self, uow: UnitOfWork, items: list[Inbound[PassportCeased]]) -> None:
        await self._apply(
            uow,
            [
                FactChange(
                    f.passport_id,
                    f.tenant,
                    "ceased",
                    partial(
                        readmodel.apply_ceased,
                        ceased_at=f.ceased_at,
                        reason=f.reason,
                        outcome=[o.model_dump(mode="json") for o in f.recovery_outcome],
                        details=ceased_details(f),
                    ),
                    trace(uow, item),
                    reads_static=True,  # the 4(a) snapshot takes the static performance values
                )
                for item in items
                for f in [item.payload]
            ],
        )
