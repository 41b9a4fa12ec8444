"""SQL of the handler registry (tables `handlers`, `handler_glns`) and of tenant policies."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import asyncpg

from contracts.custody import HandlerRecord
from services.common.db import DbConnection

# Parsed records by (handler id, version): the hot path reads the same few handlers for every batch.
_PARSED: dict[tuple[str, int], HandlerRecord] = {}
_PARSED_MAX = 10_000


def _parse(handler_id: str, version: int, record: dict[str, Any]) -> HandlerRecord:
    key = (handler_id, version)
    parsed = _PARSED.get(key)
    if parsed is None:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        parsed = _PARSED[key] = HandlerRecord.model_validate(record)
    return parsed


async def load_handlers(conn: DbConnection, handler_ids: Iterable[str]) -> dict[str, HandlerRecord]:
    ids = sorted(set(handler_ids))
    if not ids:
        return {}
    rows = await conn.fetch("SELECT handler_id, version, record FROM handlers WHERE handler_id = ANY($1::text[])", ids)
    return {r["handler_id"]: _parse(r["handler_id"], r["version"], r["record"]) for r in rows}


async def get_handler(
    conn: DbConnection | asyncpg.Pool, handler_id: str, *, lock: bool = False
) -> HandlerRecord | None:
    sql = "SELECT handler_id, version, record FROM handlers WHERE handler_id = $1"
    row = await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), handler_id)
    return None if row is None else _parse(row["handler_id"], row["version"], row["record"])


async def list_handlers(
    conn: DbConnection | asyncpg.Pool, state: str | None, limit: int, after: str | None
) -> list[HandlerRecord]:
    rows = await conn.fetch(
        """SELECT handler_id, version, record FROM handlers
           WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR handler_id > $2)
           ORDER BY handler_id LIMIT $3""",
        state,
        after,
        limit,
    )
    return [_parse(r["handler_id"], r["version"], r["record"]) for r in rows]


async def insert_handler(conn: DbConnection, record: HandlerRecord) -> bool:
    status = await conn.execute(
        """INSERT INTO handlers (handler_id, state, version, record, updated_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (handler_id) DO NOTHING""",
        record.handler_id,
        record.state.value,
        record.version,
        record.model_dump(mode="json"),
        record.updated_at,
    )
    if status.endswith(" 1"):
        await _replace_glns(conn, record)
        return True
    return False


async def update_handler(conn: DbConnection, record: HandlerRecord) -> None:
    await conn.execute(
        "UPDATE handlers SET state = $2, version = $3, record = $4, updated_at = $5 WHERE handler_id = $1",
        record.handler_id,
        record.state.value,
        record.version,
        record.model_dump(mode="json"),
        record.updated_at,
    )
    await _replace_glns(conn, record)


def glns_of(record: HandlerRecord) -> list[tuple[str, str | None]]:
    glns: dict[str, str | None] = {i.value: None for i in record.identifiers if i.scheme == "gln"}
    for site in record.sites:
        if site.gln:
            glns.setdefault(site.gln, site.site_id)
    return list(glns.items())


async def _replace_glns(conn: DbConnection, record: HandlerRecord) -> None:
    await conn.execute("DELETE FROM handler_glns WHERE handler_id = $1", record.handler_id)
    glns = glns_of(record)
    if glns:
        await conn.executemany(
            "INSERT INTO handler_glns (gln, handler_id, site_id) VALUES ($1, $2, $3)",
            [(gln, record.handler_id, site) for gln, site in glns],
        )


async def handlers_by_gln(conn: DbConnection, glns: Iterable[str]) -> dict[str, tuple[str, str | None]]:
    values = sorted(set(glns))
    if not values:
        return {}
    rows = await conn.fetch("SELECT gln, handler_id, site_id FROM handler_glns WHERE gln = ANY($1::text[])", values)
    return {r["gln"]: (r["handler_id"], r["site_id"]) for r in rows}


async def get_policy(conn: DbConnection | asyncpg.Pool, tenant: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT custody_violation_policy, updated_at, updated_by FROM tenant_policies WHERE tenant = $1", tenant
    )


async def set_policy(conn: DbConnection | asyncpg.Pool, tenant: str, policy: str, by: str) -> None:
    await conn.execute(
        """INSERT INTO tenant_policies (tenant, custody_violation_policy, updated_at, updated_by)
           VALUES ($1, $2, now(), $3)
           ON CONFLICT (tenant) DO UPDATE SET custody_violation_policy = EXCLUDED.custody_violation_policy,
               updated_at = now(), updated_by = EXCLUDED.updated_by""",
        tenant,
        policy,
        by,
    )
