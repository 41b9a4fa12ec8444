"""The one JSON decoding policy on the real services: bodies nested past the limit or holding overlong number
literals are refused with 400 and a reason code on every write route (they answered 500, and the worker they
crashed left nginx answering 502), the service keeps answering, and a Kafka message breaking the same rules is
refused on the service's rejected topic naming the rule."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from contracts import topics
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, TEST_PORTS, new_key
from tests.integration.gateway_support import client_from, local_gateway, loopback_address
from tests.integration.test_delivery_guarantees import custody_event
from tests.support import ServiceProcess, cloudevent_headers, eventually, publish, read_topic

DEEP_ARRAYS = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECTS = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
LONG_INTEGER = b'{"schemaVersion": ' + b"7" * 5_000 + b"}"
DEEP_WITH_NUL = b'{"static_data": ' + b'{"a":' * 2_000 + b'"x\\u0000y"' + b"}" * 2_000 + b"}"

IDENTITY_WRITES = [
    ("POST", "/identity/v1/passports"),
    ("POST", "/identity/v1/passports:bulk"),
    ("PATCH", f"/identity/v1/passports/urn:uuid:{uuid.uuid4()}"),
    ("PUT", "/identity/v1/product-families/policy-test/extension-schema"),
    ("POST", "/identity/v1/api-keys"),
    ("POST", "/identity/v1/labels"),
    ("POST", "/identity/v1/second-life"),
]


def refusal(response: httpx.Response) -> tuple[int, str, str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    body = response.json()
    return response.status_code, body["violations"][0]["reason"], body["type"]


async def test_epcis_capture_refuses_deep_and_overlong_bodies_and_keeps_answering(
    platform: dict[str, ServiceProcess], settings: Settings
) -> None:
    key = new_key(settings, Role.carrier, f"carrier-{uuid.uuid4().hex[:8]}")
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=platform["custody"].base_url, timeout=60, headers=headers) as http:
        for body, reason in ((DEEP_ARRAYS, "json_too_deep"), (DEEP_OBJECTS, "json_too_deep")):
            response = await http.post("/epcis/capture", content=body)
            assert refusal(response) == (400, reason, f"urn:bpass:problem:{reason}")
        response = await http.post("/epcis/capture", content=LONG_INTEGER)
        assert refusal(response) == (400, "number_too_long", "urn:bpass:problem:number_too_long")
        ld = await http.post("/epcis/capture", content=DEEP_ARRAYS, headers={"Content-Type": "application/ld+json"})
        assert refusal(ld)[:2] == (400, "json_too_deep")
        # The process is still there: the next request is answered.
        alive = await http.get("/custody/health/live")
        assert alive.status_code == 200, alive.text
        # A body within the limits still reaches the route (and its own rules).
        shallow = await http.post("/epcis/capture", content=b'{"type": "EPCISDocument"}')
        assert shallow.status_code == 400, shallow.text
        assert shallow.json()["type"] == "epcisException:ValidationException"


async def test_identity_write_routes_refuse_deep_json_with_nul_as_400_not_500(
    platform: dict[str, ServiceProcess], tenant: tuple[str, str]
) -> None:
    _, key = tenant
    async with httpx.AsyncClient(
        base_url=platform["identity"].base_url, timeout=60, headers={"X-API-Key": key}
    ) as http:
        for method, path in IDENTITY_WRITES:
            response = await http.request(
                method, path, content=DEEP_WITH_NUL, headers={"Content-Type": "application/json"}
            )
            assert refusal(response)[:2] == (400, "json_too_deep"), (method, path)
            unauthenticated = await http.request(
                method, path, content=DEEP_ARRAYS, headers={"Content-Type": "application/json", "X-API-Key": ""}
            )
            assert unauthenticated.status_code == 400, (method, path, unauthenticated.text)
        alive = await http.get("/identity/health/live")
        assert alive.status_code == 200


async def test_recovery_refuses_a_deep_body_too(platform: dict[str, ServiceProcess], settings: Settings) -> None:
    key = new_key(settings, Role.recycler, f"recycler-{uuid.uuid4().hex[:8]}")
    async with httpx.AsyncClient(
        base_url=platform["recovery"].base_url, timeout=60, headers={"X-API-Key": key}
    ) as http:
        response = await http.post(
            "/recovery/v1/treatment-batches", content=DEEP_OBJECTS, headers={"Content-Type": "application/json"}
        )
    assert refusal(response)[:2] == (400, "json_too_deep")


async def test_a_kafka_message_breaking_the_policy_is_refused_naming_the_rule(
    platform: dict[str, ServiceProcess], settings: Settings
) -> None:
    passport_id = f"urn:uuid:{uuid.uuid4()}"
    source = "urn:bpass:handler:carrier-1"
    shapes = {
        "deep": (b'{"kind": "dispatch", "x": ' + DEEP_ARRAYS + b"}", "json_too_deep"),
        "long": (b'{"kind": "dispatch", "x": ' + b"9" * 5_000 + b"}", "number_too_long"),
    }
    ids = {name: str(uuid.uuid4()) for name in shapes}
    for name, (body, _) in shapes.items():
        headers = cloudevent_headers(custody_event(passport_id), source=source, event_id=ids[name])
        await publish(settings, topics.CUSTODY_EVENTS.name, body, key=passport_id, headers=headers)

    async def rejections() -> dict[str, Any] | None:
        found = {}
        for record in await read_topic(settings, topics.CUSTODY_REJECTED.name):
            refused = json.loads(record.value)
            if refused.get("rejected_ce_id") in ids.values():
                found[refused["rejected_ce_id"]] = [(v["field"], v["reason"]) for v in refused["violations"]]
        return found if len(found) == len(ids) else None

    found = await eventually(rejections, what="both refusals on the rejected topic")
    for name, (_, reason) in shapes.items():
        assert found[ids[name]] == [("", reason)], (name, found)


async def test_a_time_filter_is_rfc_3339_text_not_a_number(
    platform: dict[str, ServiceProcess], tenant: tuple[str, str]
) -> None:
    _, key = tenant
    async with httpx.AsyncClient(
        base_url=platform["reporting"].base_url, timeout=30, headers={"X-API-Key": key}
    ) as http:
        for value in ("0.5", "1e-400", "1700000000"):
            refused = await http.get("/reporting/v1/passports", params={"placed_to": value})
            assert refused.status_code == 422, (value, refused.text)
            assert [v["field"] for v in refused.json()["violations"]] == ["query.placed_to"], refused.text
        accepted = await http.get("/reporting/v1/passports", params={"placed_to": "2026-03-01T00:00:00Z"})
        assert accepted.status_code == 200, accepted.text


async def test_through_the_gateway_the_refusal_is_a_400_and_the_next_request_is_answered(
    platform: dict[str, ServiceProcess], settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """nginx answered the request after such a body with 502: the worker behind it was gone."""
    key = new_key(settings, Role.carrier, f"carrier-{uuid.uuid4().hex[:8]}")
    gateway = local_gateway(tmp_path_factory.mktemp("gateway-json"), PORT_BASE + 63, TEST_PORTS)
    async with gateway as url, client_from(loopback_address(), url, timeout=60, headers={"X-API-Key": key}) as http:
        # Bodies within nginx's in-memory buffer (its workers may not write the test's temporary directory), deep
        # enough to exhaust Python's recursion.
        for body in (b"[" * 3_000 + b"]" * 3_000, b'{"a":' * 1_200 + b"1" + b"}" * 1_200, LONG_INTEGER):
            refused = await http.post("/epcis/capture", content=body, headers={"Content-Type": "application/json"})
            assert refused.status_code == 400, refused.text
            after = await http.get("/custody/health/live")
            assert after.status_code == 200, after.text
