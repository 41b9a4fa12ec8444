"""EPCIS 2.0 named queries against the real custody service (PostgreSQL, Kafka): create / list / read / delete
with the binding's answers, refusals naming the parameter, a query's events paged as the caller sees them, names
and events confined to their owner, and the use case subscriptions deliver with (`matching_events`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from services.common.auth import Principal, Role
from services.common.db import init_connection
from services.common.settings import Settings
from services.custody.domain.epcis.query import QueryParameterError
from services.custody.query.usecases import matching_events, principal_of, stored_principal
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_custody_epcis import GTIN, capture, document, object_event
from tests.integration.test_custody_events import Custody, custody_alone, register, uid


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("custody-named-queries"), PORT_BASE + 81) as running:
        yield running


@pytest.fixture(scope="module")
async def service_db(custody: Custody) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(custody.settings.database_url, server_settings={"search_path": "custody,public"})
    await init_connection(conn)
    try:
        yield conn
    finally:
        await conn.close()


async def handler_key(custody: Custody) -> tuple[str, str]:
    handler = uid("nq-carrier")
    await register(custody, handler)
    return handler, new_key(custody.settings, Role.carrier, handler)


def epc(serial: str) -> str:
    return f"https://id.gs1.org/01/{GTIN}/21/{serial}"


async def captured_events(custody: Custody, key: str, serial: str, count: int) -> list[str]:
    """Capture `count` events about one EPC; their hashes, in document order."""
    events = [object_event(serial, time=f"2026-03-01T10:{minute:02d}:00.000Z") for minute in range(count)]
    job = await capture(custody, key, document(*events))
    assert {r["outcome"] for r in job["events"]} <= {"recorded", "parked", "flagged"}, job
    return [r["eventHash"] for r in job["events"]]


async def create(custody: Custody, key: str, body: Any) -> Any:
    async with custody.http(key) as http:
        return await http.post("/epcis/queries", json=body)


def assert_problem(response: Any, status: int, kind: str, **fields: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"epcisException:{kind}", body
    for name, value in fields.items():
        assert body.get(name, "") == value, body
    return body


async def test_create_read_list_page_and_delete_named_queries(custody: Custody) -> None:
    _, key = await handler_key(custody)
    names = [f"q-{n}-{uuid.uuid4().hex[:6]}" for n in range(5)]
    for name in names:
        query = {
            "eventType": ["ObjectEvent"],
            "EQ_bizStep": ["shipping", "receiving"],
            "GE_eventTime": "2026-01-01T00:00:00Z",
        }
        created = await create(custody, key, {"name": name, "query": query})
        assert created.status_code == 201, created.text
        assert created.headers["Location"] == f"/epcis/queries/{name}"
        assert created.headers["GS1-EPCIS-Version"] == "2.0.0"
    async with custody.http(key) as http:
        one = await http.get(f"/epcis/queries/{names[0]}")
        assert one.status_code == 200, one.text
        assert one.json() == {
            "name": names[0],
            "query": {
                "eventType": ["ObjectEvent"],
                "EQ_bizStep": ["shipping", "receiving"],
                "GE_eventTime": "2026-01-01T00:00:00Z",
            },
        }
        listed: list[str] = []
        path = "/epcis/queries?perPage=2"
        pages = 0
        while path:
            page = await http.get(path)
            assert page.status_code == 200, page.text
            assert len(page.json()) <= 2
            listed += [q["name"] for q in page.json()]
            link = page.headers.get("Link")
            path = link[1 : link.index(">")] if link else ""
            pages += 1
        assert listed == sorted(names), "every query once, by name"
        assert pages == 3
        taken = await http.post("/epcis/queries", json={"name": names[1], "query": {"eventType": "AggregationEvent"}})
        assert_problem(taken, 409, "ResourceAlreadyExistsException", reason="query_name_taken")
        deleted = await http.delete(f"/epcis/queries/{names[1]}")
        assert deleted.status_code == 204, deleted.text
        assert_problem(await http.get(f"/epcis/queries/{names[1]}"), 404, "NoSuchNameException")
        assert_problem(await http.delete(f"/epcis/queries/{names[1]}"), 404, "NoSuchNameException")
        assert_problem(await http.get(f"/epcis/queries/{names[1]}/events"), 404, "NoSuchNameException")
        again = await http.post("/epcis/queries", json={"name": names[1], "query": {}})
        assert again.status_code == 201, "a deleted name is free again"
        bad_token = await http.get("/epcis/queries?nextPageToken=%%%")
        assert_problem(bad_token, 400, "QueryParameterException", reason="invalid_next_page_token")
        options = await http.options("/epcis/queries")
        assert options.status_code == 204
        assert options.headers["Allow"] == "GET, POST, OPTIONS"
        discovery = (await http.get("/epcis")).json()
        assert {"href": "/epcis/queries", "methods": ["GET", "POST", "OPTIONS"]} in discovery["resources"]


@pytest.mark.parametrize(
    ("body", "status", "kind", "reason", "field"),
    [
        (
            {"name": "x", "query": {"EQ_colour": ["red"]}},
            400,
            "QueryParameterException",
            "unknown_query_parameter",
            "query.EQ_colour",
        ),
        (
            {"name": "x", "query": {"GE_eventTime": "yesterday"}},
            400,
            "QueryParameterException",
            "invalid_query_time",
            "query.GE_eventTime",
        ),
        (
            {"name": "x", "query": {"EQ_action": ["MOVE"]}},
            400,
            "QueryParameterException",
            "invalid_query_parameter_value",
            "query.EQ_action",
        ),
        (
            {"name": "x", "query": {"eventCountLimit": 5, "maxEventCount": 5}},
            400,
            "QueryParameterException",
            "conflicting_query_limits",
            "query.eventCountLimit",
        ),
        (
            {"name": "x", "query": {"perPage": 5}},
            400,
            "QueryParameterException",
            "paging_in_named_query",
            "query.perPage",
        ),
        (
            {"name": "x", "query": {"EQ_bizStep": []}},
            400,
            "QueryParameterException",
            "empty_query_parameter_value",
            "query.EQ_bizStep",
        ),
        (
            {"name": "x", "query": {"EQ_bizStep": {"a": 1}}},
            400,
            "QueryParameterException",
            "invalid_query_parameter_value",
            "query.EQ_bizStep",
        ),
        ({"name": "a/b", "query": {}}, 400, "ValidationException", "invalid_query_name", "name"),
        ({"name": "", "query": {}}, 400, "ValidationException", "invalid_query_name", "name"),
        ({"query": {}}, 400, "ValidationException", "invalid_query_name", "name"),
        ({"name": "x"}, 400, "ValidationException", "invalid_query_definition", "query"),
        (
            {"name": "x", "query": {}, "dest": "https://x"},
            400,
            "ValidationException",
            "invalid_query_definition",
            "dest",
        ),
        ([1, 2], 400, "ValidationException", "invalid_query_definition", ""),
    ],
)
async def test_a_query_that_could_not_run_is_refused_naming_the_parameter(
    custody: Custody, body: Any, status: int, kind: str, reason: str, field: str
) -> None:
    response = await create(custody, custody.operator, body)
    assert_problem(response, status, kind, reason=reason, field=field)
    if kind == "QueryParameterException":  # the same problem as GET /epcis/events gives
        assert response.json()["parameter"] == field.removeprefix("query.")


async def test_not_json_is_refused(custody: Custody) -> None:
    async with custody.http() as http:
        response = await http.post("/epcis/queries", content=b"{name:", headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "ValidationException", reason="invalid_json")


async def test_names_and_events_are_their_owners_and_a_querys_events_page_as_the_caller_sees_them(
    custody: Custody, service_db: asyncpg.Connection
) -> None:
    handler_a, key_a = await handler_key(custody)
    _, key_b = await handler_key(custody)
    serial = uid("NQ")[:20]
    hashes = await captured_events(custody, key_a, serial, 5)
    name = f"mine-{uuid.uuid4().hex[:6]}"
    query = {"MATCH_epc": [epc(serial)], "orderBy": "eventTime", "orderDirection": "ASC"}
    assert (await create(custody, key_a, {"name": name, "query": query})).status_code == 201

    async with custody.http(key_b) as http:
        # B knows nothing of A's query: the same answer as a name nobody has.
        for path in (f"/epcis/queries/{name}", f"/epcis/queries/{name}/events"):
            theirs = assert_problem(await http.get(path), 404, "NoSuchNameException")
            unknown = assert_problem(await http.get(path.replace(name, name + "-none")), 404, "NoSuchNameException")
            assert theirs["detail"].replace(name, "N") == unknown["detail"].replace(name + "-none", "N")
        assert_problem(await http.delete(f"/epcis/queries/{name}"), 404, "NoSuchNameException")
        assert (await http.get("/epcis/queries")).json() == []
        # B may use the same name: names are per owner. Its query over the same EPC finds none of A's events.
        assert (await create(custody, key_b, {"name": name, "query": query})).status_code == 201
        mine = await http.get(f"/epcis/queries/{name}/events")
        assert mine.status_code == 200, mine.text
        assert mine.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"] == []

    async with custody.http(key_a) as http:
        assert (await http.get(f"/epcis/queries/{name}")).json()["query"] == query, "B's query did not replace A's"
        seen: list[str] = []
        path = f"/epcis/queries/{name}/events?perPage=2"
        while path:
            page = await http.get(path)
            assert page.status_code == 200, page.text
            assert page.json()["type"] == "EPCISQueryDocument"
            seen += [e["eventTime"] for e in page.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]
            link = page.headers.get("Link")
            path = link[1 : link.index(">")] if link else ""
        assert seen == [f"2026-03-01T10:{m:02d}:00.000Z" for m in range(5)], "each event once, in the stored order"
        refused = await http.get(f"/epcis/queries/{name}/events?EQ_bizStep=shipping")
        assert_problem(refused, 400, "QueryParameterException", reason="parameter_not_for_named_query")
        tampered = await http.get(f"/epcis/queries/{name}/events?nextPageToken=abc.def")
        assert_problem(tampered, 400, "QueryParameterException", reason="invalid_next_page_token")

    # The use case subscriptions deliver with: the capture's events the query matches, as the subscriber sees them.
    a = Principal(tenant=handler_a, role=Role.carrier, key_id="k-a")
    b = Principal(tenant=uid("other"), role=Role.carrier, key_id="k-b")
    pairs = [("MATCH_epc", epc(serial))]
    delivered = await matching_events(service_db, pairs, a, [*hashes, "not-a-hash"])
    assert [e["eventTime"] for e in delivered.events] == [f"2026-03-01T10:{m:02d}:00.000Z" for m in range(5)]
    assert delivered.next_page_token is None
    assert delivered.context[0].endswith("epcis-context.jsonld")
    assert (await matching_events(service_db, pairs, b, hashes)).events == [], "visibility applies"
    assert (await matching_events(service_db, [("EQ_bizStep", "receiving")], a, hashes)).events == []
    assert len((await matching_events(service_db, [*pairs, ("perPage", "1")], a, hashes)).events) == 5, "no paging"
    with pytest.raises(QueryParameterError):
        await matching_events(service_db, [("EQ_colour", "red")], a, hashes)
    operator = Principal(tenant=None, role=Role.platform_operator, key_id="k-op")
    assert len((await matching_events(service_db, pairs, operator, hashes)).events) == 5


def test_a_stored_subscriber_is_rebuilt_as_it_was() -> None:
    for principal in (
        Principal(tenant="recycler-1", role=Role.recycler, key_id="k1"),
        Principal(tenant=None, role=Role.regulator, key_id="k2"),
    ):
        stored = stored_principal(principal)
        assert stored["name"] == principal.name
        assert principal_of(stored) == principal
    with pytest.raises(ValueError, match="does not match"):
        principal_of({**stored_principal(Principal("t", Role.carrier, "k")), "role": "regulator"})
    with pytest.raises(ValueError, match="emperor"):
        principal_of({"role": "emperor", "tenant": None, "key_id": "k"})


async def test_an_oems_keys_share_its_names_and_its_auditor_can_neither_see_nor_delete_them(custody: Custody) -> None:
    tenant = uid("oem")
    admin, user = new_key(custody.settings, Role.oem_admin, tenant), new_key(custody.settings, Role.oem_user, tenant)
    auditor = new_key(custody.settings, Role.auditor, tenant)
    name = f"fleet-{uuid.uuid4().hex[:6]}"
    assert (await create(custody, admin, {"name": name, "query": {"eventType": ["ObjectEvent"]}})).status_code == 201
    async with custody.http(user) as http:
        assert (await http.get(f"/epcis/queries/{name}")).status_code == 200, "the tenant's names are its keys'"
    async with custody.http(auditor) as http:
        assert_problem(await http.get(f"/epcis/queries/{name}"), 404, "NoSuchNameException")
        assert_problem(await http.delete(f"/epcis/queries/{name}"), 404, "NoSuchNameException")
        assert (await http.post("/epcis/queries", json={"name": name, "query": {}})).status_code == 201
    async with custody.http(admin) as http:
        assert (await http.get(f"/epcis/queries/{name}")).json()["query"] == {"eventType": ["ObjectEvent"]}
