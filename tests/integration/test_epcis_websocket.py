"""EPCIS 2.0 query subscriptions over WebSocket against real custody instances (PostgreSQL, Kafka) through the local
gateway (deploy/local/nginx.conf.template): the handshake's refusals, delivery of a capture to its subscriber and to
nobody who may not see it, the end of a deleted query's sockets, every instance delivering every capture, backfill
from initialRecordTime continued live with no gap and no duplicate, a slow socket closed without holding up the
others, and a load of 2,000 events in 40 captures delivered exactly once (lag printed)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, new_key
from tests.integration.gateway_support import local_gateway
from tests.integration.test_custody_epcis import document, object_event
from tests.integration.test_custody_events import Custody, custody_alone, register, uid
from tests.support import ServiceProcess, service_env

GATEWAY_PORT = PORT_BASE + 84
SECOND_PORT = PORT_BASE + 85
SECOND_QUEUE_FACTS = 4


@dataclass
class Stack:
    custody: Custody
    gateway: str  # http://... of the gateway in front of the first instance
    second: str  # http://... of a second custody instance (same database and topics), small socket queues


@pytest.fixture(scope="module")
async def stack(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp("custody-websocket")
    async with custody_alone(settings, tmp, PORT_BASE + 83) as custody:
        env = service_env(custody.settings, custody.settings.api_keys_file)
        env["BPASS_CUSTODY_PORT"] = str(SECOND_PORT)
        second = ServiceProcess("custody", SECOND_PORT, env, tmp / "custody-2.log")
        second.start(BPASS_EPCIS_STREAM_QUEUE_FACTS=str(SECOND_QUEUE_FACTS))
        try:
            await second.wait_ready()
            ports = {"identity": PORT_BASE + 86, "custody": PORT_BASE + 83, "recovery": PORT_BASE + 87}
            ports["reporting"] = PORT_BASE + 88
            async with local_gateway(tmp / "gateway", GATEWAY_PORT, ports) as gateway:
                yield Stack(custody, gateway, second.base_url)
        finally:
            second.stop()


def ws_url(base: str, name: str, params: dict[str, str]) -> str:
    return f"{base.replace('http://', 'ws://')}/epcis/queries/{name}/events?{urlencode(params)}"


def subscribe(base: str, key: str | None, name: str, **kwargs: Any) -> Any:
    """A WebSocket subscription (`params`: the query string, stream=true by default)."""
    params = kwargs.pop("params", {"stream": "true"})
    headers = {"X-API-Key": key} if key else {}
    return connect(ws_url(base, name, params), additional_headers=headers, open_timeout=10, **kwargs)


async def party(custody: Custody) -> str:
    """A fresh handler and its key: it sees the events it captures (and nobody else's here)."""
    handler = uid("ws-carrier")
    await register(custody, handler)
    return new_key(custody.settings, Role.carrier, handler)


async def named_query(base: str, key: str, query: dict[str, Any]) -> str:
    name = f"ws-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=10) as http:
        created = await http.post("/epcis/queries", json={"name": name, "query": query})
    assert created.status_code == 201, created.text
    return name


async def post_capture(base: str, key: str, events: list[dict[str, Any]]) -> float:
    """Capture through `base` (large documents straight to custody: the test gateway's nginx workers cannot write
    their request-body buffer files in pytest's private temporary directory); the moment it was answered."""
    body = document(*events)
    body["@context"] = [*body["@context"], {"ex": "https://example.com/epcis-ext/"}]
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=60) as http:
        response = await http.post("/epcis/capture", json=body)
    assert response.status_code == 202, response.text
    return time.monotonic()


def events(n: int, prefix: str = "W", biz_step: str = "shipping") -> list[dict[str, Any]]:
    return [object_event(uid(prefix)[:20], biz_step=biz_step) for _ in range(n)]


async def receive(ws: ClientConnection, timeout: float = 20) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.recv(), timeout)
    body: dict[str, Any] = json.loads(message)
    assert body["type"] == "EPCISQueryDocument"
    return body


def event_list(body: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return found


async def nothing_more(ws: ClientConnection, seconds: float = 1.5) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), seconds)


async def refused(base: str, key: str | None, name: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as caught:
        async with subscribe(base, key, name, params=params):
            pass
    response = caught.value.response
    return response.status_code, json.loads(response.body or b"{}")


async def test_the_handshake_is_refused_as_the_binding_says(stack: Stack) -> None:
    key, other = await party(stack.custody), await party(stack.custody)
    name = await named_query(stack.gateway, key, {"eventType": ["ObjectEvent"]})
    cases = [
        (None, name, {"stream": "true"}, 401, "SecurityException"),
        ("not-a-key", name, {"stream": "true"}, 401, "SecurityException"),
        (key, name + "-x", {"stream": "true"}, 404, "NoSuchNameException"),
        (other, name, {"stream": "true"}, 404, "NoSuchNameException"),  # another party's query: as unknown
        (key, name, {}, 400, "SubscriptionControlsException"),
        (key, name, {"stream": "false"}, 400, "SubscriptionControlsException"),
        (key, name, {"minute": "60", "hour": "1"}, 400, "SubscriptionControlsException"),
        (key, name, {"stream": "true", "initialRecordTime": "today"}, 400, "SubscriptionControlsException"),
        (key, name, {"stream": "true", "reportIfEmpty": "maybe"}, 400, "SubscriptionControlsException"),
        (key, name, {"stream": "true", "EQ_bizStep": "shipping"}, 400, "QueryParameterException"),
    ]
    for who, query, params, status, kind in cases:
        got, body = await refused(stack.gateway, who, query, params)
        assert (got, body.get("type")) == (status, f"epcisException:{kind}"), (params, body)


async def test_a_capture_reaches_its_subscriber_and_nobody_who_may_not_see_it(stack: Stack) -> None:
    key_a, key_b = await party(stack.custody), await party(stack.custody)
    query = {"eventType": ["ObjectEvent"], "EQ_bizStep": ["receiving"]}
    name_a = await named_query(stack.gateway, key_a, query)
    name_b = await named_query(stack.gateway, key_b, query)
    async with subscribe(stack.gateway, key_a, name_a) as ws_a, subscribe(stack.gateway, key_b, name_b) as ws_b:
        assert ws_a.response.headers["GS1-EPCIS-Version"] == "2.0.0"
        wanted = events(2, biz_step="receiving")
        await post_capture(stack.gateway, key_a, [events(1)[0], wanted[0], wanted[1]])
        body = await receive(ws_a)
        assert [e["eventID"] for e in event_list(body)] == [e["eventID"] for e in wanted]
        assert body["epcisBody"]["queryResults"]["subscriptionID"]
        await nothing_more(ws_a)
        await nothing_more(ws_b, 0.5)  # B sees nothing of A's capture, not even that there was one
        mine = events(1, biz_step="receiving")
        await post_capture(stack.gateway, key_b, mine)
        assert [e["eventID"] for e in event_list(await receive(ws_b))] == [mine[0]["eventID"]]
        await nothing_more(ws_a, 0.5)

        # Deleting the query ends its subscriptions (the binding: forcibly unsubscribed).
        async with httpx.AsyncClient(base_url=stack.gateway, headers={"X-API-Key": key_a}, timeout=10) as http:
            assert (await http.delete(f"/epcis/queries/{name_a}")).status_code == 204
        await post_capture(stack.gateway, key_a, events(1, biz_step="receiving"))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws_a.recv(), 20)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4404


async def test_every_instance_delivers_every_capture(stack: Stack) -> None:
    key = await party(stack.custody)
    name = await named_query(stack.gateway, key, {"eventType": ["ObjectEvent"]})
    async with subscribe(stack.second, key, name) as on_second, subscribe(stack.gateway, key, name) as on_first:
        lags_ms: list[float] = []
        for _ in range(5):  # the captures' keys spread over the topic's partitions
            sent = events(2)
            answered = await post_capture(stack.gateway, key, sent)
            for ws in (on_second, on_first):
                assert [e["eventID"] for e in event_list(await receive(ws))] == [e["eventID"] for e in sent]
                lags_ms.append((time.monotonic() - answered) * 1000)
    print(f"\nEPCIS WebSocket, one capture at a time: capture answered -> both sockets, max {max(lags_ms):.0f} ms")


async def test_backfill_from_initial_record_time_then_live_without_gap_or_duplicate(stack: Stack) -> None:
    key = await party(stack.custody)
    name = await named_query(stack.gateway, key, {"eventType": ["ObjectEvent"]})
    before = events(3)
    await post_capture(stack.gateway, key, before)  # recorded before initialRecordTime: never sent
    start: datetime = await stack.custody.db.fetchval("SELECT clock_timestamp()")
    earlier = [events(5) for _ in range(4)]
    for batch in earlier:
        await post_capture(stack.gateway, key, batch)
    later = [events(5) for _ in range(8)]
    expected = {e["eventID"] for batch in earlier + later for e in batch}
    received: list[str] = []
    params = {"stream": "true", "initialRecordTime": start.isoformat()}
    async with subscribe(stack.gateway, key, name, params=params) as ws:
        assert ws.response.headers["GS1-Query-Min-Record-Time"]

        async def capture_more() -> None:  # live captures while the backfill runs and after it
            for batch in later:
                await post_capture(stack.gateway, key, batch)

        writer = asyncio.create_task(capture_more())
        while len(received) < len(expected):
            received += [e["eventID"] for e in event_list(await receive(ws))]
        await writer
        await nothing_more(ws)
    assert len(received) == len(set(received)), "an event was sent twice"
    assert set(received) == expected, "an event was missed, or one recorded before initialRecordTime was sent"

    async with subscribe(stack.gateway, key, name, params={**params, "initialRecordTime": "2999-01-01T00:00:00Z",
                                                            "reportIfEmpty": "true"}) as ws:  # fmt: skip
        assert event_list(await receive(ws)) == [], "reportIfEmpty: the first read, empty, is reported"
        await nothing_more(ws, 0.5)


def stalled_subscriber(port: int, key: str, name: str) -> socket.socket:
    """A WebSocket client that subscribes and then reads nothing (a small receive buffer: it fills fast)."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(10)
    raw.connect(("127.0.0.1", port))
    handshake = (
        f"GET /epcis/queries/{name}/events?stream=true HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nX-API-Key: {key}\r\n\r\n"
    )
    raw.sendall(handshake.encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += raw.recv(1)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return raw


def close_code_at_the_end(raw: socket.socket) -> int | None:
    """Read everything the server sent until it hung up; the code of its close frame, if it sent one."""
    raw.settimeout(30)
    data = bytearray()
    while chunk := raw.recv(1 << 20):
        data += chunk
    at, code = 0, None
    while at + 2 <= len(data):
        opcode, length, at = data[at] & 0x0F, data[at + 1] & 0x7F, at + 2
        if length == 126:
            length, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        elif length == 127:
            length, at = int.from_bytes(data[at : at + 8], "big"), at + 8
        if opcode == 0x8 and length >= 2:
            code = int.from_bytes(data[at : at + 2], "big")
        at += length
    return code


async def test_a_socket_that_does_not_read_is_closed_and_holds_up_no_other(stack: Stack) -> None:
    key = await party(stack.custody)
    name = await named_query(stack.gateway, key, {"eventType": ["ObjectEvent"]})
    slow = stalled_subscriber(SECOND_PORT, key, name)
    try:
        async with subscribe(stack.second, key, name) as reader:
            sent: list[str] = []
            got: list[str] = []
            for _ in range(24):
                batch = [{**e, "ex:note": "n" * 8000} for e in events(40)]  # about 330 kB per document
                await post_capture(stack.custody.url, key, batch)
                sent += [e["eventID"] for e in batch]
                got += [e["eventID"] for e in event_list(await receive(reader))]
            assert got == sent, "the socket that reads got every capture, in time, whatever the other did"
        code = await asyncio.to_thread(close_code_at_the_end, slow)
    finally:
        slow.close()
    assert code == 1013, "the socket that did not read is closed with 1013 (try again later)"


async def test_load_of_2000_events_in_40_captures_is_delivered_exactly_once(stack: Stack) -> None:
    key, other = await party(stack.custody), await party(stack.custody)
    name = await named_query(stack.gateway, key, {"eventType": ["ObjectEvent"]})
    batches = [events(50, prefix="L") for _ in range(40)]
    noise = [events(5, prefix="N") for _ in range(10)]  # another party's captures meanwhile: never delivered
    answered: dict[str, float] = {}
    arrived: dict[str, float] = {}
    async with subscribe(stack.gateway, key, name) as ws:
        gate = asyncio.Semaphore(4)

        async def one(batch: list[dict[str, Any]], who: str) -> None:
            async with gate:
                done = await post_capture(stack.custody.url, who, batch)
            if who == key:
                answered.update({e["eventID"]: done for e in batch})

        started = time.monotonic()
        writers = asyncio.gather(*(one(b, key) for b in batches), *(one(b, other) for b in noise))
        received: list[str] = []
        while len(received) < 2000:
            body = await receive(ws, timeout=60)
            now = time.monotonic()
            ids = [e["eventID"] for e in event_list(body)]
            received += ids
            arrived.update({i: now for i in ids})
        await writers
        elapsed = time.monotonic() - started
        await nothing_more(ws)
    expected = {e["eventID"] for b in batches for e in b}
    assert len(received) == len(set(received)) == 2000, "each event once"
    assert set(received) == expected, "exactly the subscriber's events"
    lags_ms = sorted((arrived[i] - answered[i]) * 1000 for i in expected)
    p50 = statistics.median(lags_ms)
    p99 = lags_ms[int(len(lags_ms) * 0.99) - 1]
    print(
        f"\nEPCIS WebSocket load: 2000 events in 40 captures (+50 of another party) in {elapsed:.1f}s; "
        f"capture answered -> socket lag p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {lags_ms[-1]:.0f} ms"
    )
