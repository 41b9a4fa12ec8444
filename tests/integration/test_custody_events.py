"""Custody against the real stack: the handler registry, the rules that make the record audit-grade, pack and
batch correlation, early events, status facts, and tamper evidence of the hash chain.

Custody runs alone as a process in its own database and topic namespace; the tests play identity by
publishing minted facts, and play carriers and recyclers by publishing custody events.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bpass.examples import valid_static_data
from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.custody import CustodyEventKind, CustodyEventReported, CustodyTargets
from contracts.identity import PassportMinted
from contracts.passport_data import BatteryKind, PassportSubject
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, _ensure_database, new_key
from tests.support import (
    ServiceProcess,
    cloudevent_headers,
    eventually,
    headers_of,
    namespace,
    publish,
    read_topic,
    service_env,
)

PERMIT_2026 = {
    "permit_type": "environmental_permit",
    "number": "EPR/AB1234CD",
    "issuing_authority": "Environment Agency",
    "valid_from": "2026-01-01T00:00:00Z",
    "valid_until": "2026-07-01T00:00:00Z",
    "waste_codes": ["16 06 01*", "16 06 05"],
    "operations": ["R4", "R12"],
}


@dataclass
class Custody:
    settings: Settings
    process: ServiceProcess
    operator: str
    db: asyncpg.Connection

    @property
    def url(self) -> str:
        return self.process.base_url

    def http(self, key: str | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10, headers={"X-API-Key": key or self.operator})


@asynccontextmanager
async def custody_alone(settings: Settings, tmp: Path, port: int) -> AsyncIterator[Custody]:
    """Custody alone, in a database and topic namespace of its own (dropped afterwards)."""
    name = f"bpass_custody_{uuid.uuid4().hex[:8]}"
    database_url = await _ensure_database(settings.database_url, name)
    isolated = settings.model_copy(
        update={
            "database_url": database_url,
            "topic_namespace": namespace(name),
            "api_keys_file": tmp / "api-keys.json",
            "custody_port": port,
        }
    )
    env = service_env(isolated, isolated.api_keys_file)
    env["BPASS_CUSTODY_PORT"] = str(port)
    process = ServiceProcess("custody", port, env, tmp / "custody.log")
    process.start()
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        await process.wait_ready()
        yield Custody(isolated, process, new_key(isolated, Role.platform_operator), conn)
    finally:
        process.stop()
        await conn.close()
        admin = await asyncpg.connect(settings.database_url, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("custody-events"), PORT_BASE + 22) as running:
        yield running


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def register(
    custody: Custody,
    handler_id: str,
    *,
    verify: bool = True,
    permits: list[dict[str, Any]] | None = None,
    roles: list[str] | None = None,
    delegate_of: list[str] | None = None,
) -> dict[str, Any]:
    """Register (and verify) a handler; `delegate_of`: the OEM tenants it acts for (write authority: it holds
    their batteries before their first custody step and records their stage)."""
    delegations = [{"scheme": "oem_delegate", "value": tenant} for tenant in delegate_of or []]
    body = {
        "handler_id": handler_id,
        "name": f"{handler_id} Ltd",
        "roles": roles or ["carrier", "collector", "recycler"],
        "identifiers": [
            {"scheme": "waste_carrier_registration", "value": f"CBDU{uuid.uuid4().hex[:6]}"},
            *delegations,
        ],
        "sites": [{"site_id": "main", "name": "Main site", "country": "GB"}],
        "permits": permits if permits is not None else [PERMIT_2026],
    }
    async with custody.http() as http:
        response = await http.post("/custody/v1/handlers", json=body)
        assert response.status_code == 201, response.text
        if verify:
            response = await http.post(f"/custody/v1/handlers/{handler_id}/verify", json={"reason": "documents seen"})
            assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


async def mint(
    custody: Custody,
    tenant: str,
    identifier: str | None = None,
    *,
    kind: BatteryKind = BatteryKind.battery,
    members: list[str] | None = None,
    batch_number: str | None = None,
) -> tuple[str, str]:
    """Publish identity's minted fact and wait until custody knows the passport; (passport id, identifier)."""
    passport_id = f"urn:uuid:{uuid.uuid4()}"
    identifier = identifier or uid("BAT")
    fact = PassportMinted(
        passport_id=passport_id,
        tenant=tenant,
        subject=PassportSubject(
            kind=kind, battery_identifier=identifier, member_identifiers=members or [], batch_number=batch_number
        ),
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
    await eventually(
        lambda: custody.db.fetchval("SELECT 1 FROM custody.known_passports WHERE passport_id = $1", passport_id),
        what="custody to learn the passport",
    )
    return passport_id, identifier


def event(kind: CustodyEventKind, handler_id: str, *targets: str, **fields: Any) -> CustodyEventReported:
    passport_ids = [t for t in targets if t.startswith("urn:uuid:")]
    identifiers = [t for t in targets if not t.startswith("urn:uuid:")]
    return CustodyEventReported(
        kind=kind,
        occurred_at=fields.pop("occurred_at", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        handler_id=handler_id,
        targets=CustodyTargets(passport_ids=passport_ids, battery_identifiers=identifiers),
        **fields,
    )


async def send(custody: Custody, step: CustodyEventReported, source_handler: str | None = None) -> str:
    event_id = str(uuid.uuid4())
    await publish(
        custody.settings,
        topics.CUSTODY_EVENTS.name,
        step.model_dump_json().encode(),
        key=(step.targets.passport_ids or step.targets.battery_identifiers)[0],
        headers=cloudevent_headers(
            step, source=f"urn:bpass:handler:{source_handler or step.handler_id}", event_id=event_id
        ),
    )
    return event_id


async def facts(custody: Custody, topic: str, **match: Any) -> list[dict[str, Any]]:
    found = []
    for record in await read_topic(custody.settings, topic):
        body = json.loads(record.value)
        if all(body.get(k) == v for k, v in match.items()):
            found.append({**body, "_headers": headers_of(record)})
    return found


async def rejection_of(custody: Custody, event_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await facts(custody, topics.CUSTODY_REJECTED.name, rejected_ce_id=event_id)
        return found[0] if found else None

    return await eventually(check, what=f"the answer to {event_id} on the rejected topic")


async def log_length(custody: Custody, passport_id: str) -> int:
    count: int = await custody.db.fetchval(
        "SELECT count(*) FROM custody.custody_log WHERE passport_id = $1", passport_id
    )
    return count


async def wait_log(custody: Custody, passport_id: str, length: int) -> None:
    async def check() -> bool:
        return await log_length(custody, passport_id) >= length

    await eventually(check, what=f"{length} custody entries on {passport_id}")


async def verification(custody: Custody, passport_id: str) -> dict[str, Any]:
    async with custody.http() as http:
        response = await http.get(f"/custody/v1/passports/{passport_id}/custody-log/verification")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- the registry -------------------------------------------------------------------------------------------------


async def test_registry_lifecycle_register_verify_suspend_each_a_fact(custody: Custody) -> None:
    handler_id = uid("recycler")
    pending = await register(custody, handler_id, verify=False)
    assert pending["state"] == "pending"
    assert pending["version"] == 1
    async with custody.http() as http:
        again = await http.post(
            "/custody/v1/handlers", json={"handler_id": handler_id, "name": "x", "roles": ["recycler"]}
        )
        assert again.status_code == 409
        assert (await http.post(f"/custody/v1/handlers/{handler_id}/verify")).json()["state"] == "verified"
        assert (await http.post(f"/custody/v1/handlers/{handler_id}/verify")).status_code == 409
        suspended = await http.post(f"/custody/v1/handlers/{handler_id}/suspend", json={"reason": "permit revoked"})
        assert suspended.json()["state"] == "suspended"
        assert suspended.json()["state_reason"] == "permit revoked"
        bad = await http.post(
            "/custody/v1/handlers",
            json={
                "handler_id": uid("h"),
                "name": "x",
                "roles": ["carrier"],
                "permits": [{**PERMIT_2026, "waste_codes": ["16-06-01"]}],
            },
        )
        assert bad.status_code == 422
        carrier = new_key(custody.settings, Role.carrier, handler_id)
        forbidden = await http.post(f"/custody/v1/handlers/{handler_id}/verify", headers={"X-API-Key": carrier})
        assert forbidden.status_code == 403

    async def changes() -> list[dict[str, Any]] | None:
        found = [
            f
            for f in await facts(custody, topics.CUSTODY_HANDLER_REGISTRY.name)
            if f["handler"]["handler_id"] == handler_id
        ]
        return found if len(found) == 3 else None

    found = await eventually(changes, what="three registry facts")
    assert [(f["change"], f["handler"]["version"], f["handler"]["state"]) for f in found] == [
        ("registered", 1, "pending"),
        ("verified", 2, "verified"),
        ("suspended", 3, "suspended"),
    ]
    assert found[2]["reason"] == "permit revoked"


# --- audit-grade rules --------------------------------------------------------------------------------------------


async def test_steps_of_unregistered_unverified_or_suspended_handlers_are_rejected_with_reason(
    custody: Custody,
) -> None:
    tenant = uid("oem")
    passport_id, _ = await mint(custody, tenant)
    pending = uid("carrier")
    await register(custody, pending, verify=False)
    unknown = uid("carrier")
    ids = {
        "handler_not_verified": await send(custody, event(CustodyEventKind.dispatch, pending, passport_id)),
        "handler_not_registered": await send(custody, event(CustodyEventKind.dispatch, unknown, passport_id)),
    }
    for reason, event_id in ids.items():
        answer = await rejection_of(custody, event_id)
        assert answer["violations"][0]["reason"] == reason
        assert answer["violations"][0]["field"] == "handler_id"
        assert answer["_headers"].get("bpass_outcome") != "accepted_flagged"
    # Spoofing: a handler publishing a step as another one.
    verified = uid("carrier")
    await register(custody, verified)
    spoofed = await send(custody, event(CustodyEventKind.dispatch, verified, passport_id), source_handler=pending)
    assert (await rejection_of(custody, spoofed))["violations"][0]["reason"] == "source_not_handler"
    assert await log_length(custody, passport_id) == 0


async def test_permit_must_be_valid_at_event_time_and_cover_the_waste_code(custody: Custody) -> None:
    tenant = uid("oem")
    collector = uid("collector")
    await register(custody, collector)
    cases: dict[str, dict[str, Any]] = {
        "permit_not_valid": dict(occurred_at=datetime(2026, 8, 1, tzinfo=UTC), ewc_code="16 06 01*"),
        "permit_does_not_cover_waste_code": dict(ewc_code="20 01 33*"),
        "permit_does_not_cover_operation": dict(ewc_code="16 06 01*", operation="D10"),
        "waste_code_required": {},
    }
    for reason, fields in cases.items():
        passport_id, _ = await mint(custody, tenant)
        event_id = await send(custody, event(CustodyEventKind.collection, collector, passport_id, **fields))
        answer = await rejection_of(custody, event_id)
        assert reason in {v["reason"] for v in answer["violations"]}, answer
    passport_id, _ = await mint(custody, tenant)
    await send(
        custody, event(CustodyEventKind.collection, collector, passport_id, ewc_code="16 06 01*", operation="R4")
    )
    await wait_log(custody, passport_id, 1)


async def test_illegal_transition_rejected_or_flagged_per_tenant_policy(custody: Custody) -> None:
    tenant = uid("oem")
    first, second = uid("carrier"), uid("carrier")
    await register(custody, first, delegate_of=[tenant])
    await register(custody, second)
    passport_id, _ = await mint(custody, tenant)
    await send(custody, event(CustodyEventKind.dispatch, first, passport_id, to_handler_id=second))
    await wait_log(custody, passport_id, 1)
    # The holder dispatching again what is in transit breaks the order of steps.
    again = event(CustodyEventKind.dispatch, first, passport_id, to_handler_id=second)
    answer = await rejection_of(custody, await send(custody, again))
    assert {v["reason"] for v in answer["violations"]} == {"in_transit"}
    assert await log_length(custody, passport_id) == 1

    # The OEM chooses to keep violations as flagged evidence.
    oem_admin = new_key(custody.settings, Role.oem_admin, tenant)
    async with custody.http(oem_admin) as http:
        policy = await http.put(f"/custody/v1/tenants/{tenant}/policy", json={"custody_violation_policy": "flag"})
        assert policy.status_code == 200, policy.text
        other = await http.put(f"/custody/v1/tenants/{uid('oem')}/policy", json={"custody_violation_policy": "flag"})
        assert other.status_code == 404
    flagged_id = await send(custody, again)
    await wait_log(custody, passport_id, 2)
    notice = await rejection_of(custody, flagged_id)
    assert notice["_headers"]["bpass_outcome"] == "accepted_flagged"
    assert notice["violations"][0]["reason"] == "in_transit"
    # Write authority is no custody rule a policy may relax: a party that may not write is refused still.
    claimed = event(CustodyEventKind.receipt, uid("carrier"), passport_id)
    await register(custody, claimed.handler_id)
    refused = await rejection_of(custody, await send(custody, claimed))
    assert refused["_headers"].get("bpass_outcome") != "accepted_flagged"
    assert {v["reason"] for v in refused["violations"]} == {"not_consignee"}

    async def recorded() -> list[dict[str, Any]] | None:
        found = await facts(custody, topics.CUSTODY_RECORDED.name, passport_id=passport_id)
        return found if len(found) == 2 else None

    second_fact = (await eventually(recorded, what="two custody-recorded facts"))[1]
    assert second_fact["flags"][0]["reason"] == "in_transit"
    async with custody.http() as http:
        log = (await http.get(f"/custody/v1/passports/{passport_id}/custody-log")).json()
    assert log["entries"][1]["flags"][0]["reason"] == "in_transit"
    assert len(log["entries"]) == 2
    assert (log["custody"]["holder"], log["custody"]["pending_to"]) == (first, second)
    assert (await verification(custody, passport_id))["intact"] is True


# --- correlation ----------------------------------------------------------------------------------------------------


async def test_an_event_on_a_pack_or_batch_applies_to_everything_in_it(custody: Custody) -> None:
    tenant = uid("oem")
    carrier = uid("carrier")
    await register(custody, carrier, delegate_of=[tenant])
    cells = [uid("CELL") for _ in range(2)]
    cell_passports = [(await mint(custody, tenant, cell))[0] for cell in cells]
    pack_passport, pack = await mint(custody, tenant, uid("PACK"), kind=BatteryKind.pack, members=cells)
    await send(custody, event(CustodyEventKind.dispatch, carrier, pack))
    for passport_id in [*cell_passports, pack_passport]:
        await wait_log(custody, passport_id, 1)

    lot = uid("L")
    in_batch = [(await mint(custody, tenant, batch_number=lot))[0] for _ in range(3)]
    batch_event = CustodyEventReported(
        kind=CustodyEventKind.dispatch,
        occurred_at=datetime(2026, 3, 2, tzinfo=UTC),
        handler_id=carrier,
        targets=CustodyTargets(batch_numbers=[lot]),
    )
    await publish(
        custody.settings,
        topics.CUSTODY_EVENTS.name,
        batch_event.model_dump_json().encode(),
        key=lot,
        headers=cloudevent_headers(batch_event, source=f"urn:bpass:handler:{carrier}"),
    )
    for passport_id in in_batch:
        await wait_log(custody, passport_id, 1)


async def test_an_early_event_is_parked_then_applied_when_the_passport_is_minted(custody: Custody) -> None:
    tenant = uid("oem")
    carrier = uid("carrier")
    await register(custody, carrier, delegate_of=[tenant])
    identifier = uid("EARLY")
    event_id = await send(custody, event(CustodyEventKind.dispatch, carrier, identifier))

    async def parked() -> bool:
        outcome = await custody.db.fetchval(
            "SELECT outcome FROM custody.inbox WHERE dedup_key = $1", f"urn:bpass:handler:{carrier}\x1f{event_id}"
        )
        return bool(outcome == "parked")

    await eventually(parked, what="the early event to be parked")
    passport_id, _ = await mint(custody, tenant, identifier)
    await wait_log(custody, passport_id, 1)
    assert await custody.db.fetchval("SELECT count(*) FROM custody.parked_events WHERE reference = $1", identifier) == 0


# --- status facts ---------------------------------------------------------------------------------------------------


async def test_status_changes_custody_learns_are_facts(custody: Custody) -> None:
    tenant = uid("oem")
    recycler = uid("recycler")
    await register(custody, recycler)
    passport_id, _ = await mint(custody, tenant)
    await send(custody, event(CustodyEventKind.collection, recycler, passport_id, ewc_code="16 06 01*"))
    await send(
        custody,
        event(
            CustodyEventKind.treatment_start,
            recycler,
            passport_id,
            ewc_code="16 06 01*",
            operation="R4",
            site_id="main",
            occurred_at=datetime(2026, 3, 5, tzinfo=UTC),
        ),
    )

    async def changes() -> list[dict[str, Any]] | None:
        found = await facts(custody, topics.CUSTODY_PASSPORT_STATUS.name, passport_id=passport_id)
        return found if len(found) == 2 else None

    found = await eventually(changes, what="two status facts")
    assert [(f["stage"], f["status"], f["previous_stage"]) for f in found] == [
        ("collected", "waste", None),
        ("in_treatment", "waste", "collected"),
    ]


# --- HTTP for small senders --------------------------------------------------------------------------------------


async def test_small_senders_report_over_http_idempotently(custody: Custody) -> None:
    tenant = uid("oem")
    carrier = uid("carrier")
    await register(custody, carrier, delegate_of=[tenant])
    passport_id, _ = await mint(custody, tenant)
    key = new_key(custody.settings, Role.carrier, carrier)
    body = event(CustodyEventKind.dispatch, carrier, passport_id).model_dump(mode="json")
    async with custody.http(key) as http:
        first = await http.post("/custody/v1/events", json=body, headers={"X-Event-Id": "evt-1"})
        assert first.status_code == 201, first.text
        assert first.json()["outcome"] == "recorded"
        again = await http.post("/custody/v1/events", json=body, headers={"X-Event-Id": "evt-1"})
        assert again.json()["outcome"] == "duplicate"
        other = await http.post("/custody/v1/events", json={**body, "handler_id": uid("carrier")})
        assert other.status_code == 422
        assert other.json()["violations"][0]["reason"] == "source_not_handler"
    assert await log_length(custody, passport_id) == 1


# --- tamper evidence ------------------------------------------------------------------------------------------------


async def test_altered_or_deleted_rows_are_detected_by_the_chain_check(custody: Custody) -> None:
    tenant = uid("oem")
    carrier = uid("carrier")
    await register(custody, carrier, delegate_of=[tenant])
    passport_id, _ = await mint(custody, tenant)
    for day, kind in enumerate((CustodyEventKind.dispatch, CustodyEventKind.receipt, CustodyEventKind.storage)):
        await send(custody, event(kind, carrier, passport_id, occurred_at=datetime(2026, 3, 1 + day, tzinfo=UTC)))
        await wait_log(custody, passport_id, day + 1)
    intact = await verification(custody, passport_id)
    assert intact["intact"] is True
    assert intact["entries"] == 3

    table = "custody.custody_log"
    original = await custody.db.fetchval(
        f"SELECT content FROM {table} WHERE passport_id = $1 AND sequence = 2", passport_id
    )
    altered = json.loads(original) if isinstance(original, str) else original
    altered["handler_id"] = "someone-else"
    await custody.db.execute(
        f"UPDATE {table} SET content = $2::jsonb WHERE passport_id = $1 AND sequence = 2",
        passport_id,
        json.dumps(altered),
    )
    broken = await verification(custody, passport_id)
    assert broken["intact"] is False
    assert broken["break"]["sequence"] == 2
    assert broken["break"]["reason"] == "content_altered"
    await custody.db.execute(
        f"UPDATE {table} SET content = $2::jsonb WHERE passport_id = $1 AND sequence = 2",
        passport_id,
        original if isinstance(original, str) else json.dumps(original),
    )
    assert (await verification(custody, passport_id))["intact"] is True

    # Deleting the last entry leaves a consistent-looking chain: the head anchor catches it.
    last = await custody.db.fetchrow(
        f"DELETE FROM {table} WHERE passport_id = $1 AND sequence = 3 RETURNING *", passport_id
    )
    broken = await verification(custody, passport_id)
    assert broken["break"] == {
        "sequence": 3,
        "reason": "entry_missing",
        "message": "Entries 3 to 3 are missing: the chain's head is entry 3.",
    }
    # Deleting one in the middle.
    await custody.db.execute(f"DELETE FROM {table} WHERE passport_id = $1 AND sequence = 2", passport_id)
    broken = await verification(custody, passport_id)
    assert broken["break"]["sequence"] == 2
    assert broken["break"]["reason"] == "entry_missing"
    assert last is not None
