"""SQL of EPCIS webhook subscriptions (migration 097): the subscriptions, their deliveries (one per subscription
and captured batch) and the log of every attempt.

Deliveries are claimed by lease: `claim_due` takes, with `FOR UPDATE SKIP LOCKED`, the first pending delivery (by
capture record time) of each subscription whose turn has come and leases it to the caller; a subscription whose
first pending delivery is leased or waiting for its retry has nothing due, so its deliveries go out one at a time,
in order, whatever the number of instances. A lease an instance left (it stopped mid-attempt) lapses and the
delivery is taken again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from services.common.auth import Principal, Role
from services.common.db import DbConnection

Db: TypeAlias = "DbConnection | asyncpg.Pool"

SUBSCRIPTION_COLUMNS = (
    "subscription_id, seq, query_owner, query_name, owner, owner_role, owner_tenant, owner_key_id, dest, "
    "initial_record_time, created_at, last_notified_at, schedule, report_if_empty, next_run_at, last_run_at"
)


@dataclass(frozen=True)
class WebhookSubscription:
    subscription_id: uuid.UUID
    seq: int
    query_owner: str
    query_name: str
    owner: Principal
    dest: str
    initial_record_time: datetime
    created_at: datetime
    last_notified_at: datetime | None
    schedule: dict[str, str] | None = None  # scheduled (migration 102); None: a stream subscription
    report_if_empty: bool = False
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None


def _subscription(row: asyncpg.Record) -> WebhookSubscription:
    return WebhookSubscription(
        subscription_id=row["subscription_id"],
        seq=row["seq"],
        query_owner=row["query_owner"],
        query_name=row["query_name"],
        owner=Principal(tenant=row["owner_tenant"], role=Role(row["owner_role"]), key_id=row["owner_key_id"]),
        dest=row["dest"],
        initial_record_time=row["initial_record_time"],
        created_at=row["created_at"],
        last_notified_at=row["last_notified_at"],
        schedule=row["schedule"],
        report_if_empty=row["report_if_empty"],
        next_run_at=row["next_run_at"],
        last_run_at=row["last_run_at"],
    )


async def create(
    db: DbConnection,
    *,
    query_owner: str,
    query_name: str,
    owner: Principal,
    dest: str,
    signature_token: str | None,
    initial_record_time: datetime,
    schedule: dict[str, str] | None = None,
    report_if_empty: bool = False,
    next_run_at: datetime | None = None,
) -> WebhookSubscription:
    row = await db.fetchrow(
        f"""INSERT INTO epcis_webhook_subscriptions
               (subscription_id, query_owner, query_name, owner, owner_role, owner_tenant, owner_key_id, dest,
                signature_token, initial_record_time, schedule, report_if_empty, next_run_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            RETURNING {SUBSCRIPTION_COLUMNS}""",
        uuid.uuid4(),
        query_owner,
        query_name,
        owner.name,
        owner.role.value,
        owner.tenant,
        owner.key_id,
        dest,
        signature_token,
        initial_record_time,
        schedule,
        report_if_empty,
        next_run_at,
    )
    assert row is not None
    return _subscription(row)


async def owned(
    db: Db, query_owner: str, query_name: str, owner: Principal, subscription_id: uuid.UUID
) -> WebhookSubscription | None:
    """The subscription, when `owner` created it on that query; else None (unknown and others' answer alike)."""
    row = await db.fetchrow(
        f"""SELECT {SUBSCRIPTION_COLUMNS} FROM epcis_webhook_subscriptions
             WHERE subscription_id = $1 AND query_owner = $2 AND query_name = $3 AND owner = $4""",
        subscription_id,
        query_owner,
        query_name,
        owner.name,
    )
    return _subscription(row) if row is not None else None


async def count_owned(db: Db, owner: Principal) -> int:
    count: int = await db.fetchval("SELECT count(*) FROM epcis_webhook_subscriptions WHERE owner = $1", owner.name)
    return count


async def list_owned(
    db: Db, query_owner: str, query_name: str, owner: Principal, after_seq: int, limit: int
) -> list[WebhookSubscription]:
    rows = await db.fetch(
        f"""SELECT {SUBSCRIPTION_COLUMNS} FROM epcis_webhook_subscriptions
             WHERE query_owner = $1 AND query_name = $2 AND owner = $3 AND seq > $4 ORDER BY seq LIMIT $5""",
        query_owner,
        query_name,
        owner.name,
        after_seq,
        limit,
    )
    return [_subscription(r) for r in rows]


async def delete(db: Db, query_owner: str, query_name: str, owner: Principal, subscription_id: uuid.UUID) -> bool:
    """Unsubscribe: the subscription, its pending deliveries and their log go (ON DELETE CASCADE)."""
    status: str = await db.execute(
        """DELETE FROM epcis_webhook_subscriptions
            WHERE subscription_id = $1 AND query_owner = $2 AND query_name = $3 AND owner = $4""",
        subscription_id,
        query_owner,
        query_name,
        owner.name,
    )
    return status != "DELETE 0"


async def backfilled_hashes(
    db: DbConnection, subscription_ids: list[uuid.UUID], prefix: str
) -> dict[uuid.UUID, set[str]]:
    """The events the first deliveries (capture id starting with `prefix`) of these subscriptions carry."""
    rows = await db.fetch(
        """SELECT subscription_id, array_agg(h) AS hashes
             FROM epcis_webhook_deliveries, unnest(event_hashes) h
            WHERE subscription_id = ANY($1::uuid[]) AND starts_with(capture_id, $2)
            GROUP BY subscription_id""",
        subscription_ids,
        prefix,
    )
    return {r["subscription_id"]: set(r["hashes"]) for r in rows}


async def stream_subscriptions(db: DbConnection, record_time: datetime) -> list[WebhookSubscription]:
    """The subscriptions a batch recorded at `record_time` may concern (their initialRecordTime passed): streams,
    and scheduled ones (which collect the batch's events for their next run)."""
    rows = await db.fetch(
        f"""SELECT {SUBSCRIPTION_COLUMNS} FROM epcis_webhook_subscriptions
             WHERE initial_record_time <= $1 ORDER BY seq""",
        record_time,
    )
    return [_subscription(r) for r in rows]


async def add_delivery(
    db: DbConnection,
    subscription_id: uuid.UUID,
    capture_id: str,
    record_time: datetime,
    event_hashes: list[str],
    events: list[dict[str, Any]],
    context: list[Any],
) -> bool:
    """One delivery of a subscription for a captured batch; False when it exists already (a redelivered fact)."""
    status: str = await db.execute(
        """INSERT INTO epcis_webhook_deliveries
               (subscription_id, capture_id, record_time, event_hashes, events, context)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subscription_id, capture_id) DO NOTHING""",
        subscription_id,
        capture_id,
        record_time,
        event_hashes,
        events,
        context,
    )
    return status == "INSERT 0 1"


@dataclass(frozen=True)
class Claimed:
    """A delivery leased to this instance for one attempt."""

    delivery_id: int
    subscription_id: uuid.UUID
    query_name: str
    dest: str
    signature_token: str | None
    capture_id: str
    record_time: datetime
    events: list[dict[str, Any]]
    context: list[Any]
    attempts: int  # attempts made before this one
    created_at: datetime
    lapsed_lease: datetime | None  # the lease of an attempt that never reported (its instance stopped)


CLAIM_SQL = """
WITH due AS (
    SELECT d.delivery_id, d.leased_until AS lapsed_lease
      FROM epcis_webhook_deliveries d
     WHERE d.status = 'pending' AND d.next_attempt_at <= now()
       AND (d.leased_until IS NULL OR d.leased_until < now())
       AND NOT EXISTS (SELECT FROM epcis_webhook_deliveries e
                        WHERE e.subscription_id = d.subscription_id AND e.status = 'pending'
                          AND (e.record_time, e.delivery_id) < (d.record_time, d.delivery_id))
     ORDER BY d.next_attempt_at, d.delivery_id
     LIMIT $1
       FOR UPDATE OF d SKIP LOCKED
)
UPDATE epcis_webhook_deliveries d
   SET leased_until = now() + make_interval(secs => $2)
  FROM due, epcis_webhook_subscriptions s
 WHERE d.delivery_id = due.delivery_id AND s.subscription_id = d.subscription_id
RETURNING d.delivery_id, d.subscription_id, s.query_name, s.dest, s.signature_token, d.capture_id, d.record_time,
          d.events, d.context, d.attempts, d.created_at, due.lapsed_lease
"""


async def claim_due(pool: asyncpg.Pool, limit: int, lease_s: float) -> list[Claimed]:
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(CLAIM_SQL, limit, lease_s)
    return [Claimed(**dict(r)) for r in rows]


@dataclass(frozen=True)
class Attempt:
    attempted_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None


async def record_attempt(
    pool: asyncpg.Pool,
    claimed: Claimed,
    attempt: Attempt,
    *,
    outcome: str,
    next_attempt_at: datetime | None,
    interrupted: Attempt | None = None,
) -> None:
    """Log an attempt (and, first, the one a lapsed lease left unreported) and settle the delivery: delivered,
    failed, or pending until `next_attempt_at`; the lease is released."""
    logged = [a for a in (interrupted, attempt) if a is not None]
    try:
        await _record_attempt(pool, claimed, logged, attempt, outcome, next_attempt_at)
    except asyncpg.ForeignKeyViolationError:
        return  # unsubscribed during the attempt: the delivery went with its subscription


async def _record_attempt(
    pool: asyncpg.Pool,
    claimed: Claimed,
    logged: list[Attempt],
    attempt: Attempt,
    outcome: str,
    next_attempt_at: datetime | None,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            """INSERT INTO epcis_webhook_delivery_attempts
                   (delivery_id, attempt, attempted_at, duration_ms, status_code, error)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            [
                (claimed.delivery_id, claimed.attempts + n, a.attempted_at, a.duration_ms, a.status_code, a.error)
                for n, a in enumerate(logged, 1)
            ],
        )
        await conn.execute(
            """UPDATE epcis_webhook_deliveries
                  SET attempts = attempts + $2, status = $3, leased_until = NULL,
                      next_attempt_at = coalesce($4, next_attempt_at),
                      finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END,
                      last_error = $5
                WHERE delivery_id = $1""",
            claimed.delivery_id,
            len(logged),
            outcome,
            next_attempt_at,
            attempt.error or (f"HTTP {attempt.status_code}" if outcome != "delivered" else None),
        )
        if outcome == "delivered":
            await conn.execute(
                "UPDATE epcis_webhook_subscriptions SET last_notified_at = $2 WHERE subscription_id = $1",
                claimed.subscription_id,
                attempt.attempted_at,
            )


async def deliveries_of(db: Db, subscription_id: uuid.UUID, after_id: int, limit: int) -> list[dict[str, Any]]:
    """A subscription's deliveries in order, each with its attempts."""
    rows = await db.fetch(
        """SELECT d.delivery_id, d.capture_id, d.record_time, d.status, d.attempts, d.next_attempt_at,
                  d.created_at, d.finished_at, d.last_error, jsonb_array_length(d.events) AS event_count,
                  coalesce((SELECT jsonb_agg(jsonb_build_object(
                                'attempt', a.attempt, 'attemptedAt', a.attempted_at, 'durationMs', a.duration_ms,
                                'statusCode', a.status_code, 'error', a.error) ORDER BY a.attempt)
                              FROM epcis_webhook_delivery_attempts a WHERE a.delivery_id = d.delivery_id),
                           '[]'::jsonb) AS attempt_log
             FROM epcis_webhook_deliveries d
            WHERE d.subscription_id = $1 AND d.delivery_id > $2
            ORDER BY d.delivery_id LIMIT $3""",
        subscription_id,
        after_id,
        limit,
    )
    return [dict(r) for r in rows]


async def backlog(pool: asyncpg.Pool) -> dict[str, int]:
    """Deliveries pending and failed, for the metrics."""
    rows = await pool.fetch(
        "SELECT status, count(*) AS n FROM epcis_webhook_deliveries WHERE status <> 'delivered' GROUP BY status"
    )
    return {r["status"]: r["n"] for r in rows}
