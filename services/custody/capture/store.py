"""SQL of EPCIS capture: jobs (`capture_jobs`) and captured events by CBV 2.0 hash (`epcis_events`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
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
    """A finished job; its finish is the wall clock now (`now()` is the transaction's start, before the job's)."""
    await conn.execute(
        """INSERT INTO capture_jobs (capture_id, principal, capturer, channel, error_behaviour, running, success,
               captured_at, finished_at, event_count, errors, events)
           VALUES ($1, $2, $3, $4, $5, false, $6, $7, greatest(clock_timestamp(), $7), $8, $9, $10)
           ON CONFLICT (capture_id) DO NOTHING""",
        job["capture_id"],
        job["principal"],
        job["capturer"],
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


_JOB_COLUMNS = """capture_id, principal, capturer, channel, error_behaviour, running, success, captured_at,
    finished_at"""


async def list_jobs(
    conn: DbConnection | asyncpg.Pool, capturer: str | None, limit: int, after: tuple[datetime, str] | None = None
) -> list[asyncpg.Record]:
    """The jobs `capturer` captured (every job when None), newest first (ties by capture id), after the job
    `after` (its captured_at and capture id) when given: a page of the list, read by keyset."""
    return list(
        await conn.fetch(
            f"""SELECT {_JOB_COLUMNS}, event_count, errors FROM capture_jobs
                WHERE ($1::text IS NULL OR capturer = $1)
                  AND ($3::timestamptz IS NULL OR (captured_at, capture_id) < ($3, $4))
                ORDER BY captured_at DESC, capture_id DESC LIMIT $2""",
            capturer,
            limit,
            after[0] if after else None,
            after[1] if after else None,
        )
    )


# A job's entries that record a passport of `$1` (the tenant): tenant-bound auditors see those events only.
_TENANT_ENTRIES = """
    SELECT FROM jsonb_array_elements(j.events) AS e(event),
                jsonb_array_elements(coalesce(e.event -> 'entries', '[]'::jsonb)) AS x(entry)
    JOIN known_passports k ON k.passport_id = x.entry ->> 'passport_id' AND k.tenant = $1"""


async def list_tenant_jobs(
    conn: DbConnection | asyncpg.Pool, tenant: str, limit: int, after: tuple[datetime, str] | None = None
) -> list[asyncpg.Record]:
    """The jobs that recorded at least one step of the tenant's passports, newest first; `event_count` counts
    those events only, and no error shows (a refused event recorded no step of anyone's passport)."""
    return list(
        await conn.fetch(
            f"""SELECT {_JOB_COLUMNS}, '[]'::jsonb AS errors,
                       (SELECT count(*) FROM jsonb_array_elements(j.events) AS v(event)
                        WHERE EXISTS (SELECT FROM jsonb_array_elements(coalesce(v.event -> 'entries', '[]'::jsonb))
                                          AS y(entry)
                                      JOIN known_passports p ON p.passport_id = y.entry ->> 'passport_id'
                                           AND p.tenant = $1))::int AS event_count
                FROM capture_jobs j WHERE EXISTS ({_TENANT_ENTRIES})
                  AND ($3::timestamptz IS NULL OR (captured_at, capture_id) < ($3, $4))
                ORDER BY captured_at DESC, capture_id DESC LIMIT $2""",
            tenant,
            limit,
            after[0] if after else None,
            after[1] if after else None,
        )
    )


async def tenant_passports(conn: DbConnection | asyncpg.Pool, tenant: str, passport_ids: set[str]) -> set[str]:
    """Those of `passport_ids` that are the tenant's."""
    if not passport_ids:
        return set()
    rows = await conn.fetch(
        "SELECT passport_id FROM known_passports WHERE tenant = $1 AND passport_id = ANY($2::text[])",
        tenant,
        sorted(passport_ids),
    )
    return {r["passport_id"] for r in rows}
