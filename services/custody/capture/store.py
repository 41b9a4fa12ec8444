"""SQL of EPCIS capture: jobs (`capture_jobs`) and captured events by CBV 2.0 hash (`epcis_events`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.db import DbConnection


async def known_events(conn: DbConnection, event_hashes: Sequence[str]) -> dict[str, asyncpg.Record]:
    if not event_hashes:
        return {}
    rows = await conn.fetch(
        """SELECT event_hash, capture_id, event_index, outcome, declared_erroneous FROM epcis_events
           WHERE event_hash = ANY($1::text[]) FOR UPDATE""",
        sorted(set(event_hashes)),
    )
    return {r["event_hash"]: r for r in rows}


async def record_events(conn: DbConnection, rows: list[tuple[str, str | None, str, int, str]]) -> None:
    """(event hash, event id, capture id, index, outcome) of first captures."""
    if rows:
        await conn.executemany(
            """INSERT INTO epcis_events (event_hash, event_id, capture_id, event_index, outcome)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_hash) DO NOTHING""",
            rows,
        )


async def declare_erroneous(conn: DbConnection, rows: list[tuple[str, dict[str, Any]]]) -> None:
    if rows:
        await conn.executemany(
            "UPDATE epcis_events SET declared_erroneous = $2 WHERE event_hash = $1 AND declared_erroneous IS NULL",
            rows,
        )


async def save_job(conn: DbConnection, job: dict[str, Any]) -> None:
    await conn.execute(
        """INSERT INTO capture_jobs (capture_id, principal, channel, error_behaviour, running, success, captured_at,
               finished_at, event_count, errors, events)
           VALUES ($1, $2, $3, $4, false, $5, $6, now(), $7, $8, $9)
           ON CONFLICT (capture_id) DO NOTHING""",
        job["capture_id"],
        job["principal"],
        job["channel"],
        job["error_behaviour"],
        job["success"],
        job["captured_at"],
        job["event_count"],
        job["errors"],
        job["events"],
    )


async def get_job(conn: DbConnection | asyncpg.Pool, capture_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM capture_jobs WHERE capture_id = $1", capture_id)


async def list_jobs(conn: DbConnection | asyncpg.Pool, principal: str | None, limit: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT capture_id, principal, channel, running, success, captured_at, finished_at, event_count
               FROM capture_jobs WHERE ($1::text IS NULL OR principal = $1) ORDER BY captured_at DESC LIMIT $2""",
            principal,
            limit,
        )
    )
