"""A batch that was not applied is not committed: every partition it read from is rewound to its first record of the
batch, so Kafka redelivers all of it and nothing is skipped."""

from __future__ import annotations

from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError

from services.common.subscriber import rewind


def record(topic: str, partition: int, offset: int) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(topic, partition, offset, 0, 0, b"k", b"{}", None, 1, 2, [])


class SeekingConsumer:
    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.seeks: dict[TopicPartition, int] = {}

    def seek(self, partition: TopicPartition, offset: int) -> None:
        if partition not in self.assigned:
            raise IllegalStateError(f"{partition} is not assigned")
        self.seeks[partition] = offset


def test_each_partition_of_a_failed_batch_is_rewound_to_its_earliest_record() -> None:
    a0, a1, b0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)
    consumer = SeekingConsumer({a0, a1, b0})
    batch = [record("a", 0, 12), record("b", 0, 7), record("a", 0, 10), record("a", 1, 3), record("a", 0, 11)]
    rewind(consumer, batch)  # type: ignore[arg-type]
    assert consumer.seeks == {a0: 10, a1: 3, b0: 7}


def test_a_partition_revoked_meanwhile_is_left_to_its_new_owner() -> None:
    a0, a1 = TopicPartition("a", 0), TopicPartition("a", 1)
    consumer = SeekingConsumer({a1})
    rewind(consumer, [record("a", 0, 5), record("a", 1, 9)])  # type: ignore[arg-type]
    assert consumer.seeks == {a1: 9}
    assert a0 not in consumer.seeks
