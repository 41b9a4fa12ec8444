"""`GET /epcis/capture` pages the caller's capture jobs as the REST binding does (`perPage`, `nextPageToken`, the
next page's URL in `Link` rel=next), against the real custody service: every job once, newest first, a token only
for its list and its reader, and another handler's jobs never listed."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_custody_epcis import capture, document
from tests.integration.test_custody_events import Custody, custody_alone, register, uid


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("custody-epcis-jobs"), PORT_BASE + 93) as running:
        yield running


def event() -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:{uuid.uuid4()}",
        "eventTime": "2026-05-01T10:00:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "epcList": [f"https://battery.example.org/pack/{uuid.uuid4().hex[:12]}"],
    }


async def all_jobs(custody: Custody, key: str, per_page: int) -> tuple[list[dict[str, Any]], int]:
    jobs: list[dict[str, Any]] = []
    pages = 0
    target = f"/epcis/capture?perPage={per_page}"
    async with custody.http(key) as http:
        while True:
            response = await http.get(target)
            assert response.status_code == 200, response.text
            page = response.json()
            assert isinstance(page, list)
            assert len(page) <= per_page
            jobs += page
            pages += 1
            link = response.headers.get("Link")
            if link is None:
                return jobs, pages
            assert link.startswith("</epcis/capture?")
            assert link.endswith('>; rel="next"')
            assert response.headers["GS1-Next-Page-Token"] in link
            target = link[1 : link.index(">")]


async def test_capture_jobs_are_paged_newest_first_each_once(custody: Custody) -> None:
    handler, other = uid("jobs-carrier"), uid("jobs-other")
    await register(custody, handler)
    await register(custody, other)
    key, other_key = new_key(custody.settings, Role.carrier, handler), new_key(custody.settings, Role.carrier, other)
    mine = [(await capture(custody, key, json.dumps(document(event())).encode()))["captureID"] for _ in range(7)]
    theirs = (await capture(custody, other_key, json.dumps(document(event())).encode()))["captureID"]

    jobs, pages = await all_jobs(custody, key, per_page=3)
    assert [j["captureID"] for j in jobs] == list(reversed(mine)), "every job once, newest first"
    assert pages == 3
    created = [datetime.fromisoformat(j["createdAt"]) for j in jobs]
    assert created == sorted(created, reverse=True)
    assert theirs not in {j["captureID"] for j in jobs}
    everyone, _ = await all_jobs(custody, custody.operator, per_page=2)
    assert {j["captureID"] for j in everyone} >= {*mine, theirs}

    async with custody.http(key) as http:
        first = await http.get("/epcis/capture", params={"perPage": "2"})
        token = first.headers["GS1-Next-Page-Token"]
        assert [j["captureID"] for j in first.json()] == list(reversed(mine))[:2]
        altered = await http.get("/epcis/capture", params={"nextPageToken": token[:-3] + "AAA"})
        other_list = await http.get("/epcis/bizSteps", params={"nextPageToken": token})
    async with custody.http(other_key) as http:
        other_reader = await http.get("/epcis/capture", params={"nextPageToken": token})
    for refused in (altered, other_list, other_reader):
        assert refused.status_code == 400, refused.text
        body = refused.json()
        assert body["type"] == "epcisException:QueryParameterException"
        assert (body["parameter"], body["reason"]) == ("nextPageToken", "invalid_next_page_token")
