"""SQL of the custody schema."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.common.db import DbConnection
from services.custody.domain import LogEntry


async def remember_passport(conn: DbConnection, passport: dict[str, Any]) -> bool:
    status = await conn.execute(
        """INSERT INTO known_passports (passport_id, tenant, battery_identifier, public_uri, minted_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (passport_id) DO NOTHING""",
        passport["passport_id"],
        passport["tenant"],
        passport["battery_identifier"],
        passport["public_uri"],
        passport["minted_at"],
    )
    return bool(status.endswith(" 1"))


async def resolve(conn: DbConnection, reference: str) -> list[asyncpg.Record]:
    """Passports a reference names: a passport id, a public (Digital Link or /p/) URI, or a battery identifier."""
    return list(
        await conn.fetch(
            """SELECT passport_id, tenant FROM known_passports
               WHERE passport_id = $1 OR public_uri = $1 OR battery_identifier = $1""",
            reference,
        )
    )


async def last_entry(conn: DbConnection, passport_id: str) -> asyncpg.Record | None:
    # Row lock on the passport serialises appends to one chain across consumers.
    await conn.execute("SELECT 1 FROM known_passports WHERE passport_id = $1 FOR UPDATE", passport_id)
    return await conn.fetchrow(
        "SELECT sequence, entry_hash FROM custody_log WHERE passport_id = $1 ORDER BY sequence DESC LIMIT 1",
        passport_id,
    )


async def append(conn: DbConnection, entry: LogEntry) -> str:
    entry_hash = entry.entry_hash
    await conn.execute(
        """INSERT INTO custody_log (passport_id, sequence, kind, occurred_at, handler_id, from_handler_id,
               to_handler_id, source_event_id, source, content, previous_hash, entry_hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        entry.passport_id,
        entry.sequence,
        entry.kind,
        entry.occurred_at,
        entry.handler_id,
        entry.from_handler_id,
        entry.to_handler_id,
        entry.source_event_id,
        entry.source,
        entry.content,
        entry.previous_hash,
        entry_hash,
    )
    return entry_hash


async def park(conn: DbConnection, reference: str, envelope: dict[str, Any], payload: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO parked_events (reference, envelope, payload) VALUES ($1, $2, $3)",
        reference,
        envelope,
        payload,
    )


async def unpark(conn: DbConnection, references: list[str]) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "DELETE FROM parked_events WHERE reference = ANY($1::text[]) RETURNING id, reference, envelope, payload",
            references,
        )
    )


async def log_of(conn: DbConnection | asyncpg.Pool, passport_id: str) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM custody_log WHERE passport_id = $1 ORDER BY sequence", passport_id))


async def passport_tenant(conn: DbConnection | asyncpg.Pool, passport_id: str) -> str | None:
    tenant: str | None = await conn.fetchval("SELECT tenant FROM known_passports WHERE passport_id = $1", passport_id)
    return tenant
