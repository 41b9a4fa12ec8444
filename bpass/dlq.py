"""Dead letters: list, show and replay what a service could not process after its bounded tries."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.topics import dead_letter_topic
from services.common.messaging import SAFE_PRODUCER_SETTINGS, stop_quietly
from services.common.settings import Settings

DLQ_PREFIX = "bpass_dlq_"


@dataclass(frozen=True)
class DeadLetter:
    dlq_id: str
    service: str
    original_topic: str
    original_partition: int
    original_offset: int
    error_type: str
    error: str
    ce_id: str | None
    ce_type: str | None
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v) for k, v in self.headers if not k.startswith(DLQ_PREFIX)]


def _from_record(record: Any) -> DeadLetter:
    h = {k: v.decode("utf-8", "replace") for k, v in (record.headers or [])}
    return DeadLetter(
        dlq_id=h.get("bpass_dlq_id", f"{record.partition}:{record.offset}"),
        service=h.get("bpass_dlq_service", "?"),
        original_topic=h.get("bpass_dlq_original_topic", "?"),
        original_partition=int(h.get("bpass_dlq_original_partition", "-1")),
        original_offset=int(h.get("bpass_dlq_original_offset", "-1")),
        error_type=h.get("bpass_dlq_error_type", "?"),
        error=h.get("bpass_dlq_error", ""),
        ce_id=h.get("ce_id"),
        ce_type=h.get("ce_type"),
        key=record.key,
        value=record.value or b"",
        headers=list(record.headers or []),
    )


async def read_dead_letters(settings: Settings, service: str, timeout_s: float = 10.0) -> list[DeadLetter]:
    topic = settings.topic(dead_letter_topic(service))
    consumer = AIOKafkaConsumer(**settings.kafka_client_options(), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()  # a fresh client may not know the topic yet
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        letters: list[DeadLetter] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in tps}
            if all(positions[tp] >= end[tp] for tp in tps):
                break
            for records in (await consumer.getmany(timeout_ms=500)).values():
                letters.extend(_from_record(r) for r in records)
        return letters
    finally:
        await stop_quietly(consumer)


async def replay(settings: Settings, letters: list[DeadLetter]) -> int:
    """Publish each letter's original message to its original topic; consumers' inboxes keep it once."""
    producer = AIOKafkaProducer(**settings.kafka_client_options(), **SAFE_PRODUCER_SETTINGS)
    await producer.start()
    try:
        for letter in letters:
            await producer.send_and_wait(
                letter.original_topic, value=letter.value, key=letter.key, headers=letter.original_headers
            )
    finally:
        await producer.stop()
    return len(letters)
