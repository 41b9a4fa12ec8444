"""The read model's projection tables: the passports a batch locks and reads, and the rows it writes (current rows,
kept facts, versions, counters). Set-based: one statement per table per batch (`unnest` of column arrays)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from services.common.db import DbConnection
from services.reporting.domain import counters, dimensions
from services.reporting.domain.dimensions import Dimensions

LOCK_SQL = "SELECT count(pg_advisory_xact_lock(hashtextextended(p, 7))) FROM unnest($1::text[]) AS x(p)"

# With the typed columns: the passport's dimensions before the batch, and those its static data and subject give
# (dimensions.Sources), so that these need not be decoded.
CURRENT_SQL = """
SELECT passport_id, tenant, version, state, state_json, static_json, battery_identifier, gtin, public_uri, kind,
       model, product_family, chemistry, category, batch, plant, status, stage, placed_on_market_at,
       current_handler_id, minted_at, ceased, extensions, state_of_health_pct, manufacturing_date,
       responsible_operator, predecessor_count, successor_count, fact_rank, fact_time, fact_id
FROM passport_view WHERE passport_id = ANY($1::text[]) ORDER BY passport_id FOR UPDATE
"""

# `static_json` NULL: unchanged by this batch (the row keeps its value, and its TOAST pointer). The jsonb `state` of
# a row written before migration 003 is dropped once the row has the JSON columns.
UPSERT_VIEW_SQL = """
INSERT INTO passport_view (
    passport_id, tenant, version, state_json, static_json, updated_at, battery_identifier, gtin, public_uri, kind,
    model, product_family, chemistry, category, batch, plant, status, stage, placed_on_market_at, current_handler_id,
    minted_at, ceased, extensions, state_of_health_pct, manufacturing_date, responsible_operator, predecessor_count,
    successor_count, fact_rank, fact_time, fact_id)
SELECT p, t, v, s, sd, u, bi, g, pu, k, m, pf, ch, ca, b, pl, st, sg, pom, h, mi, ce, ex::jsonb, so, md, ro, pc, sc,
       fr, ft, fi
FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[],
            $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
            $17::text[], $18::text[], $19::timestamptz[], $20::text[], $21::timestamptz[], $22::bool[], $23::text[],
            $24::numeric[], $25::date[], $26::text[], $27::int[], $28::int[], $29::smallint[], $30::timestamptz[],
            $31::bigint[])
     AS x(p, t, v, s, sd, u, bi, g, pu, k, m, pf, ch, ca, b, pl, st, sg, pom, h, mi, ce, ex, so, md, ro, pc, sc, fr,
          ft, fi)
ON CONFLICT (passport_id) DO UPDATE SET
    version = EXCLUDED.version, state = NULL, state_json = EXCLUDED.state_json,
    static_json = coalesce(EXCLUDED.static_json, passport_view.static_json), updated_at = EXCLUDED.updated_at,
    battery_identifier = EXCLUDED.battery_identifier, gtin = EXCLUDED.gtin, public_uri = EXCLUDED.public_uri,
    kind = EXCLUDED.kind, model = EXCLUDED.model, product_family = EXCLUDED.product_family,
    chemistry = EXCLUDED.chemistry, category = EXCLUDED.category, batch = EXCLUDED.batch, plant = EXCLUDED.plant,
    status = EXCLUDED.status, stage = EXCLUDED.stage, placed_on_market_at = EXCLUDED.placed_on_market_at,
    current_handler_id = EXCLUDED.current_handler_id, minted_at = EXCLUDED.minted_at, ceased = EXCLUDED.ceased,
    extensions = EXCLUDED.extensions, state_of_health_pct = EXCLUDED.state_of_health_pct,
    manufacturing_date = EXCLUDED.manufacturing_date, responsible_operator = EXCLUDED.responsible_operator,
    predecessor_count = EXCLUDED.predecessor_count, successor_count = EXCLUDED.successor_count,
    fact_rank = EXCLUDED.fact_rank, fact_time = EXCLUDED.fact_time, fact_id = EXCLUDED.fact_id
"""

# A version row holds its full state (every readmodel.SNAPSHOT_EVERY versions, and the first of a replay) or its
# delta from the version written before it. `valid_from`: event time; `recorded_at`: when it was written.
INSERT_VERSIONS_SQL = """
INSERT INTO passport_view_versions (passport_id, version, change, state_json, delta_json, valid_from, fact_id,
                                    recorded_at)
SELECT p, v, c, s, d, f, i, $8 FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[],
                                           $6::timestamptz[], $7::bigint[]) AS x(p, v, c, s, d, f, i)
"""

# Arrival ids of a batch's facts, in arrival order.
FACT_IDS_SQL = "SELECT array_agg(nextval('passport_facts_id')) FROM generate_series(1, $1)"

INSERT_FACTS_SQL = """
INSERT INTO passport_facts (passport_id, id, change, rank, occurred_at, recorded_at, body)
SELECT p, i, c, r, o, $6, b FROM unnest($1::text[], $2::bigint[], $3::text[], $4::smallint[], $5::timestamptz[],
                                        $7::text[]) AS x(p, i, c, r, o, b)
"""

# Every fact kept of the passports a late fact arrived for, to fold them again.
STORED_FACTS_SQL = """
SELECT passport_id, id, change, rank, occurred_at, body FROM passport_facts WHERE passport_id = ANY($1::text[])
"""

# The versions the facts folded again had made: superseded (kept for reads by record time).
SUPERSEDE_SQL = """
UPDATE passport_view_versions v SET superseded_at = $3
FROM unnest($1::text[], $2::bigint[]) AS x(p, f)
WHERE v.passport_id = x.p AND v.fact_id = x.f AND v.superseded_at IS NULL
"""


UPSERT_COUNTS_SQL = """
INSERT INTO population_counts AS pc
    (tenant, category, chemistry, model, product_family, plant, status, stage, n, rc_n, rc_sums)
SELECT t, ca, ch, m, pf, pl, st, sg, n, rn, ARRAY[r0, r1, r2, r3, r4, r5, r6, r7, r8]
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::bigint[], $10::bigint[], $11::numeric[], $12::numeric[], $13::numeric[], $14::numeric[],
            $15::numeric[], $16::numeric[], $17::numeric[], $18::numeric[], $19::numeric[])
     AS x(t, ca, ch, m, pf, pl, st, sg, n, rn, r0, r1, r2, r3, r4, r5, r6, r7, r8)
ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
ON CONFLICT (tenant, category, chemistry, model, product_family, plant, status, stage) DO UPDATE SET
    n = pc.n + EXCLUDED.n,
    rc_n = pc.rc_n + EXCLUDED.rc_n,
    rc_sums = ARRAY(SELECT a + b FROM unnest(pc.rc_sums, EXCLUDED.rc_sums) AS z(a, b))
"""

UPSERT_RECOVERY_SQL = """
INSERT INTO recovery_totals AS rt (tenant, chemistry, material, passports, contained_kg, recovered_kg)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::numeric[], $6::numeric[])
ORDER BY 1, 2, 3
ON CONFLICT (tenant, chemistry, material) DO UPDATE SET
    passports = rt.passports + EXCLUDED.passports,
    contained_kg = rt.contained_kg + EXCLUDED.contained_kg,
    recovered_kg = rt.recovered_kg + EXCLUDED.recovered_kg
"""

UPSERT_SOH_SQL = """
INSERT INTO soh_counts AS sc (tenant, model, status, age_month, soh_tenths, n, soh_sum)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::bigint[], $7::numeric[])
ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (tenant, model, status, age_month, soh_tenths) DO UPDATE SET
    n = sc.n + EXCLUDED.n, soh_sum = sc.soh_sum + EXCLUDED.soh_sum
"""

UPSERT_LIFECYCLE_SQL = """
INSERT INTO lifecycle_counts AS lc (tenant, model, status, operator, n, predecessors, with_predecessors, superseded)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[],
                     $8::bigint[])
ORDER BY 1, 2, 3, 4
ON CONFLICT (tenant, model, status, operator) DO UPDATE SET
    n = lc.n + EXCLUDED.n, predecessors = lc.predecessors + EXCLUDED.predecessors,
    with_predecessors = lc.with_predecessors + EXCLUDED.with_predecessors,
    superseded = lc.superseded + EXCLUDED.superseded
"""


# A fact's place in its passport's history: (rank: the minting first, event time, arrival id).
FactKey = tuple[int, datetime, int]
FactRow = tuple[str, int, str, int, datetime, str]  # passport, arrival id, change, rank, event time, contract JSON
VersionRow = tuple[str, int, str, str | None, str | None, datetime, int]  # passport, version, change, state, delta,
# valid from, fact id


async def lock_and_read(conn: DbConnection, ids: list[str]) -> list[Any]:
    """Serialise the batch's passports and read their current rows. Row locks cannot cover passports not projected
    yet (facts of two topics may race to create one): transaction-scoped advisory locks, taken in id order, do."""
    await conn.execute(LOCK_SQL, ids)
    return await conn.fetch(CURRENT_SQL, ids)


async def arrival_ids(conn: DbConnection, count: int) -> list[int]:
    ids: list[int] = await conn.fetchval(FACT_IDS_SQL, count)
    return ids


async def stored_facts(conn: DbConnection, passport_ids: list[str]) -> dict[str, list[tuple[FactKey, str, bytes]]]:
    """Every fact kept of these passports, by passport: (its key, its change, its contract JSON)."""
    stored: dict[str, list[tuple[FactKey, str, bytes]]] = {}
    for row in await conn.fetch(STORED_FACTS_SQL, passport_ids):
        stored.setdefault(row["passport_id"], []).append(
            ((row["rank"], row["occurred_at"], row["id"]), row["change"], row["body"].encode())
        )
    return stored


async def write_history(
    conn: DbConnection,
    facts: list[FactRow],
    superseded: list[tuple[str, int]],
    versions: list[VersionRow],
    now: datetime,
) -> None:
    """The facts a batch keeps, the versions it supersedes (kept, for reads by record time) and those it makes."""
    if facts:
        p, i, c, r, o, b = map(list, zip(*facts, strict=True))
        await conn.execute(INSERT_FACTS_SQL, p, i, c, r, o, now, b)
    if superseded:
        sp, sf = map(list, zip(*superseded, strict=True))
        await conn.execute(SUPERSEDE_SQL, sp, sf, now)
    if versions:
        await conn.execute(INSERT_VERSIONS_SQL, *map(list, zip(*versions, strict=True)), now)


@dataclass(frozen=True)
class ViewRow:
    """One passport's current row: its state (without static data) and static data as JSON (`static` None: as
    stored), its dimensions, and the key of the last fact folded into it."""

    passport_id: str
    tenant: str
    version: int
    rest: bytes
    static: bytes | None
    dims: Dimensions
    key: FactKey | None


async def write_view(conn: DbConnection, rows: list[ViewRow], now: datetime) -> None:
    d = [r.dims for r in rows]
    await conn.execute(
        UPSERT_VIEW_SQL,
        [r.passport_id for r in rows],
        [r.tenant for r in rows],
        [r.version for r in rows],
        [r.rest.decode() for r in rows],
        [r.static.decode() if r.static is not None else None for r in rows],
        [now] * len(rows),
        [x.battery_identifier for x in d],
        [x.gtin for x in d],
        [x.public_uri for x in d],
        [x.kind for x in d],
        [x.model for x in d],
        [x.product_family for x in d],
        [x.chemistry for x in d],
        [x.category for x in d],
        [x.batch for x in d],
        [x.plant for x in d],
        [x.status for x in d],
        [x.stage for x in d],
        [x.placed_on_market_at for x in d],
        [x.current_handler_id for x in d],
        [x.minted_at for x in d],
        [x.ceased for x in d],
        [orjson.dumps(x.extensions).decode() for x in d],
        [x.state_of_health_pct for x in d],
        [x.manufacturing_date for x in d],
        [x.responsible_operator for x in d],
        [x.predecessor_count for x in d],
        [x.successor_count for x in d],
        [r.key[0] if r.key is not None else None for r in rows],
        [r.key[1] if r.key is not None else None for r in rows],
        [r.key[2] if r.key is not None else None for r in rows],
    )


async def write_counters(conn: DbConnection, transitions: list[counters.Transition]) -> None:
    """Add the batch's moves between dimensions to the report counters. Every batch of every process adds to the same
    few rows: the projection writes them last, just before the commit, so their row locks are held shortest."""
    counts = counters.counter_deltas(transitions)
    if counts:
        keys = sorted(counts)
        columns: list[list[Any]] = [[k[i] for k in keys] for i in range(8)]
        columns.append([counts[k].n for k in keys])
        columns.append([counts[k].rc_n for k in keys])
        for i in range(len(dimensions.RECYCLED_FIELDS)):
            columns.append([counts[k].rc_sums[i] for k in keys])
        await conn.execute(UPSERT_COUNTS_SQL, *columns)
    recovered = counters.recovery_deltas(transitions)
    if recovered:
        rkeys = sorted(recovered)
        await conn.execute(
            UPSERT_RECOVERY_SQL,
            [k[0] for k in rkeys],
            [k[1] for k in rkeys],
            [k[2] for k in rkeys],
            [recovered[k][0] for k in rkeys],
            [recovered[k][1] for k in rkeys],
            [recovered[k][2] for k in rkeys],
        )
    soh = counters.soh_deltas(transitions)
    if soh:
        skeys = sorted(soh)
        columns = [[k[i] for k in skeys] for i in range(5)]
        await conn.execute(UPSERT_SOH_SQL, *columns, [soh[k][0] for k in skeys], [soh[k][1] for k in skeys])
    lifecycle = counters.lifecycle_deltas(transitions)
    if lifecycle:
        lkeys = sorted(lifecycle)
        columns = [[k[i] for k in lkeys] for i in range(4)]
        columns += [[lifecycle[k][i] for k in lkeys] for i in range(4)]
        await conn.execute(UPSERT_LIFECYCLE_SQL, *columns)
