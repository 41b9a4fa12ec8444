"""Scheduled EPCIS query subscriptions over WebSocket (REST binding: `GET /epcis/queries/{name}/events` with
`Upgrade: websocket` and the schedule's fields `second`, `minute`, `hour`, `dayOfMonth`, `month`, `dayOfWeek` as
query parameters instead of `stream=true`): at each instant of the schedule (UTC) one `EPCISQueryDocument` with the
events the named query matched, as the subscriber sees them, since the run before (the first: since
`initialRecordTime`, or since the socket opened); with `reportIfEmpty=true` an empty document when there were none,
otherwise nothing.

Fed like the stream sockets (`stream.StreamHub`): the captured-events facts this instance reads are queued for the
socket, and its sender matches them as they come and keeps the matches until the next instant. A socket is served
by the instance holding it, so each run is made once; an event is kept once per socket (the hashes sent are
remembered), so a fact read again sends nothing twice. A socket keeps at most `MAX_RUN_EVENTS` for its next run:
beyond, it is closed with 1013 (try again later) and the reason `run_too_large` (a shorter schedule or a narrower
query fits).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import asyncpg

from services.custody.query import named
from services.custody.query.store import Cursor
from services.custody.query.usecases import matching_rows, recorded_since

if TYPE_CHECKING:
    from services.custody.subscriptions.stream import StreamSubscription

BACKFILL_CHUNK: Final = 500
SEND_TIMEOUT_S: Final = 30.0
MAX_RUN_EVENTS: Final = 10_000  # events a socket keeps for its next run: memory per socket stays bounded


class RunTooLarge(Exception):
    """More events matched before the next run than one run carries: the socket is closed (1013)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} events waiting for the next run")
        self.limit = limit


async def send_scheduled(pool: asyncpg.Pool, subscription: StreamSubscription) -> None:
    """Collect the socket's matches and send them at each instant of its schedule. Returns when the named query
    is gone."""
    schedule = subscription.schedule
    assert schedule is not None
    waiting: list[Any] = []
    if subscription.initial_record_time is not None:
        waiting.extend(await _recorded_since(pool, subscription, subscription.initial_record_time))
        if len(waiting) > MAX_RUN_EVENTS:
            raise RunTooLarge(MAX_RUN_EVENTS)
    next_at = schedule.next_after(datetime.now(UTC))
    while True:
        wait_s = (next_at - datetime.now(UTC)).total_seconds()
        if wait_s > 0:
            try:
                facts = [await asyncio.wait_for(subscription.facts.get(), wait_s)]
            except TimeoutError:
                facts = []
            while not subscription.facts.empty():
                facts.append(subscription.facts.get_nowait())
            if facts:
                if await named.find(pool, subscription.query.owner, subscription.query.name) is None:
                    return
                hashes = [e.event_hash for fact in facts for e in fact.events]
                rows = await matching_rows(pool, subscription.event_query, subscription.principal, hashes)
                start = subscription.initial_record_time
                waiting.extend(
                    r for r in rows if (start is None or r["record_time"] >= start) and subscription.remember(
                        r["event_hash"]
                    )
                )  # fmt: skip
                if len(waiting) > MAX_RUN_EVENTS:
                    raise RunTooLarge(MAX_RUN_EVENTS)
            continue
        if await named.find(pool, subscription.query.owner, subscription.query.name) is None:
            return
        if waiting or subscription.report_if_empty:
            waiting.sort(key=lambda r: (r["record_time"], r["seq"]))
            await _send_json(subscription, subscription.document(waiting))
        waiting = []
        next_at = schedule.next_after(max(datetime.now(UTC), next_at))


async def _recorded_since(pool: asyncpg.Pool, subscription: StreamSubscription, since: datetime) -> list[Any]:
    cursor, found = Cursor(since, 0), list[Any]()
    while True:
        rows = await recorded_since(pool, subscription.event_query, subscription.principal, cursor, BACKFILL_CHUNK)
        found.extend(r for r in rows if subscription.remember(r["event_hash"]))
        if len(rows) < BACKFILL_CHUNK or len(found) > MAX_RUN_EVENTS:
            return found
        cursor = Cursor(rows[-1]["record_time"], rows[-1]["seq"])


async def _send_json(subscription: StreamSubscription, document: dict[str, Any]) -> None:
    text = json.dumps(document, separators=(",", ":"))
    await asyncio.wait_for(subscription.websocket.send_text(text), SEND_TIMEOUT_S)


__all__ = ["MAX_RUN_EVENTS", "RunTooLarge", "send_scheduled"]
