"""The value lists of the EPCIS 2.0 REST binding against the real custody service: `GET /epcis/eventTypes`,
`/epcs`, `/bizSteps`, `/bizLocations`, `/readPoints`, `/dispositions` after the shared fixtures were captured by
one handler and a few events of their own by another; each list's members against the captured events (ground
truth), paging (every member once, in order, tokens bound to the list and the reader), the members'
sub-resources, and visibility (a handler never sees another party's values listed, nor learns they exist)."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from services.common.auth import Role
from services.common.settings import Settings
from services.custody.domain.epcis.query import identifier_forms
from services.custody.domain.epcis.vocabulary import VOCABULARIES, Vocabulary, bare_term
from services.custody.query.api import MEMBER_NAMES
from services.custody.query.usecases import KEPT_OUTCOMES
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_custody_epcis import capture, document
from tests.integration.test_custody_events import Custody, custody_alone, register, uid
from tests.unit.custody.epcis_fixtures import accepted_documents, load, require_fixtures

Event = dict[str, Any]
LISTS = ("eventTypes", "epcs", "bizSteps", "bizLocations", "readPoints", "dispositions")


@dataclass
class Party:
    handler: str
    key: str
    events: list[Event]


@dataclass
class World:
    first: Party
    second: Party


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("custody-epcis-lists"), PORT_BASE + 91) as running:
        yield running


async def kept_events(custody: Custody, key: str, body: Event, media: str = "application/json") -> list[Event]:
    job = await capture(custody, key, json.dumps(body).encode(), media=media)
    events: list[Event] = body["epcisBody"]["eventList"]
    return [events[r["index"]] for r in job["events"] if r["outcome"] in KEPT_OUTCOMES]


def own_event(marker: str) -> Event:
    """An event whose identifiers, locations and custom vocabulary are the second party's alone."""
    return {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:{uuid.uuid4()}",
        "eventTime": "2026-04-01T10:00:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "bizStep": f"https://second.example.com/bizstep/{marker}",
        "disposition": f"https://second.example.com/disp/{marker}",
        "readPoint": {"id": f"https://second.example.com/rp/{marker}"},
        "bizLocation": {"id": f"https://second.example.com/loc/{marker}"},
        "epcList": [f"https://second.example.com/battery/{marker}"],
    }


@pytest.fixture(scope="module")
async def world(custody: Custody) -> World:
    require_fixtures()
    parties = []
    for name in ("lists-first", "lists-second"):
        handler = uid(name)
        await register(custody, handler)
        parties.append(Party(handler, new_key(custody.settings, Role.carrier, handler), []))
    first, second = parties
    for path in accepted_documents():
        media = "application/ld+json" if path.suffix == ".jsonld" else "application/json"
        first.events += await kept_events(custody, first.key, load(path), media)
    second.events += await kept_events(custody, second.key, document(own_event(uid("a")), own_event(uid("b"))))
    assert len(first.events) >= 30
    assert len(second.events) == 2
    return World(first, second)


def members_of(resource: str, events: list[Event]) -> set[str]:
    """The members a list must hold for a reader who sees `events` (ground truth, from the events as captured)."""
    found: set[str] = set()
    for event in events:
        if resource == "epcs":
            for name in ("epcList", "childEPCs", "inputEPCList", "outputEPCList", "parentID"):
                value = event.get(name)
                for epc in value if isinstance(value, list) else [value] if isinstance(value, str) else []:
                    found.add(identifier_forms(epc)[-1])  # a GS1 key as its canonical Digital Link
        elif resource in ("bizLocations", "readPoints"):
            place = event.get("bizLocation" if resource == "bizLocations" else "readPoint")
            if isinstance(place, dict):
                found.add(place["id"])
        elif resource in ("bizSteps", "dispositions"):
            field, vocabulary = (
                ("bizStep", Vocabulary.BIZ_STEP) if resource == "bizSteps" else ("disposition", Vocabulary.DISPOSITION)
            )
            if isinstance(event.get(field), str):
                found.add(bare_term(vocabulary, event[field]) or event[field])
    if resource == "eventTypes":
        found = {"AggregationEvent", "AssociationEvent", "ObjectEvent", "TransactionEvent", "TransformationEvent"}
    elif resource == "bizSteps":
        found |= set(VOCABULARIES[Vocabulary.BIZ_STEP])
    elif resource == "dispositions":
        found |= set(VOCABULARIES[Vocabulary.DISPOSITION])
    return found


async def whole_list(custody: Custody, key: str, resource: str, per_page: int) -> tuple[list[str], int]:
    """Every member across the pages, following the Link headers; and the number of pages."""
    members: list[str] = []
    pages = 0
    target = f"/epcis/{resource}?perPage={per_page}"
    async with custody.http(key) as http:
        while True:
            response = await http.get(target)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["type"] == "Collection"
            assert "@context" in body
            assert response.headers["GS1-EPCIS-Version"] == "2.0.0"
            assert len(body["member"]) <= per_page
            members += body["member"]
            pages += 1
            link = response.headers.get("Link")
            if link is None:
                return members, pages
            assert link.endswith('>; rel="next"')
            assert link.startswith(f"</epcis/{resource}?")
            target = link[1 : link.index(">")]


@pytest.mark.parametrize("resource", LISTS)
async def test_a_list_holds_the_values_of_the_events_its_reader_sees(
    custody: Custody, world: World, resource: str
) -> None:
    expected = members_of(resource, world.first.events)
    listed, pages = await whole_list(custody, world.first.key, resource, per_page=7)
    assert len(listed) == len(set(listed)), "every member once"
    assert listed == sorted(listed), "in byte order"
    assert set(listed) == expected
    assert pages == max(1, -(-len(expected) // 7))
    others = members_of(resource, world.second.events) - expected
    if resource != "eventTypes":
        assert others, "the second party's events have values of their own"
    assert not others & set(listed), "another party's values are never listed"


@pytest.mark.parametrize("resource", ["epcs", "bizLocations", "readPoints", "bizSteps", "dispositions"])
async def test_an_authority_lists_every_partys_values(custody: Custody, world: World, resource: str) -> None:
    regulator = new_key(custody.settings, Role.regulator)
    listed, _ = await whole_list(custody, regulator, resource, per_page=50)
    assert listed == sorted(set(listed))
    everyone = members_of(resource, world.first.events) | members_of(resource, world.second.events)
    # The module's database holds these two parties' events only.
    assert set(listed) == everyone


async def test_a_member_answers_its_sub_resources_and_hides_others_values(custody: Custody, world: World) -> None:
    mine = next(e["bizLocation"]["id"] for e in world.first.events if isinstance(e.get("bizLocation"), dict))
    theirs = world.second.events[0]
    async with custody.http(world.first.key) as http:
        for path in (
            "eventTypes/ObjectEvent",
            "bizSteps/shipping",
            "bizSteps/urn:epcglobal:cbv:bizstep:receiving",
            "dispositions/in_transit",
            f"bizLocations/{urllib.parse.quote(mine, safe='')}",
            f"epcs/{urllib.parse.quote(members_of('epcs', world.first.events).pop(), safe='')}",
        ):
            found = await http.get(f"/epcis/{path}")
            assert found.status_code == 200, (path, found.text)
            assert found.json()["member"] == ["events"]
        hidden = await http.get(f"/epcis/bizLocations/{urllib.parse.quote(theirs['bizLocation']['id'], safe='')}")
        unknown = await http.get("/epcis/bizLocations/urn:epc:id:sgln:0000000.00000.0")
        custom = await http.get(f"/epcis/bizSteps/{urllib.parse.quote(theirs['bizStep'], safe='')}")
        epc = await http.get(f"/epcis/epcs/{urllib.parse.quote(theirs['epcList'][0], safe='')}")
        no_type = await http.get("/epcis/eventTypes/QuantityEvent")
        options = await http.options("/epcis/bizLocations")
    for refused in (hidden, unknown, custom, epc, no_type):
        assert refused.status_code == 404
        assert refused.json()["type"] == "epcisException:NoSuchResourceException"
    assert {k: v for k, v in hidden.json().items() if k != "detail"} == {
        k: v for k, v in unknown.json().items() if k != "detail"
    }
    assert options.status_code == 204
    assert options.headers["Allow"] == "GET, OPTIONS"
    assert options.headers["GS1-CBV-Version"] == "2.0.0"
    async with custody.http(world.second.key) as http:
        own = await http.get(f"/epcis/bizLocations/{urllib.parse.quote(theirs['bizLocation']['id'], safe='')}")
    assert own.status_code == 200


async def test_a_list_token_pages_only_its_list_for_its_reader(custody: Custody, world: World) -> None:
    async with custody.http(world.first.key) as http:
        first = await http.get("/epcis/bizLocations", params={"perPage": "1"})
        token = first.headers["GS1-Next-Page-Token"]
        second = await http.get("/epcis/bizLocations", params={"perPage": "1", "nextPageToken": token})
        assert second.status_code == 200
        assert second.json()["member"][0] > first.json()["member"][0]
        other_list = await http.get("/epcis/readPoints", params={"nextPageToken": token})
        altered = await http.get("/epcis/bizLocations", params={"nextPageToken": token[:-2] + "AA"})
        bad_size = await http.get("/epcis/epcs", params={"perPage": "0"})
        unknown = await http.get("/epcis/epcs", params={"EQ_action": "ADD"})
    async with custody.http(world.second.key) as http:
        other_reader = await http.get("/epcis/bizLocations", params={"nextPageToken": token})
    for refused, parameter, reason in (
        (other_list, "nextPageToken", "invalid_next_page_token"),
        (altered, "nextPageToken", "invalid_next_page_token"),
        (other_reader, "nextPageToken", "invalid_next_page_token"),
        (bad_size, "perPage", "invalid_query_number"),
        (unknown, "EQ_action", "unknown_query_parameter"),
    ):
        assert refused.status_code == 400, refused.text
        body = refused.json()
        assert body["type"] == "epcisException:QueryParameterException"
        assert (body["parameter"], body["reason"]) == (parameter, reason)


async def test_every_value_of_every_indexed_event_is_listed_with_each_reach(custody: Custody, world: World) -> None:
    """The value table is written by capture in its transaction: each listed value of each indexed event, once per
    way a reader may see the event (its capturer, each of its passports)."""
    conn: asyncpg.Connection = custody.db
    missing = await conn.fetchval(
        """SELECT count(*) FROM custody.epcis_event_index e,
               unnest(e.epcs || e.parent_ids || e.input_epcs || e.output_epcs
                      || ARRAY[e.biz_step, e.disposition, e.read_point, e.biz_location]) v,
               unnest(ARRAY['c:' || coalesce(e.capturer, '')] || ARRAY(SELECT 'p:' || unnest(e.passport_ids))) r
           WHERE v IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM custody.epcis_value_reach x WHERE x.value = v AND x.reach = r)"""
    )
    assert missing == 0
    reaches = await conn.fetch("SELECT DISTINCT reach FROM custody.epcis_value_reach")
    assert {r["reach"] for r in reaches} >= {f"c:{world.first.handler}", f"c:{world.second.handler}"}


async def test_discovery_lists_the_bindings_top_level_resources(custody: Custody, world: World) -> None:
    async with custody.http(world.first.key) as http:
        root = await http.get("/epcis")
    assert root.status_code == 200
    body = root.json()
    assert body["type"] == "Collection"
    assert set(body["member"]) == {
        "queries",
        "capture",
        "events",
        "eventTypes",
        "epcs",
        "readPoints",
        "bizLocations",
        "dispositions",
        "bizSteps",
    }
    hrefs = {r["href"] for r in body["resources"]}
    assert {f"/epcis/{name}/{{{member}}}/events" for name, member in MEMBER_NAMES.items()} <= hrefs
