"""EPCIS webhook subscriptions against the real custody service, Kafka and PostgreSQL, delivering to a real HTTP
receiver on loopback: events captured through `POST /epcis/capture` reach the subscribers of a named query through
the captured-events fact, signed, retried with back-off, logged attempt by attempt, in order, once each, across a
restart, and never to a party that may not see them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest

from contracts import topics
from contracts.custody import CapturedEpcisEvent, EpcisEventsCaptured
from services.common.auth import Role
from services.common.settings import Settings
from services.custody.subscriptions.webhooks.signing import verify
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_custody_epcis import capture, document, mint_gs1, object_event
from tests.integration.test_custody_events import Custody, custody_alone, register, uid
from tests.support import ServiceProcess, cloudevent_headers, eventually, publish
from tests.support import service_env as support_env

# Where the service is told it may deliver to this machine, and retries come fast.
SERVICE_ENV = {
    "BPASS_EPCIS_WEBHOOK_ALLOW_LOCAL": "true",
    "BPASS_EPCIS_WEBHOOK_TIMEOUT_S": "1.5",
    "BPASS_EPCIS_WEBHOOK_MAX_ATTEMPTS": "4",
    "BPASS_EPCIS_WEBHOOK_BACKOFF_S": "0.2",
    "BPASS_EPCIS_WEBHOOK_BACKOFF_MAX_S": "1.0",
}
HANG = "hang"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when the request was read
    status: int | None  # what the receiver answered (None: it never did)

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers each path's scripted statuses in turn (HANG: never), then 200."""

    port: int = 0
    scripts: dict[str, list[int | str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str, answered: int | None = None) -> list[Received]:
        return [r for r in self.received if r.path == path and (answered is None or r.status == answered)]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                _, path, _ = request_line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, value = line.decode().split(":", 1)
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                script = self.scripts.get(path, [])
                action = script.pop(0) if script else 200
                record = Received(path, headers, body, time.time(), None if action == HANG else int(action))
                self.received.append(record)
                if action == HANG:
                    await asyncio.sleep(3600)
                    return
                writer.write(f"HTTP/1.1 {action} X\r\ncontent-length: 0\r\n\r\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


@pytest.fixture(scope="module")
def service_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:  # the service process inherits this environment (and on restart)
        for name, value in SERVICE_ENV.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
async def custody(
    service_env: None, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("custody-webhooks"), PORT_BASE + 67) as running:
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


@dataclass
class Party:
    handler_id: str
    key: str


async def handler(custody: Custody) -> Party:
    """A verified carrier with its key: it sees the events it captures, and only those here."""
    handler_id = uid("wh-carrier")
    await register(custody, handler_id)
    return Party(handler_id, new_key(custody.settings, Role.carrier, handler_id))


async def named_query(custody: Custody, party: Party, query: dict[str, Any] | None = None) -> str:
    name = uid("q")
    async with custody.http(party.key) as http:
        created = await http.post("/epcis/queries", json={"name": name, "query": query or {"eventType": "ObjectEvent"}})
    assert created.status_code == 201, created.text
    return name


async def subscribe(
    custody: Custody,
    party: Party,
    name: str,
    dest: str,
    token: str | None = None,
    **extra: Any,
) -> str:
    body: dict[str, Any] = {"dest": dest, "stream": True}
    if token is not None:
        body["signatureToken"] = token
    body.update(extra)
    async with custody.http(party.key) as http:
        created = await http.post(f"/epcis/queries/{name}/subscriptions", json=body)
    assert created.status_code == 201, created.text
    subscription: dict[str, Any] = created.json()
    assert created.headers["Location"] == f"/epcis/queries/{name}/subscriptions/{subscription['subscriptionID']}"
    assert "signatureToken" not in subscription
    return str(subscription["subscriptionID"])


async def capture_one(custody: Custody, party: Party) -> tuple[str, dict[str, Any]]:
    """Capture a document of one event (an EPC no passport has yet: parked, kept, queryable); its eventID and job."""
    event = object_event(uid("S")[:20])
    job = await capture(custody, party.key, document(event))
    assert job["success"] is True, job
    assert job["events"][0]["outcome"] == "parked", job["events"]
    return str(event["eventID"]), job


async def deliveries(custody: Custody, party: Party, name: str, subscription_id: str) -> list[dict[str, Any]]:
    async with custody.http(party.key) as http:
        answer = await http.get(f"/epcis/queries/{name}/subscriptions/{subscription_id}/deliveries")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["deliveries"]
    return found


def event_ids(received: Received) -> list[str]:
    return [e["eventID"] for e in received.document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]


async def test_a_captured_event_reaches_the_subscriber_signed_with_its_token(
    custody: Custody, receiver: Receiver
) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    path = f"/signed/{uuid.uuid4().hex}"
    subscription_id = await subscribe(custody, party, name, receiver.url(path), token="s3cret-token")  # noqa: S106
    event_id, job = await capture_one(custody, party)

    [delivered] = await eventually(lambda: _async(receiver.at(path)), what="the webhook delivery")
    assert delivered.headers["content-type"] == "application/json"
    assert verify("s3cret-token", delivered.headers["gs1-signature"], delivered.body, now=time.time())
    assert not verify("another-token", delivered.headers["gs1-signature"], delivered.body, now=time.time())
    results = delivered.document["epcisBody"]["queryResults"]
    assert delivered.document["type"] == "EPCISQueryDocument"
    assert results["subscriptionID"] == subscription_id
    assert results["queryName"] == name
    assert event_ids(delivered) == [event_id]

    [logged] = await eventually(lambda: deliveries(custody, party, name, subscription_id), what="the delivery log")
    assert logged["captureID"] == job["captureID"]
    assert logged["status"] == "delivered"
    assert [(a["attempt"], a["statusCode"]) for a in logged["attemptLog"]] == [(1, 200)]

    async with custody.http(party.key) as http:  # lastNotifiedAt: the last delivery answered 2xx
        shown = (await http.get(f"/epcis/queries/{name}/subscriptions/{subscription_id}")).json()
    assert shown["lastNotifiedAt"] is not None
    assert shown["stream"] is True
    assert "signatureToken" not in shown


async def test_a_captured_events_fact_read_again_adds_no_delivery(custody: Custody, receiver: Receiver) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    path = f"/again/{uuid.uuid4().hex}"
    subscription_id = await subscribe(custody, party, name, receiver.url(path))
    event_id, job = await capture_one(custody, party)
    [logged] = await eventually(lambda: deliveries(custody, party, name, subscription_id), what="the delivery")
    fact = EpcisEventsCaptured(
        capture_id=job["captureID"],
        record_time=datetime.fromisoformat(logged["recordTime"].replace("Z", "+00:00")),
        events=[
            CapturedEpcisEvent(event_hash=job["events"][0]["eventHash"], event_id=event_id, event_type="ObjectEvent")
        ],
    )
    for _ in range(2):  # the same capture's fact again, as another message (another ce_id: past the inbox)
        await publish(
            custody.settings,
            topics.CUSTODY_EPCIS_EVENTS_CAPTURED.name,
            fact.model_dump_json().encode(),
            key=job["captureID"],
            headers=cloudevent_headers(fact, source="urn:bpass:service:custody", subject=job["captureID"]),
        )
    marker, marker_job = await capture_one(custody, party)  # its fact comes after those (another partition, maybe)
    await eventually(lambda: _async(len(receiver.at(path)) >= 2), what="the next capture's delivery")
    await asyncio.sleep(1.5)
    assert [event_ids(r) for r in receiver.at(path)] == [[event_id], [marker]]
    logged_now = await deliveries(custody, party, name, subscription_id)
    assert [d["captureID"] for d in logged_now] == [job["captureID"], marker_job["captureID"]]


async def test_a_receiver_failing_three_times_gets_the_delivery_once_on_the_fourth_attempt(
    custody: Custody, receiver: Receiver
) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    path = f"/flaky/{uuid.uuid4().hex}"
    receiver.scripts[path] = [500, 502, 503]
    subscription_id = await subscribe(custody, party, name, receiver.url(path))
    event_id, _ = await capture_one(custody, party)

    async def settled() -> list[dict[str, Any]] | None:
        found = await deliveries(custody, party, name, subscription_id)
        return found if found and found[0]["status"] != "pending" else None

    [logged] = await eventually(settled, what="the delivery to be settled")
    assert logged["status"] == "delivered"
    assert logged["attempts"] == 4
    assert [(a["attempt"], a["statusCode"]) for a in logged["attemptLog"]] == [(1, 500), (2, 502), (3, 503), (4, 200)]
    gaps = [
        receiver.at(path)[i + 1].at - receiver.at(path)[i].at for i in range(3)
    ]  # back-off: 0.1-0.2 s, 0.2-0.4 s, 0.4-0.8 s
    assert all(g >= 0.09 for g in gaps), gaps
    assert len(receiver.at(path, answered=200)) == 1
    assert [event_ids(r) for r in receiver.at(path)] == [[event_id]] * 4
    assert all("gs1-signature" not in r.headers for r in receiver.at(path))  # no token, no signature


async def test_a_receiver_that_never_answers_fails_the_delivery_after_the_last_attempt_every_one_logged(
    custody: Custody, receiver: Receiver
) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    path = f"/silent/{uuid.uuid4().hex}"
    receiver.scripts[path] = [HANG] * 10
    subscription_id = await subscribe(custody, party, name, receiver.url(path))
    await capture_one(custody, party)

    async def settled() -> list[dict[str, Any]] | None:
        found = await deliveries(custody, party, name, subscription_id)
        return found if found and found[0]["status"] != "pending" else None

    [logged] = await eventually(settled, timeout=60, what="the delivery to fail")
    assert logged["status"] == "failed"
    assert logged["attempts"] == 4
    attempts = logged["attemptLog"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
    assert all(a["statusCode"] is None and a["error"].startswith("timeout after 1.5 s") for a in attempts), attempts
    assert all(1400 <= a["durationMs"] <= 5000 for a in attempts), attempts
    assert len(receiver.at(path)) == 4

    async def failed_gauge() -> float | None:  # the worker counts the undelivered deliveries every few seconds
        async with custody.http() as http:
            text = (await http.get("/custody/metrics")).text
        for line in text.splitlines():
            if line.startswith('bpass_epcis_webhook_deliveries{service="custody",status="failed"}'):
                value = float(line.rsplit(" ", 1)[1])
                return value if value >= 1 else None
        return None

    await eventually(failed_gauge, timeout=30, what="the failed deliveries gauge")


async def test_a_restart_in_the_middle_of_the_retries_loses_nothing(custody: Custody, receiver: Receiver) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    path = f"/restart/{uuid.uuid4().hex}"
    receiver.scripts[path] = [500, 500]
    subscription_id = await subscribe(custody, party, name, receiver.url(path))
    await capture_one(custody, party)
    await eventually(lambda: _async(len(receiver.at(path)) >= 1), what="a first failed attempt")
    custody.process.stop()  # mid-retry: the delivery waits for its next attempt in the database
    receiver.scripts[path] = [500]  # one more failure after the restart, then 200
    custody.process.start()
    await custody.process.wait_ready()

    async def settled() -> list[dict[str, Any]] | None:
        found = await deliveries(custody, party, name, subscription_id)
        return found if found and found[0]["status"] != "pending" else None

    [logged] = await eventually(settled, timeout=60, what="the delivery after the restart")
    assert logged["status"] == "delivered"
    numbers = [a["attempt"] for a in logged["attemptLog"]]
    assert numbers == list(range(1, len(numbers) + 1))
    assert logged["attemptLog"][-1]["statusCode"] == 200
    assert len(receiver.at(path, answered=200)) == 1
    # Every request the receiver saw is an attempt of the log (an attempt the stop interrupted is logged as such).
    answered = [a for a in logged["attemptLog"] if a["statusCode"] is not None]
    assert len(answered) == len(receiver.at(path))


async def test_a_subscriptions_deliveries_wait_for_the_one_before_them(custody: Custody, receiver: Receiver) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    path = f"/ordered/{uuid.uuid4().hex}"
    receiver.scripts[path] = [500, 500]  # the first capture's delivery fails twice
    await subscribe(custody, party, name, receiver.url(path))
    order = [(await capture_one(custody, party))[0] for _ in range(3)]
    await eventually(lambda: _async(len(receiver.at(path, answered=200)) >= 3), what="three deliveries")
    assert [(event_ids(r), r.status) for r in receiver.at(path)] == [
        ([order[0]], 500),
        ([order[0]], 500),
        ([order[0]], 200),
        ([order[1]], 200),
        ([order[2]], 200),
    ]


async def test_an_attempt_cut_off_by_a_crash_is_logged_and_the_delivery_made_after_the_restart(
    custody: Custody, receiver: Receiver
) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    path = f"/crash/{uuid.uuid4().hex}"
    receiver.scripts[path] = [HANG]
    subscription_id = await subscribe(custody, party, name, receiver.url(path))
    await capture_one(custody, party)
    await eventually(lambda: _async(receiver.at(path)), what="the attempt in flight")
    assert custody.process.process is not None
    custody.process.process.kill()  # no shutdown: the lease it took stays until it lapses
    await custody.process.wait_exit()
    custody.process.start()
    await custody.process.wait_ready()

    async def settled() -> list[dict[str, Any]] | None:
        found = await deliveries(custody, party, name, subscription_id)
        return found if found and found[0]["status"] != "pending" else None

    [logged] = await eventually(settled, timeout=60, what="the delivery once the lease lapsed")
    assert logged["status"] == "delivered"
    attempts = logged["attemptLog"]
    assert [(a["attempt"], a["statusCode"]) for a in attempts] == [(1, None), (2, 200)], attempts
    assert attempts[0]["error"].startswith("interrupted"), attempts
    assert [r.status for r in receiver.at(path)] == [None, 200]


async def test_another_partys_events_never_reach_a_subscriber(custody: Custody, receiver: Receiver) -> None:
    subscriber, stranger = await handler(custody), await handler(custody)
    name = await named_query(custody, subscriber)  # every ObjectEvent, as the subscriber sees them
    path = f"/isolated/{uuid.uuid4().hex}"
    subscription_id = await subscribe(custody, subscriber, name, receiver.url(path))
    for _ in range(3):
        await capture_one(custody, stranger)
    own_event, _ = await capture_one(custody, subscriber)
    [delivered] = await eventually(lambda: _async(receiver.at(path)), what="the subscriber's own event")
    assert event_ids(delivered) == [own_event]
    await asyncio.sleep(1.0)  # nothing else comes
    assert len(receiver.at(path)) == 1
    assert len(await deliveries(custody, subscriber, name, subscription_id)) == 1


async def test_an_oem_subscriber_gets_the_events_about_its_own_batteries_only(
    custody: Custody, receiver: Receiver
) -> None:
    oem_a, oem_b = uid("oem-a"), uid("oem-b")
    carrier_id = uid("wh-delegate")
    await register(custody, carrier_id, delegate_of=[oem_a, oem_b])  # it ships from both OEMs' plants
    carrier = Party(carrier_id, new_key(custody.settings, Role.carrier, carrier_id))
    subscriber = Party(oem_a, new_key(custody.settings, Role.oem_admin, oem_a))
    name = await named_query(custody, subscriber)
    path = f"/oem/{uuid.uuid4().hex}"
    await subscribe(custody, subscriber, name, receiver.url(path))
    (_, serial_a), (_, serial_b) = await mint_gs1(custody, oem_a), await mint_gs1(custody, oem_b)
    shipped_b, shipped_a = object_event(serial_b), object_event(serial_a)
    for event in (shipped_b, shipped_a):
        job = await capture(custody, carrier.key, document(event))
        assert job["events"][0]["outcome"] == "recorded", job["events"]
    [delivered] = await eventually(lambda: _async(receiver.at(path)), what="OEM A's battery's event")
    assert event_ids(delivered) == [shipped_a["eventID"]]
    await asyncio.sleep(1.0)
    assert len(receiver.at(path)) == 1  # OEM B's battery's event never came


async def test_a_subscription_is_its_creators_and_follows_the_binding(custody: Custody, receiver: Receiver) -> None:
    party = await handler(custody)
    colleague = Party(party.handler_id, new_key(custody.settings, Role.carrier, party.handler_id))  # same company
    name = await named_query(custody, party)
    ids = [await subscribe(custody, party, name, receiver.url(f"/own/{n}")) for n in range(3)]
    async with custody.http(party.key) as http:
        first = await http.get(f"/epcis/queries/{name}/subscriptions", params={"perPage": 2})
        assert first.status_code == 200, first.text
        assert [s["subscriptionID"] for s in first.json()] == ids[:2]
        link = first.headers["Link"]
        assert link.endswith('>; rel="next"')
        rest = await http.get(link[1 : link.index(">")])
        assert [s["subscriptionID"] for s in rest.json()] == ids[2:]
        assert "Link" not in rest.headers
        options = await http.options(f"/epcis/queries/{name}/subscriptions/{ids[0]}")
        assert options.status_code == 204
        assert options.headers["Allow"] == "GET, DELETE, OPTIONS"
        assert options.headers["GS1-EPCIS-Version"] == "2.0.0"
    async with custody.http(colleague.key) as http:  # another key sees the company's query, not the subscriptions
        assert (await http.get(f"/epcis/queries/{name}/subscriptions")).json() == []
        for path in (
            f"/epcis/queries/{name}/subscriptions/{ids[0]}",
            f"/epcis/queries/{name}/subscriptions/{ids[0]}/deliveries",
        ):
            hidden = await http.get(path)
            assert hidden.status_code == 404, hidden.text
            assert hidden.json()["type"] == "epcisException:NoSuchResourceException"
        refused = await http.delete(f"/epcis/queries/{name}/subscriptions/{ids[0]}")
        assert refused.status_code == 404
    stranger = await handler(custody)
    async with custody.http(stranger.key) as http:  # another company: the query itself is unknown to it
        unknown = await http.get(f"/epcis/queries/{name}/subscriptions/{ids[0]}")
        assert unknown.status_code == 404
        assert unknown.json()["type"] == "epcisException:NoSuchNameException"
        posted = await http.post(
            f"/epcis/queries/{name}/subscriptions", json={"dest": receiver.url("/x"), "stream": True}
        )
        assert posted.status_code == 404
    async with custody.http(party.key) as http:
        gone = await http.delete(f"/epcis/queries/{name}/subscriptions/{ids[0]}")
        assert gone.status_code == 204
        assert (await http.get(f"/epcis/queries/{name}/subscriptions/{ids[0]}")).status_code == 404
        assert (await http.get(f"/epcis/queries/{name}/subscriptions/not-a-uuid")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"dest": "https://169.254.169.254/latest/meta-data", "stream": True}, "dest", "dest_address_refused"),
        ({"dest": "http://client.example.com/hook", "stream": True}, "dest", "dest_not_https"),
        ({"dest": "https://[fe80::1]/hook", "stream": True}, "dest", "dest_address_refused"),
        (
            {"dest": "https://c.example/h", "schedule": {"hour": "24", "minute": "5"}},
            "schedule.hour",
            "schedule_value_out_of_range",
        ),
        ({"dest": "https://c.example/h"}, "stream", "stream_required"),
        ({"stream": True}, "dest", "dest_missing"),
    ],
)
async def test_a_subscription_the_platform_will_not_serve_is_refused_with_subscription_controls(
    custody: Custody, body: dict[str, Any], field: str, reason: str
) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    async with custody.http(party.key) as http:
        refused = await http.post(f"/epcis/queries/{name}/subscriptions", json=body)
    assert refused.status_code == 400, refused.text
    problem = refused.json()
    assert problem["type"] == "epcisException:SubscriptionControlsException"
    assert (problem["field"], problem["reason"]) == (field, reason), problem


async def test_a_key_holds_a_bounded_number_of_subscriptions(custody: Custody, receiver: Receiver) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    ids = await asyncio.gather(*(subscribe(custody, party, name, receiver.url(f"/many/{n}")) for n in range(100)))
    body = {"dest": receiver.url("/many/extra"), "stream": True}
    async with custody.http(party.key) as http:
        refused = await http.post(f"/epcis/queries/{name}/subscriptions", json=body)
        assert refused.status_code == 400, refused.text
        assert refused.json()["reason"] == "too_many_subscriptions"
        assert (await http.delete(f"/epcis/queries/{name}/subscriptions/{ids[0]}")).status_code == 204
        assert (await http.post(f"/epcis/queries/{name}/subscriptions", json=body)).status_code == 201


async def test_events_since_an_earlier_initial_record_time_come_first_then_the_stream(
    custody: Custody, receiver: Receiver
) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    earlier = [(await capture_one(custody, party))[0] for _ in range(2)]
    path = f"/initial/{uuid.uuid4().hex}"
    subscription_id = await subscribe(
        custody, party, name, receiver.url(path), initialRecordTime="2020-01-01T00:00:00Z"
    )
    later, _ = await capture_one(custody, party)
    await eventually(lambda: _async(len(receiver.at(path)) >= 2), what="the backfill and the stream")
    assert [event_ids(r) for r in receiver.at(path)] == [earlier, [later]]
    logged = await deliveries(custody, party, name, subscription_id)
    assert logged[0]["captureID"] == "initialRecordTime:1"


async def test_unsubscribing_during_an_attempt_drops_the_delivery_quietly(custody: Custody, receiver: Receiver) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    path = f"/unsubscribed/{uuid.uuid4().hex}"
    receiver.scripts[path] = [HANG]
    subscription_id = await subscribe(custody, party, name, receiver.url(path))
    await capture_one(custody, party)
    await eventually(lambda: _async(receiver.at(path)), what="the attempt in flight")
    async with custody.http(party.key) as http:
        assert (await http.delete(f"/epcis/queries/{name}/subscriptions/{subscription_id}")).status_code == 204
    await asyncio.sleep(2.5)  # the attempt times out (1.5 s) and finds its delivery gone
    log = custody.process.log_path.read_text(errors="replace")
    assert "ForeignKeyViolation" not in log
    assert "Task exception was never retrieved" not in log
    assert len(receiver.at(path)) == 1


async def test_deleting_the_named_query_ends_its_subscriptions(custody: Custody, receiver: Receiver) -> None:
    party = await handler(custody)
    name = await named_query(custody, party)
    path = f"/deleted/{uuid.uuid4().hex}"
    await subscribe(custody, party, name, receiver.url(path))
    async with custody.http(party.key) as http:
        assert (await http.delete(f"/epcis/queries/{name}")).status_code == 204
    assert (
        await custody.db.fetchval(
            "SELECT count(*) FROM custody.epcis_webhook_subscriptions WHERE query_name = $1", name
        )
        == 0
    )
    await capture_one(custody, party)
    await asyncio.sleep(1.5)
    assert receiver.at(path) == []


async def test_under_load_every_subscriber_gets_each_capture_once_and_in_order(
    custody: Custody, receiver: Receiver
) -> None:
    subscribers, captures = 5, 40
    party = await handler(custody)
    name = await named_query(custody, party)
    paths = [f"/load/{n}/{uuid.uuid4().hex}" for n in range(subscribers)]
    for path in paths:
        await subscribe(custody, party, name, receiver.url(path), token="load-token")  # noqa: S106
    started: dict[str, float] = {}
    order: list[str] = []
    captured: dict[str, str] = {}  # eventID -> captureID
    for _ in range(captures):
        at = time.time()
        event_id, job = await capture_one(custody, party)
        started[event_id] = at
        order.append(event_id)
        captured[event_id] = job["captureID"]
    await eventually(
        lambda: _async(all(len(receiver.at(p)) >= captures for p in paths)),
        timeout=120,
        what=f"{subscribers * captures} deliveries",
    )
    await asyncio.sleep(1.0)  # no duplicate comes late
    lags_ms: list[float] = []
    for path in paths:
        got = receiver.at(path)
        assert [event_ids(r) for r in got] == [[e] for e in order], path  # each capture once, in capture order
        assert all(verify("load-token", r.headers["gs1-signature"], r.body, now=time.time()) for r in got)
        lags_ms += [(r.at - started[event_ids(r)[0]]) * 1000 for r in got]
    # Where the time goes, from the delivery log: the capture's record time -> the delivery written by the consumer
    # (outbox relay, Kafka, fan-out) -> its first attempt (the worker) -> the answer.
    recorded_ms: list[float] = []
    fanned_ms: list[float] = []
    picked_ms: list[float] = []
    by_capture = {job_id: event_id for event_id, job_id in captured.items()}
    async with custody.http(party.key) as http:
        listed = (await http.get(f"/epcis/queries/{name}/subscriptions")).json()
    for subscription in listed:
        for delivery in await deliveries(custody, party, name, subscription["subscriptionID"]):
            assert (delivery["status"], delivery["attempts"]) == ("delivered", 1), delivery
            record, created = _epoch(delivery["recordTime"]), _epoch(delivery["createdAt"])
            recorded_ms.append((record - started[by_capture[delivery["captureID"]]]) * 1000)
            fanned_ms.append((created - record) * 1000)
            picked_ms.append((_epoch(delivery["attemptLog"][0]["attemptedAt"]) - created) * 1000)
    parts = [("capture_to_record", recorded_ms), ("record_to_fanout", fanned_ms), ("fanout_to_attempt", picked_ms)]
    for metric, values in [("lag", lags_ms), *parts]:
        print(f"RESULT epcis_webhook_{metric}_p50_ms={_percentile(values, 0.50):.0f} ms")
        print(f"RESULT epcis_webhook_{metric}_p99_ms={_percentile(values, 0.99):.0f} ms")
    print(f"RESULT epcis_webhook_deliveries={len(lags_ms)}")


async def test_two_instances_deliver_each_capture_once_and_in_order(
    custody: Custody, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A second custody process on the same database and topics: the consumers share the partitions, both workers
    claim deliveries (FOR UPDATE SKIP LOCKED), and still each subscriber gets each capture once, in order."""
    port = PORT_BASE + 68
    env = support_env(custody.settings, custody.settings.api_keys_file) | {"BPASS_CUSTODY_PORT": str(port)}
    second = ServiceProcess("custody", port, env, tmp_path_factory.mktemp("custody-second") / "custody.log")
    second.start()
    try:
        await second.wait_ready()
        party = await handler(custody)
        name = await named_query(custody, party)
        paths = [f"/pair/{n}/{uuid.uuid4().hex}" for n in range(3)]
        for n, path in enumerate(paths):
            receiver.scripts[path] = [500] if n == 0 else []  # one subscriber's first delivery is retried
            await subscribe(custody, party, name, receiver.url(path))
        order = [(await capture_one(custody, party))[0] for _ in range(30)]
        await eventually(
            lambda: _async(all(len(receiver.at(p, answered=200)) >= len(order) for p in paths)),
            timeout=120,
            what="every delivery through two instances",
        )
        await asyncio.sleep(1.0)
        for path in paths:
            delivered = [event_ids(r) for r in receiver.at(path, answered=200)]
            assert delivered == [[e] for e in order], path
        attempted = await custody.db.fetch(
            """SELECT count(*) AS n FROM custody.epcis_webhook_delivery_attempts a
                 JOIN custody.epcis_webhook_deliveries d USING (delivery_id)
                 JOIN custody.epcis_webhook_subscriptions s USING (subscription_id)
                WHERE s.query_name = $1 GROUP BY a.delivery_id""",
            name,
        )
        assert sorted(r["n"] for r in attempted) == [1] * (3 * len(order) - 1) + [2]
        async with httpx.AsyncClient(base_url=second.base_url, timeout=10) as http:
            text = (await http.get("/custody/metrics")).text
        sent_by_second = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("bpass_epcis_webhook_attempts_total{") and 'outcome="delivered"' in line
        )
        assert sent_by_second > 0  # the second instance's worker delivered its share
    finally:
        second.stop()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def _async(value: Any) -> Any:
    return value
