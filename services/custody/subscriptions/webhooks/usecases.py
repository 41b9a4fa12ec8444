"""Webhook subscriptions of named queries: subscribing (with the destination checked and the events since an
earlier `initialRecordTime` as its first deliveries), and the deliveries a captured batch causes.

A batch's deliveries are written by the consumer of the captured-events fact, in its transaction: one per stream
subscription whose query matches some of the batch's events as its subscriber sees them (`matching_events`, the
query's visibility), at most one per subscription and capture (a redelivered fact adds nothing). A scheduled
subscription keeps its matches for its next run instead (`scheduled.collect`).

A subscription created while batches are consumed gets each event once. Its creation holds the `SUBSCRIBING_LOCK`
advisory lock exclusively while it inserts itself and reads the events recorded since `initialRecordTime`; the
consumer holds it shared while it looks the subscriptions up and matches. A batch consumed first committed before
its fact was published, so the creation's backfill (after the lock) reads it, and the consumer did not see the
subscription; a batch consumed after sees the subscription and delivers the events the backfill did not carry.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from services.common.auth import Principal
from services.common.db import DbConnection
from services.custody.domain.epcis.query import EventQuery
from services.custody.query import named
from services.custody.query.store import Cursor
from services.custody.query.usecases import matching_rows, query_context, recorded_since
from services.custody.subscriptions import scheduled
from services.custody.subscriptions.schedule import Schedule
from services.custody.subscriptions.webhooks import store
from services.custody.subscriptions.webhooks.store import WebhookSubscription

SUBSCRIBING_LOCK: Final = 0x45504349_53574831  # "EPCISWH1": subscriptions created vs. batches fanned out
MAX_SUBSCRIPTIONS_PER_KEY: Final = 100  # each is matched against every captured batch
BACKFILL_MAX_EVENTS: Final = 10_000
BACKFILL_CHUNK: Final = 500  # events per delivery of the backfill (the binding: "manageable batches")
INITIAL_CAPTURE_ID: Final = "initialRecordTime"


class TooManySubscriptions(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"A key holds at most {limit} webhook subscriptions: delete one first.")
        self.limit = limit


class BackfillTooLarge(Exception):
    """More events were recorded since `initialRecordTime` than a subscription's first deliveries carry."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"More than {limit} events match the query since initialRecordTime: choose a later initialRecordTime "
            "and read the earlier events with GET /epcis/queries/{name}/events."
        )
        self.limit = limit


async def subscribe(
    conn: DbConnection,
    query: named.NamedQuery,
    principal: Principal,
    *,
    dest: str,
    signature_token: str | None,
    initial_record_time: datetime | None,
    schedule: Schedule | None = None,
    report_if_empty: bool = False,
) -> tuple[WebhookSubscription, int]:
    """Create the subscription (`dest` already checked) in the caller's transaction; with an `initial_record_time`
    in the past, the events the query matches since then become its first deliveries (a scheduled subscription's
    first run). Returns the subscription and how many deliveries it starts with."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", SUBSCRIBING_LOCK)
    if await store.count_owned(conn, principal) >= MAX_SUBSCRIPTIONS_PER_KEY:
        raise TooManySubscriptions(MAX_SUBSCRIPTIONS_PER_KEY)
    now = await conn.fetchval("SELECT now()")
    start = initial_record_time if initial_record_time is not None else now
    subscription = await store.create(
        conn,
        query_name=query.name,
        query_owner=query.owner,
        owner=principal,
        dest=dest,
        signature_token=signature_token,
        initial_record_time=start,
        schedule=schedule.as_dict() if schedule is not None else None,
        report_if_empty=report_if_empty,
        next_run_at=schedule.next_after(now) if schedule is not None else None,
    )
    if schedule is not None:
        if start < now:
            found = await scheduled.collect_since(
                conn, subscription.subscription_id, named.events_query(query, []), principal, start, BACKFILL_MAX_EVENTS
            )
            if found is None:
                raise BackfillTooLarge(BACKFILL_MAX_EVENTS)
        return subscription, 0
    backfilled = 0
    if start < now:
        event_query = named.events_query(query, [])
        rows = await recorded_since(
            conn, event_query, principal, Cursor(start - timedelta(microseconds=1), 2**62), BACKFILL_MAX_EVENTS + 1
        )
        if len(rows) > BACKFILL_MAX_EVENTS:
            raise BackfillTooLarge(BACKFILL_MAX_EVENTS)
        for number, offset in enumerate(range(0, len(rows), BACKFILL_CHUNK), 1):
            chunk = rows[offset : offset + BACKFILL_CHUNK]
            await store.add_delivery(
                conn,
                subscription.subscription_id,
                f"{INITIAL_CAPTURE_ID}:{number}",
                chunk[-1]["record_time"],
                [r["event_hash"] for r in chunk],
                [r["event"] for r in chunk],
                query_context([r["context"] for r in chunk]),
            )
        backfilled = len(rows)
    return subscription, backfilled


async def fan_out(db: DbConnection, capture_id: str, record_time: datetime, event_hashes: list[str]) -> int:
    """The deliveries of one captured batch, in the caller's transaction; how many were added."""
    if not event_hashes:
        return 0
    await db.execute("SELECT pg_advisory_xact_lock_shared($1)", SUBSCRIBING_LOCK)
    subscriptions = await store.stream_subscriptions(db, record_time)
    if not subscriptions:
        return 0
    queries: dict[tuple[str, str], EventQuery | None] = {}
    for key in {(s.query_owner, s.query_name) for s in subscriptions}:
        found = await named.find(db, *key)
        queries[key] = named.events_query(found, []) if found is not None else None
    backfilled = await store.backfilled_hashes(
        db,
        [s.subscription_id for s in subscriptions if s.initial_record_time < s.created_at],
        f"{INITIAL_CAPTURE_ID}:",
    )
    added = 0
    # Subscribers of one query with one key see the same matches: the query runs once for them.
    matched: dict[tuple[str, str, str, tuple[str, ...]], list[Any]] = {}
    for subscription in subscriptions:
        query = queries[(subscription.query_owner, subscription.query_name)]
        if query is None:  # deleted with its query since it was read: nothing to deliver
            continue
        carried = backfilled.get(subscription.subscription_id, set())
        hashes = tuple(h for h in event_hashes if h not in carried)
        same = (subscription.query_owner, subscription.query_name, subscription.owner.name, hashes)
        if same not in matched:
            matched[same] = await matching_rows(db, query, subscription.owner, list(hashes)) if hashes else []
        rows = matched[same]
        if subscription.schedule is not None:  # kept for its next run
            await scheduled.collect(db, subscription.subscription_id, rows)
        elif rows and await store.add_delivery(
            db,
            subscription.subscription_id,
            capture_id,
            record_time,
            [r["event_hash"] for r in rows],
            [r["event"] for r in rows],
            query_context([r["context"] for r in rows]),
        ):
            added += 1
    return added


def response_body(subscription: WebhookSubscription) -> dict[str, Any]:
    """The binding's subscription resource (AbstractQuerySubscriptionResponse + QueryStreamSubscription or
    QueryScheduleSubscription); the signature token is never answered back."""
    body: dict[str, Any] = {
        "subscriptionID": str(subscription.subscription_id),
        "queryName": subscription.query_name,
        "dest": subscription.dest,
        "initialRecordTime": _time(subscription.initial_record_time),
        "createdAt": _time(subscription.created_at),
    }
    if subscription.schedule is None:
        body["stream"] = True
    else:
        body["schedule"] = subscription.schedule
        body["reportIfEmpty"] = subscription.report_if_empty
    if subscription.last_notified_at is not None:
        body["lastNotifiedAt"] = _time(subscription.last_notified_at)
    return body


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


__all__ = ["BackfillTooLarge", "TooManySubscriptions", "fan_out", "response_body", "subscribe"]
