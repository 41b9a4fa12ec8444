"""Consuming inbound topics effectively once.

For every batch: validate each message, then in ONE PostgreSQL transaction write its inbox row (dedup on
CloudEvents source + id), its effects and the events it causes (outbox); commit; only then is the Kafka offset
committed (FastStream `NACK_ON_ERROR`: an exception rewinds the partition instead). A message that fails is
retried alone, a bounded number of times, then dead-lettered with the error in its headers, so it never blocks
its partition. Invalid messages are answered on the service's rejected topic and never reach a handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka import ConsumerRecord
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from prometheus_client import Histogram
from pydantic import ValidationError

from contracts.base import Message
from contracts.envelope import Envelope, envelope_from_header_map, header_map, source_principal
from contracts.errors import ValidationFailed, Violation
from contracts.rejections import MessageRejected
from contracts.topics import Topic, dead_letter_topic, partner_of, partner_rejected_topic
from services.common import jsonpolicy, metrics
from services.common.db import DbConnection
from services.common.messaging import spans_dropped
from services.common.outbox import Outbox, OutboxRow, build_row, new_event_id
from services.common.settings import Settings
from services.common.telemetry import current_passport_id

log = logging.getLogger(__name__)
tracer = trace.get_tracer("bpass.consumer")

P = TypeVar("P", bound=Message)

# Errors that mean "the database is not there right now": retrying the message elsewhere is pointless,
# so the batch is not acknowledged and Kafka redelivers it once the database is back.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
)


@dataclass(frozen=True)
class Inbound(Generic[P]):
    """One valid inbound message handed to a handler."""

    record: ConsumerRecord[Any, Any]
    envelope: Envelope
    payload: P

    @property
    def dedup_key(self) -> str:
        return self.envelope.dedup_key


@dataclass
class UnitOfWork:
    """What a handler may touch: the transaction's connection and its outbox."""

    conn: DbConnection
    outbox: Outbox
    service: str
    settings: Settings
    rejected_topic: str
    outcomes: dict[str, str] = field(default_factory=dict)
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    spans: dict[str, Span] = field(default_factory=dict)
    before_flush: list[Callable[[], Awaitable[object]]] = field(default_factory=list)
    # Run after the outbox is written, just before the commit: writes to rows every batch shares (counters), whose
    # row locks then last only through the commit instead of holding up the other consumers' batches meanwhile.
    before_commit: list[Callable[[], Awaitable[object]]] = field(default_factory=list)
    _batches: dict[object, list[Any]] = field(default_factory=dict)

    def batch(self, owner: object, apply: Callable[[list[Any]], Awaitable[object]]) -> list[Any]:
        """A list that every handler of this unit of work asking for `owner`'s shares; `apply(items)` runs once,
        after the last handler and before the outbox is written. A consumer of several topics hands each topic's
        items to its own handler: what they add here is applied together, in one pass over the batch."""
        items = self._batches.get(owner)
        if items is None:
            items = self._batches[owner] = []
            self.before_flush.append(partial(apply, items))
        return items

    def spent(self) -> None:
        """Drop the transaction's hooks and deferred batches once they have run. They refer back to this unit of work
        (`partial(apply, uow)` in `before_flush`): a reference cycle that reference counting cannot free, so every
        fact, state and row of the batch would wait for the cyclic collector, which then traverses them all."""
        self.before_flush.clear()
        self.before_commit.clear()
        self._batches.clear()

    def each(self, items: Iterable[Inbound[P]]) -> Iterator[Inbound[P]]:
        """Iterate a batch with each item's trace active: what it causes joins its publisher's trace."""
        for item in items:
            with self.tracing(item):
                yield item

    @contextmanager
    def tracing(self, item: Inbound[Any]) -> Iterator[None]:
        span = self.spans.get(item.dedup_key)
        token = otel_context.attach(trace.set_span_in_context(span)) if span is not None else None
        passport_token = current_passport_id.set(item.envelope.subject)
        try:
            yield
        finally:
            current_passport_id.reset(passport_token)
            if token is not None:
                otel_context.detach(token)

    def rejection_topic(self, topic: str) -> str:
        """Where the refusal of a message read from `topic` (namespaced) goes: a partner's own rejected topic for a
        message of a partner topic (no other partner sees it), else the service's."""
        return rejection_topic_of(self.settings, topic, self.rejected_topic)

    def reject(self, item: Inbound[Any], violations: list[Violation]) -> None:
        """Refuse an item for a domain reason: nothing of it is applied, the publisher is told why."""
        self.outcomes[item.dedup_key] = "rejected"
        with self.tracing(item):
            self.outbox.add_row(rejection_row(self, item.record, item.envelope, violations))

    def park(self, item: Inbound[Any]) -> None:
        """Mark an item as parked: kept by the handler until what it refers to exists."""
        self.outcomes[item.dedup_key] = "parked"

    def publish(self, topic: str, message: Message, *, key: str | None, subject: str | None = None) -> None:
        self.outbox.add(self.settings.topic(topic), message, key=key, subject=subject)


BatchHandler = Callable[[UnitOfWork, list[Inbound[P]]], Awaitable[None]]


def rejection_row(
    uow: UnitOfWork, record: ConsumerRecord[Any, Any], envelope: Envelope | None, violations: list[Violation]
) -> OutboxRow:
    for violation in violations:
        metrics.REJECTIONS.labels(uow.service, record.topic, violation.reason).inc()
    message = MessageRejected(
        rejected_topic=record.topic,
        rejected_partition=record.partition,
        rejected_offset=record.offset,
        rejected_ce_id=envelope.id if envelope else None,
        rejected_ce_source=envelope.source if envelope else None,
        rejected_ce_type=envelope.type if envelope else None,
        rejected_at=datetime.now(UTC),
        violations=violations,
    )
    key = record.key.decode("utf-8", "replace") if isinstance(record.key, bytes) else None
    return build_row(
        uow.rejection_topic(record.topic),
        message,
        source=uow.outbox.source,
        key=key,
        subject=envelope.subject if envelope else None,
    )


def partner_of_topic(settings: Settings, topic: str) -> str | None:
    """The partner whose topic `topic` (namespaced) is, or None for a platform topic."""
    if not topic.startswith(settings.topic_namespace):
        return None
    return partner_of(topic[len(settings.topic_namespace) :])


def rejection_topic_of(settings: Settings, topic: str, default: str) -> str:
    partner = partner_of_topic(settings, topic)
    return settings.topic(partner_rejected_topic(partner)) if partner is not None else default


def principal_violations(partner: str, envelope: Envelope) -> list[Violation]:
    """A message on a partner's topic was published by that partner (the broker's ACLs let no one else write
    there): its source must name that partner, as a tenant or a handler, or it is refused, never applied."""
    principal = source_principal(envelope.source)
    if principal is not None and principal[1] == partner:
        return []
    return [
        Violation(
            field="headers.ce_source",
            reason="source_not_principal",
            message=f"This topic is partner {partner}'s: its messages must come from urn:bpass:tenant:{partner} or "
            f"urn:bpass:handler:{partner}, not {envelope.source[:200]!r}.",
        )
    ]


@dataclass(slots=True)
class Parsed(Generic[P]):
    record: ConsumerRecord[Any, Any]
    dedup_key: str
    envelope: Envelope | None
    payload: P | None
    violations: list[Violation]
    headers: dict[str, str]  # the record's headers by lower-case name


# Envelope attribute -> the header it is read from, to name the header in a rejection.
ENVELOPE_HEADERS = {
    "id": "ce_id",
    "source": "ce_source",
    "type": "ce_type",
    "subject": "ce_subject",
    "time": "ce_time",
    "specversion": "ce_specversion",
    "datacontenttype": "content-type",
    "traceparent": "traceparent",
}


def undecodable_envelope_headers(record: ConsumerRecord[Any, Any], headers: dict[str, str]) -> list[Violation]:
    """A CloudEvents attribute whose bytes are not UTF-8 (`header_map` replaced them): refused, naming it."""
    suspects = {name for name in ENVELOPE_HEADERS.values() if "\ufffd" in headers.get(name, "")}
    if not suspects:
        return []
    violations = []
    for name, value in record.headers or ():
        if name.lower() in suspects and isinstance(value, bytes):
            try:
                value.decode("utf-8")
            except UnicodeDecodeError as exc:
                violations.append(
                    Violation(
                        field=f"headers.{name.lower()}",
                        reason="invalid_utf8",
                        message=f"CloudEvents attributes are UTF-8 text; byte {exc.start} of this one is not.",
                    )
                )
    return violations


def parse_record(record: ConsumerRecord[Any, Any], payload_type: type[P]) -> Parsed[P]:
    """Validate one record: CloudEvents headers, event type, JSON body, payload contract."""
    headers = header_map(record.headers or [])
    undecodable = undecodable_envelope_headers(record, headers)
    if undecodable:
        return Parsed(
            record, f"kafka:{record.topic}:{record.partition}:{record.offset}", None, None, undecodable, headers
        )
    try:
        envelope_or_errors = envelope_from_header_map(headers)
    except ValidationError as exc:  # present but out of the contract's bounds (an overlong ce_id): refused, not retried
        envelope_or_errors = envelope_violations(exc)
    if isinstance(envelope_or_errors, list):
        fallback_key = f"kafka:{record.topic}:{record.partition}:{record.offset}"
        return Parsed(record, fallback_key, None, None, envelope_or_errors, headers)
    envelope = envelope_or_errors
    if envelope.type != payload_type.event_type:
        violation = Violation(
            field="headers.ce_type",
            reason="unexpected_event_type",
            message=f"Topic {record.topic} carries {payload_type.event_type}, not {envelope.type}.",
        )
        return Parsed(record, envelope.dedup_key, envelope, None, [violation], headers)
    refused = jsonpolicy.violations(record.value or b"")  # the one JSON policy (HTTP's too) before decoding
    if refused:
        return Parsed(record, envelope.dedup_key, envelope, None, refused, headers)
    try:
        payload = payload_type.model_validate_json(record.value or b"")
    except ValidationError as exc:
        return Parsed(record, envelope.dedup_key, envelope, None, violations_from_pydantic(exc), headers)
    return Parsed(record, envelope.dedup_key, envelope, payload, [], headers)


def unrecorded_span(carrier: dict[str, str]) -> Span:
    """The span the SDK's tracer starts when its sampler drops everything (`spans_dropped()`), without the
    tracer's per-span work: not recording, a new span id, in the trace of the carrier's context (else a new
    random trace), unsampled. What it causes carries its context, as before."""
    if _propagated_fields().isdisjoint(carrier):
        parent = INVALID_SPAN_CONTEXT  # nothing the propagator reads: extracting would find no parent
    else:
        parent = trace.get_current_span(propagate.extract(carrier)).get_span_context()
    if parent.is_valid:
        trace_id, trace_state, random_trace_id = parent.trace_id, parent.trace_state, parent.trace_flags.random_trace_id
    else:
        trace_id, trace_state, random_trace_id = _random_id(128), None, True
    flags = TraceFlags.DEFAULT | TraceFlags.RANDOM_TRACE_ID if random_trace_id else TraceFlags.DEFAULT
    return NonRecordingSpan(
        SpanContext(trace_id, _random_id(64), is_remote=False, trace_flags=TraceFlags(flags), trace_state=trace_state)
    )


_fields_of: tuple[TextMapPropagator | None, frozenset[str]] = (None, frozenset())


def _propagated_fields() -> frozenset[str]:
    """The carrier keys the global propagator reads (`fields`, computed again only when the propagator changes)."""
    global _fields_of
    textmap = propagate.get_global_textmap()
    if _fields_of[0] is not textmap:
        _fields_of = (textmap, frozenset(textmap.fields))
    return _fields_of[1]


def envelope_violations(exc: ValidationError) -> list[Violation]:
    """The envelope's validation errors, each naming the header the attribute came from."""
    violations = []
    for error in exc.errors(include_url=False):
        attribute = str(error["loc"][0]) if error["loc"] else ""
        violations.append(
            Violation(
                field=f"headers.{ENVELOPE_HEADERS.get(attribute, attribute)}",
                reason=f"invalid_{error['type']}",
                message=str(error["msg"]),
            )
        )
    return violations


def _random_id(bits: int) -> int:
    """As the SDK's RandomIdGenerator: random bits, never the invalid id 0."""
    value = 0
    while not value:
        value = random.getrandbits(bits)
    return value


def violations_from_pydantic(exc: ValidationError, prefix: str = "") -> list[Violation]:
    violations = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in error["loc"])
        if error["type"] == "json_invalid":
            violations.append(
                Violation(field="", reason="invalid_json", message=f"The body is not valid JSON: {error['msg']}.")
            )
            continue
        violations.append(
            Violation(
                field=f"{prefix}{loc}" if loc else prefix.rstrip("."),
                reason=f"invalid_{error['type']}",
                message=str(error["msg"]),
            )
        )
    return violations


def observe_each(histogram: Histogram, amounts: Sequence[float]) -> None:
    """`histogram.observe(amount)` for every amount, counted into the buckets first and then added once per
    bucket: one lock and one increment per bucket instead of per record (`Histogram.observe` is a measurable
    share of a small message's cost). Uses the histogram's own bounds and values, as `observe` does."""
    bounds = histogram._upper_bounds
    counts = [0] * len(bounds)
    for amount in amounts:
        index = bisect_left(bounds, amount)  # the first bound >= amount: `observe`'s bucket (the last is +Inf)
        if amount <= bounds[index]:  # false only for NaN, which `observe` counts in no bucket
            counts[index] += 1
    histogram._raise_if_not_observable()  # type: ignore[no-untyped-call]  # as `observe`: a labelled child only
    histogram._sum.inc(sum(amounts))
    for bucket, count in zip(histogram._buckets, counts, strict=True):
        if count:
            bucket.inc(count)


INBOX_SQL = """
INSERT INTO inbox (dedup_key, topic, kafka_partition, kafka_offset, outcome)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::text[])
ON CONFLICT (dedup_key) DO UPDATE SET outcome = EXCLUDED.outcome, processed_at = now()
    WHERE inbox.outcome = 'dead_lettered'
RETURNING dedup_key
"""


class CollectorPause:
    """Cyclic garbage collection paused while batches are applied. A batch builds hundreds of thousands of
    containers (decoded facts, passport states, rows) that live until it ends; collections triggered meanwhile
    traverse them again and again (a fifth of reporting's CPU at 2,000-record batches), and then promote them, so
    that the older generations grow and their collections get slower. Nearly all of it is freed by reference
    counting when the batch ends, and the collector runs as usual once no batch is in flight. Consumers whose
    batches overlap all the time still collect their youngest generation once it holds `SAFETY_VALVE` objects."""

    SAFETY_VALVE = 1_000_000

    def __init__(self) -> None:
        self.depth = 0
        self.paused_by_us = False

    def __enter__(self) -> None:
        if self.depth == 0 and gc.isenabled():
            gc.disable()
            self.paused_by_us = True
        self.depth += 1

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1
        if self.depth == 0 and self.paused_by_us:
            self.paused_by_us = False
            gc.enable()
        elif self.paused_by_us and gc.get_count()[0] > self.SAFETY_VALVE:
            gc.collect(0)


collector_pause = CollectorPause()  # one per process, as the collector is


class Consumer:
    """Applies batches of inbound or fact topics through a service's batch handlers: one handler per topic, or
    (`routes` of several topics) one Kafka consumer whose batches mix topics, each record handed to its topic's
    handler, all in the batch's one transaction."""

    def __init__(
        self,
        *,
        service: str,
        settings: Settings,
        pool: asyncpg.Pool,
        routes: Sequence[tuple[Topic, BatchHandler[Any]]],
        rejected_topic: str,
    ) -> None:
        self.service = service
        self.settings = settings
        self.pool = pool
        # by the topic's name on the broker (namespaced), in the order given: the order handlers are called in
        self.routes: dict[str, tuple[Topic, BatchHandler[Any]]] = {
            settings.topic(topic.name): (topic, handler) for topic, handler in routes
        }
        self.name = ",".join(topic.name for topic, _ in routes)  # what the batch metrics and logs call it
        self.rejected_topic = settings.topic(rejected_topic)
        self.source = f"urn:bpass:service:{service}"
        # A partner's form of a routed inbound topic (`bpass.partner.<partner>.<domain>.<name>.v<N>`, read by a pattern
        # subscription): its physical name -> the route, filled as records of such topics arrive.
        self._by_name = {topic.name: route for route in routes for topic in (route[0],)}
        self._partner_routes: dict[str, tuple[Topic, BatchHandler[Any]]] = {}

    def route_of(self, name: str) -> tuple[Topic, BatchHandler[Any]]:
        route = self.routes.get(name) or self._partner_routes.get(name)
        if route is None:
            partner = partner_of_topic(self.settings, name)
            if partner is None:
                raise KeyError(name)
            logical = "bpass." + name[len(self.settings.topic(f"bpass.partner.{partner}.")) :]
            route = self._partner_routes[name] = self._by_name[logical]
        return route

    def topic_of(self, record: ConsumerRecord[Any, Any]) -> Topic:
        return self.route_of(record.topic)[0]

    def parse(self, record: ConsumerRecord[Any, Any]) -> Parsed[Any]:
        """`parse_record`, and for a partner's topic the binding of the message's source to that partner."""
        parsed = parse_record(record, self.topic_of(record).payload)
        if parsed.envelope is not None and record.topic not in self.routes:
            partner = partner_of_topic(self.settings, record.topic)
            if partner is not None:
                refused = principal_violations(partner, parsed.envelope)
                if refused:
                    parsed.payload = None
                    parsed.violations = refused + parsed.violations
                    # Not under the source it claims: its id must not stand in for that principal's own message.
                    parsed.dedup_key = f"kafka:{record.topic}:{record.partition}:{record.offset}"
        return parsed

    async def consume(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        started = time.perf_counter()
        with collector_pause:
            parsed = [self.parse(record) for record in records]
            try:
                await self._apply(parsed)
            except INFRASTRUCTURE_ERRORS:
                await asyncio.sleep(1.0)  # the batch is rewound; don't spin while the database is away
                raise
            except Exception as exc:  # noqa: BLE001 - isolate the poison message: retry one by one, then dead-letter
                log.warning("batch of %d from %s failed (%r); retrying one by one", len(parsed), self.name, exc)
                for one in parsed:
                    await self._apply_alone(one)
            del parsed
        elapsed = time.perf_counter() - started
        metrics.BATCH_SECONDS.labels(self.service, self.name).observe(elapsed)
        now_ms = time.time() * 1000
        ages: dict[str, list[float]] = {}
        for record in records:
            ages.setdefault(record.topic, []).append(max(0.0, (now_ms - record.timestamp) / 1000))
        for name, amounts in ages.items():
            observe_each(metrics.EVENT_AGE_SECONDS.labels(self.service, self.route_of(name)[0].name), amounts)
        if self.settings.fault_inject == "crash_after_db_commit":
            log.error("fault injection: crashing after the database commit, before the offset commit")
            os._exit(97)

    async def _apply_alone(self, one: Parsed[Any]) -> None:
        last_error: BaseException | None = None
        for attempt in range(1, self.settings.consumer_max_tries + 1):
            try:
                await self._apply([one])
                return
            except INFRASTRUCTURE_ERRORS:
                await asyncio.sleep(1.0)
                raise
            except Exception as exc:  # noqa: BLE001 - a handler bug must not take the consumer down
                last_error = exc
                log.warning(
                    "message %s failed (try %d of %d): %r",
                    one.dedup_key,
                    attempt,
                    self.settings.consumer_max_tries,
                    exc,
                )
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
            uow = await self._apply_in_transaction(parsed, spans)
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
        """One span per message, child of its publisher's span (W3C traceparent header)."""
        record = p.record
        attributes: dict[str, str | int] = {
            "messaging.system": "kafka",
            "messaging.operation": "process",  # named "apply": FastStream already has "<topic> process" batch spans
            "messaging.destination.name": record.topic,
            "messaging.kafka.destination.partition": record.partition,
            "messaging.kafka.message.offset": record.offset,
            "bpass.service": self.service,
        }
        if p.envelope is not None:
            attributes["messaging.message.id"] = p.envelope.id
            if p.envelope.subject:
                attributes["bpass.passport_id"] = p.envelope.subject
        parent = propagate.extract(p.headers)
        return tracer.start_span(f"{record.topic} apply", context=parent, kind=SpanKind.CONSUMER, attributes=attributes)

    async def _apply_in_transaction(self, parsed: list[Parsed[Any]], spans: dict[str, Span]) -> UnitOfWork:
        outbox = Outbox(self.source)
        async with self.pool.acquire() as conn, conn.transaction():
            uow = UnitOfWork(conn, outbox, self.service, self.settings, self.rejected_topic, spans=spans)
            try:
                await self._transaction(uow, parsed)
            finally:
                uow.spent()
        return uow

    async def _transaction(self, uow: UnitOfWork, parsed: list[Parsed[Any]]) -> None:
        """The batch's transaction: inbox rows (duplicates dropped), the handlers, outcomes, outbox, commit hooks."""
        conn, outbox, spans = uow.conn, uow.outbox, uow.spans
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
                metrics.MESSAGES_IN.labels(self.service, self.topic_of(p.record).name, "duplicate").inc()
                continue
            seen.add(p.dedup_key)
            if p.violations:
                span = spans.get(p.dedup_key)
                with trace.use_span(span, end_on_exit=False) if span else contextlib.nullcontext():
                    outbox.add_row(rejection_row(uow, p.record, p.envelope, p.violations))
                metrics.MESSAGES_IN.labels(self.service, self.topic_of(p.record).name, "rejected").inc()
                continue
            assert p.envelope is not None
            assert p.payload is not None
            accepted.append(Inbound(p.record, p.envelope, p.payload))
        if accepted:
            try:
                await self._handle(uow, accepted)
            except ValidationFailed as failed:
                if len(accepted) > 1:
                    raise  # retried one by one, where it is refused alone
                uow.reject(accepted[0], failed.violations)
        changed = [(key, outcome) for key, outcome in uow.outcomes.items() if outcome != "applied"]
        if changed:
            await conn.executemany("UPDATE inbox SET outcome = $2 WHERE dedup_key = $1", changed)
        outcomes = Counter((item.record.topic, uow.outcomes.get(item.dedup_key, "applied")) for item in accepted)
        for (name, outcome), count in outcomes.items():
            metrics.MESSAGES_IN.labels(self.service, self.route_of(name)[0].name, outcome).inc(count)
        await outbox.flush(conn)
        for step in uow.before_commit:
            await step()

    async def _handle(self, uow: UnitOfWork, accepted: list[Inbound[Any]]) -> None:
        """Each topic's items to its handler, topics in the order of `routes`; then what handlers deferred to the
        end of the batch (`UnitOfWork.batch`)."""
        by_topic: dict[str, list[Inbound[Any]]] = {}  # by the topic's registry name: a partner's form joins it
        for item in accepted:
            by_topic.setdefault(self.topic_of(item.record).name, []).append(item)
        for topic, handler in self.routes.values():
            if topic.name in by_topic:
                await handler(uow, by_topic[topic.name])
        for step in uow.before_flush:
            await step()

    async def _dead_letter(self, one: Parsed[Any], error: BaseException) -> None:
        record = one.record
        headers = [(name, value.decode("utf-8", "replace")) for name, value in (record.headers or [])]
        headers += [
            ("bpass_dlq_error", repr(error)[:2000]),
            ("bpass_dlq_error_type", type(error).__name__),
            ("bpass_dlq_original_topic", record.topic),
            ("bpass_dlq_original_partition", str(record.partition)),
            ("bpass_dlq_original_offset", str(record.offset)),
            ("bpass_dlq_tries", str(self.settings.consumer_max_tries)),
            ("bpass_dlq_service", self.service),
            ("bpass_dlq_id", new_event_id()),
        ]
        row = OutboxRow(
            topic=self.settings.topic(dead_letter_topic(self.service)),
            key=record.key if isinstance(record.key, bytes) else None,
            headers=headers,
            payload=record.value or b"",
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO inbox (dedup_key, topic, kafka_partition, kafka_offset, outcome)
                   VALUES ($1, $2, $3, $4, 'dead_lettered')
                   ON CONFLICT (dedup_key) DO UPDATE SET outcome = 'dead_lettered', processed_at = now()""",
                one.dedup_key,
                record.topic,
                record.partition,
                record.offset,
            )
            outbox = Outbox(self.source)
            outbox.add_row(row)
            await outbox.flush(conn)
        metrics.DEAD_LETTERS.labels(self.service, record.topic).inc()
        metrics.MESSAGES_IN.labels(self.service, self.topic_of(record).name, "dead_lettered").inc()
        log.error(
            "dead-lettered %s from %s[%d]@%d: %r",
            one.dedup_key,
            record.topic,
            record.partition,
            record.offset,
            error,
        )
