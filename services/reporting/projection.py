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
from services.common.static_documents import documents_by_digest
from services.reporting import folds, state_json, streams
from services.reporting.cache import PassportCache
from services.reporting.domain import readmodel
from services.reporting.domain.readmodel import Dimensions
from services.reporting.folds import Apply

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FactChange:
    """One fact to fold into one passport's state. `traceparent`: the fact's trace, which its messages join;
    `reads_static`: its fold reads the state's `static_data` (others get a state without it, unless they set it);
    `occurred_at`: its event time; `body`: its contract JSON, kept to fold it again (`handlers.fold_of`) when a fact
    that happened before it arrives later."""

    passport_id: str
    tenant: str
    change: str
    apply: Apply
    traceparent: str | None = None
    reads_static: bool = False
    occurred_at: datetime = EPOCH
    body: bytes = b"{}"

    @property
    def rank(self) -> int:
        return readmodel.fact_rank(self.change)


# A fact's place in its passport's history: (rank: the minting first, event time, arrival id).
FactKey = tuple[int, datetime, int]


LOCK_SQL = "SELECT count(pg_advisory_xact_lock(hashtextextended(p, 7))) FROM unnest($1::text[]) AS x(p)"

# With the typed columns: the passport's dimensions before the batch, and those its static data and subject give
# (readmodel.Sources), so that these need not be decoded.
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
    # The last fact folded (None: none yet); `keeps_facts` False: projected before facts were kept (never replayed).
    key: FactKey | None = None
    keeps_facts: bool = True

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
        return _Passport(state, row["version"], static_json, None, before, static_changed=True, keeps_facts=False)
    static = row["static_json"]
    # A row written before migration 006 (predecessor_count NULL) has no manufacturing_date column yet: its sources
    # are read from its static data once.
    sources = readmodel.Sources(
        gtin=row["gtin"], batch=row["batch"], model=row["model"], chemistry=row["chemistry"], plant=row["plant"],
        recycled=None, manufacturing_date=row["manufacturing_date"],
    ) if row["predecessor_count"] is not None else None  # fmt: skip
    passport = _Passport(orjson.loads(row["state_json"]), row["version"], static.encode() if static else None,
                         sources, recycled_known=static is None)  # fmt: skip
    if row["fact_time"] is not None:
        passport.key = (row["fact_rank"], row["fact_time"], row["fact_id"])
    else:
        passport.keeps_facts = False
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


def state_keys(state: dict[str, Any]) -> set[str]:
    return state.keys() | set()


class _Batch:
    """What a batch writes besides the current rows: the facts it keeps, the versions it makes (each with its
    change-stream message) and the versions it supersedes."""

    def __init__(self, uow: UnitOfWork, now: datetime) -> None:
        self.uow = uow
        self.now = now
        self.now_iso = now.isoformat()
        self.now_rfc = streams.rfc3339(now)
        self.facts: list[tuple[str, int, str, int, datetime, str]] = []
        self.versions: list[tuple[str, int, str, str | None, str | None, datetime, int]] = []
        self.superseded: list[tuple[str, int]] = []
        self.touched: dict[str, str] = {}  # passport id -> tenant, in first-touch order

    def keep(self, facts: list[tuple[FactKey, FactChange]]) -> None:
        for (rank, occurred_at, fid), c in facts:
            self.facts.append((c.passport_id, fid, c.change, rank, occurred_at, c.body.decode()))

    def supersede(self, pid: str, fact_ids: list[int]) -> None:
        self.superseded.extend((pid, fid) for fid in fact_ids)

    def version(
        self,
        pid: str,
        passport: _Passport,
        change: str,
        changed: list[str],
        keys_before: set[str],
        key: FactKey | None,
        traceparent: str | None,
        *,
        snapshot: bool = False,
    ) -> None:
        """A new version of the passport: its row (a snapshot, or the fields it set), its change-stream message.
        Its `valid_from` is the event time of the fact that made it. Facts are folded in event-time order, the
        minting first: a fact dated before the minting (a battery made, shipped or used before its passport was
        issued) makes a version valid from its own time, and that version includes the minting's data, so an
        `as_of` before the minting shows the passport as the battery was then."""
        state = passport.state
        occurred_at = key[1] if key is not None else self.now
        if state_json.STATIC in changed:
            passport.static = state_json.dump_static(state)
            passport.static_changed = True
        if not readmodel.STATIC_SOURCES.isdisjoint(changed):
            passport.sources = None
        passport.version += 1
        version = passport.version
        state["version"] = version
        state["updated_at"] = self.now_iso
        state["valid_from"] = occurred_at.isoformat()
        passport.rest = state_json.dump_rest(state)
        whole = state_json.join(passport.rest, passport.static)
        fact_id = key[2] if key is not None else 0
        if snapshot or readmodel.is_snapshot(version):
            self.versions.append((pid, version, change, whole.decode(), None, occurred_at, fact_id))
        else:
            # what the fold set, what `_ensure` added to a state older than a field, and the version stamps
            fields = {*changed, *(state.keys() - keys_before), "version", "updated_at", "valid_from"}
            delta = orjson.dumps({name: state[name] for name in state if name in fields})
            self.versions.append((pid, version, change, None, delta.decode(), occurred_at, fact_id))
        tenant = state["tenant"]
        self.touched.setdefault(pid, tenant)
        payload = streams.passport_changed_json(
            passport_id=pid,
            tenant=tenant,
            version=version,
            change=change,
            changed_fields=readmodel.changed_paths(state, change, changed),
            changed_at=self.now_rfc,
            valid_from=streams.rfc3339(occurred_at),
            data_version=state.get("data_version"),
            state=whole,
        )
        self.uow.outbox.add_row(
            streams.message_row(
                self.uow.settings.topic(topics.tenant_passport_changes(tenant)),
                streams.CHANGED_TYPE,
                payload,
                key=pid,
                time=self.now_rfc,
                traceparent=traceparent,
            )
        )

    async def write(self) -> None:
        conn = self.uow.conn
        if self.facts:
            p, i, c, r, o, b = map(list, zip(*self.facts, strict=True))
            await conn.execute(INSERT_FACTS_SQL, p, i, c, r, o, self.now, b)
        if self.superseded:
            sp, sf = map(list, zip(*self.superseded, strict=True))
            await conn.execute(SUPERSEDE_SQL, sp, sf, self.now)
        if self.versions:
            await conn.execute(INSERT_VERSIONS_SQL, *map(list, zip(*self.versions, strict=True)), self.now)


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
        batch = _Batch(uow, datetime.now(UTC))
        arrival: list[int] = await conn.fetchval(FACT_IDS_SQL, len(changes))
        # Each passport's facts in event-time order (the minting first; arrival order between facts of one instant).
        ordered = sorted(zip(arrival, changes, strict=True), key=lambda x: (x[1].rank, x[1].occurred_at, x[0]))
        per_passport: dict[str, list[tuple[FactKey, FactChange]]] = {}
        for fid, change in ordered:
            per_passport.setdefault(change.passport_id, []).append(((change.rank, change.occurred_at, fid), change))
        late: list[tuple[str, list[tuple[FactKey, FactChange]]]] = []
        for pid, facts in per_passport.items():
            passport = passports.get(pid)
            if passport is None:
                state = readmodel.empty_state(pid, facts[0][1].tenant)
                passport = passports[pid] = _Passport(state, 0, None, None)
            # a fact naming another owner than the one projected: the first owner's view stands
            facts = [(key, c) for key, c in facts if c.tenant == passport.state["tenant"]]
            if not facts:
                continue
            if passport.keeps_facts:
                batch.keep(facts)
                if passport.key is not None and facts[0][0] < passport.key:
                    late.append((pid, facts))  # it happened before what is folded already: fold again from there
                    continue
            for key, change in facts:
                if change.reads_static:
                    passport.load_static()
                keys_before = state_keys(passport.state)
                changed = change.apply(passport.state)
                if passport.keeps_facts:
                    passport.key = key
                if changed:
                    batch.version(pid, passport, change.change, changed, keys_before, key, change.traceparent)
        if late:
            await self._fold_again(batch, late, passports)
        touched = batch.touched
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
        now = batch.now
        await self._write_view(uow, touched, passports, after, now)
        await batch.write()
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
                updated_at=batch.now_rfc,
                state=state_json.join(passport.rest, passport.static),
            )
            uow.outbox.add_row(
                streams.message_row(
                    uow.settings.topic(topics.tenant_passport_state(tenant)),
                    streams.STATE_TYPE,
                    payload,
                    key=pid,
                    time=batch.now_rfc,
                    traceparent=traces.get(pid),
                )
            )
        self.cache.invalidate_after_commit(uow, {pid: passports[pid].version for pid in touched})
        return list(touched)

    async def _fold_again(
        self,
        batch: _Batch,
        late: list[tuple[str, list[tuple[FactKey, FactChange]]]],
        passports: dict[str, _Passport],
    ) -> None:
        """Passports a late fact arrived for: every fact kept of them, and this batch's, folded again from the start
        in event-time order. The versions made by facts from the earliest late one on are superseded, and new
        versions (the first a full snapshot) are written for them; those before it stand as they are."""
        conn = batch.uow.conn
        stored: dict[str, list[tuple[FactKey, str, bytes]]] = {}
        digests: set[str] = set()
        for row in await conn.fetch(STORED_FACTS_SQL, [pid for pid, _ in late]):
            body = row["body"].encode()
            stored.setdefault(row["passport_id"], []).append(
                ((row["rank"], row["occurred_at"], row["id"]), row["change"], body)
            )
            if row["change"] == readmodel.MINTED:
                digests.add(folds.minted_digest(body))
        documents = await documents_by_digest(conn, digests) if digests else {}
        for pid, new in late:
            passport = passports[pid]
            first = new[0][0]
            entries: list[tuple[FactKey, str, Apply, str | None]] = [
                (key, change, folds.fold_of(change, body, documents), None) for key, change, body in stored.get(pid, [])
            ]
            entries += [(key, c.change, c.apply, c.traceparent) for key, c in new]
            entries.sort(key=lambda e: e[0])
            batch.supersede(pid, [key[2] for key, *_ in entries if key >= first])
            state = readmodel.empty_state(pid, passport.state["tenant"])
            passport.state, passport.static = state, None
            passport.static_changed, passport.sources, passport.recycled_known = True, None, True
            snapshot = True
            for key, change_name, apply, traceparent in entries:
                keys_before = state_keys(state)
                changed = apply(state)
                passport.key = key
                if not changed:
                    continue
                if key < first:  # folded before as now: its version stands
                    continue
                passport.static = state_json.dump_static(state)
                batch.version(pid, passport, change_name, changed, keys_before, key, traceparent, snapshot=snapshot)
                snapshot = False
            passport.static = state_json.dump_static(state)
            if snapshot:
                # No version from the late fact on: what those versions showed is no longer history, and the
                # current version must be one that stands (if there were none, this restamps the state as it is).
                batch.version(pid, passport, "replayed", [], state_keys(state), passport.key, None, snapshot=True)

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
            [p.key[0] if p.key is not None else None for p in ps],
            [p.key[1] if p.key is not None else None for p in ps],
            [p.key[2] if p.key is not None else None for p in ps],
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
