"""The delivery mechanics on the real PostgreSQL, fast: the outbox's rows and its commit-order lock, the consumer's
inbox (dedup, outcomes, dead letters, all in the batch's one transaction) and the relay (commit order, marking only
after acknowledgement, refused rows set aside, wake-up, stand-by, recovery from failures).

Kafka is replaced here by a recording producer (the relay's sends against the real broker are
test_relay_batches.py and test_delivery_guarantees.py): these tests run in seconds, for mutation testing too.
Each test module gets a schema of its own in the test database, with the common migrations.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import asyncpg
import pytest
import uuid_utils
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from prometheus_client import REGISTRY

from contracts.base import Message
from contracts.envelope import Envelope
from contracts.errors import ValidationFailed, Violation
from contracts.topics import Topic, TopicKind
from services.common import relay as relay_module
from services.common import tracing as tracing_module
from services.common.db import create_pool, migrate
from services.common.outbox import Outbox, build_row, current_traceparent, new_event_id
from services.common.relay import LARGE_MESSAGE_BYTES, OutboxRelay
from services.common.settings import Settings
from services.common.subscriber import Subscriber
from services.common.unit_of_work import Inbound, UnitOfWork
from tests.conftest import TEST_DATABASE, _ensure_database

SERVICE = "delivery-test"


class Ping(Message):
    event_type: ClassVar[str] = "eu.battery-passport.test.ping.v1"
    n: int


PINGS = Topic("bpass.test.pings.v1", Ping, TopicKind.inbound, "custody", "test pings")
REJECTED = "bpass.test.rejected.v1"


@dataclass
class Db:
    settings: Settings
    schema: str
    pool: asyncpg.Pool

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return list(await conn.fetch(sql, *args))


@pytest.fixture(scope="module")
async def pg(infrastructure: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Db]:
    database_url = await _ensure_database(infrastructure.database_url, TEST_DATABASE)
    schema = f"delivery_{uuid.uuid4().hex[:10]}"
    settings = infrastructure.model_copy(
        update={
            "database_url": database_url,
            "topic_namespace": f"t{uuid.uuid4().hex[:6]}.",
            "consumer_max_tries": 2,
            "relay_batch_size": 2,
            "relay_poll_interval_s": 10.0,  # only the wake-up at commit makes the relay look again soon
        }
    )
    await migrate(settings.database_url, schema, tmp_path_factory.mktemp("no-service-migrations"))
    pool = await create_pool(settings.platform_dsn(), schema, max_size=4)
    try:
        yield Db(settings, schema, pool)
    finally:
        await pool.close()
        conn = await asyncpg.connect(settings.database_url, timeout=10)
        try:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture
async def db(pg: Db) -> Db:
    """The module's schema, emptied."""
    async with pg.pool.acquire() as conn:
        await conn.execute("DELETE FROM inbox; DELETE FROM outbox; DELETE FROM outbox_refused")
    return pg


async def until(check: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    """Wait for `check()` (a value, or an awaitable of one) to be true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def headers_of(row: asyncpg.Record) -> dict[str, str]:
    return dict(row["headers"])


# --- outbox -------------------------------------------------------------------------------------------------------


def test_a_row_carries_the_message_as_a_cloudevent_in_binary_mode() -> None:
    at = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    row = build_row(
        "bpass.test.pings.v1",
        Ping(n=7),
        source="urn:bpass:service:custody",
        key="urn:uuid:0192",
        subject="urn:uuid:0192",
        event_id="e-1",
        time=at,
        extra_headers=[("x_extra", "1")],
    )
    assert row.topic == "bpass.test.pings.v1"
    assert row.key == b"urn:uuid:0192"
    assert json.loads(row.payload) == {"n": 7}
    headers = dict(row.headers)
    assert headers["ce_id"] == "e-1"
    assert headers["ce_source"] == "urn:bpass:service:custody"
    assert headers["ce_type"] == Ping.event_type
    assert headers["ce_subject"] == "urn:uuid:0192"
    assert headers["ce_specversion"] == "1.0"
    assert datetime.fromisoformat(headers["ce_time"].replace("Z", "+00:00")) == at
    assert row.headers[-1] == ("x_extra", "1"), "extra headers follow the CloudEvents ones"
    assert all(isinstance(value, str) for _, value in row.headers)


def test_a_row_without_key_id_or_time_gets_a_fresh_uuid7_id_and_the_current_time() -> None:
    before = datetime.now(UTC)
    rows = [build_row("t", Ping(n=1), source="urn:s", key=None) for _ in range(2)]
    assert rows[0].key is None
    ids = [dict(row.headers)["ce_id"] for row in rows]
    assert ids[0] != ids[1]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert uuid.UUID(new_event_id()).version == 7
    sent = datetime.fromisoformat(dict(rows[0].headers)["ce_time"].replace("Z", "+00:00"))
    assert before <= sent <= datetime.now(UTC)
    assert "ce_subject" not in dict(rows[0].headers)
    assert "traceparent" not in dict(rows[0].headers), "no active trace, no traceparent"


def test_a_row_written_under_a_trace_carries_its_traceparent() -> None:
    trace_id, span_id = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331
    context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(context)))
    try:
        expected = f"00-{trace_id:032x}-{span_id:016x}-01"
        assert current_traceparent() == expected
        assert dict(build_row("t", Ping(n=1), source="urn:s", key=None).headers)["traceparent"] == expected
    finally:
        otel_context.detach(token)
    assert current_traceparent() is None


async def test_flush_writes_the_rows_in_order_in_the_callers_transaction_and_empties_the_outbox(db: Db) -> None:
    outbox = Outbox("urn:bpass:service:custody")
    outbox.add("topic-a", Ping(n=1), key="k1", subject="s1", event_id="id-1")
    outbox.add_row(build_row("topic-b", Ping(n=2), source="urn:other", key=None, event_id="id-2"))
    outbox.add("topic-a", Ping(n=3), key="k1")
    async with db.pool.acquire() as conn:
        async with conn.transaction():
            assert await outbox.flush(conn) == 3
            assert outbox.rows == []
            assert await outbox.flush(conn) == 0, "an empty outbox writes nothing"
        rows = await conn.fetch("SELECT topic, message_key, headers, payload FROM outbox ORDER BY id")
        tx = conn.transaction()
        await tx.start()
        outbox.add("topic-c", Ping(n=4), key=None)
        await outbox.flush(conn)
        await tx.rollback()
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 3, "rows go with the caller's transaction"
    assert [(r["topic"], r["message_key"], json.loads(r["payload"])) for r in rows] == [
        ("topic-a", b"k1", {"n": 1}),
        ("topic-b", None, {"n": 2}),
        ("topic-a", b"k1", {"n": 3}),
    ]
    first, second, _ = (headers_of(r) for r in rows)
    assert (first["ce_id"], first["ce_source"], first["ce_subject"]) == ("id-1", "urn:bpass:service:custody", "s1")
    assert (second["ce_id"], second["ce_source"]) == ("id-2", "urn:other")


async def test_flush_wakes_the_relay_at_commit_and_serialises_writers_so_ids_follow_commit_order(db: Db) -> None:
    listener = await asyncpg.connect(db.settings.platform_dsn(), timeout=10)
    woken: list[str] = []
    await listener.add_listener(f"{db.schema}_outbox", lambda *args: woken.append(args[2]))
    try:
        async with db.pool.acquire() as first, db.pool.acquire() as second:
            first_tx = first.transaction()
            await first_tx.start()
            early = Outbox("urn:first")
            early.add("t", Ping(n=1), key=None)
            await early.flush(first)
            await asyncio.sleep(0.1)
            assert woken == [], "the wake-up is delivered at commit, not before"

            async def later_writer() -> None:
                async with second.transaction():
                    late = Outbox("urn:second")
                    late.add("t", Ping(n=2), key=None)
                    await late.flush(second)

            writer = asyncio.ensure_future(later_writer())
            await asyncio.sleep(0.3)
            assert not writer.done(), "a second writer waits for the first one's commit"
            await first_tx.commit()
            await asyncio.wait_for(writer, 5)
        await until(lambda: len(woken) >= 2, "both wake-ups")
    finally:
        await listener.close()
    sources = [headers_of(r)["ce_source"] for r in await db.fetch("SELECT headers FROM outbox ORDER BY id")]
    assert sources == ["urn:first", "urn:second"]


# --- inbox ----------------------------------------------------------------------------------------------------------


def record(
    n: int | str,
    *,
    offset: int,
    ce_id: str | None = None,
    source: str = "urn:bpass:handler:carrier-1",
    key: bytes | None = b"passport-1",
    topic: str | None = None,
    event_type: str = Ping.event_type,
) -> ConsumerRecord[Any, Any]:
    envelope = Envelope(
        id=ce_id or str(uuid_utils.uuid7()),
        source=source,
        type=event_type,
        subject="urn:uuid:passport-1",
        time=datetime.now(UTC),
    )
    value = json.dumps({"n": n}).encode()
    return ConsumerRecord(
        topic=topic or "",
        partition=1,
        offset=offset,
        timestamp=int(datetime.now(UTC).timestamp() * 1000),
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value),
        headers=envelope.to_headers(),
    )


@dataclass
class Recorder:
    """A batch handler that records what it is given and does what the test tells it to."""

    calls: list[list[int]]
    act: Callable[[UnitOfWork, Inbound[Ping]], Awaitable[None] | None] | None = None

    async def __call__(self, uow: UnitOfWork, items: list[Inbound[Ping]]) -> None:
        self.calls.append([item.payload.n for item in items])
        for item in items:
            if item.payload.n < 0:
                raise RuntimeError(f"handler bug on {item.payload.n}" + "!" * 3000 * (item.payload.n == -3))
            if self.act is not None:  # as handlers do: decide, then write
                result = self.act(uow, item)
                if result is not None:
                    await result
            uow.publish("bpass.test.pinged.v1", Ping(n=item.payload.n * 10), key=item.envelope.subject)


def consumer_of(db: Db, handler: Recorder) -> Subscriber:
    return Subscriber(
        service=SERVICE,
        settings=db.settings,
        pool=db.pool,
        routes=[(PINGS, handler)],
        rejected_topic=REJECTED,
        max_records=500,
    )


def at(db: Db, offset: int, n: int | str, **kwargs: Any) -> ConsumerRecord[Any, Any]:
    return record(n, offset=offset, topic=db.settings.topic(PINGS.name), **kwargs)


async def inbox(db: Db) -> list[tuple[str, str, int, int, str]]:
    rows = await db.fetch("SELECT dedup_key, topic, kafka_partition, kafka_offset, outcome FROM inbox ORDER BY 4")
    return [(r["dedup_key"], r["topic"], r["kafka_partition"], r["kafka_offset"], r["outcome"]) for r in rows]


async def outbox_rows(db: Db) -> list[tuple[str, bytes | None, dict[str, str], Any]]:
    rows = await db.fetch("SELECT topic, message_key, headers, payload FROM outbox ORDER BY id")
    return [(r["topic"], r["message_key"], headers_of(r), json.loads(r["payload"])) for r in rows]


def messages_in(db: Db, outcome: str) -> float:
    labels = {"service": SERVICE, "topic": PINGS.name, "outcome": outcome}
    return REGISTRY.get_sample_value("bpass_messages_in_total", labels) or 0.0


async def test_each_message_is_applied_once_with_its_inbox_row_and_the_events_it_causes(db: Db) -> None:
    handler = Recorder([])
    consumer = consumer_of(db, handler)
    one, two = at(db, 10, 1), at(db, 11, 2)
    applied_before = messages_in(db, "applied")
    duplicates_before = messages_in(db, "duplicate")

    await consumer.consume([one, two, one])  # a duplicate inside the batch
    await consumer.consume([two, three := at(db, 12, 3)])  # one redelivered after the commit, one new behind it

    assert handler.calls == [[1, 2], [3]]
    topic = db.settings.topic(PINGS.name)
    assert await inbox(db) == [
        (f"urn:bpass:handler:carrier-1\x1f{dict(m.headers)['ce_id'].decode()}", topic, 1, m.offset, "applied")
        for m in (one, two, three)
    ]
    published = await outbox_rows(db)
    assert [(t, k, payload) for t, k, _, payload in published] == [
        (db.settings.topic("bpass.test.pinged.v1"), b"urn:uuid:passport-1", {"n": 10}),
        (db.settings.topic("bpass.test.pinged.v1"), b"urn:uuid:passport-1", {"n": 20}),
        (db.settings.topic("bpass.test.pinged.v1"), b"urn:uuid:passport-1", {"n": 30}),
    ]
    assert {headers["ce_source"] for _, _, headers, _ in published} == {f"urn:bpass:service:{SERVICE}"}
    assert messages_in(db, "applied") - applied_before == 3
    assert messages_in(db, "duplicate") - duplicates_before == 2


async def test_a_rejection_is_published_in_the_trace_of_the_message_it_refuses(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing_module, "tracer", provider.get_tracer("test"))
    trace_id, parent_id = 0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7
    bad = at(db, 25, "not a number")
    bad.headers = [*bad.headers, ("traceparent", f"00-{trace_id:032x}-{parent_id:016x}-01".encode())]

    await consumer_of(db, Recorder([])).consume([bad])

    (span,) = [s for s in exporter.get_finished_spans() if s.name.endswith(" apply")]
    assert span.parent is not None
    assert (span.context.trace_id, span.parent.span_id) == (trace_id, parent_id)
    assert "bpass.outcome" in dict(span.attributes or {}), "ended once the batch is done, not when the row is written"
    ((_, _, headers, _),) = await outbox_rows(db)
    assert headers["traceparent"].split("-")[1:3] == [f"{trace_id:032x}", f"{span.context.span_id:016x}"]


async def test_an_invalid_message_is_answered_on_the_rejected_topic_and_never_reaches_the_handler(db: Db) -> None:
    handler = Recorder([])
    consumer = consumer_of(db, handler)
    bad = at(db, 20, "not a number", key=b"passport-9")
    rejected_before = messages_in(db, "rejected")
    refusals_labels = {"service": SERVICE, "topic": db.settings.topic(PINGS.name), "reason": "invalid_int_parsing"}
    refusals_before = REGISTRY.get_sample_value("bpass_rejections_total", refusals_labels) or 0.0

    await consumer.consume([bad, at(db, 21, 5)])
    await consumer.consume([bad])

    assert handler.calls == [[5]]
    outcomes = [(offset, outcome) for _, _, _, offset, outcome in await inbox(db)]
    assert outcomes == [(20, "rejected"), (21, "applied")]
    rows = await outbox_rows(db)
    assert [t for t, *_ in rows] == [db.settings.topic(REJECTED), db.settings.topic("bpass.test.pinged.v1")]
    _, key, headers, refusal = rows[0]
    assert key == b"passport-9"
    assert headers["ce_type"] == "eu.battery-passport.platform.message-rejected.v1"
    assert headers["ce_source"] == f"urn:bpass:service:{SERVICE}"
    assert REGISTRY.get_sample_value("bpass_rejections_total", refusals_labels) == refusals_before + 1
    assert (refusal["rejected_offset"], refusal["rejected_ce_id"]) == (20, dict(bad.headers)["ce_id"].decode())
    assert refusal["violations"][0]["field"] == "n"
    assert messages_in(db, "rejected") - rejected_before == 1


async def test_the_handler_decides_rejected_or_parked_and_the_inbox_keeps_that_outcome(db: Db) -> None:
    def decide(uow: UnitOfWork, item: Inbound[Ping]) -> None:
        if item.payload.n == 1:
            uow.reject(item, [Violation(field="n", reason="one_is_refused", message="One is refused.")])
        elif item.payload.n == 2:
            uow.park(item)

    consumer = consumer_of(db, Recorder([], decide))
    parked_before, rejected_before = messages_in(db, "parked"), messages_in(db, "rejected")
    await consumer.consume([at(db, 30, 1), at(db, 31, 2), at(db, 32, 3)])
    outcomes = [(offset, outcome) for _, _, _, offset, outcome in await inbox(db)]
    assert outcomes == [(30, "rejected"), (31, "parked"), (32, "applied")]
    assert messages_in(db, "parked") - parked_before == 1
    assert messages_in(db, "rejected") - rejected_before == 1
    refusals = [p for t, _, _, p in await outbox_rows(db) if t == db.settings.topic(REJECTED)]
    assert [v["reason"] for r in refusals for v in r["violations"]] == ["one_is_refused"]


async def test_a_domain_refusal_in_a_batch_is_retried_alone_and_refuses_only_its_message(db: Db) -> None:
    def refuse_three(uow: UnitOfWork, item: Inbound[Ping]) -> None:
        if item.payload.n == 3:
            raise ValidationFailed([Violation(field="n", reason="three_is_refused", message="Three is refused.")])

    handler = Recorder([], refuse_three)
    await consumer_of(db, handler).consume([at(db, 40, 3), at(db, 41, 4)])
    assert handler.calls == [[3, 4], [3], [4]], "the batch fails whole, then each message is applied alone"
    outcomes = [(offset, outcome) for _, _, _, offset, outcome in await inbox(db)]
    assert outcomes == [(40, "rejected"), (41, "applied")]
    rows = await outbox_rows(db)
    refusal = next(p for t, _, _, p in rows if t == db.settings.topic(REJECTED))
    assert [v["reason"] for v in refusal["violations"]] == ["three_is_refused"]
    assert [p for t, _, _, p in rows if t != db.settings.topic(REJECTED)] == [{"n": 40}]


async def test_a_failing_message_is_dead_lettered_with_the_error_and_its_batch_mates_are_applied(db: Db) -> None:
    handler = Recorder([])
    consumer = consumer_of(db, handler)
    poison = at(db, 50, -1, key=b"passport-poison")
    poison.headers = [*poison.headers, ("x-legacy", b"caf\xe9")]  # not UTF-8: kept, replaced, not fatal
    dead_before = messages_in(db, "dead_lettered")

    await consumer.consume([poison, at(db, 51, 6)])

    assert handler.calls == [[-1, 6], [-1], [-1], [6]], "two tries alone (consumer_max_tries), then the next one"
    outcomes = [(offset, outcome) for _, _, _, offset, outcome in await inbox(db)]
    assert outcomes == [(50, "dead_lettered"), (51, "applied")]
    rows = await outbox_rows(db)
    assert [t for t, *_ in rows] == [
        db.settings.topic("bpass.delivery-test.dead-letter.v1"),
        db.settings.topic("bpass.test.pinged.v1"),
    ], "nothing the failed tries wrote is kept"
    _, key, headers, payload = rows[0]
    assert (key, payload) == (b"passport-poison", {"n": -1}), "the message as it came"
    assert headers["ce_id"] == dict(poison.headers)["ce_id"].decode(), "its own headers are kept"
    assert headers["x-legacy"] == "caf\ufffd"
    assert headers["bpass_dlq_error"] == repr(RuntimeError("handler bug on -1"))
    assert headers["bpass_dlq_error_type"] == "RuntimeError"
    assert headers["bpass_dlq_original_topic"] == db.settings.topic(PINGS.name)
    assert (headers["bpass_dlq_original_partition"], headers["bpass_dlq_original_offset"]) == ("1", "50")
    assert (headers["bpass_dlq_tries"], headers["bpass_dlq_service"]) == ("2", SERVICE)
    assert uuid.UUID(headers["bpass_dlq_id"]).version == 7
    assert messages_in(db, "dead_lettered") - dead_before == 1
    dead_letters = REGISTRY.get_sample_value(
        "bpass_dead_letters_total", {"service": SERVICE, "topic": db.settings.topic(PINGS.name)}
    )
    assert dead_letters is not None
    assert dead_letters >= 1


async def test_a_dead_lettered_message_replayed_is_applied_and_its_inbox_row_says_so(db: Db) -> None:
    calls: list[list[int]] = []
    ce_id = str(uuid_utils.uuid7())
    await consumer_of(db, Recorder(calls)).consume([at(db, 60, -3, ce_id=ce_id)])
    assert [outcome for *_, outcome in await inbox(db)] == ["dead_lettered"]
    ((_, _, headers, _),) = await outbox_rows(db)
    assert headers["bpass_dlq_error"] == repr(RuntimeError("handler bug on -3" + "!" * 3000))[:2000], "cut at 2,000"
    await consumer_of(db, Recorder(calls)).consume([at(db, 61, 7, ce_id=ce_id)])  # the replay: same id, fixed
    assert calls[-1] == [7]
    assert [(offset, outcome) for _, _, _, offset, outcome in await inbox(db)] == [(60, "applied")]


async def test_what_waits_for_the_commit_runs_once_the_batch_is_committed(db: Db) -> None:
    """An after-commit hook (reporting drops cache entries there) sees the batch committed: its inbox row and outbox
    row are visible from another connection; a hook that fails does not undo or replay the batch."""
    order: list[str] = []

    def defer(uow: UnitOfWork, item: Inbound[Ping]) -> None:
        async def visible() -> None:
            async with db.pool.acquire() as other:
                inbox_rows = await other.fetchval("SELECT count(*) FROM inbox WHERE kafka_offset = 70")
                outbox_rows = await other.fetchval("SELECT count(*) FROM outbox")
            order.append(f"after commit: inbox {inbox_rows}, outbox {outbox_rows}")

        async def fails() -> None:
            raise RuntimeError("cache away")

        uow.after_commit += [visible, fails]

    calls: list[list[int]] = []
    await consumer_of(db, Recorder(calls, defer)).consume([at(db, 70, 8)])
    assert order == ["after commit: inbox 1, outbox 1"]
    assert calls == [[8]]
    assert [outcome for *_, outcome in await inbox(db)] == ["applied"]


# --- relay ----------------------------------------------------------------------------------------------------------


class Batch:
    """aiokafka's batch builder as the relay uses it: `append` returns None once the batch is full."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = []
        self.closed = False

    def append(self, *, timestamp: None, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> Any:
        assert not self.closed
        if len(self.records) >= self.capacity:
            return None
        self.records.append((key, value, headers))
        return object()

    def close(self) -> None:
        self.closed = True


class Cluster:
    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return {2}


class Client:
    cluster = Cluster()


class RecordingProducer:
    """What the relay hands to Kafka, in order; each send's acknowledgement is a future the test may hold back."""

    def __init__(self, *, batch_capacity: int = 10, partitions: int = 3, hold: bool = False) -> None:
        self.batch_capacity = batch_capacity
        self.partitions = partitions
        self.hold = hold
        self.client = Client()
        self.sends: list[tuple[str, int, list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]]] = []
        self.acks: list[asyncio.Future[Any]] = []
        self.failures: list[BaseException] = []  # the next acknowledgements fail with these, in order

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def create_batch(self) -> Batch:
        return Batch(self.batch_capacity)

    def _ack(self) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.failures:
            future.set_exception(self.failures.pop(0))
        elif not self.hold:
            future.set_result(None)
        self.acks.append(future)
        return future

    async def send_batch(self, batch: Batch, topic: str, *, partition: int) -> asyncio.Future[Any]:
        assert batch.closed, "a batch is closed before it is queued"
        self.sends.append((topic, partition, list(batch.records)))
        return self._ack()

    async def send(
        self, topic: str, *, value: bytes, key: bytes | None, partition: int, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[Any]:
        if len(value) > 2 * LARGE_MESSAGE_BYTES:
            raise MessageSizeTooLargeError(f"{len(value)} bytes")
        self.sends.append((topic, partition, [(key, value, headers)]))
        return self._ack()

    def release(self) -> None:
        for future in self.acks:
            if not future.done():
                future.set_result(None)

    def values(self) -> list[bytes]:
        return [value for _, _, records in self.sends for _, value, _ in records]


async def write_outbox(db: Db, rows: list[tuple[str, bytes | None, bytes]]) -> list[int]:
    """Rows as services write them: under the outbox lock, with the wake-up at commit."""
    async with db.pool.acquire() as conn, conn.transaction():
        outbox = Outbox("urn:test")
        for topic, key, payload in rows:
            row = build_row(topic, Ping(n=0), source="urn:test", key=None)
            outbox.add_row(row._replace(key=key, payload=payload))
        await outbox.flush(conn)
        return [r["id"] for r in await conn.fetch("SELECT id FROM outbox ORDER BY id DESC LIMIT $1", len(rows))][::-1]


async def outbox_left(db: Db) -> int:
    return int((await db.fetch("SELECT count(*) AS n FROM outbox"))[0]["n"])


class Pauses:
    """The relay's `asyncio`, with its pauses recorded and cut short: a test sees how long it would have waited."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.now = 1000.0  # the relay's monotonic clock, moved by the test

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, seconds: float) -> None:
        self.seconds.append(seconds)
        await asyncio.sleep(0.01)

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> Pauses:
    recorded = Pauses()
    monkeypatch.setattr(relay_module, "asyncio", recorded)
    monkeypatch.setattr(relay_module, "time", recorded)
    return recorded


async def running_relay(db: Db, producer: RecordingProducer, **settings: Any) -> OutboxRelay:
    relay = OutboxRelay(
        service=SERVICE, schema=db.schema, settings=db.settings.model_copy(update=settings), producer=producer
    )  # type: ignore[arg-type]
    await relay.start()
    return relay


async def test_the_relay_publishes_in_commit_order_per_partition_and_deletes_what_kafka_acknowledged(db: Db) -> None:
    keys = [b"passport-a", b"passport-b", b"passport-c", None]
    rows = [("bpass.t.v1", keys[i % 4], f"{i}".encode()) for i in range(9)]
    ids = await write_outbox(db, rows[:5])  # before the relay starts: read from the oldest row on
    producer = RecordingProducer(batch_capacity=2)
    relay = await running_relay(db, producer)
    try:
        await until(lambda: _empty(db), "the first rows")
        await write_outbox(db, rows[5:])  # its wake-up brings the relay back from a 10 s wait at once
        await until(lambda: _empty(db), "the rows written while it waited", timeout=3.0)
    finally:
        await relay.stop()
    assert sorted(producer.values(), key=int) == [payload for _, _, payload in rows]
    partitions = list(range(3))
    by_partition: dict[int, list[bytes]] = {}
    for topic, partition, records in producer.sends:
        assert topic == "bpass.t.v1"
        assert 1 <= len(records) <= 2, "batches hold what the builder accepts"
        for key, value, headers in records:
            if key is None:
                assert partition == 2, "a keyless row goes to an available partition"
            else:
                assert partition == DefaultPartitioner()(key, partitions, partitions)
            assert dict(headers)["ce_source"] == b"urn:test"
            by_partition.setdefault(partition, []).append(value)
    for values in by_partition.values():
        assert values == sorted(values, key=int), "per partition, outbox order"
    assert ids == sorted(ids)


async def _empty(db: Db) -> bool:
    return await outbox_left(db) == 0


async def test_rows_stay_in_the_outbox_until_kafka_acknowledges_them_with_two_batches_in_flight(db: Db) -> None:
    await write_outbox(db, [("bpass.t.v1", b"k", f"{i}".encode()) for i in range(8)])
    producer = RecordingProducer(hold=True)
    relay = await running_relay(db, producer, relay_batch_size=1)
    try:
        await until(lambda: len(producer.sends) >= 3, "three batches handed over")
        await asyncio.sleep(0.2)
        assert len(producer.sends) == 3, "the relay waits for the oldest batch once two more are in flight"
        assert await outbox_left(db) == 8, "nothing is marked before Kafka acknowledges it"
        producer.acks[0].set_result(None)
        await until(lambda: len(producer.sends) >= 4, "the next batch")
        await until(lambda: _left(db, 7), "the acknowledged row deleted")
        producer.hold = False
        producer.release()
        await until(lambda: _empty(db), "every row")
        assert producer.values() == [f"{i}".encode() for i in range(8)]
    finally:
        await relay.stop()


async def _left(db: Db, n: int) -> bool:
    return await outbox_left(db) == n


async def test_a_row_kafka_refuses_is_set_aside_with_the_error_and_the_rows_behind_it_go_on(db: Db) -> None:
    big = b"b" * (LARGE_MESSAGE_BYTES + 1)
    huge = b"h" * (2 * LARGE_MESSAGE_BYTES + 1)
    ids = await write_outbox(
        db, [("bpass.t.v1", b"k", b"first"), ("bpass.t.v1", b"k", big), ("bpass.t.v1", b"k", huge)]
    )
    await write_outbox(db, [("bpass.t.v1", b"k", b"behind")])
    producer = RecordingProducer()
    relay = await running_relay(db, producer, relay_batch_size=10)
    try:
        await until(lambda: _empty(db), "the outbox emptied")
    finally:
        await relay.stop()
    assert producer.values() == [b"first", big, b"behind"], "a large row is sent after the batch before it"
    assert [len(records) for _, _, records in producer.sends] == [1, 1, 1]
    refused = await db.fetch("SELECT id, topic, message_key, payload, error FROM outbox_refused")
    assert [(r["id"], r["topic"], r["message_key"], r["payload"]) for r in refused] == [
        (ids[2], "bpass.t.v1", b"k", huge)
    ]
    assert refused[0]["error"].startswith("MessageSizeTooLargeError: ")
    assert relay.refused == {}


async def test_a_failed_send_is_published_again_from_the_outbox_after_a_pause_that_grows_while_it_keeps_failing(
    db: Db, pauses: Pauses, caplog: pytest.LogCaptureFixture
) -> None:
    producer = RecordingProducer()
    producer.failures = [KafkaTimeoutError(f"broker away ({n})") for n in range(5)]
    await write_outbox(db, [("bpass.t.v1", b"k", b"1")])
    caplog.set_level(logging.ERROR, logger="services.common.relay")
    failures_before = REGISTRY.get_sample_value("bpass_outbox_relay_failures_total", {"service": SERVICE}) or 0.0
    relay = await running_relay(db, producer)
    try:
        await until(lambda: _empty(db), "the row published after five failures")
        assert pauses.seconds == [2.0, 4.0, 8.0, 16.0, 30.0], (
            "2 s after a failure, doubling while it fails, 30 s at most"
        )
        pauses.now += 299.9  # a failure within five minutes of the last one: the back-off goes on
        producer.failures = [KafkaTimeoutError("away again")]
        await write_outbox(db, [("bpass.t.v1", b"k", b"2")])
        await until(lambda: _empty(db), "the next row, after one more failure")
        assert pauses.seconds[5:] == [30.0]
        pauses.now += 300  # five minutes without a failure: the back-off starts again
        producer.failures = [KafkaTimeoutError("away once more")]
        await write_outbox(db, [("bpass.t.v1", b"k", b"3")])
        await until(lambda: _empty(db), "the last row, after one more failure")
        assert pauses.seconds[6:] == [2.0]
        assert relay._task is not None
        assert relay._task.get_name() == f"outbox-relay-{SERVICE}"
    finally:
        await relay.stop()
    assert producer.values() == [b"1"] * 6 + [b"2"] * 2 + [b"3"] * 2, "sent, failed, sent again"
    assert REGISTRY.get_sample_value("bpass_outbox_relay_failures_total", {"service": SERVICE}) == failures_before + 7
    assert "outbox relay of delivery-test failed; publishing from the outbox again in 4 s" in caplog.messages


async def test_the_relay_reconnects_a_second_after_its_database_connection_is_lost(db: Db, pauses: Pauses) -> None:
    producer = RecordingProducer()
    relay = await running_relay(db, producer, relay_poll_interval_s=0.2)  # its wake-ups are lost with its connection
    try:
        await write_outbox(db, [("bpass.t.v1", b"k", b"before")])
        await until(lambda: _empty(db), "the first row")
        async with db.pool.acquire() as conn:
            killed = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                f"bpass-{SERVICE}-relay",
            )
        assert killed == 1
        await write_outbox(db, [("bpass.t.v1", b"k", b"after")])
        await until(lambda: _empty(db), "the row written after the connection was lost", timeout=6.0)
    finally:
        await relay.stop()
    assert producer.values() == [b"before", b"after"]
    assert pauses.seconds == [1.0]


async def test_one_relay_per_schema_publishes_the_others_stand_by_until_it_stops(db: Db, pauses: Pauses) -> None:
    first_producer, second_producer = RecordingProducer(), RecordingProducer()
    first = await running_relay(db, first_producer)
    await write_outbox(db, [("bpass.t.v1", b"k", b"one")])
    await until(lambda: _empty(db), "the active relay's row")
    second = await running_relay(db, second_producer)
    try:
        # Connected and refused the lock once: a slow start could otherwise find the first relay already gone.
        await until(lambda: pauses.seconds, "the stand-by's first try for the lock")
        await write_outbox(db, [("bpass.t.v1", b"k", b"two")])
        await until(lambda: _empty(db), "the second row")
        assert second_producer.sends == []
        await first.stop()
        await write_outbox(db, [("bpass.t.v1", b"k", b"three")])
        await until(lambda: _empty(db), "the stand-by taking over", timeout=6.0)
    finally:
        await first.stop()
        await second.stop()
    assert first_producer.values() == [b"one", b"two"]
    assert second_producer.values() == [b"three"]
    assert pauses.seconds
    assert set(pauses.seconds) == {2.0}, "a stand-by tries for the lock every 2 s"


async def test_each_published_row_gets_a_producer_span_in_the_trace_that_wrote_it(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(relay_module, "tracer", provider.get_tracer("test"))
    writer = provider.get_tracer("writer").start_span("write")
    token = otel_context.attach(trace.set_span_in_context(writer))
    try:
        await write_outbox(db, [("bpass.t.v1", b"k", b"traced")])
    finally:
        otel_context.detach(token)
        writer.end()
    exporter.clear()
    producer = RecordingProducer(hold=True)
    relay = await running_relay(db, producer)
    try:
        await until(lambda: producer.sends, "the send")
        assert exporter.get_finished_spans() == (), "the span ends once Kafka acknowledged the row"
        producer.release()
        await until(lambda: _empty(db), "the row")
    finally:
        await relay.stop()
    (span,) = exporter.get_finished_spans()
    assert span.name == "bpass.t.v1 publish"
    assert span.kind is SpanKind.PRODUCER
    assert span.parent is not None
    assert (span.context.trace_id, span.parent.span_id) == (writer.context.trace_id, writer.context.span_id)
    ce_id = dict(producer.sends[0][2][0][2])["ce_id"].decode()
    assert dict(span.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation": "publish",
        "messaging.destination.name": "bpass.t.v1",
        "messaging.message.id": ce_id,
        "bpass.service": SERVICE,
    }
    sent_traceparent = dict(producer.sends[0][2][0][2])["traceparent"].decode()
    sent = span.context
    assert sent_traceparent == f"00-{sent.trace_id:032x}-{sent.span_id:016x}-{sent.trace_flags:02x}"
