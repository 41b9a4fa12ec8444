"""Early treatment batches wait for what they refer to (DESIGN.md, "Delivery guarantees"), on the real stack.

A recycler's batch reaches recovery before identity's PassportMinted facts of its passports (they travel on
another topic): it is parked by the references it names, then, minted, it waits for the passports' first custody
step, and is accepted when that arrives: attribution visible, passports ceased, nothing on the rejected topic. A
batch whose reference never appears is refused with `reference_never_appeared` once it has waited too long.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from prometheus_client import REGISTRY

from bpass.examples import valid_static_data
from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.identity import PassportMinted
from contracts.passport_data import BatteryKind, PassportSubject
from services.common.auth import Role
from services.common.db import create_pool
from services.common.settings import Settings
from services.recovery.usecases.sweep import observe_parked, sweep_parked
from tests.conftest import new_key
from tests.integration.recovery_support import (
    batch_outcome,
    receive,
    recovery_knows_handler,
    refusals,
    register_handler,
)
from tests.integration.test_recovery_flow import send, treatment_batch
from tests.support import ServiceProcess, eventually, read_topic, send_fact


def minted(tenant: str, category: BatteryCategory) -> PassportMinted:
    passport_id = f"urn:uuid:{uuid.uuid4()}"
    return PassportMinted(
        passport_id=passport_id,
        tenant=tenant,
        subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=f"RC-{uuid.uuid4().hex[:12]}"),
        category=category,
        public_uri=f"https://passport.example.test/p/{passport_id[9:]}",
        static_data=valid_static_data(category),
        version=1,
        minted_at=datetime.now(UTC),
        minted_by="urn:bpass:service:identity",
    )


async def parked(db: asyncpg.Connection, recycler: str, batch_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        """SELECT awaiting_minting, waiting_for FROM recovery.parked_treatment_batches
           WHERE recycler_id = $1 AND batch_id = $2""",
        recycler,
        batch_id,
    )


async def inbox_outcome(db: asyncpg.Connection, recycler: str, event_id: str) -> str | None:
    outcome: str | None = await db.fetchval(
        "SELECT outcome FROM recovery.inbox WHERE dedup_key = $1", f"urn:bpass:handler:{recycler}\x1f{event_id}"
    )
    return outcome


async def refusals_of(settings: Settings, event_id: str) -> list[tuple[str, str]] | None:
    return (await refusals(settings)).get(event_id)


async def test_a_batch_before_the_passports_are_minted_waits_and_is_accepted_when_they_and_custody_arrive(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str], db: asyncpg.Connection
) -> None:
    tenant_name, oem_key = tenant
    custody, recovery = platform["custody"], platform["recovery"]
    tag = uuid.uuid4().hex[:8]
    recycler = f"recycler-{tag}"
    await register_handler(custody, new_key(settings, Role.platform_operator), recycler, ["recycler"])
    await recovery_knows_handler(db, recycler)
    nmc, lfp = minted(tenant_name, BatteryCategory.ev), minted(tenant_name, BatteryCategory.industrial)

    # The batch names the NMC battery by passport id and the LFP battery by its identifier, neither minted yet.
    batch = treatment_batch(recycler, f"TB-{tag}", nmc.passport_id, lfp.subject.battery_identifier)
    event_id = await send(
        settings, topics.TREATMENT_BATCHES.name, batch, source=f"urn:bpass:handler:{recycler}", key=batch.batch_id
    )
    waiting = await eventually(lambda: parked(db, recycler, batch.batch_id), what="the batch to be parked")
    assert sorted(waiting["awaiting_minting"]) == sorted([nmc.passport_id, lfp.subject.battery_identifier])
    assert waiting["waiting_for"] == []

    # Identity's facts arrive: the batch now waits for the passports' first custody step.
    for fact in (nmc, lfp):
        await send_fact(settings, topics.PASSPORT_MINTED, fact, key=fact.passport_id)

    async def waits_for_custody() -> asyncpg.Record | None:
        row = await parked(db, recycler, batch.batch_id)
        return row if row is not None and row["awaiting_minting"] == [] else None

    waiting = await eventually(waits_for_custody, what="the batch to wait for custody")
    assert sorted(waiting["waiting_for"]) == sorted([nmc.passport_id, lfp.passport_id])
    await eventually(
        lambda: db.fetchval(
            "SELECT count(*) = 2 FROM custody.known_passports WHERE passport_id = ANY($1::text[])",
            [nmc.passport_id, lfp.passport_id],
        ),
        what="custody to know the passports",
    )

    # The recycler's receipt reaches custody and then recovery: the batch is accepted.
    await receive(settings, custody, recycler, [nmc.passport_id, lfp.passport_id])
    outcome = await batch_outcome(db, recycler, batch.batch_id, what="the parked batch to be accepted")
    assert json.loads(outcome)["passports_ceased"] == 2
    assert await parked(db, recycler, batch.batch_id) is None
    assert await inbox_outcome(db, recycler, event_id) == "applied"
    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": oem_key}) as http:
        answer = await http.get(f"{recovery.base_url}/recovery/v1/passports/{nmc.passport_id}/attribution")
        assert answer.status_code == 200, answer.text
        view: dict[str, Any] = answer.json()
    assert view["status"] == "ceased"
    assert view["treatment"]["batch_id"] == batch.batch_id
    assert {line["stage"] for line in view["lines"]} == {"treatment"}
    assert any(line["material"] == "nickel" and line["amount_kg"] != "0.000" for line in view["lines"])

    async def both_ceased() -> set[str] | None:  # the facts leave through the outbox relay
        records = await read_topic(settings, topics.PASSPORT_CEASED.name)
        ceased = {json.loads(r.value)["passport_id"] for r in records}
        return ceased if {nmc.passport_id, lfp.passport_id} <= ceased else None

    assert {nmc.passport_id, lfp.passport_id} <= await eventually(both_ceased, what="both passports ceased")
    assert await refusals_of(settings, event_id) is None


async def test_a_batch_whose_passport_is_never_minted_is_refused_once_it_has_waited_too_long(
    platform: dict[str, ServiceProcess], settings: Settings, db: asyncpg.Connection
) -> None:
    tag = uuid.uuid4().hex[:8]
    recycler = f"recycler-{tag}"
    await register_handler(platform["custody"], new_key(settings, Role.platform_operator), recycler, ["recycler"])
    await recovery_knows_handler(db, recycler)
    never = f"RC-never-{tag}"
    batch = treatment_batch(recycler, f"TB-{tag}", f"urn:uuid:{uuid.uuid4()}", never)
    event_id = await send(
        settings, topics.TREATMENT_BATCHES.name, batch, source=f"urn:bpass:handler:{recycler}", key=batch.batch_id
    )
    await eventually(lambda: parked(db, recycler, batch.batch_id), what="the batch to be parked")

    # Eight days later (the default wait is seven), the sweep looks at it.
    await db.execute(
        "UPDATE recovery.parked_treatment_batches SET parked_at = now() - interval '8 days' WHERE batch_id = $1",
        batch.batch_id,
    )
    pool = await create_pool(settings.platform_dsn(), "recovery", max_size=1)
    try:
        # The operator's gauges show it waiting (other tests' batches may be parked too, none as old).
        count, oldest = await observe_parked(pool)
        assert count >= 1
        assert oldest >= timedelta(days=8).total_seconds()
        assert REGISTRY.get_sample_value("bpass_recovery_oldest_parked_seconds") == oldest
        await sweep_parked(pool, settings, timedelta(days=7))  # (or recovery's own sweep, whichever comes first)
        assert (await observe_parked(pool))[1] < timedelta(days=7).total_seconds()
    finally:
        await pool.close()
    refused = await eventually(lambda: refusals_of(settings, event_id), what="the refusal")
    assert refused == [
        ("inputs.0.passport_id", "reference_never_appeared"),
        ("inputs.1.battery_identifier", "reference_never_appeared"),
    ]
    assert await parked(db, recycler, batch.batch_id) is None
    assert await inbox_outcome(db, recycler, event_id) == "rejected"
