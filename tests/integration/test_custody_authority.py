"""Write authority and bounded event times against the real stack (custody alone, its own database and topics).

Regressions of what was reproduced on the running stack: a carrier that never held a battery wrote
`placed_on_market`, `in_service`, `stolen`, `destroyed` and a handover to itself onto another tenant's passport
(HTTP and Kafka); an event dated 0001-01-01 or 9999-12-31 was stored as -/+infinity and the chain check then
reported `content_altered` for ever; a NUL in `transport_document` was dead-lettered instead of refused.

The matrix: write kinds x the writer's relation to the battery (holder, consignee, stranger, collector, the
OEM's delegate, the own OEM, another tenant's OEM, an authority), each accepted or refused with its reason, and
nothing of a refused step recorded (custody log and custody state unchanged).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bpass.examples import valid_static_data
from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.custody import CustodyEventKind, CustodyEventReported
from contracts.identity import PassportMinted
from contracts.passport_data import BatteryKind, PassportSubject
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_custody_epcis import capture, document, mint_gs1, object_event
from tests.integration.test_custody_events import (
    Custody,
    custody_alone,
    event,
    log_length,
    register,
    rejection_of,
    send,
    uid,
    verification,
    wait_log,
)
from tests.support import cloudevent_headers, eventually, headers_of, publish, read_topic

WASTE = {"ewc_code": "16 06 01*"}
AUTHORITY = "msa-de"


@dataclass
class World:
    tenant: str
    other_tenant: str
    ids: dict[str, str]  # relation -> the id it reports as (handler id, tenant or authority id)
    keys: dict[str, str]  # relation -> its API key


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("custody-authority"), PORT_BASE + 26) as running:
        yield running


@pytest.fixture(scope="module")
async def world(custody: Custody) -> World:
    tenant, other = uid("oem"), uid("oem")
    handlers = {
        "delegate": (uid("plant"), ["carrier"], [tenant]),
        "holder": (uid("carrier"), ["carrier"], []),
        "consignee": (uid("carrier"), ["carrier"], []),
        "stranger": (uid("carrier"), ["carrier"], []),
        "collector": (uid("collector"), ["collector"], []),
    }
    for handler_id, roles, delegate_of in handlers.values():
        await register(custody, handler_id, roles=roles, delegate_of=delegate_of)
    ids = {relation: handler_id for relation, (handler_id, _, _) in handlers.items()}
    keys = {relation: new_key(custody.settings, Role.carrier, handler_id) for relation, handler_id in ids.items()}
    ids.update(own_oem=tenant, other_oem=other, authority=AUTHORITY)
    keys.update(
        own_oem=new_key(custody.settings, Role.oem_admin, tenant),
        other_oem=new_key(custody.settings, Role.oem_user, other),
        authority=new_key(custody.settings, Role.regulator, AUTHORITY),
    )
    return World(tenant, other, ids, keys)


async def mint_many(custody: Custody, tenant: str, count: int) -> list[str]:
    """`count` passports of `tenant` (identity's minted facts, published at once); custody knows them all."""
    passport_ids = [f"urn:uuid:{uuid.uuid4()}" for _ in range(count)]

    async def one(passport_id: str) -> None:
        fact = PassportMinted(
            passport_id=passport_id,
            tenant=tenant,
            subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=uid("BAT")),
            category=BatteryCategory.ev,
            public_uri=f"https://passport.example.test/p/{passport_id[9:]}",
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

    await asyncio.gather(*(one(p) for p in passport_ids))

    async def known() -> bool:
        found = await custody.db.fetchval(
            "SELECT count(*) FROM custody.known_passports WHERE passport_id = ANY($1::text[])", passport_ids
        )
        return bool(found == count)

    await eventually(known, what=f"custody to learn {count} passports")
    return passport_ids


async def post(custody: Custody, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with custody.http(key) as http:
        response = await http.post("/custody/v1/events", json=body, headers={"X-Event-Id": str(uuid.uuid4())})
    return response.status_code, response.json()


def body(kind: str, reporter: str, passport_id: str, day: int = 2, **fields: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "occurred_at": datetime(2026, 3, day, 10, tzinfo=UTC).isoformat(),
        "handler_id": reporter,
        "targets": {"passport_ids": [passport_id]},
        **fields,
    }


async def held_by_holder(custody: Custody, world: World, passport_id: str, *, to_consignee: bool) -> None:
    """The OEM's plant ships the battery to the holder, who receives it (and dispatches it to the consignee)."""
    ids, keys = world.ids, world.keys
    steps = [
        ("delegate", body("dispatch", ids["delegate"], passport_id, 1, to_handler_id=ids["holder"])),
        ("holder", body("receipt", ids["holder"], passport_id, 1, from_handler_id=ids["delegate"])),
    ]
    if to_consignee:
        steps.append(("holder", body("dispatch", ids["holder"], passport_id, 1, to_handler_id=ids["consignee"])))
    for relation, step in steps:
        status, answer = await post(custody, keys[relation], step)
        assert status == 201, answer


def write_of(kind: str, relation: str, world: World, passport_id: str) -> dict[str, Any]:
    """The step `relation` would report: transfers name it as the from side, waste steps carry their codes."""
    me = world.ids[relation]
    extra: dict[str, Any] = {}
    if kind == "dispatch":
        extra = {"to_handler_id": world.ids["consignee"]}
    elif kind == "handover":
        extra = {"from_handler_id": me, "to_handler_id": world.ids["consignee"]}
    elif kind == "collection":
        extra = WASTE
    elif kind == "treatment_start":
        extra = {**WASTE, "operation": "R4"}
    return body(kind, me, passport_id, **extra)


KINDS = [
    "dispatch",
    "handover",
    "receipt",
    "collection",
    "storage",
    "treatment_start",
    "placed_on_market",
    "in_service",
    "stolen",
    "destroyed",
    "inspected",
]
TRANSFERS = KINDS[:6]
OK = None
# The battery is with a handler (`holder`), nothing in transit: the expected answer of each writer, written by hand
# from the README's rule table (None: recorded, 201; a reason: refused, 403, nothing recorded).
HELD: dict[str, dict[str, str | None]] = {
    "holder": {
        "dispatch": OK, "handover": OK, "receipt": OK, "collection": "collector_only", "storage": OK,
        "treatment_start": OK, "placed_on_market": "stage_owner_only", "in_service": "stage_owner_only",
        "stolen": OK, "destroyed": OK, "inspected": OK,
    },
    "stranger": {
        "dispatch": "not_holder", "handover": "not_holder", "receipt": "not_consignee",
        "collection": "collector_only", "storage": "not_holder", "treatment_start": "not_holder",
        "placed_on_market": "stage_owner_only", "in_service": "stage_owner_only",
        "stolen": "holder_or_authority_only", "destroyed": "holder_or_authority_only", "inspected": "not_holder",
    },
    "collector": {
        "dispatch": "not_holder", "handover": "not_holder", "receipt": "not_consignee", "collection": OK,
        "storage": "not_holder", "treatment_start": "not_holder", "placed_on_market": "stage_owner_only",
        "in_service": "stage_owner_only", "stolen": "holder_or_authority_only",
        "destroyed": "holder_or_authority_only", "inspected": "not_holder",
    },
    "delegate": {
        "dispatch": "not_holder", "handover": "not_holder", "receipt": "not_consignee",
        "collection": "collector_only", "storage": "not_holder", "treatment_start": "not_holder",
        "placed_on_market": OK, "in_service": OK, "stolen": "holder_or_authority_only",
        "destroyed": "holder_or_authority_only", "inspected": "not_holder",
    },
    "own_oem": {
        **dict.fromkeys(TRANSFERS, "handler_only"),
        "placed_on_market": OK, "in_service": OK, "stolen": "holder_or_authority_only",
        "destroyed": "holder_or_authority_only", "inspected": "not_holder",
    },
    "other_oem": {
        **dict.fromkeys(TRANSFERS, "handler_only"),
        "placed_on_market": "stage_owner_only", "in_service": "stage_owner_only",
        "stolen": "holder_or_authority_only", "destroyed": "holder_or_authority_only", "inspected": "not_holder",
    },
    "authority": {
        **dict.fromkeys(TRANSFERS, "handler_only"),
        "placed_on_market": "stage_owner_only", "in_service": "stage_owner_only", "stolen": OK, "destroyed": OK,
        "inspected": OK,
    },
}  # fmt: skip
# In transit from the holder to the consignee: what the consignee may write.
CONSIGNEE: dict[str, str | None] = {
    "dispatch": "not_holder", "handover": "not_holder", "receipt": OK, "collection": "collector_only",
    "storage": "not_holder", "treatment_start": "not_holder", "placed_on_market": "stage_owner_only",
    "in_service": "stage_owner_only", "stolen": "holder_or_authority_only", "destroyed": "holder_or_authority_only",
    "inspected": OK,
}  # fmt: skip


async def custody_state(custody: Custody, passport_id: str) -> tuple[Any, ...]:
    row = await custody.db.fetchrow(
        """SELECT head_sequence, head_hash, holder, in_transit, pending_from, pending_to, stage, status
           FROM custody.known_passports WHERE passport_id = $1""",
        passport_id,
    )
    assert row is not None
    return tuple(row)


async def check_case(
    custody: Custody, world: World, passport_id: str, kind: str, relation: str, expected: str | None
) -> str | None:
    """Post the step; a mismatch with `expected` as a sentence, else None."""
    before, entries = await custody_state(custody, passport_id), await log_length(custody, passport_id)
    status, answer = await post(custody, world.keys[relation], write_of(kind, relation, world, passport_id))
    after, entries_after = await custody_state(custody, passport_id), await log_length(custody, passport_id)
    if expected is None:
        if status != 201 or entries_after != entries + 1:
            return f"{relation} {kind}: expected recorded, got {status} {answer}"
        return None
    reasons = {v["reason"] for v in answer.get("violations", [])}
    if status != 403 or expected not in reasons:
        return f"{relation} {kind}: expected 403 {expected}, got {status} {answer}"
    if (after, entries_after) != (before, entries):
        return f"{relation} {kind}: refused but custody changed: {before}/{entries} -> {after}/{entries_after}"
    if answer.get("type") != "urn:bpass:problem:write_refused":
        return f"{relation} {kind}: not the problem+json refusal: {answer}"
    return None


@pytest.mark.timeout(420)  # a whole rule table over HTTP: minutes when the machine is shared
async def test_every_writer_and_step_is_accepted_or_refused_as_the_rule_table_says(
    custody: Custody, world: World
) -> None:
    cases = [(kind, relation, HELD[relation][kind]) for relation in HELD for kind in KINDS]
    in_transit = [(kind, "consignee", CONSIGNEE[kind]) for kind in KINDS]
    passports = await mint_many(custody, world.tenant, len(cases) + len(in_transit))
    for passport_id in passports[: len(cases)]:
        await held_by_holder(custody, world, passport_id, to_consignee=False)
    for passport_id in passports[len(cases) :]:
        await held_by_holder(custody, world, passport_id, to_consignee=True)
    mismatches = [
        await check_case(custody, world, passport_id, kind, relation, expected)
        for passport_id, (kind, relation, expected) in zip(passports, cases + in_transit, strict=True)
    ]
    assert [m for m in mismatches if m] == []
    # Each refusal was a whole refusal: the chains hold exactly the steps accepted, and verify.
    for passport_id in passports[:3]:
        assert (await verification(custody, passport_id))["intact"] is True


async def test_before_the_first_step_the_producer_and_its_delegate_hold_the_battery(
    custody: Custody, world: World
) -> None:
    ids, keys = world.ids, world.keys
    first, second = await mint_many(custody, world.tenant, 2)
    status, answer = await post(custody, keys["stranger"], body("dispatch", ids["stranger"], first))
    assert (status, answer["violations"][0]["reason"]) == (403, "not_holder")
    status, answer = await post(custody, keys["own_oem"], body("placed_on_market", world.tenant, first))
    assert status == 201, answer
    status, answer = await post(custody, keys["delegate"], body("dispatch", ids["delegate"], first))
    assert status == 201, answer
    # The OEM reports under its own name only; another OEM's key is refused on this tenant's passport.
    status, answer = await post(custody, keys["own_oem"], body("in_service", ids["delegate"], second))
    assert (status, answer["violations"][0]["reason"]) == (422, "source_not_handler")
    status, answer = await post(custody, keys["other_oem"], body("placed_on_market", world.other_tenant, second))
    assert (status, answer["violations"][0]["reason"]) == (403, "stage_owner_only")
    assert await log_length(custody, second) == 0


async def test_a_recycler_receives_waste_from_the_collector_that_holds_it(custody: Custody, world: World) -> None:
    recycler = uid("recycler")
    await register(custody, recycler, roles=["recycler"])
    (passport_id,) = await mint_many(custody, world.tenant, 1)
    status, answer = await post(
        custody, world.keys["collector"], body("collection", world.ids["collector"], passport_id, ewc_code="16 06 01*")
    )
    assert status == 201, answer
    key = new_key(custody.settings, Role.recycler, recycler)
    # Without naming the collector it is a claim like any other; from the collector it is the documented rule.
    status, answer = await post(custody, key, body("receipt", recycler, passport_id))
    assert (status, answer["violations"][0]["reason"]) == (403, "not_consignee")
    status, answer = await post(
        custody, key, body("receipt", recycler, passport_id, from_handler_id=world.ids["collector"])
    )
    assert status == 201, answer
    assert (await custody_state(custody, passport_id))[2] == recycler


# --- item 1 over Kafka ----------------------------------------------------------------------------------------------


async def test_a_stranger_writes_nothing_over_kafka_and_hears_why(custody: Custody, world: World) -> None:
    ids = world.ids
    (passport_id,) = await mint_many(custody, world.tenant, 1)
    await held_by_holder(custody, world, passport_id, to_consignee=False)
    before = await custody_state(custody, passport_id)
    stranger = ids["stranger"]
    attempts = {
        "stage_owner_only": [
            event(CustodyEventKind.placed_on_market, stranger, passport_id),
            event(CustodyEventKind.in_service, stranger, passport_id),
        ],
        "holder_or_authority_only": [
            event(CustodyEventKind.stolen, stranger, passport_id),
            event(CustodyEventKind.destroyed, stranger, passport_id),
        ],
        "not_holder": [
            # A handover from the real holder to itself, reported by the stranger.
            event(
                CustodyEventKind.handover, stranger, passport_id, from_handler_id=ids["holder"], to_handler_id=stranger
            ),
            event(CustodyEventKind.dispatch, stranger, passport_id, to_handler_id=stranger),
        ],
    }
    sent = {reason: [await send(custody, step) for step in steps] for reason, steps in attempts.items()}
    for reason, event_ids in sent.items():
        for event_id in event_ids:
            answer = await rejection_of(custody, event_id)
            assert reason in {v["reason"] for v in answer["violations"]}, answer
            assert answer["_headers"].get("bpass_outcome") != "accepted_flagged"
    # Another tenant's OEM, publishing as itself, fares no better.
    other = event(CustodyEventKind.placed_on_market, world.other_tenant, passport_id)
    other_id = str(uuid.uuid4())
    await publish(
        custody.settings,
        topics.CUSTODY_EVENTS.name,
        other.model_dump_json().encode(),
        key=passport_id,
        headers=cloudevent_headers(other, source=f"urn:bpass:tenant:{world.other_tenant}", event_id=other_id),
    )
    assert (await rejection_of(custody, other_id))["violations"][0]["reason"] == "stage_owner_only"
    # The own OEM's step, on the same partition after all of them: once it is recorded, the others were refused.
    own = event(CustodyEventKind.placed_on_market, world.tenant, passport_id)
    await publish(
        custody.settings,
        topics.CUSTODY_EVENTS.name,
        own.model_dump_json().encode(),
        key=passport_id,
        headers=cloudevent_headers(own, source=f"urn:bpass:tenant:{world.tenant}:erp"),
    )
    await wait_log(custody, passport_id, 3)
    after = await custody_state(custody, passport_id)
    assert (after[2], after[3], after[6]) == (before[2], before[3], "placed_on_market")
    assert await log_length(custody, passport_id) == 3


# --- item 7: bounded event times ------------------------------------------------------------------------------------

OUT_OF_RANGE = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),  # overflowed on conversion to UTC
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


async def test_event_times_out_of_range_are_refused_on_http_kafka_and_epcis(custody: Custody, world: World) -> None:
    (passport_id,) = await mint_many(custody, world.tenant, 1)
    delegate, key = world.ids["delegate"], world.keys["delegate"]
    for when in OUT_OF_RANGE:
        step = event(CustodyEventKind.dispatch, delegate, passport_id, occurred_at=when)
        status, answer = await post(custody, key, step.model_dump(mode="json"))
        assert (status, answer["violations"][0]) == (
            422,
            {
                "field": "occurred_at",
                "reason": "occurred_at_out_of_range",
                "message": answer["violations"][0]["message"],
            },
        ), when
        refusal = await rejection_of(custody, await send(custody, step))
        assert {(v["field"], v["reason"]) for v in refusal["violations"]} == {
            ("occurred_at", "occurred_at_out_of_range")
        }
    late = datetime.now(UTC) + timedelta(hours=25)
    status, answer = await post(
        custody, key, body("dispatch", delegate, passport_id) | {"occurred_at": late.isoformat()}
    )
    assert (status, answer["violations"][0]["reason"]) == (422, "occurred_at_out_of_range")
    assert await log_length(custody, passport_id) == 0

    # EPCIS: the event's eventTime, by its place in the document.
    epcis_tenant_passport, serial = await mint_gs1(custody, world.tenant)
    job = await capture(custody, key, document(object_event(serial, time="0001-01-01T00:00:00.000Z")))
    assert job["success"] is False
    assert ("epcisBody.eventList.0.eventTime", "occurred_at_out_of_range") in {
        (v["field"], v["reason"]) for v in job["errors"][0]["violations"]
    }
    overflowing = document(object_event(serial, time="0001-01-01T00:00:00.000+01:00"))
    async with custody.http(key) as http:
        overflow = await http.post("/epcis/capture", json=overflowing)
    assert overflow.status_code == 400, overflow.text
    assert overflow.json()["violations"][0]["reason"] == "invalid_event_time"
    assert await log_length(custody, epcis_tenant_passport) == 0

    # A waste declaration keeps the same lower bound.
    async with custody.http(world.keys["own_oem"]) as http:
        declared = await http.post(
            f"/custody/v1/passports/{passport_id}/waste-declaration",
            json={
                "responsible_party": {"kind": "producer", "id": world.tenant},
                "reason": "Scrapped.",
                "occurred_at": "0001-01-01T00:00:00Z",
            },
        )
    assert declared.status_code == 422, declared.text
    assert declared.json()["violations"][0]["reason"] == "occurred_at_out_of_range"


async def test_times_at_the_edges_of_the_window_are_recorded_and_the_chain_verifies(
    custody: Custody, world: World
) -> None:
    (passport_id,) = await mint_many(custody, world.tenant, 1)
    delegate, key = world.ids["delegate"], world.keys["delegate"]
    plus_five = timezone(timedelta(hours=5, minutes=30))
    edges = [
        datetime(2000, 1, 1, tzinfo=UTC),
        datetime(2000, 1, 1, 5, 30, tzinfo=plus_five),  # the same instant, another offset
        (datetime.now(UTC) + timedelta(hours=23, minutes=59, microseconds=123457)).astimezone(plus_five),
    ]
    status, answer = await post(
        custody,
        key,
        event(CustodyEventKind.dispatch, delegate, passport_id, occurred_at=edges[0]).model_dump(mode="json"),
    )
    assert status == 201, answer
    await send(custody, event(CustodyEventKind.inspected, delegate, passport_id, occurred_at=edges[1]))
    await send(custody, event(CustodyEventKind.receipt, delegate, passport_id, occurred_at=edges[2]))
    await wait_log(custody, passport_id, 3)
    # A waste declaration with a local offset is hashed as the log returns it (UTC).
    async with custody.http(world.keys["own_oem"]) as http:
        declared = await http.post(
            f"/custody/v1/passports/{passport_id}/waste-declaration",
            json={
                "responsible_party": {"kind": "producer", "id": world.tenant},
                "reason": "Capacity below 60 %.",
                "occurred_at": datetime(2026, 3, 1, 9, tzinfo=plus_five).isoformat(),
            },
        )
    assert declared.status_code == 201, declared.text
    checked = await verification(custody, passport_id)
    assert (checked["intact"], checked["entries"], checked["break"]) == (True, 4, None)


# --- item 10: text PostgreSQL cannot store ----------------------------------------------------------------------------


async def test_a_nul_in_a_custody_event_is_refused_naming_the_field_not_dead_lettered(
    custody: Custody, world: World
) -> None:
    (passport_id,) = await mint_many(custody, world.tenant, 1)
    delegate = world.ids["delegate"]
    poisoned = event(CustodyEventKind.dispatch, delegate, passport_id, transport_document="CMR-\u00001")
    event_id = await send(custody, poisoned)
    refusal = await rejection_of(custody, event_id)
    assert [(v["field"], v["reason"]) for v in refusal["violations"]] == [("transport_document", "invalid_character")]
    status, answer = await post(custody, world.keys["delegate"], poisoned.model_dump(mode="json"))
    assert (status, answer["violations"][0]["field"]) == (422, "transport_document")
    # The same step without the NUL goes through on the same partition; nothing reached the dead-letter topic.
    await send(custody, event(CustodyEventKind.dispatch, delegate, passport_id, transport_document="CMR-1"))
    await wait_log(custody, passport_id, 1)
    dead = [
        r
        for r in await read_topic(custody.settings, topics.dead_letter_topic("custody"))
        if headers_of(r).get("ce_id") == event_id
    ]
    assert dead == []
    entry = await custody.db.fetchval("SELECT content FROM custody.custody_log WHERE passport_id = $1", passport_id)
    content = json.loads(entry) if isinstance(entry, str) else entry
    assert content["transport_document"] == "CMR-1"
    assert isinstance(CustodyEventReported.model_validate(content), CustodyEventReported)


# --- EPCIS: the same rules, by the event's place in the document -----------------------------------------------------


async def publish_document(custody: Custody, source: str, body: dict[str, Any], key: str) -> str:
    event_id = str(uuid.uuid4())
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", b"eu.battery-passport.custody.epcis-document.v1"),
        ("ce_time", datetime.now(UTC).isoformat().encode()),
        ("content-type", b"application/json"),
    ]
    await publish(
        custody.settings, topics.CUSTODY_EPCIS_DOCUMENTS.name, json.dumps(body).encode(), key=key, headers=headers
    )
    return event_id


@pytest.mark.timeout(420)  # a whole rule table over HTTP: minutes when the machine is shared
async def test_epcis_captures_are_held_to_the_same_rules(custody: Custody, world: World) -> None:
    passport_id, serial = await mint_gs1(custody, world.tenant)
    # A stranger's capture over HTTP: shipping a battery it does not hold.
    job = await capture(custody, world.keys["stranger"], document(object_event(serial)))
    assert job["success"] is False
    assert job["errors"][0]["index"] == 0
    assert ("handler_id", "not_holder") in {(v["field"], v["reason"]) for v in job["errors"][0]["violations"]}
    # On the topic: a stranger's placing on the market is refused; the OEM's own is recorded under its name.
    selling = document(object_event(serial, "retail_selling"))
    refused = await publish_document(custody, f"urn:bpass:handler:{world.ids['stranger']}", selling, serial)
    answer = await rejection_of(custody, refused)
    assert ("epcisBody.eventList.0.kind", "stage_owner_only") in {
        (v["field"], v["reason"]) for v in answer["violations"]
    }
    await publish_document(
        custody, f"urn:bpass:tenant:{world.tenant}:plm", document(object_event(serial, "retail_selling")), serial
    )
    await wait_log(custody, passport_id, 1)
    row = await custody.db.fetchrow(
        "SELECT kind, handler_id, source FROM custody.custody_log WHERE passport_id = $1", passport_id
    )
    assert row is not None
    assert tuple(row) == ("placed_on_market", world.tenant, f"urn:bpass:tenant:{world.tenant}:plm")
