"""SQL of pack membership: the aggregation observations kept (`pack_membership_events`) and the passports they name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.db import DbConnection
from services.custody.membership.intervals import ALL_CHILDREN, MembershipObservation

RECORD_SQL = """
INSERT INTO pack_membership_events (event_hash, parent, child, action, event_time, capture_id, capturer, erroneous)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[],
                     $8::bool[])
ON CONFLICT (event_hash, parent, child) DO NOTHING
"""

# The observations that decide the membership of the parents `$1` and of the children `$2`: those naming them, those
# naming any child they ever had (a child's ADD to another pack ends its stay: a move), and the DELETEs of every child
# of a pack those children were in.
RELEVANT_SQL = """
WITH children AS (
    SELECT child FROM pack_membership_events WHERE parent = ANY($1::text[]) AND child <> ''
    UNION SELECT unnest($2::text[])
),
parents AS (
    SELECT DISTINCT m.parent FROM pack_membership_events m JOIN children c ON c.child = m.child
)
SELECT event_hash, parent, child, action, event_time, erroneous FROM pack_membership_events
    WHERE parent = ANY($1::text[])
UNION SELECT m.event_hash, m.parent, m.child, m.action, m.event_time, m.erroneous FROM pack_membership_events m
    JOIN children c ON c.child = m.child
UNION SELECT m.event_hash, m.parent, m.child, m.action, m.event_time, m.erroneous FROM pack_membership_events m
    JOIN parents p ON p.parent = m.parent WHERE m.child = ''
"""

# Every key a passport is known by, as aggregation events name it (see `keys_of`).
PASSPORT_SQL = """
SELECT passport_id, tenant, gs1_key, public_uri, battery_identifier FROM known_passports WHERE passport_id = $1
"""

# The passports a set of keys name (keys as `keys_of` makes them), with their tenant.
PASSPORTS_OF_KEYS_SQL = """
WITH keys AS (SELECT unnest($1::text[]) AS key)
SELECT k.key, p.passport_id, p.tenant FROM keys k JOIN known_passports p ON p.passport_id = k.key
UNION SELECT k.key, p.passport_id, p.tenant FROM keys k JOIN known_passports p ON p.gs1_key = substr(k.key, 5)
    WHERE k.key LIKE 'gs1:%'
UNION SELECT k.key, p.passport_id, p.tenant FROM keys k JOIN known_passports p ON p.public_uri = k.key
UNION SELECT k.key, p.passport_id, p.tenant FROM keys k JOIN known_passports p ON p.battery_identifier = k.key
"""

HELD_BY_HANDLER_SQL = """
SELECT passport_id FROM custody_log WHERE passport_id = ANY($1::text[]) AND handler_id = $2
UNION SELECT passport_id FROM custody_log WHERE passport_id = ANY($1::text[]) AND from_handler_id = $2
UNION SELECT passport_id FROM custody_log WHERE passport_id = ANY($1::text[]) AND to_handler_id = $2
"""


async def record(
    conn: DbConnection, observations: Sequence[MembershipObservation], *, capture_id: str, capturer: str | None
) -> None:
    """Keep the observations of aggregation events a capture applied (a redelivered event changes nothing)."""
    if not observations:
        return
    await conn.execute(
        RECORD_SQL,
        [o.event_hash for o in observations],
        [o.parent for o in observations],
        [o.child for o in observations],
        [o.action for o in observations],
        [o.event_time for o in observations],
        [capture_id] * len(observations),
        [capturer] * len(observations),
        [o.erroneous for o in observations],
    )


async def declare_erroneous(conn: DbConnection, event_hashes: Sequence[str]) -> None:
    """Mark the observations of events declared erroneous (the fold skips them; the rows stay)."""
    if event_hashes:
        await conn.execute(
            "UPDATE pack_membership_events SET erroneous = true WHERE event_hash = ANY($1::text[]) AND NOT erroneous",
            sorted(set(event_hashes)),
        )


async def relevant(
    db: DbConnection | asyncpg.Pool, parents: Sequence[str], children: Sequence[str]
) -> list[MembershipObservation]:
    rows = await db.fetch(RELEVANT_SQL, sorted(set(parents)), sorted(set(children)))
    return [
        MembershipObservation(r["event_hash"], r["parent"], r["child"], r["action"], r["event_time"], r["erroneous"])
        for r in rows
    ]


def keys_of(row: Any) -> list[str]:
    """The identifiers a passport is named by in aggregation events, as `pack_membership_events` keeps them."""
    keys = [row["passport_id"]]
    if row["gs1_key"]:
        keys.append(f"gs1:{row['gs1_key']}")
    keys += [k for k in (row["public_uri"], row["battery_identifier"]) if k]
    return [k for k in dict.fromkeys(keys) if k != ALL_CHILDREN]


async def passport(db: DbConnection | asyncpg.Pool, passport_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(PASSPORT_SQL, passport_id)


async def passports_of_keys(db: DbConnection | asyncpg.Pool, keys: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """key -> [(passport id, tenant)] of the keys that name known passports."""
    found: dict[str, list[tuple[str, str]]] = {}
    if keys:
        for row in await db.fetch(PASSPORTS_OF_KEYS_SQL, sorted(set(keys))):
            found.setdefault(row["key"], []).append((row["passport_id"], row["tenant"]))
    return found


async def held_by_handler(db: DbConnection | asyncpg.Pool, passport_ids: Sequence[str], handler: str) -> set[str]:
    """The passports among `passport_ids` whose custody log names `handler` (as handler, sender or receiver)."""
    if not passport_ids:
        return set()
    return {r["passport_id"] for r in await db.fetch(HELD_BY_HANDLER_SQL, sorted(set(passport_ids)), handler)}
