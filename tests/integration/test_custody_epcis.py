"""EPCIS 2.0 capture against the real stack: the GS1 REST binding (`POST /epcis/capture`, capture jobs), the
EPCIS rules on third-party fixtures, CBV 2.0 event hashes through the job report, duplicates, error
declarations, all-or-nothing capture, and EPCIS documents on the inbound topic."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bpass.examples import valid_static_data
from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.identity import PassportMinted
from contracts.passport_data import BatteryKind, PassportSubject
from services.common.auth import Role
from services.common.settings import Settings
from services.custody.capture.usecases import topic_capture_id
from services.custody.domain.epcis import context_prefixes, event_hash
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_custody_events import (
    Custody,
    custody_alone,
    facts,
    register,
    uid,
    verification,
)
from tests.support import cloudevent_headers, eventually, publish
from tests.unit.custody.epcis_fixtures import HASH_VECTORS, INVALID, accepted_documents, load, require_fixtures
from tests.unit.custody.epcis_xml_writer import to_xml
from tests.unit.custody.test_epcis_validation import EXPECTED_REJECTIONS
from tests.unit.custody.test_epcis_xml import OPAQUE_EXTENSIONS

GTIN = "09521234000013"
# The OEM whose passports these tests capture steps of; the carrier is its delegate (it ships from its plant).
EPCIS_TENANT = uid("oem")


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("custody-epcis"), PORT_BASE + 23) as running:
        yield running


@pytest.fixture(scope="module")
async def carrier(custody: Custody) -> tuple[str, str]:
    """A verified handler, delegate of EPCIS_TENANT, and its API key (handler keys name their handler as tenant)."""
    handler_id = uid("epcis-carrier")
    await register(custody, handler_id, delegate_of=[EPCIS_TENANT])
    return handler_id, new_key(custody.settings, Role.carrier, handler_id)


def document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-01T00:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def object_event(serial: str, biz_step: str = "shipping", time: str = "2026-03-01T10:00:00.000Z") -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:{uuid.uuid4()}",
        "eventTime": time,
        "eventTimeZoneOffset": "+01:00",
        "action": "OBSERVE",
        "bizStep": biz_step,
        "disposition": "in_transit" if biz_step == "shipping" else "in_progress",
        "epcList": [f"https://id.gs1.org/01/{GTIN}/21/{serial}"],
    }


async def mint_gs1(custody: Custody, tenant: str) -> tuple[str, str]:
    """A passport with a GTIN, so that EPCIS events naming its Digital Link (any domain) find it."""
    passport_id = f"urn:uuid:{uuid.uuid4()}"
    serial = uid("S")[:20]
    fact = PassportMinted(
        passport_id=passport_id,
        tenant=tenant,
        subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=serial, gtin=GTIN),
        category=BatteryCategory.ev,
        public_uri=f"https://passport.example.test/01/{GTIN}/21/{serial}",
        static_data=valid_static_data(BatteryCategory.ev),
        version=1,
        minted_at=datetime.now(UTC),
        minted_by="urn:bpass:service:identity",
    )
    await publish(
        custody.settings,
        topics.PASSPORT_MINTED.name,
        fact.model_dump_json().encode(),
        key=passport_id,
        headers=cloudevent_headers(fact, source="urn:bpass:service:identity", subject=passport_id),
    )
    await eventually(
        lambda: custody.db.fetchval("SELECT 1 FROM custody.known_passports WHERE passport_id = $1", passport_id),
        what="custody to learn the passport",
    )
    return passport_id, serial


async def capture(
    custody: Custody, key: str, body: dict[str, Any] | bytes, *, media: str = "application/json", **headers: str
) -> dict[str, Any]:
    """POST a document, expect 202, return the capture job."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with custody.http(key) as http:
        accepted = await http.post("/epcis/capture", content=content, headers={"Content-Type": media, **headers})
        assert accepted.status_code == 202, accepted.text
        capture_id = accepted.json()["captureID"]
        assert accepted.headers["Location"] == f"/epcis/capture/{capture_id}"
        job = await http.get(f"/epcis/capture/{capture_id}")
    assert job.status_code == 200, job.text
    report: dict[str, Any] = job.json()
    assert report["running"] is False
    # The job finishes after it is created (its finish was once stamped with the transaction's start).
    assert datetime.fromisoformat(report["finishedAt"]) >= datetime.fromisoformat(report["createdAt"]), report
    return report


async def entries(custody: Custody, passport_id: str) -> list[dict[str, Any]]:
    async with custody.http() as http:
        log = await http.get(f"/custody/v1/passports/{passport_id}/custody-log")
    assert log.status_code == 200, log.text
    found: list[dict[str, Any]] = log.json()["entries"]
    return found


def expected_hashes(path: Any) -> list[str]:
    vectors = HASH_VECTORS / f"{path.stem}.hashes"
    if path.parent == HASH_VECTORS and vectors.exists():
        return [line.strip() for line in vectors.read_text().splitlines() if line.strip()]
    doc = load(path)
    prefixes = context_prefixes(doc.get("@context"))
    return [event_hash(event, prefixes) for event in doc["epcisBody"]["eventList"]]


async def test_every_valid_and_battery_fixture_is_accepted_with_its_cbv_event_hashes(
    custody: Custody, carrier: tuple[str, str]
) -> None:
    _, key = carrier
    require_fixtures()
    paths = accepted_documents()
    assert {p.parent.name for p in paths} >= {"valid", "battery", "hash-vectors"}
    for path in paths:
        media = "application/ld+json" if path.suffix == ".jsonld" else "application/json"
        job = await capture(custody, key, path.read_bytes(), media=media)
        assert job["success"] is True, (path.name, job["errors"])
        assert job["errors"] == []
        hashes = expected_hashes(path)
        assert [e["index"] for e in job["events"]] == list(range(len(hashes))), path.name
        assert [e["eventHash"] for e in job["events"]] == hashes, path.name
        assert all(e["outcome"] in {"parked", "duplicate", "error_declared"} for e in job["events"]), job["events"]


async def test_every_invalid_fixture_is_rejected_with_its_reason(custody: Custody, carrier: tuple[str, str]) -> None:
    require_fixtures()
    _, key = carrier
    async with custody.http(key) as http:
        for path in sorted(INVALID.glob("*.json")):
            response = await http.post(
                "/epcis/capture", content=path.read_bytes(), headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 400, (path.name, response.text)
            body = response.json()
            assert body["type"] == "epcisException:ValidationException"
            found = {(v["field"], v["reason"]) for v in body["violations"]}
            assert found >= EXPECTED_REJECTIONS[path.name], (path.name, found)
        not_json = await http.post("/epcis/capture", content=b"{", headers={"Content-Type": "application/json"})
        assert not_json.json()["violations"][0]["reason"] == "invalid_json"
        text = await http.post("/epcis/capture", content=b"epcis", headers={"Content-Type": "text/plain"})
        assert text.status_code == 415
        assert text.json()["type"] == "epcisException:UnsupportedMediaType"


async def test_recapture_is_a_duplicate_applied_once_and_an_error_declaration_corrects_without_deleting(
    custody: Custody, carrier: tuple[str, str]
) -> None:
    _, key = carrier
    passport_id, serial = await mint_gs1(custody, EPCIS_TENANT)
    shipped = object_event(serial)
    first = await capture(custody, key, document(shipped))
    assert first["events"][0]["outcome"] == "recorded"
    assert first["events"][0]["entries"][0]["passport_id"] == passport_id

    # The same event again, serialised differently (keys reordered, URN form of the SGTIN): one entry still.
    reordered = dict(reversed(list(shipped.items())))
    reordered["epcList"] = [f"urn:epc:id:sgtin:9521234.000001.{serial}"]
    again = await capture(custody, key, document(reordered), media="application/ld+json")
    assert again["events"][0]["outcome"] == "duplicate"
    assert again["events"][0]["eventHash"] == first["events"][0]["eventHash"]
    assert len(await entries(custody, passport_id)) == 1

    # It did not happen: an error declaration appends a correcting entry; the original stays.
    declared = copy.deepcopy(shipped)
    declared["errorDeclaration"] = {
        "declarationTime": "2026-03-02T08:00:00.000Z",
        "reason": "did_not_occur",
        "correctiveEventIDs": [f"urn:uuid:{uuid.uuid4()}"],
    }
    correction = await capture(custody, key, document(declared))
    assert correction["events"][0]["outcome"] == "error_declared"
    assert correction["events"][0]["eventHash"] == first["events"][0]["eventHash"]
    log = await entries(custody, passport_id)
    assert [e["kind"] for e in log] == ["dispatch", "error_declaration"]
    assert log[0]["corrected_by"] == [2]
    assert log[1]["content"]["corrects"] == [
        {"passport_id": passport_id, "sequence": 1, "entry_hash": log[0]["entry_hash"]}
    ]
    assert (await verification(custody, passport_id))["intact"] is True
    declared_again = await capture(custody, key, document(declared))
    assert declared_again["events"][0]["outcome"] == "duplicate"
    assert len(await entries(custody, passport_id)) == 2

    async def recorded() -> list[dict[str, Any]] | None:
        found = await facts(custody, topics.CUSTODY_RECORDED.name, passport_id=passport_id)
        return found if len(found) == 2 else None

    facts_of_passport = await eventually(recorded, what="two custody-recorded facts")
    assert facts_of_passport[0]["epcis_event_hash"] == first["events"][0]["eventHash"]
    assert (facts_of_passport[1]["kind"], facts_of_passport[1]["corrects_sequence"]) == ("error_declaration", 1)


async def test_a_custody_rule_broken_by_one_event_rolls_back_the_document_unless_proceed(
    custody: Custody, carrier: tuple[str, str]
) -> None:
    _, key = carrier
    tenant = EPCIS_TENANT
    (p1, s1), (p2, s2) = await mint_gs1(custody, tenant), await mint_gs1(custody, tenant)
    assert (await capture(custody, key, document(object_event(s2))))["success"] is True
    # Shipping p2 again while it is in transit breaks a custody rule.
    mixed = document(object_event(s1), object_event(s2, time="2026-03-03T10:00:00.000Z"))
    job = await capture(custody, key, mixed)
    assert job["success"] is False
    assert [e["outcome"] for e in job["events"]] == ["rolled_back", "rejected"]
    problem = job["errors"][0]
    assert (problem["index"], problem["status"], problem["reason"]) == (1, 400, "in_transit"), problem
    assert problem["type"] == "epcisException:ValidationException"
    assert problem["instance"] == f"/epcis/capture/{job['captureID']}#/epcisBody/eventList/1"
    assert problem["violations"][0]["reason"] == "in_transit"
    assert await entries(custody, p1) == []

    proceed = await capture(custody, key, mixed, **{"GS1-Capture-Error-Behaviour": "proceed"})
    assert [e["outcome"] for e in proceed["events"]] == ["recorded", "rejected"]
    assert len(await entries(custody, p1)) == 1
    assert len(await entries(custody, p2)) == 1

    # A handler that is not verified captures nothing.
    pending = uid("carrier")
    await register(custody, pending, verify=False)
    (p3, s3) = await mint_gs1(custody, tenant)
    refused = await capture(custody, new_key(custody.settings, Role.carrier, pending), document(object_event(s3)))
    assert refused["events"][0]["errors"][0]["reason"] == "handler_not_verified"
    assert await entries(custody, p3) == []


async def test_epcis_documents_on_the_inbound_topic(custody: Custody, carrier: tuple[str, str]) -> None:
    handler_id, _ = carrier
    passport_id, serial = await mint_gs1(custody, EPCIS_TENANT)
    source = f"urn:bpass:handler:{handler_id}"
    good_id, bad_id = str(uuid.uuid4()), str(uuid.uuid4())
    payload = document(object_event(serial))
    invalid = document({**object_event(serial), "action": "CREATE"})
    for event_id, body in ((good_id, payload), (bad_id, invalid)):
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", event_id.encode()),
            ("ce_source", source.encode()),
            ("ce_type", b"eu.battery-passport.custody.epcis-document.v1"),
            ("ce_time", b"2026-03-01T10:00:00Z"),
            ("content-type", b"application/json"),
        ]
        await publish(
            custody.settings,
            topics.CUSTODY_EPCIS_DOCUMENTS.name,
            json.dumps(body).encode(),
            key=serial,
            headers=headers,
        )

    capture_id = topic_capture_id(source + "\x1f" + good_id)

    async def job() -> dict[str, Any] | None:
        async with custody.http() as http:
            response = await http.get(f"/epcis/capture/{capture_id}")
        return response.json() if response.status_code == 200 else None

    report = await eventually(job, what="the capture job of the topic document")
    assert report["channel"] == "topic"
    assert report["events"][0]["outcome"] == "recorded"
    assert len(await entries(custody, passport_id)) == 1

    async def refusal() -> dict[str, Any] | None:
        found = await facts(custody, topics.CUSTODY_REJECTED.name, rejected_ce_id=bad_id)
        return found[0] if found else None

    answer = await eventually(refusal, what="the refusal of the invalid document")
    assert ("epcisBody.eventList.0.action", "invalid_action") in {
        (v["field"], v["reason"]) for v in answer["violations"]
    }


async def test_xml_documents_are_captured_with_the_event_hashes_of_their_json_form(
    custody: Custody, carrier: tuple[str, str]
) -> None:
    _, key = carrier
    require_fixtures()
    paths = [p for p in accepted_documents() if p.name not in OPAQUE_EXTENSIONS]
    assert {p.parent.name for p in paths} >= {"valid", "battery", "hash-vectors"}
    for index, path in enumerate(paths):
        version = "1.2" if index % 2 else "2.0"
        job = await capture(custody, key, to_xml(load(path), version=version), media="application/xml")
        assert job["success"] is True, (path.name, version, job["errors"])
        assert [e["eventHash"] for e in job["events"]] == expected_hashes(path), (path.name, version)

    # The same event in XML and then in JSON: one custody entry, the second capture a duplicate.
    passport_id, serial = await mint_gs1(custody, EPCIS_TENANT)
    shipped = document(object_event(serial))
    first = await capture(custody, key, to_xml(shipped), media="text/xml; charset=utf-8")
    assert first["events"][0]["outcome"] == "recorded", first
    again = await capture(custody, key, shipped)
    assert again["events"][0]["outcome"] == "duplicate"
    assert again["events"][0]["eventHash"] == first["events"][0]["eventHash"]
    assert len(await entries(custody, passport_id)) == 1


async def test_broken_or_hostile_xml_is_refused_naming_the_line_and_the_rule(
    custody: Custody, carrier: tuple[str, str]
) -> None:
    _, key = carrier
    xxe = (
        b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        b'<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2">&xxe;</epcis:EPCISDocument>'
    )
    broken = b'<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2">\n<EPCISBody>\n</epcis>'
    not_epcis = to_xml(document(object_event("S1"))).replace(b"ObjectEvent", b"ThingEvent")
    invalid_event = document({**object_event("S1"), "action": "CREATE"})
    async with custody.http(key) as http:
        for body, reason, field, starts in (
            (xxe, "xml_dtd_forbidden", "", "line 2: "),
            (broken, "invalid_xml", "", "line 3: column "),
            (not_epcis, "xml_unknown_event_type", "epcisBody.eventList.0", "line 2: "),
            # EPCIS 2.0: GS1's XSD refuses it; EPCIS 1.2 (no XSD check): the JSON rules do, by the event's place.
            (to_xml(invalid_event), "xml_schema_violation", "", "line 2: Element 'action'"),
            (to_xml(invalid_event, version="1.2"), "invalid_action", "epcisBody.eventList.0.action", ""),
        ):
            response = await http.post("/epcis/capture", content=body, headers={"Content-Type": "application/xml"})
            assert response.status_code == 400, response.text
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["type"] == "epcisException:ValidationException", problem
            assert (problem["reason"], problem.get("field", "")) == (reason, field), problem
            assert problem["violations"][0]["message"].startswith(starts), problem
            assert "root:" not in response.text
