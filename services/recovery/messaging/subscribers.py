"""Inbound topics: the same use cases as HTTP, with the publisher's principal from `ce_source`; and custody's facts
recovery keeps a copy of (the handler registry, who holds each passport).

A treatment batch naming passports recovery has not seen minted yet, or with no custody step known to recovery yet
(identity's or custody's fact is on its way), is parked, not refused: it is decided as soon as all the facts it
waits for have arrived, or refused with `reference_never_appeared` once it has waited too long (`usecases/parking.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from contracts.custody import CustodyRecorded, HandlerRegistryChanged
from contracts.errors import ValidationFailed, Violation
from contracts.identity import PassportMinted
from contracts.recovery import RefinerReportSubmitted, TreatmentBatchReported
from services.common.auth import principal_from_source
from services.common.static_documents import resolve_or_refuse
from services.common.unit_of_work import Inbound, UnitOfWork
from services.recovery.usecases import known_facts, parking, refining


async def on_passport_minted(uow: UnitOfWork, items: list[Inbound[PassportMinted]]) -> None:
    """Keep each passport's declared composition (the basis of mass-balance attribution); decide the batches parked
    waiting for these passports to be minted (by passport id, battery identifier or public URI)."""
    resolved = [(item.payload, document) for item, document in await resolve_or_refuse(uow, items)]
    await known_facts.remember_passports(uow, resolved)


async def on_handler_registry_changed(uow: UnitOfWork, items: list[Inbound[HandlerRegistryChanged]]) -> None:
    """Keep the handler registry: who may report treatment batches and refiner reports."""
    await known_facts.remember_registry_changes(uow, [i.payload for i in items])


async def on_custody_recorded(uow: UnitOfWork, items: list[Inbound[CustodyRecorded]]) -> None:
    """Keep who holds each passport; decide the batches parked waiting for these passports' custody."""
    await known_facts.record_custody(uow, [i.payload for i in items])


def _handler_of(uow: UnitOfWork, item: Inbound[Any]) -> str | None:
    principal = principal_from_source(item.envelope.source)
    if principal is None or principal[0] != "handler":
        uow.reject(
            item,
            [
                Violation(
                    field="headers.ce_source",
                    reason="source_not_a_handler",
                    message="Recovery evidence must come from a registered handler: urn:bpass:handler:<handler id>.",
                )
            ],
        )
        return None
    return principal[1]


async def _apply_each(
    uow: UnitOfWork, items: list[Inbound[Any]], apply: Callable[[Inbound[Any], str], Awaitable[object]]
) -> None:
    for item in items:
        handler_id = _handler_of(uow, item)
        if handler_id is None:
            continue
        mark = len(uow.outbox.rows)
        try:
            async with uow.conn.transaction():  # savepoint: a refused report leaves the others intact
                await apply(item, handler_id)
        except ValidationFailed as failed:
            del uow.outbox.rows[mark:]
            uow.reject(item, failed.violations)


async def on_treatment_batches(uow: UnitOfWork, items: list[Inbound[TreatmentBatchReported]]) -> None:
    """Accept, refuse, or park a batch that waits only for passports to be minted or for their custody.

    Batches are decided under the parking lock, as are the minting and custody facts that unpark them: a fact
    committed before is seen here, one committed after finds the batch parked (never neither). The lock is taken
    first, while this transaction holds no passport row lock: the fact consumers lock passport rows under it.
    """
    await parking.lock(uow)
    for item in items:
        handler_id = _handler_of(uow, item)
        if handler_id is None:
            continue
        try:
            await parking.treat_or_park(uow, item, handler_id)
        except ValidationFailed as failed:
            uow.reject(item, failed.violations)


async def on_refiner_reports(uow: UnitOfWork, items: list[Inbound[RefinerReportSubmitted]]) -> None:
    async def apply(item: Inbound[Any], handler_id: str) -> object:
        return await refining.submit_refiner_report(
            uow.conn,
            uow.outbox,
            uow.settings,
            report=item.payload,
            handler_id=handler_id,
            reported_by=item.envelope.source,
            via="topic",
        )

    await _apply_each(uow, list(items), apply)
