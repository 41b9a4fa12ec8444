"""EPCIS errorDeclaration through capture on the real stack: the custody state the erroneous event caused is
rolled back (holder, stage, waste status), later events and a corrective event stay applied, the chain keeps the
original entry and the declaration (and verifies), and the corrected status reaches reporting's read model through
the PassportStatusChanged facts custody publishes."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bpass.examples import valid_static_data
from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.custody import PassportStatusChanged
from contracts.identity import PassportMinted
from contracts.passport_data import BatteryKind, PassportSubject, static_data_digest
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_custody_epcis import GTIN, capture, document, entries, object_event
from tests.integration.test_custody_events import Custody, custody_alone, facts, register, uid, verification
from tests.support import ServiceProcess, cloudevent_headers, eventually, publish, send_fact

pytestmark = pytest.mark.integration

TENANT = uid("oem")


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("error-declaration"), PORT_BASE + 48) as running:
        yield running


@pytest.fixture(scope="module")
async def carrier(custody: Custody) -> tuple[str, str]:
    """A verified carrier and collector, delegate of TENANT (it places the tenant's batteries on the market)."""
    handler_id = uid("carrier")
    await register(custody, handler_id, delegate_of=[TENANT])
    return handler_id, new_key(custody.settings, Role.carrier, handler_id)


def minted_fact() -> PassportMinted:
    serial = uid("S")[:20]
    passport_id = f"urn:uuid:{uuid.uuid4()}"
    static = valid_static_data(BatteryCategory.ev)
    return PassportMinted(
        passport_id=passport_id,
        tenant=TENANT,
        subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=serial, gtin=GTIN),
        category=BatteryCategory.ev,
        public_uri=f"https://passport.example.test/01/{GTIN}/21/{serial}",
        static_data=static,
        static_data_digest=static_data_digest(static),
        version=1,
        minted_at=datetime.now(UTC),
        minted_by="urn:bpass:service:identity",
    )


async def mint(custody: Custody) -> tuple[PassportMinted, str]:
    fact = minted_fact()
    await publish(
        custody.settings,
        topics.PASSPORT_MINTED.name,
        fact.model_dump_json().encode(),
        key=fact.passport_id,
        headers=cloudevent_headers(fact, source="urn:bpass:service:identity", subject=fact.passport_id),
    )
    await eventually(
        lambda: custody.db.fetchval("SELECT 1 FROM custody.known_passports WHERE passport_id = $1", fact.passport_id),
        what="custody to learn the passport",
    )
    return fact, fact.subject.battery_identifier


def declaration_of(event: dict[str, Any], at: str = "2026-03-09T08:00:00Z") -> dict[str, Any]:
    declared = copy.deepcopy(event)
    declared["errorDeclaration"] = {"declarationTime": at, "reason": "did_not_occur"}
    return declared


async def outcome(custody: Custody, key: str, event: dict[str, Any]) -> str:
    job = await capture(custody, key, document(event))
    (report,) = job["events"]
    assert not report["errors"], report
    return str(report["outcome"])


async def custody_state(custody: Custody, passport_id: str) -> dict[str, Any]:
    async with custody.http() as http:
        log = await http.get(f"/custody/v1/passports/{passport_id}/custody-log")
    assert log.status_code == 200, log.text
    state: dict[str, Any] = log.json()["custody"]
    return state


async def status_facts(custody: Custody, passport_id: str, count: int) -> list[dict[str, Any]]:
    async def published() -> list[dict[str, Any]] | None:
        found = await facts(custody, topics.CUSTODY_PASSPORT_STATUS.name, passport_id=passport_id)
        return found if len(found) >= count else None

    found = await eventually(published, what=f"{count} status facts")
    assert len(found) == count, found
    return found


async def test_a_declared_installation_is_taken_out_of_the_stage_here_and_in_reporting(
    custody: Custody, carrier: tuple[str, str], reporting: ServiceProcess, settings: Settings
) -> None:
    _, key = carrier
    minted, serial = await mint(custody)
    pid = minted.passport_id
    sold = object_event(serial, "retail_selling", "2026-03-01T10:00:00.000Z")
    installed = object_event(serial, "installing", "2026-03-05T10:00:00.000Z")  # did not happen
    inspected = object_event(serial, "inspecting", "2026-03-06T10:00:00.000Z")  # a later event, applied
    for event in (sold, installed, inspected):
        assert await outcome(custody, key, event) == "recorded"
    assert (await custody_state(custody, pid))["stage"] == "in_service"
    job = await capture(custody, key, document(declaration_of(installed)))
    assert job["events"][0]["outcome"] == "error_declared"
    assert await custody_state(custody, pid) == {
        "holder": None, "in_transit": False, "pending_from": None, "pending_to": None,
        "stage": "placed_on_market", "status": None,
    }  # fmt: skip
    log = await entries(custody, pid)
    assert [e["kind"] for e in log] == ["placed_on_market", "in_service", "inspected", "error_declaration"]
    assert log[1]["corrected_by"] == [4]
    assert (await verification(custody, pid))["intact"] is True
    published = await status_facts(custody, pid, 3)
    assert [(f["stage"], f["previous_stage"], f["status"], f["sequence"]) for f in published] == [
        ("placed_on_market", None, None, 1),
        ("in_service", "placed_on_market", None, 2),
        ("placed_on_market", "in_service", None, 4),
    ]
    assert published[2]["occurred_at"].startswith("2026-03-05T10:00:00")  # the erroneous event's time
    assert published[2]["corrects_sequence"] == 2

    # The facts flow to reporting as custody published them: its read model takes the installation out too.
    await send_fact(settings, topics.PASSPORT_MINTED, minted, pid)
    owner = new_key(settings, Role.oem_admin, TENANT)
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=15, headers={"X-API-Key": owner}) as http:

        async def projected() -> bool:
            return (await http.get(f"/reporting/v1/passports/{pid}")).status_code == 200

        await eventually(projected, what="reporting to project the minting")
        for body in published:
            fact = PassportStatusChanged.model_validate({k: v for k, v in body.items() if k != "_headers"})
            await send_fact(settings, topics.CUSTODY_PASSPORT_STATUS, fact, pid)

        async def corrected() -> dict[str, Any] | None:
            answer = await http.get(f"/reporting/v1/passports/{pid}")
            if answer.status_code != 200:
                return None
            state: dict[str, Any] = answer.json()
            return state if len(state.get("status_history") or []) >= 3 else None

        state = await eventually(corrected, what="reporting to fold the three status facts")
    assert [h["stage"] for h in state["status_history"]] == ["placed_on_market", "in_service", "placed_on_market"]
    assert (state["stage"], state["status"]) == ("placed_on_market", "original")
    assert "put_into_service_at" not in state["in_service"]


async def test_a_corrective_event_captured_before_the_declaration_stays_applied(
    custody: Custody, carrier: tuple[str, str]
) -> None:
    _, key = carrier
    minted, serial = await mint(custody)
    pid = minted.passport_id
    sold = object_event(serial, "retail_selling", "2026-03-01T10:00:00.000Z")
    wrong_time = object_event(serial, "installing", "2026-03-05T10:00:00.000Z")
    right_time = object_event(serial, "installing", "2026-03-04T09:00:00.000Z")
    for event in (sold, wrong_time, right_time):
        assert await outcome(custody, key, event) == "recorded"
    assert await outcome(custody, key, declaration_of(wrong_time)) == "error_declared"
    assert (await custody_state(custody, pid))["stage"] == "in_service"
    # The stage stays, but the stage step that gave it is out: the correction says so (read models re-date it).
    assert [(f["stage"], f["sequence"], f["corrects_sequence"]) for f in await status_facts(custody, pid, 3)] == [
        ("placed_on_market", 1, None),
        ("in_service", 2, None),
        ("in_service", 4, 2),
    ]


async def test_a_declaration_after_later_events_or_before_its_event(custody: Custody, carrier: tuple[str, str]) -> None:
    carrier_id, key = carrier
    # After later events: a dispatch that did not happen, then a receipt and an inspection; the dispatch is taken
    # out, the receipt keeps the battery with the carrier that received it.
    (minted, serial) = await mint(custody)
    pid = minted.passport_id
    sold = object_event(serial, "retail_selling", "2026-03-01T10:00:00.000Z")
    shipped = object_event(serial, "shipping", "2026-03-02T10:00:00.000Z")
    for event in (sold, shipped):
        assert await outcome(custody, key, event) == "recorded"
    assert (await custody_state(custody, pid))["in_transit"] is True
    inspected = object_event(serial, "inspecting", "2026-03-03T10:00:00.000Z")
    assert await outcome(custody, key, inspected) == "recorded"
    assert await outcome(custody, key, declaration_of(shipped)) == ("error_declared")
    state = await custody_state(custody, pid)
    assert (state["holder"], state["in_transit"], state["pending_from"], state["stage"]) == (
        None,
        False,
        None,
        "placed_on_market",
    )
    assert (await verification(custody, pid))["intact"] is True
    # The stage did not change: no status fact states a correction.
    assert [f["sequence"] for f in await status_facts(custody, pid, 1)] == [1]

    # The only stage step did not happen: the correction leaves the battery manufactured.
    (minted, serial) = await mint(custody)
    pid = minted.passport_id
    sold_in_error = object_event(serial, "retail_selling", "2026-03-01T10:00:00.000Z")
    assert await outcome(custody, key, sold_in_error) == "recorded"
    assert await outcome(custody, key, declaration_of(sold_in_error)) == "error_declared"
    assert (await custody_state(custody, pid))["stage"] is None
    assert [(f["stage"], f["corrects_sequence"]) for f in await status_facts(custody, pid, 2)] == [
        ("placed_on_market", None),
        ("manufactured", 1),
    ]

    # Before its event: the declaration comes first, the event is then a duplicate and never applied.
    (minted, serial) = await mint(custody)
    pid = minted.passport_id
    assert await outcome(custody, key, sold | {"eventID": f"urn:uuid:{uuid.uuid4()}", "epcList": [
        f"https://id.gs1.org/01/{GTIN}/21/{serial}"]}) == "recorded"  # fmt: skip
    wrong = object_event(serial, "collecting", "2026-03-05T10:00:00.000Z")
    assert await outcome(custody, key, declaration_of(wrong)) == "error_declared"
    assert await outcome(custody, key, wrong) == "duplicate"
    state = await custody_state(custody, pid)
    assert (state["holder"], state["stage"], state["status"]) == (None, "placed_on_market", None)
    assert [e["kind"] for e in await entries(custody, pid)] == ["placed_on_market"]

    # In the same document as its declaration: kept out too (the document's order does not matter).
    also_wrong = object_event(serial, "installing", "2026-03-06T10:00:00.000Z")
    job = await capture(custody, key, document(also_wrong, declaration_of(also_wrong)))
    assert [e["outcome"] for e in job["events"]] == ["duplicate", "error_declared"]
    state = await custody_state(custody, pid)
    assert (state["stage"], [e["kind"] for e in await entries(custody, pid)]) == (
        "placed_on_market",
        ["placed_on_market"],
    )
    assert carrier_id


async def test_an_event_parked_for_its_passport_and_declared_erroneous_never_applies(
    custody: Custody, carrier: tuple[str, str]
) -> None:
    _, key = carrier
    fact = minted_fact()
    serial = fact.subject.battery_identifier
    early = object_event(serial, "retail_selling", "2026-03-01T10:00:00.000Z")
    assert await outcome(custody, key, early) == "parked"
    assert await outcome(custody, key, declaration_of(early)) == "error_declared"
    parked = await custody.db.fetchval(
        "SELECT count(*) FROM custody.parked_events WHERE payload ->> 'epcis_event_hash' = $1",
        (await capture(custody, key, document(early)))["events"][0]["eventHash"],
    )
    assert parked == 0
    await publish(
        custody.settings,
        topics.PASSPORT_MINTED.name,
        fact.model_dump_json().encode(),
        key=fact.passport_id,
        headers=cloudevent_headers(fact, source="urn:bpass:service:identity", subject=fact.passport_id),
    )
    await eventually(
        lambda: custody.db.fetchval("SELECT 1 FROM custody.known_passports WHERE passport_id = $1", fact.passport_id),
        what="custody to learn the passport",
    )
    # A later event of the same passport is applied after the minting, the erroneous one never.
    later = object_event(serial, "inspecting", "2026-03-02T10:00:00.000Z")
    assert await outcome(custody, key, later) == "recorded"
    assert [e["kind"] for e in await entries(custody, fact.passport_id)] == ["inspected"]
    assert (await custody_state(custody, fact.passport_id))["stage"] is None
