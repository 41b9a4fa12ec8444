"""Pack membership through EPCIS capture on the real stack: AggregationEvent ADD / DELETE / OBSERVE captured out
of order, redelivered and declared erroneous, answered at any event time by the custody API to those who may see
the pack, and recorded in the custody chain like any other observation."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_custody_epcis import GTIN, capture, document, entries, mint_gs1
from tests.integration.test_custody_events import Custody, custody_alone, register, uid, verification

pytestmark = pytest.mark.integration

TENANT = uid("oem")


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("pack-membership"), PORT_BASE + 47) as running:
        yield running


@pytest.fixture(scope="module")
async def assembler(custody: Custody) -> tuple[str, str]:
    """A verified handler, delegate of TENANT (it holds the tenant's batteries before their first custody step)."""
    handler_id = uid("assembler")
    await register(custody, handler_id, delegate_of=[TENANT])
    return handler_id, new_key(custody.settings, Role.recycler, handler_id)


def epc(serial: str) -> str:
    return f"https://id.gs1.org/01/{GTIN}/21/{serial}"


def aggregation(action: str, parent: str, children: list[str], time: str, biz_step: str = "packing") -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "AggregationEvent",
        "eventID": f"urn:uuid:{uuid.uuid4()}",
        "eventTime": time,
        "eventTimeZoneOffset": "+00:00",
        "parentID": epc(parent),
        "action": action,
        "bizStep": biz_step,
    }
    if children:
        event["childEPCs"] = [epc(c) for c in children]
    return event


async def members(custody: Custody, pack: str, at: str | None = None, key: str | None = None) -> list[str | None]:
    async with custody.http(key) as http:
        answer = await http.get(f"/custody/v1/passports/{pack}/members", params={"at": at} if at else None)
    assert answer.status_code == 200, answer.text
    return sorted(m["passport_id"] for m in answer.json()["members"])


async def pack_of(custody: Custody, module: str, at: str | None = None) -> str | None:
    async with custody.http() as http:
        answer = await http.get(f"/custody/v1/passports/{module}/pack", params={"at": at} if at else None)
    assert answer.status_code == 200, answer.text
    pack = answer.json()["pack"]
    return None if pack is None else str(pack["passport_id"])


async def test_membership_over_event_time_in_any_arrival_order(custody: Custody, assembler: tuple[str, str]) -> None:
    _, key = assembler
    pack, pack_serial = await mint_gs1(custody, TENANT)
    other_pack, other_serial = await mint_gs1(custody, TENANT)
    modules = [await mint_gs1(custody, TENANT) for _ in range(3)]
    (m1, s1), (m2, s2), (m3, s3) = modules

    # Captured in this order: the DELETE (10:00) before the ADDs it follows (08:00, 09:00).
    removed = aggregation("DELETE", pack_serial, [s1], "2026-03-01T10:00:00Z", "unpacking")
    first = await capture(custody, key, document(removed))
    assert first["events"][0]["outcome"] == "recorded", first
    added = aggregation("ADD", pack_serial, [s1, s2], "2026-03-01T08:00:00Z")
    assert (await capture(custody, key, document(added)))["events"][0]["outcome"] == "recorded"
    third = aggregation("ADD", pack_serial, [s3], "2026-03-01T09:00:00Z")
    assert (await capture(custody, key, document(third)))["events"][0]["outcome"] == "recorded"
    # Redelivered, and a confirmation: nothing changes.
    again = await capture(custody, key, document(copy.deepcopy(added)))
    assert again["events"][0]["outcome"] == "duplicate"
    seen = aggregation("OBSERVE", pack_serial, [s2], "2026-03-01T09:30:00Z", "inspecting")
    assert (await capture(custody, key, document(seen)))["events"][0]["outcome"] == "recorded"

    assert await members(custody, pack, "2026-03-01T07:59:59Z") == []
    assert await members(custody, pack, "2026-03-01T08:30:00Z") == sorted([m1, m2])
    assert await members(custody, pack, "2026-03-01T09:30:00Z") == sorted([m1, m2, m3])
    assert await members(custody, pack, "2026-03-01T10:00:00Z") == sorted([m2, m3])
    assert await members(custody, pack) == sorted([m2, m3])
    assert await pack_of(custody, m1, "2026-03-01T09:59:59+00:00") == pack
    assert await pack_of(custody, m1) is None

    # A second ADD to another pack while still a member is a move.
    moved = aggregation("ADD", other_serial, [s2], "2026-03-01T11:00:00Z")
    assert (await capture(custody, key, document(moved)))["events"][0]["outcome"] == "recorded"
    assert await pack_of(custody, m2, "2026-03-01T10:59:00Z") == pack
    assert await pack_of(custody, m2) == other_pack
    assert await members(custody, pack) == [m3]
    async with custody.http() as http:
        history = (await http.get(f"/custody/v1/passports/{m2}/pack")).json()["history"]
    assert [(h["passport_id"], h["moved"], h["last_confirmed_at"] is not None) for h in history] == [
        (pack, True, True),
        (other_pack, False, False),
    ]

    # The ADD of m3 did not happen: declared erroneous, it is taken out of every instant.
    declared = copy.deepcopy(third)
    declared["errorDeclaration"] = {"declarationTime": "2026-03-02T08:00:00Z", "reason": "did_not_occur"}
    assert (await capture(custody, key, document(declared)))["events"][0]["outcome"] == "error_declared"
    assert await members(custody, pack, "2026-03-01T09:30:00Z") == sorted([m1, m2])
    assert await pack_of(custody, m3, "2026-03-01T09:30:00Z") is None

    # Recorded in the custody chain of the pack and of each module named, like any observation; chains intact.
    assert [e["kind"] for e in await entries(custody, m3)] == ["observation", "error_declaration"]
    assert (await entries(custody, pack))[0]["content"]["epcis"]["action"] == "DELETE"
    for passport in (pack, m1, m2, m3):
        assert (await verification(custody, passport))["intact"] is True


async def test_a_declaration_captured_before_its_event_keeps_the_event_out(
    custody: Custody, assembler: tuple[str, str]
) -> None:
    _, key = assembler
    pack, pack_serial = await mint_gs1(custody, TENANT)
    module, serial = await mint_gs1(custody, TENANT)
    wrong = aggregation("ADD", pack_serial, [serial], "2026-03-03T08:00:00Z")
    declared = copy.deepcopy(wrong)
    declared["errorDeclaration"] = {"declarationTime": "2026-03-03T09:00:00Z", "reason": "did_not_occur"}
    assert (await capture(custody, key, document(declared)))["events"][0]["outcome"] == "error_declared"
    assert (await capture(custody, key, document(wrong)))["events"][0]["outcome"] == "duplicate"
    assert await members(custody, pack, "2026-03-03T08:30:00Z") == []
    assert await pack_of(custody, module, "2026-03-03T08:30:00Z") is None


async def test_who_sees_a_pack_and_a_delete_of_every_child(custody: Custody, assembler: tuple[str, str]) -> None:
    assembler_id, key = assembler
    pack, pack_serial = await mint_gs1(custody, TENANT)
    modules = [await mint_gs1(custody, TENANT) for _ in range(2)]
    added = aggregation("ADD", pack_serial, [s for _, s in modules], "2026-03-04T08:00:00Z")
    assert (await capture(custody, key, document(added)))["events"][0]["outcome"] == "recorded"
    emptied = aggregation("DELETE", pack_serial, [], "2026-03-04T12:00:00Z", "unpacking")
    assert (await capture(custody, key, document(emptied)))["events"][0]["outcome"] == "recorded"
    assert await members(custody, pack, "2026-03-04T11:00:00Z") == sorted(p for p, _ in modules)
    assert await members(custody, pack, "2026-03-04T12:00:00Z") == []

    # The OEM of the passport, the handler that held it and an authority see it; another OEM, a handler that
    # never held it and a malformed time do not get it.
    owner = new_key(custody.settings, Role.oem_user, TENANT)
    regulator = new_key(custody.settings, Role.regulator, None)
    for reader in (owner, key, regulator):
        assert await members(custody, pack, "2026-03-04T11:00:00Z", key=reader) == sorted(p for p, _ in modules)
    stranger_handler = uid("stranger")
    await register(custody, stranger_handler)
    for reader in (
        new_key(custody.settings, Role.oem_user, uid("other-oem")),
        new_key(custody.settings, Role.carrier, stranger_handler),
    ):
        async with custody.http(reader) as http:
            hidden = await http.get(f"/custody/v1/passports/{pack}/members")
        assert hidden.status_code == 404, hidden.text
        assert "passport_not_found" in hidden.text
    async with custody.http() as http:
        bad = await http.get(f"/custody/v1/passports/{pack}/members", params={"at": "yesterday"})
        assert bad.status_code == 422, bad.text
        unknown = await http.get(f"/custody/v1/passports/urn:uuid:{uuid.uuid4()}/pack")
        assert unknown.status_code == 404, unknown.text
    assert assembler_id
