"""EPCIS capture jobs stay with their tenant: an auditor a tenant grants itself lists and reads only the jobs (and
within them only the events) that recorded steps of that tenant's passports; other tenants' passport ids,
sequences and entry hashes never show. The capturing handler, regulators and the operator see whole jobs.

The capture interface follows the EPCIS 2.0 REST binding: `GET /epcis/capture` is an array of CaptureJob, the
capturer's own (parked events included, whichever of its keys or channels captured them); a job's `errors` are
RFC 7807 problems; refusals are problem+json typed `SecurityException` / `NoSuchResourceException`."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from contracts import topics
from services.common.auth import Role
from services.common.settings import Settings
from services.custody.capture.usecases import topic_capture_id
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_custody_epcis import capture, document, mint_gs1, object_event
from tests.integration.test_custody_events import PERMIT_2026, Custody, custody_alone, uid
from tests.support import eventually, publish

# The CaptureJob members of the EPCIS 2.0 binding's OpenAPI (`components.schemas.CaptureJob`).
CAPTURE_JOB_MEMBERS = {"captureID", "createdAt", "finishedAt", "running", "success", "captureErrorBehaviour", "errors"}
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance"}


async def register_delegate(custody: Custody, handler_id: str, *tenants: str) -> None:
    """A verified carrier acting for the tenants (their warehouse): it may dispatch their new batteries."""
    body = {
        "handler_id": handler_id,
        "name": f"{handler_id} Ltd",
        "roles": ["carrier"],
        "identifiers": [{"scheme": "oem_delegate", "value": tenant} for tenant in tenants],
        "sites": [{"site_id": "main", "name": "Main site", "country": "GB"}],
        "permits": [PERMIT_2026],
    }
    async with custody.http() as http:
        registered = await http.post("/custody/v1/handlers", json=body)
        assert registered.status_code == 201, registered.text
        verified = await http.post(f"/custody/v1/handlers/{handler_id}/verify", json={"reason": "documents seen"})
        assert verified.status_code == 200, verified.text


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("custody-capture-jobs"), PORT_BASE + 61) as running:
        yield running


async def test_an_auditor_sees_only_its_tenants_capture_jobs_and_events(custody: Custody) -> None:
    tenant_a, tenant_b = uid("oem-a"), uid("oem-b")
    handler_id = uid("carrier")
    await register_delegate(custody, handler_id, tenant_a, tenant_b)
    carrier_key = new_key(custody.settings, Role.carrier, handler_id)
    passport_a, serial_a = await mint_gs1(custody, tenant_a)
    passport_b, serial_b = await mint_gs1(custody, tenant_b)
    only_b = await capture(custody, carrier_key, document(object_event(serial_b)))
    only_a = await capture(custody, carrier_key, document(object_event(serial_a, time="2026-03-02T10:00:00.000Z")))
    assert only_b["success"] is True, only_b["errors"]
    assert only_a["success"] is True, only_a["errors"]
    # A job of both tenants' batteries, as the capture stores it: the events of the two jobs above in one.
    mixed = {**only_a, "captureID": str(uuid.uuid4()), "eventCount": 2}
    mixed["events"] = [only_a["events"][0], {**only_b["events"][0], "index": 1}]
    await custody.db.execute(
        """INSERT INTO custody.capture_jobs (capture_id, principal, capturer, channel, error_behaviour, running,
               success, captured_at, finished_at, event_count, errors, events)
           SELECT $1, principal, capturer, channel, error_behaviour, running, success, now(), now(), 2, errors,
                  $2::jsonb
           FROM custody.capture_jobs WHERE capture_id = $3""",
        mixed["captureID"],
        json.dumps(mixed["events"]),
        only_a["captureID"],
    )

    auditor_a = new_key(custody.settings, Role.auditor, tenant_a)
    async with custody.http(auditor_a) as http:
        listed = await http.get("/epcis/capture")
        assert listed.status_code == 200, listed.text
        jobs = {j["captureID"]: j for j in listed.json()}
        assert set(jobs) == {mixed["captureID"], only_a["captureID"]}, jobs
        assert jobs[mixed["captureID"]]["eventCount"] == 1
        hidden = await http.get(f"/epcis/capture/{only_b['captureID']}")
        assert hidden.status_code == 404, hidden.text
        assert hidden.json()["reason"] == "capture_not_found", hidden.text
        assert hidden.json()["type"] == "epcisException:NoSuchResourceException", hidden.text
        seen = await http.get(f"/epcis/capture/{mixed['captureID']}")
        assert seen.status_code == 200, seen.text
    assert passport_b not in seen.text
    named = [e["passport_id"] for event in seen.json()["events"] for e in event["entries"]]
    assert named == [passport_a]

    # An auditor without a tenant sees nothing; the capturing handler and the operator see the whole job.
    async with custody.http(new_key(custody.settings, Role.auditor, None)) as http:
        assert (await http.get("/epcis/capture")).json() == []
        assert (await http.get(f"/epcis/capture/{mixed['captureID']}")).status_code == 404
    for key in (carrier_key, custody.operator, new_key(custody.settings, Role.regulator, None)):
        async with custody.http(key) as http:
            whole = await http.get(f"/epcis/capture/{mixed['captureID']}")
        assert whole.status_code == 200, whole.text
        assert passport_a in whole.text, (passport_a, whole.text)
        assert passport_b in whole.text, (passport_b, whole.text)


async def test_capture_jobs_list_is_an_array_of_the_capturers_own_capture_jobs_with_problem_errors(
    custody: Custody,
) -> None:
    tenant = uid("oem")
    handler_id, other_id = uid("carrier"), uid("carrier")
    await register_delegate(custody, handler_id, tenant)
    await register_delegate(custody, other_id, tenant)
    key, second_key = (new_key(custody.settings, Role.carrier, handler_id) for _ in range(2))
    other_key = new_key(custody.settings, Role.carrier, other_id)
    _, serial = await mint_gs1(custody, tenant)
    shipped = await capture(custody, key, document(object_event(serial)))
    # Shipping it again while it is in transit: refused, and the job says why as a problem.
    refused = await capture(custody, second_key, document(object_event(serial, time="2026-03-02T10:00:00.000Z")))
    assert (shipped["success"], refused["success"]) == (True, False), refused
    theirs = await capture(custody, other_key, document(object_event(uid("S")[:20])))

    async with custody.http(second_key) as http:
        listed = await http.get("/epcis/capture")
    assert listed.status_code == 200, listed.text
    jobs = listed.json()
    assert isinstance(jobs, list), jobs
    assert [j["captureID"] for j in jobs] == [refused["captureID"], shipped["captureID"]], jobs
    assert theirs["captureID"] not in listed.text
    for job in jobs:
        assert set(job) >= CAPTURE_JOB_MEMBERS, job
        assert job["running"] is False
        assert job["captureErrorBehaviour"] == "rollback"
        assert datetime.fromisoformat(job["finishedAt"]) >= datetime.fromisoformat(job["createdAt"]), job
    assert jobs[1]["errors"] == []
    [problem] = jobs[0]["errors"]
    assert set(problem) >= PROBLEM_MEMBERS, problem
    assert (problem["type"], problem["status"], problem["reason"]) == (
        "epcisException:ValidationException",
        400,
        "in_transit",
    ), problem
    assert problem["instance"] == f"/epcis/capture/{refused['captureID']}#/epcisBody/eventList/0"
    assert problem["eventHash"] == refused["events"][0]["eventHash"]
    assert jobs[0]["errors"] == refused["errors"]


async def test_refusals_of_the_capture_interface_are_the_bindings_exceptions(custody: Custody) -> None:
    handler_id = uid("carrier")
    key = new_key(custody.settings, Role.carrier, handler_id)
    job = await capture(custody, key, document(object_event(uid("S")[:20])))
    stranger = new_key(custody.settings, Role.carrier, uid("carrier"))

    async def refusal(response: httpx.Response, status: int, name: str, reason: str) -> dict[str, Any]:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json", response.headers
        body: dict[str, Any] = response.json()
        assert (body["type"], body["status"], body["reason"]) == (f"epcisException:{name}", status, reason), body
        assert body["title"] == name, body
        assert body["detail"], body
        return body

    async with httpx.AsyncClient(base_url=custody.url, timeout=10) as anonymous:
        await refusal(await anonymous.get("/epcis/capture"), 401, "SecurityException", "missing_api_key")
        await refusal(
            await anonymous.post("/epcis/capture", content=b"{}", headers={"Content-Type": "application/json"}),
            401,
            "SecurityException",
            "missing_api_key",
        )
    async with custody.http("not-a-key") as http:
        await refusal(await http.get(f"/epcis/capture/{job['captureID']}"), 401, "SecurityException", "invalid_api_key")
    async with custody.http(new_key(custody.settings, Role.oem_admin, uid("oem"))) as http:
        await refusal(await http.get("/epcis/capture"), 403, "SecurityException", "role_not_allowed")
    async with custody.http(stranger) as http:
        await refusal(
            await http.get(f"/epcis/capture/{job['captureID']}"), 404, "NoSuchResourceException", "capture_not_found"
        )
        await refusal(
            await http.get(f"/epcis/capture/{uuid.uuid4()}"), 404, "NoSuchResourceException", "capture_not_found"
        )


async def test_a_parked_event_is_visible_to_its_capturer_whichever_key_or_channel_captured_it(
    custody: Custody,
) -> None:
    handler_id = uid("carrier")
    await register_delegate(custody, handler_id, uid("oem"))
    serial = uid("S")[:20]  # no passport names it yet: the event parks
    event = object_event(serial)
    ce_id = str(uuid.uuid4())
    source = f"urn:bpass:handler:{handler_id}"
    await publish(
        custody.settings,
        topics.CUSTODY_EPCIS_DOCUMENTS.name,
        json.dumps(document(event)).encode(),
        key=serial,
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
    key = new_key(custody.settings, Role.carrier, handler_id)

    async def job() -> dict[str, Any] | None:
        async with custody.http(key) as http:
            response = await http.get(f"/epcis/capture/{capture_id}")
        return response.json() if response.status_code == 200 else None

    report = await eventually(job, what="the topic capture job, read by its capturer over HTTP")
    [parked] = report["events"]
    assert parked["outcome"] == "parked", parked
    assert parked["eventID"] == event["eventID"]
    assert parked["parkedReferences"] == event["epcList"], parked
    assert report["channel"] == "topic"
    assert report["success"] is True
    async with custody.http(new_key(custody.settings, Role.carrier, handler_id)) as http:
        listed = await http.get("/epcis/capture")
    assert [j["captureID"] for j in listed.json()] == [capture_id], listed.text
    async with custody.http(new_key(custody.settings, Role.carrier, uid("carrier"))) as http:
        assert (await http.get(f"/epcis/capture/{capture_id}")).status_code == 404
        assert (await http.get("/epcis/capture")).json() == []
