"""EPCIS capture jobs stay with their tenant: an auditor a tenant grants itself lists and reads only the jobs (and
within them only the events) that recorded steps of that tenant's passports; other tenants' passport ids,
sequences and entry hashes never show. The capturing handler, regulators and the operator see whole jobs."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest

from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_custody_epcis import capture, document, mint_gs1, object_event
from tests.integration.test_custody_events import PERMIT_2026, Custody, custody_alone, uid


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
        """INSERT INTO custody.capture_jobs (capture_id, principal, channel, error_behaviour, running, success,
               captured_at, finished_at, event_count, errors, events)
           SELECT $1, principal, channel, error_behaviour, running, success, now(), now(), 2, errors, $2::jsonb
           FROM custody.capture_jobs WHERE capture_id = $3""",
        mixed["captureID"],
        json.dumps(mixed["events"]),
        only_a["captureID"],
    )

    auditor_a = new_key(custody.settings, Role.auditor, tenant_a)
    async with custody.http(auditor_a) as http:
        listed = await http.get("/epcis/capture")
        assert listed.status_code == 200, listed.text
        jobs = {j["captureID"]: j for j in listed.json()["captureJobs"]}
        assert set(jobs) == {mixed["captureID"], only_a["captureID"]}, jobs
        assert jobs[mixed["captureID"]]["eventCount"] == 1
        hidden = await http.get(f"/epcis/capture/{only_b['captureID']}")
        assert hidden.status_code == 404, hidden.text
        assert hidden.json()["reason"] == "capture_not_found", hidden.text
        seen = await http.get(f"/epcis/capture/{mixed['captureID']}")
        assert seen.status_code == 200, seen.text
    assert passport_b not in seen.text
    named = [e["passport_id"] for event in seen.json()["events"] for e in event["entries"]]
    assert named == [passport_a]

    # An auditor without a tenant sees nothing; the capturing handler and the operator see the whole job.
    async with custody.http(new_key(custody.settings, Role.auditor, None)) as http:
        assert (await http.get("/epcis/capture")).json()["captureJobs"] == []
        assert (await http.get(f"/epcis/capture/{mixed['captureID']}")).status_code == 404
    for key in (carrier_key, custody.operator, new_key(custody.settings, Role.regulator, None)):
        async with custody.http(key) as http:
            whole = await http.get(f"/epcis/capture/{mixed['captureID']}")
        assert whole.status_code == 200, whole.text
        assert passport_a in whole.text, (passport_a, whole.text)
        assert passport_b in whole.text, (passport_b, whole.text)
