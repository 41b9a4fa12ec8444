"""Set-based projection of a batch of facts into the read model, in the consumer's transaction.

Per batch: one `SELECT … FOR UPDATE` of every passport touched, the pure fold of each fact in order, then one
statement per table (current rows, versions; the counters and recovery totals just before the commit) and the
outbox rows: one `PassportChanged` per version on the owner's change stream and one `PassportState` per passport
on its compacted latest-state topic. Redis entries of the passports touched are dropped after the commit.

Each state is encoded once per version (orjson) and that JSON is what the row, the version and both messages
carry; its static data is encoded only when a fact changes it (see `state_json`). Versions are deltas between
snapshots (`readmodel.SNAPSHOT_EVERY`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson

from contracts import topics
from services.common.consumer import UnitOfWork
from services.reporting import state_json, streams
from services.reporting.cache import PassportCache
from services.reporting.domain import readmodel
from services.reporting.domain.readmodel import Dimensions

Apply = Callable[[dict[str, Any]], list[str]]


@dataclass(frozen=True)
class FactChange:
    """One fact to fold into one passport's state. `traceparent`: the fact's trace, which its messages join;
    `reads_static`: its fold reads the state's `static_data` (others get a state without it, unless they set it)."""

    passport_id: str
    tenant: str
    change: str
    apply: Apply
    traceparent: str | None = None
    reads_static: bool = False


LOCK_SQL = "SELECT count(pg_advisory_xact_lock(hashtextextended(p, 7))) FROM unnest($1::text[]) AS x(p)"

# With the typed columns: the passport's dimensions before the batch, and those its static data and subject give
# (readmodel.Sources), so that these need not be decoded.
CURRENT_SQL = """
SELECT passport_id, tenant, version, state, state_json, static_json, battery_identifier, gtin, public_uri, kind,
       model, product_family, chemistry, category, batch, plant, status, stage, placed_on_market_at,
       current_handler_id, minted_at, ceased, extensions, state_of_health_pct, manufacturing_date,
       responsible_operator, predecessor_count, successor_count
FROM passport_view WHERE passport_id = ANY($1::text[]) ORDER BY passport_id FOR UPDATE
"""

# `static_json` NULL: unchanged by this batch (the row keeps its value, and its TOAST pointer). The jsonb `state` of
# a row written before migration 003 is dropped once the row has the JSON columns.
UPSERT_VIEW_SQL = """
INSERT INTO passport_view (
    passport_id, tenant, version, state_json, static_json, updated_at, battery_identifier, gtin, public_uri, kind,
    model, product_family, chemistry, category, batch, plant, status, stage, placed_on_market_at, current_handler_id,
    minted_at, ceased, extensions, state_of_health_pct, manufacturing_date, responsible_operator, predecessor_count,
    successor_count)
SELECT p, t, v, s, sd, u, bi, g, pu, k, m, pf, ch, ca, b, pl, st, sg, pom, h, mi, ce, ex::jsonb, so, md, ro, pc, sc
FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[],
            $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
            $17::text[], $18::text[], $19::timestamptz[], $20::text[], $21::timestamptz[], $22::bool[], $23::text[],
            $24::numeric[], $25::date[], $26::text[], $27::int[], $28::int[])
     AS x(p, t, v, s, sd, u, bi, g, pu, k, m, pf, ch, ca, b, pl, st, sg, pom, h, mi, ce, ex, so, md, ro, pc, sc)
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
    predecessor_count = EXCLUDED.predecessor_count, successor_count = EXCLUDED.successor_count
"""

# A version row holds its full state (every readmodel.SNAPSHOT_EVERY versions) or its delta.
INSERT_VERSIONS_SQL = """
INSERT INTO passport_view_versions (passport_id, version, change, state_json, delta_json, valid_from)
SELECT p, v, c, s, d, f FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
     AS x(p, v, c, s, d, f)
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


@dataclass
class _Passport:
    """One passport during a batch. Its static data is decoded into `state` only when a fact or its dimensions
    need it (`load_static`); otherwise its stored JSON is spliced into what is written and published."""

    state: dict[str, Any]
    version: int
    static: bytes | None  # its static data's JSON (as stored, or as a fact of this batch set it)
    sources: readmodel.Sources | None  # None: read from the state when its dimensions are made
    before: Dimensions | None = None  # its dimensions before this batch (None: new)
    recycled_known: bool = True  # False: `recycled` of `sources` and `before` is a stand-in until static is read
    static_changed: bool = False
    rest: bytes = b""  # the state without static data, as of its last version in this batch

    def load_static(self) -> None:
        """Decode the stored static data into the state (before any fold changes it: `before` gets its figures)."""
        if state_json.STATIC in self.state or self.static is None:
            return
        self.state[state_json.STATIC] = orjson.loads(self.static)
        if not self.recycled_known:
            recycled = readmodel.recycled_of(self.state[state_json.STATIC])
            if self.sources is not None:
                self.sources = dataclasses.replace(self.sources, recycled=recycled)
            if self.before is not None:
                self.before = dataclasses.replace(self.before, recycled=recycled)
            self.recycled_known = True


def _from_row(row: Any) -> _Passport:
    """A passport as its current row has it; its dimensions before: the typed columns as written."""
    if row["state_json"] is None:  # written before migration 003: whole state in jsonb, static data moves out
        state: dict[str, Any] = row["state"]
        static_json = state_json.dump_static(state)
        # what the lifecycle counters hold of it is what its typed columns say (nothing, unless 006 backfilled it)
        before = dataclasses.replace(
            readmodel.dimensions(state), state_of_health_pct=row.get("state_of_health_pct"),
            manufacturing_date=row.get("manufacturing_date"), responsible_operator=row.get("responsible_operator"),
            predecessor_count=row.get("predecessor_count"), successor_count=row.get("successor_count"),
        )  # fmt: skip
        return _Passport(state, row["version"], static_json, None, before, static_changed=True)
    static = row["static_json"]
    # A row written before migration 006 (predecessor_count NULL) has no manufacturing_date column yet: its sources
    # are read from its static data once.
    sources = readmodel.Sources(
        gtin=row["gtin"], batch=row["batch"], model=row["model"], chemistry=row["chemistry"], plant=row["plant"],
        recycled=None, manufacturing_date=row["manufacturing_date"],
    ) if row["predecessor_count"] is not None else None  # fmt: skip
    passport = _Passport(orjson.loads(row["state_json"]), row["version"], static.encode() if static else None,
                         sources, recycled_known=static is None)  # fmt: skip
    passport.before = Dimensions(
        battery_identifier=row["battery_identifier"], gtin=row["gtin"], public_uri=row["public_uri"],
        kind=row["kind"], model=row["model"], product_family=row["product_family"], chemistry=row["chemistry"],
        category=row["category"], batch=row["batch"], plant=row["plant"], status=row["status"], stage=row["stage"],
        placed_on_market_at=row["placed_on_market_at"], current_handler_id=row["current_handler_id"],
        minted_at=row["minted_at"], ceased=row["ceased"], extensions=row["extensions"], recycled=None,
        materials=readmodel.materials_of(passport.state), state_of_health_pct=row["state_of_health_pct"],
        manufacturing_date=row["manufacturing_date"], responsible_operator=row["responsible_operator"],
        predecessor_count=row["predecessor_count"], successor_count=row["successor_count"],
    )  # fmt: skip
    return passport


class Projection:
    """Applies fact changes to the read model; `ensure_tenant_topics` is awaited for tenants new to it."""

    def __init__(self, cache: PassportCache, ensure_tenant_topics: Callable[[set[str]], Awaitable[None]]) -> None:
        self.cache = cache
        self.ensure_tenant_topics = ensure_tenant_topics

    async def apply(self, uow: UnitOfWork, changes: list[FactChange]) -> list[str]:
        if not changes:
            return []
        conn = uow.conn
        ids = sorted({c.passport_id for c in changes})
        # Row locks cannot cover passports not projected yet (facts of two topics may race to create one):
        # transaction-scoped advisory locks per passport, taken in id order, serialise them.
        await conn.execute(LOCK_SQL, ids)
        passports = {row["passport_id"]: _from_row(row) for row in await conn.fetch(CURRENT_SQL, ids)}
        now = datetime.now(UTC)
        now_iso, now_rfc = now.isoformat(), streams.rfc3339(now)
        version_rows: list[tuple[str, int, str, str | None, str | None]] = []
        touched: dict[str, str] = {}  # passport id -> tenant, in first-touch order
        for change in changes:
            passport = passports.get(change.passport_id)
            if passport is None:
                state = readmodel.empty_state(change.passport_id, change.tenant)
                passport = passports[change.passport_id] = _Passport(state, 0, None, None)
            state = passport.state
            if state["tenant"] != change.tenant:
                continue  # a fact naming another owner than the one projected: the first owner's view stands
            if change.reads_static:
                passport.load_static()
            keys_before = state.keys() | set()
            changed = change.apply(state)
            if not changed:
                continue
            if state_json.STATIC in changed:
                passport.static = state_json.dump_static(state)
                passport.static_changed = True
            if not readmodel.STATIC_SOURCES.isdisjoint(changed):
                passport.sources = None
            passport.version += 1
            version = passport.version
            state["version"] = version
            state["updated_at"] = now_iso
            passport.rest = state_json.dump_rest(state)
            whole = state_json.join(passport.rest, passport.static)
            if readmodel.is_snapshot(version):
                version_rows.append((change.passport_id, version, change.change, whole.decode(), None))
            else:
                # what the fold set, what `_ensure` added to a state older than a field, and the version stamp
                fields = {*changed, *(state.keys() - keys_before), "version", "updated_at"}
                delta = orjson.dumps({key: state[key] for key in state if key in fields})
                version_rows.append((change.passport_id, version, change.change, None, delta.decode()))
            touched.setdefault(change.passport_id, change.tenant)
            payload = streams.passport_changed_json(
                passport_id=change.passport_id,
                tenant=change.tenant,
                version=version,
                change=change.change,
                changed_fields=changed,
                changed_at=now_rfc,
                state=whole,
            )
            uow.outbox.add_row(
                streams.message_row(
                    uow.settings.topic(topics.tenant_passport_changes(change.tenant)),
                    streams.CHANGED_TYPE,
                    payload,
                    key=change.passport_id,
                    time=now_rfc,
                    traceparent=change.traceparent,
                )
            )
        if not touched:
            return []
        await self.ensure_tenant_topics(set(touched.values()))
        after: dict[str, Dimensions] = {}
        for pid in touched:
            passport = passports[pid]
            if passport.sources is None:  # new, or its static data / subject changed: read them
                passport.load_static()
                after[pid] = readmodel.dimensions(passport.state)
                continue
            after[pid] = dims = readmodel.dimensions(passport.state, passport.sources)
            if not passport.recycled_known and passport.before and dims.counter_key != passport.before.counter_key:
                # it moves to another counter row, with its recycled-content figures: read them
                passport.load_static()
                after[pid] = readmodel.dimensions(passport.state, passport.sources)
        await self._write_view(uow, touched, passports, after, now)
        await conn.execute(INSERT_VERSIONS_SQL, *map(list, zip(*version_rows, strict=True)), [now] * len(version_rows))
        transitions = [(tenant, passports[pid].before, after[pid]) for pid, tenant in touched.items()]
        # Every batch of every process adds to the same few counter rows: written last, just before the commit.
        uow.before_commit.append(partial(self._write_counters, uow, transitions))
        traces = {c.passport_id: c.traceparent for c in changes}  # the last fact of each passport
        for pid, tenant in touched.items():
            passport = passports[pid]
            payload = streams.passport_state_json(
                passport_id=pid,
                tenant=tenant,
                version=passport.version,
                ceased=bool(passport.state.get("ceased")),
                updated_at=now_rfc,
                state=state_json.join(passport.rest, passport.static),
            )
            uow.outbox.add_row(
                streams.message_row(
                    uow.settings.topic(topics.tenant_passport_state(tenant)),
                    streams.STATE_TYPE,
                    payload,
                    key=pid,
                    time=now_rfc,
                    traceparent=traces.get(pid),
                )
            )
        self.cache.invalidate_after_commit(uow, {pid: passports[pid].version for pid in touched})
        return list(touched)

    async def _write_view(
        self,
        uow: UnitOfWork,
        touched: dict[str, str],
        passports: dict[str, _Passport],
        dims: dict[str, Dimensions],
        now: datetime,
    ) -> None:
        pids = list(touched)
        d = [dims[p] for p in pids]
        ps = [passports[p] for p in pids]
        await uow.conn.execute(
            UPSERT_VIEW_SQL,
            pids,
            [touched[p] for p in pids],
            [p.version for p in ps],
            [p.rest.decode() for p in ps],
            [p.static.decode() if p.static is not None and p.static_changed else None for p in ps],
            [now] * len(pids),
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
        )

    async def _write_counters(self, uow: UnitOfWork, transitions: list[readmodel.Transition]) -> None:
        counts = readmodel.counter_deltas(transitions)
        if counts:
            keys = sorted(counts)
            columns: list[list[Any]] = [[k[i] for k in keys] for i in range(8)]
            columns.append([counts[k].n for k in keys])
            columns.append([counts[k].rc_n for k in keys])
            for i in range(len(readmodel.RECYCLED_FIELDS)):
                columns.append([counts[k].rc_sums[i] for k in keys])
            await uow.conn.execute(UPSERT_COUNTS_SQL, *columns)
        recovered = readmodel.recovery_deltas(transitions)
        if recovered:
            rkeys = sorted(recovered)
            await uow.conn.execute(
                UPSERT_RECOVERY_SQL,
                [k[0] for k in rkeys],
                [k[1] for k in rkeys],
                [k[2] for k in rkeys],
                [recovered[k][0] for k in rkeys],
                [recovered[k][1] for k in rkeys],
                [recovered[k][2] for k in rkeys],
            )
        soh = readmodel.soh_deltas(transitions)
        if soh:
            skeys = sorted(soh)
            columns = [[k[i] for k in skeys] for i in range(5)]
            await uow.conn.execute(UPSERT_SOH_SQL, *columns, [soh[k][0] for k in skeys], [soh[k][1] for k in skeys])
        lifecycle = readmodel.lifecycle_deltas(transitions)
        if lifecycle:
            lkeys = sorted(lifecycle)
            columns = [[k[i] for k in lkeys] for i in range(4)]
            columns += [[lifecycle[k][i] for k in lkeys] for i in range(4)]
            await uow.conn.execute(UPSERT_LIFECYCLE_SQL, *columns)
