"""The composition every service shares: settings, pools, Redis, subscriptions, outbox relay; `serve` runs it
behind the service's HTTP app (`http_app.py`).

A service declares a `ServiceSpec` (its topics, handlers, routes, migrations); `Runtime` wires it the same way
in production, in `make run` and in the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import redis.asyncio as aioredis
import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import APIRouter, FastAPI

from contracts.envelope import service_source
from contracts.topics import Topic, TopicKind, dead_letter_topic, partner_topic_pattern
from services.common import metrics
from services.common.asyncapi import asyncapi_yaml
from services.common.auth import Keyring
from services.common.collector import tune_for_consumers
from services.common.db import (
    PLATFORM,
    DbConnection,
    create_pool,
    current_scope,
    migrate,
    pending_migrations,
    set_scope,
)
from services.common.http_app import http_app
from services.common.logs import setup_logging
from services.common.messaging import build_producer, ensure_topics
from services.common.outbox import Outbox
from services.common.relay import OutboxRelay
from services.common.settings import Settings
from services.common.subscriber import Subscriber
from services.common.tracing import setup_tracing
from services.common.unit_of_work import ApplyBatch

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Subscription:
    topic: Topic
    apply: ApplyBatch[Any]
    description: str


@dataclass
class ServiceSpec:
    name: str
    description: str
    migrations: Path
    rejected_topic: Topic
    subscriptions: list[Subscription] = field(default_factory=list)
    publishes: list[Topic] = field(default_factory=list)
    routers: list[APIRouter] = field(default_factory=list)
    # Topics every instance reads whole, by partition assignment without a consumer group (each instance fans the
    # records out to its own clients: EPCIS WebSocket subscriptions); the consumer is started by an on_start hook.
    fanout_reads: list[Topic] = field(default_factory=list)
    on_start: list[Callable[[Runtime], Awaitable[None]]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # set on `app.state` for the routes
    # One Kafka consumer per process for every subscription (their topics co-partitioned: same partition count,
    # keyed alike): a batch mixes topics and is applied in one transaction, and the range assignor gives each
    # process the same partitions of every topic, so one key's facts of all topics meet in one process. False: a
    # consumer per subscription.
    one_consumer: bool = False
    consumer_max_records: int | None = None  # records per consumed batch; None: Settings.consumer_max_records

    def consumer_groups(self) -> list[list[Subscription]]:
        """The subscriptions each Kafka consumer of the process reads."""
        if self.one_consumer and self.subscriptions:
            return [list(self.subscriptions)]
        return [[subscription] for subscription in self.subscriptions]


class Runtime:
    def __init__(self, spec: ServiceSpec, settings: Settings | None = None) -> None:
        self.spec = spec
        self.settings = settings or Settings()
        self.name = spec.name
        self.tracer_provider = setup_tracing(
            spec.name,
            self.settings.otel_endpoint,
            sample_ratio=self.settings.otel_sample_ratio,
            exporter=self.settings.otel_exporter,
        )
        self._pool: asyncpg.Pool | None = None  # bpass_app: row-level security, the caller's tenant
        self._platform_pool: asyncpg.Pool | None = None  # bpass_platform: consumers, jobs, cross-tenant callers
        self._redis: aioredis.Redis | None = None
        self._producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.keyring = Keyring(self.settings.api_keys_file)
        self.subscribers: list[Subscriber] = []
        self.background: list[asyncio.Task[None]] = []
        topic = self.settings.topic
        metrics.initialise(
            self.name,
            consumed=[(s.topic.name, topic(s.topic.name), s.topic.partitions) for s in spec.subscriptions],
            batches=[",".join(s.topic.name for s in group) for group in spec.consumer_groups()],
            published=[topic(t.name) for t in spec.publishes],
        )

    @property
    def pool(self) -> asyncpg.Pool:
        """The pool for the current task's scope (`db.tenant_scope`): a tenant's principal gets connections of
        the application role confined to its tenant; platform work gets the platform role's."""
        return self.platform_pool if current_scope() == PLATFORM else self.tenant_pool

    @property
    def tenant_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the database pool is not started")
        return self._pool

    @property
    def platform_pool(self) -> asyncpg.Pool:
        if self._platform_pool is None:
            raise RuntimeError("the database pool is not started")
        return self._platform_pool

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise RuntimeError("the Redis client is not started")
        return self._redis

    def http_app(self) -> FastAPI:
        return http_app(self)

    def asyncapi_yaml(self) -> str:
        return asyncapi_yaml(self.spec, self.settings)

    def subscriber(self, subscriptions: list[Subscription]) -> Subscriber:
        """The subscriber of `subscriptions`, with every partner's own form of its inbound topics
        (`bpass.partner.<partner>.…`, contracts/topics.py), read by pattern in the same consumer group."""
        inbound = [s.topic for s in subscriptions if s.topic.kind is TopicKind.inbound]
        return Subscriber(
            service=self.name,
            settings=self.settings,
            pool=self.platform_pool,
            routes=[(s.topic, s.apply) for s in subscriptions],
            rejected_topic=self.spec.rejected_topic.name,
            max_records=self.spec.consumer_max_records or self.settings.consumer_max_records,
            partner_pattern=partner_topic_pattern(self.settings.topic_namespace, inbound) if inbound else None,
        )

    def topics_to_ensure(self) -> list[tuple[str, int]]:
        topics = [t for t in self.spec.publishes] + [s.topic for s in self.spec.subscriptions]
        names = {(self.settings.topic(t.name), t.partitions) for t in topics}
        names.add((self.settings.topic(dead_letter_topic(self.name)), 3))
        names.add((self.settings.topic(self.spec.rejected_topic.name), 3))
        return sorted(names)

    async def start(self) -> None:
        settings = self.settings
        applied = await migrate(settings.database_url, self.name, self.spec.migrations)
        if applied:
            log.info("migrations applied: %s", ", ".join(applied))
        # Everything started from here (consumers, relay, jobs) works for the whole platform; HTTP requests
        # set their own scope from their principal (auth.optional_principal).
        set_scope(PLATFORM)
        self._pool = await create_pool(settings.app_dsn(), self.name, max_size=10, tenant_bound=True)
        self._platform_pool = await create_pool(settings.platform_dsn(), self.name, max_size=10)
        self._redis = aioredis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
        await self._wait_for_kafka()
        self._producer = build_producer(settings, self.name)
        await self._producer.start()
        self.relay = OutboxRelay(service=self.name, schema=self.name, settings=settings, producer=self._producer)
        await self.relay.start()
        for subscriptions in self.spec.consumer_groups():
            subscriber = self.subscriber(subscriptions)
            self.subscribers.append(subscriber)
            await subscriber.start()
        for hook in self.spec.on_start:
            await hook(self)
        self.background.append(asyncio.create_task(self._measure_lag(), name="consumer-lag"))
        tune_for_consumers()
        log.info("%s started", self.name)

    async def run_with_outbox(self, work: Callable[[DbConnection, Outbox], Awaitable[T]]) -> T:
        """Run `work` in one transaction whose outbox rows are flushed before the commit (HTTP entry points)."""
        outbox = Outbox(service_source(self.name))
        async with self.pool.acquire() as conn, conn.transaction():
            result = await work(conn, outbox)
            await outbox.flush(conn)
        return result

    async def _measure_lag(self, interval_s: float = 5.0) -> None:
        """Consumer lag per partition (high watermark minus position), for /metrics."""
        while True:
            await asyncio.sleep(interval_s)
            for consumer in (consumer for subscriber in self.subscribers for consumer in subscriber.consumers):
                for tp in consumer.assignment():
                    highwater = consumer.highwater(tp)
                    if highwater is None:
                        continue
                    try:
                        position = await asyncio.wait_for(consumer.position(tp), 2)
                    except (TimeoutError, KafkaError, AssertionError):
                        continue
                    metrics.CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(
                        max(0, highwater - position)
                    )

    async def _wait_for_kafka(self, timeout_s: float = 90.0) -> None:
        """Kafka may still be starting (or restarting): wait for it, saying so, rather than exit at once."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            try:
                await ensure_topics(self.settings, self.topics_to_ensure())
                return
            except KafkaError as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(
                        f"Kafka at {self.settings.kafka_bootstrap} is unreachable after {timeout_s:.0f}s: "
                        "start it with `make stack` or set BPASS_KAFKA_BOOTSTRAP"
                    ) from exc
                log.warning("waiting for Kafka at %s (%r)", self.settings.kafka_bootstrap, exc)
                await asyncio.sleep(2.0)

    async def stop(self) -> None:
        for task in self.background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for subscriber in self.subscribers:
            await subscriber.stop()
        if self.relay:
            await self.relay.stop()
        if self._producer is not None:
            await self._producer.stop()
        if self._redis is not None:
            await self._redis.aclose()
        for pool in (self._pool, self._platform_pool):
            if pool is not None:
                await pool.close()

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.tenant_pool.fetchval("SELECT 1"), 2)
            pending = await pending_migrations(self.platform_pool, self.name, self.spec.migrations)
            checks["database"] = "ok" if not pending else f"pending migrations: {', '.join(pending)}"
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError, RuntimeError) as exc:
            checks["database"] = f"unreachable: {exc!r}"
        try:
            await asyncio.wait_for(self.redis.ping(), 2)
            checks["cache"] = "ok"
        except (TimeoutError, OSError, aioredis.RedisError, RuntimeError) as exc:
            checks["cache"] = f"unreachable: {exc!r}"
        checks["broker"] = await self._broker_check()
        return checks

    async def _broker_check(self) -> str:
        """The broker answers a metadata request of the relay's producer (the topics it publishes to)."""
        if self._producer is None:
            return "unreachable: not started"
        try:
            updated = await asyncio.wait_for(self._producer.client.force_metadata_update(), 2)
        except (TimeoutError, OSError, KafkaError) as exc:
            return f"unreachable: {exc!r}"
        return "ok" if updated else "unreachable"


def serve(spec_factory: Callable[[Settings], ServiceSpec]) -> None:
    """Process entry point of a service."""
    settings = Settings()
    spec = spec_factory(settings)
    setup_logging(spec.name)
    runtime = Runtime(spec, settings)
    uvicorn.run(
        http_app(runtime),
        host=settings.http_host,
        port=settings.port_of(spec.name),
        log_config=None,  # uvicorn keeps to setup_logging's JSON lines
        access_log=True,  # a line per request, with its trace id
        timeout_graceful_shutdown=10,
        proxy_headers=True,
        forwarded_allow_ips=settings.gateway_addresses,  # uvicorn's default trusts X-Forwarded-For from 127.0.0.1
    )
