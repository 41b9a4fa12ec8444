"""Auditors are read-only, proven over every service's OpenAPI document: every operation that is not a GET, called
with an auditor's key (granted by the OEM over HTTP, time-bound), is refused — 401/403, never 2xx, never 5xx — and
the role is refused before the body is validated (a body breaking the schema still answers 403, not 422).

Decision: an unparsable JSON body answers 422 before the role check (FastAPI parses the body before it resolves
dependencies). That is accepted: the refusal reads nothing, changes nothing and is the same for every caller; the
test holds it to exactly that (422 `invalid_json_invalid`, never 2xx).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bpass.examples import valid_static_payload
from contracts.attributes import BatteryCategory
from tests.support import ServiceProcess

pytestmark = pytest.mark.timeout(90)

SERVICES = ("identity", "custody", "recovery", "reporting")
READ_METHODS = {"get", "head", "options"}
# Operations that are reads sent as POST: an auditor may call them. Each names why.
READS_OVER_POST = {
    ("post", "/reporting/v1/exports"): "an export job reads passports into a file (auditors fetch audit packs); "
    "it is confined to the auditor's tenant",
    # EPCIS named queries and subscriptions are the reader's own saved reads (an auditor's are its key's, not its
    # tenant's: it changes nothing of the OEM's), answered with what the auditor may read anyway.
    ("post", "/epcis/queries"): "saves a query of the auditor's own (EPCIS REST binding), a read it may make anyway",
    ("delete", "/epcis/queries/{name}"): "forgets one of the auditor's own saved queries",
    ("post", "/epcis/queries/{name}/subscriptions"): "subscribes the auditor to its own saved query's results",
    ("delete", "/epcis/queries/{name}/subscriptions/{subscription_id}"): "ends one of the auditor's own subscriptions",
}


async def operations(http: httpx.AsyncClient, platform: dict[str, ServiceProcess]) -> list[tuple[str, str, dict]]:
    """(method, path template, operation) of every operation of the four OpenAPI documents."""
    found = []
    for service in SERVICES:
        response = await http.get(f"{platform[service].base_url}/{service}/openapi.json")
        assert response.status_code == 200, response.text
        for template, item in response.json()["paths"].items():
            for method, operation in item.items():
                if method in {"get", "put", "post", "patch", "delete", "head", "options"}:
                    found.append((method, template, {**operation, "service": service}))
    return found


def fill(template: str, operation: dict[str, Any], values: dict[str, str]) -> str:
    path = template
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            name = parameter["name"]
            assert name in values, f"{template}: give the auditor walk a value for path parameter {name!r}"
            path = path.replace("{" + name + "}", values[name])
    return path


async def test_every_write_operation_refuses_an_auditor(
    platform: dict[str, ServiceProcess], tenant: tuple[str, str]
) -> None:
    name, admin_key = tenant
    identity = platform["identity"].base_url
    async with httpx.AsyncClient(timeout=20) as http:
        admin = {"X-API-Key": admin_key}
        minted = await http.post(
            f"{identity}/identity/v1/passports",
            json={
                "subject": {"kind": "battery", "battery_identifier": f"AUD-{uuid.uuid4().hex[:10]}"},
                "category": "ev",
                "static_data": valid_static_payload(BatteryCategory.ev),
            },
            headers=admin,
        )
        assert minted.status_code == 201, minted.text
        passport_id = minted.json()["passport_id"]
        # The OEM grants the auditor over HTTP: read-only, time-bound.
        expires_at = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        granted = await http.post(
            f"{identity}/identity/v1/api-keys", json={"role": "auditor", "expires_at": expires_at}, headers=admin
        )
        assert granted.status_code == 201, granted.text
        user = await http.post(f"{identity}/identity/v1/api-keys", json={"role": "oem_user"}, headers=admin)
        auditor = {"X-API-Key": granted.json()["key"]}
        values = {
            "passport_id": passport_id,
            "passport_ref": passport_id.removeprefix("urn:uuid:"),
            "version": "1",
            "family": "AUDIT-FAMILY",
            "key_id": user.json()["key_id"],
            "tenant": name,
            "handler_id": "some-handler",
            "capture_id": str(uuid.uuid4()),
            "recycler_id": "some-recycler",
            "batch_id": "TB-1",
            "claim_id": str(uuid.uuid4()),
            "job_id": str(uuid.uuid4()),
            "subscription_id": str(uuid.uuid4()),
            "name": "population",
            "digital_link_path": "09506000134352/21/AUD-1",
            "prefix": "0950600",
        }
        writes = [
            (method, template, op)
            for method, template, op in await operations(http, platform)
            if method not in READ_METHODS
        ]
        assert len(writes) >= 20, "the walk found too few operations: are the OpenAPI documents complete?"

        async def call(method: str, template: str, op: dict[str, Any], content: bytes | None) -> httpx.Response:
            url = platform[op["service"]].base_url + fill(template, op, values)
            headers = dict(auditor)
            if content is not None:
                headers["Content-Type"] = "application/json"
            return await http.request(method.upper(), url, content=content, headers=headers)

        # A body breaking the schema ({}): the role is refused first. Unparsable JSON: refused, 403 or 422 parse.
        schema_invalid = await asyncio.gather(
            *(
                call(m, t, op, b"{}" if "requestBody" in op else None)
                for m, t, op in writes
                if (m, t) not in READS_OVER_POST
            )
        )
        unparsable = await asyncio.gather(
            *(
                call(m, t, op, b'{"not json')
                for m, t, op in writes
                if "requestBody" in op and (m, t) not in READS_OVER_POST
            )
        )
        walked = [(m, t) for m, t, _ in writes if (m, t) not in READS_OVER_POST]
        with_body = [(m, t) for m, t, op in writes if "requestBody" in op and (m, t) not in READS_OVER_POST]
        failures = [
            f"{m.upper()} {t} -> {r.status_code} {r.text[:200]}"
            for (m, t), r in zip(walked, schema_invalid, strict=True)
            if r.status_code != 403 or r.json()["reason"] != "role_not_allowed"
        ]
        failures += [
            f"{m.upper()} {t} (unparsable body) -> {r.status_code} {r.text[:200]}"
            for (m, t), r in zip(with_body, unparsable, strict=True)
            if not (
                r.status_code == 403
                or (r.status_code == 422 and r.json()["violations"][0]["reason"] == "invalid_json_invalid")
            )
        ]
        assert not failures, "auditors must be refused by every write operation:\n" + "\n".join(failures)

        # The reads sent as POST: allowed, and confined to the auditor's tenant.
        exported = await http.post(
            f"{platform['reporting'].base_url}/reporting/v1/exports",
            json={"format": "csv", "passport_ids": [passport_id]},
            headers=auditor,
        )
        assert exported.status_code == 202, exported.text
        assert exported.json()["tenant"] == name
        elsewhere = await http.post(
            f"{platform['reporting'].base_url}/reporting/v1/exports",
            json={"format": "csv", "tenant": "another-tenant"},
            headers=auditor,
        )
        assert elsewhere.status_code == 404
