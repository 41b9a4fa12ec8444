"""Project a batch of facts into the read model, in the consumer's transaction: `Projection.project`.

In order, in one call: lock and read every passport the batch touches (one statement), fold each passport's facts
in event-time order (a late fact folds its passport again from the facts kept of it), write the current rows, the
kept facts and the versions, put one `PassportChanged` per version (the owner's change stream) and one
`PassportState` per passport (its compacted latest-state topic) in the outbox and write it, then add to the report
counters, last before the commit. Only the Redis invalidation of the passports touched waits for the commit.

Each state is encoded once per version (orjson) and that JSON is what the row, the version and both messages
carry; its static data is encoded only when a fact changes it (see `state_json`). Versions are deltas between
snapshots (`readmodel.SNAPSHOT_EVERY`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from contracts import topics
from services.common.static_documents import documents_by_digest
from services.common.unit_of_work import UnitOfWork
from services.reporting.domain import dimensions, folds, readmodel, state_json
from services.reporting.domain.dimensions import Dimensions
from services.reporting.domain.folds import Apply
from services.reporting.messaging import streams
from services.reporting.store import projection as tables
from services.reporting.store.cache import PassportCache
from services.reporting.store.projection import FactKey

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


@dataclass
class _Passport:
    """One passport during a batch. Its static data is decoded into `state` only when a fact or its dimensions
    need it (`load_static`); otherwise its stored JSON is spliced into what is written and published."""

    state: dict[str, Any]
    version: int
    static: bytes | None  # its static data's JSON (as stored, or as a fact of this batch set it)
    sources: dimensions.Sources | None  # None: read from the state when its dimensions are made
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
            recycled = dimensions.recycled_of(self.state[state_json.STATIC])
            if self.sources is not None:
                self.sources = dataclasses.replace(self.sources, recycled=recycled)
            if self.before is not None:
                self.before = dataclasses.replace(self.before, recycled=recycled)
            self.recycled_known = True


def _from_row(row: Any) -> _Passport:
    """A passport as its current row has it; its dimensions before: the typed columns as written."""
    static = row["static_json"]
    sources = dimensions.Sources(
        gtin=row["gtin"], batch=row["batch"], model=row["model"], chemistry=row["chemistry"], plant=row["plant"],
        recycled=None, manufacturing_date=row["manufacturing_date"],
    )  # fmt: skip
    passport = _Passport(orjson.loads(row["state_json"]), row["version"], static.encode() if static else None,
                         sources, recycled_known=static is None)  # fmt: skip
    if row["fact_time"] is not None:
        passport.key = (row["fact_rank"], row["fact_time"], row["fact_id"])
    else:  # projected before facts were kept (migration 009): folded forward only
        passport.keeps_facts = False
    passport.before = Dimensions(
        battery_identifier=row["battery_identifier"], gtin=row["gtin"], public_uri=row["public_uri"],
        kind=row["kind"], model=row["model"], product_family=row["product_family"], chemistry=row["chemistry"],
        category=row["category"], batch=row["batch"], plant=row["plant"], status=row["status"], stage=row["stage"],
        placed_on_market_at=row["placed_on_market_at"], current_handler_id=row["current_handler_id"],
        minted_at=row["minted_at"], ceased=row["ceased"], extensions=row["extensions"], recycled=None,
        materials=dimensions.materials_of(passport.state), state_of_health_pct=row["state_of_health_pct"],
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
        self.facts: list[tables.FactRow] = []
        self.versions: list[tables.VersionRow] = []
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
        if not dimensions.STATIC_SOURCES.isdisjoint(changed):
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
        await tables.write_history(self.uow.conn, self.facts, self.superseded, self.versions, self.now)


class Projection:
    """Applies fact changes to the read model; `ensure_tenant_topics` is awaited for tenants new to it."""

    def __init__(self, cache: PassportCache, ensure_tenant_topics: Callable[[set[str]], Awaitable[None]]) -> None:
        self.cache = cache
        self.ensure_tenant_topics = ensure_tenant_topics

    async def project(self, uow: UnitOfWork, changes: list[FactChange]) -> list[str]:
        """Fold a batch's facts into the read model and write everything it changes, in order (see the module's
        doc). Returns the passports touched, in first-touch order."""
        if not changes:
            return []
        conn = uow.conn
        rows = await tables.lock_and_read(conn, sorted({c.passport_id for c in changes}))
        passports = {row["passport_id"]: _from_row(row) for row in rows}
        batch = _Batch(uow, datetime.now(UTC))
        late = self._fold(batch, passports, changes, await tables.arrival_ids(conn, len(changes)))
        if late:
            await self._fold_again(batch, late, passports)
        touched = batch.touched
        if not touched:
            return []
        await self.ensure_tenant_topics(set(touched.values()))
        after = {pid: self._dimensions_after(passports[pid]) for pid in touched}
        view = [
            tables.ViewRow(pid, tenant, p.version, p.rest, p.static if p.static_changed else None, after[pid], p.key)
            for pid, tenant in touched.items()
            for p in (passports[pid],)
        ]
        await tables.write_view(conn, view, batch.now)
        await batch.write()
        self._publish_states(batch, passports, {c.passport_id: c.traceparent for c in changes})
        await uow.outbox.flush(conn)
        await tables.write_counters(conn, [(t, passports[pid].before, after[pid]) for pid, t in touched.items()])
        self.cache.invalidate_after_commit(uow, {pid: passports[pid].version for pid in touched})
        return list(touched)

    @staticmethod
    def _fold(
        batch: _Batch, passports: dict[str, _Passport], changes: list[FactChange], arrival: list[int]
    ) -> list[tuple[str, list[tuple[FactKey, FactChange]]]]:
        """Fold each passport's facts in event-time order (the minting first; arrival order between facts of one
        instant). Returns the passports a fact arrived late for (it happened before what is folded already)."""
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
                    late.append((pid, facts))  # fold again from there
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
        return late

    @staticmethod
    def _dimensions_after(passport: _Passport) -> Dimensions:
        if passport.sources is None:  # new, or its static data / subject changed: read them
            passport.load_static()
            return dimensions.dimensions(passport.state)
        dims = dimensions.dimensions(passport.state, passport.sources)
        if not passport.recycled_known and passport.before and dims.counter_key != passport.before.counter_key:
            # it moves to another counter row, with its recycled-content figures: read them
            passport.load_static()
            dims = dimensions.dimensions(passport.state, passport.sources)
        return dims

    @staticmethod
    def _publish_states(batch: _Batch, passports: dict[str, _Passport], traces: dict[str, str | None]) -> None:
        """Each passport's latest state on its owner's compacted topic, in the trace of its last fact."""
        uow = batch.uow
        for pid, tenant in batch.touched.items():
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
        stored = await tables.stored_facts(conn, [pid for pid, _ in late])
        digests = {
            folds.minted_digest(body)
            for facts in stored.values()
            for _, change, body in facts
            if change == readmodel.MINTED
        }
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
