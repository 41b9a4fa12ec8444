"""Recovery's copies of custody's facts (handler registry, custodians) and the batches parked waiting for them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from contracts.custody import CustodyRecorded, HandlerRegistryChanged
from services.common.db import DbConnection
from services.recovery.domain.publishers import Custody, RegisteredHandler, custody_after

# Taken by whoever parks a batch and by whoever unparks after minting or custody facts or when the wait is over
# (transaction-scoped), so that a batch parked concurrently with the fact it waits for is either seen by the
# unparker or sees the fact itself.
PARKING_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.custody-parking'))"


async def remember_registry_changes(conn: DbConnection, changes: Sequence[HandlerRegistryChanged]) -> None:
    """Keep the latest version of each handler (an older version arriving late changes nothing)."""
    await conn.executemany(
        """INSERT INTO handler_registry (handler_id, roles, state, state_reason, permits, version, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (handler_id) DO UPDATE SET roles = EXCLUDED.roles, state = EXCLUDED.state,
               state_reason = EXCLUDED.state_reason, permits = EXCLUDED.permits, version = EXCLUDED.version,
               updated_at = EXCLUDED.updated_at
           WHERE handler_registry.version < EXCLUDED.version""",
        [
            (
                c.handler.handler_id,
                [r.value for r in c.handler.roles],
                c.handler.state.value,
                c.handler.state_reason,
                [p.model_dump(mode="json") for p in c.handler.permits],
                c.handler.version,
                c.handler.updated_at,
            )
            for c in changes
        ],
    )


async def registered_handler(conn: DbConnection, handler_id: str) -> RegisteredHandler | None:
    row = await conn.fetchrow(
        "SELECT handler_id, roles, state, state_reason FROM handler_registry WHERE handler_id = $1", handler_id
    )
    if row is None:
        return None
    return RegisteredHandler(row["handler_id"], frozenset(row["roles"]), row["state"], row["state_reason"])


async def record_custody(conn: DbConnection, facts: Sequence[CustodyRecorded]) -> list[str]:
    """Apply custody steps in log order per passport; returns the passports whose custody is now known."""
    ids = sorted({f.passport_id for f in facts})
    rows = await conn.fetch(
        """SELECT passport_id, holder, in_transit, in_transit_to, sequence, occurred_at FROM passport_custody
           WHERE passport_id = ANY($1::text[]) ORDER BY passport_id FOR UPDATE""",
        ids,
    )
    state = {
        r["passport_id"]: Custody(r["holder"], r["in_transit_to"], r["in_transit"], r["sequence"], r["occurred_at"])
        for r in rows
    }
    changed: dict[str, Custody] = {}
    for fact in sorted(facts, key=lambda f: (f.passport_id, f.sequence)):
        before = changed.get(fact.passport_id) or state.get(fact.passport_id) or Custody(None)
        if fact.sequence <= before.sequence:
            continue  # already applied (a fact delivered twice)
        changed[fact.passport_id] = custody_after(
            before,
            kind=fact.kind.value,
            handler_id=fact.handler_id,
            from_handler_id=fact.from_handler_id,
            to_handler_id=fact.to_handler_id,
            sequence=fact.sequence,
            occurred_at=fact.occurred_at,
        )
    if changed:
        await conn.executemany(
            """INSERT INTO passport_custody (passport_id, holder, in_transit, in_transit_to, sequence, occurred_at)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (passport_id) DO UPDATE SET holder = EXCLUDED.holder, in_transit = EXCLUDED.in_transit,
                   in_transit_to = EXCLUDED.in_transit_to, sequence = EXCLUDED.sequence,
                   occurred_at = EXCLUDED.occurred_at, recorded_at = now()""",
            [(p, c.holder, c.in_transit, c.in_transit_to, c.sequence, c.occurred_at) for p, c in changed.items()],
        )
    return sorted(changed)


async def custody_of(conn: DbConnection, passport_ids: Sequence[str]) -> dict[str, Custody]:
    rows = await conn.fetch(
        """SELECT passport_id, holder, in_transit, in_transit_to, sequence, occurred_at FROM passport_custody
           WHERE passport_id = ANY($1::text[])""",
        list(passport_ids),
    )
    return {
        r["passport_id"]: Custody(r["holder"], r["in_transit_to"], r["in_transit"], r["sequence"], r["occurred_at"])
        for r in rows
    }


async def park_batch(conn: DbConnection, values: dict[str, Any]) -> None:
    """Keep a batch until what it waits for appears; a batch parked again keeps its first `parked_at`."""
    await conn.execute(
        """INSERT INTO parked_treatment_batches (dedup_key, recycler_id, batch_id, waiting_for, awaiting_minting,
               envelope, kafka_topic, kafka_partition, kafka_offset, kafka_key, payload, parked_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, coalesce($12, now()))
           ON CONFLICT (dedup_key) DO UPDATE SET waiting_for = EXCLUDED.waiting_for,
               awaiting_minting = EXCLUDED.awaiting_minting""",
        values["dedup_key"],
        values["recycler_id"],
        values["batch_id"],
        values["waiting_for"],
        values.get("awaiting_minting", []),
        values["envelope"],
        values["kafka_topic"],
        values["kafka_partition"],
        values["kafka_offset"],
        values["kafka_key"],
        values["payload"],
        values.get("parked_at"),
    )


async def unpark_batches(
    conn: DbConnection, *, custody_known: Sequence[str] = (), minted: Sequence[str] = ()
) -> list[asyncpg.Record]:
    """Parked batches waiting for one of these passports' custody or these references' minting, all of whose
    awaited custody steps and passports are now known (removed; oldest first)."""
    return list(
        await conn.fetch(
            """DELETE FROM parked_treatment_batches p
               WHERE (p.waiting_for && $1::text[] OR p.awaiting_minting && $2::text[])
                 AND NOT EXISTS (SELECT 1 FROM unnest(p.waiting_for) w
                                 WHERE NOT EXISTS (SELECT 1 FROM passport_custody c WHERE c.passport_id = w))
                 AND NOT EXISTS (SELECT 1 FROM unnest(p.awaiting_minting) r
                                 WHERE NOT EXISTS (SELECT 1 FROM known_passports k
                                                   WHERE k.passport_id = r OR k.battery_identifier = r
                                                      OR k.public_uri = r))
               RETURNING p.*""",
            list(custody_known),
            list(minted),
        )
    )


async def unpark_expired(conn: DbConnection, max_age_s: float, limit: int) -> list[asyncpg.Record]:
    """Parked batches that have waited longer than `max_age_s` (removed; oldest first, at most `limit`)."""
    return list(
        await conn.fetch(
            """DELETE FROM parked_treatment_batches
               WHERE id IN (SELECT id FROM parked_treatment_batches
                            WHERE parked_at < now() - make_interval(secs => $1)
                            ORDER BY parked_at, id LIMIT $2)
               RETURNING *""",
            max_age_s,
            limit,
        )
    )


async def set_parked_outcome(conn: DbConnection, dedup_key: str, outcome: str) -> None:
    """What became of a parked batch, in the inbox row of the message that brought it (`applied`, `rejected`)."""
    await conn.execute("UPDATE inbox SET outcome = $2 WHERE dedup_key = $1", dedup_key, outcome)


async def parked_summary(db: DbConnection | asyncpg.Pool) -> tuple[int, float]:
    """How many treatment batches are parked, and how many seconds the oldest has waited (0: none parked)."""
    row = await db.fetchrow(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(parked_at)), 0) FROM parked_treatment_batches"
    )
    assert row is not None
    return int(row[0]), float(row[1])
