"""Minting against the real stack: idempotency under concurrent duplicates, the mint-request topic, refusals.

Identity runs as its own process with its own database and topic namespace, so every fact on its topics is
one of this module's and can be counted exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bpass.examples import EXAMPLE_GTIN, valid_static_data, valid_static_payload
from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.identity import MintPassportsRequested, PassportMinted, PassportSpec
from contracts.passport_data import BatteryKind, PassportSubject
from contracts.rejections import MessageRejected
from services.common.settings import Settings
from tests.conftest import PORT_BASE, _ensure_database
from tests.support import (
    ServiceProcess,
    cloudevent_headers,
    eventually,
    namespace,
    publish,
    read_topic,
    service_env,
    verified_gtin_prefix,
)


@dataclass
class Identity:
    settings: Settings
    process: ServiceProcess

    @property
    def url(self) -> str:
        return self.process.base_url

    async def facts(self, topic: topics.Topic) -> list[Any]:
        return await read_topic(self.settings, topic.name)


@asynccontextmanager
async def identity_service(settings: Settings, logs: Path, port: int) -> AsyncIterator[Identity]:
    """The identity service as a process on `port`, with a database and topic namespace of its own."""
    name = f"bpass_idt_{uuid.uuid4().hex[:8]}"
    database_url = await _ensure_database(settings.database_url, name)
    own = settings.model_copy(
        update={"database_url": database_url, "topic_namespace": namespace(name), "identity_port": port}
    )
    env = service_env(own, own.api_keys_file)
    env["BPASS_IDENTITY_PORT"] = str(port)
    process = ServiceProcess("identity", port, env, logs / "identity.log")
    process.start()
    try:
        await process.wait_ready()
        yield Identity(own, process)
    finally:
        process.stop()
        admin = await asyncpg.connect(settings.database_url, timeout=10)
        try:
            with contextlib.suppress(asyncpg.InsufficientPrivilegeError):  # autovacuum still on it: leave it
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="module")
async def identity(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Identity]:
    async with identity_service(settings, tmp_path_factory.mktemp("identity-minting"), PORT_BASE + 21) as service:
        yield service


def spec(identifier: str, **subject: Any) -> dict[str, Any]:
    return {
        "subject": {"kind": "battery", "battery_identifier": identifier, **subject},
        "category": "ev",
        "static_data": valid_static_payload(BatteryCategory.ev),
    }


def minted_by_id(records: list[Any]) -> Counter[str]:
    return Counter(json.loads(r.value)["passport_id"] for r in records)


async def published_all(identity: Identity, passport_ids: list[str]) -> None:
    """Wait until the outbox holds no row of these passports: every fact about them, a duplicate too, is on Kafka,
    so what the topic holds is final (the facts are in the outbox when the HTTP answer comes)."""
    db = await asyncpg.connect(identity.settings.database_url, timeout=10)
    try:

        async def drained() -> bool:
            left = await db.fetchval(
                "SELECT count(*) FROM identity.outbox WHERE message_key = ANY($1::bytea[])",
                [p.encode() for p in passport_ids],
            )
            return bool(left == 0)

        await eventually(drained, what=f"the outbox rows of {len(passport_ids)} passports published")
    finally:
        await db.close()


async def test_concurrent_identical_single_mints_make_one_passport_and_one_fact(
    identity: Identity, tenant: tuple[str, str]
) -> None:
    _, key = tenant
    body = spec(f"CONC-{uuid.uuid4().hex[:8]}")
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": key}) as http:
        responses = await asyncio.gather(
            *(http.post(f"{identity.url}/identity/v1/passports", json=body) for _ in range(10))
        )
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201], [r.text for r in responses]
    [passport_id] = {r.json()["passport_id"] for r in responses}

    await published_all(identity, [passport_id])
    assert minted_by_id(await identity.facts(topics.PASSPORT_MINTED))[passport_id] == 1


async def test_concurrent_identical_bulk_mints_agree_and_mint_each_passport_once(
    identity: Identity, tenant: tuple[str, str]
) -> None:
    _, key = tenant
    run = uuid.uuid4().hex[:6]
    body = {
        "defaults": {"category": "ev", "static_data": valid_static_payload(BatteryCategory.ev)},
        "passports": [{"subject": {"kind": "battery", "battery_identifier": f"BLK{run}-{i:04d}"}} for i in range(200)],
    }
    async with httpx.AsyncClient(timeout=60, headers={"X-API-Key": key}) as http:
        responses = await asyncio.gather(
            *(http.post(f"{identity.url}/identity/v1/passports:bulk", json=body) for _ in range(3))
        )
        assert [r.status_code for r in responses] == [200, 200, 200], [r.text[:500] for r in responses]
        results = [r.json() for r in responses]
        ids = [[p["passport_id"] for p in result["passports"]] for result in results]
        assert ids[0] == ids[1] == ids[2]
        assert len(set(ids[0])) == 200
        assert sum(result["minted"] for result in results) == 200
        assert sorted(result["existing"] for result in results) == [0, 200, 200]

        retried = await http.post(f"{identity.url}/identity/v1/passports:bulk", json=body)
        assert retried.json()["minted"] == 0
        assert [p["passport_id"] for p in retried.json()["passports"]] == ids[0]

    await published_all(identity, ids[0])
    counts = minted_by_id(await identity.facts(topics.PASSPORT_MINTED))
    assert {counts[i] for i in ids[0]} == {1}


async def test_the_mint_request_topic_mints_and_answers_refusals(identity: Identity, tenant: tuple[str, str]) -> None:
    tenant_name, _ = tenant
    good_id, bad_id = f"TOPIC-{uuid.uuid4().hex[:8]}", f"TOPIC-{uuid.uuid4().hex[:8]}"

    def request(identifier: str, gtin: str) -> MintPassportsRequested:
        return MintPassportsRequested(
            passports=[
                PassportSpec(
                    subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=identifier, gtin=gtin),
                    category=BatteryCategory.ev,
                    static_data=valid_static_data(BatteryCategory.ev),
                )
            ]
        )

    source = f"urn:bpass:tenant:{tenant_name}:mes-1"
    await verified_gtin_prefix(identity.url, identity.settings.api_keys_file, tenant_name)
    for message in (request(good_id, EXAMPLE_GTIN), request(bad_id, "09506000134353")):
        await publish(
            identity.settings,
            topics.MINT_REQUESTS.name,
            message.model_dump_json().encode(),
            key=message.passports[0].subject.battery_identifier,
            headers=cloudevent_headers(message, source=source),
        )

    async def minted() -> PassportMinted | None:
        for record in await identity.facts(topics.PASSPORT_MINTED):
            fact = PassportMinted.model_validate_json(record.value)
            if fact.subject.battery_identifier == good_id:
                return fact
        return None

    fact = await eventually(minted, what="the passport minted from the topic")
    assert fact.tenant == tenant_name
    assert fact.minted_by == source
    assert fact.public_uri.endswith(f"/01/{EXAMPLE_GTIN}/21/{good_id}")

    async def rejected() -> MessageRejected | None:
        for record in await identity.facts(topics.IDENTITY_REJECTED):
            if record.key == bad_id.encode():
                return MessageRejected.model_validate_json(record.value)
        return None

    refusal = await eventually(rejected, what="the refusal of the bad mint request")
    assert [(v.field, v.reason) for v in refusal.violations] == [("passports.0.subject.gtin", "gtin_check_digit")]


async def test_a_mint_request_from_a_non_tenant_source_is_refused(identity: Identity) -> None:
    identifier = f"SRC-{uuid.uuid4().hex[:8]}"
    message = MintPassportsRequested(
        passports=[PassportSpec.model_validate(spec(identifier))],
    )
    await publish(
        identity.settings,
        topics.MINT_REQUESTS.name,
        message.model_dump_json().encode(),
        key=identifier,
        headers=cloudevent_headers(message, source="urn:bpass:handler:carrier-1"),
    )

    async def rejected() -> MessageRejected | None:
        for record in await identity.facts(topics.IDENTITY_REJECTED):
            if record.key == identifier.encode():
                return MessageRejected.model_validate_json(record.value)
        return None

    refusal = await eventually(rejected, what="the refusal")
    assert [(v.field, v.reason) for v in refusal.violations] == [("headers.ce_source", "source_not_a_tenant")]


async def test_invalid_requests_name_field_and_rule(identity: Identity, tenant: tuple[str, str]) -> None:
    _, key = tenant
    bad = spec(f"BAD-{uuid.uuid4().hex[:8]}")
    bad["static_data"]["weight_kg"] = "-3"
    bad["static_data"]["rated_capacity_ah"] = "1e308"
    bad["static_data"]["manufacturing_date"] = "2025-02-30"
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": key}) as http:
        response = await http.post(f"{identity.url}/identity/v1/passports", json=bad)
        assert response.status_code == 422
        found = {(v["field"], v["reason"]) for v in response.json()["violations"]}
        assert found == {
            ("static_data.weight_kg", "invalid_greater_than"),
            ("static_data.rated_capacity_ah", "invalid_less_than_equal"),
            ("static_data.manufacturing_date", "invalid_date_from_datetime_parsing"),
        }, response.text
        missing = spec(f"MISS-{uuid.uuid4().hex[:8]}")
        del missing["static_data"]["rated_capacity_ah"]
        response = await http.post(f"{identity.url}/identity/v1/passports", json=missing)
        assert [(v["field"], v["reason"]) for v in response.json()["violations"]] == [
            ("static_data.rated_capacity_ah", "required_for_category")
        ]


async def test_a_gtin_and_serial_have_one_passport_whichever_tenant_mints_them(
    identity: Identity, tenant: tuple[str, str]
) -> None:
    from services.common.auth import Role
    from tests.conftest import new_key

    tenant_name, key = tenant
    other_name = f"oem-{uuid.uuid4().hex[:10]}"
    other = new_key(identity.settings, Role.oem_admin, other_name)
    for name in (tenant_name, other_name):  # a prefix licensed to both on purpose (brand owner and manufacturer)
        await verified_gtin_prefix(identity.url, identity.settings.api_keys_file, name)
    body = spec(f"G{uuid.uuid4().hex[:8]}", gtin=EXAMPLE_GTIN)
    async with httpx.AsyncClient(timeout=30) as http:
        first = await http.post(f"{identity.url}/identity/v1/passports", json=body, headers={"X-API-Key": key})
        assert first.status_code == 201
        second = await http.post(f"{identity.url}/identity/v1/passports", json=body, headers={"X-API-Key": other})
    assert second.status_code == 422
    assert [(v["field"], v["reason"]) for v in second.json()["violations"]] == [
        ("subject.battery_identifier", "gtin_serial_taken")
    ]


async def test_oversized_bodies_are_refused_with_413(identity: Identity, tenant: tuple[str, str]) -> None:
    _, key = tenant
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": key}) as http:
        declared = await http.post(
            f"{identity.url}/identity/v1/passports",
            content=b" " * (3 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        )

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(70):
                yield b" " * (1024 * 1024)

        streamed = await http.post(
            f"{identity.url}/identity/v1/passports:bulk", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert declared.status_code == 413
    assert declared.json()["reason"] == "request_too_large"
    assert streamed.status_code == 413


async def test_text_the_database_cannot_store_is_refused_not_crashed_on(
    identity: Identity, tenant: tuple[str, str]
) -> None:
    _, key = tenant
    body = spec(f"NUL-{uuid.uuid4().hex[:8]}")
    body["static_data"]["battery_model"] = "VX\u0000400"
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": key}) as http:
        response = await http.post(f"{identity.url}/identity/v1/passports", json=body)
        assert response.status_code == 422
        assert [(v["field"], v["reason"]) for v in response.json()["violations"]] == [
            ("static_data.battery_model", "invalid_text")
        ]
        odd_id = await http.get(f"{identity.url}/identity/v1/passports/x%00y/versions/99999999999")
        assert odd_id.status_code in (404, 422)


async def test_the_relay_deletes_what_it_published(identity: Identity, tenant: tuple[str, str]) -> None:
    """The outbox holds only what is not yet on Kafka: once the fact is published, its row is gone."""
    _, key = tenant
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": key}) as http:
        minted = await http.post(f"{identity.url}/identity/v1/passports", json=spec(f"OBX-{uuid.uuid4().hex[:8]}"))
    assert minted.status_code == 201, minted.text
    passport_id = minted.json()["passport_id"]

    async def published() -> Counter[str] | None:
        counts = minted_by_id(await identity.facts(topics.PASSPORT_MINTED))
        return counts if passport_id in counts else None

    await eventually(published, what="the minted fact")
    db = await asyncpg.connect(identity.settings.database_url, timeout=10)
    try:

        async def drained() -> bool | None:
            left = await db.fetchval(
                "SELECT count(*) FROM identity.outbox WHERE message_key = $1", passport_id.encode()
            )
            return True if left == 0 else None

        await eventually(drained, what="the published outbox row to be deleted")
    finally:
        await db.close()
