"""What the effectively-once tests read: a consumer group's committed offsets, a service's duplicate count, an inbox
row, and values that have stopped changing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from services.common.messaging import stop_quietly
from services.common.settings import Settings
from tests.support import ServiceProcess

T = TypeVar("T")


async def committed_offsets_reach_end(settings: Settings, group: str, topic: str) -> bool:
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    consumer = AIOKafkaConsumer(**settings.kafka_client_options())
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()  # a fresh consumer may not know the topic yet
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return False
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        return all(committed.get(tp) is not None and committed[tp].offset >= end for tp, end in ends.items())
    finally:
        await stop_quietly(consumer)
        await admin.close()


async def duplicates_counted(service: ServiceProcess, topic: str) -> float:
    """What the service's consumer counted as duplicates on `topic` (registry name) since it started: messages its
    inbox had seen before, from its Prometheus endpoint."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{service.base_url}/{service.name}/metrics")
    response.raise_for_status()
    total = 0.0
    for line in response.text.splitlines():
        if line.startswith("bpass_messages_in_total{") and 'outcome="duplicate"' in line and f'topic="{topic}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def inbox_row(conn: asyncpg.Connection, schema: str, dedup_key: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT dedup_key, kafka_offset, outcome, processed_at FROM {schema}.inbox WHERE dedup_key = $1",
            dedup_key,
        )
    )


async def quiet(check: Callable[[], Awaitable[T]], *, seconds: float = 3.0) -> T:
    """The value `check` settles on: the same twice, `seconds` apart (bounded: at most 10 tries)."""
    before = await check()
    for _ in range(10):
        await asyncio.sleep(seconds)
        after = await check()
        if after == before:
            return after
        before = after
    raise AssertionError(f"still changing after {10 * seconds}s: {before!r}")


async def when(check: Callable[[], Awaitable[T]], condition: Callable[[T], bool]) -> T | None:
    found = await check()
    return found if condition(found) else None
