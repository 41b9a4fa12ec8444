"""The projection's encoding, without a database: states split and spliced, version deltas, outbox messages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.sdk.trace import TracerProvider

from contracts.reporting import PassportChanged, PassportState
from contracts.telemetry import InServiceDataUpdated, LatestValue, TelemetryMetric
from services.common import static_documents
from services.common.outbox import Outbox, build_row
from services.common.settings import Settings
from services.common.unit_of_work import UnitOfWork
from services.reporting.domain import dimensions, readmodel, state_json
from services.reporting.messaging import streams
from services.reporting.store import projection
from services.reporting.store.cache import PassportCache
from services.reporting.usecases.project import FactChange, Projection
from tests.unit.reporting.factories import T0, batteries, custody_chain, minted, status_changed

UPSERT_COLUMNS = [
    name.strip() for name in projection.UPSERT_VIEW_SQL.split("(", 1)[1].split(")", 1)[0].replace("\n", " ").split(",")
]


class FakeConnection:
    """The statements the projection runs, over dicts: current rows and version rows."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.versions: dict[tuple[str, int], dict[str, Any]] = {}
        self.counts: dict[tuple[str, ...], tuple[int, int, tuple[Decimal, ...]]] = {}
        self.facts: list[dict[str, Any]] = []
        self.next_fact_id = 0
        self.statements: list[str] = []  # what ran, in order

    async def fetchval(self, sql: str, n: int) -> list[int]:
        assert sql == projection.FACT_IDS_SQL
        ids = list(range(self.next_fact_id + 1, self.next_fact_id + n + 1))
        self.next_fact_id += n
        return ids

    async def execute(self, sql: str, *args: Any) -> str:
        self.statements.append(sql)
        if sql == projection.UPSERT_VIEW_SQL:
            for values in zip(*args, strict=True):
                row = dict(zip(UPSERT_COLUMNS, values, strict=True))
                old = self.rows.get(row["passport_id"], {})
                if row["static_json"] is None:
                    row["static_json"] = old.get("static_json")
                row["extensions"] = orjson.loads(row["extensions"])
                self.rows[row["passport_id"]] = {**row, "state": None}
        elif sql == projection.UPSERT_COUNTS_SQL:
            for key, n, rc_n, *sums in zip(zip(*args[:8], strict=True), *args[8:], strict=True):
                was = self.counts.get(key, (0, 0, (Decimal(0),) * len(sums)))
                self.counts[key] = (was[0] + n, was[1] + rc_n, tuple(a + b for a, b in zip(was[2], sums, strict=True)))
        elif sql == projection.INSERT_VERSIONS_SQL:
            for pid, version, change, whole, delta, valid_from, fact_id in zip(*args[:7], strict=True):
                assert (pid, version) not in self.versions
                self.versions[(pid, version)] = {
                    "change": change, "state_json": whole, "delta_json": delta, "valid_from": valid_from,
                    "fact_id": fact_id, "superseded_at": None,
                }  # fmt: skip
        elif sql == projection.INSERT_FACTS_SQL:
            pids, ids, changes, ranks, times, _now, bodies = args
            for pid, fid, change, rank, at, body in zip(pids, ids, changes, ranks, times, bodies, strict=True):
                self.facts.append({"passport_id": pid, "id": fid, "change": change, "rank": rank,
                                   "occurred_at": at, "body": body})  # fmt: skip
        elif sql == projection.SUPERSEDE_SQL:
            for pid, fid in zip(args[0], args[1], strict=True):
                for (p, _), row in self.versions.items():
                    if p == pid and row["fact_id"] == fid and row["superseded_at"] is None:
                        row["superseded_at"] = args[2]
        return "OK"

    async def fetch(self, sql: str, ids: list[str]) -> list[dict[str, Any]]:
        if sql == projection.STORED_FACTS_SQL:
            return [f for f in self.facts if f["passport_id"] in ids]
        if sql == static_documents.FIND_SQL:
            return []
        assert sql == projection.CURRENT_SQL
        return [self.rows[pid] for pid in sorted(ids) if pid in self.rows]

    def version_state(self, pid: str, version: int) -> dict[str, Any]:
        """As store.version_state: the last snapshot at or before `version`, then the deltas after it."""
        base = max(v for (p, v), row in self.versions.items() if p == pid and v <= version and row["state_json"])
        snapshot = state_json.from_columns(None, self.versions[(pid, base)]["state_json"], None)
        deltas = [orjson.loads(self.versions[(pid, v)]["delta_json"]) for v in range(base + 1, version + 1)]
        return readmodel.rebuild(snapshot, deltas)


async def no_topics(_: set[str]) -> None:
    return None


class KeptOutbox(Outbox):
    """An outbox whose flush keeps what it wrote (`written`, in order) and notes when, among the statements the
    connection ran (`flushed_after`: how many had run)."""

    def __init__(self, conn: FakeConnection) -> None:
        super().__init__(streams.SOURCE)
        self.conn = conn
        self.written: list[Any] = []
        self.flushed_after: list[int] = []

    async def flush(self, conn: Any) -> int:
        self.written += self.rows
        self.flushed_after.append(len(self.conn.statements))
        count = len(self.rows)
        self.rows.clear()
        return count


def unit_of_work(conn: FakeConnection) -> UnitOfWork:
    return UnitOfWork(conn, KeptOutbox(conn), "reporting", Settings(), "bpass.reporting.rejected.v1")  # type: ignore[arg-type]


def written(uow: UnitOfWork) -> list[Any]:
    assert isinstance(uow.outbox, KeptOutbox)
    return uow.outbox.written


async def project(projection: Projection, uow: UnitOfWork, changes: list[FactChange]) -> list[str]:
    """What the consumer does with a batch: one call."""
    return await projection.project(uow, changes)


def in_service(pid: str, tenant: str, day: int) -> FactChange:
    fact = InServiceDataUpdated(
        passport_id=pid,
        tenant=tenant,
        latest={
            TelemetryMetric.state_of_health_pct: LatestValue(
                value=100 - day / 10, measured_at=T0 + timedelta(days=day), source_system="bms"
            )
        },
        readings_stored=1,
    )
    latest = {m.value: {"value": str(v.value), "measured_at": v.measured_at.isoformat(), "source_system": "bms"}
              for m, v in fact.latest.items()}  # fmt: skip
    return FactChange(pid, tenant, "in_service_data", partial(readmodel.apply_in_service_data, latest=latest))


def lifecycle(pid: str, tenant: str) -> list[FactChange]:
    """Minted, custody, status and 30 in-service updates: more versions than two snapshots apart."""
    battery = batteries(1)[0]
    changes = [FactChange(pid, tenant, "minted", partial(readmodel.apply_minted, fact=minted(battery, tenant, pid)))]
    for step in custody_chain(pid, tenant, ["dispatch", "receipt"]):
        changes.append(FactChange(pid, tenant, "custody_recorded", partial(readmodel.apply_custody, fact=step)))
    fact = status_changed(pid, tenant, "in_service", T0 + timedelta(days=3))
    changes.append(
        FactChange(
            pid,
            tenant,
            "status_changed",
            partial(readmodel.apply_status, occurred_at=fact.occurred_at, stage=fact.stage.value),
        )
    )
    changes += [in_service(pid, tenant, day) for day in range(10, 40)]
    return changes


def published(uow: UnitOfWork, event_type: str) -> list[dict[str, Any]]:
    rows = [r for r in written(uow) if dict(r.headers)["ce_type"] == event_type]
    return [orjson.loads(r.payload) for r in rows]


async def test_versions_rebuild_to_what_the_change_stream_published() -> None:
    conn, tenant = FakeConnection(), "acme"
    pid = f"urn:uuid:{uuid.uuid4()}"
    changes = lifecycle(pid, tenant)
    batches = [changes[:1], changes[1:4], changes[4:5], changes[5:20], changes[20:]]  # several per batch, too
    projected = Projection(PassportCache(), no_topics)
    messages: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    for batch in batches:
        uow = unit_of_work(conn)
        assert await project(projected, uow, batch) == [pid]
        messages += published(uow, PassportChanged.event_type)
        states += published(uow, PassportState.event_type)
    assert [m["version"] for m in messages] == list(range(1, len(changes) + 1))
    assert len(states) == len(batches)
    for message in messages:
        PassportChanged.model_validate(message)
        assert conn.version_state(pid, message["version"]) == message["state"]
        assert message["state"]["version"] == message["version"]
    snapshots = [v for (_, v), row in conn.versions.items() if row["state_json"]]
    assert snapshots == [1, 1 + readmodel.SNAPSHOT_EVERY, 1 + 2 * readmodel.SNAPSHOT_EVERY]
    delta = orjson.loads(conn.versions[(pid, 2)]["delta_json"])
    assert set(delta) == {"custody_timeline", "current_handler_id", "version", "updated_at", "valid_from"}
    row = conn.rows[pid]
    assert "static_data" not in orjson.loads(row["state_json"])
    current = state_json.from_columns(None, row["state_json"], row["static_json"])
    assert current == messages[-1]["state"] == states[-1]["state"]
    assert current["static_data"]["battery_model"]


async def test_counters_move_with_recycled_content_read_only_when_needed() -> None:
    conn, tenant = FakeConnection(), "acme"
    pid = f"urn:uuid:{uuid.uuid4()}"
    fact = minted(batteries(1)[0], tenant, pid)
    projected = Projection(PassportCache(), no_topics)
    await project(projected, unit_of_work(conn), [FactChange(pid, tenant, "minted",
                                                          partial(readmodel.apply_minted, fact=fact))])  # fmt: skip
    recycled = dimensions.recycled_of(fact.static_data.model_dump(mode="json", exclude_none=True))
    assert recycled is not None
    assert any(recycled)
    [(key, (n, rc_n, sums))] = conn.counts.items()
    assert (n, rc_n, sums) == (1, 1, recycled)
    assert key[7] == "manufactured"
    await project(projected, unit_of_work(conn), [in_service(pid, tenant, 1)])  # no counter moves
    assert list(conn.counts.values()) == [(1, 1, recycled)]
    step = FactChange(pid, tenant, "status_changed", partial(readmodel.apply_status, occurred_at=T0,
                                                             stage="placed_on_market"))  # fmt: skip
    await project(projected, unit_of_work(conn), [step])
    assert conn.counts[key] == (0, 0, (Decimal(0),) * len(recycled))
    moved = (*key[:7], "placed_on_market")
    assert conn.counts[moved] == (1, 1, recycled)


async def test_an_amendment_moves_the_recycled_content_sums() -> None:
    conn, tenant = FakeConnection(), "acme"
    pid = f"urn:uuid:{uuid.uuid4()}"
    fact = minted(batteries(1)[0], tenant, pid)
    projected = Projection(PassportCache(), no_topics)
    await project(projected, unit_of_work(conn), [FactChange(pid, tenant, "minted",
                                                          partial(readmodel.apply_minted, fact=fact))])  # fmt: skip
    static = fact.static_data.model_dump(mode="json", exclude_none=True)
    old = dimensions.recycled_of(static)
    amended = {**static, "renewable_content_share_pct": "42"}
    change = FactChange(pid, tenant, "amended", partial(readmodel.apply_amended, static_data=amended, extensions=None,
                                                        data_version=2, amended_at=T0), reads_static=True)  # fmt: skip
    uow = unit_of_work(conn)
    await project(projected, uow, [change])
    [(n, rc_n, sums)] = conn.counts.values()
    assert (n, rc_n) == (1, 1)
    assert sums == dimensions.recycled_of(amended)
    assert sums != old
    assert published(uow, PassportChanged.event_type)[0]["state"]["static_data"] == amended
    assert orjson.loads(conn.rows[pid]["static_json"]) == amended


def test_split_state_joins_to_the_whole() -> None:
    state = readmodel.empty_state("urn:uuid:x", "acme")
    assert state_json.join(state_json.dump_rest(state), state_json.dump_static(state)) == orjson.dumps(state)
    readmodel.apply_minted(state, minted(batteries(1)[0], "acme", "urn:uuid:x"))
    whole = state_json.join(state_json.dump_rest(state), state_json.dump_static(state))
    assert orjson.loads(whole) == state
    assert state_json.load(state_json.dump_rest(state), state_json.dump_static(state)) == state
    assert state_json.join(b"{}", b"{}") == b'{"static_data":{}}'


def test_messages_are_the_contract_documents() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    state = {"passport_id": "urn:uuid:x", "version": 3, "nested": {"a": [1, 2.5, None, True]}}
    changed = streams.passport_changed_json(passport_id="urn:uuid:x", tenant="acme", version=3, change="minted",
                                            changed_fields=["nested"], changed_at=streams.rfc3339(now),
                                            state=orjson.dumps(state))  # fmt: skip
    model = PassportChanged(passport_id="urn:uuid:x", tenant="acme", version=3, change="minted",
                            changed_fields=["nested"], changed_at=now, state=state)  # fmt: skip
    assert changed == model.model_dump_json().encode()
    assert PassportChanged.model_validate_json(changed) == model
    latest = streams.passport_state_json(passport_id="urn:uuid:x", tenant="acme", version=3, ceased=False,
                                         updated_at=streams.rfc3339(now), state=orjson.dumps(state))  # fmt: skip
    model_state = PassportState(passport_id="urn:uuid:x", tenant="acme", version=3, ceased=False, updated_at=now,
                                state=state)  # fmt: skip
    assert latest == model_state.model_dump_json().encode()
    assert streams.rfc3339(now.replace(microsecond=0)) == "2026-03-01T12:00:00Z"


@pytest.fixture
def tracer() -> trace.Tracer:
    return TracerProvider().get_tracer("test")


def test_outbox_rows_carry_the_headers_build_row_gives(tracer: trace.Tracer) -> None:
    now = datetime.now(UTC)
    model = PassportState(passport_id="urn:uuid:x", tenant="acme", version=1, ceased=False, updated_at=now, state={})
    with tracer.start_as_current_span("apply") as span:
        expected = build_row("topic-a", model, source=streams.SOURCE, key="urn:uuid:x", subject="urn:uuid:x",
                             event_id="fixed", time=now)  # fmt: skip
        carrier: dict[str, str] = {}
        inject(carrier)
        row = streams.message_row("topic-a", PassportState.event_type, model.model_dump_json().encode(),
                                  key="urn:uuid:x", time=streams.rfc3339(now),
                                  traceparent=streams.traceparent_of(span))  # fmt: skip
    assert streams.traceparent_of(span) == carrier["traceparent"]
    assert (row.topic, row.key, row.payload) == (expected.topic, expected.key, expected.payload)
    theirs, ours = dict(expected.headers), dict(row.headers)
    assert ours.pop("ce_id") != "fixed"
    theirs.pop("ce_id")
    assert ours == theirs
    assert [name for name, _ in row.headers if name != "ce_id"] == [n for n, _ in expected.headers if n != "ce_id"]
    assert streams.traceparent_of(None) is None
    assert streams.traceparent_of(trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)) is None


async def test_counters_are_written_last_after_the_outbox() -> None:
    """Every batch adds to the same counter rows: the projection writes them after the current rows, the versions
    and the outbox, so their row locks are held only through the commit."""
    conn, tenant = FakeConnection(), "acme"
    pid = f"urn:uuid:{uuid.uuid4()}"
    uow = unit_of_work(conn)
    fact = minted(batteries(1)[0], tenant, pid)
    change = FactChange(pid, tenant, "minted", partial(readmodel.apply_minted, fact=fact))
    await Projection(PassportCache(), no_topics).project(uow, [change])
    assert conn.rows[pid]["version"] == 1
    assert sum(n for n, _, _ in conn.counts.values()) == 1
    assert isinstance(uow.outbox, KeptOutbox)
    [flushed] = uow.outbox.flushed_after  # one flush, after these statements had run
    counters = {projection.UPSERT_COUNTS_SQL, projection.UPSERT_RECOVERY_SQL, projection.UPSERT_SOH_SQL,
                projection.UPSERT_LIFECYCLE_SQL}  # fmt: skip
    assert projection.UPSERT_COUNTS_SQL in conn.statements[flushed:]
    assert set(conn.statements[flushed:]) <= counters
    assert {projection.UPSERT_VIEW_SQL, projection.INSERT_VERSIONS_SQL} <= set(conn.statements[:flushed])
    assert counters.isdisjoint(conn.statements[:flushed])
    assert {dict(r.headers)["ce_type"] for r in written(uow)} == {streams.CHANGED_TYPE, streams.STATE_TYPE}
