"""SQL of the EPCIS query interface: the event index (`epcis_event_index`) and the page-token key.

Every condition of an `EventQuery` is one SQL predicate on an indexed column (GIN on the identifier arrays,
B-tree on times, bizStep, eventID and capturer); the page is read by keyset on (time, seq), never by offset.
Visibility is a predicate of the same query, so invisible events are neither returned nor counted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeAlias

import asyncpg

from services.common.db import DbConnection
from services.custody.domain.epcis.event_hash import context_prefixes
from services.custody.domain.epcis.query import EventQuery, IndexedEvent, lookup_forms, typed_term
from services.custody.domain.epcis.query_filters import extension_fields
from services.custody.domain.epcis.vocabulary import Vocabulary
from services.custody.query.filter_sql import extension_predicate, sensor_predicate

Db: TypeAlias = "DbConnection | asyncpg.Pool"


@asynccontextmanager
async def reading(pool: asyncpg.Pool) -> AsyncIterator[DbConnection]:
    """A read-only transaction planning each statement for its own values: a query's selectivity hangs on them
    (one EPC or a whole year), and a cached generic plan would pick the time index for a handful of events."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        yield conn


@dataclass(frozen=True)
class Visibility:
    """Whose events a reader sees: everyone's (`all_events`), else those `capturer` captured, those about the
    passports of `tenant`, and those about the passports whose custody log names `handler`."""

    all_events: bool = False
    tenant: str | None = None
    handler: str | None = None


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after the event whose ordering time is `time` and sequence `seq`."""

    time: datetime
    seq: int


class _Sql:
    def __init__(self) -> None:
        self.params: list[Any] = []
        self.where: list[str] = []

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"


def _visibility(sql: _Sql, visibility: Visibility) -> None:
    """Checked on each row the other conditions find, through the primary keys of `known_passports` and
    `custody_log`: building the reader's whole passport set as one array per query cost 0.5 s for a handler that
    held 10,000 batteries and timed out for an OEM with 20,000 (1,000,000 events, bench/epcis_query.py)."""
    if visibility.all_events:
        return
    ors: list[str] = []
    if visibility.tenant is not None:
        ors.append(
            "EXISTS (SELECT FROM known_passports k WHERE k.passport_id = ANY(e.passport_ids) "
            f"AND k.tenant = {sql.param(visibility.tenant)})"
        )
    if visibility.handler is not None:
        handler = sql.param(visibility.handler)
        ors.append(f"e.capturer = {handler}")
        ors.append(
            "EXISTS (SELECT FROM custody_log c WHERE c.passport_id = ANY(e.passport_ids) "
            f"AND {handler} IN (c.handler_id, c.from_handler_id, c.to_handler_id))"
        )
    sql.where.append(f"({' OR '.join(ors)})" if ors else "false")


def _any_of(sql: _Sql, column: str, values: tuple[str, ...]) -> None:
    if values:
        sql.where.append(f"e.{column} = ANY({sql.param(list(values))}::text[])")


def _overlaps(sql: _Sql, columns: tuple[str, ...], values: tuple[str, ...]) -> None:
    if values:
        forms = sql.param(lookup_forms(values))
        sql.where.append("(" + " OR ".join(f"e.{c} && {forms}::text[]" for c in columns) + ")")


def _typed(sql: _Sql, column: str, vocabulary: Vocabulary, pairs: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
    for kind, values in pairs:
        forms = [f"{typed_term(vocabulary, kind)} {form}" for form in lookup_forms(values)]
        sql.where.append(f"e.{column} && {sql.param(forms)}::text[]")


def _conditions(sql: _Sql, query: EventQuery) -> None:
    _any_of(sql, "event_type", query.event_types)
    for bound, column, op in (
        (query.ge_event_time, "event_time", ">="),
        (query.lt_event_time, "event_time", "<"),
        (query.ge_record_time, "record_time", ">="),
        (query.lt_record_time, "record_time", "<"),
    ):
        if bound is not None:
            sql.where.append(f"e.{column} {op} {sql.param(bound)}")
    _any_of(sql, "action", query.actions)
    _any_of(sql, "biz_step", query.biz_steps)
    _any_of(sql, "disposition", query.dispositions)
    _any_of(sql, "read_point", query.read_points)
    _any_of(sql, "biz_location", query.biz_locations)
    _overlaps(sql, ("epcs",), query.match_epc)
    _overlaps(sql, ("epcs", "parent_ids", "input_epcs", "output_epcs"), query.match_any_epc)
    _overlaps(sql, ("parent_ids",), query.match_parent_id)
    _overlaps(sql, ("input_epcs",), query.match_input_epc)
    _overlaps(sql, ("output_epcs",), query.match_output_epc)
    _typed(sql, "biz_transactions", Vocabulary.BIZ_TRANSACTION_TYPE, query.biz_transactions)
    _typed(sql, "sources", Vocabulary.SOURCE_DESTINATION_TYPE, query.sources)
    _typed(sql, "destinations", Vocabulary.SOURCE_DESTINATION_TYPE, query.destinations)
    for name in query.exists:
        sql.where.append(f"e.event ? {sql.param(name)}")
    sql.where += [extension_predicate(sql.param, condition) for condition in query.extensions]
    if query.sensor:
        sql.where.append(sensor_predicate(sql.param, query.sensor))


def _order_column(query: EventQuery) -> str:
    return "record_time" if query.order_by == "recordTime" else "event_time"


async def page(
    db: Db, query: EventQuery, visibility: Visibility, cursor: Cursor | None, limit: int
) -> list[asyncpg.Record]:
    """Up to `limit` visible matching events after `cursor`, in the query's order: seq, ordering time,
    context and event."""
    sql = _Sql()
    _visibility(sql, visibility)
    _conditions(sql, query)
    column = _order_column(query)
    direction = "DESC" if query.descending else "ASC"
    if cursor is not None:
        op = "<" if query.descending else ">"
        sql.where.append(f"(e.{column}, e.seq) {op} ({sql.param(cursor.time)}, {sql.param(cursor.seq)})")
    where = " AND ".join(sql.where) or "true"
    select = f"SELECT e.seq, e.{column} AS sort_time, e.context, e.event FROM epcis_event_index e WHERE {where}"
    order = f"ORDER BY sort_time {direction}, seq {direction} LIMIT {sql.param(limit)}"
    if _selective(query):
        # Identifiers match few events: take them by their GIN index, then order those. Left to itself the planner
        # walks the time index and filters, reading most of a wide window for a handful of events.
        return list(await db.fetch(f"WITH m AS MATERIALIZED ({select}) SELECT * FROM m {order}", *sql.params))
    return list(await db.fetch(f"{select} {order}", *sql.params))


def _selective(query: EventQuery) -> bool:
    return bool(
        query.match_epc
        or query.match_any_epc
        or query.match_parent_id
        or query.match_input_epc
        or query.match_output_epc
        or query.biz_transactions
        or query.sources
        or query.destinations
    )


async def count_up_to(db: Db, query: EventQuery, visibility: Visibility, bound: int) -> int:
    """How many visible events match, counting no further than `bound`."""
    sql = _Sql()
    _visibility(sql, visibility)
    _conditions(sql, query)
    where = " AND ".join(sql.where) or "true"
    count = await db.fetchval(
        f"SELECT count(*) FROM (SELECT FROM epcis_event_index e WHERE {where} LIMIT {sql.param(bound)}) AS m",
        *sql.params,
    )
    return int(count)


async def event_by_id(db: Db, event_id: str, visibility: Visibility) -> asyncpg.Record | None:
    """The visible event with this eventID (the first captured when several share it), or None."""
    sql = _Sql()
    sql.where.append(f"e.event_id = {sql.param(event_id)}")
    _visibility(sql, visibility)
    return await db.fetchrow(
        f"""SELECT e.context, e.event FROM epcis_event_index e WHERE {" AND ".join(sql.where)}
            ORDER BY e.seq LIMIT 1""",
        *sql.params,
    )


async def token_key(db: Db) -> bytes:
    key = await db.fetchval("SELECT key FROM epcis_query_token_key ORDER BY key_id LIMIT 1")
    return bytes.fromhex(str(key))


@dataclass(frozen=True)
class IndexRow:
    """One captured event to index."""

    event_hash: str
    event_id: str | None
    capture_id: str
    event_index: int
    capturer: str | None
    principal: str
    passport_ids: list[str]
    fields: IndexedEvent
    context: Any
    event: dict[str, Any]


async def index_events(conn: DbConnection, rows: list[IndexRow]) -> None:
    """Index first captures; an error declaration of an indexed event replaces the event as stored (the query
    then answers it with its `errorDeclaration`) and adds the passports it recorded."""
    if not rows:
        return
    await conn.executemany(
        """INSERT INTO epcis_event_index (event_hash, event_id, capture_id, event_index, capturer, principal,
               passport_ids, event_type, event_time, action, biz_step, disposition, read_point, biz_location, epcs,
               parent_ids, input_epcs, output_epcs, biz_transactions, sources, destinations, context, event,
               extensions)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
                   $22, $23, $24)
           ON CONFLICT (event_hash) DO UPDATE SET event = EXCLUDED.event, extensions = EXCLUDED.extensions,
               passport_ids = ARRAY(SELECT DISTINCT unnest(epcis_event_index.passport_ids || EXCLUDED.passport_ids))
           WHERE EXCLUDED.event ? 'errorDeclaration' AND NOT epcis_event_index.event ? 'errorDeclaration'""",
        [
            (
                r.event_hash,
                r.event_id,
                r.capture_id,
                r.event_index,
                r.capturer,
                r.principal,
                r.passport_ids,
                r.fields.event_type,
                r.fields.event_time,
                r.fields.action,
                r.fields.biz_step,
                r.fields.disposition,
                r.fields.read_point,
                r.fields.biz_location,
                r.fields.epcs,
                r.fields.parent_ids,
                r.fields.input_epcs,
                r.fields.output_epcs,
                r.fields.biz_transactions,
                r.fields.sources,
                r.fields.destinations,
                r.context,
                r.event,
                extension_fields(r.event, context_prefixes(r.context)),
            )
            for r in rows
        ],
    )
    await conn.execute(
        f"""INSERT INTO epcis_value_reach (kind, value, reach)
            SELECT DISTINCT v.kind, v.value, r.reach FROM epcis_event_index e {_VALUES_AND_REACHES}
            WHERE e.event_hash = ANY($1::text[]) AND v.value IS NOT NULL
            ON CONFLICT DO NOTHING""",
        [r.event_hash for r in rows],
    )


# Each listed value of an event and each reach of the event (who may see it: `c:<capturer>`, `p:<passport>`);
# the same as migration 100 backfilled.
_VALUES_AND_REACHES: Final = """
    CROSS JOIN LATERAL (
        SELECT 'biz_step', e.biz_step UNION ALL SELECT 'disposition', e.disposition
        UNION ALL SELECT 'read_point', e.read_point UNION ALL SELECT 'biz_location', e.biz_location
        UNION ALL SELECT 'epc', unnest(e.epcs || e.parent_ids || e.input_epcs || e.output_epcs)
    ) AS v (kind, value)
    CROSS JOIN LATERAL (
        SELECT 'c:' || coalesce(e.capturer, '') UNION ALL SELECT 'p:' || unnest(e.passport_ids)
    ) AS r (reach)"""
VALUE_KINDS: Final = frozenset({"epc", "biz_step", "disposition", "read_point", "biz_location"})


def _reaches(sql: _Sql, visibility: Visibility) -> str:
    """The reaches a reader's visibility grants, as one array expression (the visibility predicate's terms)."""
    parts: list[str] = []
    if visibility.tenant is not None:
        tenant = sql.param(visibility.tenant)
        parts.append(f"ARRAY(SELECT 'p:' || k.passport_id FROM known_passports k WHERE k.tenant = {tenant})")
    if visibility.handler is not None:
        handler = sql.param(visibility.handler)
        parts.append(f"ARRAY['c:' || {handler}]")
        parts.append(
            f"ARRAY(SELECT 'p:' || c.passport_id FROM custody_log c WHERE c.handler_id = {handler} UNION SELECT "
            f"'p:' || c.passport_id FROM custody_log c WHERE c.from_handler_id = {handler} UNION SELECT "
            f"'p:' || c.passport_id FROM custody_log c WHERE c.to_handler_id = {handler})"
        )
    return " || ".join(parts) if parts else "ARRAY[]::text[]"


async def distinct_values(db: Db, kind: str, visibility: Visibility, after: str, limit: int) -> list[str]:
    """Up to `limit` distinct values of `kind` (an index column, or "epc": every identifier an event names) greater
    than `after`, in byte order, of the events `visibility` lets the reader see.

    A reader who sees every event walks (kind, value) by skip scan, one probe per value; any other reader reads the
    values of its reaches from the primary key (kind, reach, value) alone, whatever the table's size."""
    if kind not in VALUE_KINDS:
        raise ValueError(f"no value list of {kind!r}")
    sql = _Sql()
    kind_, start, size = sql.param(kind), sql.param(after), sql.param(limit)
    if visibility.all_events:
        probe = f"SELECT t.value FROM epcis_value_reach t WHERE t.kind = {kind_} AND t.value > {{}} ORDER BY 1 LIMIT 1"
        rows = await db.fetch(
            f"""WITH RECURSIVE v(value) AS (
                    ({probe.format(start)})
                    UNION ALL
                    SELECT ({probe.format("v.value")}) FROM v WHERE v.value IS NOT NULL)
                SELECT value FROM v WHERE value IS NOT NULL LIMIT {size}""",
            *sql.params,
        )
    else:
        rows = await db.fetch(
            f"""SELECT DISTINCT r.value FROM epcis_value_reach r
                WHERE r.kind = {kind_} AND r.reach = ANY({_reaches(sql, visibility)}) AND r.value > {start}
                ORDER BY 1 LIMIT {size}""",
            *sql.params,
        )
    return [r["value"] for r in rows]


async def with_hashes(
    db: Db, query: EventQuery, visibility: Visibility, event_hashes: list[str]
) -> list[asyncpg.Record]:
    """The visible events among `event_hashes` that match the query's conditions, in record-time order (what a
    subscription delivers of one capture): seq, record time, event hash, context and event."""
    sql = _Sql()
    sql.where.append(f"e.event_hash = ANY({sql.param(event_hashes)}::text[])")
    _visibility(sql, visibility)
    _conditions(sql, query)
    return list(
        await db.fetch(
            f"""SELECT e.seq, e.record_time, e.event_hash, e.context, e.event FROM epcis_event_index e
                WHERE {" AND ".join(sql.where)} ORDER BY e.record_time, e.seq""",
            *sql.params,
        )
    )


async def recorded_since(
    db: Db, query: EventQuery, visibility: Visibility, after: Cursor, limit: int
) -> list[asyncpg.Record]:
    """Up to `limit` visible matching events recorded after `after` (record time, seq), in record-time order: a
    subscription's backfill, read by keyset."""
    sql = _Sql()
    _visibility(sql, visibility)
    _conditions(sql, query)
    sql.where.append(f"(e.record_time, e.seq) > ({sql.param(after.time)}, {sql.param(after.seq)})")
    return list(
        await db.fetch(
            f"""SELECT e.seq, e.record_time, e.event_hash, e.context, e.event FROM epcis_event_index e
                WHERE {" AND ".join(sql.where)} ORDER BY e.record_time, e.seq LIMIT {sql.param(limit)}""",
            *sql.params,
        )
    )
