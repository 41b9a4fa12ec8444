"""EPCIS 2.0 queries against the real custody service: events captured from the shared fixtures through
`POST /epcis/capture`, indexed from the capture job, queried through `GET /epcis/events` with every supported
parameter against a reference filter (known ground truth), paging (each event exactly once), limits, the event
resource, discovery and OPTIONS, and visibility (another party sees nothing of them, not even their existence)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from contracts.custody import CustodyEventKind
from services.common.auth import Role
from services.common.db import init_connection
from services.common.settings import Settings
from services.custody.domain.epcis import context_prefixes, event_hash
from services.custody.domain.epcis.query import identifier_forms
from services.custody.domain.epcis.timestamps import parse_timestamp
from services.custody.domain.epcis.vocabulary import Vocabulary, bare_term
from services.custody.query.usecases import KEPT_OUTCOMES
from tests.conftest import PORT_BASE, new_key
from tests.integration import test_custody_events as native
from tests.integration.test_custody_epcis import EPCIS_TENANT, capture, document, mint_gs1, object_event
from tests.integration.test_custody_events import Custody, custody_alone, register, uid
from tests.unit.custody.epcis_fixtures import accepted_documents, load, require_fixtures

Event = dict[str, Any]


@dataclass
class Captured:
    """The events the first handler captured (by CBV event hash) and its key; the moment between two captures."""

    handler: str
    key: str
    events: dict[str, Event]
    documents: int
    between: datetime
    later: set[str]


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("custody-epcis-query"), PORT_BASE + 9) as running:
        yield running


@pytest.fixture(scope="module")
async def service_db(custody: Custody) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the custody service has one (its schema first, its JSON codecs)."""
    conn = await asyncpg.connect(custody.settings.database_url, server_settings={"search_path": "custody,public"})
    await init_connection(conn)
    try:
        yield conn
    finally:
        await conn.close()


async def capture_indexed(
    custody: Custody, db: asyncpg.Connection, handler: str, key: str, body: Event, media: str = "application/json"
) -> dict[str, Any]:
    """Capture through the service: the capture itself indexes what it kept for the query interface (checked here:
    every kept event is in the index once the job is answered)."""
    job = await capture(custody, key, json.dumps(body).encode(), media=media)
    kept = {r["eventHash"] for r in job["events"] if r["outcome"] in KEPT_OUTCOMES}
    indexed = await db.fetchval(
        "SELECT count(*) FROM custody.epcis_event_index WHERE event_hash = ANY($1::text[])", list(kept)
    )
    assert indexed == len(kept), f"{len(kept)} events kept by capture {job['captureID']}, {indexed} indexed"
    return job


@pytest.fixture(scope="module")
async def captured(custody: Custody, service_db: asyncpg.Connection) -> Captured:
    require_fixtures()
    handler = uid("query-carrier")
    await register(custody, handler)
    key = new_key(custody.settings, Role.carrier, handler)
    events: dict[str, Event] = {}
    paths = accepted_documents()
    half = len(paths) // 2
    later: set[str] = set()
    between = datetime.min
    for number, path in enumerate(paths):
        if number == half:
            between = await service_db.fetchval("SELECT clock_timestamp()")
        body = load(path)
        media = "application/ld+json" if path.suffix == ".jsonld" else "application/json"
        job = await capture_indexed(custody, service_db, handler, key, body, media)
        for report in job["events"]:
            if report["outcome"] not in KEPT_OUTCOMES:
                continue
            event = body["epcisBody"]["eventList"][report["index"]]
            known = events.get(report["eventHash"])
            if known is None or ("errorDeclaration" in event and "errorDeclaration" not in known):
                events[report["eventHash"]] = event
            if number >= half and known is None:
                later.add(report["eventHash"])
    assert len(events) >= 30, "the fixtures hold a few dozen distinct events"
    remember(events)
    return Captured(handler, key, events, len(paths), between, later)


async def query(custody: Custody, key: str, params: list[tuple[str, str]] | str = "") -> Any:
    path = f"/epcis/events?{params if isinstance(params, str) else urllib.parse.urlencode(params)}"
    async with custody.http(key) as http:
        return await http.get(path)


def canonical(value: Any) -> Any:
    """An event compared as JSON data (key order and number spelling aside: 1e3 == 1000 == 1000.0)."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(Decimal(repr(value)).normalize())
    return value


KNOWN: dict[str, str] = {}  # canonical JSON of each captured event -> its CBV event hash (from the capture job)


def remember(events: dict[str, Event]) -> None:
    KNOWN.update({json.dumps(canonical(e), sort_keys=True): h for h, e in events.items()})


def hashes_of(body: dict[str, Any]) -> list[str]:
    """The event hashes of a query document's events, each event identified as captured."""
    assert body["type"] == "EPCISQueryDocument"
    prefixes = context_prefixes(body["@context"])
    return [
        KNOWN.get(json.dumps(canonical(e), sort_keys=True)) or event_hash(e, prefixes)
        for e in body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    ]


async def all_pages(custody: Custody, key: str, params: list[tuple[str, str]]) -> tuple[list[str], int]:
    """Every event hash across the pages, following the Link headers; and the number of pages."""
    found: list[str] = []
    pages = 0
    target = f"/epcis/events?{urllib.parse.urlencode(params)}"
    async with custody.http(key) as http:
        while True:
            response = await http.get(target)
            assert response.status_code == 200, response.text
            pages += 1
            found += hashes_of(response.json())
            link = response.headers.get("Link")
            if link is None:
                return found, pages
            assert link.endswith('>; rel="next"')
            target = link[1 : link.index(">")]
            assert response.headers["GS1-Next-Page-Token"] in urllib.parse.unquote(target)


def ids(event: Event, *names: str) -> set[str]:
    values: set[str] = set()
    for name in names:
        value = event.get(name)
        for item in value if isinstance(value, list) else [value] if isinstance(value, str) else []:
            if isinstance(item, str):
                values.update(identifier_forms(item))
    return values


def typed(event: Event, name: str, key: str, vocabulary: Vocabulary) -> set[tuple[str, str]]:
    return {
        (bare_term(vocabulary, i.get("type", "")) or i.get("type", ""), form)
        for i in event.get(name) or []
        if isinstance(i, dict) and isinstance(i.get(key), str)
        for form in identifier_forms(i[key])
    }


def first_value(events: dict[str, Event], pick: Callable[[Event], Any]) -> Any:
    for event in events.values():
        value = pick(event)
        if value:
            return value
    raise AssertionError("no fixture event has it")


def time_of(event: Event) -> datetime:
    parsed = parse_timestamp(event["eventTime"])
    assert parsed is not None
    return parsed


def cases(events: dict[str, Event]) -> list[tuple[list[tuple[str, str]], Callable[[Event], bool]]]:
    """(parameters, the reference predicate of the events they must answer), values taken from the fixtures."""
    times = sorted(time_of(e) for e in events.values())
    middle = times[len(times) // 2]
    epc = first_value(events, lambda e: (e.get("epcList") or [None])[0])
    child = first_value(events, lambda e: (e.get("childEPCs") or [None])[0])
    parent = first_value(events, lambda e: e.get("parentID"))
    input_epc = first_value(events, lambda e: (e.get("inputEPCList") or [None])[0])
    output_epc = first_value(events, lambda e: (e.get("outputEPCList") or [None])[0])
    read_point = first_value(events, lambda e: (e.get("readPoint") or {}).get("id"))
    biz_location = first_value(events, lambda e: (e.get("bizLocation") or {}).get("id"))
    btt, bt = first_value(
        events, lambda e: sorted(typed(e, "bizTransactionList", "bizTransaction", Vocabulary.BIZ_TRANSACTION_TYPE))
    )[0]
    sdt, src = first_value(
        events, lambda e: sorted(typed(e, "sourceList", "source", Vocabulary.SOURCE_DESTINATION_TYPE))
    )[0]
    ddt, dst = first_value(
        events, lambda e: sorted(typed(e, "destinationList", "destination", Vocabulary.SOURCE_DESTINATION_TYPE))
    )[0]

    def step(e: Event) -> str | None:
        return bare_term(Vocabulary.BIZ_STEP, e["bizStep"]) or e["bizStep"] if "bizStep" in e else None

    def disposition(e: Event) -> str | None:
        return bare_term(Vocabulary.DISPOSITION, e["disposition"]) or e["disposition"] if "disposition" in e else None

    return [
        ([("eventType", "AggregationEvent")], lambda e: e["type"] == "AggregationEvent"),
        (
            [("eventType", "ObjectEvent|TransformationEvent")],
            lambda e: e["type"] in {"ObjectEvent", "TransformationEvent"},
        ),
        ([("GE_eventTime", middle.isoformat())], lambda e: time_of(e) >= middle),
        ([("LT_eventTime", middle.isoformat())], lambda e: time_of(e) < middle),
        ([("EQ_action", "ADD")], lambda e: e.get("action") == "ADD"),
        ([("EQ_action", "OBSERVE"), ("EQ_action", "DELETE")], lambda e: e.get("action") in {"OBSERVE", "DELETE"}),
        ([("EQ_bizStep", "urn:epcglobal:cbv:bizstep:shipping")], lambda e: step(e) == "shipping"),
        ([("EQ_disposition", "in_transit")], lambda e: disposition(e) == "in_transit"),
        ([("EQ_readPoint", read_point)], lambda e: (e.get("readPoint") or {}).get("id") == read_point),
        ([("EQ_bizLocation", biz_location)], lambda e: (e.get("bizLocation") or {}).get("id") == biz_location),
        ([("MATCH_epc", epc)], lambda e: bool(ids(e, "epcList", "childEPCs") & set(identifier_forms(epc)))),
        ([("MATCH_epc", child)], lambda e: bool(ids(e, "epcList", "childEPCs") & set(identifier_forms(child)))),
        (
            [("MATCH_anyEPC", f"{parent}|{output_epc}")],
            lambda e: bool(
                ids(e, "epcList", "childEPCs", "parentID", "inputEPCList", "outputEPCList")
                & (set(identifier_forms(parent)) | set(identifier_forms(output_epc)))
            ),
        ),
        ([("MATCH_parentID", parent)], lambda e: bool(ids(e, "parentID") & set(identifier_forms(parent)))),
        ([("MATCH_inputEPC", input_epc)], lambda e: bool(ids(e, "inputEPCList") & set(identifier_forms(input_epc)))),
        (
            [("MATCH_outputEPC", output_epc)],
            lambda e: bool(ids(e, "outputEPCList") & set(identifier_forms(output_epc))),
        ),
        (
            [(f"EQ_bizTransaction_{btt}", bt)],
            lambda e: (btt, bt) in typed(e, "bizTransactionList", "bizTransaction", Vocabulary.BIZ_TRANSACTION_TYPE),
        ),
        (
            [(f"EQ_source_{sdt}", src)],
            lambda e: (sdt, src) in typed(e, "sourceList", "source", Vocabulary.SOURCE_DESTINATION_TYPE),
        ),
        (
            [(f"EQ_destination_{ddt}", dst)],
            lambda e: (ddt, dst) in typed(e, "destinationList", "destination", Vocabulary.SOURCE_DESTINATION_TYPE),
        ),
        ([("EXISTS_sensorElementList", "")], lambda e: "sensorElementList" in e),
        ([("EXISTS_errorDeclaration", "")], lambda e: "errorDeclaration" in e),
        (
            [("eventType", "ObjectEvent"), ("EQ_bizStep", "shipping"), ("GE_eventTime", middle.isoformat())],
            lambda e: e["type"] == "ObjectEvent" and step(e) == "shipping" and time_of(e) >= middle,
        ),
    ]


async def test_every_parameter_answers_its_ground_truth(custody: Custody, captured: Captured) -> None:
    for params, expected in cases(captured.events):
        truth = {h for h, e in captured.events.items() if expected(e)}
        assert truth, (params, "the fixtures must hold a matching event")
        if params[0][0] not in ("GE_eventTime", "LT_eventTime"):
            assert truth != set(captured.events), (params, "the condition must leave events out")
        found, _ = await all_pages(custody, captured.key, [*params, ("perPage", "1000")])
        assert len(found) == len(set(found)), params
        assert set(found) == truth, params


async def test_record_time_bounds_split_the_captures(custody: Custody, captured: Captured) -> None:
    after, _ = await all_pages(custody, captured.key, [("GE_recordTime", captured.between.isoformat())])
    before, _ = await all_pages(custody, captured.key, [("LT_recordTime", captured.between.isoformat())])
    assert set(after) == captured.later
    assert set(before) == set(captured.events) - captured.later
    assert captured.later
    assert set(before)


@pytest.mark.parametrize(
    ("order", "direction"), [("eventTime", "DESC"), ("eventTime", "ASC"), ("recordTime", "ASC"), ("recordTime", "DESC")]
)
async def test_paging_answers_every_event_exactly_once_in_order(
    custody: Custody, captured: Captured, order: str, direction: str
) -> None:
    found, pages = await all_pages(
        custody, captured.key, [("orderBy", order), ("orderDirection", direction), ("perPage", "4")]
    )
    assert len(found) == len(captured.events)
    assert set(found) == set(captured.events)
    assert pages == -(-len(captured.events) // 4)
    if order == "eventTime":
        times = [time_of(captured.events[h]) for h in found]
        assert times == sorted(times, reverse=direction == "DESC")


async def test_event_count_limit_caps_the_answer_across_pages(custody: Custody, captured: Captured) -> None:
    found, pages = await all_pages(custody, captured.key, [("eventCountLimit", "5"), ("perPage", "2")])
    assert len(found) == 5
    assert pages == 3
    newest, _ = await all_pages(custody, captured.key, [("perPage", "5")])
    assert found == newest[:5]


async def test_max_event_count_refuses_a_larger_answer(custody: Custody, captured: Captured) -> None:
    too_many = await query(custody, captured.key, [("maxEventCount", "2")])
    assert too_many.status_code == 413
    assert too_many.headers["content-type"].startswith("application/problem+json")
    assert too_many.json()["type"] == "epcisException:QueryTooLargeException"
    enough = await query(custody, captured.key, [("maxEventCount", str(len(captured.events))), ("perPage", "1000")])
    assert enough.status_code == 200
    assert len(hashes_of(enough.json())) == len(captured.events)


@pytest.mark.parametrize(
    ("params", "parameter", "reason"),
    [
        ("EQ_colour=red", "EQ_colour", "unknown_query_parameter"),
        ("GE_eventTime=yesterday", "GE_eventTime", "invalid_query_time"),
        ("EQ_action=MOVE", "EQ_action", "invalid_query_parameter_value"),
        ("perPage=0", "perPage", "invalid_query_number"),
        ("nextPageToken=abc.def", "nextPageToken", "invalid_next_page_token"),
    ],
)
async def test_a_bad_parameter_is_a_query_parameter_exception(
    custody: Custody, captured: Captured, params: str, parameter: str, reason: str
) -> None:
    response = await query(custody, captured.key, params)
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "epcisException:QueryParameterException"
    assert (body["parameter"], body["reason"], body["field"]) == (parameter, reason, f"query.{parameter}")


async def test_a_page_token_works_only_for_its_query_and_reader(custody: Custody, captured: Captured) -> None:
    first = await query(custody, captured.key, [("perPage", "2")])
    token = first.headers["GS1-Next-Page-Token"]
    assert (await query(custody, captured.key, [("perPage", "2"), ("nextPageToken", token)])).status_code == 200
    other_query = await query(custody, captured.key, [("EQ_action", "ADD"), ("nextPageToken", token)])
    assert other_query.json()["reason"] == "invalid_next_page_token"
    operator = await query(custody, custody.operator, [("perPage", "2"), ("nextPageToken", token)])
    assert operator.json()["reason"] == "invalid_next_page_token"


async def test_an_event_by_its_id_and_discovery(custody: Custody, captured: Captured) -> None:
    event_hash_, event = next((h, e) for h, e in captured.events.items() if e.get("eventID"))
    async with custody.http(captured.key) as http:
        one = await http.get(f"/epcis/events/{urllib.parse.quote(event['eventID'], safe='')}")
        assert one.status_code == 200, one.text
        assert hashes_of(one.json()) == [event_hash_]
        assert one.headers["GS1-EPCIS-Version"] == "2.0.0"
        options = await http.options("/epcis/events")
        assert options.status_code == 204
        for header in ("GS1-EPCIS-Version", "GS1-CBV-Version", "GS1-EPCIS-Min", "GS1-EPCIS-Max", "GS1-Extensions"):
            assert header in options.headers, header
        assert "GET" in options.headers["Allow"]
        root = await http.get("/epcis/")
        assert {r["href"] for r in root.json()["resources"]} >= {"/epcis/events", "/epcis/events/{eventID}"}
        assert (await http.options("/epcis")).status_code == 204


async def test_another_party_sees_nothing_of_the_events_not_even_their_existence(
    custody: Custody, captured: Captured
) -> None:
    other = uid("query-other")
    await register(custody, other)
    other_key = new_key(custody.settings, Role.carrier, other)
    nothing, _ = await all_pages(custody, other_key, [])
    assert nothing == []
    oem_key = new_key(custody.settings, Role.oem_admin, uid("oem-stranger"))
    assert (await all_pages(custody, oem_key, []))[0] == []
    too_large = await query(custody, other_key, [("maxEventCount", "1")])  # counts only what the reader sees
    assert too_large.status_code == 200
    event_id = next(e["eventID"] for e in captured.events.values() if e.get("eventID"))
    async with custody.http(other_key) as http:
        hidden = await http.get(f"/epcis/events/{urllib.parse.quote(event_id, safe='')}")
        unknown = await http.get("/epcis/events/urn:uuid:00000000-0000-4000-8000-000000000000")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.headers["content-type"].startswith("application/problem+json")
    strip = {"detail"}
    assert {k: v for k, v in hidden.json().items() if k not in strip} == {
        k: v for k, v in unknown.json().items() if k not in strip
    }
    assert hidden.json()["type"] == "epcisException:NoSuchResourceException"
    regulator = new_key(custody.settings, Role.regulator)
    everything, _ = await all_pages(custody, regulator, [("perPage", "1000")])
    assert set(everything) >= set(captured.events)


async def test_an_oem_and_its_auditor_see_the_events_about_its_passports_only(
    custody: Custody, service_db: asyncpg.Connection, captured: Captured
) -> None:
    carrier = uid("query-delegate")
    await register(custody, carrier, delegate_of=[EPCIS_TENANT])
    key = new_key(custody.settings, Role.carrier, carrier)
    _, serial = await mint_gs1(custody, EPCIS_TENANT)
    shipped = object_event(serial, time="2026-03-05T10:00:00.000Z")
    job = await capture_indexed(custody, service_db, carrier, key, document(shipped))
    assert job["events"][0]["outcome"] == "recorded"
    mine = job["events"][0]["eventHash"]
    for role in (Role.oem_admin, Role.oem_user, Role.auditor):
        seen, _ = await all_pages(custody, new_key(custody.settings, role, EPCIS_TENANT), [])
        assert seen == [mine], role
    # The fixtures' events name no passport of the tenant: the first handler sees its own, not this one.
    handler_sees, _ = await all_pages(custody, captured.key, [("perPage", "1000")])
    assert mine not in handler_sees
    stranger = new_key(custody.settings, Role.oem_admin, uid("oem-other"))
    async with custody.http(stranger) as http:
        hidden = await http.get(f"/epcis/events/{urllib.parse.quote(shipped['eventID'], safe='')}")
    assert hidden.status_code == 404


async def test_a_handler_sees_the_events_about_batteries_sent_to_it(
    custody: Custody, service_db: asyncpg.Connection
) -> None:
    tenant = uid("oem-q")
    sender, receiver, stranger = uid("query-sender"), uid("query-receiver"), uid("query-stranger")
    await register(custody, sender, delegate_of=[tenant])
    await register(custody, receiver)
    await register(custody, stranger)
    sender_key = new_key(custody.settings, Role.carrier, sender)
    receiver_key = new_key(custody.settings, Role.recycler, receiver)
    stranger_key = new_key(custody.settings, Role.recycler, stranger)
    passport_id, serial = await mint_gs1(custody, tenant)
    inspected = object_event(serial, biz_step="inspecting", time="2026-03-04T10:00:00.000Z")
    job = await capture_indexed(custody, service_db, sender, sender_key, document(inspected))
    assert job["events"][0]["outcome"] == "recorded", job
    about = job["events"][0]["eventHash"]
    assert (await all_pages(custody, receiver_key, []))[0] == []
    # The sender dispatches the battery to the receiver: its custody log now names the receiver.
    await native.send(custody, native.event(CustodyEventKind.dispatch, sender, passport_id, to_handler_id=receiver))
    await native.wait_log(custody, passport_id, 2)
    assert (await all_pages(custody, receiver_key, []))[0] == [about]
    assert (await all_pages(custody, stranger_key, []))[0] == []
    async with custody.http(receiver_key) as http:
        one = await http.get(f"/epcis/events/{urllib.parse.quote(inspected['eventID'], safe='')}")
    assert one.status_code == 200
    assert hashes_of(one.json()) == [about]


async def test_resource_views_answer_their_query(custody: Custody, captured: Captured) -> None:
    events = captured.events
    epc = first_value(events, lambda e: e.get("parentID"))
    location = first_value(events, lambda e: (e.get("bizLocation") or {}).get("id"))
    read_point = first_value(events, lambda e: (e.get("readPoint") or {}).get("id"))
    views = [
        ("eventTypes/AggregationEvent", [("eventType", "AggregationEvent")]),
        (f"epcs/{urllib.parse.quote(epc, safe='')}", [("MATCH_anyEPC", epc)]),
        ("bizSteps/shipping", [("EQ_bizStep", "shipping")]),
        (f"bizLocations/{urllib.parse.quote(location, safe='')}", [("EQ_bizLocation", location)]),
        (f"readPoints/{urllib.parse.quote(read_point, safe='')}", [("EQ_readPoint", read_point)]),
        ("dispositions/in_transit", [("EQ_disposition", "in_transit")]),
    ]
    async with custody.http(captured.key) as http:
        for view, params in views:
            expected, _ = await all_pages(custody, captured.key, params)
            assert expected, view
            assert len(expected) < len(events), view
            answer = await http.get(f"/epcis/{view}/events", params={"perPage": "1000"})
            assert answer.status_code == 200, (view, answer.text)
            assert hashes_of(answer.json()) == expected, view
        paged = await http.get("/epcis/bizSteps/shipping/events", params={"perPage": "1"})
        assert paged.headers["Link"].startswith("</epcis/bizSteps/shipping/events?")
        twice = await http.get("/epcis/bizSteps/shipping/events", params={"EQ_bizStep": "receiving"})
    assert twice.status_code == 400
    assert (twice.json()["parameter"], twice.json()["reason"]) == ("EQ_bizStep", "repeated_query_parameter")
