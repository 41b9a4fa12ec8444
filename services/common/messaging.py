"""Kafka clients every service builds the same way: the relay's producer (safe settings, Kafka's partitioner in C),
the subscriptions' consumers, topic creation (replication by `topic_replication`, one rule). Connection and security
options come from `Settings.kafka_client_options` alone."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import TopicAlreadyExistsError
from murmurhash2 import murmurhash2 as _murmurhash2

from services.common.settings import Settings

log = logging.getLogger(__name__)

# aiokafka defaults to acks=1 and no idempotence: a leader failover can lose or duplicate a record.
SAFE_PRODUCER_SETTINGS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "max_batch_size": 256 * 1024,
    "request_timeout_ms": 30_000,
}


_KAFKA_MURMUR2_SEED = 0x9747B28C


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), the value aiokafka's `partitioner.murmur2`
    computes: MurmurHash2 (32-bit) seeded with 0x9747B28C, in C (the `murmurhash2` wheel), ~15x faster than in
    Python (tests/unit/test_hot_path_equivalence.py holds it to aiokafka's). The relay partitions every fact by
    its key; the Python hash was its largest single cost (100,000 keys: 0.85 s of a core, now 0.06 s)."""
    return _murmurhash2(data, _KAFKA_MURMUR2_SEED)


def partition_for(key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
    """aiokafka's `DefaultPartitioner` (the Java client's choice for keyed records) with the faster hash."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]


def build_producer(settings: Settings, service: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **settings.kafka_client_options(),
        client_id=f"bpass-{service}-relay",
        partitioner=partition_for,
        # The relay sends in bulk: larger record batches (still under the broker's 1 MiB message.max.bytes),
        # zstd-compressed (cramjam, level 3): JSON facts and passport states shrink several times, on the wire, in the
        # broker's log and for every subscriber; consumers decompress them transparently. (aiokafka's LZ4 is LZ4-HC,
        # level 9: five times slower for a worse ratio on these batches.)
        **(SAFE_PRODUCER_SETTINGS | {"max_batch_size": 1_000_000, "compression_type": "zstd"}),
    )


def build_consumer(settings: Settings, service: str, *, co_partitioned: bool) -> AIOKafkaConsumer:
    """A consumer of the service's group that never commits by itself (the subscriber commits after the database
    transaction); `co_partitioned`: the range assignor, which gives a member partition i of every topic."""
    return AIOKafkaConsumer(
        **settings.kafka_client_options(),
        group_id=settings.group_id(service),
        client_id=f"bpass-{service}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6_000,
        heartbeat_interval_ms=1_000,
        # Also how soon a pattern subscription finds a new partner's topics.
        metadata_max_age_ms=settings.kafka_metadata_max_age_ms,
        **({"partition_assignment_strategy": (RangePartitionAssignor,)} if co_partitioned else {}),
    )


@dataclass(frozen=True)
class TopicReplication:
    """How many copies of each partition the cluster keeps, and how many must have a record before a producer with
    acks=all is told it is written."""

    factor: int
    min_insync: int

    def configs(self) -> dict[str, str]:
        return {"min.insync.replicas": str(self.min_insync)}


def topic_replication(brokers: int) -> TopicReplication:
    """The one rule for every topic the platform creates (the registry's, the tenants' change streams, the partners'):
    one copy on one broker; three copies once there are three brokers, two of them in sync for a write to count, so
    that a broker may fail with no acknowledged record lost and no partition refusing writes. deploy/local/stack.sh
    gives the broker's own topics and the topics created on first use the same (default.replication.factor,
    min.insync.replicas)."""
    if brokers < 1:
        raise ValueError(f"kafka_brokers must be at least 1, got {brokers}")
    factor = min(brokers, 3)
    return TopicReplication(factor=factor, min_insync=2 if factor >= 3 else 1)


def new_topic(settings: Settings, name: str, partitions: int, configs: dict[str, str] | None = None) -> NewTopic:
    """A topic to create, with the cluster's replication (`topic_replication`) and `configs` of its own."""
    replication = topic_replication(settings.kafka_brokers)
    return NewTopic(
        name=name,
        num_partitions=partitions,
        replication_factor=replication.factor,
        topic_configs=replication.configs() | (configs or {}),
    )


# Topic-creation refusals worth another try: the cluster is still forming (fewer live brokers than the replication
# factor asks for), or the controller moved or timed out. Anything else (bad configuration, no authorisation) is final.
RETRIABLE_CREATE_ERRORS = frozenset({7, 38, 41})  # REQUEST_TIMED_OUT, INVALID_REPLICATION_FACTOR, NOT_CONTROLLER
TOPIC_ALREADY_EXISTS = TopicAlreadyExistsError.errno
# Not this principal's to create (a deployment whose topic operator creates the registry's topics, or a topic this
# principal may not even describe): the service goes on, and its producer or consumer says so if the topic is missing.
TOPIC_AUTHORIZATION_FAILED = 29


async def ensure_topics(
    settings: Settings, names: Iterable[tuple[str, int]], *, tries: int = 30, pause_s: float = 2.0
) -> None:
    """Create the topics a service reads or writes, if missing (idempotent). The broker answers each topic with an
    error code rather than an exception: one that exists already (another instance made it between list and create)
    is fine, a retriable refusal is tried again, any other refusal fails the start with the topic and the reason."""
    wanted: dict[str, int] = {}
    for name, partitions in names:  # once each: the broker refuses a request naming a topic twice
        wanted.setdefault(name, partitions)
    admin = AIOKafkaAdminClient(**settings.kafka_client_options(), request_timeout_ms=15_000)
    await admin.start()
    try:
        for attempt in range(1, tries + 1):
            existing = set(await admin.list_topics())
            missing = [new_topic(settings, name, n) for name, n in wanted.items() if name not in existing]
            if not missing:
                return
            try:
                response = await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                continue
            refused = [
                (error[0], error[1], error[2] if len(error) > 2 else None)
                for error in getattr(response, "topic_errors", [])
                if error[1] not in (0, TOPIC_ALREADY_EXISTS)
            ]
            not_ours = [topic for topic, code, _ in refused if code == TOPIC_AUTHORIZATION_FAILED]
            if not_ours:
                log.warning("not authorised to create topics %s: left to whoever administers them", not_ours)
                refused = [r for r in refused if r[1] != TOPIC_AUTHORIZATION_FAILED]
            if not refused:
                log.info("created or found topics %s", [t.name for t in missing])
                return
            if any(code not in RETRIABLE_CREATE_ERRORS for _, code, _ in refused) or attempt == tries:
                raise RuntimeError(f"the broker refused to create topics (topic, error code, message): {refused}")
            log.warning(
                "topic creation refused, trying again in %s s (attempt %d of %d): %s", pause_s, attempt, tries, refused
            )
            await asyncio.sleep(pause_s)
    finally:
        await admin.close()


async def delete_topics(settings: Settings, prefixes: Iterable[str]) -> list[str]:
    """Delete every topic whose name starts with one of `prefixes` (topic namespaces of test sessions and benchmark
    runs, which must not pile up partitions on a broker); the names deleted."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options(), request_timeout_ms=30_000)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(tuple(prefixes))]
        for start in range(0, len(names), 200):  # a request of bounded size
            await admin.delete_topics(names[start : start + 200])
        return names
    finally:
        await admin.close()


async def stop_quietly(consumer: Any) -> None:
    """Stop an aiokafka consumer; its internal coordinator task can surface a stray CancelledError on stop,
    which is swallowed unless this task itself is being cancelled."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
