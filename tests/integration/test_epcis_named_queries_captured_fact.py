"""The `bpass.custody.epcis-events-captured.v1` fact subscriptions are fed from: written in the capture's own
transaction by both capture paths (HTTP and the inbound topic), naming only the events the capture kept, with the
record time the query index gives them, keyed by capture id."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contracts import topics
from services.common.auth import Role
from services.common.settings import Settings
from services.custody.capture.usecases import topic_capture_id
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_custody_epcis import capture, document, object_event
from tests.integration.test_custody_events import Custody, custody_alone, facts, register, uid
from tests.support import eventually, publish

TOPIC = topics.CUSTODY_EPCIS_EVENTS_CAPTURED.name


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("custody-captured-fact"), PORT_BASE + 82) as running:
        yield running


async def fact_of(custody: Custody, capture_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await facts(custody, TOPIC, capture_id=capture_id)
        return found[0] if found else None

    return await eventually(check, what=f"the captured-events fact of {capture_id}")


async def test_an_http_capture_publishes_the_events_it_kept_and_only_those(custody: Custody) -> None:
    handler = uid("fact-carrier")
    await register(custody, handler)
    key = new_key(custody.settings, Role.carrier, handler)
    first, second = object_event(uid("F")[:20]), object_event(uid("F")[:20], biz_step="receiving")
    job = await capture(custody, key, document(first, second))
    fact = await fact_of(custody, job["captureID"])
    kept = [(r["eventHash"], r["eventID"]) for r in job["events"]]
    assert [(e["event_hash"], e["event_id"]) for e in fact["events"]] == kept
    assert {e["event_type"] for e in fact["events"]} == {"ObjectEvent"}
    headers = fact["_headers"]
    assert headers["ce_type"] == "eu.battery-passport.custody.epcis-events-captured.v1"
    assert headers["ce_subject"] == job["captureID"]
    recorded = await custody.db.fetch(
        "SELECT event_hash, record_time FROM custody.epcis_event_index WHERE capture_id = $1", job["captureID"]
    )
    assert {r["event_hash"] for r in recorded} == {h for h, _ in kept}
    assert {r["record_time"].isoformat().replace("+00:00", "Z") for r in recorded} == {
        fact["record_time"].replace("+00:00", "Z")
    }, "the record time the query index gives the events"

    # Captured again with one new event: the duplicate is not in the fact; all duplicates: no fact at all.
    third = object_event(uid("F")[:20])
    again = await capture(custody, key, document(first, third))
    assert again["events"][0]["outcome"] == "duplicate"
    fact = await fact_of(custody, again["captureID"])
    assert [e["event_hash"] for e in fact["events"]] == [again["events"][1]["eventHash"]]
    nothing_new = await capture(custody, key, document(first, second))
    marker = await capture(custody, key, document(object_event(uid("F")[:20])))
    await fact_of(custody, marker["captureID"])  # published after the all-duplicate capture's would have been
    assert await facts(custody, TOPIC, capture_id=nothing_new["captureID"]) == []


async def test_a_topic_capture_publishes_its_kept_events(custody: Custody) -> None:
    handler = uid("fact-topic-carrier")
    await register(custody, handler)
    source = f"urn:bpass:handler:{handler}"
    ce_id = str(uuid.uuid4())
    body = document(object_event(uid("T")[:20]))
    await publish(
        custody.settings,
        topics.CUSTODY_EPCIS_DOCUMENTS.name,
        json.dumps(body).encode(),
        key=handler,
        headers=[
            ("ce_specversion", b"1.0"),
            ("ce_id", ce_id.encode()),
            ("ce_source", source.encode()),
            ("ce_type", b"eu.battery-passport.custody.epcis-document.v1"),
            ("ce_time", b"2026-03-01T10:00:00Z"),
            ("content-type", b"application/json"),
        ],
    )
    capture_id = topic_capture_id(source + "\x1f" + ce_id)
    fact = await fact_of(custody, capture_id)
    assert [e["event_id"] for e in fact["events"]] == [body["epcisBody"]["eventList"][0]["eventID"]]
    indexed = await custody.db.fetchval(
        "SELECT count(*) FROM custody.epcis_event_index WHERE event_hash = $1", fact["events"][0]["event_hash"]
    )
    assert indexed == 1
