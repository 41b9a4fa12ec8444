"""Scheduled EPCIS webhook subscriptions against the real custody service, Kafka and PostgreSQL, delivering to a real
HTTP receiver on loopback: at each instant of a schedule the events captured since the run before go out once, in
one document; an empty run sends an empty document only with reportIfEmpty; runs missed while the service was down
are made once when it is back; two instances make each run once; a subscriber never gets another party's events."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from contracts import topics
from contracts.custody import CapturedEpcisEvent, EpcisEventsCaptured
from services.common.db import init_connection
from services.common.settings import Settings
from services.custody.subscriptions import scheduled
from services.custody.subscriptions.webhooks.signing import verify
from tests.conftest import PORT_BASE
from tests.integration.test_custody_events import Custody, custody_alone
from tests.integration.test_epcis_webhooks import (
    SERVICE_ENV,
    Party,
    Receiver,
    capture_one,
    deliveries,
    event_ids,
    handler,
    named_query,
)
from tests.support import ServiceProcess, cloudevent_headers, eventually, publish
from tests.support import service_env as support_env

EVERY_SECOND = {"second": "*"}
NEW_YEAR = {"month": "1", "dayOfMonth": "1", "hour": "0", "minute": "0"}  # not due during the test by itself


@pytest.fixture(scope="module")
def service_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SERVICE_ENV.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
async def custody(
    service_env: None, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("custody-scheduled"), PORT_BASE + 131) as running:
        yield running


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    try:
        yield found
    finally:
        server.close()


async def subscribe(
    custody: Custody, party: Party, name: str, dest: str, schedule: dict[str, str], **extra: Any
) -> dict[str, Any]:
    async with custody.http(party.key) as http:
        created = await http.post(
            f"/epcis/queries/{name}/subscriptions", json={"dest": dest, "schedule": schedule, **extra}
        )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    assert body["schedule"] == schedule
    assert "stream" not in body
    assert "signatureToken" not in body
    return body


def documents(receiver: Receiver, path: str) -> list[list[str]]:
    """The event ids of each document the receiver got at `path` (and answered 200), in order."""
    return [event_ids(r) for r in receiver.at(path, answered=200)]


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _async(value: Any) -> Any:
    return value


async def test_a_schedule_every_second_delivers_the_events_captured_between_runs_once_each(
    custody: Custody, receiver: Receiver
) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    path = f"/every-second/{uuid.uuid4().hex}"
    subscription = await subscribe(custody, party, name, receiver.url(path), EVERY_SECOND, signatureToken="tok-1")
    assert subscription["reportIfEmpty"] is False
    captured: list[str] = []
    for _ in range(3):  # three bursts, each in a run of its own or more
        for _ in range(3):
            captured.append((await capture_one(custody, party))[0])
        await asyncio.sleep(1.5)
    await eventually(
        lambda: _async(sum(map(len, documents(receiver, path))) >= len(captured)), timeout=60, what="every event"
    )
    await asyncio.sleep(2.5)  # the runs go on: nothing more comes, not even an empty document
    sent = documents(receiver, path)
    assert [e for document in sent for e in document] == captured  # each once, in capture order
    assert len(sent) >= 3  # across several runs
    assert all(sent)  # no empty document without reportIfEmpty
    first = receiver.at(path)[0]
    assert verify("tok-1", first.headers["gs1-signature"], first.body, now=time.time())
    results = first.document["epcisBody"]["queryResults"]
    assert (results["subscriptionID"], results["queryName"]) == (subscription["subscriptionID"], name)
    logged = await deliveries(custody, party, name, subscription["subscriptionID"])
    assert len(logged) == len(sent)
    instants = [_stamp(d["recordTime"]) for d in logged]
    assert instants == sorted(set(instants))  # one delivery per run, runs in order
    assert all(i.microsecond == 0 for i in instants)  # the schedule's instants, whole seconds
    assert all(d["captureID"] == f"schedule:{d['recordTime'].replace('.000Z', 'Z')}" for d in logged), logged
    assert all(d["status"] == "delivered" for d in logged)
    async with custody.http() as http:
        metrics = (await http.get("/custody/metrics")).text
    runs = {
        line.split('result="', 1)[1].split('"', 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("bpass_epcis_scheduled_runs_total{")
    }
    assert runs["events"] >= len(sent)
    assert runs["nothing"] > 0  # the runs after the last burst, with nothing to send


async def test_report_if_empty_sends_an_empty_document_at_each_run_and_without_it_nothing_is_sent(
    custody: Custody, receiver: Receiver
) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    reporting, quiet = f"/report/{uuid.uuid4().hex}", f"/quiet/{uuid.uuid4().hex}"
    every_other = {"second": "*/2"}
    subscription = await subscribe(custody, party, name, receiver.url(reporting), every_other, reportIfEmpty=True)
    assert subscription["reportIfEmpty"] is True
    await subscribe(custody, party, name, receiver.url(quiet), every_other)
    await eventually(lambda: _async(len(receiver.at(reporting)) >= 3), timeout=30, what="three empty runs")
    assert documents(receiver, reporting)[:3] == [[], [], []]
    assert receiver.at(quiet) == []
    logged = await deliveries(custody, party, name, subscription["subscriptionID"])
    instants = [_stamp(d["recordTime"]) for d in logged]
    assert all(i.second % 2 == 0 and i.microsecond == 0 for i in instants)
    assert all(later - earlier >= timedelta(seconds=2) for earlier, later in itertools.pairwise(instants))
    event_id, _ = await capture_one(custody, party)  # a run with an event still sends it
    await eventually(lambda: _async([event_id] in documents(receiver, quiet)), timeout=30, what="the quiet one's run")
    assert [event_id] in documents(receiver, reporting)


async def test_another_partys_events_never_reach_a_scheduled_subscriber(custody: Custody, receiver: Receiver) -> None:
    subscriber, stranger = await handler(custody), await handler(custody)
    name = await named_query(custody, subscriber)
    path = f"/scheduled-isolated/{uuid.uuid4().hex}"
    await subscribe(custody, subscriber, name, receiver.url(path), EVERY_SECOND)
    for _ in range(3):
        await capture_one(custody, stranger)
    own, _ = await capture_one(custody, subscriber)
    await eventually(lambda: _async(documents(receiver, path)), timeout=30, what="the subscriber's own event")
    await asyncio.sleep(2.0)
    assert [e for document in documents(receiver, path) for e in document] == [own]


async def test_the_first_run_carries_the_events_since_an_earlier_initial_record_time(
    custody: Custody, receiver: Receiver
) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    since = datetime.now(UTC) - timedelta(seconds=1)
    earlier, _ = await capture_one(custody, party)
    path = f"/initial/{uuid.uuid4().hex}"
    initial = since.isoformat().replace("+00:00", "Z")
    await subscribe(custody, party, name, receiver.url(path), EVERY_SECOND, initialRecordTime=initial)
    await eventually(lambda: _async(documents(receiver, path)), timeout=30, what="the first run")
    later, _ = await capture_one(custody, party)
    await eventually(lambda: _async(len(documents(receiver, path)) >= 2), timeout=30, what="the next run")
    await asyncio.sleep(2.0)
    assert documents(receiver, path) == [[earlier], [later]]


async def test_while_an_instance_makes_a_run_no_other_makes_it(custody: Custody, receiver: Receiver) -> None:
    """This test holds a due subscription's run open, as an instance in the middle of it would: the service's
    runner, looking every second, skips it; the run is made once, by the holder."""
    party = await handler(custody)
    name = await named_query(custody, party)
    path = f"/held/{uuid.uuid4().hex}"
    subscription = await subscribe(custody, party, name, receiver.url(path), NEW_YEAR, reportIfEmpty=True)
    key = uuid.UUID(subscription["subscriptionID"])
    conn = await asyncpg.connect(custody.settings.database_url, server_settings={"search_path": "custody,public"})
    await init_connection(conn)
    try:
        for _ in range(10):  # the service could take the run between our making it due and our claim: again
            await conn.execute(
                "UPDATE epcis_webhook_subscriptions SET next_run_at = date_trunc('second', now()) - interval '1 s' "
                "WHERE subscription_id = $1",
                key,
            )
            async with conn.transaction():
                due = await scheduled.claim(conn, [key])
                if due is None:
                    continue
                await asyncio.sleep(2.5)  # the runner looks at least twice meanwhile
                made = await custody.db.fetchval(
                    "SELECT count(*) FROM custody.epcis_webhook_deliveries WHERE subscription_id = $1 AND "
                    "record_time = $2",
                    key,
                    due["next_run_at"],
                )
                assert made == 0, "another instance made the run held here"
                run = await scheduled.run_claimed(conn, due)
            break
        else:
            pytest.fail("the run was never held here")
    finally:
        await conn.close()
    assert (run.instant, run.events, run.deliveries) == (due["next_run_at"], 0, 1)
    assert (run.next_run_at.month, run.next_run_at.day) == (1, 1)
    await eventually(lambda: _async(receiver.at(path, answered=200)), timeout=30, what="the held run's document")
    await asyncio.sleep(1.5)
    assert documents(receiver, path) == [[]]
    logged = await deliveries(custody, party, name, subscription["subscriptionID"])
    assert [_stamp(d["recordTime"]) for d in logged] == [due["next_run_at"]]


async def test_two_instances_make_each_run_once(
    custody: Custody, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    port = PORT_BASE + 132
    env = support_env(custody.settings, custody.settings.api_keys_file) | {"BPASS_CUSTODY_PORT": str(port)}
    second = ServiceProcess("custody", port, env, tmp_path_factory.mktemp("custody-scheduled-2") / "custody.log")
    second.start()
    try:
        await second.wait_ready()
        party = await handler(custody)
        name = await named_query(custody, party)
        path = f"/pair/{uuid.uuid4().hex}"
        subscription = await subscribe(custody, party, name, receiver.url(path), EVERY_SECOND)
        captured = []
        for _ in range(8):
            captured.append((await capture_one(custody, party))[0])
            await asyncio.sleep(0.5)
        await eventually(
            lambda: _async(sum(map(len, documents(receiver, path))) >= len(captured)), timeout=60, what="every event"
        )
        await asyncio.sleep(2.0)
    finally:
        second.stop()
    sent = documents(receiver, path)
    assert [e for document in sent for e in document] == captured
    logged = await deliveries(custody, party, name, subscription["subscriptionID"])
    instants = [d["recordTime"] for d in logged]
    assert len(instants) == len(set(instants))  # one delivery per run
    assert len(logged) == len(sent) >= 4  # runs spread over the captures, each sent once
    assert all(d["status"] == "delivered" for d in logged)


async def test_runs_missed_while_the_service_was_down_are_made_once_when_it_is_back(
    custody: Custody, receiver: Receiver
) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    path = f"/missed/{uuid.uuid4().hex}"
    subscription = await subscribe(custody, party, name, receiver.url(path), EVERY_SECOND, reportIfEmpty=True)
    before, _ = await capture_one(custody, party)
    await eventually(lambda: _async([before] in documents(receiver, path)), timeout=30, what="a run before the stop")
    custody.process.stop()
    stopped = datetime.now(UTC)
    await asyncio.sleep(4.0)
    restarted = datetime.now(UTC)
    custody.process.start()
    await custody.process.wait_ready()
    after, _ = await capture_one(custody, party)
    await eventually(lambda: _async([after] in documents(receiver, path)), timeout=60, what="a run after the start")
    logged = await deliveries(custody, party, name, subscription["subscriptionID"])
    instants = [_stamp(d["recordTime"]) for d in logged]
    assert instants == sorted(set(instants))
    down = [i for i in instants if stopped + timedelta(seconds=1.5) < i < restarted]
    assert down == [], "a missed instant got a run of its own"
    late = [d for d in logged if _stamp(d["createdAt"]) - _stamp(d["recordTime"]) > timedelta(seconds=3)]
    assert len(late) == 1, logged  # the missed runs, made once at start, at the first missed instant
    assert _stamp(late[0]["createdAt"]) > restarted
    events = [e for document in documents(receiver, path) for e in document]
    assert events == [before, after]


async def test_a_captured_events_fact_read_again_after_its_run_sends_nothing_again(
    custody: Custody, receiver: Receiver
) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    path = f"/scheduled-again/{uuid.uuid4().hex}"
    await subscribe(custody, party, name, receiver.url(path), EVERY_SECOND)
    event_id, job = await capture_one(custody, party)
    await eventually(lambda: _async(documents(receiver, path)), timeout=30, what="the run carrying the event")
    fact = EpcisEventsCaptured(
        capture_id=job["captureID"],
        record_time=datetime.now(UTC),
        events=[
            CapturedEpcisEvent(event_hash=job["events"][0]["eventHash"], event_id=event_id, event_type="ObjectEvent")
        ],
    )
    for _ in range(2):  # the same capture's fact again, as other messages (past the inbox)
        await publish(
            custody.settings,
            topics.CUSTODY_EPCIS_EVENTS_CAPTURED.name,
            fact.model_dump_json().encode(),
            key=job["captureID"],
            headers=cloudevent_headers(fact, source="urn:bpass:service:custody", subject=job["captureID"]),
        )
    marker, _ = await capture_one(custody, party)  # its fact comes after those (another partition, maybe)
    await eventually(lambda: _async([marker] in documents(receiver, path)), timeout=30, what="the next capture's run")
    await asyncio.sleep(2.0)
    assert [e for document in documents(receiver, path) for e in document] == [event_id, marker]
