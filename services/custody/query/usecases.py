"""EPCIS 2.0 queries: who sees which captured events, one page of a query, page tokens, and indexing a capture.

Visibility (never leaks the existence of another party's events: an invisible event is neither returned nor
counted, and `GET /epcis/events/{eventID}` answers it as unknown):
- platform operators and regulators (authorities) see every event;
- an OEM key, and an auditor its tenant granted, see the events about the tenant's passports;
- a handler key sees the events it captured and those about passports whose custody log names it (as handler,
  sender or receiver): the batteries it held or was sent.

Page tokens are keyset cursors (ordering time, sequence) plus the number of events served so far, bound to the
query's parameters and the reader, and signed with HMAC-SHA256 (key in `epcis_query_token_key`): a token
altered, or replayed with other parameters or by another reader, is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from contracts import topics
from contracts.custody import CapturedEpcisEvent, EpcisEventsCaptured
from services.common.auth import OEM_ROLES, Principal, Role
from services.common.db import DbConnection
from services.custody.domain.epcis.query import EventQuery, QueryParameterError, index_fields, parse_query
from services.custody.messaging.facts import Publication
from services.custody.query import store
from services.custody.query.store import Cursor, IndexRow, Visibility

ALL_EVENTS_ROLES: Final = frozenset({Role.platform_operator, Role.regulator})
TENANT_ROLES: Final = OEM_ROLES | {Role.auditor}
HANDLER_ROLES: Final = frozenset({Role.carrier, Role.collector, Role.recycler, Role.refiner, Role.repairer})
# Capture outcomes of an event the capture kept (recorded in a custody log, flagged, parked, or declaring an
# earlier event erroneous): those the query answers.
KEPT_OUTCOMES: Final = frozenset({"recorded", "flagged", "parked", "error_declared"})
EPCIS_CONTEXT: Final = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
PAGE_CURSOR_REFUSED: Final = "invalid_next_page_token"


def visibility_of(principal: Principal) -> Visibility:
    if principal.role in ALL_EVENTS_ROLES:
        return Visibility(all_events=True)
    if principal.role in TENANT_ROLES and principal.tenant:
        return Visibility(tenant=principal.tenant)
    if principal.role in HANDLER_ROLES and principal.tenant:
        return Visibility(handler=principal.tenant)
    return Visibility()


class QueryTooLarge(Exception):
    """EPCIS `QueryTooLargeException`: more events match than `maxEventCount`."""

    def __init__(self, max_event_count: int) -> None:
        super().__init__(f"More than maxEventCount={max_event_count} events match; narrow the query.")
        self.max_event_count = max_event_count


@dataclass(frozen=True)
class PageState:
    cursor: Cursor
    served: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _binding(query: EventQuery, principal: Principal) -> str:
    """What a token is bound to: the reader and the query's parameters (paging ones aside)."""
    material = json.dumps([principal.name, list(query.fingerprint)], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def seal(key: bytes, data: dict[str, Any]) -> str:
    """`data` as a page token: its JSON and an HMAC-SHA256 of it, both base64url."""
    payload = json.dumps(data, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(hmac.new(key, payload, hashlib.sha256).digest())}"


def unseal(key: bytes, token: str, refusal: QueryParameterError) -> dict[str, Any]:
    """The data a token `seal` made carries; `refusal` when it is not one, or was altered."""
    try:
        payload_text, signature_text = token.split(".")
        payload, signature = _unb64(payload_text), _unb64(signature_text)
    except ValueError as exc:
        raise refusal from exc
    if not hmac.compare_digest(signature, hmac.new(key, payload, hashlib.sha256).digest()):
        raise refusal
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise refusal from exc
    if not isinstance(data, dict):
        raise refusal
    return data


def encode_token(key: bytes, query: EventQuery, principal: Principal, state: PageState) -> str:
    return seal(
        key,
        {
            "t": state.cursor.time.isoformat(),
            "s": state.cursor.seq,
            "n": state.served,
            "b": _binding(query, principal),
        },
    )


def decode_token(key: bytes, query: EventQuery, principal: Principal, token: str) -> PageState:
    """The page state a token carries, or QueryParameterError(nextPageToken) when it is not one of ours, was
    altered, or belongs to another query or reader."""
    refusal = QueryParameterError(
        "nextPageToken",
        PAGE_CURSOR_REFUSED,
        "nextPageToken is not a token this query answered: repeat the query with the same parameters and follow its "
        "Link header.",
    )
    data = unseal(key, token, refusal)
    try:
        state = PageState(Cursor(datetime.fromisoformat(data["t"]), int(data["s"])), int(data["n"]))
        binding = data["b"]
    except (ValueError, KeyError, TypeError) as exc:
        raise refusal from exc
    if binding != _binding(query, principal):
        raise refusal
    return state


@dataclass(frozen=True)
class QueryPage:
    events: list[dict[str, Any]]
    context: list[Any]
    next_page_token: str | None


def query_context(contexts: list[Any]) -> list[Any]:
    """The @context of a query document: the EPCIS context, then every other entry of the events' documents
    (so that the CURIEs the events were captured with still expand), once each."""
    merged: list[Any] = [EPCIS_CONTEXT]
    for context in contexts:
        for entry in context if isinstance(context, list) else [context]:
            if isinstance(entry, str) and "epcis-context" in entry:
                continue
            if entry not in merged:
                merged.append(entry)
    return merged


async def run_query(pool: asyncpg.Pool, query: EventQuery, principal: Principal) -> QueryPage:
    """One page of a query as `principal` sees it."""
    async with store.reading(pool) as conn:
        return await _page(conn, query, principal)


async def _page(db: DbConnection, query: EventQuery, principal: Principal) -> QueryPage:
    visibility = visibility_of(principal)
    key = await store.token_key(db)
    state = decode_token(key, query, principal, query.next_page_token) if query.next_page_token else None
    served = state.served if state else 0
    limit = query.max_event_count
    if state is None and limit is not None and await store.count_up_to(db, query, visibility, limit + 1) > limit:
        raise QueryTooLarge(limit)
    remaining = query.event_count_limit - served if query.event_count_limit is not None else None
    size = query.per_page if remaining is None else min(query.per_page, remaining)
    rows = await store.page(db, query, visibility, state.cursor if state else None, size + 1) if size > 0 else []
    more = len(rows) > size and (remaining is None or size < remaining)
    rows = rows[:size]
    token = None
    if more and rows:
        last = rows[-1]
        token = encode_token(key, query, principal, PageState(Cursor(last["sort_time"], last["seq"]), served + size))
    return QueryPage([r["event"] for r in rows], query_context([r["context"] for r in rows]), token)


async def event_by_id(pool: asyncpg.Pool, event_id: str, principal: Principal) -> asyncpg.Record | None:
    async with store.reading(pool) as conn:
        return await store.event_by_id(conn, event_id, visibility_of(principal))


async def index_captured(
    conn: DbConnection,
    document: dict[str, Any],
    reports: list[dict[str, Any]],
    *,
    capture_id: str,
    capturer: str | None,
    principal: str,
) -> int:
    """Index, for the query interface, the events of a captured document that the capture kept (`reports` are
    the capture job's per-event reports: index, eventHash, outcome, entries). Returns how many were offered."""
    events = document["epcisBody"]["eventList"]
    context = document.get("@context", [])
    rows = [
        IndexRow(
            event_hash=report["eventHash"],
            event_id=events[report["index"]].get("eventID"),
            capture_id=capture_id,
            event_index=report["index"],
            capturer=capturer,
            principal=principal,
            passport_ids=sorted({str(e["passport_id"]) for e in report.get("entries") or []}),
            fields=index_fields(events[report["index"]]),
            context=context,
            event=events[report["index"]],
        )
        for report in reports
        if report.get("outcome") in KEPT_OUTCOMES
    ]
    await store.index_events(conn, rows)
    return len(rows)


async def matching_events(
    db: DbConnection | asyncpg.Pool, pairs: list[tuple[str, str]], principal: Principal, event_hashes: list[str]
) -> QueryPage:
    """The events among `event_hashes` that the query `pairs` (query-string pairs, as a named query stores them)
    matches and `principal` sees, in record-time order, unpaged: what a subscription delivers of one capture.
    Paging and limit parameters of the query do not apply; QueryParameterError when `pairs` is not a query."""
    rows = await matching_rows(db, parse_query(pairs), principal, event_hashes)
    return QueryPage([r["event"] for r in rows], query_context([r["context"] for r in rows]), None)


async def matching_rows(
    db: DbConnection | asyncpg.Pool, query: EventQuery, principal: Principal, event_hashes: list[str]
) -> list[asyncpg.Record]:
    """`matching_events` as index rows (seq, record_time, event_hash, context, event)."""
    if not event_hashes:
        return []
    return await store.with_hashes(db, query, visibility_of(principal), event_hashes)


async def recorded_since(
    db: DbConnection | asyncpg.Pool, query: EventQuery, principal: Principal, after: Cursor, limit: int
) -> list[asyncpg.Record]:
    """Up to `limit` events the query matches and `principal` sees, recorded after `after`, in record-time order
    (a subscription's backfill from its initialRecordTime)."""
    return await store.recorded_since(db, query, visibility_of(principal), after, limit)


def stored_principal(principal: Principal) -> dict[str, str | None]:
    """What a stored subscription keeps of its subscriber, to run its deliveries with the same visibility."""
    return {
        "name": principal.name,
        "role": principal.role.value,
        "tenant": principal.tenant,
        "key_id": principal.key_id,
    }


def principal_of(stored: dict[str, Any]) -> Principal:
    """The principal a stored subscription was made by (`stored_principal`); ValueError when it is not one."""
    role = Role(str(stored["role"]))
    tenant = stored.get("tenant")
    principal = Principal(tenant=str(tenant) if tenant is not None else None, role=role, key_id=str(stored["key_id"]))
    if "name" in stored and stored["name"] != principal.name:
        raise ValueError(f"stored principal {stored['name']!r} does not match its role, tenant and key")
    return principal


async def captured_publication(
    conn: DbConnection, document: dict[str, Any], reports: list[dict[str, Any]], capture_id: str
) -> Publication | None:
    """The fact of the events a capture kept (`EpcisEventsCaptured`, keyed by capture id), for the outbox of the
    capture's own transaction: published once they are in the index, with the record time the index gives them.
    None when the capture kept none."""
    events = document["epcisBody"]["eventList"]
    kept = [
        CapturedEpcisEvent(
            event_hash=report["eventHash"],
            event_id=events[report["index"]].get("eventID"),
            event_type=str(events[report["index"]].get("type")),
        )
        for report in reports
        if report.get("outcome") in KEPT_OUTCOMES
    ]
    if not kept:
        return None
    record_time = await conn.fetchval("SELECT now()")  # the index's record_time default: the transaction's start
    fact = EpcisEventsCaptured(capture_id=capture_id, record_time=record_time, events=kept)
    return Publication(topics.CUSTODY_EPCIS_EVENTS_CAPTURED.name, fact, key=capture_id, subject=capture_id)


__all__ = [
    "QueryPage",
    "QueryTooLarge",
    "captured_publication",
    "decode_token",
    "encode_token",
    "event_by_id",
    "index_captured",
    "matching_events",
    "matching_rows",
    "principal_of",
    "recorded_since",
    "run_query",
    "stored_principal",
    "visibility_of",
]
