"""A consumer of several topics: each handler once per batch, with the records of every topic it handles, handlers in
the declared order."""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from contracts import topics
from contracts.custody import HandlerRegistryChanged
from contracts.envelope import Envelope
from services.common.collector import CollectorPause
from services.common.messaging import build_consumer
from services.common.outbox import Outbox
from services.common.routing import Routes
from services.common.settings import Settings
from services.common.unit_of_work import Inbound, UnitOfWork
from services.reporting.app import build_spec

SETTINGS = Settings(topic_namespace="t1.")


def item(topic: topics.Topic, offset: int) -> Inbound[Any]:
    record: ConsumerRecord[Any, Any] = ConsumerRecord(
        SETTINGS.topic(topic.name), 0, offset, 0, 0, b"k", b"{}", None, 1, 2, []
    )
    envelope = Envelope(
        id=f"e{offset}", source="urn:test", type=topic.payload.event_type, subject="k", time=datetime.now(UTC)
    )
    return Inbound(record, envelope, payload=None)


async def test_each_handler_gets_its_topics_records_in_one_call_in_the_order_read() -> None:
    calls: list[tuple[str, list[int]]] = []

    def handler(name: str) -> Any:
        async def handle(uow: UnitOfWork, items: list[Inbound[Any]]) -> None:
            calls.append((name, [i.record.offset for i in items]))

        return handle

    class Facts:
        async def project(self, uow: UnitOfWork, items: list[Inbound[Any]]) -> None:
            calls.append(("facts", [i.record.offset for i in items]))

    facts, data = Facts(), handler("data")
    routes = Routes(
        SETTINGS,
        [
            (topics.PASSPORT_MINTED, facts.project),  # a bound method per route, as a service's spec makes them
            (topics.CUSTODY_RECORDED, facts.project),
            (topics.IN_SERVICE_DATA, data),
            (topics.PASSPORT_AMENDED, handler("amended")),
        ],
    )
    batch = [
        item(topics.IN_SERVICE_DATA, 9),
        item(topics.CUSTODY_RECORDED, 7),
        item(topics.PASSPORT_MINTED, 3),
        item(topics.CUSTODY_RECORDED, 8),
        item(topics.PASSPORT_MINTED, 4),
    ]
    uow = UnitOfWork(None, Outbox("urn:test"), "reporting", SETTINGS, "rejected")  # type: ignore[arg-type]
    await routes.dispatch(uow, batch)
    # one call for both of facts' topics, in the order read; handlers in the order of their first route; no call
    # for a handler without records
    assert calls == [("facts", [7, 3, 8, 4]), ("data", [9])]
    assert routes.name == ",".join(t.name for t in (topics.PASSPORT_MINTED, topics.CUSTODY_RECORDED,
                                                      topics.IN_SERVICE_DATA, topics.PASSPORT_AMENDED))  # fmt: skip


async def test_a_consumer_of_one_topic_hands_it_the_batch_as_it_came() -> None:
    seen: list[list[int]] = []

    async def handle(uow: UnitOfWork, items: list[Inbound[Any]]) -> None:
        seen.append([i.record.offset for i in items])

    routes = Routes(SETTINGS, [(topics.CUSTODY_RECORDED, handle)])
    uow = UnitOfWork(None, Outbox("urn:test"), "custody", SETTINGS, "rejected")  # type: ignore[arg-type]
    await routes.dispatch(uow, [item(topics.CUSTODY_RECORDED, 2), item(topics.CUSTODY_RECORDED, 1)])
    assert seen == [[2, 1]]


async def test_reporting_reads_every_fact_topic_with_one_co_partitioned_consumer() -> None:
    spec = build_spec(SETTINGS)
    [subscriptions] = spec.consumer_groups()
    assert subscriptions == spec.subscriptions
    # every fact topic the read model folds has one handler: a batch is projected in one call
    folded = [s for s in spec.subscriptions if s.topic.payload is not HandlerRegistryChanged]
    assert len(folded) == 8
    assert len({s.apply for s in folded}) == 1
    # the range assignor gives a member the same partition numbers of every topic: one passport's facts of all
    # topics (keyed by passport id, same partition count) reach one process
    consumer = build_consumer(SETTINGS, "reporting", co_partitioned=len(subscriptions) > 1)
    try:
        assert consumer._partition_assignment_strategy == (RangePartitionAssignor,)
    finally:
        await consumer.stop()  # never started: closes its client
    assert len({s.topic.partitions for s in spec.subscriptions}) == 1
    assert spec.consumer_max_records == SETTINGS.projection_max_records


def test_the_collector_is_paused_while_any_batch_is_in_flight_and_resumes_after_the_last() -> None:
    pause = CollectorPause()
    assert gc.isenabled()
    try:
        with pause:
            assert not gc.isenabled()
            with pause:  # a second consumer's batch overlaps the first
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled()
        gc.disable()  # paused by someone else: left as it is
        with pause:
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_batches_that_overlap_for_ever_still_collect_the_youngest_generation(monkeypatch: Any) -> None:
    pause = CollectorPause()
    monkeypatch.setattr(CollectorPause, "SAFETY_VALVE", 100)
    collected: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda generation=2: collected.append(generation) or 0)
    try:
        with pause:
            with pause:
                garbage = [[i] for i in range(1_000)]  # noqa: F841 - containers the collector counts
            assert collected == [0]
    finally:
        gc.enable()
