"""OWASP API1 (broken object level authorisation), across every operation that takes an id in the four OpenAPI
documents: tenant A makes one of everything (passports, an extension schema, an API key, a recycled-content claim,
an export job, ...), then tenant B's OEM admin calls every such operation with A's ids and gets 404 — never A's
data, never a change to it. 403 only where B's role itself is refused (handler registry administration, recyclers'
batches, EPCIS capture jobs); the public surface answers B exactly what it answers anyone.

`CASES` maps every (method, path template) with a path parameter to what B must get; an operation missing from it
(a new route) or a case whose route is gone fails the test.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest

from bpass.examples import EXAMPLE_GTIN, valid_static_payload
from contracts.attributes import BatteryCategory
from contracts.recovery import (
    RecoveredMaterial,
    RefinedProduct,
    RefinedProductKind,
    RefinerFeed,
    RefinerReportSubmitted,
)
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.integration.recovery_support import recycler_holding
from tests.integration.test_recovery_flow import mint, treatment_batch
from tests.support import EXAMPLE_GTIN_PREFIX, ServiceProcess, eventually, verified_gtin_prefix

pytestmark = pytest.mark.timeout(120)

SERVICES = ("identity", "custody", "recovery", "reporting")

NOT_FOUND = "not_found"  # A's object is invisible to B: 404
ROLE_REFUSED = "role_refused"  # B's role may not call the operation at all: 403 role_not_allowed
PUBLIC = "public"  # the public surface: B gets exactly what an anonymous caller gets
OWN_NAMESPACE = "own_namespace"  # the id names something per tenant: B writes its own, A's stays as it was
NOT_TENANT_OWNED = "not_tenant_owned"  # the id names no tenant's object: B reads it, and nothing of A's


@dataclass(frozen=True)
class Case:
    expect: str
    owner: str = "oem"  # whose key reads the object as its owner (the control that the id is real)
    ids: dict[str, str] = field(default_factory=dict)  # path parameter -> world id, where not the parameter's name
    body: Any = None  # the JSON body of a write (valid, so that nothing but authorisation can refuse it)
    why: str = ""


EPCIS_PLACE = "urn:epc:id:sgln:4012345.00001.0"
AMENDMENT = {"reason": "cross-tenant probe", "static_data": {"weight_kg": "516"}}
B_SCHEMA = {"type": "object", "properties": {"b_only": {"type": "string"}}}
WASTE = {"responsible_party": {"kind": "compliance_scheme", "id": "EPR-DE-0001"}, "reason": "cross-tenant probe"}

CASES: dict[tuple[str, str], Case] = {
    # identity
    ("GET", "/identity/v1/passports/{passport_id}"): Case(NOT_FOUND),
    ("PATCH", "/identity/v1/passports/{passport_id}"): Case(NOT_FOUND, body=AMENDMENT),
    ("GET", "/identity/v1/passports/{passport_id}/versions"): Case(NOT_FOUND),
    ("GET", "/identity/v1/passports/{passport_id}/versions/{version}"): Case(NOT_FOUND),
    ("GET", "/identity/v1/passports/{passport_id}/qr.svg"): Case(NOT_FOUND),
    ("GET", "/identity/v1/passports/{passport_id}/qr.png"): Case(NOT_FOUND),
    ("GET", "/identity/v1/product-families/{family}/extension-schema"): Case(NOT_FOUND),
    ("PUT", "/identity/v1/product-families/{family}/extension-schema"): Case(
        OWN_NAMESPACE, body=B_SCHEMA, why="family names are per tenant: B declares its own family of that name"
    ),
    ("GET", "/identity/v1/api-keys/{key_id}"): Case(NOT_FOUND),
    ("POST", "/identity/v1/api-keys/{key_id}/revoke"): Case(NOT_FOUND),
    ("POST", "/identity/v1/tenants/{tenant}/gtin-prefixes/{prefix}/verify"): Case(
        ROLE_REFUSED, owner="operator", body={"shared": True}
    ),
    ("POST", "/identity/v1/tenants/{tenant}/gtin-prefixes/{prefix}/revoke"): Case(
        ROLE_REFUSED, owner="operator", body={}
    ),
    ("GET", "/p/{passport_ref}"): Case(PUBLIC),
    ("GET", "/p/{passport_ref}/qr.svg"): Case(PUBLIC),
    ("GET", "/p/{passport_ref}/qr.png"): Case(PUBLIC),
    ("GET", "/01/{digital_link_path}"): Case(PUBLIC),
    # custody
    ("GET", "/custody/v1/passports/{passport_id}/custody-log"): Case(NOT_FOUND),
    ("GET", "/custody/v1/passports/{passport_id}/custody-log/verification"): Case(NOT_FOUND),
    ("POST", "/custody/v1/passports/{passport_id}/waste-declaration"): Case(NOT_FOUND, body=WASTE),
    ("GET", "/custody/v1/tenants/{tenant}/policy"): Case(NOT_FOUND),
    ("PUT", "/custody/v1/tenants/{tenant}/policy"): Case(NOT_FOUND, body={"custody_violation_policy": "flag"}),
    ("GET", "/custody/v1/handlers/{handler_id}"): Case(
        NOT_TENANT_OWNED, owner="operator", why="the registry of handlers is a directory every OEM reads"
    ),
    ("PUT", "/custody/v1/handlers/{handler_id}"): Case(ROLE_REFUSED, owner="operator", body={}),
    ("POST", "/custody/v1/handlers/{handler_id}/verify"): Case(ROLE_REFUSED, owner="operator", body={}),
    ("POST", "/custody/v1/handlers/{handler_id}/suspend"): Case(ROLE_REFUSED, owner="operator", body={}),
    ("GET", "/epcis/capture/{capture_id}"): Case(ROLE_REFUSED, owner="operator"),
    # EPCIS queries: an event A's side captured is invisible to B (the same 404 as an unknown id); the value lists'
    # members that are vocabulary (a type, a step, a disposition) are no one's object: B gets their sub-resources
    # and its own events (none); an identifier, place or read point only A's events name is unknown to B.
    ("GET", "/epcis/events/{event_id}"): Case(NOT_FOUND, owner="operator"),
    ("OPTIONS", "/epcis/events/{event_id}"): Case(NOT_TENANT_OWNED, owner="operator"),
    ("GET", "/epcis/eventTypes/{value}"): Case(NOT_TENANT_OWNED, owner="operator", ids={"value": "event_type"}),
    ("GET", "/epcis/bizSteps/{value}"): Case(NOT_TENANT_OWNED, owner="operator", ids={"value": "biz_step"}),
    ("GET", "/epcis/dispositions/{value}"): Case(NOT_TENANT_OWNED, owner="operator", ids={"value": "disposition"}),
    ("GET", "/epcis/epcs/{value}"): Case(NOT_FOUND, owner="operator", ids={"value": "epc"}),
    ("GET", "/epcis/bizLocations/{value}"): Case(NOT_FOUND, owner="operator", ids={"value": "location"}),
    ("GET", "/epcis/readPoints/{value}"): Case(NOT_FOUND, owner="operator", ids={"value": "read_point"}),
    ("GET", "/epcis/eventTypes/{value}/events"): Case(NOT_TENANT_OWNED, owner="operator", ids={"value": "event_type"}),
    ("GET", "/epcis/epcs/{value}/events"): Case(NOT_TENANT_OWNED, owner="operator", ids={"value": "epc"}),
    ("GET", "/epcis/bizSteps/{value}/events"): Case(NOT_TENANT_OWNED, owner="operator", ids={"value": "biz_step"}),
    ("GET", "/epcis/bizLocations/{value}/events"): Case(NOT_TENANT_OWNED, owner="operator", ids={"value": "location"}),
    ("GET", "/epcis/readPoints/{value}/events"): Case(NOT_TENANT_OWNED, owner="operator", ids={"value": "read_point"}),
    ("GET", "/epcis/dispositions/{value}/events"): Case(
        NOT_TENANT_OWNED, owner="operator", ids={"value": "disposition"}
    ),
    **{
        ("OPTIONS", f"/epcis/{resource}/{{value}}{tail}"): Case(NOT_TENANT_OWNED, owner="operator", ids={"value": ids})
        for resource, ids in (
            ("eventTypes", "event_type"),
            ("epcs", "epc"),
            ("bizSteps", "biz_step"),
            ("bizLocations", "location"),
            ("readPoints", "read_point"),
            ("dispositions", "disposition"),
        )
        for tail in ("", "/events")
    },
    # Named queries and their subscriptions are their owner's: B's calls with A's names and ids are as unknown ones.
    ("GET", "/epcis/queries/{name}"): Case(NOT_FOUND, ids={"name": "query_name"}),
    ("DELETE", "/epcis/queries/{name}"): Case(NOT_FOUND, ids={"name": "query_name"}),
    ("OPTIONS", "/epcis/queries/{name}"): Case(NOT_TENANT_OWNED, ids={"name": "query_name"}),
    ("GET", "/epcis/queries/{name}/events"): Case(NOT_FOUND, ids={"name": "query_name"}),
    ("OPTIONS", "/epcis/queries/{name}/events"): Case(NOT_TENANT_OWNED, ids={"name": "query_name"}),
    ("GET", "/epcis/queries/{name}/subscriptions"): Case(NOT_FOUND, ids={"name": "query_name"}),
    ("POST", "/epcis/queries/{name}/subscriptions"): Case(
        NOT_FOUND, ids={"name": "query_name"}, body={"dest": "http://127.0.0.1:9/b-hook", "stream": True}
    ),
    ("OPTIONS", "/epcis/queries/{name}/subscriptions"): Case(NOT_TENANT_OWNED, ids={"name": "query_name"}),
    ("GET", "/epcis/queries/{name}/subscriptions/{subscription_id}"): Case(NOT_FOUND, ids={"name": "query_name"}),
    ("DELETE", "/epcis/queries/{name}/subscriptions/{subscription_id}"): Case(NOT_FOUND, ids={"name": "query_name"}),
    ("OPTIONS", "/epcis/queries/{name}/subscriptions/{subscription_id}"): Case(
        NOT_TENANT_OWNED, ids={"name": "query_name"}
    ),
    ("GET", "/epcis/queries/{name}/subscriptions/{subscription_id}/deliveries"): Case(
        NOT_FOUND, ids={"name": "query_name"}
    ),
    # pack membership of a passport
    ("GET", "/custody/v1/passports/{passport_id}/members"): Case(NOT_FOUND),
    ("GET", "/custody/v1/passports/{passport_id}/pack"): Case(NOT_FOUND),
    # recovery
    ("GET", "/recovery/v1/passports/{passport_id}"): Case(NOT_FOUND),
    ("GET", "/recovery/v1/passports/{passport_id}/attribution"): Case(
        NOT_FOUND, ids={"passport_id": "recycled_passport_id"}
    ),
    ("GET", "/recovery/v1/treatment-batches/{recycler_id}/{batch_id}"): Case(ROLE_REFUSED, owner="recycler"),
    ("GET", "/recovery/v1/recycled-content/claims/{claim_id}"): Case(NOT_FOUND),
    # reporting
    ("GET", "/reporting/v1/passports/{passport_id}"): Case(NOT_FOUND),
    ("GET", "/reporting/v1/passports/{passport_id}/versions"): Case(NOT_FOUND),
    ("GET", "/reporting/v1/passports/{passport_id}/versions/{version}"): Case(NOT_FOUND),
    ("GET", "/reporting/v1/passports/{passport_id}/lineage"): Case(NOT_FOUND),
    ("GET", "/reporting/v1/reports/{name}"): Case(
        NOT_TENANT_OWNED, why="names a kind of report; each tenant gets its own figures"
    ),
    ("GET", "/reporting/v1/exports/{job_id}"): Case(NOT_FOUND),
    ("GET", "/reporting/v1/exports/{job_id}/download"): Case(NOT_FOUND),
    ("GET", "/reporting/v1/exports/{job_id}/signature"): Case(NOT_FOUND),
    ("GET", "/passport/{passport_id}"): Case(PUBLIC),
}


@dataclass
class Operation:
    service: str
    method: str
    template: str
    params: list[str]


async def id_operations(http: httpx.AsyncClient, platform: dict[str, ServiceProcess]) -> list[Operation]:
    found = []
    for service in SERVICES:
        response = await http.get(f"{platform[service].base_url}/{service}/openapi.json")
        assert response.status_code == 200, response.text
        for template, item in response.json()["paths"].items():
            for method, operation in item.items():
                params = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
                if params:
                    found.append(Operation(service, method.upper(), template, params))
    return found


@dataclass
class World:
    """Tenant A's objects, and the keys of everyone involved."""

    ids: dict[str, str]
    keys: dict[str, dict[str, str]]


async def ok(call: Callable[[], Awaitable[httpx.Response]], what: str) -> httpx.Response:
    async def attempt() -> httpx.Response | None:
        response = await call()
        return response if response.status_code in (200, 201, 202, 307) else None  # 307: the QR resolver

    return await eventually(attempt, timeout=30, what=what)


async def build_world(
    http: httpx.AsyncClient,
    platform: dict[str, ServiceProcess],
    settings: Settings,
    db: asyncpg.Connection,
    tenant: tuple[str, str],
) -> World:
    name, a_key = tenant
    base = {service: platform[service].base_url for service in SERVICES}
    tag = uuid.uuid4().hex[:8]
    recycler, refiner = f"recycler-{tag}", f"refiner-{tag}"
    keys = {
        "oem": {"X-API-Key": a_key},
        "operator": {"X-API-Key": new_key(settings, Role.platform_operator)},
        "recycler": {"X-API-Key": new_key(settings, Role.recycler, recycler)},
        "refiner": {"X-API-Key": new_key(settings, Role.refiner, refiner)},
    }
    oem = keys["oem"]
    family, serial = f"API1-{tag}", f"API1-{tag}"
    await verified_gtin_prefix(base["identity"], settings.api_keys_file, name)

    async def passport() -> str:
        body = {
            "subject": {"kind": "battery", "battery_identifier": serial, "gtin": EXAMPLE_GTIN},
            "category": "ev",
            "static_data": valid_static_payload(BatteryCategory.ev),
        }
        minted = await http.post(f"{base['identity']}/identity/v1/passports", json=body, headers=oem)
        assert minted.status_code == 201, minted.text
        passport_id: str = minted.json()["passport_id"]
        return passport_id

    async def schema() -> None:
        url = f"{base['identity']}/identity/v1/product-families/{family}/extension-schema"
        declared = await http.put(
            url, json={"type": "object", "properties": {"a_only": {"type": "string"}}}, headers=oem
        )
        assert declared.status_code == 201, declared.text

    async def api_key() -> str:
        created = await http.post(f"{base['identity']}/identity/v1/api-keys", json={"role": "oem_user"}, headers=oem)
        assert created.status_code == 201, created.text
        key_id: str = created.json()["key_id"]
        return key_id

    async def capture(by: str = "operator") -> tuple[str, str]:
        # An EPCIS capture of an event for a battery nobody minted yet: a real job (the operator's event names no
        # handler and is refused in it); a handler's event is parked, and the EPCIS queries find it.
        event = {
            "type": "ObjectEvent",
            "eventID": f"urn:uuid:{uuid.uuid4()}",
            "eventTime": "2026-03-01T10:00:00.000Z",
            "eventTimeZoneOffset": "+01:00",
            "action": "OBSERVE",
            "bizStep": "shipping",
            "disposition": "in_transit",
            "epcList": [f"https://id.gs1.org/01/{EXAMPLE_GTIN}/21/NOT-YET-{tag}"],
            "readPoint": {"id": EPCIS_PLACE},
            "bizLocation": {"id": EPCIS_PLACE},
        }
        document = {
            "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-03-01T00:00:00Z",
            "epcisBody": {"eventList": [event]},
        }
        captured = await http.post(f"{base['custody']}/epcis/capture", json=document, headers=keys[by])
        assert captured.status_code == 202, captured.text
        capture_id: str = captured.json()["captureID"]
        return capture_id, str(event["eventID"])

    async def recycling() -> dict[str, str]:
        """Two of A's batteries recycled, refined, and A's recycled-content claim on the refined cobalt."""
        http.headers.update(oem)
        try:
            nmc, _ = await mint(http, platform["identity"], BatteryCategory.ev)
            lfp, lfp_identifier = await mint(http, platform["identity"], BatteryCategory.industrial)
        finally:
            del http.headers["X-API-Key"]
        recovery = f"{base['recovery']}/recovery/v1"
        for passport_id in (nmc, lfp):
            await ok(lambda p=passport_id: http.get(f"{recovery}/passports/{p}", headers=oem), "recovery knows it")
        await recycler_holding(settings, platform, db, recycler, [nmc, lfp], refiner=refiner)
        batch = json.loads(treatment_batch(recycler, f"TB-{tag}", nmc, lfp_identifier).model_dump_json())
        treated = await http.post(f"{recovery}/treatment-batches", json=batch, headers=keys["recycler"])
        assert treated.status_code == 201, treated.text
        report = RefinerReportSubmitted(
            report_id=f"RR-{tag}",
            refiner_id=refiner,
            period_start="2026-03-05T00:00:00Z",  # type: ignore[arg-type]
            period_end="2026-03-31T00:00:00Z",  # type: ignore[arg-type]
            inputs=[RefinerFeed(recycler_id=recycler, lot_id=f"TB-{tag}-BM", mass_kg="560.0")],  # type: ignore[arg-type]
            products=[
                RefinedProduct(
                    product_lot_id=f"CS-{tag}",
                    product=RefinedProductKind.cobalt_sulphate,
                    mass_kg="28.0",  # type: ignore[arg-type]
                    metal_content_pct={RecoveredMaterial.cobalt: "20.9"},  # type: ignore[dict-item]
                )
            ],
        )
        refined = await http.post(
            f"{recovery}/refiner-reports", json=json.loads(report.model_dump_json()), headers=keys["refiner"]
        )
        assert refined.status_code == 201, refined.text
        claim = {
            "battery_model": f"VX-400 {tag}",
            "manufacturing_plant": "GLN 4006381000023",
            "year": 2031,
            "content_totals_kg": {"cobalt": "15"},
            "sources": [
                {
                    "refiner_id": refiner,
                    "product_lot_id": f"CS-{tag}",
                    "material": "cobalt",
                    "origin": "post_consumer",
                    "mass_kg": "3",
                }
            ],
        }
        claimed = await http.post(f"{recovery}/recycled-content/claims", json=claim, headers=oem)
        assert claimed.status_code == 201, claimed.text
        return {"recycled_passport_id": nmc, "batch_id": f"TB-{tag}", "claim_id": claimed.json()["claim_id"]}

    passport_id, _, key_id, (capture_id, _), recycled = await asyncio.gather(
        passport(), schema(), api_key(), capture(), recycling()
    )
    _, event_id = await capture(by="recycler")  # registered by recycling()
    query_name, subscription_id = await named_query(http, base["custody"], oem, tag)
    reporting = f"{base['reporting']}/reporting/v1"
    exported = await http.post(
        f"{reporting}/exports", json={"format": "audit-pack-pdf", "passport_ids": [passport_id]}, headers=oem
    )
    assert exported.status_code == 202, exported.text
    job_id = exported.json()["job_id"]

    async def export_done() -> bool:
        job = await http.get(f"{reporting}/exports/{job_id}", headers=oem)
        return bool(job.json()["status"] == "done")

    await eventually(export_done, what="A's export job to finish")
    report_name = (await http.get(f"{reporting}/reports", headers=oem)).json()["reports"][0]["name"]
    return World(
        ids={
            "passport_id": passport_id,
            "passport_ref": passport_id.removeprefix("urn:uuid:"),
            "version": "1",
            "family": family,
            "key_id": key_id,
            "tenant": name,
            "prefix": EXAMPLE_GTIN_PREFIX,
            "handler_id": recycler,
            "capture_id": capture_id,
            "event_id": event_id,
            "event_type": "ObjectEvent",
            "epc": quote(f"https://id.gs1.org/01/{EXAMPLE_GTIN}/21/NOT-YET-{tag}", safe=""),
            "query_name": query_name,
            "subscription_id": subscription_id,
            "biz_step": "shipping",
            "location": EPCIS_PLACE,
            "read_point": EPCIS_PLACE,
            "disposition": "in_transit",
            "recycler_id": recycler,
            "job_id": job_id,
            "name": report_name,
            "digital_link_path": f"{EXAMPLE_GTIN}/21/{serial}",
            **recycled,
        },
        keys=keys,
    )


async def named_query(http: httpx.AsyncClient, custody: str, oem: dict[str, str], tag: str) -> tuple[str, str]:
    """A's EPCIS named query and a webhook subscription of it."""
    name = f"a-shipments-{tag}"
    created = await http.post(
        f"{custody}/epcis/queries", json={"name": name, "query": {"EQ_bizStep": ["shipping"]}}, headers=oem
    )
    assert created.status_code == 201, created.text
    subscribed = await http.post(
        f"{custody}/epcis/queries/{name}/subscriptions",
        json={"dest": "http://127.0.0.1:9/a-hook", "stream": True},
        headers=oem,
    )
    assert subscribed.status_code == 201, subscribed.text
    return name, str(subscribed.json()["subscriptionID"])


def url_of(platform: dict[str, ServiceProcess], operation: Operation, case: Case, world: World) -> str:
    path = operation.template
    for param in operation.params:
        path = path.replace("{" + param + "}", world.ids[case.ids.get(param, param)])
    return platform[operation.service].base_url + path


async def test_every_id_route_hides_tenant_a_objects_from_tenant_b(
    platform: dict[str, ServiceProcess], settings: Settings, db: asyncpg.Connection, tenant: tuple[str, str]
) -> None:
    a_name = tenant[0]
    b = {"X-API-Key": new_key(settings, Role.oem_admin, f"oem-b-{uuid.uuid4().hex[:8]}")}
    async with httpx.AsyncClient(timeout=30) as http:
        operations = await id_operations(http, platform)
        found = {(op.method, op.template) for op in operations}
        uncovered = sorted(found - CASES.keys())
        assert not uncovered, f"operations taking an id without a cross-tenant case in CASES: {uncovered}"
        gone = sorted(CASES.keys() - found)
        assert not gone, f"CASES names operations the OpenAPI documents no longer have: {gone}"

        world = await build_world(http, platform, settings, db, tenant)
        reads = [op for op in operations if op.method == "GET"]
        writes = [op for op in operations if op.method != "GET"]

        # Controls: each id is real — its owner reads it (eventually: custody, recovery and reporting learn of
        # A's passports from facts).
        async def control(op: Operation) -> None:
            case = CASES[(op.method, op.template)]
            owner = world.keys[case.owner]
            await ok(lambda: http.get(url_of(platform, op, case, world), headers=owner), f"{case.owner}: {op.template}")

        await asyncio.gather(*(control(op) for op in reads))
        oem = world.keys["oem"]
        identity, custody = platform["identity"].base_url, platform["custody"].base_url
        passport_url = f"{identity}/identity/v1/passports/{world.ids['passport_id']}"
        log_url = f"{custody}/custody/v1/passports/{world.ids['passport_id']}/custody-log"
        passport_before = (await http.get(passport_url, headers=oem)).json()
        log_before = (await http.get(log_url, headers=oem)).json()

        async def as_b(op: Operation) -> tuple[Operation, Case, httpx.Response]:
            case = CASES[(op.method, op.template)]
            url = url_of(platform, op, case, world)
            response = await http.request(op.method, url, json=case.body, headers=b)
            return op, case, response

        # Reads in parallel, then writes (a write of B's own namespace must come after B's read of it).
        answered = list(await asyncio.gather(*(as_b(op) for op in reads)))
        answered += list(await asyncio.gather(*(as_b(op) for op in writes)))
        anonymous = {
            op.template: await http.get(url_of(platform, op, CASES[(op.method, op.template)], world))
            for op, case, _ in answered
            if case.expect == PUBLIC
        }
        failures = []
        for op, case, response in answered:
            sent = [world.ids[case.ids.get(param, param)] for param in op.params]
            problem = judge(case, response, anonymous.get(op.template), a_name, sent)
            if problem:
                failures.append(f"{op.method} {op.template} -> {response.status_code}: {problem} {response.text[:200]}")
        assert not failures, "tenant B reached tenant A's objects:\n" + "\n".join(failures)

        # Nothing of A's changed: its passport, key, schema, policy and custody log are as they were.
        passport = await http.get(passport_url, headers=oem)
        assert passport.json() == passport_before
        assert passport.headers["etag"] == '"1"'
        key = await http.get(f"{identity}/identity/v1/api-keys/{world.ids['key_id']}", headers=oem)
        assert key.json()["status"] == "active"
        schema = await http.get(
            f"{identity}/identity/v1/product-families/{world.ids['family']}/extension-schema", headers=oem
        )
        assert (schema.json()["version"], list(schema.json()["json_schema"]["properties"])) == (1, ["a_only"])
        policy = await http.get(f"{custody}/custody/v1/tenants/{a_name}/policy", headers=oem)
        assert policy.json()["default"] is True
        assert (await http.get(log_url, headers=oem)).json() == log_before
        query = f"{custody}/epcis/queries/{world.ids['query_name']}"
        assert (await http.get(query, headers=oem)).status_code == 200
        assert (await http.get(f"{query}/subscriptions/{world.ids['subscription_id']}", headers=oem)).status_code == 200
        subscriptions = await http.get(f"{query}/subscriptions", headers=oem)
        assert len(subscriptions.json()) == 1, subscriptions.text  # B subscribed nothing to it


def judge(
    case: Case, response: httpx.Response, anonymous: httpx.Response | None, a_name: str, sent: list[str]
) -> str | None:
    """What is wrong with B's answer, or None. Echoing the ids B sent is no leak; anything else naming A is."""
    status = response.status_code
    text = response.text
    for value in sent:
        text = text.replace(value, "")
    if status >= 500:
        return "a server error"
    if case.expect == NOT_FOUND:
        if status != 404:
            return "expected 404"
        if a_name in text:
            return "the refusal names tenant A"
    elif case.expect == ROLE_REFUSED:
        if status != 403 or response.json()["reason"] != "role_not_allowed":
            return "expected 403 role_not_allowed"
    elif case.expect == PUBLIC:
        assert anonymous is not None
        # 307: the resolver's redirect to the passport's public page (the same Location for anyone).
        same = (status, response.headers.get("location"), response.content) == (
            anonymous.status_code,
            anonymous.headers.get("location"),
            anonymous.content,
        )
        if not same or status not in (200, 307):
            return "the public surface answered B otherwise than anyone"
    elif case.expect == OWN_NAMESPACE:
        if status not in (200, 201) or a_name in text:
            return "expected B's own object, nothing of A's"
    elif case.expect == NOT_TENANT_OWNED:
        if status not in (200, 204) or a_name in text:  # 204: OPTIONS' headers only
            return "expected 200 (204) without anything of tenant A"
    else:
        return f"unknown expectation {case.expect}"
    return None
