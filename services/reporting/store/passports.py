"""asyncpg SQL over the reporting schema: read model lookups, searches, counts and report inputs."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlparse

import asyncpg
import orjson

from services.reporting.domain import query, readmodel, state_json
from services.reporting.domain.lifecycle_reports import LifecycleRow
from services.reporting.domain.query import Filters
from services.reporting.domain.reports import CubeRow

DIGITAL_LINK = re.compile(r"/01/(?P<gtin>\d{8,14})/21/(?P<serial>[^/?#]+)")
PASSPORT_LINK = re.compile(r"/(?:p|passport)/(?P<id>urn:uuid:[0-9a-fA-F-]{36}|[0-9a-fA-F-]{36})")

Db = asyncpg.Pool | asyncpg.Connection


async def current(db: Db, passport_id: str) -> dict[str, Any] | None:
    """The passport's current row: passport_id, tenant, version, state (dict), updated_at."""
    row = await db.fetchrow(
        "SELECT passport_id, tenant, version, state, state_json, static_json, updated_at FROM passport_view"
        " WHERE passport_id = $1",
        passport_id,
    )
    if row is None:
        return None
    return {
        "passport_id": row["passport_id"],
        "tenant": row["tenant"],
        "version": row["version"],
        "state": state_json.from_columns(row["state"], row["state_json"], row["static_json"]),
        "updated_at": row["updated_at"],
    }


async def states(db: Db, passport_ids: list[str]) -> list[dict[str, Any]]:
    """Current states of these passports, in passport id order."""
    rows = await db.fetch(
        "SELECT state, state_json, static_json FROM passport_view WHERE passport_id = ANY($1::text[])"
        " ORDER BY passport_id",
        passport_ids,
    )
    return [state_json.from_columns(r["state"], r["state_json"], r["static_json"]) for r in rows]


async def version_state(
    db: Db,
    passport_id: str,
    *,
    version: int | None = None,
    instant: datetime | None = None,
    known_at: datetime | None = None,
) -> dict[str, Any] | None:
    """One version of a passport: `version` (any revision, superseded ones too), or the one that shows the passport
    as it was at the event time `instant` (default: now), as the platform knew it at the record time `known_at`
    (default: now: superseded versions are not read). Returns tenant, version, valid_from, recorded_at,
    superseded_at and the state (rebuilt from the last full snapshot at or before it and the deltas after it: the
    rows between are the versions written with it, see projection)."""
    rows = await db.fetch(
        """WITH target AS (
               SELECT v.version FROM passport_view_versions v
               WHERE v.passport_id = $1 AND ($2::int IS NULL OR v.version = $2)
                 AND ($3::timestamptz IS NULL OR v.valid_from <= $3)
                 AND CASE WHEN $4::timestamptz IS NOT NULL
                          THEN coalesce(v.recorded_at, v.valid_from) <= $4
                               AND (v.superseded_at IS NULL OR v.superseded_at > $4)
                          ELSE $2::int IS NOT NULL OR v.superseded_at IS NULL END
               ORDER BY v.version DESC LIMIT 1),
           base AS (
               SELECT max(v.version) AS version FROM passport_view_versions v, target
               WHERE v.passport_id = $1 AND v.version <= target.version
                 AND (v.state IS NOT NULL OR v.state_json IS NOT NULL))
           SELECT v.version, v.state, v.state_json, v.delta_json, v.valid_from, v.recorded_at, v.superseded_at,
                  p.tenant
           FROM passport_view_versions v JOIN passport_view p USING (passport_id), target, base
           WHERE v.passport_id = $1 AND v.version BETWEEN base.version AND target.version
           ORDER BY v.version""",
        passport_id,
        version,
        instant,
        known_at,
    )
    if not rows:
        return None
    snapshot = state_json.from_columns(rows[0]["state"], rows[0]["state_json"], None)
    state = readmodel.rebuild(snapshot, [orjson.loads(r["delta_json"]) for r in rows[1:]])
    last = rows[-1]
    return {
        "tenant": last["tenant"],
        "version": last["version"],
        "valid_from": last["valid_from"],
        "recorded_at": last["recorded_at"] or last["valid_from"],
        "superseded_at": last["superseded_at"],
        "state": state,
    }


async def as_of(
    db: Db, passport_id: str, instant: datetime | None, known_at: datetime | None = None
) -> dict[str, Any] | None:
    return await version_state(db, passport_id, instant=instant, known_at=known_at)


async def versions(db: Db, passport_id: str, known_at: datetime | None = None) -> list[asyncpg.Record]:
    """The versions that make the passport's history (as known at `known_at`, default now), in event-time order:
    each with what made it, its event time (`valid_from`) and when it was written (`recorded_at`)."""
    return await db.fetch(
        """SELECT version, change, valid_from, coalesce(recorded_at, valid_from) AS recorded_at
           FROM passport_view_versions
           WHERE passport_id = $1
             AND CASE WHEN $2::timestamptz IS NULL THEN superseded_at IS NULL
                      ELSE coalesce(recorded_at, valid_from) <= $2 AND (superseded_at IS NULL OR superseded_at > $2)
                 END
           ORDER BY valid_from, version""",
        passport_id,
        known_at,
    )


async def lookup(db: Db, tenant: str | None, *, battery_identifier: str | None, uri: str | None) -> list[str]:
    """Passport ids matching a battery identifier or a passport URI (Digital Link or `/p/<id>`), newest first."""
    if uri is not None:
        path = unquote(urlparse(uri).path or uri)
        link = PASSPORT_LINK.search(path)
        if link:
            pid = link.group("id")
            pid = pid if pid.startswith("urn:uuid:") else f"urn:uuid:{pid}"
            row = await db.fetchval(
                "SELECT passport_id FROM passport_view WHERE passport_id = $1 AND ($2::text IS NULL OR tenant = $2)",
                pid.lower(),
                tenant,
            )
            return [row] if row else []
        digital = DIGITAL_LINK.search(path)
        if digital:
            rows = await db.fetch(
                """SELECT passport_id FROM passport_view
                   WHERE battery_identifier = $1 AND ($2::text IS NULL OR tenant = $2)
                     AND (gtin IS NULL OR ltrim(gtin, '0') = ltrim($3, '0'))
                   ORDER BY passport_id DESC LIMIT 20""",
                digital.group("serial"),
                tenant,
                digital.group("gtin"),
            )
            return [r["passport_id"] for r in rows]
        rows = await db.fetch(
            "SELECT passport_id FROM passport_view WHERE public_uri = $1 AND ($2::text IS NULL OR tenant = $2)",
            uri,
            tenant,
        )
        return [r["passport_id"] for r in rows]
    rows = await db.fetch(
        """SELECT passport_id FROM passport_view WHERE battery_identifier = $1 AND ($2::text IS NULL OR tenant = $2)
           ORDER BY passport_id DESC LIMIT 20""",
        battery_identifier,
        tenant,
    )
    return [r["passport_id"] for r in rows]


def summary(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    for key in ("updated_at", "placed_on_market_at", "minted_at"):
        if out.get(key) is not None:
            out[key] = out[key].isoformat()
    return out


async def search(db: Db, filters: Filters, after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    sql, params = query.search_sql(filters, after, limit)
    rows = await db.fetch(sql, *params)
    items = [summary(r) for r in rows[:limit]]
    next_cursor = query.encode_cursor(items[-1]["passport_id"]) if len(rows) > limit else None
    return items, next_cursor


async def counts(db: Db, filters: Filters, group_by: list[str]) -> tuple[list[dict[str, Any]], bool]:
    sql, params, from_cube = query.count_sql(filters, group_by)
    rows = await db.fetch(sql, *params)
    return [dict(r) for r in rows], from_cube


async def cube(db: Db, filters: Filters) -> list[CubeRow]:
    """The tenant's population_counts rows (filters on cube dimensions only)."""
    clauses = ["tenant = $1", "n <> 0"]
    params: list[Any] = [filters.tenant]
    for name, value in sorted(filters.equals.items()):
        if name in query.CUBE_DIMENSIONS:
            params.append(value)
            clauses.append(f"{name} = ${len(params)}")
    rows = await db.fetch(
        "SELECT category, chemistry, model, product_family, plant, status, stage, n, rc_n, rc_sums "
        f"FROM population_counts WHERE {' AND '.join(clauses)}",
        *params,
    )
    return [
        CubeRow(
            category=r["category"],
            chemistry=r["chemistry"],
            model=r["model"],
            product_family=r["product_family"],
            plant=r["plant"],
            status=r["status"],
            stage=r["stage"],
            n=r["n"],
            rc_n=r["rc_n"],
            rc_sums=tuple(Decimal(v) for v in r["rc_sums"]),
        )
        for r in rows
    ]


async def placed_by_month(db: Db, filters: Filters) -> list[tuple[str, int]]:
    clause, params = query.where(filters)
    rows = await db.fetch(
        "SELECT to_char(date_trunc('month', placed_on_market_at AT TIME ZONE 'UTC'), 'YYYY-MM') AS month, "
        f"count(*) AS n FROM passport_view WHERE {clause} AND placed_on_market_at IS NOT NULL "
        "GROUP BY 1 ORDER BY 1",
        *params,
    )
    return [(r["month"], r["n"]) for r in rows]


async def end_of_life_handlers(db: Db, filters: Filters) -> tuple[list[tuple[str, int]], int]:
    clause, params = query.where(filters)
    rows = await db.fetch(
        f"SELECT coalesce(current_handler_id, '(none)') AS handler, count(*) AS n FROM passport_view "
        f"WHERE {clause} AND stage IN ('collected', 'in_treatment', 'recycled') GROUP BY 1 ORDER BY 2 DESC LIMIT 50",
        *params,
    )
    ceased = await db.fetchval(f"SELECT count(*) FROM passport_view WHERE {clause} AND ceased", *params)
    return [(r["handler"], r["n"]) for r in rows], int(ceased or 0)


async def recovery_totals(db: Db, filters: Filters) -> list[tuple[str, str, int, Decimal, Decimal]]:
    params: list[Any] = [filters.tenant]
    clause = "tenant = $1 AND passports <> 0"
    if "chemistry" in filters.equals:
        params.append(filters.equals["chemistry"])
        clause += " AND chemistry = $2"
    rows = await db.fetch(
        f"SELECT chemistry, material, passports, contained_kg, recovered_kg FROM recovery_totals WHERE {clause}",
        *params,
    )
    return [(r["chemistry"], r["material"], r["passports"], r["contained_kg"], r["recovered_kg"]) for r in rows]


async def tenants(db: Db) -> list[str]:
    rows = await db.fetch("SELECT DISTINCT tenant FROM population_counts")
    return [r["tenant"] for r in rows]


async def batches(db: Db, tenant: str, limit: int = 200) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT batch, model, chemistry, count(*) AS passports,
                  count(*) FILTER (WHERE stage IN ('collected', 'in_treatment', 'recycled')) AS end_of_life,
                  min(minted_at) AS first_minted
           FROM passport_view WHERE tenant = $1 AND batch IS NOT NULL
           GROUP BY batch, model, chemistry ORDER BY batch DESC LIMIT $2""",
        tenant,
        limit,
    )


def _lifecycle_filters(filters: Filters, first_param: int = 2) -> tuple[str, list[Any]]:
    """Equality filters of the lifecycle reports (model, status: the keys their counters have)."""
    clauses, params = [], []
    for name in ("model", "status"):
        if name in filters.equals:
            params.append(filters.equals[name])
            clauses.append(f" AND {name} = ${first_param + len(params) - 1}")
    return "".join(clauses), params


async def soh_histogram(db: Db, filters: Filters, current_month: int) -> list[tuple[str, int, int, int, Decimal]]:
    """soh_counts of the tenant grouped by (model, age in whole years at `current_month`, -1 unknown, soh tenths):
    (model, age, soh tenths, passports, soh sum)."""
    extra, params = _lifecycle_filters(filters, first_param=3)
    rows = await db.fetch(
        "SELECT model, CASE WHEN age_month < 0 THEN -1 ELSE greatest(0, ($2::int - age_month) / 12) END AS age, "
        "soh_tenths, sum(n)::bigint AS n, sum(soh_sum) AS soh_sum FROM soh_counts "
        f"WHERE tenant = $1 AND n <> 0{extra} GROUP BY 1, 2, 3 HAVING sum(n) > 0",
        filters.tenant,
        current_month,
        *params,
    )
    return [(r["model"], r["age"], r["soh_tenths"], r["n"], r["soh_sum"]) for r in rows]


async def lifecycle_rows(db: Db, filters: Filters) -> list[LifecycleRow]:
    """The tenant's lifecycle_counts rows."""
    extra, params = _lifecycle_filters(filters)
    rows = await db.fetch(
        "SELECT model, status, operator, n, predecessors, with_predecessors, superseded FROM lifecycle_counts "
        f"WHERE tenant = $1 AND (n <> 0 OR superseded <> 0){extra}",
        filters.tenant,
        *params,
    )
    return [
        LifecycleRow(
            model=r["model"],
            status=r["status"],
            operator=r["operator"],
            n=r["n"],
            predecessors=r["predecessors"],
            with_predecessors=r["with_predecessors"],
            superseded=r["superseded"],
        )
        for r in rows
    ]
