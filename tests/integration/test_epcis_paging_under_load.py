"""EPCIS query paging while captures go on: a reader follows `nextPageToken` through a large visible result
(3,000 events, 100 a page, many sharing one eventTime) while the same handler keeps capturing events whose times
fall all over the window, before and after the reader's position. Keyset paging on (time, sequence) serves no event
twice and misses none of those that existed when the first page was read; a token altered in any part is refused.
Real PostgreSQL and Kafka, through the custody service's HTTP interface."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_custody_epcis import document
from tests.integration.test_custody_events import Custody, custody_alone, register, uid

GTIN = "09521234000013"
WINDOW_START = datetime(2026, 2, 1, tzinfo=UTC)
INITIAL_EVENTS = 3000
PER_PAGE = 100
SAME_INSTANT = 7  # events sharing each eventTime: a page boundary falls inside such groups


def inspection(serial: str, at: datetime) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:{uuid.uuid4()}",
        "eventTime": at.isoformat().replace("+00:00", "Z"),
        "eventTimeZoneOffset": "+01:00",
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "disposition": "active",
        "epcList": [f"https://id.gs1.org/01/{GTIN}/21/{serial}"],
    }


@dataclass
class Reader:
    custody: Custody
    handler: str
    key: str
    initial: set[str]
    captured_later: set[str]


async def capture(custody: Custody, key: str, events: list[dict[str, Any]]) -> None:
    async with custody.http(key) as http:
        response = await http.post("/epcis/capture", json=document(*events), timeout=60)
    assert response.status_code == 202, response.text
    assert response.json()["success"] is True, response.text


@pytest.fixture(scope="module")
async def reader(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Reader]:
    """A handler that captured INITIAL_EVENTS inspections of batteries not minted here (kept, parked, and visible
    to their capturer), SAME_INSTANT at each of a minute's instants across the window."""
    async with custody_alone(settings, tmp_path_factory.mktemp("epcis-paging"), PORT_BASE + 87) as custody:
        handler = uid("paging-carrier")
        await register(custody, handler)
        key = new_key(custody.settings, Role.carrier, handler)
        events = [
            inspection(f"P{n:06d}", WINDOW_START + timedelta(minutes=n // SAME_INSTANT)) for n in range(INITIAL_EVENTS)
        ]
        for start in range(0, INITIAL_EVENTS, 500):
            await capture(custody, key, events[start : start + 500])
        yield Reader(custody, handler, key, {e["eventID"] for e in events}, set())


def event_ids(body: dict[str, Any]) -> list[str]:
    return [e["eventID"] for e in body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]


def next_target(response: Any) -> str | None:
    link = response.headers.get("Link")
    return link[1 : link.index(">")] if link else None


@pytest.mark.parametrize("direction", ["DESC", "ASC"])
@pytest.mark.timeout(300)
async def test_paging_while_capturing_serves_each_event_once_and_misses_none(reader: Reader, direction: str) -> None:
    custody = reader.custody
    concurrent: list[str] = []
    paging_done = asyncio.Event()

    async def keep_capturing() -> None:
        """Documents of 20 events at times spread over the whole window, until the reader is done."""
        round_ = 0
        while not paging_done.is_set():
            minutes = INITIAL_EVENTS // SAME_INSTANT
            events = [
                inspection(f"C{round_:04d}{n:02d}", WINDOW_START + timedelta(minutes=(round_ * 37 + n * 23) % minutes))
                for n in range(20)
            ]
            await capture(custody, reader.key, events)
            concurrent.extend(e["eventID"] for e in events)
            reader.captured_later.update(e["eventID"] for e in events)
            round_ += 1

    writer = asyncio.create_task(keep_capturing())
    served: list[str] = []
    pages = 0
    captured_while_paging = 0
    try:
        params = urllib.parse.urlencode({"perPage": str(PER_PAGE), "orderDirection": direction})
        target: str | None = f"/epcis/events?{params}"
        async with custody.http(reader.key) as http:
            while target is not None:
                response = await http.get(target, timeout=30)
                assert response.status_code == 200, response.text
                served += event_ids(response.json())
                pages += 1
                if pages == 1:
                    captured_at_first_page = len(concurrent)
                target = next_target(response)
                await asyncio.sleep(0.05)  # let the writer capture between pages
        captured_while_paging = len(concurrent) - captured_at_first_page
    finally:
        paging_done.set()
        await writer
    assert captured_while_paging >= 100, "the captures must go on while the reader pages"
    assert len(served) == len(set(served)), f"{len(served) - len(set(served))} events served twice"
    missing = reader.initial - set(served)
    assert not missing, f"{len(missing)} events that existed at the first page were never served"
    assert pages >= INITIAL_EVENTS // PER_PAGE
    # Events captured during the paging with times still ahead of the reader's position were served too.
    assert set(served) & set(concurrent), "no concurrently captured event was met: the test raced nothing"
    assert set(served) <= reader.initial | reader.captured_later, "an event nobody captured here was served"


def altered(token: str) -> list[tuple[str, str]]:
    """(what was altered, token): one character of the payload, of the signature; a payload rewritten to skip ahead
    with the original signature; a signature dropped; a token of another query's shape."""
    payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["s"] = int(decoded["s"]) + 1000
    skipped = base64.urlsafe_b64encode(json.dumps(decoded, separators=(",", ":")).encode()).rstrip(b"=").decode()

    def flip(text: str, at: int) -> str:
        return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]

    return [
        ("payload character", f"{flip(payload, len(payload) // 2)}.{signature}"),
        ("signature character", f"{payload}.{flip(signature, 3)}"),
        ("payload rewritten", f"{skipped}.{signature}"),
        ("signature dropped", payload),
        ("not base64", f"{payload}!.{signature}"),
    ]


async def test_an_altered_page_token_is_refused_and_the_original_still_pages(reader: Reader) -> None:
    async with reader.custody.http(reader.key) as http:
        first = await http.get("/epcis/events", params={"perPage": str(PER_PAGE)})
        assert first.status_code == 200
        token = first.headers["GS1-Next-Page-Token"]
        for what, bad in altered(token):
            refused = await http.get("/epcis/events", params={"perPage": str(PER_PAGE), "nextPageToken": bad})
            assert refused.status_code == 400, (what, refused.text)
            body = refused.json()
            assert body["type"] == "epcisException:QueryParameterException", what
            assert (body["parameter"], body["reason"]) == ("nextPageToken", "invalid_next_page_token"), what
        second = await http.get("/epcis/events", params={"perPage": str(PER_PAGE), "nextPageToken": token})
    assert second.status_code == 200, second.text
    assert not set(event_ids(second.json())) & set(event_ids(first.json()))
