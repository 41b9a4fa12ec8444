"""Applying a consumed batch effectively once: in ONE PostgreSQL transaction, each message's inbox row (dedup on
CloudEvents source + id; a duplicate is dropped), the refusals of invalid messages, the apply functions' effects, every
message's outcome and the outbox rows all of it causes. The caller commits the Kafka offsets only after it."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg
from opentelemetry import trace
from opentelemetry.trace import Span

from contracts.errors import ValidationFailed
from services.common import metrics
from services.common.outbox import Outbox, OutboxRow
from services.common.parsing import Parsed
from services.common.rejections import Origin
from services.common.routing import Routes
from services.common.settings import Settings
from services.common.unit_of_work import Inbound, UnitOfWork

log = logging.getLogger(__name__)

INBOX_SQL = """
INSERT INTO inbox (dedup_key, topic, kafka_partition, kafka_offset, outcome)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::text[])
ON CONFLICT (dedup_key) DO UPDATE SET outcome = EXCLUDED.outcome, processed_at = now()
    WHERE inbox.outcome = 'dead_lettered'
RETURNING dedup_key
"""
DEAD_LETTERED_SQL = """
INSERT INTO inbox (dedup_key, topic, kafka_partition, kafka_offset, outcome)
VALUES ($1, $2, $3, $4, 'dead_lettered')
ON CONFLICT (dedup_key) DO UPDATE SET outcome = 'dead_lettered', processed_at = now()
"""


@dataclass(frozen=True)
class Inbox:
    """A service's inbox and the routes of one consumer: what applies its batches."""

    service: str
    settings: Settings
    pool: asyncpg.Pool
    routes: Routes
    rejected_topic: str  # namespaced
    source: str  # the service's CloudEvents source

    async def apply(self, parsed: list[Parsed[Any]], spans: dict[str, Span]) -> UnitOfWork:
        """Apply the batch in one transaction, committed when this returns; the unit of work tells the outcomes."""
        outbox = Outbox(self.source)
        async with self.pool.acquire() as conn, conn.transaction():
            uow = UnitOfWork(conn, outbox, self.service, self.settings, self.rejected_topic, spans=spans)
            await self._transaction(uow, parsed)
        return uow

    async def _transaction(self, uow: UnitOfWork, parsed: list[Parsed[Any]]) -> None:
        """The batch's transaction: inbox rows (duplicates dropped), the apply functions, outcomes, the outbox."""
        conn, outbox, spans, routes = uow.conn, uow.outbox, uow.spans, self.routes
        first: dict[str, Parsed[Any]] = {}
        for p in parsed:
            first.setdefault(p.dedup_key, p)
        rows = await conn.fetch(
            INBOX_SQL,
            list(first),
            [p.record.topic for p in first.values()],
            [p.record.partition for p in first.values()],
            [p.record.offset for p in first.values()],
            ["rejected" if p.violations else "applied" for p in first.values()],
        )
        fresh = {row["dedup_key"] for row in rows}
        accepted: list[Inbound[Any]] = []
        seen: set[str] = set()
        for p in parsed:
            if p.dedup_key not in fresh or p.dedup_key in seen:
                metrics.MESSAGES_IN.labels(self.service, routes.topic_of(p.record).name, "duplicate").inc()
                continue
            seen.add(p.dedup_key)
            if p.violations:
                span = spans.get(p.dedup_key)
                with trace.use_span(span, end_on_exit=False) if span else contextlib.nullcontext():
                    outbox.add_row(uow.rejection_row(Origin.of(p.record, p.envelope), p.violations))
                    log.warning(  # in the message's trace: its trace_id finds the publisher's span
                        "rejected %s from %s[%d]@%d: %s",
                        p.dedup_key,
                        p.record.topic,
                        p.record.partition,
                        p.record.offset,
                        ", ".join(f"{v.reason} {v.field}".strip() for v in p.violations),
                    )
                metrics.MESSAGES_IN.labels(self.service, routes.topic_of(p.record).name, "rejected").inc()
                continue
            assert p.envelope is not None
            assert p.payload is not None
            accepted.append(Inbound(p.record, p.envelope, p.payload))
        if accepted:
            try:
                await routes.dispatch(uow, accepted)
            except ValidationFailed as failed:
                if len(accepted) > 1:
                    raise  # retried one by one, where it is refused alone
                uow.reject(accepted[0], failed.violations)
        changed = [(key, outcome) for key, outcome in uow.outcomes.items() if outcome != "applied"]
        if changed:
            await conn.executemany("UPDATE inbox SET outcome = $2 WHERE dedup_key = $1", changed)
        outcomes = Counter((item.record.topic, uow.outcomes.get(item.dedup_key, "applied")) for item in accepted)
        for (name, outcome), count in outcomes.items():
            metrics.MESSAGES_IN.labels(self.service, routes.route_of(name)[0].name, outcome).inc(count)
        await outbox.flush(conn)

    async def dead_letter(self, one: Parsed[Any], row: OutboxRow) -> None:
        """Mark the message dead-lettered and put its dead-letter copy in the outbox, in one transaction."""
        record = one.record
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(DEAD_LETTERED_SQL, one.dedup_key, record.topic, record.partition, record.offset)
            outbox = Outbox(self.source)
            outbox.add_row(row)
            await outbox.flush(conn)
