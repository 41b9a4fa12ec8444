"""Treatment batches that wait for facts on their way: parked, decided again when the facts arrive, refused when
they have waited too long (`domain.parking`).

Parking, and deciding parked batches on a minting or custody fact, serialise on one transaction-scoped advisory
lock (`store.PARKING_LOCK_SQL`): a fact committed before a batch is decided is seen by it, one committed after finds
the batch parked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from contracts.envelope import Envelope
from contracts.errors import ValidationFailed, Violation
from contracts.recovery import TreatmentBatchReported
from services.common.auth import principal_from_source
from services.common.rejections import Origin
from services.common.unit_of_work import Inbound, UnitOfWork
from services.recovery import store
from services.recovery.config import recovery_settings
from services.recovery.domain.parking import expired, never_appeared
from services.recovery.usecases.common import AwaitingReferences
from services.recovery.usecases.treatment import report_treatment_batch


async def lock(uow: UnitOfWork) -> None:
    """Take the parking lock (before any passport row lock: the fact consumers lock passport rows under it)."""
    await uow.conn.execute(store.PARKING_LOCK_SQL)


async def treat_or_park(uow: UnitOfWork, item: Inbound[TreatmentBatchReported], handler_id: str) -> None:
    """Apply a batch from the topic, or park it when it waits only for passports to be minted or for their custody;
    raises ValidationFailed when it is refused (nothing of it applied)."""
    try:
        await _treat(uow, item.payload, item.envelope, handler_id)
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
                "kafka_key": item.record.key.decode("utf-8", "replace") if isinstance(item.record.key, bytes) else None,
                "payload": item.payload.model_dump(mode="json"),
            },
        )
        uow.park(item)


async def unpark(uow: UnitOfWork, *, custody_known: Sequence[str] = (), minted: Sequence[str] = ()) -> None:
    """Decide the parked batches all of whose awaited facts are now known (this transaction's included)."""
    await lock(uow)  # see `treat_or_park`: a batch parked meanwhile is seen
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
    await lock(uow)
    rows = await store.unpark_expired(uow.conn, max_age.total_seconds(), limit)
    now = await _now(uow)
    for row in rows:
        await _decide_parked(uow, row, now, max_age)
    return len(rows)


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
    await store.set_parked_outcome(uow.conn, row["dedup_key"], outcome)


def _reject_parked(uow: UnitOfWork, row: asyncpg.Record, envelope: Envelope, violations: list[Violation]) -> None:
    origin = Origin(
        row["kafka_topic"], row["kafka_partition"], row["kafka_offset"], row["kafka_key"], envelope.id,
        envelope.source, envelope.type, envelope.subject,
    )  # fmt: skip
    uow.outbox.add_row(uow.rejection_row(origin, violations))
