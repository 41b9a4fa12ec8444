"""How the consumer groups of a topic namespace keep up: each partition's committed offset against its end, sampled
once a second, while brokers, service instances and PostgreSQL fail under them.

A partition is *stalled* while it holds records its group has not committed and its committed offset does not move;
the longest such stretch of any partition is the figure the failure tests bound."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.common.messaging import stop_quietly
from services.common.settings import Settings

SAMPLE_TIMEOUT_S = 8.0

GroupPartition = tuple[str, TopicPartition]


@dataclass(frozen=True)
class Sample:
    at: float
    committed: dict[GroupPartition, int]
    ends: dict[TopicPartition, int]

    def lag(self) -> dict[GroupPartition, int]:
        return {
            (group, tp): self.ends[tp] - offset
            for (group, tp), offset in self.committed.items()
            if tp in self.ends and self.ends[tp] > offset
        }

    def moved_on_since(self, before: Sample) -> list[GroupPartition]:
        """The partitions that have NOT moved on since `before`: neither committed further nor caught up."""
        behind = []
        for key, then in before.committed.items():
            now = self.committed.get(key)
            end = self.ends.get(key[1])
            if now is None or end is None or (now <= then and now < end):
                behind.append(key)
        return behind


@dataclass
class Stall:
    since: float
    offset: int


@dataclass
class Progress:
    """Samples every group whose id starts with the namespace, in the background (`run`)."""

    settings: Settings
    interval_s: float = 1.0
    last: Sample | None = None
    longest_stall_s: float = 0.0
    longest_stall_at: str = ""
    failed_samples: int = 0
    _stalls: dict[GroupPartition, Stall] = field(default_factory=dict)

    async def run(self) -> None:
        admin = AIOKafkaAdminClient(**self.settings.kafka_client_options(), request_timeout_ms=5_000)
        consumer = AIOKafkaConsumer(**self.settings.kafka_client_options(), request_timeout_ms=5_000)
        await admin.start()
        await consumer.start()
        try:
            while True:
                try:
                    sample = await asyncio.wait_for(self._sample(admin, consumer), SAMPLE_TIMEOUT_S)
                except (TimeoutError, KafkaError, OSError):
                    # A broker just died: a sample that cannot be taken is no progress (stalls keep growing).
                    self.failed_samples += 1
                    self._measure(None)
                else:
                    self.last = sample
                    self._measure(sample)
                await asyncio.sleep(self.interval_s)
        finally:
            await stop_quietly(consumer)
            with contextlib.suppress(KafkaError, OSError):
                await admin.close()

    async def sample(self) -> Sample:
        """A sample taken now (not waiting for the next one in the background)."""
        admin = AIOKafkaAdminClient(**self.settings.kafka_client_options(), request_timeout_ms=5_000)
        consumer = AIOKafkaConsumer(**self.settings.kafka_client_options(), request_timeout_ms=5_000)
        await admin.start()
        await consumer.start()
        try:
            return await asyncio.wait_for(self._sample(admin, consumer), SAMPLE_TIMEOUT_S)
        finally:
            await stop_quietly(consumer)
            await admin.close()

    async def _sample(self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> Sample:
        namespace = self.settings.topic_namespace
        groups = sorted(g for g, _ in await admin.list_consumer_groups() if g.startswith(namespace))
        committed: dict[GroupPartition, int] = {}
        for group in groups:
            for tp, meta in (await admin.list_consumer_group_offsets(group)).items():
                if tp.topic.startswith(namespace) and meta.offset >= 0:
                    committed[(group, tp)] = meta.offset
        partitions = sorted({tp for _, tp in committed})
        ends: dict[TopicPartition, int] = dict(await consumer.end_offsets(partitions)) if partitions else {}
        return Sample(time.monotonic(), committed, ends)

    def _measure(self, sample: Sample | None) -> None:
        now = time.monotonic()
        if sample is not None:
            lagging = sample.lag()
            for key in list(self._stalls):
                if key not in lagging:
                    del self._stalls[key]  # caught up
            for key in lagging:
                offset = sample.committed[key]
                stall = self._stalls.get(key)
                if stall is None or stall.offset != offset:
                    self._stalls[key] = Stall(now, offset)  # behind, but moving (or newly behind)
        for (group, tp), stall in self._stalls.items():
            if now - stall.since > self.longest_stall_s:
                self.longest_stall_s = now - stall.since
                self.longest_stall_at = f"{group} {tp.topic}[{tp.partition}]"

    async def wait_moved_on(self, before: Sample, *, timeout: float, what: str) -> Sample:
        """Every partition of `before` has committed further or caught up, in a later sample."""
        deadline = time.monotonic() + timeout
        behind: list[GroupPartition] = list(before.committed)
        while time.monotonic() < deadline:
            sample = self.last
            if sample is not None and sample.at > before.at:
                behind = sample.moved_on_since(before)
                if not behind:
                    return sample
            await asyncio.sleep(0.5)
        shown = ", ".join(f"{g} {tp.topic}[{tp.partition}]" for g, tp in behind[:8])
        raise AssertionError(f"{what}: after {timeout:.0f}s these partitions had not moved on: {shown}")

    async def wait_drained(self, *, timeout: float) -> Sample:
        """Every group has committed every partition to its end (no consumer lag left)."""
        deadline = time.monotonic() + timeout
        lag: dict[GroupPartition, int] = {}
        while time.monotonic() < deadline:
            sample = self.last
            if sample is not None:
                lag = sample.lag()
                if not lag:
                    return sample
            await asyncio.sleep(0.5)
        shown = ", ".join(f"{g} {tp.topic}[{tp.partition}]: {n}" for (g, tp), n in list(lag.items())[:8])
        raise AssertionError(f"consumer lag did not drain in {timeout:.0f}s: {shown}")
