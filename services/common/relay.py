"""The outbox relay: publishes a service's outbox rows to Kafka in commit order, then deletes them.

One relay per service is active at a time (a session advisory lock); the others wait as hot standbys.
A crash between publishing and marking republishes the same CloudEvents ids: consumers' inboxes drop them.
A row is marked published by deleting it (common migration 003), so every row in `outbox` is unpublished and
`published_at` stays NULL: readers that count `published_at IS NULL` still count the backlog.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import os
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from services.common import metrics
from services.common.db import init_connection
from services.common.messaging import partition_for
from services.common.settings import Settings
from services.common.tracing import spans_dropped

log = logging.getLogger(__name__)
tracer = trace.get_tracer("bpass.relay")

FETCH_SQL = """
SELECT id, topic, message_key, headers, payload, created_at FROM outbox
WHERE id > $1 ORDER BY id LIMIT $2
"""
REFUSED_SQL = """
INSERT INTO outbox_refused (id, topic, message_key, headers, payload, created_at, error)
SELECT o.id, o.topic, o.message_key, o.headers, o.payload, o.created_at, r.error
FROM outbox o JOIN unnest($1::bigint[], $2::text[]) AS r (id, error) ON r.id = o.id
ON CONFLICT (id) DO NOTHING
"""
MAX_BATCHES_IN_FLIGHT = 2
# A record this large goes through `send`, which checks it against the producer's maximum request size.
LARGE_MESSAGE_BYTES = 256 * 1024


class OutboxRelay:
    def __init__(self, *, service: str, schema: str, settings: Settings, producer: AIOKafkaProducer) -> None:
        self.service = service
        self.schema = schema
        self.settings = settings
        self.producer = producer
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.refused: dict[int, str] = {}  # outbox id -> why Kafka refused it, until moved to `outbox_refused`

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.service}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        failures, last_failure = 0, -math.inf
        while True:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("outbox relay of %s lost its connection (%r); reconnecting", self.service, exc)
                await asyncio.sleep(1.0)
            except Exception:  # e.g. Kafka refusing a batch: the relay must outlive it, or the outbox stops for good
                now = time.monotonic()
                failures = failures + 1 if now - last_failure < 300 else 1  # back off while it keeps failing
                last_failure = now
                pause = min(30.0, 2.0**failures)
                metrics.RELAY_FAILURES.labels(self.service).inc()
                log.exception(
                    "outbox relay of %s failed; publishing from the outbox again in %.0f s", self.service, pause
                )
                await asyncio.sleep(pause)

    async def _lead(self) -> None:
        conn = await asyncpg.connect(
            self.settings.platform_dsn(),
            timeout=10,
            command_timeout=30,
            server_settings={"search_path": self.schema, "application_name": f"bpass-{self.service}-relay"},
        )
        try:
            await init_connection(conn)
            while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"relay-{self.schema}"):
                await asyncio.sleep(2.0)  # another instance relays; stand by
            await conn.add_listener(f"{self.schema}_outbox", self._on_notify)
            log.info("outbox relay of %s is active", self.service)
            await self._pump(conn)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    async def _pump(self, conn: asyncpg.Connection) -> None:
        """Fetch the next rows while the previous ones' sends are in flight; mark each batch once acknowledged.

        Rows are read by keyset (`id > last`): outbox inserts hold a lock until commit, so ids become visible
        in order and nothing behind `last` can appear later. Marks follow sends in order, so a crash can only
        republish an unmarked tail, which consumers' inboxes drop.
        """
        last_id = await conn.fetchval("SELECT coalesce(min(id) - 1, 0) FROM outbox")
        in_flight: collections.deque[tuple[list[int], asyncio.Future[Any]]] = collections.deque()
        written_at: collections.deque[datetime] = collections.deque()  # of each in-flight batch's first row
        while True:
            rows = await conn.fetch(FETCH_SQL, last_id, self.settings.relay_batch_size)
            if rows:
                last_id = rows[-1]["id"]
                in_flight.append(([row["id"] for row in rows], await self._send(rows)))
                written_at.append(rows[0]["created_at"])
            while in_flight and (len(in_flight) > MAX_BATCHES_IN_FLIGHT or not rows or in_flight[0][1].done()):
                ids, acknowledged = in_flight.popleft()
                await acknowledged
                await self._mark(conn, ids)
                written_at.popleft()
            if written_at:  # the oldest row not yet acknowledged heads the oldest batch in flight
                age = (datetime.now(UTC) - written_at[0]).total_seconds()
                metrics.OUTBOX_AGE.labels(self.service).set(max(0.0, age))
            if not rows:
                metrics.OUTBOX_BACKLOG.labels(self.service).set(0)
                metrics.OUTBOX_AGE.labels(self.service).set(0)
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.relay_poll_interval_s)
            elif len(rows) == self.settings.relay_batch_size:
                # Every row above `last_id` is unpublished; the id range bounds them from above (ids of rolled-back
                # inserts are gaps) from the primary key alone, where count(*) read up to every row per batch.
                metrics.OUTBOX_BACKLOG.labels(self.service).set(
                    await conn.fetchval("SELECT coalesce(max(id), $1) - $1 FROM outbox", last_id)
                )

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _send(self, rows: list[asyncpg.Record]) -> asyncio.Future[Any]:
        """Hand every row to the producer, in order; returns what completes when all are acknowledged.

        Rows are appended to one record batch per partition (aiokafka's batch API: no future, no coroutine per
        message) and each batch is queued once it is complete; the producer sends the batches of a partition in
        the order they are queued, so per-key order is the outbox order. The partition is the one `send` would
        choose (Kafka's murmur2 of the key)."""
        producer = self.producer
        traced = not spans_dropped(tracer)
        futures: list[asyncio.Future[Any]] = []
        spans = []
        builders: dict[tuple[str, int], Any] = {}
        partitions: dict[str, list[int]] = {}
        for row in rows:
            topic: str = row["topic"]
            headers = dict(row["headers"])  # [[name, value], ...] as written
            if traced:
                # A producer span per message, child of the span that wrote the row; its context travels on.
                span = tracer.start_span(
                    f"{topic} publish",
                    context=propagate.extract(headers),
                    kind=SpanKind.PRODUCER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.operation": "publish",
                        "messaging.destination.name": topic,
                        "messaging.message.id": headers.get("ce_id", ""),
                        "bpass.service": self.service,
                    },
                )
                spans.append(span)
                if span.is_recording():
                    propagate.inject(headers, context=trace.set_span_in_context(span))
            # else: no span would record, and a non-recording span injects nothing: the row's headers go as written.
            key: bytes | None = row["message_key"]
            value = bytes(row["payload"])
            kafka_headers = [(name, header.encode()) for name, header in headers.items()]
            all_partitions = partitions.get(topic)
            if all_partitions is None:
                all_partitions = partitions[topic] = sorted(await producer.partitions_for(topic))
            available = () if key is not None else list(producer.client.cluster.available_partitions_for_topic(topic))
            tp = (topic, partition_for(key, all_partitions, available))
            builder = builders.get(tp)
            if len(value) > LARGE_MESSAGE_BYTES:
                # `send` checks the size against the producer's limit (and refuses what the broker would).
                if builder is not None:
                    futures.append(await self._queue(builders.pop(tp), tp))
                try:
                    sent = await producer.send(topic, value=value, key=key, partition=tp[1], headers=kafka_headers)
                except MessageSizeTooLargeError as exc:  # refused for good: set aside, the rows behind it go on
                    self.refused[row["id"]] = f"{type(exc).__name__}: {exc}"
                    continue
                futures.append(sent)
                continue
            if builder is not None:
                if builder.append(timestamp=None, key=key, value=value, headers=kafka_headers) is not None:
                    continue
                futures.append(await self._queue(builder, tp))  # full: queue it, start the next one
            builder = builders[tp] = producer.create_batch()
            builder.append(timestamp=None, key=key, value=value, headers=kafka_headers)  # a first record always fits
        for tp, builder in builders.items():
            futures.append(await self._queue(builder, tp))
        topics = collections.Counter(row["topic"] for row in rows)

        async def acknowledged() -> None:
            try:
                await asyncio.gather(*futures)
            finally:
                for span in spans:
                    span.end()
            for topic, count in topics.items():
                metrics.MESSAGES_OUT.labels(self.service, topic).inc(count)

        return asyncio.ensure_future(acknowledged())

    async def _queue(self, builder: Any, tp: tuple[str, int]) -> asyncio.Future[Any]:
        builder.close()  # complete: no need to linger for more records
        future: asyncio.Future[Any] = await self.producer.send_batch(builder, tp[0], partition=tp[1])
        return future

    async def _mark(self, conn: asyncpg.Connection, ids: list[int]) -> None:
        if self.settings.fault_inject == "crash_after_publish":
            log.error("fault injection: crashing after publishing, before marking the outbox rows")
            os._exit(98)
        refused = [(i, self.refused.pop(i)) for i in ids if i in self.refused]
        if refused:
            await conn.execute(REFUSED_SQL, [i for i, _ in refused], [error for _, error in refused])
            for outbox_id, error in refused:
                metrics.OUTBOX_REFUSED.labels(self.service).inc()
                log.error(
                    "outbox row %d of %s refused by Kafka, moved to outbox_refused: %s", outbox_id, self.service, error
                )
        # Deleting a row costs PostgreSQL a fraction of rewriting it with `published_at` set.
        await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", ids)
