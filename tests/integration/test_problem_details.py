"""Every service answers every refusal with one shape: RFC 9457 problem details (`application/problem+json`) with
`type`, `title`, `status`, `detail`, a stable `reason` and the `field` at fault where there is one, and the same
reason for the same situation in every service (services/common/problems.py). Each case below provokes one status
on one service, through the real processes."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.integration.test_identity_passports import body as passport_body
from tests.support import ServiceProcess, verified_gtin_prefix

pytestmark = pytest.mark.integration

DEEP_OBJECTS = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
UNKNOWN_PASSPORT = f"urn:uuid:{uuid.uuid4()}"
MEMBERS = ("type", "title", "status", "detail", "reason")


@dataclass(frozen=True)
class Case:
    status: int
    method: str
    path: str
    reason: str
    key: str | None = None  # a role name, "bad" for a key nobody issued, None for no key
    body: bytes | None = None
    query: dict[str, str] = field(default_factory=dict)
    field: str | None = None  # the field the refusal must name; None: whatever it names (if anything)


# Per service, one provoked refusal per status. Keys: "oem", "carrier", "recycler", "operator", "regulator", "bad".
CASES: dict[str, list[Case]] = {
    "identity": [
        Case(400, "POST", "/identity/v1/passports", "json_too_deep", "oem", DEEP_OBJECTS),
        Case(401, "GET", f"/identity/v1/passports/{UNKNOWN_PASSPORT}", "invalid_api_key", "bad"),
        Case(403, "POST", "/identity/v1/passports", "role_not_allowed", "carrier", b"{}"),
        Case(404, "GET", f"/identity/v1/passports/{UNKNOWN_PASSPORT}", "passport_not_found", "oem"),
        Case(405, "DELETE", "/identity/v1/passports", "method_not_allowed", "oem"),
        Case(422, "POST", "/identity/v1/passports", "invalid_missing", "oem", b"{}", field="subject"),
    ],
    "custody": [
        Case(400, "POST", "/epcis/capture", "json_too_deep", "carrier", DEEP_OBJECTS),
        Case(401, "GET", f"/custody/v1/passports/{UNKNOWN_PASSPORT}/custody-log", "invalid_api_key", "bad"),
        Case(403, "POST", "/custody/v1/handlers", "role_not_allowed", "carrier", b"{}"),
        Case(404, "GET", f"/custody/v1/passports/{UNKNOWN_PASSPORT}/custody-log", "passport_not_found", "regulator"),
        Case(405, "DELETE", "/custody/v1/handlers", "method_not_allowed", "operator"),
        Case(422, "POST", "/custody/v1/handlers", "invalid_missing", "operator", b"{}"),
    ],
    "recovery": [
        Case(400, "POST", "/recovery/v1/treatment-batches", "json_too_deep", "recycler", DEEP_OBJECTS),
        Case(401, "GET", f"/recovery/v1/passports/{UNKNOWN_PASSPORT}", "invalid_api_key", "bad"),
        Case(403, "POST", "/recovery/v1/treatment-batches", "role_not_allowed", "carrier", b"{}"),
        Case(404, "GET", f"/recovery/v1/passports/{UNKNOWN_PASSPORT}", "passport_not_found", "regulator"),
        Case(405, "DELETE", "/recovery/v1/treatment-batches", "method_not_allowed", "recycler"),
        Case(422, "POST", "/recovery/v1/treatment-batches", "invalid_missing", "recycler", b"{}"),
    ],
    "reporting": [
        Case(400, "GET", "/reporting/v1/passports", "unknown_query_parameter", "oem", query={"colour": "red"}),
        Case(401, "GET", f"/reporting/v1/passports/{UNKNOWN_PASSPORT}", "invalid_api_key", "bad"),
        Case(403, "POST", "/reporting/v1/exports", "role_not_allowed", "carrier", b"{}"),
        Case(404, "GET", f"/reporting/v1/passports/{UNKNOWN_PASSPORT}", "passport_not_found", "oem"),
        Case(405, "DELETE", "/reporting/v1/exports", "method_not_allowed", "oem"),
        Case(422, "POST", "/reporting/v1/exports", "invalid_missing", "oem", b"{}"),
    ],
}
# A write route of each service, refused 413 from the declared length alone (the body is never sent).
TOO_LARGE = {
    "identity": "/identity/v1/passports",
    "custody": "/epcis/capture",
    "recovery": "/recovery/v1/treatment-batches",
    "reporting": "/reporting/v1/exports",
}


def assert_problem(response: httpx.Response, status: int, reason: str, where: str) -> dict[str, Any]:
    assert response.status_code == status, f"{where}: {response.status_code} {response.text[:500]}"
    assert response.headers["content-type"] == "application/problem+json", f"{where}: {response.headers}"
    problem: dict[str, Any] = response.json()
    missing = [m for m in MEMBERS if m not in problem]
    assert not missing, f"{where}: no {missing} in {problem}"
    assert problem["status"] == status, f"{where}: {problem}"
    assert problem["reason"] == reason, f"{where}: {problem}"
    for member in ("type", "title", "detail") + (("field",) if "field" in problem else ()):
        assert isinstance(problem[member], str), f"{where}: {member} of {problem}"
        assert problem[member].strip(), f"{where}: empty {member} in {problem}"
    for violation in problem.get("violations") or ():
        assert set(violation) >= {"field", "reason", "message"}, f"{where}: {problem}"
    return problem


@pytest.fixture(scope="module")
def keys(settings: Settings) -> dict[str, str]:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    return {
        "oem": new_key(settings, Role.oem_admin, tenant),
        "carrier": new_key(settings, Role.carrier, f"carrier-{uuid.uuid4().hex[:8]}"),
        "recycler": new_key(settings, Role.recycler, f"recycler-{uuid.uuid4().hex[:8]}"),
        "operator": new_key(settings, Role.platform_operator),
        "regulator": new_key(settings, Role.regulator),
        "bad": "bpk_" + uuid.uuid4().hex,
    }


@pytest.mark.parametrize("service", sorted(CASES))
async def test_every_refusal_of_a_service_is_a_problem_document(
    platform: dict[str, ServiceProcess], keys: dict[str, str], service: str
) -> None:
    async with httpx.AsyncClient(base_url=platform[service].base_url, timeout=60) as http:
        for case in CASES[service]:
            headers = {"Content-Type": "application/json"}
            if case.key is not None:
                headers["X-API-Key"] = keys[case.key]
            response = await http.request(case.method, case.path, content=case.body, params=case.query, headers=headers)
            where = f"{service} {case.method} {case.path} -> {case.status}"
            problem = assert_problem(response, case.status, case.reason, where)
            if case.field is not None:
                assert problem.get("field") == case.field, f"{where}: {problem}"
            if case.status == 401:
                assert response.headers["www-authenticate"] == "Bearer", where
            if case.status == 422:
                assert problem["field"] == problem["violations"][0]["field"], f"{where}: {problem}"


async def declared_too_large(base_url: str, path: str, key: str) -> tuple[int, dict[str, str], bytes]:
    """POST with a declared Content-Length of 1 GiB and no body: (status, headers, body) of the answer."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nX-API-Key: {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {1 << 30}\r\n\r\n".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 30)
    finally:
        writer.close()
    return status, headers, body


@pytest.mark.parametrize("service", sorted(TOO_LARGE))
async def test_a_body_declared_too_large_is_a_413_problem_document_in_every_service(
    platform: dict[str, ServiceProcess], keys: dict[str, str], service: str
) -> None:
    key = keys["oem" if service in ("identity", "reporting") else "carrier" if service == "custody" else "recycler"]
    status, headers, body = await declared_too_large(platform[service].base_url, TOO_LARGE[service], key)
    response = httpx.Response(status, headers=headers, content=body)
    assert_problem(response, 413, "request_too_large", f"{service} POST {TOO_LARGE[service]}")


async def test_amending_another_version_than_the_current_is_a_412_problem_document(
    platform: dict[str, ServiceProcess], settings: Settings
) -> None:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    key = new_key(settings, Role.oem_admin, tenant)
    identity = platform["identity"].base_url
    await verified_gtin_prefix(identity, settings.api_keys_file, tenant)
    async with httpx.AsyncClient(base_url=identity, timeout=60, headers={"X-API-Key": key}) as http:
        minted = await http.post("/identity/v1/passports", json=passport_body(f"PD-{uuid.uuid4().hex[:8]}"))
        assert minted.status_code == 201, minted.text
        stale = await http.patch(
            f"/identity/v1/passports/{minted.json()['passport_id']}",
            json={"reason": "late", "static_data": {"weight_kg": "516"}},
            headers={"If-Match": '"7"'},
        )
    problem = assert_problem(stale, 412, "version_mismatch", "identity PATCH with a stale If-Match")
    assert (problem["current_version"], stale.headers["etag"]) == (1, '"1"')
