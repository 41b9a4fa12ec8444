"""Scheduled EPCIS webhook subscriptions (REST binding: a subscription with a `schedule` instead of `stream`): at
each instant of its schedule (UTC) a subscription's query results since its previous run go out as one
`EPCISQueryDocument`, through the webhook delivery worker (signed, retried, logged, in order).

Fed from the captured-events fact like the streams: its consumer (`webhooks.usecases.fan_out`) matches each batch
against every subscription as its subscriber sees the events, and a scheduled one `collect`s its matches in
`epcis_scheduled_events` instead of getting a delivery per batch. That table is the subscription's position: one row
per event it matched (a fact read again, or the events since `initialRecordTime` read at subscribing, add nothing),
waiting for a run or marked with the run that carried it. Capture's record time is its transaction's start and
captures commit in any order, so a position of (record time, seq) in the index could pass an event still being
committed; the fact is published after its commit, so what was collected is complete.

A run (`run_next`) happens once whatever the number of instances: the due subscription's row is taken with
`FOR UPDATE SKIP LOCKED` on `next_run_at`, and in that transaction its waiting events are marked with the run's
instant, become one delivery (`schedule:<instant>`; more than `RUN_CHUNK` events: several, in order) or, with
`reportIfEmpty`, an empty one, and `next_run_at` moves to the schedule's next instant after now. Runs missed while no
instance ran are made once, at start, carrying everything collected meanwhile (`ScheduleRunner`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg
from prometheus_client import Counter, Histogram

from services.common.auth import Principal
from services.common.db import DbConnection
from services.common.runtime import Runtime
from services.custody.domain.epcis.query import EventQuery
from services.custody.query.store import Cursor
from services.custody.query.usecases import query_context, recorded_since
from services.custody.subscriptions.schedule import parse_schedule
from services.custody.subscriptions.webhooks import delivery, store

log = logging.getLogger(__name__)

RUN_PREFIX: Final = "schedule:"
RUN_CHUNK: Final = 5_000  # events per delivery of one run (a larger run is several deliveries, in order)
RETENTION: Final = timedelta(days=7)  # how long a run's events are remembered (a fact read again adds nothing)
MAX_IDLE_S: Final = 1.0  # the runner looks for due runs at least this often (subscriptions other instances made)
MIN_IDLE_S: Final = 0.05  # a due run another instance holds is looked at again after this
DATABASE_ERRORS: Final = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)

RUNS = Counter(
    "bpass_epcis_scheduled_runs_total",
    "Runs of scheduled EPCIS webhook subscriptions, by result (events: a document with events; empty: an empty one, "
    "reportIfEmpty; nothing: no document)",
    ["service", "result"],
)
RUN_DELAY_SECONDS = Histogram(
    "bpass_epcis_scheduled_run_delay_seconds",
    "From a scheduled instant to its run being committed (a run missed while no instance ran: the whole outage)",
    ["service"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
RESULTS: Final = ("events", "empty", "nothing")


async def collect(db: DbConnection, subscription_id: uuid.UUID, rows: list[Any]) -> int:
    """Keep the index rows (event_hash, record_time, seq) a scheduled subscription matched for its next run; an
    event it already has (waiting or run) is not added again. Returns how many were added."""
    if not rows:
        return 0
    status: str = await db.execute(
        """INSERT INTO epcis_scheduled_events (subscription_id, event_hash, record_time, seq)
           SELECT $1, h, t, s FROM unnest($2::text[], $3::timestamptz[], $4::bigint[]) AS u(h, t, s)
           ON CONFLICT (subscription_id, event_hash) DO NOTHING""",
        subscription_id,
        [r["event_hash"] for r in rows],
        [r["record_time"] for r in rows],
        [r["seq"] for r in rows],
    )
    return int(status.rsplit(" ", 1)[-1])


async def collect_since(
    conn: DbConnection, subscription_id: uuid.UUID, query: EventQuery, principal: Principal, start: datetime, limit: int
) -> int | None:
    """The events recorded since `start` the query matches for `principal`, collected for the first run; None when
    more than `limit` (the caller refuses the subscription)."""
    rows = await recorded_since(conn, query, principal, Cursor(start - timedelta(microseconds=1), 2**62), limit + 1)
    if len(rows) > limit:
        return None
    return await collect(conn, subscription_id, list(rows))


@dataclass(frozen=True)
class Run:
    """A scheduled run made: its subscription, its instant, the events it carried, the deliveries it added."""

    subscription_id: uuid.UUID
    instant: datetime
    events: int
    deliveries: int
    next_run_at: datetime


CLAIM_SQL: Final = """
SELECT subscription_id, schedule, report_if_empty, next_run_at, now() AS now
  FROM epcis_webhook_subscriptions
 WHERE schedule IS NOT NULL AND next_run_at <= now() AND ($1::uuid[] IS NULL OR subscription_id = ANY($1::uuid[]))
 ORDER BY next_run_at
 LIMIT 1
   FOR UPDATE SKIP LOCKED
"""


async def claim(conn: DbConnection, among: list[uuid.UUID] | None = None) -> asyncpg.Record | None:
    """In the caller's transaction, the due scheduled subscription (of `among`, when given) whose run is the most
    overdue and that no other transaction holds; it stays held (no other instance runs it) until that ends."""
    due: asyncpg.Record | None = await conn.fetchrow(CLAIM_SQL, among)
    return due


async def run_next(pool: asyncpg.Pool) -> Run | None:
    """Make the run of one due scheduled subscription that no other instance is making; None when none is due."""
    async with pool.acquire() as conn, conn.transaction():
        due = await claim(conn)
        if due is None:
            return None
        return await run_claimed(conn, due)


async def run_claimed(conn: DbConnection, due: asyncpg.Record) -> Run:
    """The run of a `claim`ed subscription, in the claiming transaction."""
    subscription_id, instant = due["subscription_id"], due["next_run_at"]
    taken = await conn.fetch(
        """UPDATE epcis_scheduled_events SET run_at = $2
            WHERE subscription_id = $1 AND run_at IS NULL
        RETURNING event_hash""",
        subscription_id,
        instant,
    )
    rows = await conn.fetch(
        """SELECT event_hash, context, event FROM epcis_event_index
            WHERE event_hash = ANY($1::text[]) ORDER BY record_time, seq""",
        [r["event_hash"] for r in taken],
    )
    run_id = f"{RUN_PREFIX}{instant.astimezone(UTC).isoformat().replace('+00:00', 'Z')}"
    chunks = [rows[i : i + RUN_CHUNK] for i in range(0, len(rows), RUN_CHUNK)]
    if not chunks and due["report_if_empty"]:
        chunks = [[]]
    added = 0
    for number, chunk in enumerate(chunks, 1):
        added += await store.add_delivery(
            conn,
            subscription_id,
            run_id if len(chunks) == 1 else f"{run_id}:{number}",
            instant,
            [r["event_hash"] for r in chunk],
            [r["event"] for r in chunk],
            query_context([r["context"] for r in chunk]),
        )
    next_run_at = parse_schedule(due["schedule"]).next_after(max(due["now"], instant))
    await conn.execute(
        "UPDATE epcis_webhook_subscriptions SET next_run_at = $2, last_run_at = $3 WHERE subscription_id = $1",
        subscription_id,
        next_run_at,
        instant,
    )
    await conn.execute(
        "DELETE FROM epcis_scheduled_events WHERE subscription_id = $1 AND run_at < $2",
        subscription_id,
        instant - RETENTION,
    )
    return Run(subscription_id, instant, len(rows), added, next_run_at)


async def seconds_to_next_run(pool: asyncpg.Pool) -> float | None:
    """Until the earliest scheduled run falls due (≤ 0: due now); None without scheduled subscriptions."""
    wait: float | None = await pool.fetchval(
        """SELECT extract(epoch FROM min(next_run_at) - clock_timestamp())::float8
             FROM epcis_webhook_subscriptions WHERE schedule IS NOT NULL"""
    )
    return wait


class ScheduleRunner:
    """The runs of scheduled subscriptions: a background task of every custody instance (each run made once)."""

    def __init__(self, pool: asyncpg.Pool, service: str = "custody") -> None:
        self.pool = pool
        self.service = service
        for result in RESULTS:  # every series from the start, at zero
            RUNS.labels(service, result)
        RUN_DELAY_SECONDS.labels(service)

    async def run(self) -> None:
        while True:
            wait = MAX_IDLE_S
            try:
                await self.run_due()
                until = await seconds_to_next_run(self.pool)
                if until is not None:
                    wait = until
            except DATABASE_ERRORS as exc:
                log.warning("scheduled EPCIS subscriptions not run (%r); trying again", exc)
            await asyncio.sleep(min(max(wait, MIN_IDLE_S), MAX_IDLE_S))

    async def run_due(self) -> list[Run]:
        """Every run due now (missed ones included, once each), then the delivery worker is woken."""
        made: list[Run] = []
        while (run := await run_next(self.pool)) is not None:
            made.append(run)
            result = "events" if run.events else "empty" if run.deliveries else "nothing"
            RUNS.labels(self.service, result).inc()
            delay_s = (datetime.now(UTC) - run.instant).total_seconds()
            RUN_DELAY_SECONDS.labels(self.service).observe(max(0.0, delay_s))
        if any(r.deliveries for r in made):
            await delivery.wake()
        return made


async def start_runner(runtime: Runtime) -> None:
    """`ServiceSpec.on_start` hook: the runner of scheduled subscriptions, stopped with the runtime."""
    runner = ScheduleRunner(runtime.platform_pool, runtime.name)
    runtime.background.append(asyncio.create_task(runner.run(), name="epcis-scheduled-subscriptions"))


__all__ = ["Run", "ScheduleRunner", "claim", "collect", "collect_since", "run_claimed", "run_next", "start_runner"]
