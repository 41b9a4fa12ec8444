"""The consume loop of a service's subscription: poll a batch from Kafka, apply it effectively once (`inbox.Inbox`),
then commit its offsets. Auto-commit is off: a batch that raises is not committed but rewound, so Kafka redelivers
it. A batch whose apply functions fail is retried message by message, each a bounded number of times, then dead-lettered
with the error in its headers, so a poison message never blocks its partition. Invalid messages are refused on the
rejected topic and never reach an apply function."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError
from opentelemetry.trace import Span, Status, StatusCode

from contracts.envelope import service_source
from services.common import metrics
from services.common.collector import collector_pause
from services.common.inbox import Inbox
from services.common.messaging import build_consumer, stop_quietly
from services.common.parsing import Parsed
from services.common.rejections import dead_letter_row
from services.common.routing import Route, Routes
from services.common.settings import Settings
from services.common.tracing import spans_dropped, start_apply_span, unrecorded_span

log = logging.getLogger(__name__)

# Errors that mean "the database is not there right now": retrying the message elsewhere is pointless,
# so the batch is not acknowledged and Kafka redelivers it once the database is back.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
)
# How long a poll waits when nothing is buffered (it returns as soon as records are): an idle consumer polls twice a
# second, not twenty times (7 idle consumers, 20 s: 370 ms of CPU at 50 ms, 180 ms at 500 ms, where the fetcher's
# own work is most of it). Also the longest a stop waits for a loop that is not applying a batch.
IDLE_POLL_MS = 500
GRACEFUL_STOP_S = 15.0  # how long a stop waits for the batch in flight


class Subscriber:
    """One Kafka consumer (of the service's consumer group) for `routes`, or two when partners publish on their own
    forms of its inbound topics (`partner_pattern`, read by pattern subscription): both apply through the same
    routes, which bind each partner message's source to the partner its topic names."""

    def __init__(
        self,
        *,
        service: str,
        settings: Settings,
        pool: asyncpg.Pool,
        routes: Sequence[Route],
        rejected_topic: str,
        max_records: int,
        partner_pattern: str | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.routes = Routes(settings, routes)
        self.inbox = Inbox(
            service, settings, pool, self.routes, settings.topic(rejected_topic), service_source(service)
        )
        self.max_records = max_records
        self.partner_pattern = partner_pattern
        self.consumers: list[AIOKafkaConsumer] = []
        self._loops: list[asyncio.Task[None]] = []
        self._running = False

    async def start(self) -> None:
        # Several topics: the range assignor gives each member partition i of every topic (co-partitioned, keyed
        # alike), so that one key's facts of all topics meet in one process.
        co_partitioned = len(self.routes.by_name) > 1
        subscriptions: list[dict[str, Any]] = [{"topics": list(self.routes.by_name)}]
        if self.partner_pattern is not None:
            subscriptions.append({"pattern": self.partner_pattern})
        self._running = True
        for subscription in subscriptions:
            consumer = build_consumer(self.settings, self.service, co_partitioned=co_partitioned)
            consumer.subscribe(**subscription)
            await consumer.start()
            self.consumers.append(consumer)
            self._loops.append(asyncio.create_task(self._run(consumer), name=f"consume {self.routes.name}"))

    async def stop(self) -> None:
        """Let the batch in flight finish (up to `GRACEFUL_STOP_S`), then leave the group."""
        self._running = False
        if self._loops:
            _, pending = await asyncio.wait(self._loops, timeout=GRACEFUL_STOP_S)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for consumer in self.consumers:
            await stop_quietly(consumer)

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        while self._running:
            try:
                batches = await consumer.getmany(timeout_ms=IDLE_POLL_MS, max_records=self.max_records)
            except ConsumerStoppedError:
                return
            except KafkaError as exc:
                log.error("polling %s failed (%r); polling again in 5 s", self.routes.name, exc)
                await asyncio.sleep(5.0)
                continue
            records = [record for partition in batches.values() for record in partition]
            if not records:
                continue
            try:
                await self.consume(records)
            except Exception:  # not applied: redelivered from its first record, never skipped
                log.exception("batch of %d from %s not applied; rewinding it", len(records), self.routes.name)
                rewind(consumer, records)
                continue
            try:
                await consumer.commit()
            except KafkaError as exc:  # a rebalance: the new owner reads the batch again, and its inbox drops it
                log.warning("offsets of a batch from %s not committed (%r)", self.routes.name, exc)

    async def consume(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        """Apply one polled batch; raises (not applied, to be rewound) only when the database is away."""
        started = time.perf_counter()
        with collector_pause:
            parsed = [self.routes.parse(record) for record in records]
            try:
                await self._apply(parsed)
            except INFRASTRUCTURE_ERRORS:
                await asyncio.sleep(1.0)  # the batch is rewound; don't spin while the database is away
                raise
            except Exception as exc:  # noqa: BLE001 - isolate the poison message: retry one by one, then dead-letter
                log.warning("batch of %d from %s failed (%r); retrying one by one", len(parsed), self.routes.name, exc)
                for one in parsed:
                    await self._apply_alone(one)
            del parsed
        metrics.BATCH_SECONDS.labels(self.service, self.routes.name).observe(time.perf_counter() - started)
        now_ms = time.time() * 1000
        ages: dict[str, list[float]] = {}
        for record in records:
            ages.setdefault(record.topic, []).append(max(0.0, (now_ms - record.timestamp) / 1000))
        for name, amounts in ages.items():
            metrics.observe_each(
                metrics.EVENT_AGE_SECONDS.labels(self.service, self.routes.route_of(name)[0].name), amounts
            )
        if self.settings.fault_inject == "crash_after_db_commit":
            log.error("fault injection: crashing after the database commit, before the offset commit")
            os._exit(97)

    async def _apply_alone(self, one: Parsed[Any]) -> None:
        last_error: BaseException | None = None
        tries = self.settings.consumer_max_tries
        for attempt in range(1, tries + 1):
            try:
                await self._apply([one])
                return
            except INFRASTRUCTURE_ERRORS:
                await asyncio.sleep(1.0)
                raise
            except Exception as exc:  # noqa: BLE001 - a bug applying it must not take the consumer down
                last_error = exc
                log.warning("message %s failed (try %d of %d): %r", one.dedup_key, attempt, tries, exc)
                await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
        assert last_error is not None
        await self._dead_letter(one, last_error)

    async def _apply(self, parsed: list[Parsed[Any]]) -> None:
        # Unrecorded spans only carry the trace context on: ending them or setting their status does nothing.
        recorded = not spans_dropped()
        if recorded:
            spans = {p.dedup_key: self._start_span(p) for p in parsed}
        else:
            spans = {p.dedup_key: unrecorded_span(p.headers) for p in parsed}
        try:
            uow = await self.inbox.apply(parsed, spans)
        except BaseException as exc:
            if recorded:
                for span in spans.values():
                    span.set_status(Status(StatusCode.ERROR, repr(exc)[:200]))
                    span.end()
            raise
        if recorded:
            for key, span in spans.items():
                span.set_attribute("bpass.outcome", uow.outcomes.get(key, "applied"))
                span.end()
        for hook in uow.after_commit:
            try:
                await hook()
            except Exception as exc:  # noqa: BLE001 - effects are committed; a cache hiccup must not replay them
                log.warning("after-commit hook failed: %r", exc)

    def _start_span(self, p: Parsed[Any]) -> Span:
        record = p.record
        attributes: dict[str, str | int] = {"bpass.service": self.service}
        if p.envelope is not None:
            attributes["messaging.message.id"] = p.envelope.id
            if p.envelope.subject:
                attributes["bpass.passport_id"] = p.envelope.subject
        return start_apply_span(record.topic, record.partition, record.offset, p.headers, attributes)

    async def _dead_letter(self, one: Parsed[Any], error: BaseException) -> None:
        record = one.record
        await self.inbox.dead_letter(one, dead_letter_row(record, error, settings=self.settings, service=self.service))
        metrics.DEAD_LETTERS.labels(self.service, record.topic).inc()
        metrics.MESSAGES_IN.labels(self.service, self.routes.topic_of(record).name, "dead_lettered").inc()
        log.error(
            "dead-lettered %s from %s[%d]@%d: %r", one.dedup_key, record.topic, record.partition, record.offset, error
        )


def rewind(consumer: AIOKafkaConsumer, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
    """Seek every partition of a batch back to its earliest record: none is committed past an unapplied one."""
    earliest: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        earliest[tp] = min(record.offset, earliest.get(tp, record.offset))
    for tp, offset in earliest.items():
        with contextlib.suppress(AssertionError, KafkaError):  # no longer assigned: its new owner reads it again
            consumer.seek(tp, offset)
