"""Set-based SQL of custody ingestion: one statement per batch for each of resolve, lock, append, park."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.db import DbConnection
from services.custody.domain.steps import BATCH_REFERENCE_PREFIX, gs1_path

SCHEMA = "custody"

REMEMBER_SQL = """
INSERT INTO known_passports (passport_id, tenant, battery_identifier, public_uri, minted_at, kind, gtin,
                             batch_number, gs1_key, gs1_class)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[],
                     $8::text[], $9::text[], $10::text[])
ON CONFLICT (passport_id) DO NOTHING
RETURNING passport_id
"""

# Every passport a reference names: passport ids directly; GS1 keys (Digital Links on any domain), GS1 classes
# (GTIN + lot) and batch numbers by their columns; any other text as a public URI or an OEM identifier. A pack or
# batch passport named brings its members.
RESOLVE_SQL = """
WITH refs AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS r(ref, gs1, batch)),
direct AS (
    SELECT r.ref, k.passport_id, k.tenant, k.kind FROM refs r
        JOIN known_passports k ON k.passport_id = r.ref WHERE r.ref LIKE 'urn:uuid:%'
    UNION ALL SELECT r.ref, k.passport_id, k.tenant, k.kind FROM refs r
        JOIN known_passports k ON k.gs1_key = r.gs1 WHERE r.gs1 IS NOT NULL
    UNION ALL SELECT r.ref, k.passport_id, k.tenant, k.kind FROM refs r
        JOIN known_passports k ON k.gs1_class = r.gs1 WHERE r.gs1 IS NOT NULL
    UNION ALL SELECT r.ref, k.passport_id, k.tenant, k.kind FROM refs r
        JOIN known_passports k ON k.batch_number = r.batch WHERE r.batch IS NOT NULL
    UNION ALL SELECT r.ref, k.passport_id, k.tenant, k.kind FROM refs r
        JOIN known_passports k ON k.public_uri = r.ref WHERE r.ref NOT LIKE 'urn:uuid:%' AND r.batch IS NULL
    UNION ALL SELECT r.ref, k.passport_id, k.tenant, k.kind FROM refs r
        JOIN known_passports k ON k.battery_identifier = r.ref WHERE r.ref NOT LIKE 'urn:uuid:%' AND r.batch IS NULL
)
SELECT ref, passport_id, tenant FROM direct
UNION
SELECT d.ref, k.passport_id, k.tenant FROM direct d
    JOIN passport_members m ON m.passport_id = d.passport_id
    JOIN known_passports k ON k.tenant = m.tenant AND k.battery_identifier = m.member_identifier
WHERE d.kind <> 'battery'
"""

# No row locks: the custody_log primary key (passport, sequence) is the guard. Two writers that read the same
# head both try to append its successor; the second fails on the key and is retried with a fresh read.
STATE_SQL = """
SELECT k.passport_id, k.tenant, k.kind, k.head_sequence, k.head_hash, k.holder, k.in_transit, k.pending_from,
       k.pending_to, k.stage, coalesce(p.custody_violation_policy, 'reject') AS policy
FROM known_passports k LEFT JOIN tenant_policies p ON p.tenant = k.tenant
WHERE k.passport_id = ANY($1::text[])
"""

UPDATE_STATES_SQL = """
UPDATE known_passports k SET head_sequence = s.head_sequence, head_hash = s.head_hash, holder = s.holder,
    in_transit = s.in_transit, pending_from = s.pending_from, pending_to = s.pending_to, stage = s.stage,
    status = coalesce(s.status, k.status)
FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::bool[], $6::text[], $7::text[], $8::text[],
            $9::text[]) AS s(passport_id, head_sequence, head_hash, holder, in_transit, pending_from, pending_to,
                             stage, status)
WHERE k.passport_id = s.passport_id
"""

LOG_COLUMNS = [
    "passport_id",
    "sequence",
    "kind",
    "occurred_at",
    "handler_id",
    "from_handler_id",
    "to_handler_id",
    "source_event_id",
    "source",
    "content",
    "previous_hash",
    "entry_hash",
    "epcis_event_hash",
]


async def remember_passports(conn: DbConnection, rows: Sequence[Sequence[Any]]) -> set[str]:
    if not rows:
        return set()
    columns = list(zip(*rows, strict=True))
    inserted = await conn.fetch(REMEMBER_SQL, *[list(c) for c in columns])
    return {r["passport_id"] for r in inserted}


async def add_members(conn: DbConnection, rows: Sequence[tuple[str, str, str]]) -> None:
    if rows:
        await conn.execute(
            """INSERT INTO passport_members (passport_id, tenant, member_identifier)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING""",
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
        )


async def resolve(conn: DbConnection, references: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """reference -> [(passport id, tenant)], for the references that name any known passport."""
    refs = sorted(set(references))
    if not refs:
        return {}
    gs1 = [gs1_path(r) for r in refs]
    batch = [r[len(BATCH_REFERENCE_PREFIX) :] if r.startswith(BATCH_REFERENCE_PREFIX) else None for r in refs]
    rows = await conn.fetch(RESOLVE_SQL, refs, gs1, batch)
    found: dict[str, list[tuple[str, str]]] = {}
    for row in sorted(rows, key=lambda r: (r["ref"], r["passport_id"])):
        found.setdefault(row["ref"], []).append((row["passport_id"], row["tenant"]))
    return found


async def states(conn: DbConnection, passport_ids: Sequence[str]) -> dict[str, asyncpg.Record]:
    """The chain head and custody state of each passport (see STATE_SQL on concurrent writers)."""
    if not passport_ids:
        return {}
    rows = await conn.fetch(STATE_SQL, list(set(passport_ids)))
    return {r["passport_id"]: r for r in rows}


async def append_entries(conn: DbConnection, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        await conn.copy_records_to_table("custody_log", columns=LOG_COLUMNS, records=rows, schema_name=SCHEMA)


async def update_states(conn: DbConnection, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        columns = list(zip(*rows, strict=True))
        await conn.execute(UPDATE_STATES_SQL, *[list(c) for c in columns])


async def park(conn: DbConnection, rows: list[tuple[str, dict[str, Any], dict[str, Any], str]]) -> None:
    """(reference, envelope, step, origin) rows."""
    if rows:
        await conn.copy_records_to_table(
            "parked_events", columns=["reference", "envelope", "payload", "origin"], records=rows, schema_name=SCHEMA
        )


async def unpark(conn: DbConnection, references: Sequence[str]) -> list[asyncpg.Record]:
    if not references:
        return []
    return list(
        await conn.fetch(
            """DELETE FROM parked_events WHERE reference = ANY($1::text[])
               RETURNING id, reference, envelope, payload, origin""",
            sorted(set(references)),
        )
    )


async def log_of(conn: DbConnection | asyncpg.Pool, passport_id: str) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM custody_log WHERE passport_id = $1 ORDER BY sequence", passport_id))


async def passport_head(conn: DbConnection | asyncpg.Pool, passport_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT tenant, head_sequence, head_hash, holder, in_transit, pending_from, pending_to, stage, status, kind
           FROM known_passports WHERE passport_id = $1""",
        passport_id,
    )


async def entries_with_event_hash(conn: DbConnection, event_hashes: Sequence[str]) -> list[asyncpg.Record]:
    if not event_hashes:
        return []
    return list(
        await conn.fetch(
            """SELECT passport_id, sequence, entry_hash, epcis_event_hash FROM custody_log
               WHERE epcis_event_hash = ANY($1::text[]) AND kind <> 'error_declaration'
               ORDER BY passport_id, sequence""",
            sorted(set(event_hashes)),
        )
    )


async def remember_request(conn: DbConnection, dedup_key: str, channel: str) -> bool:
    """Note a request's event id in the inbox; False when it was seen before."""
    fresh = await conn.fetchval(
        """INSERT INTO inbox (dedup_key, topic, kafka_partition, kafka_offset, outcome)
           VALUES ($1, $2, 0, 0, 'applied') ON CONFLICT (dedup_key) DO NOTHING RETURNING true""",
        dedup_key,
        channel,
    )
    return bool(fresh)


async def set_request_outcome(conn: DbConnection, dedup_key: str, outcome: str) -> None:
    await conn.execute("UPDATE inbox SET outcome = $2 WHERE dedup_key = $1", dedup_key, outcome)
