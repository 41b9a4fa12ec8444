"""The read model agrees with the ground truth of generated lifecycles, in any arrival order, at any `as_of`.

Each example generates one battery's lifecycle with known event times (minted, placed on the market, put into
service, readings, collected, in treatment, recycled, custody steps along the way; cut off at a random stage), then
delivers its facts to the real projection on the real PostgreSQL in a random order, in random batches, with
duplicates. The ground truth is the pure fold of the same facts in event-time order. Compared: the current state
(stage, status, history, holder, in-service values, placed-on-market time), `as_of` at random instants, `known_at`
after each batch (what the platform had been told by then), the change stream and the population counters.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.base import Message
from contracts.custody import CustodyEventKind, CustodyRecorded
from contracts.reporting import PassportChanged
from contracts.telemetry import InServiceDataUpdated, LatestValue, TelemetryMetric
from services.common.db import DbConnection, init_connection, migrate
from services.common.outbox import Outbox, OutboxRow
from services.common.settings import Settings
from services.common.static_documents import static_documents_of
from services.common.unit_of_work import UnitOfWork
from services.reporting.domain import dimensions, readmodel
from services.reporting.domain.folds import FOLDS, minted
from services.reporting.messaging import streams
from services.reporting.store import passports as store
from services.reporting.store.cache import PassportCache
from services.reporting.usecases.project import FactChange, Projection
from tests.unit.reporting.factories import batteries, ceased, status_changed
from tests.unit.reporting.factories import minted as minted_fact

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "reporting" / "migrations"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
STAGES = ("placed_on_market", "in_service", "collected", "in_treatment", "recycled")
CHANGE_OF = {
    "PassportMinted": "minted",
    "PassportStatusChanged": "status_changed",
    "CustodyRecorded": "custody_recorded",
    "InServiceDataUpdated": "in_service_data",
    "PassportCeased": "ceased",
}


@pytest.fixture(scope="module")
async def conn(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    await migrate(settings.database_url, "reporting", MIGRATIONS)
    connection = await asyncpg.connect(
        settings.database_url, server_settings={"search_path": "reporting,public"}, timeout=10
    )
    await init_connection(connection)
    try:
        yield connection
    finally:
        await connection.close()


class KeptOutbox(Outbox):
    """The outbox the projection writes, kept here (the change stream this test reads) instead of in the table: no
    relay publishes what this test projects."""

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.written: list[OutboxRow] = []

    async def flush(self, conn: DbConnection) -> int:
        self.written += self.rows
        count = len(self.rows)
        self.rows.clear()
        return count


@dataclass(frozen=True)
class Lifecycle:
    pid: str
    tenant: str
    facts: list[Message]  # in event-time order, the minting first


def _custody(pid: str, tenant: str, seq: int, kind: str, at: datetime, handler: str) -> CustodyRecorded:
    return CustodyRecorded(
        passport_id=pid,
        tenant=tenant,
        sequence=seq,
        kind=CustodyEventKind(kind),
        occurred_at=at,
        handler_id=handler,
        to_handler_id=handler,
        source_event_id=str(uuid.uuid4()),
        entry_hash=f"{seq:064x}",
        previous_hash=f"{seq - 1:064x}",
    )


def _reading(pid: str, tenant: str, at: datetime, soh: int) -> InServiceDataUpdated:
    return InServiceDataUpdated(
        passport_id=pid,
        tenant=tenant,
        latest={
            TelemetryMetric.state_of_health_pct: LatestValue(value=Decimal(soh), measured_at=at, source_system="b")
        },
        readings_stored=1,
    )


@st.composite
def lifecycles(draw: st.DrawFn) -> Lifecycle:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    # often minted when the battery was made; sometimes later, for a battery already shipped or in use
    minted_late = draw(st.sampled_from([0, 0, 15, 90, 400]))
    mint = minted_fact(batteries(1)[0], tenant, at=T0 + timedelta(days=minted_late))
    pid = mint.passport_id
    last = draw(st.integers(min_value=0, max_value=len(STAGES)))  # how far this battery got
    gaps = draw(st.lists(st.integers(min_value=1, max_value=120), min_size=len(STAGES), max_size=len(STAGES)))
    times, at = [], T0
    for days in gaps:
        at += timedelta(days=days, minutes=draw(st.integers(min_value=0, max_value=59)))
        times.append(at)
    facts: list[Message] = [mint]
    seq = 0
    for n, stage in enumerate(STAGES[:last]):
        when = times[n]
        if stage == "placed_on_market":
            seq += 1
            facts.append(_custody(pid, tenant, seq, "dispatch", when - timedelta(hours=1), "carrier-a"))
        if stage in ("collected", "in_treatment"):
            seq += 1
            kind = "collection" if stage == "collected" else "treatment_start"
            facts.append(_custody(pid, tenant, seq, kind, when, f"handler-{stage}"))
        if stage == "recycled":
            facts.append(ceased(pid, tenant, mint.subject.battery_identifier, when))
        else:
            facts.append(status_changed(pid, tenant, stage, when, sequence=max(seq, 1)))
        if stage == "in_service":
            readings = draw(st.integers(min_value=0, max_value=3))
            for r in range(readings):
                facts.append(_reading(pid, tenant, when + timedelta(days=r + 1), 100 - r))
    return Lifecycle(pid, tenant, facts)


def _key(fact: Message, index: int) -> tuple[int, datetime, int]:
    change = CHANGE_OF[type(fact).__name__]
    return (readmodel.fact_rank(change), FOLDS[change].occurred_at(fact), index)


def _change(fact: Message, static_data: dict[str, Any]) -> FactChange:
    change = CHANGE_OF[type(fact).__name__]
    fold = FOLDS[change]
    apply = minted(fact, static_data) if change == "minted" else fold.build(fact)  # type: ignore[arg-type]
    return FactChange(
        fact.passport_id,  # type: ignore[attr-defined]
        fact.tenant,  # type: ignore[attr-defined]
        change,
        apply,
        reads_static=fold.reads_static,
        occurred_at=fold.occurred_at(fact),
        body=fact.model_dump_json().encode(),
    )


def truth(life: Lifecycle, facts: list[tuple[int, Message]], static_data: dict[str, Any]) -> dict[str, Any] | None:
    """The state the facts make, folded in event-time order (None: not minted by then)."""
    ordered = sorted(facts, key=lambda item: _key(item[1], item[0]))
    state = readmodel.empty_state(life.pid, life.tenant)
    for _, fact in ordered:
        _change(fact, static_data).apply(state)
    return state if state["minted"] else None


def compared(state: dict[str, Any]) -> dict[str, Any]:
    """What must agree: the story the passport tells, not the projection's stamps."""
    return {
        "stage": state["stage"],
        "status": state["status"],
        "ceased": state["ceased"],
        "history": [(h["stage"], h["status"], h["occurred_at"]) for h in state["status_history"]],
        "custody": [s["sequence"] for s in state["custody_timeline"]],
        "holder": state.get("current_handler_id"),
        "in_service": state["in_service"],
    }


@pytest.mark.timeout(900)
@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(life=lifecycles(), seed=st.integers(min_value=0, max_value=2**32 - 1))
async def test_any_arrival_order_tells_the_same_history(conn: asyncpg.Connection, life: Lifecycle, seed: int) -> None:
    rng = random.Random(seed)
    mint = life.facts[0]
    static_data = mint.static_data.model_dump(mode="json", exclude_none=True)  # type: ignore[attr-defined]
    await static_documents_of(conn, [mint])  # type: ignore[list-item]
    arrivals = list(enumerate(life.facts))
    arrivals += [arrivals[i] for i in rng.sample(range(len(arrivals)), k=min(2, len(arrivals)))]  # duplicates
    rng.shuffle(arrivals)
    cuts = sorted(rng.sample(range(1, len(arrivals)), k=min(len(arrivals) - 1, rng.randint(0, 4))))
    batches = [arrivals[a:b] for a, b in zip([0, *cuts], [*cuts, len(arrivals)], strict=True)]

    projection = Projection(PassportCache(), _no_topics)
    known: list[tuple[datetime, list[tuple[int, Message]]]] = []  # record time after each batch, what had arrived
    arrived: list[tuple[int, Message]] = []
    stream: list[dict[str, Any]] = []
    for batch in batches:
        outbox = KeptOutbox(streams.SOURCE)
        uow = UnitOfWork(conn, outbox, "reporting", Settings(), "bpass.reporting.rejected.v1")
        async with conn.transaction():
            await projection.project(uow, [_change(fact, static_data) for _, fact in batch])
        stream += [
            orjson.loads(row.payload)
            for row in outbox.written
            if dict(row.headers).get("ce_type") == streams.CHANGED_TYPE
        ]
        arrived += batch
        known.append((datetime.now(UTC), list(arrived)))

    expected = truth(life, arrived, static_data)
    assert expected is not None
    current = await store.current(conn, life.pid)
    assert current is not None
    assert compared(current["state"]) == compared(expected)
    # every stage it went through appears once, in order
    stages = [h["stage"] for h in current["state"]["status_history"]]
    assert stages == sorted(set(stages), key=readmodel.STAGE_RANK.__getitem__)

    # as_of: at random instants, the version that shows the battery as it was then
    mint = life.facts[0]
    end = dimensions.ts(expected.get("ceased_at")) or T0 + timedelta(days=700)
    for _ in range(4):
        instant = T0 - timedelta(days=5) + (end - T0 + timedelta(days=10)) * rng.random()
        happened = [(i, f) for i, f in arrived if _key(f, i)[1] <= instant]
        row = await store.as_of(conn, life.pid, instant)
        if not happened:  # before the first thing that happened to it (the minting or another fact): no passport
            assert row is None, f"as_of {instant.isoformat()}"
            continue
        # a fact dated before the minting shows the passport (the minting's data) as the battery was then
        at = truth(life, [*happened, (0, mint)], static_data)
        assert row is not None, f"as_of {instant.isoformat()}"
        assert at is not None
        assert compared(row["state"]) == compared(at), f"as_of {instant.isoformat()}"

    # known_at: what the platform had been told after each batch, about the end of the lifecycle and a random instant
    for recorded, then in known:
        told = truth(life, then, static_data)
        row = await store.as_of(conn, life.pid, None, recorded)
        if told is None:  # the minting had not arrived yet: what was shown had no minting either
            assert row is None or not row["state"].get("minted")
            continue
        assert row is not None
        assert compared(row["state"]) == compared(told), f"known_at {recorded.isoformat()}"

    # the change stream: revisions in order, each valid, the last one the current state
    versions = [m["version"] for m in stream]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
    for message in stream:
        PassportChanged.model_validate(message)
    assert stream[-1]["version"] == current["version"]
    assert compared(stream[-1]["state"]) == compared(expected)

    # the counters count the passport once, where it is now
    counted = await conn.fetch(
        "SELECT stage, status, sum(n) AS n FROM population_counts WHERE tenant = $1 GROUP BY 1, 2 HAVING sum(n) <> 0",
        life.tenant,
    )
    assert [(r["stage"], r["status"], r["n"]) for r in counted] == [(expected["stage"], expected["status"], 1)]


async def _no_topics(_: set[str]) -> None:
    return None
