"""A consumer of several topics: each record to its topic's handler, topics in the declared order, then what the
handlers deferred to the end of the batch (`UnitOfWork.batch`), once."""

from __future__ import annotations

import gc
import weakref
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aiokafka import ConsumerRecord
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from contracts import topics
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


async def test_each_topic_goes_to_its_handler_in_declared_order_then_the_deferred_batch_once() -> None:
    calls: list[tuple[str, list[int]]] = []
    applied: list[list[str]] = []

    async def apply(items: list[str]) -> None:
        applied.append(list(items))

    def handler(name: str) -> Any:
        async def handle(uow: UnitOfWork, items: list[Inbound[Any]]) -> None:
            calls.append((name, [i.record.offset for i in items]))
            uow.batch("projection", apply).extend(f"{name}@{i.record.offset}" for i in items)

        return handle

    routes = Routes(
        SETTINGS,
        [
            (topics.PASSPORT_MINTED, handler("minted")),
            (topics.CUSTODY_RECORDED, handler("custody")),
            (topics.IN_SERVICE_DATA, handler("data")),
        ],
    )
    batch = [
        item(topics.CUSTODY_RECORDED, 7),
        item(topics.PASSPORT_MINTED, 3),
        item(topics.CUSTODY_RECORDED, 8),
        item(topics.PASSPORT_MINTED, 4),
    ]
    uow = UnitOfWork(None, Outbox("urn:test"), "reporting", SETTINGS, "rejected")  # type: ignore[arg-type]
    await routes.dispatch(uow, batch)
    assert calls == [("minted", [3, 4]), ("custody", [7, 8])]  # no call for a topic without records
    assert applied == [["minted@3", "minted@4", "custody@7", "custody@8"]]
    assert routes.name == ",".join(t.name for t in (topics.PASSPORT_MINTED, topics.CUSTODY_RECORDED,
                                                      topics.IN_SERVICE_DATA))  # fmt: skip


async def test_a_consumer_of_one_topic_hands_it_the_batch_as_it_came() -> None:
    seen: list[list[int]] = []

    async def handle(uow: UnitOfWork, items: list[Inbound[Any]]) -> None:
        seen.append([i.record.offset for i in items])

    routes = Routes(SETTINGS, [(topics.CUSTODY_RECORDED, handle)])
    uow = UnitOfWork(None, Outbox("urn:test"), "custody", SETTINGS, "rejected")  # type: ignore[arg-type]
    await routes.dispatch(uow, [item(topics.CUSTODY_RECORDED, 2), item(topics.CUSTODY_RECORDED, 1)])
    assert seen == [[2, 1]]
    assert uow.before_flush == []


async def test_reporting_reads_every_fact_topic_with_one_co_partitioned_consumer() -> None:
    spec = build_spec(SETTINGS)
    [subscriptions] = spec.consumer_groups()
    assert subscriptions == spec.subscriptions
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


async def test_a_spent_unit_of_work_lets_reference_counting_free_its_batch() -> None:
    """A deferred batch refers back to its unit of work (`partial(apply, uow)`); once the transaction ends the
    consumer drops the hooks, so the batch's facts are freed at once instead of waiting for the cyclic collector."""

    class Fact:
        pass

    async def apply(uow: UnitOfWork, items: list[Fact]) -> None:
        del uow, items

    uow = UnitOfWork(None, Outbox("urn:test"), "reporting", SETTINGS, "rejected")  # type: ignore[arg-type]
    fact = Fact()
    alive = weakref.ref(fact)
    uow.batch("projection", partial(apply, uow)).append(fact)
    uow.before_commit.append(partial(apply, uow, [fact]))
    del fact
    gc.disable()
    try:
        for step in [*uow.before_flush, *uow.before_commit]:
            await step()
        del step
        uow.spent()
        assert (uow.before_flush, uow.before_commit) == ([], [])
        del uow
        assert alive() is None  # freed by reference counting: no collection ran
    finally:
        gc.enable()
