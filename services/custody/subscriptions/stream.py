"""EPCIS 2.0 query subscriptions over WebSocket (REST binding: `GET /epcis/queries/{name}/events` with
`Upgrade: websocket` and `stream=true`): each capture's events the named query matches and the subscriber sees,
sent as an `EPCISQueryDocument` on the socket as soon as the capture is committed.

Fed from Kafka, never by polling the database: every instance reads the whole of
`bpass.custody.epcis-events-captured.v1` by partition assignment (no consumer group, from the latest offset) and
hands each fact to its own sockets. A socket's sender reads the events of those facts from the query index with the
subscriber's visibility (`matching_rows`), so what a socket receives is what `GET /epcis/queries/{name}/events`
would answer it. The consumer never waits for a socket: each has a bounded queue of facts, and a socket whose queue
is full (a client that does not read) is closed with 1013 (try again later) and the reason `slow_subscriber`.

`initialRecordTime`: the socket is registered for live facts first, then the events recorded since that time are
read from the index (by keyset, in record-time order) and sent, then the live facts queued meanwhile; an event is
sent once per socket (the hashes sent are remembered), so there is no gap and no duplicate between the two.
`reportIfEmpty=true`: an empty document when that first read finds nothing; never for a live capture the
subscriber sees nothing of (that would tell it another party captured something). With a schedule (`second`,
`minute`, ... instead of `stream=true`) the socket gets one document per run instead (`scheduled_stream.py`). The
route and its refusals: `stream_api.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from fastapi import WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from contracts import topics
from contracts.custody import EpcisEventsCaptured
from services.common.auth import Principal
from services.common.runtime import Runtime
from services.custody.domain.epcis.query import EventQuery
from services.custody.query import named
from services.custody.query.store import Cursor
from services.custody.query.usecases import matching_rows, query_context, recorded_since
from services.custody.subscriptions.schedule import Schedule
from services.custody.subscriptions.scheduled_stream import RunTooLarge, send_scheduled

log = logging.getLogger(__name__)

BACKFILL_CHUNK: Final = 500  # events per document while catching up from initialRecordTime
REMEMBERED_HASHES: Final = 100_000  # per socket: what was sent, so that a fact redelivered sends nothing again
SEND_TIMEOUT_S: Final = 30.0
CLOSE_TIMEOUT_S: Final = 2.0
# A slow socket's close frame goes out after what its client has not read yet (the server writes nothing while the
# connection's buffer is full): wait that long for the client to read up to it, then drop the connection.
SLOW_CLOSE_TIMEOUT_S: Final = 60.0
SLOW_SUBSCRIBER: Final = 1013  # RFC 6455 "try again later"
QUERY_DELETED: Final = 4404  # application code: the named query was deleted (the binding: forcibly unsubscribed)


class SlowSubscriber(Exception):
    """The socket's queue of facts is full: its client reads slower than events are captured."""


class StreamSubscription:
    """One WebSocket subscribed to a named query: its subscriber, its query, its queue of facts, what it sent."""

    def __init__(
        self,
        websocket: WebSocket,
        principal: Principal,
        query: named.NamedQuery,
        event_query: EventQuery,
        initial_record_time: datetime | None,
        report_if_empty: bool,
        queue_facts: int,
        schedule: Schedule | None = None,
    ) -> None:
        self.websocket = websocket
        self.principal = principal
        self.query = query
        self.event_query = event_query
        self.initial_record_time = initial_record_time
        self.report_if_empty = report_if_empty
        self.schedule = schedule  # None: each capture as it comes; else one document per run (scheduled_stream)
        self.subscription_id = str(uuid.uuid4())
        self.facts: asyncio.Queue[EpcisEventsCaptured] = asyncio.Queue(queue_facts)
        self.sent: OrderedDict[str, None] = OrderedDict()
        self.overflowed = asyncio.Event()

    def offer(self, fact: EpcisEventsCaptured) -> None:
        """Queue a fact for the sender; never waits (the consumer serves every socket of the instance)."""
        try:
            self.facts.put_nowait(fact)
        except asyncio.QueueFull:
            self.overflowed.set()

    def remember(self, event_hash: str) -> bool:
        """True the first time an event is sent on this socket."""
        if event_hash in self.sent:
            return False
        self.sent[event_hash] = None
        if len(self.sent) > REMEMBERED_HASHES:
            self.sent.popitem(last=False)
        return True

    def document(self, rows: list[Any]) -> dict[str, Any]:
        return {
            "@context": query_context([r["context"] for r in rows]),
            "type": "EPCISQueryDocument",
            "schemaVersion": "2.0",
            "creationDate": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "epcisBody": {
                "queryResults": {
                    "queryName": "SimpleEventQuery",
                    "subscriptionID": self.subscription_id,
                    "resultsBody": {"eventList": [r["event"] for r in rows]},
                }
            },
        }


class StreamHub:
    """This instance's WebSocket subscriptions and the Kafka reader that feeds them."""

    def __init__(self) -> None:
        self.subscriptions: set[StreamSubscription] = set()
        self._ready = asyncio.Event()
        self._runtime: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the EPCIS subscription hub is not started")
        return self._runtime

    async def start(self, runtime: Runtime) -> None:
        """on_start hook: start reading the captured-events topic whole, from its end."""
        self._runtime = runtime
        runtime.background.append(asyncio.create_task(self._consume(), name="epcis-stream-subscriptions"))
        await asyncio.wait_for(self._ready.wait(), 60)

    async def _consume(self) -> None:
        runtime = self.runtime
        settings = runtime.settings
        name = settings.topic(topics.CUSTODY_EPCIS_EVENTS_CAPTURED.name)
        resume: dict[Any, int] = {}  # partition -> next offset, kept across reconnections: no fact is skipped
        while True:
            consumer = AIOKafkaConsumer(
                **settings.kafka_client_options(),
                group_id=None,
                client_id=f"bpass-{runtime.name}-epcis-streams",
                enable_auto_commit=False,
                auto_offset_reset="latest",
                fetch_max_wait_ms=100,
            )
            try:
                await consumer.start()
                consumer.subscribe([name])  # without a group: every partition, assigned to this consumer alone
                while not consumer.assignment():
                    await asyncio.sleep(0.05)
                assigned = sorted(consumer.assignment())
                for tp in assigned:  # resolve the end now: a fact published after start is never skipped
                    if tp in resume:
                        consumer.seek(tp, resume[tp])
                    else:
                        resume[tp] = await consumer.position(tp)
                self._ready.set()
                log.info("EPCIS stream subscriptions read %s (%d partitions) from its end", name, len(assigned))
                while True:
                    batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                    for records in batches.values():
                        for record in records:
                            self._dispatch(record.value)
                            resume[tp_of(record)] = record.offset + 1
            except asyncio.CancelledError:
                raise
            except KafkaError as exc:  # the broker went away: read on from where this left off once it is back
                log.warning("EPCIS stream subscriptions lost Kafka (%r); reconnecting", exc)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(KafkaError, asyncio.CancelledError):
                    await consumer.stop()

    def _dispatch(self, value: bytes | None) -> None:
        try:
            fact = EpcisEventsCaptured.model_validate_json(value or b"")
        except ValidationError as exc:  # a record this version cannot read: nothing to send of it
            log.warning("unreadable captured-events fact skipped: %s", exc)
            return
        for subscription in list(self.subscriptions):
            subscription.offer(fact)

    async def serve(self, subscription: StreamSubscription) -> None:
        """Deliver to an accepted socket until it closes, its query is deleted, or it falls behind."""
        self.subscriptions.add(subscription)  # live facts queue from now on: before the backfill reads
        sender = asyncio.create_task(self._send(subscription), name=f"epcis-stream-{subscription.subscription_id}")
        receiver = asyncio.create_task(_drain(subscription.websocket))
        overflow = asyncio.create_task(subscription.overflowed.wait())
        code, reason, wait_s = 1000, "subscription ended", CLOSE_TIMEOUT_S
        try:
            done, _ = await asyncio.wait({sender, receiver, overflow}, return_when=asyncio.FIRST_COMPLETED)
            if overflow in done:
                code, reason = (
                    SLOW_SUBSCRIBER,
                    f"slow_subscriber: more than {subscription.facts.maxsize} captures waiting",
                )
                wait_s = SLOW_CLOSE_TIMEOUT_S
                log.warning("EPCIS stream %s closed: %s", subscription.subscription_id, reason)
            elif sender in done and isinstance(sender.exception(), RunTooLarge):
                code, reason = SLOW_SUBSCRIBER, f"run_too_large: {sender.exception()}"
                log.warning("EPCIS stream %s closed: %s", subscription.subscription_id, reason)
            elif sender in done and sender.exception() is None:
                code, reason = QUERY_DELETED, "query_deleted: the named query was deleted"
            elif sender in done:
                code, reason = 1011, "delivery failed"
                log.error("EPCIS stream %s failed", subscription.subscription_id, exc_info=sender.exception())
        finally:
            self.subscriptions.discard(subscription)
            for task in (sender, receiver, overflow):
                task.cancel()
            for task in (sender, receiver, overflow):
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, OSError, RuntimeError):
                    await task
        if subscription.websocket.client_state is WebSocketState.CONNECTED and not receiver_done(receiver):
            with contextlib.suppress(asyncio.TimeoutError, WebSocketDisconnect, OSError, RuntimeError):
                await asyncio.wait_for(subscription.websocket.close(code, reason), wait_s)

    async def _send(self, subscription: StreamSubscription) -> None:
        """Backfill from initialRecordTime, then each queued fact's matching events, once each. Returns when the
        named query is gone."""
        pool = self.runtime.platform_pool
        if subscription.schedule is not None:
            await send_scheduled(pool, subscription)
            return
        if subscription.initial_record_time is not None:
            await self._backfill(pool, subscription)
        while True:
            facts = [await subscription.facts.get()]
            while not subscription.facts.empty():  # a client behind by several captures gets them in one read
                facts.append(subscription.facts.get_nowait())
            if await named.find(pool, subscription.query.owner, subscription.query.name) is None:
                return
            hashes = [e.event_hash for fact in facts for e in fact.events]
            rows = await matching_rows(pool, subscription.event_query, subscription.principal, hashes)
            start = subscription.initial_record_time
            fresh = [r for r in rows if (start is None or r["record_time"] >= start) and subscription.remember(
                r["event_hash"]
            )]  # fmt: skip
            if fresh:
                await _send_json(subscription.websocket, subscription.document(fresh))

    async def _backfill(self, pool: asyncpg.Pool, subscription: StreamSubscription) -> None:
        assert subscription.initial_record_time is not None
        cursor = Cursor(subscription.initial_record_time, 0)
        sent_any = False
        while True:
            rows = await recorded_since(pool, subscription.event_query, subscription.principal, cursor, BACKFILL_CHUNK)
            fresh = [r for r in rows if subscription.remember(r["event_hash"])]
            if fresh:
                await _send_json(subscription.websocket, subscription.document(fresh))
                sent_any = True
            if len(rows) < BACKFILL_CHUNK:
                break
            cursor = Cursor(rows[-1]["record_time"], rows[-1]["seq"])
        if not sent_any and subscription.report_if_empty:
            await _send_json(subscription.websocket, subscription.document([]))


def tp_of(record: Any) -> Any:
    return TopicPartition(record.topic, record.partition)


def receiver_done(task: asyncio.Task[None]) -> bool:
    """The client closed the socket (the receiver returned): nothing to close."""
    return task.done() and not task.cancelled() and task.exception() is None


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it closes: a subscription is one-way."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _send_json(websocket: WebSocket, document: dict[str, Any]) -> None:
    await asyncio.wait_for(websocket.send_text(json.dumps(document, separators=(",", ":"))), SEND_TIMEOUT_S)


__all__ = ["QUERY_DELETED", "SLOW_SUBSCRIBER", "StreamHub", "StreamSubscription"]
