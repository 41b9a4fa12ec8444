"""Second life and waste responsibility (Art. 77(7)) on the real stack: all four services as processes.

A second-life operator (a verified handler; its API keys' tenant is its handler id) receives EV batteries in
custody, makes one stationary battery of two of them (N to 1) and gets a new passport under its own tenant; the
predecessors show their successor, new status and responsible operator; the operator reads them at the
legitimate-interest tier. Waste: a collection by a registered collector, and a declaration by the owner, move
responsibility without a new passport.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bpass.examples import valid_static_payload
from contracts import topics
from contracts.attributes import BatteryCategory
from services.common.auth import Role
from services.common.settings import Settings
from services.identity.domain import identifiers
from tests.conftest import new_key
from tests.support import ServiceProcess, eventually, read_topic

pytestmark = pytest.mark.timeout(120)

FAMILY = "VX-EV"
PRIVATE_SCHEMA = {
    "type": "object",
    "properties": {"cell_supplier_code": {"type": "string"}},
    "additionalProperties": False,
}


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def register(custody: str, operator_key: str, handler_id: str, roles: list[str], **extra: Any) -> None:
    async with httpx.AsyncClient(base_url=custody, timeout=10, headers={"X-API-Key": operator_key}) as http:
        body = {"handler_id": handler_id, "name": f"{handler_id} Ltd", "roles": roles, **extra}
        assert (r := await http.post("/custody/v1/handlers", json=body)).status_code == 201, r.text
        assert (r := await http.post(f"/custody/v1/handlers/{handler_id}/verify", json={})).status_code == 200, r.text


async def mint_ev(http: httpx.AsyncClient, identity: str, *, extensions: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {
        "subject": {"kind": "battery", "battery_identifier": uid("EV")},
        "category": "ev",
        "static_data": valid_static_payload(BatteryCategory.ev),
    }
    if extensions:
        body.update(product_family=FAMILY, extensions=extensions)
    response = await http.post(f"{identity}/identity/v1/passports", json=body)
    assert response.status_code == 201, response.text
    passport_id: str = response.json()["passport_id"]
    return passport_id


async def report(custody: str, key: str, event: dict[str, Any]) -> None:
    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": key}) as http:
        response = await http.post(f"{custody}/custody/v1/events", json=event)
        assert response.status_code in (201, 202), response.text


async def deliver(custody: str, carrier: tuple[str, str], operator: tuple[str, str], passport_ids: list[str]) -> None:
    """The OEM's delegate carrier (handler id, key) dispatches the batteries to the operator, which receives them."""
    (carrier_id, carrier_key), (operator_id, operator_key) = carrier, operator
    await report(
        custody,
        carrier_key,
        {
            "kind": "dispatch",
            "occurred_at": "2026-03-01T08:00:00Z",
            "handler_id": carrier_id,
            "to_handler_id": operator_id,
            "targets": {"passport_ids": passport_ids},
        },
    )
    await report(
        custody,
        operator_key,
        {
            "kind": "receipt",
            "occurred_at": "2026-03-01T09:00:00Z",
            "handler_id": operator_id,
            "targets": {"passport_ids": passport_ids},
        },
    )


def second_life_body(predecessors: list[str], identifier: str) -> dict[str, Any]:
    static = valid_static_payload(BatteryCategory.stationary)
    static["battery_status"] = "repurposed"
    return {
        "operation": "repurposing",
        "predecessor_ids": predecessors,
        "subject": {"kind": "battery", "battery_identifier": identifier},
        "category": "stationary",
        "static_data": static,
        "reason": "Modules of two EV packs reassembled into a stationary storage unit.",
    }


async def post_until(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], wanted: int, reason: str | None = None
) -> httpx.Response:
    """POST until the answer is `wanted` (with `reason`): identity learns custody from custody's facts."""

    async def attempt() -> httpx.Response | None:
        response = await http.post(url, json=body)
        if response.status_code != wanted:
            return None
        if reason is not None and response.json()["reason"] != reason:
            return None
        return response

    return await eventually(attempt, timeout=30, what=f"{wanted} {reason or ''} from {url}")


def _json(value: bytes | None) -> Any:
    try:
        return json.loads(value or b"")
    except ValueError:
        return None


def reason_of(response: httpx.Response) -> tuple[int, str, str]:
    detail = response.json()
    return response.status_code, detail["reason"], detail["field"]


async def test_n_to_1_second_life_links_supersedes_and_shows_the_lineage(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str]
) -> None:
    oem, oem_key = tenant
    identity, custody, reporting = (platform[n].base_url for n in ("identity", "custody", "reporting"))
    operator_id, carrier_id = uid("gridstack"), uid("carrier")
    platform_key = new_key(settings, Role.platform_operator)
    await register(custody, platform_key, operator_id, ["repairer", "second_life_operator"])
    # The OEM's carrier (its delegate: write authority lets it move the OEM's batteries from the plant).
    delegation = [{"scheme": "oem_delegate", "value": oem}]
    await register(custody, platform_key, carrier_id, ["carrier"], identifiers=delegation)
    operator_key = new_key(settings, Role.repairer, operator_id)
    carrier_key = new_key(settings, Role.carrier, carrier_id)
    rival_key = new_key(settings, Role.oem_admin, uid("rival"))

    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": oem_key}) as oem_http:
        schema = await oem_http.put(
            f"{identity}/identity/v1/product-families/{FAMILY}/extension-schema", json=PRIVATE_SCHEMA
        )
        assert schema.status_code in (200, 201), schema.text
        first = await mint_ev(oem_http, identity, extensions={"cell_supplier_code": "CS-17"})
        second = await mint_ev(oem_http, identity)
        elsewhere = await mint_ev(oem_http, identity)

    # The operator receives the two packs from the OEM's carrier; a third is dispatched to it but not received yet.
    await deliver(custody, (carrier_id, carrier_key), (operator_id, operator_key), [first, second])
    await report(
        custody,
        carrier_key,
        {
            "kind": "dispatch",
            "occurred_at": "2026-03-01T09:00:00Z",
            "handler_id": carrier_id,
            "to_handler_id": operator_id,
            "targets": {"passport_ids": [elsewhere]},
        },
    )

    url = f"{identity}/identity/v1/second-life"
    identifier = uid("GS")
    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": operator_key}) as op:
        # Refusals name the field and a stable reason; nothing is minted by them.
        not_held = await post_until(
            op, url, second_life_body([elsewhere], identifier), 409, "predecessor_not_in_custody"
        )
        assert reason_of(not_held) == (409, "predecessor_not_in_custody", "predecessor_ids.0")
        unknown = await op.post(url, json=second_life_body([first, identifiers.new_passport_id()], identifier))
        assert reason_of(unknown) == (404, "predecessor_not_found", "predecessor_ids.1")
        duplicate = await op.post(url, json=second_life_body([first, first], identifier))
        assert duplicate.status_code == 422
        assert duplicate.json()["violations"][0]["reason"] == "duplicate_predecessor"
        async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": rival_key}) as rival:
            other_tenant = await rival.post(url, json=second_life_body([first], uid("R")))
            assert reason_of(other_tenant) == (404, "predecessor_not_found", "predecessor_ids.0")

        # N -> 1: once identity knows the operator holds both, the new passport is minted under its tenant.
        made = await post_until(op, url, second_life_body([first, second], identifier), 201)
        result = made.json()
        successor = result["passport_id"]
        assert result["status"] == "repurposed"
        assert result["created"] is True
        assert result["predecessor_ids"] == [first, second]
        retry = await op.post(url, json=second_life_body([first, second], identifier))
        assert retry.status_code == 200
        assert retry.json()["passport_id"] == successor
        assert retry.json()["created"] is False

    # The facts leave through the outbox relay, a moment after the HTTP answer.
    async def published(topic: str, count: int, mine: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        async def found() -> list[dict[str, Any]] | None:
            # (other tests of the session publish refused messages of other shapes on the same topics)
            bodies = [b for r in await read_topic(settings, topic) if isinstance(b := _json(r.value), dict)]
            matching = [b for b in bodies if mine(b)]
            return matching if len(matching) >= count else None

        return await eventually(found, what=f"{count} facts on {topic}")

    minted = await published(topics.PASSPORT_MINTED.name, 1, lambda b: b.get("passport_id") == successor)
    assert len(minted) == 1
    assert minted[0]["tenant"] == operator_id
    assert minted[0]["predecessor_ids"] == [first, second]
    superseded = await published(topics.PASSPORT_SUPERSEDED.name, 2, lambda b: b.get("successor_id") == successor)
    assert sorted(s["passport_id"] for s in superseded) == sorted([first, second])  # the retry published nothing
    assert {(s["tenant"], s["responsible_operator"], s["status"]) for s in superseded} == {
        (oem, operator_id, "repurposed")
    }

    # The OEM sees its predecessors superseded: successor, status, responsible operator, a history entry.
    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": oem_key}) as oem_http:

        async def predecessor_superseded() -> dict[str, Any] | None:
            r = await oem_http.get(f"{reporting}/reporting/v1/passports/{first}")
            body: dict[str, Any] = r.json()
            # Minted and superseded arrive on topics of their own: wait for both to be projected.
            both = r.status_code == 200 and body.get("successor_ids") and "extensions" in body
            return body if both else None

        view = await eventually(predecessor_superseded, what="the superseded predecessor in reporting")
        assert view["successor_ids"] == [successor]
        assert view["status"] == "repurposed"
        assert view["responsible_operator"] == operator_id
        assert view["status_history"][-1]["status"] == "repurposed"
        assert view["extensions"] == {"cell_supplier_code": "CS-17"}  # the owner sees its private field

    # The operator reads its passport's lineage: the predecessors at the legitimate-interest tier.
    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": operator_key}) as op:

        async def lineage() -> dict[str, Any] | None:
            r = await op.get(f"{reporting}/reporting/v1/passports/{successor}/lineage")
            body: dict[str, Any] = r.json()
            ready = r.status_code == 200 and all(
                (p["passport"] or {}).get("successor_ids") for p in body.get("predecessors", [])
            )
            return body if ready and len(body["predecessors"]) == 2 else None

        chain = await eventually(lineage, what="the successor's lineage")
        assert chain["tenant"] == operator_id
        assert chain["predecessor_ids"] == [first, second]
        by_id = {p["passport_id"]: p for p in chain["predecessors"]}
        seen = by_id[first]["passport"]
        assert by_id[first]["tier"] == "legitimate_interest"
        assert by_id[first]["depth"] == 1
        assert seen["status"] == "repurposed"
        assert seen["successor_ids"] == [successor]
        assert seen["responsible_operator"] == operator_id
        for private in ("extensions", "minted_by", "product_family", "amendments"):
            assert private not in seen, private
        assert "test_reports_url" not in seen["static_data"]  # authorities tier
        assert "cell_supplier_code" not in json.dumps(chain)
        # Another tenant does not see the operator's lineage.
        hidden = await op.get(
            f"{reporting}/reporting/v1/passports/{successor}/lineage", headers={"X-API-Key": rival_key}
        )
        assert hidden.status_code == 404

    # The OEM remanufactures its own battery (the one still in transit): no custody needed, and it reads its own
    # predecessor whole (owner tier).
    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": oem_key}) as oem_http:
        body = {**second_life_body([elsewhere], uid("OWN")), "operation": "remanufacturing"}
        body["static_data"] = {**body["static_data"], "battery_status": "remanufactured"}
        own = await oem_http.post(url, json=body)
        assert own.status_code == 201, own.text
        own_id = own.json()["passport_id"]

        async def own_lineage() -> dict[str, Any] | None:
            r = await oem_http.get(f"{reporting}/reporting/v1/passports/{own_id}/lineage")
            body: dict[str, Any] = r.json()
            # The predecessor's mint, not only its supersession (a topic of its own), must be projected.
            predecessor = body["predecessors"][0]["passport"] if r.status_code == 200 else None
            return body if predecessor and "minted_by" in predecessor else None

        mine = await eventually(own_lineage, what="the OEM's own lineage")
        assert mine["tenant"] == oem
        assert mine["status"] == "remanufactured"
        assert mine["predecessors"][0]["tier"] == "owner"
        assert "minted_by" in mine["predecessors"][0]["passport"]


async def test_waste_by_collection_and_by_declaration_moves_responsibility_without_a_new_passport(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str]
) -> None:
    oem, oem_key = tenant
    identity, custody, reporting = (platform[n].base_url for n in ("identity", "custody", "reporting"))
    collector_id, carrier_id = uid("collector"), uid("carrier")
    platform_key = new_key(settings, Role.platform_operator)
    permit = {
        "permit_type": "environmental_permit",
        "number": "EPR/WASTE1",
        "issuing_authority": "Environment Agency",
        "valid_from": "2026-01-01T00:00:00Z",
        "waste_codes": ["16 06 01*"],
        "operations": ["R4"],
    }
    await register(custody, platform_key, collector_id, ["collector"], permits=[permit])
    await register(custody, platform_key, carrier_id, ["carrier"])
    collector_key = new_key(settings, Role.collector, collector_id)
    carrier_key = new_key(settings, Role.carrier, carrier_id)

    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": oem_key}) as oem_http:
        collected, declared = await mint_ev(oem_http, identity), await mint_ev(oem_http, identity)
        await report(
            custody,
            collector_key,
            {
                "kind": "collection",
                "occurred_at": "2026-03-02T09:00:00Z",
                "handler_id": collector_id,
                "ewc_code": "16 06 01*",
                "targets": {"passport_ids": [collected]},
            },
        )
        declaration = {
            "responsible_party": {"kind": "producer", "id": oem},
            "reason": "Capacity below 60 %; the owner discards it.",
            "occurred_at": "2026-03-03T09:00:00Z",
        }
        declare_url = f"{custody}/custody/v1/passports/{declared}/waste-declaration"
        made = await post_until(oem_http, declare_url, declaration, 201)
        assert made.json()["status"] == "waste"
        assert made.json()["entry"]["sequence"] == 1
        again = await oem_http.post(declare_url, json=declaration)
        assert reason_of(again) == (409, "already_waste", "passport_id")
        not_holder = await oem_http.post(
            f"{custody}/custody/v1/passports/{collected}/waste-declaration",
            json=declaration,
            headers={"X-API-Key": carrier_key},
        )
        assert reason_of(not_holder) == (403, "not_custodian", "passport_id")

        async def waste(passport_id: str) -> dict[str, Any] | None:
            """The passport once reporting has both the status change and the custody entry (two fact topics,
            projected in either order)."""
            r = await oem_http.get(f"{reporting}/reporting/v1/passports/{passport_id}")
            body: dict[str, Any] = r.json()
            ready = r.status_code == 200 and body.get("responsible_operator") and body.get("custody_timeline")
            return body if ready else None

        by_collection = await eventually(lambda: waste(collected), what="responsibility after collection")
        assert (by_collection["status"], by_collection["stage"]) == ("waste", "collected")
        assert by_collection["responsible_operator"] == collector_id
        by_declaration = await eventually(lambda: waste(declared), what="responsibility after the declaration")
        assert by_declaration["status"] == "waste"
        assert by_declaration["responsible_operator"] == oem
        assert by_declaration["custody_timeline"][-1]["kind"] == "observation"
        verification = await oem_http.get(f"{custody}/custody/v1/passports/{declared}/custody-log/verification")
        assert verification.json()["intact"] is True

        # No new passport: the tenant still has exactly the two it minted.
        page = await oem_http.get(f"{reporting}/reporting/v1/passports", params={"limit": 10})
        assert sorted(p["passport_id"] for p in page.json()["items"]) == sorted([collected, declared])

    async def status_facts() -> list[dict[str, Any]] | None:
        records = await read_topic(settings, topics.CUSTODY_PASSPORT_STATUS.name)
        mine = [json.loads(r.value) for r in records if r.key in (collected.encode(), declared.encode())]
        waste = {f["passport_id"] for f in mine if f.get("responsibility_basis")}
        return mine if waste >= {collected, declared} else None

    facts = await eventually(status_facts, what="the status facts of both passports")  # published by the relay
    bases = {(f["passport_id"], f["responsibility_basis"], f["responsible_party_kind"]) for f in facts}
    assert bases == {(collected, "collection", "waste_operator"), (declared, "waste_declaration", "producer")}
