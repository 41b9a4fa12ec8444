"""Scheduled EPCIS query subscriptions over WebSocket against a real custody instance (PostgreSQL, Kafka): the schedule
in the upgrade request's query string, one document per run with the events captured since the run before (each
once, none of another party's), empty documents only with reportIfEmpty, the first run carrying the events since
initialRecordTime, and a schedule that is not valid refused at the handshake naming its field."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from services.common.settings import Settings
from tests.conftest import PORT_BASE
from tests.integration.test_custody_events import Custody, custody_alone
from tests.integration.test_epcis_websocket import (
    event_list,
    events,
    named_query,
    nothing_more,
    party,
    post_capture,
    receive,
    refused,
    subscribe,
)


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("custody-scheduled-ws"), PORT_BASE + 133) as running:
        yield running


async def test_a_scheduled_socket_gets_one_document_per_run_with_the_events_since_the_run_before(
    custody: Custody,
) -> None:
    key, stranger = await party(custody), await party(custody)
    name = await named_query(custody.url, key, {"eventType": ["ObjectEvent"]})
    batches = [events(3) for _ in range(3)]
    expected = [e["eventID"] for batch in batches for e in batch]
    received: list[list[str]] = []
    arrivals: list[float] = []
    async with subscribe(custody.url, key, name, params={"second": "*/2"}) as ws:

        async def capture() -> None:
            for batch in batches:
                await post_capture(custody.url, stranger, events(2))  # never sent to this subscriber
                await post_capture(custody.url, key, batch)
                await asyncio.sleep(2.2)

        writer = asyncio.create_task(capture())
        while sum(map(len, received)) < len(expected):
            received.append([e["eventID"] for e in event_list(await receive(ws, timeout=30))])
            arrivals.append(time.monotonic())
        await writer
        await nothing_more(ws, 2.5)  # the runs go on, nothing to send: no empty document
    assert [e for document in received for e in document] == expected  # each once, in capture order
    assert len(received) >= 2
    assert all(received)
    assert all(b - a > 1.0 for a, b in itertools.pairwise(arrivals))  # one document per run


async def test_report_if_empty_sends_an_empty_document_per_run_and_without_it_nothing_is_sent(
    custody: Custody,
) -> None:
    key = await party(custody)
    name = await named_query(custody.url, key, {"eventType": ["ObjectEvent"]})
    async with subscribe(custody.url, key, name, params={"second": "*", "reportIfEmpty": "true"}) as ws:
        assert [event_list(await receive(ws, timeout=10)) for _ in range(2)] == [[], []]
    async with subscribe(custody.url, key, name, params={"second": "*"}) as ws:
        await nothing_more(ws, 2.5)


async def test_the_first_run_carries_the_events_since_initial_record_time(custody: Custody) -> None:
    key = await party(custody)
    name = await named_query(custody.url, key, {"eventType": ["ObjectEvent"]})
    await post_capture(custody.url, key, events(2))  # recorded before initialRecordTime: never sent
    start: datetime = await custody.db.fetchval("SELECT clock_timestamp()")
    earlier = events(2)
    await post_capture(custody.url, key, earlier)
    params = {"second": "*/2", "initialRecordTime": start.isoformat()}
    async with subscribe(custody.url, key, name, params=params) as ws:
        first = [e["eventID"] for e in event_list(await receive(ws, timeout=10))]
        later = events(1)
        await post_capture(custody.url, key, later)
        second = [e["eventID"] for e in event_list(await receive(ws, timeout=10))]
        await nothing_more(ws, 2.5)
    assert first == [e["eventID"] for e in earlier]
    assert second == [later[0]["eventID"]]


@pytest.mark.parametrize(
    ("params", "reason", "field"),
    [
        ({"second": "60"}, "schedule_value_out_of_range", "second"),
        ({"minute": "[30-10]"}, "invalid_schedule_range", "minute"),
        ({"dayOfMonth": "31", "month": "2"}, "schedule_never_runs", "schedule"),
        ({"second": "*", "stream": "true"}, "stream_and_schedule", "stream"),
        ({"second": "*", "second ": "1"}, "parameter_not_for_subscription", "second "),
    ],
)
async def test_a_schedule_that_is_not_valid_is_refused_at_the_handshake(
    custody: Custody, params: dict[str, str], reason: str, field: str
) -> None:
    key = await party(custody)
    name = await named_query(custody.url, key, {"eventType": ["ObjectEvent"]})
    status, problem = await refused(custody.url, key, name, params)
    assert status == 400
    assert (problem["reason"], problem["field"]) == (reason, field), problem
