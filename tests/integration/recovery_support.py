"""Set-up the recovery tests share: handlers registered and verified at custody, custody steps that put passports
in a recycler's hands, and waiting until recovery's copies of those custody facts have caught up."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from contracts import topics
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.support import ServiceProcess, eventually, read_topic


async def register_handler(
    custody: ServiceProcess,
    operator_key: str,
    handler_id: str,
    roles: list[str],
    *,
    verify: bool = True,
    identifiers: list[dict[str, str]] | None = None,
) -> None:
    """The platform operator registers a handler (and verifies it)."""
    async with httpx.AsyncClient(base_url=custody.base_url, timeout=10, headers={"X-API-Key": operator_key}) as http:
        body = {
            "handler_id": handler_id,
            "name": f"{handler_id} GmbH",
            "roles": roles,
            "identifiers": identifiers or [],
        }
        registered = await http.post("/custody/v1/handlers", json=body)
        assert registered.status_code == 201, registered.text
        if verify:
            verified = await http.post(f"/custody/v1/handlers/{handler_id}/verify", json={"reason": "permits seen"})
            assert verified.status_code == 200, verified.text


async def receive(settings: Settings, custody: ServiceProcess, handler_id: str, passport_ids: list[str]) -> None:
    """`handler_id` receives the passports (HTTP): their producer's plant (a delegate handler of each passport's
    tenant, as write authority asks) hands them over to it, one custody step; it holds them afterwards."""
    conn = await asyncpg.connect(settings.database_url, timeout=10)
    try:
        rows = await eventually(
            lambda: _tenants_once_known(conn, passport_ids), what="custody to know the passports it receives"
        )
    finally:
        await conn.close()
    operator_key = new_key(settings, Role.platform_operator)
    by_tenant: dict[str, list[str]] = {}
    for passport_id, tenant in rows:
        by_tenant.setdefault(tenant, []).append(passport_id)
    for tenant, of_tenant in by_tenant.items():
        plant = f"plant-{uuid.uuid4().hex[:10]}"
        await register_handler(
            custody, operator_key, plant, ["carrier"], identifiers=[{"scheme": "oem_delegate", "value": tenant}]
        )
        await _report(settings, custody, plant, "handover", of_tenant, from_handler_id=plant, to_handler_id=handler_id)


async def _tenants_once_known(conn: asyncpg.Connection, passport_ids: list[str]) -> list[tuple[str, str]] | None:
    rows = await conn.fetch(
        "SELECT passport_id, tenant FROM custody.known_passports WHERE passport_id = ANY($1::text[])", passport_ids
    )
    return [(r["passport_id"], r["tenant"]) for r in rows] if len(rows) == len(set(passport_ids)) else None


async def _report(
    settings: Settings, custody: ServiceProcess, handler_id: str, kind: str, passport_ids: list[str], **parties: str
) -> None:
    key = new_key(settings, Role.carrier, handler_id)
    event = {
        "kind": kind,
        "occurred_at": datetime(2026, 3, 1, 9, tzinfo=UTC).isoformat(),
        "handler_id": handler_id,
        "targets": {"passport_ids": passport_ids},
        **parties,
    }
    async with httpx.AsyncClient(base_url=custody.base_url, timeout=10, headers={"X-API-Key": key}) as http:
        response = await http.post("/custody/v1/events", json=event, headers={"X-Event-Id": str(uuid.uuid4())})
        assert response.status_code == 201, response.text
        assert response.json()["outcome"] == "recorded", response.text


async def recovery_knows_handler(db: asyncpg.Connection, handler_id: str, state: str = "verified") -> None:
    async def known() -> bool:
        found = await db.fetchval("SELECT state FROM recovery.handler_registry WHERE handler_id = $1", handler_id)
        return bool(found == state)

    await eventually(known, what=f"recovery to learn that {handler_id} is {state}")


async def recovery_sees_holder(db: asyncpg.Connection, passport_ids: list[str], holder: str) -> None:
    async def seen() -> bool:
        rows = await db.fetch(
            "SELECT passport_id, holder FROM recovery.passport_custody WHERE passport_id = ANY($1::text[])",
            passport_ids,
        )
        return {r["passport_id"]: r["holder"] for r in rows} == dict.fromkeys(passport_ids, holder)

    await eventually(seen, what=f"recovery to learn that {holder} holds {passport_ids}")


async def recycler_holding(
    settings: Settings,
    platform: dict[str, ServiceProcess],
    db: asyncpg.Connection,
    recycler: str,
    passport_ids: list[str],
    *,
    refiner: str | None = None,
) -> dict[str, Any]:
    """A verified recycler (and refiner) holding the passports, as recovery knows it; returns the operator key."""
    operator_key = new_key(settings, Role.platform_operator)
    await register_handler(platform["custody"], operator_key, recycler, ["recycler"])
    if refiner is not None:
        await register_handler(platform["custody"], operator_key, refiner, ["refiner"])
    await receive(settings, platform["custody"], recycler, passport_ids)
    await recovery_knows_handler(db, recycler)
    if refiner is not None:
        await recovery_knows_handler(db, refiner)
    await recovery_sees_holder(db, passport_ids, recycler)
    return {"operator_key": operator_key}


async def refusals(settings: Settings) -> dict[str, list[tuple[str, str]]]:
    """Recovery's refusals so far, by the refused message's CloudEvents id: each violation's field and reason."""
    found = {}
    for record in await read_topic(settings, topics.RECOVERY_REJECTED.name):
        refusal = json.loads(record.value)
        found[refusal["rejected_ce_id"]] = [(v["field"], v["reason"]) for v in refusal["violations"]]
    return found


async def batch_outcome(db: asyncpg.Connection, recycler: str, batch_id: str, *, what: str) -> Any:
    """Wait until recovery has decided a treatment batch; its stored outcome (JSON text)."""
    return await eventually(
        lambda: db.fetchval(
            "SELECT outcome FROM recovery.treatment_batches WHERE recycler_id = $1 AND batch_id = $2",
            recycler,
            batch_id,
        ),
        what=what,
    )
