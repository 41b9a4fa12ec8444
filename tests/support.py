"""Helpers for integration and e2e tests: talking to the real Kafka, PostgreSQL and services."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.base import Message
from contracts.envelope import Envelope
from contracts.topics import Topic
from services.common.messaging import stop_quietly
from services.common.settings import REPO_ROOT, Settings

T = TypeVar("T")

# Topic namespaces this test session made (its own and those of tests that run services in one of their own):
# their topics are deleted when the session ends (conftest), so that repeated runs do not pile up topics.
NAMESPACES: list[str] = []


def namespace(name: str) -> str:
    """A topic namespace of this session, `<name>.`: its topics are deleted when the session ends."""
    NAMESPACES.append(f"{name}.")
    return f"{name}."


async def eventually(check: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, what: str = "") -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}; last value {last!r}")


def cloudevent_headers(
    message: Message, *, source: str, subject: str | None = None, event_id: str | None = None
) -> list[tuple[str, bytes]]:
    return Envelope(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=message.event_type,
        subject=subject,
        time=datetime.now(UTC),
    ).to_headers()


async def publish(
    settings: Settings, topic: str, value: bytes, *, key: str | None, headers: list[tuple[str, bytes]]
) -> None:
    producer = AIOKafkaProducer(**settings.kafka_client_options(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topic(topic), value=value, key=key.encode() if key else None, headers=headers
        )
    finally:
        await producer.stop()


async def read_topic(settings: Settings, topic: str, *, physical: bool = False, timeout: float = 5.0) -> list[Any]:
    """Every record currently on a topic (from the beginning), read without a consumer group."""
    name = topic if physical else settings.topic(topic)
    consumer = AIOKafkaConsumer(**settings.kafka_client_options(), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(name)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(name) or set()
        tps = [TopicPartition(name, p) for p in partitions]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in tps}
            if all(positions[tp] >= end[tp] for tp in tps):
                break
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                records.extend(recs)
        return records
    finally:
        await stop_quietly(consumer)


def headers_of(record: Any) -> dict[str, str]:
    """A record's headers as text; bytes that are not UTF-8 (some tests publish such headers) are replaced."""
    return {k: v.decode("utf-8", "replace") for k, v in (record.headers or [])}


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **extra_env: str) -> None:
        env = {**os.environ, **self.env, **extra_env}
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", f"services.{self.name}"],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )

    async def wait_ready(self, timeout: float = 120.0) -> None:  # a loaded 2-core machine: imports alone took 45 s
        async with httpx.AsyncClient(timeout=2) as client:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise AssertionError(f"{self.name} exited with {self.process.returncode}: {self.tail()}")
                try:
                    response = await client.get(f"{self.base_url}/{self.name}/health/ready")
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.3)
        raise AssertionError(f"{self.name} not ready after {timeout}s: {self.tail()}")

    async def wait_exit(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} still running after {timeout}s: {self.tail()}")
            await asyncio.sleep(0.1)
        return self.process.returncode

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "<no log>"


def service_env(settings: Settings, keyring: Path) -> dict[str, str]:
    return {
        "BPASS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "BPASS_DATABASE_URL": settings.database_url,
        "BPASS_REDIS_URL": settings.redis_url,
        "BPASS_TOPIC_NAMESPACE": settings.topic_namespace,
        "BPASS_API_KEYS_FILE": str(keyring),
        "BPASS_PUBLIC_BASE_URL": settings.public_base_url,
    }


def dump(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


async def send_fact(settings: Settings, topic: Topic, fact: Message, key: str) -> None:
    """Publish a fact as the service that owns its topic would (CloudEvents headers, keyed by passport id)."""
    await publish(
        settings,
        topic.name,
        fact.model_dump_json().encode(),
        key=key,
        headers=cloudevent_headers(fact, source=f"urn:bpass:service:{topic.owner}", subject=key),
    )


async def entitled_reader(
    settings: Settings,
    db: Any,
    handler_id: str,
    roles: list[str],
    *,
    state: str = "verified",
    version: int = 1,
) -> None:
    """Make reporting know `handler_id` as a registered handler with `roles` in `state` (the registry fact custody
    publishes), and wait until it does: value-chain operators read the legitimate-interest tier only so."""
    from contracts import topics
    from contracts.custody import HandlerChange, HandlerRecord, HandlerRegistryChanged

    now = datetime.now(UTC)
    record = HandlerRecord.model_validate(
        {
            "handler_id": handler_id,
            "name": f"{handler_id} Ltd",
            "roles": roles,
            "state": state,
            "version": version,
            "updated_at": now,
        }
    )
    change = {"verified": HandlerChange.verified, "suspended": HandlerChange.suspended}.get(state)
    fact = HandlerRegistryChanged(
        change=change or HandlerChange.registered, handler=record, changed_at=now, changed_by="test"
    )
    await send_fact(settings, topics.CUSTODY_HANDLER_REGISTRY, fact, handler_id)

    async def known() -> bool:
        row = await db.fetchrow(
            "SELECT state, version FROM reporting.handler_registry WHERE handler_id = $1", handler_id
        )
        return row is not None and row["version"] >= version

    await eventually(known, what=f"reporting to learn handler {handler_id}")


EXAMPLE_GTIN_PREFIX = "9506000"  # the GS1 company prefix of bpass.examples.EXAMPLE_GTIN
_operator_keys: dict[Path, str] = {}


async def verified_gtin_prefix(
    identity_url: str, keys_file: Path, tenant: str, prefix: str = EXAMPLE_GTIN_PREFIX, *, shared: bool = True
) -> None:
    """Have the platform operator verify a GS1 company prefix for `tenant` on the identity at `identity_url`, so that
    it mints passports naming GTINs under it (the example prefix is shared by every test tenant)."""
    from services.common.auth import Role, add_key

    key = _operator_keys.get(keys_file)
    if key is None:
        _, key = add_key(keys_file, tenant=None, role=Role.platform_operator)
        _operator_keys[keys_file] = key
    async with httpx.AsyncClient(base_url=identity_url, timeout=30, headers={"X-API-Key": key}) as http:
        response = await http.post(
            f"/identity/v1/tenants/{tenant}/gtin-prefixes/{prefix}/verify",
            json={"shared": shared, "reason": "test tenant"},
        )
    assert response.status_code == 200, response.text
