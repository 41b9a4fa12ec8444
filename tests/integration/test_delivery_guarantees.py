"""Effectively-once delivery across crashes, and bad input that never blocks a partition.

The services run as real processes against the real Kafka and PostgreSQL; crashes are real process exits at
injected points (BPASS_FAULT_INJECT), between the database commit and the offset commit, and between the
relay's publish and its marking of the outbox row.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bpass.dlq import read_dead_letters, replay
from bpass.examples import valid_static_data
from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.custody import CustodyEventKind, CustodyEventReported, CustodyRecorded, CustodyTargets
from contracts.identity import PassportMinted
from contracts.passport_data import BatteryKind, PassportSubject
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, _ensure_database, new_key
from tests.e2e.test_walking_skeleton import mint_body, register_verified_handler
from tests.integration.delivery_support import committed_offsets_reach_end, duplicates_counted, inbox_row, quiet, when
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

CRASH_AFTER_DB_COMMIT = 97
CRASH_AFTER_PUBLISH = 98


@pytest.fixture
async def isolated(settings: Settings, tmp_path: Path) -> Settings:
    """Its own database and topic namespace: no other instance shares its consumer group or outbox relay."""
    name = f"bpass_iso_{uuid.uuid4().hex[:8]}"
    database_url = await _ensure_database(settings.database_url, name)
    return settings.model_copy(
        update={
            "database_url": database_url,
            "topic_namespace": namespace(name),
            "api_keys_file": tmp_path / "api-keys.json",
            "identity_port": PORT_BASE + 11,
            "custody_port": PORT_BASE + 12,
            "reporting_port": PORT_BASE + 14,
        }
    )


def process(settings: Settings, name: str, tmp_path: Path) -> ServiceProcess:
    env = service_env(settings, settings.api_keys_file)
    env[f"BPASS_{name.upper()}_PORT"] = str(settings.port_of(name))
    return ServiceProcess(name, settings.port_of(name), env, tmp_path / f"{name}.log")


@pytest.fixture
async def iso_db(isolated: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(isolated.database_url, timeout=10)
    try:
        yield conn
    finally:
        await conn.close()


def minted_fact(passport_id: str, tenant: str) -> PassportMinted:
    return PassportMinted(
        passport_id=passport_id,
        tenant=tenant,
        subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=f"B-{uuid.uuid4().hex[:8]}"),
        category=BatteryCategory.ev,
        public_uri=f"https://passport.example.test/p/{passport_id[9:]}",
        static_data=valid_static_data(BatteryCategory.ev),
        version=1,
        minted_at=datetime.now(UTC),
        minted_by="urn:bpass:service:identity",
    )


def custody_event(
    passport_id: str, handler_id: str = "carrier-1", *, kind: CustodyEventKind = CustodyEventKind.dispatch
) -> CustodyEventReported:
    return CustodyEventReported(
        kind=kind,
        occurred_at=datetime.now(UTC),
        handler_id=handler_id,
        targets=CustodyTargets(passport_ids=[passport_id]),
    )


@pytest.mark.timeout(240)  # custody started three times
async def test_consumer_killed_between_db_commit_and_offset_commit_applies_once(
    isolated: Settings, iso_db: asyncpg.Connection, tmp_path: Path
) -> None:
    """An `inspected` observation is appended to the custody log every time it is applied (custody has no rule
    refusing a second one, as the control at the end shows): only the inbox keeps the redelivered copy out."""
    custody = process(isolated, "custody", tmp_path)
    passport_id = f"urn:uuid:{uuid.uuid4()}"
    fact = minted_fact(passport_id, "oem-crash")
    custody.start()
    await custody.wait_ready()
    await register_verified_handler(
        custody.base_url, new_key(isolated, Role.platform_operator), "carrier-1", delegate_of="oem-crash"
    )
    await publish(
        isolated,
        topics.PASSPORT_MINTED.name,
        fact.model_dump_json().encode(),
        key=passport_id,
        headers=cloudevent_headers(fact, source="urn:bpass:service:identity", subject=passport_id),
    )
    await eventually(
        lambda: iso_db.fetchval("SELECT 1 FROM custody.known_passports WHERE passport_id = $1", passport_id),
        what="custody to learn the passport",
    )
    custody.stop()

    # The next batch commits in PostgreSQL, then the process dies before committing the Kafka offset.
    custody.start(BPASS_FAULT_INJECT="crash_after_db_commit")
    await custody.wait_ready()
    event = custody_event(passport_id, kind=CustodyEventKind.inspected)
    event_id = str(uuid.uuid4())
    dedup_key = f"urn:bpass:handler:carrier-1\x1f{event_id}"
    await publish(
        isolated,
        topics.CUSTODY_EVENTS.name,
        event.model_dump_json().encode(),
        key=passport_id,
        headers=cloudevent_headers(event, source="urn:bpass:handler:carrier-1", event_id=event_id),
    )
    assert await custody.wait_exit() == CRASH_AFTER_DB_COMMIT
    count_sql = "SELECT count(*) FROM custody.custody_log WHERE passport_id = $1 AND kind = 'inspected'"
    assert await iso_db.fetchval(count_sql, passport_id) == 1
    [first] = await inbox_row(iso_db, "custody", dedup_key)
    assert first["outcome"] == "applied"

    # After the restart Kafka redelivers it; the inbox recognises it; nothing is applied twice.
    custody.start()
    try:
        await custody.wait_ready()
        await eventually(
            lambda: committed_offsets_reach_end(
                isolated, isolated.group_id("custody"), isolated.topic(topics.CUSTODY_EVENTS.name)
            ),
            what="the redelivered message to be consumed and committed",
        )
        assert await iso_db.fetchval(count_sql, passport_id) == 1
        # The restarted consumer read it again and its inbox refused it: counted as a duplicate, the inbox row as
        # the first delivery left it (not written again).
        assert await inbox_row(iso_db, "custody", dedup_key) == [first]
        assert await duplicates_counted(custody, topics.CUSTODY_EVENTS.name) == 1

        async def recorded() -> list[Any]:
            records = await read_topic(isolated, topics.CUSTODY_RECORDED.name)
            return [r for r in records if r.key == passport_id.encode()]

        # One custody fact, once settled: the relay may have published it before the crash and again after it
        # (at least once, under one CloudEvents id, which consumers drop as a duplicate), never as a second fact.
        settled = await quiet(recorded)
        assert {headers_of(r)["ce_id"] for r in settled} == {headers_of(settled[0])["ce_id"]}
        assert {r.value for r in settled} == {settled[0].value}

        # Control: the same observation under a new CloudEvents id is a new message, and custody appends it.
        await publish(
            isolated,
            topics.CUSTODY_EVENTS.name,
            event.model_dump_json().encode(),
            key=passport_id,
            headers=cloudevent_headers(event, source="urn:bpass:handler:carrier-1", event_id=str(uuid.uuid4())),
        )
        await eventually(
            lambda: iso_db.fetchval(count_sql + " HAVING count(*) = 2", passport_id),
            what="custody to append the observation sent again under a new id",
        )
    finally:
        custody.stop()


@pytest.mark.timeout(300)  # three services started, one twice, and two quiet periods
async def test_relay_killed_after_publish_before_marking_is_applied_once(
    isolated: Settings, iso_db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Custody's relay dies after publishing a custody fact, before deleting its outbox row; restarted, it publishes
    the same row again. Reporting, running all along, gets the copies in separate batches. A later fact of the
    passport is folded in between, so the second copy would come late: reporting keeps every late fact and folds the
    passport again from it (a `passport_facts` row and new versions each time, as the control at the end shows).
    Only its inbox keeps the second copy out, however late it comes."""
    tenant = f"oem-{uuid.uuid4().hex[:8]}"
    identity, custody, reporting = (process(isolated, name, tmp_path) for name in ("identity", "custody", "reporting"))
    try:
        for service in (identity, custody, reporting):
            service.start()
        for service in (identity, custody, reporting):
            await service.wait_ready()
        async with httpx.AsyncClient(
            timeout=10, headers={"X-API-Key": new_key(isolated, Role.oem_admin, tenant)}
        ) as http:
            response = await http.post(
                f"{identity.base_url}/identity/v1/passports", json=mint_body(f"RELAY-{uuid.uuid4().hex[:8]}")
            )
        assert response.status_code == 201, response.text
        passport_id = response.json()["passport_id"]
        await register_verified_handler(
            custody.base_url, new_key(isolated, Role.platform_operator), "carrier-1", delegate_of=tenant
        )
        await eventually(
            lambda: iso_db.fetchval("SELECT 1 FROM custody.known_passports WHERE passport_id = $1", passport_id),
            what="custody to learn the passport",
        )
        await eventually(
            lambda: iso_db.fetchval("SELECT count(*) = 0 FROM custody.outbox"), what="custody's relay to drain"
        )
        custody.stop()

        # The relay publishes the custody fact of an observation, then dies before deleting its outbox row.
        custody.start(BPASS_FAULT_INJECT="crash_after_publish")
        await custody.wait_ready()
        event = custody_event(passport_id, kind=CustodyEventKind.inspected)
        await publish(
            isolated,
            topics.CUSTODY_EVENTS.name,
            event.model_dump_json().encode(),
            key=passport_id,
            headers=cloudevent_headers(event, source="urn:bpass:handler:carrier-1", event_id=str(uuid.uuid4())),
        )
        assert await custody.wait_exit() == CRASH_AFTER_PUBLISH
        assert await iso_db.fetchval("SELECT count(*) FROM custody.outbox") >= 1

        async def copies() -> list[Any]:
            return [
                r for r in await read_topic(isolated, topics.CUSTODY_RECORDED.name) if r.key == passport_id.encode()
            ]

        [published] = await eventually(copies, what="the custody fact published once before the crash")
        dedup_key = f"{headers_of(published)['ce_source']}\x1f{headers_of(published)['ce_id']}"
        facts_sql = (
            "SELECT count(*) FROM reporting.passport_facts WHERE passport_id = $1 AND change = 'custody_recorded'"
        )
        versions_sql = "SELECT count(*) FROM reporting.passport_view_versions WHERE passport_id = $1"

        async def applied_once() -> list[asyncpg.Record]:
            return await inbox_row(iso_db, "reporting", dedup_key)

        [first] = await eventually(applied_once, what="reporting to apply the first copy")
        assert await iso_db.fetchval(facts_sql, passport_id) == 1

        # A later step of the passport (the next entry of its custody log, an hour later), folded after the first.
        fact = CustodyRecorded.model_validate_json(published.value)
        later = fact.model_copy(
            update={
                "sequence": fact.sequence + 1,
                "occurred_at": fact.occurred_at + timedelta(hours=1),
                "source_event_id": str(uuid.uuid4()),
                "previous_hash": fact.entry_hash,
                "entry_hash": hashlib.sha256(fact.entry_hash.encode()).hexdigest(),
            }
        )
        await publish(
            isolated,
            topics.CUSTODY_RECORDED.name,
            later.model_dump_json().encode(),
            key=passport_id,
            headers=cloudevent_headers(later, source="urn:bpass:service:custody", subject=passport_id),
        )
        await eventually(
            lambda: iso_db.fetchval(facts_sql + " HAVING count(*) = 2", passport_id),
            what="reporting to fold the later step",
        )

        async def changes() -> list[Any]:
            records = await read_topic(isolated, topics.tenant_passport_changes(tenant))
            return [r for r in records if r.key == passport_id.encode()]

        await eventually(
            lambda: iso_db.fetchval("SELECT count(*) = 0 FROM reporting.outbox"), what="reporting's relay to drain"
        )
        versions = await iso_db.fetchval(versions_sql, passport_id)
        streamed = len(await quiet(changes))

        # Restarted, the relay publishes the same row again: a second copy with the same CloudEvents id, which
        # reporting reads in a batch of its own.
        custody.start()
        await custody.wait_ready()
        ce_id = headers_of(published)["ce_id"]

        async def same_id() -> list[Any]:
            return [r for r in await copies() if headers_of(r)["ce_id"] == ce_id]

        both = await eventually(
            lambda: when(same_id, lambda found: len(found) == 2), what="the custody fact published again"
        )
        assert [r.value for r in both] == [published.value] * 2
        await eventually(
            lambda: iso_db.fetchval("SELECT count(*) = 0 FROM custody.outbox"), what="custody's relay to drain"
        )
        await eventually(
            lambda: committed_offsets_reach_end(
                isolated, isolated.group_id("reporting"), isolated.topic(topics.CUSTODY_RECORDED.name)
            ),
            what="reporting to consume the second copy",
        )
        await eventually(
            lambda: iso_db.fetchval("SELECT count(*) = 0 FROM reporting.outbox"), what="reporting's relay to drain"
        )
        assert await iso_db.fetchval(facts_sql, passport_id) == 2
        assert await iso_db.fetchval(versions_sql, passport_id) == versions
        assert await inbox_row(iso_db, "reporting", dedup_key) == [first]
        assert await duplicates_counted(reporting, topics.CUSTODY_RECORDED.name) == 1
        # Late duplicates included: the change stream has settled, and on what it had after the first copy.
        assert len(await quiet(changes)) == streamed

        # Control: the same fact under a new CloudEvents id is a new message: reporting keeps it, late, and folds the
        # passport again (new versions).
        await publish(
            isolated,
            topics.CUSTODY_RECORDED.name,
            published.value,
            key=passport_id,
            headers=cloudevent_headers(fact, source="urn:bpass:service:custody", subject=passport_id),
        )
        await eventually(
            lambda: iso_db.fetchval(facts_sql + " HAVING count(*) = 3", passport_id),
            what="reporting to keep the fact sent again under a new id",
        )
        assert await iso_db.fetchval(versions_sql, passport_id) > versions
    finally:
        for service in (identity, custody, reporting):
            service.stop()


async def passport_custody_knows(
    platform: dict[str, ServiceProcess],
    settings: Settings,
    oem_key: str,
    db: asyncpg.Connection,
    prefix: str,
    *,
    owner: str,
) -> str:
    """A passport minted over HTTP, once custody knows it; `carrier-1` registered and verified to report on it (the
    OEM's delegate: write authority lets it ship the OEM's new batteries)."""
    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": oem_key}) as http:
        minted = await http.post(
            f"{platform['identity'].base_url}/identity/v1/passports",
            json=mint_body(f"{prefix}-{uuid.uuid4().hex[:8]}"),
        )
    passport_id: str = minted.json()["passport_id"]
    await register_verified_handler(
        platform["custody"].base_url, new_key(settings, Role.platform_operator), "carrier-1", delegate_of=owner
    )
    await eventually(
        lambda: db.fetchval("SELECT 1 FROM custody.known_passports WHERE passport_id = $1", passport_id),
        what="custody to learn the passport",
    )
    return passport_id


async def test_bad_messages_are_answered_and_never_block_the_partition(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str], db: asyncpg.Connection
) -> None:
    passport_id = await passport_custody_knows(platform, settings, tenant[1], db, "BAD", owner=tenant[0])
    good = custody_event(passport_id)
    source = "urn:bpass:handler:carrier-1"
    ids = {name: str(uuid.uuid4()) for name in ("not_json", "bad_field", "poison", "good")}
    topic = topics.CUSTODY_EVENTS.name
    # Same key, so same partition, each one after the other.
    await publish(
        settings,
        topic,
        b"{not json",
        key=passport_id,
        headers=cloudevent_headers(good, source=source, event_id=ids["not_json"]),
    )
    await publish(settings, topic, good.model_dump_json().encode(), key=passport_id, headers=[])
    bad_field = json.loads(good.model_dump_json())
    bad_field["mass_kg"] = "-5"
    await publish(
        settings,
        topic,
        json.dumps(bad_field).encode(),
        key=passport_id,
        headers=cloudevent_headers(good, source=source, event_id=ids["bad_field"]),
    )
    # A failure of handling, not of the contract (a NUL is refused at the edge now): an identifier nobody minted
    # is parked under it, and 4 kB of incompressible text exceed the B-tree row limit of the parking index.
    poison = CustodyEventReported(
        kind=CustodyEventKind.dispatch,
        occurred_at=datetime.now(UTC),
        handler_id="carrier-1",
        targets=CustodyTargets(battery_identifiers=[base64.b64encode(os.urandom(3000)).decode()]),
    )
    await publish(
        settings,
        topic,
        poison.model_dump_json().encode(),
        key=passport_id,
        headers=cloudevent_headers(poison, source=source, event_id=ids["poison"]),
    )
    await publish(
        settings,
        topic,
        good.model_dump_json().encode(),
        key=passport_id,
        headers=cloudevent_headers(good, source=source, event_id=ids["good"]),
    )

    # The good message behind them is applied.
    await eventually(
        lambda: db.fetchval("SELECT count(*) FROM custody.custody_log WHERE passport_id = $1", passport_id),
        what="the good message to be applied",
    )
    assert await db.fetchval("SELECT count(*) FROM custody.custody_log WHERE passport_id = $1", passport_id) == 1

    # Each invalid one is answered on the rejected topic, with field and reason.
    async def rejections() -> dict[str, Any] | None:
        found: dict[str, Any] = {}
        for record in await read_topic(settings, topics.CUSTODY_REJECTED.name):
            body = json.loads(record.value)
            if record.key == passport_id.encode():
                found[body["rejected_ce_id"] or "no_headers"] = body
        return found if len(found) >= 3 else None

    found = await eventually(rejections, what="three rejections")
    assert found[ids["not_json"]]["violations"][0]["reason"] == "invalid_json"
    assert {v["reason"] for v in found["no_headers"]["violations"]} == {"missing_cloudevents_attribute"}
    assert found[ids["bad_field"]]["violations"][0]["field"] == "mass_kg"
    assert found[ids["bad_field"]]["violations"][0]["reason"] == "invalid_greater_than_equal"

    # The poison one went to the dead-letter topic after its tries, with the error in its headers.
    async def dead_letter() -> Any:
        for record in await read_topic(settings, topics.dead_letter_topic("custody")):
            if headers_of(record).get("ce_id") == ids["poison"]:
                return record
        return None

    letter = await eventually(dead_letter, what="the dead letter")
    h = headers_of(letter)
    assert h["bpass_dlq_original_topic"] == settings.topic(topic)
    assert h["bpass_dlq_tries"] == str(settings.consumer_max_tries)
    assert h["bpass_dlq_error_type"] == "ProgramLimitExceededError"
    assert "index row" in h["bpass_dlq_error"]
    assert letter.value == poison.model_dump_json().encode()  # the original body, untouched

    # The operator's CLI lists it and can replay it to its original topic (same CloudEvents id).
    letters = [x for x in await read_dead_letters(settings, "custody") if x.ce_id == ids["poison"]]
    assert len(letters) == 1
    assert letters[0].original_topic == settings.topic(topic)
    assert letters[0].error_type == "ProgramLimitExceededError"
    assert all(not name.startswith("bpass_dlq_") for name, _ in letters[0].original_headers)
    before = [r for r in await read_topic(settings, topic) if headers_of(r).get("ce_id") == ids["poison"]]
    assert await replay(settings, letters) == 1

    async def replayed() -> list[Any] | None:
        copies = [r for r in await read_topic(settings, topic) if headers_of(r).get("ce_id") == ids["poison"]]
        return copies if len(copies) == len(before) + 1 else None

    copies = await eventually(replayed, what="the replayed message on its original topic")
    assert copies[-1].value == letters[0].value
