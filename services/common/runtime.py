"""The composition every service shares: settings, pool, broker + consumers, outbox relay, Redis, HTTP app.

A service declares a `ServiceSpec` (its topics, handlers, routes, migrations); `Runtime` wires it the same way
in production, in `make run` and in the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

import asyncpg
import redis.asyncio as aioredis
import uvicorn
import yaml
from aiokafka import ConsumerRecord
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy
from faststream.specification import AsyncAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from contracts.topics import Topic, TopicKind, dead_letter_topic, partner_topic_pattern
from services.common import metrics
from services.common.auth import Keyring
from services.common.consumer import BatchHandler, Consumer
from services.common.db import (
    PLATFORM,
    DbConnection,
    create_pool,
    current_scope,
    migrate,
    pending_migrations,
    set_scope,
)
from services.common.jsonpolicy import JsonPolicyMiddleware
from services.common.messaging import build_broker, build_producer, ensure_topics
from services.common.outbox import Outbox
from services.common.problems import COMMON_RESPONSES, install_error_handlers
from services.common.relay import OutboxRelay
from services.common.settings import Settings
from services.common.telemetry import setup_logging, setup_telemetry

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Subscription:
    topic: Topic
    handler: BatchHandler[Any]
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
    on_start: list[Callable[[Runtime], Awaitable[None]]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # set on `app.state` for the routes
    # One Kafka consumer per process for every subscription (their topics co-partitioned: same partition count,
    # keyed alike): a batch mixes topics and is applied in one transaction, and the range assignor gives each
    # process the same partitions of every topic, so one key's facts of all topics meet in one process. False: a
    # consumer per subscription.
    one_consumer: bool = False
    consumer_max_records: int | None = None  # records per consumed batch; None: Settings.consumer_max_records


def decodable_headers(record: ConsumerRecord[Any, Any]) -> ConsumerRecord[Any, Any]:
    """A copy of the record whose header values all decode as UTF-8 (undecodable bytes replaced)."""
    headers = [(name, value.decode("utf-8", "replace").encode()) for name, value in record.headers or ()]
    return dataclasses.replace(record, headers=headers)


class Runtime:
    def __init__(self, spec: ServiceSpec, settings: Settings | None = None) -> None:
        self.spec = spec
        self.settings = settings or Settings()
        self.name = spec.name
        self.tracer_provider = setup_telemetry(spec.name, self.settings.otel_endpoint)
        self.broker: KafkaBroker = build_broker(self.settings, spec.name, self.tracer_provider)
        self._pool: asyncpg.Pool | None = None  # bpass_app: row-level security, the caller's tenant
        self._platform_pool: asyncpg.Pool | None = None  # bpass_platform: consumers, jobs, cross-tenant callers
        self._redis: aioredis.Redis | None = None
        self.relay: OutboxRelay | None = None
        self.keyring = Keyring(self.settings.api_keys_file)
        self.consumers: list[Consumer] = []
        self.background: list[asyncio.Task[None]] = []
        self._consumer_slots: list[tuple[list[Subscription], list[Consumer]]] = []
        self._producer: Any = None
        if spec.one_consumer and spec.subscriptions:
            self._subscribe(self.broker, spec.subscriptions)
        else:
            for subscription in spec.subscriptions:
                self._subscribe(self.broker, [subscription])

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

    def _subscribe(self, broker: KafkaBroker, subscriptions: list[Subscription]) -> None:
        """One FastStream subscriber (one Kafka consumer) for `subscriptions`, applied by one `Consumer`."""
        consumer_holder: list[Consumer] = []

        async def on_messages(body: KafkaMessage) -> None:
            records = body.raw_message if isinstance(body.raw_message, tuple) else (body.raw_message,)
            await consumer_holder[0].consume(records)

        # The annotation only documents the payload in the AsyncAPI document; decoding is the consumer's job.
        payloads = tuple(s.topic.payload for s in subscriptions)
        body: Any = payloads[0] if len(payloads) == 1 else Union[payloads]  # noqa: UP007 - a union built at runtime
        on_messages.__annotations__["body"] = list.__class_getitem__(body)

        async def keep_raw(message: KafkaMessage, original_decoder: Any = None) -> KafkaMessage:
            return message

        async def tolerant_parse(records: Any, original_parser: Any) -> KafkaMessage:
            """FastStream's batch parser decodes every header as strict UTF-8 and drops a batch it cannot (no
            rejection, no dead letter, and the good messages of that batch with it). It gets headers it can
            decode; the consumer reads the records as sent and refuses what is wrong with them."""
            try:
                message: KafkaMessage = await original_parser(records)
            except UnicodeDecodeError:
                batch = records if isinstance(records, tuple) else (records,)
                message = await original_parser(tuple(decodable_headers(record) for record in batch))
                message.raw_message = records
            return message

        options: dict[str, Any] = {}
        if len(subscriptions) > 1:  # partition i of every topic to one member: a key's facts meet in one process
            options["partition_assignment_strategy"] = (RangePartitionAssignor,)
        # Every partner's own form of the inbound topics (`bpass.partner.<partner>.…`, contracts/topics.py), read by a
        # second consumer of the same group through a pattern, and applied by the same Consumer, which binds each
        # message's source to the partner named by its topic. Not in the AsyncAPI document (a broker only described).
        inbound = [s.topic for s in subscriptions if s.topic.kind is TopicKind.inbound]
        sources: list[dict[str, Any]] = [{"topics": [self.settings.topic(s.topic.name) for s in subscriptions]}]
        if inbound and broker is self.broker:
            sources.append({"pattern": partner_topic_pattern(self.settings.topic_namespace, inbound)})
        for source in sources:
            broker.subscriber(
                *source.get("topics", ()),
                pattern=source.get("pattern"),
                group_id=self.settings.group_id(self.name),
                batch=True,
                max_records=self.spec.consumer_max_records or self.settings.consumer_max_records,
                batch_timeout_ms=50,
                auto_offset_reset="earliest",
                ack_policy=AckPolicy.NACK_ON_ERROR,
                session_timeout_ms=6_000,
                heartbeat_interval_ms=1_000,
                decoder=keep_raw,
                parser=tolerant_parse,
                title=",".join(s.topic.name for s in subscriptions)
                + (" (partner topics)" if "pattern" in source else ""),
                description=" ".join(s.description for s in subscriptions),
                **options,
            )(on_messages)
        if broker is self.broker:
            self._consumer_slots.append((subscriptions, consumer_holder))

    def asyncapi_yaml(self) -> str:
        # Documented as a subscriber per topic (each with its own payload and description), however they are
        # consumed (`ServiceSpec.one_consumer`): a broker that is never started, only described.
        documented = build_broker(self.settings, self.spec.name)
        for subscription in self.spec.subscriptions:
            self._subscribe(documented, [subscription])
        for topic in self.spec.publishes:
            documented.publisher(
                self.settings.topic(topic.name),
                schema=topic.payload,
                title=topic.name,
                description=topic.description,
            )
        spec = AsyncAPI(
            documented,
            title=f"bpass {self.name}",
            version="1",
            description=self.spec.description,
            schema_version="3.0.0",
        )
        document = spec.to_specification().to_jsonable()
        # FastStream lists channels, operations and components in the order of its own hash-keyed registries,
        # which changes with Python's hash seed: sorted by name, the committed documents change only when the
        # service does.
        for section, parent in (("channels", document), ("operations", document),
                                ("messages", document.get("components", {})),
                                ("schemas", document.get("components", {}))):  # fmt: skip
            if isinstance(parent.get(section), dict):
                parent[section] = dict(sorted(parent[section].items()))
        return yaml.dump(document, sort_keys=False)

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
        for subscriptions, holder in self._consumer_slots:
            consumer = Consumer(
                service=self.name,
                settings=settings,
                pool=self.platform_pool,
                routes=[(s.topic, s.handler) for s in subscriptions],
                rejected_topic=self.spec.rejected_topic.name,
            )
            holder.append(consumer)
            self.consumers.append(consumer)
        producer = build_producer(settings, self.name)
        await producer.start()
        self.relay = OutboxRelay(service=self.name, schema=self.name, settings=settings, producer=producer)
        self._producer = producer
        await self.relay.start()
        await self.broker.start()
        for hook in self.spec.on_start:
            await hook(self)
        self.background.append(asyncio.create_task(self._measure_lag(), name="consumer-lag"))
        # Consumers allocate many short-lived objects per message; with the default thresholds the cyclic
        # collector runs every 700 allocations and rescans everything built at start-up. Freezing that and
        # collecting less often cut reporting's Python CPU per fact by ~15 % (bench/reporting.py mix).
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        log.info("%s started", self.name)

    async def run_with_outbox(self, work: Callable[[DbConnection, Outbox], Awaitable[T]]) -> T:
        """Run `work` in one transaction whose outbox rows are flushed before the commit (HTTP entry points)."""
        outbox = Outbox(f"urn:bpass:service:{self.name}")
        async with self.pool.acquire() as conn, conn.transaction():
            result = await work(conn, outbox)
            await outbox.flush(conn)
        return result

    async def _measure_lag(self, interval_s: float = 5.0) -> None:
        """Consumer lag per partition (high watermark minus position), for /metrics."""
        while True:
            await asyncio.sleep(interval_s)
            for subscriber in self.broker.subscribers:
                consumer = getattr(subscriber, "consumer", None)
                if consumer is None:
                    continue
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
        with contextlib.suppress(Exception):
            await self.broker.stop()
        if self.relay:
            await self.relay.stop()
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
        try:
            ok = await self.broker.ping(timeout=2)
            checks["broker"] = "ok" if ok else "unreachable"
        except (TimeoutError, OSError) as exc:
            checks["broker"] = f"unreachable: {exc!r}"
        return checks

    def http_app(self) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(
            title=f"bpass {self.name}",
            description=self.spec.description,
            version="1",
            lifespan=lifespan,
            openapi_url=f"/{self.name}/openapi.json",
            docs_url=f"/{self.name}/docs",
            redoc_url=None,
        )
        app.state.runtime = self
        app.state.keyring = self.keyring
        for name, value in self.spec.state.items():
            setattr(app.state, name, value)
        install_error_handlers(app)
        app.add_middleware(JsonPolicyMiddleware)  # before any route decodes a body (services/common/jsonpolicy.py)
        service = self.name

        @app.middleware("http")
        async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            started = time.perf_counter()
            set_scope(None)  # nothing is visible until the route's principal says whose data it may touch
            response = await call_next(request)
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            metrics.HTTP_SECONDS.labels(service, request.method, path, str(response.status_code)).observe(
                time.perf_counter() - started
            )
            return response

        prefix = f"/{self.name}"

        @app.get(f"{prefix}/health/live", tags=["ops"], summary="The process is up")
        async def live() -> dict[str, str]:
            return {"status": "live", "service": self.name}

        @app.get(f"{prefix}/health/ready", tags=["ops"], summary="Broker, database and cache reachable")
        async def ready() -> JSONResponse:
            checks = await self.readiness()
            ok = all(v == "ok" for v in checks.values())
            return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks}, 200 if ok else 503)

        @app.get(f"{prefix}/metrics", tags=["ops"], summary="Prometheus metrics", response_class=PlainTextResponse)
        async def metrics_endpoint() -> PlainTextResponse:
            return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

        for router in self.spec.routers:
            app.include_router(router, responses=COMMON_RESPONSES)
        FastAPIInstrumentor.instrument_app(app, tracer_provider=self.tracer_provider)
        return app


def serve(spec_factory: Callable[[Settings], ServiceSpec]) -> None:
    """Process entry point of a service."""
    settings = Settings()
    spec = spec_factory(settings)
    setup_logging(spec.name)
    runtime = Runtime(spec, settings)
    uvicorn.run(
        runtime.http_app(),
        host=settings.http_host,
        port=settings.port_of(spec.name),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        proxy_headers=True,
        forwarded_allow_ips=settings.gateway_addresses,  # uvicorn's default trusts X-Forwarded-For from 127.0.0.1
    )
