"""Inbound topics: the same use cases as HTTP, with the publisher's principal from `ce_source`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from contracts.errors import ValidationFailed, Violation
from contracts.identity import PassportMinted
from contracts.recovery import (
    RefinerReportSubmitted,
    TreatmentBatchReported,
)
from services.common.auth import principal_from_source
from services.common.consumer import Inbound, UnitOfWork
from services.recovery import store
from services.recovery.handlers.refining import submit_refiner_report
from services.recovery.handlers.treatment import report_treatment_batch


async def on_passport_minted(uow: UnitOfWork, items: list[Inbound[PassportMinted]]) -> None:
    """Keep each passport's declared composition: the basis of mass-balance attribution."""
    await store.remember_passports(uow.conn, [i.payload for i in items])


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
    async def apply(item: Inbound[Any], handler_id: str) -> object:
        return await report_treatment_batch(
            uow.conn,
            uow.outbox,
            uow.settings,
            report=item.payload,
            handler_id=handler_id,
            reported_by=item.envelope.source,
            via="topic",
        )

    await _apply_each(uow, list(items), apply)


async def on_refiner_reports(uow: UnitOfWork, items: list[Inbound[RefinerReportSubmitted]]) -> None:
    async def apply(item: Inbound[Any], handler_id: str) -> object:
        return await submit_refiner_report(
            uow.conn,
            uow.outbox,
            uow.settings,
            report=item.payload,
            handler_id=handler_id,
            reported_by=item.envelope.source,
            via="topic",
        )

    await _apply_each(uow, list(items), apply)
