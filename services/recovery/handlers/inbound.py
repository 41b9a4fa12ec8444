"""Inbound topics: the same use cases as HTTP, with the publisher's principal from `ce_source`; and custody's facts
recovery keeps a copy of (the handler registry, who holds each passport).

A treatment batch naming passports recovery has not seen minted yet, or with no custody step known to recovery yet
(identity's or custody's fact is on its way), is parked, not refused: it is decided as soon as all the facts it
waits for have arrived, or refused with `reference_never_appeared` once it has waited too long (`domain.parking`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
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
from services.common.auth import principal_from_source
from services.common.rejections import Origin
from services.common.static_documents import resolve_or_refuse
from services.common.unit_of_work import Inbound, UnitOfWork
from services.recovery import store
from services.recovery.config import recovery_settings
from services.recovery.domain.parking import expired, never_appeared
from services.recovery.handlers.common import AwaitingReferences
from services.recovery.handlers.refining import submit_refiner_report
from services.recovery.handlers.treatment import report_treatment_batch


async def on_passport_minted(uow: UnitOfWork, items: list[Inbound[PassportMinted]]) -> None:
    """Keep each passport's declared composition (the basis of mass-balance attribution); decide the batches parked
    waiting for these passports to be minted (by passport id, battery identifier or public URI)."""
    resolved = [(item.payload, document) for item, document in await resolve_or_refuse(uow, items)]
    await store.remember_passports(uow.conn, resolved)
    minted = {r for f, _ in resolved for r in (f.passport_id, f.subject.battery_identifier, f.public_uri)}
    await _unpark(uow, minted=sorted(minted))


async def on_handler_registry_changed(uow: UnitOfWork, items: list[Inbound[HandlerRegistryChanged]]) -> None:
    """Keep the handler registry: who may report treatment batches and refiner reports."""
    await store.remember_registry_changes(uow.conn, [i.payload for i in items])


async def on_custody_recorded(uow: UnitOfWork, items: list[Inbound[CustodyRecorded]]) -> None:
    """Keep who holds each passport; decide the batches parked waiting for these passports' custody."""
    known = await store.record_custody(uow.conn, [i.payload for i in items])
    if known:
        await _unpark(uow, custody_known=known)


async def _unpark(uow: UnitOfWork, *, custody_known: Sequence[str] = (), minted: Sequence[str] = ()) -> None:
    """Decide the parked batches all of whose awaited facts are now known (this transaction's included)."""
    await uow.conn.execute(store.PARKING_LOCK_SQL)  # see `on_treatment_batches`: a batch parked meanwhile is seen
    rows = await store.unpark_batches(uow.conn, custody_known=custody_known, minted=minted)
    if not rows:
        return
    now, max_age = await _now(uow), recovery_settings().parking_max_age
    for row in sorted(rows, key=lambda r: r["id"]):
        await _decide_parked(uow, row, now, max_age)


async def _now(uow: UnitOfWork) -> datetime:
    """The transaction's time, the clock `parked_at` was set by (and `store.unpark_expired` compares with)."""
    now: datetime = await uow.conn.fetchval("SELECT now()")
    return now


async def refuse_expired(uow: UnitOfWork, max_age: timedelta, limit: int = 100) -> int:
    """Decide the batches parked longer than `max_age` (the sweep): those still waiting are refused with
    `reference_never_appeared`. Returns how many were decided (at most `limit`)."""
    await uow.conn.execute(store.PARKING_LOCK_SQL)
    rows = await store.unpark_expired(uow.conn, max_age.total_seconds(), limit)
    now = await _now(uow)
    for row in rows:
        await _decide_parked(uow, row, now, max_age)
    return len(rows)


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
    """One treatment batch in a savepoint; raises ValidationFailed or AwaitingReferences (nothing of it applied)."""
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
                may_wait=True,
            )
    except (ValidationFailed, AwaitingReferences):
        del uow.outbox.rows[mark:]
        raise


async def on_treatment_batches(uow: UnitOfWork, items: list[Inbound[TreatmentBatchReported]]) -> None:
    """Accept, refuse, or park a batch that waits only for passports to be minted or for their custody.

    Batches are decided under the parking lock, as are the minting and custody facts that unpark them: a fact
    committed before is seen here, one committed after finds the batch parked (never neither). The lock is taken
    first, while this transaction holds no passport row lock: the fact consumers lock passport rows under it.
    """
    await uow.conn.execute(store.PARKING_LOCK_SQL)
    for item in items:
        handler_id = _handler_of(uow, item)
        if handler_id is None:
            continue
        try:
            await _treat(uow, item.payload, item.envelope, handler_id)
        except ValidationFailed as failed:
            uow.reject(item, failed.violations)
        except AwaitingReferences as waiting:
            await store.park_batch(
                uow.conn,
                {
                    "dedup_key": item.dedup_key,
                    "recycler_id": item.payload.recycler_id,
                    "batch_id": item.payload.batch_id,
                    "waiting_for": list(waiting.wait.custody),
                    "awaiting_minting": list(waiting.wait.minting),
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


async def _decide_parked(uow: UnitOfWork, row: asyncpg.Record, now: datetime, max_age: timedelta) -> None:
    """A parked batch looked at again: accept it, park it again (it waits for something else now), or refuse it on
    the rejected topic (`reference_never_appeared` when it still waits after `max_age`)."""
    envelope = Envelope.model_validate(row["envelope"])
    report = TreatmentBatchReported.model_validate(row["payload"])
    principal = principal_from_source(envelope.source)
    assert principal is not None  # a handler: checked before it was parked
    outcome = "applied"
    try:
        await _treat(uow, report, envelope, principal[1])
    except AwaitingReferences as waiting:
        if not expired(row["parked_at"], now, max_age):
            wait = waiting.wait
            await store.park_batch(
                uow.conn, {**dict(row), "waiting_for": list(wait.custody), "awaiting_minting": list(wait.minting)}
            )
            return
        outcome = "rejected"
        _reject_parked(uow, row, envelope, never_appeared(waiting.wait, row["parked_at"], max_age))
    except ValidationFailed as failed:
        outcome = "rejected"
        _reject_parked(uow, row, envelope, failed.violations)
    await uow.conn.execute("UPDATE inbox SET outcome = $2 WHERE dedup_key = $1", row["dedup_key"], outcome)


def _reject_parked(uow: UnitOfWork, row: asyncpg.Record, envelope: Envelope, violations: list[Violation]) -> None:
    origin = Origin(
        row["kafka_topic"], row["kafka_partition"], row["kafka_offset"], row["kafka_key"], envelope.id,
        envelope.source, envelope.type, envelope.subject,
    )  # fmt: skip
    uow.outbox.add_row(uow.rejection_row(origin, violations))


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
