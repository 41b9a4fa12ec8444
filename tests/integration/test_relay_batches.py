"""The outbox relay sends rows as record batches per partition: same partitions as the producer's own choice
(Kafka's murmur2 of the key), per-key order, headers and payloads as written, large rows too."""

from __future__ import annotations

import random
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner

from services.common.messaging import build_producer, ensure_topics, stop_quietly
from services.common.relay import LARGE_MESSAGE_BYTES, OutboxRelay
from services.common.settings import Settings


async def test_relay_batches_keep_partition_order_and_content(settings: Settings) -> None:
    small = f"{settings.topic_namespace}relay-{uuid.uuid4().hex[:8]}"
    wide = f"{small}-wide"
    await ensure_topics(settings, [(small, 3), (wide, 6)])
    rng = random.Random(7)
    keys: list[bytes | None] = [f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}".encode() for _ in range(40)]
    keys.append(None)
    rows: list[dict[str, Any]] = []
    for index in range(3000):
        size = LARGE_MESSAGE_BYTES + 10 if index in (5, 1500) else rng.randint(10, 4000)
        rows.append(
            {
                "id": index,
                "topic": rng.choice([small, wide]),
                "message_key": rng.choice(keys),
                "headers": [["ce_id", str(index)], ["ce_type", "t"]],
                "payload": f"{index}|".encode() + b"x" * size,
            }
        )
    producer = build_producer(settings, "relay-test")
    await producer.start()
    try:
        relay = OutboxRelay(service="relay-test", schema="relay_test", settings=settings, producer=producer)
        for start in range(0, len(rows), 1000):
            await (await relay._send(rows[start : start + 1000]))  # type: ignore[arg-type]
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        small, wide, **settings.kafka_client_options(), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    received: list[tuple[int, Any]] = []
    try:
        while len(received) < len(rows):
            batch = await consumer.getmany(timeout_ms=5000)
            if not batch:
                break
            received += [(tp.partition, record) for tp, records in batch.items() for record in records]
    finally:
        await stop_quietly(consumer)
    assert len(received) == len(rows)
    last: dict[tuple[str, bytes], int] = {}
    for partition, record in received:
        row = rows[int(record.value.split(b"|", 1)[0])]
        assert (record.topic, record.key, record.value) == (row["topic"], row["message_key"], row["payload"])
        assert list(record.headers) == [(name, value.encode()) for name, value in row["headers"]]
        if record.key is not None:
            count = 3 if record.topic == small else 6
            assert partition == DefaultPartitioner()(record.key, list(range(count)), list(range(count)))
            assert row["id"] > last.get((record.topic, record.key), -1), "per-key order is the outbox order"
            last[(record.topic, record.key)] = row["id"]
