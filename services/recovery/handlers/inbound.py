"""Inbound topics: the same use cases as HTTP, with the publisher's principal from `ce_source`; and custody's facts
recovery keeps a copy of (the handler registry, who holds each passport).

A treatment batch whose passports have no custody step known to recovery yet (custody's fact is on its way) is
parked, not refused: it is decided as soon as the custody facts of all its passports have arrived.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from contracts.custody import CustodyRecorded, HandlerRegistryChanged
from contracts.envelope import Envelope
from contracts.errors import ValidationFailed, Violation
from contracts.identity import PassportMinted
from contracts.recovery import (
    RefinerReportSubmitted,
    TreatmentBatchReported,
)
from contracts.rejections import MessageRejected
from services.common import metrics
from services.common.auth import principal_from_source
from services.common.consumer import Inbound, UnitOfWork
from services.common.outbox import build_row
from services.recovery import store
from services.recovery.handlers.common import AwaitingCustody
from services.recovery.handlers.refining import submit_refiner_report
from services.recovery.handlers.treatment import report_treatment_batch


async def on_passport_minted(uow: UnitOfWork, items: list[Inbound[PassportMinted]]) -> None:
    """Keep each passport's declared composition: the basis of mass-balance attribution."""
    await store.remember_passports(uow.conn, [i.payload for i in items])


async def on_handler_registry_changed(uow: UnitOfWork, items: list[Inbound[HandlerRegistryChanged]]) -> None:
    """Keep the handler registry: who may report treatment batches and refiner reports."""
    await store.remember_registry_changes(uow.conn, [i.payload for i in items])


async def on_custody_recorded(uow: UnitOfWork, items: list[Inbound[CustodyRecorded]]) -> None:
    """Keep who holds each passport; decide the batches parked waiting for these passports' custody."""
    known = await store.record_custody(uow.conn, [i.payload for i in items])
    if not known:
        return
    await uow.conn.execute(store.PARKING_LOCK_SQL)  # see `_treat`: a batch parked meanwhile is seen here
    for row in sorted(await store.unpark_batches(uow.conn, known), key=lambda r: r["id"]):
        await _decide_parked(uow, row)


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


async def _treat(uow: UnitOfWork, report: TreatmentBatchReported, envelope: Envelope, handler_id: str) -> None:
    """One treatment batch in a savepoint; raises ValidationFailed or AwaitingCustody (nothing of it applied)."""
    mark = len(uow.outbox.rows)
    try:
        async with uow.conn.transaction():
            await report_treatment_batch(
                uow.conn,
                uow.outbox,
                uow.settings,
                report=report,
                handler_id=handler_id,
                reported_by=envelope.source,
                via="topic",
                park_unknown_custody=True,
            )
    except (ValidationFailed, AwaitingCustody):
        del uow.outbox.rows[mark:]
        raise


async def on_treatment_batches(uow: UnitOfWork, items: list[Inbound[TreatmentBatchReported]]) -> None:
    for item in items:
        handler_id = _handler_of(uow, item)
        if handler_id is None:
            continue
        try:
            try:
                await _treat(uow, item.payload, item.envelope, handler_id)
            except AwaitingCustody:
                # Serialise with the custody-fact path, then look again: a custody fact committed meanwhile is
                # seen now, or that path will find the batch parked (never neither).
                await uow.conn.execute(store.PARKING_LOCK_SQL)
                await _treat(uow, item.payload, item.envelope, handler_id)
        except ValidationFailed as failed:
            uow.reject(item, failed.violations)
        except AwaitingCustody as waiting:
            await store.park_batch(
                uow.conn,
                {
                    "dedup_key": item.dedup_key,
                    "recycler_id": item.payload.recycler_id,
                    "batch_id": item.payload.batch_id,
                    "waiting_for": waiting.passport_ids,
                    "envelope": item.envelope.model_dump(mode="json"),
                    "kafka_topic": item.record.topic,
                    "kafka_partition": item.record.partition,
                    "kafka_offset": item.record.offset,
                    "kafka_key": item.record.key.decode("utf-8", "replace")
                    if isinstance(item.record.key, bytes)
                    else None,
                    "payload": item.payload.model_dump(mode="json"),
                },
            )
            uow.park(item)


async def _decide_parked(uow: UnitOfWork, row: asyncpg.Record) -> None:
    """A parked batch whose passports' custody is now known: accept it, or refuse it on the rejected topic."""
    envelope = Envelope.model_validate(row["envelope"])
    report = TreatmentBatchReported.model_validate(row["payload"])
    principal = principal_from_source(envelope.source)
    assert principal is not None  # a handler: checked before it was parked
    outcome = "applied"
    try:
        await _treat(uow, report, envelope, principal[1])
    except AwaitingCustody as waiting:  # another input's custody is unknown now (its reference resolved anew)
        await store.park_batch(uow.conn, {**dict(row), "waiting_for": waiting.passport_ids})
        return
    except ValidationFailed as failed:
        outcome = "rejected"
        _reject_parked(uow, row, envelope, failed.violations)
    await uow.conn.execute("UPDATE inbox SET outcome = $2 WHERE dedup_key = $1", row["dedup_key"], outcome)


def _reject_parked(uow: UnitOfWork, row: asyncpg.Record, envelope: Envelope, violations: list[Violation]) -> None:
    for refused in violations:
        metrics.REJECTIONS.labels(uow.service, row["kafka_topic"], refused.reason).inc()
    message = MessageRejected(
        rejected_topic=row["kafka_topic"],
        rejected_partition=row["kafka_partition"],
        rejected_offset=row["kafka_offset"],
        rejected_ce_id=envelope.id,
        rejected_ce_source=envelope.source,
        rejected_ce_type=envelope.type,
        rejected_at=datetime.now(UTC),
        violations=violations,
    )
    uow.outbox.add_row(
        build_row(uow.rejected_topic, message, source=uow.outbox.source, key=row["kafka_key"], subject=envelope.subject)
    )


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
