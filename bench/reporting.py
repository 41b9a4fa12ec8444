"""Reporting benchmark: 1,000,000 projected passports; population report, filtered search page, projection rate.

    python bench/reporting.py [--passports 1000000] [--facts 10000] [--mix-passports 6000 --lifecycle 8]
                              [--runs 30] [--reuse]

Targets (issue): with 1,000,000 passports projected, the population report answers in under 1 s and a filtered
search page in under 200 ms; the projection keeps up with at least 5,000 facts/s. The facts/s target applies to
the MIXED rate below (a realistic fact mix); the minted-only rate is printed too, labelled as such.

Against the running local stack (Kafka, PostgreSQL, Redis: `make stack`). Setup, not measured: a scratch database
`bpass_bench_reporting` gets the reporting schema, and `--passports` synthetic projected passports are loaded into
it with COPY (indexes rebuilt after), with their population counters (`--reuse` keeps a database loaded by an
earlier run with the same `--passports`). Each projection run publishes its facts to topics of its own namespace
first, then starts a reporting process (own port, own topic namespace, on that database) and times it from the
first fact projected to the last one consumed, and on until its outbox is published (change streams). Progress is
read from the consumer group's committed offsets (an inbox count would scan the database being measured), and the
end is confirmed by the inbox rows:

- minted only: `--facts` PassportMinted facts (full static data, ~6 KB each): the heaviest fact, every one a new
  passport (each writes its whole state four times: current row, version, change-stream and latest-state message);
- mixed: `--mix-passports` passports minted, then `--lifecycle` facts each as custody and telemetry publish them
  (custody recorded, status changed, in-service data; see LIFECYCLE), round by round, on four topics at once.

The Kafka read rate of the same topics is printed as the baseline. Then, on an idle process, over HTTP:

- the population report (`GET /reporting/v1/reports/population`), p50/p95 of `--runs` calls;
- filtered search pages (`GET /reporting/v1/passports?chemistry=…&stage=…&limit=50`, a model filter, a batch, an
  extension field, each with its next page by cursor), p50/p95 of the slowest;
- the lifecycle reports (issue #8): second-life population (`/reporting/v1/reports/second-life`) and state of health
  by model and age (`/reporting/v1/reports/state-of-health`), p50/p95 of `--runs` calls each.
Last lines: `RESULT <metric>=<value> <unit>`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import uuid_utils
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.proc import cpu_seconds, pids_of
from bpass.simulate import mint_item, model_static, population
from contracts import topics
from contracts.base import Message
from contracts.custody import CustodyEventKind, CustodyRecorded, PassportStage, PassportStatusChanged
from contracts.envelope import Envelope
from contracts.identity import PassportMinted
from contracts.passport_data import BatteryStatus, PassportSubject, StaticPassportData
from contracts.telemetry import InServiceDataUpdated, LatestValue, TelemetryMetric
from services.common.auth import Role, add_key
from services.common.db import init_connection, migrate
from services.common.messaging import delete_topics
from services.common.settings import REPO_ROOT, Settings
from services.reporting.app import build_spec

DB = "bpass_bench_reporting"
TENANT = "bench-oem"
CHEMISTRIES = (("NMC811", 30), ("NMC622", 20), ("LFP", 35), ("NCA", 10), ("LMO", 5))
CATEGORIES = (("ev", 50), ("lmt", 25), ("industrial", 10), ("stationary", 15))
STAGES = (("manufactured", 8), ("placed_on_market", 10), ("in_service", 52), ("collected", 12),
          ("in_treatment", 6), ("recycled", 12))  # fmt: skip
PLANTS = ("GLN 4006381000023", "GLN 4006381000030", "GLN 5901234000017")


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def synthetic_rows(start: int, count: int, rng: random.Random) -> list[tuple[Any, ...]]:
    rows = []
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(start, start + count):
        chemistry = pick(rng, CHEMISTRIES)
        category = pick(rng, CATEGORIES)
        stage = pick(rng, STAGES)
        model = f"VX-{category[:2].upper()}-{chemistry}-{i % 3}"
        plant = PLANTS[i % 3]
        batch = f"B{i // 250:06d}"
        pid = f"urn:uuid:{uuid.UUID(int=(0x0190 << 112) | i)}"
        minted_at = base + timedelta(minutes=i)
        placed = minted_at + timedelta(days=rng.randint(5, 60)) if stage != "manufactured" else None
        handler = None if stage in ("manufactured",) else f"handler-{rng.randrange(20)}"
        status = "waste" if stage in ("collected", "in_treatment", "recycled") else "original"
        # Lifecycle reports: a second life for 4 % of those in service (from 1-4 predecessor packs), successors for
        # 3 % of the collected ones, the waste operator answering for waste, a state of health fading with age.
        operator, predecessors, successors = None, 0, 0
        if stage == "in_service" and rng.random() < 0.04:
            status = rng.choice(SECOND_LIFE)
            predecessors = rng.randint(1, 4)
        elif stage == "collected" and rng.random() < 0.03:
            successors = 1
        if status == "waste":
            operator = f"pro-scheme-{i % 4}"
        made = (minted_at - timedelta(days=rng.randint(3, 40))).date()
        soh = None
        if stage not in ("manufactured", "recycled"):
            since = placed or minted_at
            months = max(0, NOW_MONTH - (since.year * 12 + since.month))
            soh = Decimal(max(40.0, 100 - months * 0.6 - rng.uniform(0, 4))).quantize(Decimal("0.1"))
        extensions = {"colour": rng.choice(("graphite", "silver", "blue")), "tier": rng.choice(("std", "premium"))}
        state = {
            "passport_id": pid, "tenant": TENANT, "minted": True, "battery_identifier": f"BENCH{i:09d}",
            "category": category, "status": status, "stage": stage, "current_handler_id": handler,
            "subject": {"kind": "battery", "battery_identifier": f"BENCH{i:09d}", "batch_number": batch},
            "extensions": extensions, "custody_timeline": [], "version": 1,
        }  # fmt: skip
        static = {"battery_model": model, "battery_chemistry": {"short_name": chemistry},
                  "manufacturing_place": {"facility_identifier": plant}, "weight_kg": "450"}  # fmt: skip
        rows.append((pid, TENANT, 1, orjson.dumps(state).decode(), orjson.dumps(static).decode(), minted_at,
                     f"BENCH{i:09d}", None, f"https://x.test/p/{pid}", "battery",
                     model, f"fam-{category}", chemistry, category, batch, plant, status, stage, placed, handler,
                     minted_at, stage == "recycled", extensions, soh, made, operator, predecessors,
                     successors))  # fmt: skip
    return rows


COLUMNS = ["passport_id", "tenant", "version", "state_json", "static_json", "updated_at", "battery_identifier", "gtin",
           "public_uri", "kind", "model", "product_family", "chemistry", "category", "batch", "plant", "status",
           "stage", "placed_on_market_at", "current_handler_id", "minted_at", "ceased", "extensions",
           "state_of_health_pct", "manufacturing_date", "responsible_operator", "predecessor_count",
           "successor_count"]  # fmt: skip
SECOND_LIFE = ("repurposed", "re-used", "remanufactured")
NOW_MONTH = datetime.now(UTC).year * 12 + datetime.now(UTC).month

# The lifecycle counters (migration 006) of the loaded passports, as the projection keeps them.
LIFECYCLE_COUNTERS_SQL = (
    """INSERT INTO soh_counts (tenant, model, status, age_month, soh_tenths, n, soh_sum)
       SELECT tenant, coalesce(model, ''), coalesce(status, ''),
              coalesce(extract(year FROM placed_on_market_at AT TIME ZONE 'UTC')::int * 12
                           + extract(month FROM placed_on_market_at AT TIME ZONE 'UTC')::int - 1,
                       extract(year FROM manufacturing_date)::int * 12
                           + extract(month FROM manufacturing_date)::int - 1,
                       -1),
              floor(state_of_health_pct * 10)::int, count(*), sum(state_of_health_pct)
       FROM passport_view WHERE state_of_health_pct IS NOT NULL AND NOT ceased GROUP BY 1, 2, 3, 4, 5""",
    """INSERT INTO lifecycle_counts (tenant, model, status, operator, n, predecessors, with_predecessors, superseded)
       SELECT tenant, coalesce(model, ''), coalesce(status, ''), coalesce(responsible_operator, ''), count(*),
              sum(predecessor_count), count(*) FILTER (WHERE predecessor_count > 0),
              count(*) FILTER (WHERE successor_count > 0)
       FROM passport_view GROUP BY 1, 2, 3, 4""",
)


async def load(settings: Settings, dsn: str, passports: int) -> None:
    admin = await asyncpg.connect(settings.database_url, timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB}"')
    finally:
        await admin.close()
    await migrate(dsn, "reporting", REPO_ROOT / "services" / "reporting" / "migrations")
    conn = await asyncpg.connect(dsn, timeout=10, command_timeout=3600, server_settings={"search_path": "reporting"})
    await init_connection(conn)
    try:
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'reporting' AND tablename = 'passport_view'"
            " AND indexname <> 'passport_view_pkey'"
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX reporting."{index["indexname"]}"')
        rng = random.Random(11)
        started = time.perf_counter()
        chunk = 50_000
        for offset in range(0, passports, chunk):
            rows = synthetic_rows(offset, min(chunk, passports - offset), rng)
            await conn.copy_records_to_table("passport_view", records=rows, columns=COLUMNS, schema_name="reporting")
            done = offset + len(rows)
            rate = done / (time.perf_counter() - started)
            print(f"    COPY {done:>9,} / {passports:,} passports ({rate:,.0f} rows/s)", flush=True)
        say(f"rebuilding {len(indexes)} indexes")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.execute(
            """INSERT INTO population_counts (tenant, category, chemistry, model, product_family, plant, status, stage,
                                              n, rc_n, rc_sums)
               SELECT tenant, category, chemistry, model, product_family, plant, status, stage, count(*), count(*),
                      '{4,8,3,0,5,10,4,0,0}'::numeric[]
               FROM passport_view GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"""
        )
        for sql in LIFECYCLE_COUNTERS_SQL:
            await conn.execute(sql)
        await conn.execute("VACUUM ANALYZE passport_view")
        await conn.execute("ANALYZE population_counts")
        await conn.execute("ANALYZE soh_counts")
        await conn.execute("ANALYZE lifecycle_counts")
    finally:
        await conn.close()


def minted_facts(count: int, tenant: str) -> list[tuple[str, bytes, list[tuple[str, bytes]]]]:
    out = []
    now = datetime.now(UTC)
    for battery in population("BENCH", count, seed=5):
        item = mint_item(battery, "BENCH")
        static = {**model_static(battery.model), **item["static_data"]}  # the model's defaults, as identity merges
        pid = f"urn:uuid:{uuid_utils.uuid7()}"  # as identity mints them (DESIGN.md: UUIDv7)
        fact = PassportMinted(
            passport_id=pid, tenant=tenant, subject=PassportSubject.model_validate(item["subject"]),
            category=battery.model.category.value, product_family=battery.model.family,
            public_uri=f"https://x.test/p/{pid}", static_data=StaticPassportData.model_validate(static),
            extensions=item["extensions"],
            version=1, minted_at=now, minted_by="bench",
        )  # fmt: skip
        envelope = Envelope(id=str(uuid.uuid4()), source="urn:bpass:service:identity", type=fact.event_type,
                            subject=pid, time=now)  # fmt: skip
        out.append((pid, fact.model_dump_json().encode(), envelope.to_headers()))
    return out


Fact = tuple[str, bytes, list[tuple[str, bytes]]]  # Kafka key, JSON body, CloudEvents headers

# The lifecycle of a passport after minting, in time order: (topic, what). Beyond its length, more in-service
# updates are inserted before collection (a battery in service reports far more often than it changes hands).
LIFECYCLE = (
    ("custody", "dispatch"),
    ("custody", "receipt"),
    ("status", "placed_on_market"),
    ("status", "in_service"),
    ("in_service", ""),
    ("in_service", ""),
    ("in_service", ""),
    ("custody", "collection"),
    ("status", "collected"),
    ("custody", "handover"),
    ("status", "in_treatment"),
    ("custody", "treatment_start"),
)


def lifecycle_plan(steps: int) -> list[tuple[str, str]]:
    if steps <= len(LIFECYCLE):
        return list(LIFECYCLE[:steps])
    extra = [("in_service", "")] * (steps - len(LIFECYCLE))
    return [*LIFECYCLE[:7], *extra, *LIFECYCLE[7:]]


def _fact(message: Message, pid: str, at: datetime, source: str) -> Fact:
    envelope = Envelope(id=str(uuid.uuid4()), source=source, type=message.event_type, subject=pid, time=at)
    return pid, message.model_dump_json().encode(), envelope.to_headers()


def mixed_facts(passports: int, steps: int, tenant: str) -> dict[str, list[Fact]]:
    """Per topic, in time order: `passports` minted facts, then `steps` lifecycle facts of each passport, round
    by round (every passport's first step, then every passport's second, ...), as custody and telemetry publish
    them. Every fact changes its passport, so the facts applied equal the versions made."""
    minted = minted_facts(passports, tenant)
    out: dict[str, list[Fact]] = {topics.PASSPORT_MINTED.name: minted}
    custody_topic, status_topic, data_topic = (
        topics.CUSTODY_RECORDED.name, topics.CUSTODY_PASSPORT_STATUS.name, topics.IN_SERVICE_DATA.name,
    )  # fmt: skip
    for name in (custody_topic, status_topic, data_topic):
        out[name] = []
    pids = [pid for pid, _, _ in minted]
    chains = {pid: "0" * 64 for pid in pids}
    start = datetime.now(UTC) - timedelta(days=2000)
    custody_source, data_source = "urn:bpass:service:custody", "urn:bpass:service:custody"
    for rnd, (what, detail) in enumerate(lifecycle_plan(steps), start=1):
        at = start + timedelta(days=rnd * 30)
        for pid in pids:
            sequence = sum(1 for w, _ in lifecycle_plan(steps)[:rnd] if w == "custody")
            if what == "custody":
                entry = hashlib.sha256(f"{pid}{sequence}{chains[pid]}".encode()).hexdigest()
                holder = {"dispatch": "carrier-1", "receipt": "dealer-1", "collection": "collector-1",
                          "handover": "recycler-1", "treatment_start": "recycler-1"}[detail]  # fmt: skip
                fact: Message = CustodyRecorded(
                    passport_id=pid, tenant=tenant, sequence=sequence, kind=CustodyEventKind(detail), occurred_at=at,
                    handler_id=holder, to_handler_id=holder, source_event_id=str(uuid.uuid4()), entry_hash=entry,
                    previous_hash=chains[pid],
                )  # fmt: skip
                chains[pid] = entry
                out[custody_topic].append(_fact(fact, pid, at, custody_source))
            elif what == "status":
                fact = PassportStatusChanged(
                    passport_id=pid, tenant=tenant, stage=PassportStage(detail), occurred_at=at,
                    status=BatteryStatus.waste if detail in ("collected", "in_treatment") else None,
                    sequence=max(1, sequence), handler_id="dealer-1", source_event_id=str(uuid.uuid4()),
                )  # fmt: skip
                out[status_topic].append(_fact(fact, pid, at, custody_source))
            else:
                latest = {
                    TelemetryMetric.state_of_health_pct: LatestValue(
                        value=Decimal(100) - Decimal(rnd) / 10, measured_at=at, source_system="bms-fleet"),
                    TelemetryMetric.full_cycles: LatestValue(value=Decimal(rnd * 41), measured_at=at,
                                                             source_system="bms-fleet"),
                    TelemetryMetric.state_of_charge_pct: LatestValue(value=Decimal(55 + rnd % 40), measured_at=at,
                                                                     source_system="bms-fleet"),
                }  # fmt: skip
                fact = InServiceDataUpdated(passport_id=pid, tenant=tenant, latest=latest, readings_stored=3)
                out[data_topic].append(_fact(fact, pid, at, data_source))
    return out


async def publish_facts(settings: Settings, streams: dict[str, list[Fact]]) -> None:
    producer = AIOKafkaProducer(**settings.kafka_client_options(), acks="all", enable_idempotence=True,
                                linger_ms=20, max_batch_size=512 * 1024)  # fmt: skip
    await producer.start()
    try:
        for name, facts in streams.items():
            topic = settings.topic(name)
            futures = [await producer.send(topic, value=v, key=k.encode(), headers=h) for k, v, h in facts]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def kafka_read_rate(settings: Settings, names: list[str], expected: int) -> float:
    consumer = AIOKafkaConsumer(*[settings.topic(n) for n in names], **settings.kafka_client_options(),
                                group_id=f"bench-baseline-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest",
                                enable_auto_commit=False, max_poll_records=500)  # fmt: skip
    await consumer.start()
    try:
        seen = 0
        started = time.perf_counter()
        while seen < expected and time.perf_counter() - started < 120:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            seen += sum(len(v) for v in batch.values())
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def loaded(dsn: str, passports: int) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except asyncpg.InvalidCatalogNameError:
        return False
    try:
        found = await conn.fetchval("SELECT count(*) FROM reporting.passport_view WHERE tenant = $1", TENANT)
    except asyncpg.UndefinedTableError:
        return False
    finally:
        await conn.close()
    return bool(found == passports)


async def forget_earlier_runs(dsn: str) -> None:
    """A reused database: drop what earlier projection runs left (their passports, inbox and outbox rows)."""
    conn = await asyncpg.connect(dsn, timeout=10, command_timeout=600, server_settings={"search_path": "reporting"})
    try:
        await migrate(dsn, "reporting", REPO_ROOT / "services" / "reporting" / "migrations")
        gone = await conn.execute("DELETE FROM passport_view WHERE tenant <> $1", TENANT)
        await conn.execute("DELETE FROM passport_view_versions v WHERE NOT EXISTS "
                           "(SELECT 1 FROM passport_view p WHERE p.passport_id = v.passport_id)")  # fmt: skip
        await conn.execute("DELETE FROM population_counts WHERE tenant <> $1", TENANT)
        await conn.execute("DELETE FROM recovery_totals WHERE tenant <> $1", TENANT)
        await conn.execute("DELETE FROM soh_counts WHERE tenant <> $1", TENANT)
        await conn.execute("DELETE FROM lifecycle_counts WHERE tenant <> $1", TENANT)
        if not await conn.fetchval("SELECT count(*) FROM lifecycle_counts"):  # loaded before migration 006
            raise SystemExit("the database was loaded before the lifecycle counters existed: run without --reuse")
        await conn.execute("TRUNCATE inbox, outbox")
        await conn.execute("VACUUM ANALYZE passport_view")
        say(f"reusing the loaded database ({gone.split()[-1]} passports of earlier runs dropped)")
    finally:
        await conn.close()


class Service:
    """A reporting process on the bench database, in its own topic namespace."""

    def __init__(self, settings: Settings, keyring: Path, log_name: str) -> None:
        self.settings = settings
        self.port = free_port()
        var = REPO_ROOT / "var" / "bench"
        self.log_path = var / log_name
        self.env = {**os.environ, "BPASS_DATABASE_URL": settings.database_url,
                    "BPASS_TOPIC_NAMESPACE": settings.topic_namespace, "BPASS_REPORTING_PORT": str(self.port),
                    "BPASS_API_KEYS_FILE": str(keyring),
                    "BPASS_REPORTING_SIGNING_KEY_FILE": str(var / "signing-key.pem")}  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        say(f"starting reporting on 127.0.0.1:{self.port} (log {self.log_path})")
        log = self.log_path.open("wb")
        self.process = subprocess.Popen([sys.executable, "-m", "services.reporting"], cwd=REPO_ROOT, env=self.env,
                                        stdout=log, stderr=log)  # fmt: skip
        log.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def check(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise SystemExit(f"reporting exited with {self.process.returncode}; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)


def postgres_pids() -> list[int]:
    """The local PostgreSQL's processes (server and backends): what the database spends, whoever asks."""
    return pids_of(b"postgres:", b"/usr/lib/postgresql/")


def kafka_pids() -> list[int]:
    """The local Kafka broker (a JVM running kafka.Kafka)."""
    return pids_of(b"java", b"/usr/", containing=b"kafka.Kafka")


async def group_stable(admin: AIOKafkaAdminClient, group: str, members: int) -> bool:
    """Has the group every member it should, and finished rebalancing?"""
    (response,) = await admin.describe_consumer_groups([group])
    _, _, state, _, _, found = response.groups[0][:6]
    return bool(state == "Stable" and len(found) == members)


async def committed(admin: AIOKafkaAdminClient, group: str, topics_: list[str]) -> int:
    """Facts the group has consumed so far, by its committed offsets (the topics are new: offsets start at 0). Polled
    instead of counting inbox rows, which would put a scan of the inbox on the database the run measures."""
    offsets = await admin.list_consumer_group_offsets(group)
    return sum(max(0, meta.offset) for tp, meta in offsets.items() if tp.topic in topics_)


def cpu_of(services: list[Service]) -> tuple[list[int], list[int], list[int]]:
    """The processes whose CPU time per fact the projection runs print: reporting's, PostgreSQL's, Kafka's."""
    return [s.pid for s in services], postgres_pids(), kafka_pids()


async def project(pool: asyncpg.Pool, services: list[Service], streams: dict[str, list[Fact]]) -> tuple[float, float]:
    """Start the processes (one consumer group), wait until they consumed every fact and published their outbox:
    (facts/s, facts/s incl. publishing the change streams). The clock starts once every process has joined the
    group and the group is stable (with several processes, the first ones start alone and then pause for a
    rebalance: that start-up is not the rate the group keeps up), and at the first fact projected; the facts
    projected before it are not counted. Prints the CPU time reporting, PostgreSQL and the Kafka broker spent per
    fact meanwhile (PostgreSQL's and Kafka's include whatever else uses them then)."""
    expected = sum(len(v) for v in streams.values())
    settings = services[0].settings
    names = [settings.topic(n) for n in streams]
    spec = build_spec(settings)  # a group member per process, or per subscription and process
    members = len(services) * (1 if spec.one_consumer else len(spec.subscriptions))
    group = settings.group_id("reporting")
    for service in services:
        service.start()
    admin = AIOKafkaAdminClient(**settings.kafka_client_options(), request_timeout_ms=10_000)
    await admin.start()
    try:
        started: tuple[float, int, list[float]] | None = None  # when, facts before, CPU of reporting, PostgreSQL, Kafka
        consumed = 0
        last_print = 0.0
        deadline = time.perf_counter() + 900
        while consumed < expected and time.perf_counter() < deadline:
            for service in services:
                service.check()
            consumed = await committed(admin, group, names)
            if consumed >= expected:  # the offsets are committed after the transaction: confirm with its inbox rows
                consumed = await pool.fetchval("SELECT count(*) FROM inbox WHERE topic = ANY($1::text[])", names)
            now = time.perf_counter()
            if started is None and consumed and await group_stable(admin, group, members):
                started = (now, consumed, [cpu_seconds(*p) for p in cpu_of(services)])
            if now - last_print > 2:
                print(f"    consumed {consumed:>7,} / {expected:,} facts", flush=True)
                last_print = now
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    if consumed < expected or started is None:
        raise SystemExit(f"only {consumed} of {expected} facts consumed after 900 s; see {services[0].log_path}")
    consumed_at = time.perf_counter()
    first_seen, before, cpu_before = started
    counted = expected - before
    per_fact = [
        (cpu_seconds(*p) - c0) / max(1, counted) * 1e6 for p, c0 in zip(cpu_of(services), cpu_before, strict=True)
    ]
    say(f"{len(services)} process(es); {before:,} facts projected before the group was stable, {counted:,} timed; "
        f"CPU per fact: reporting {per_fact[0]:.0f} µs, PostgreSQL {per_fact[1]:.0f} µs, Kafka broker "
        f"{per_fact[2]:.0f} µs; {sum(per_fact):.0f} µs in all")  # fmt: skip
    backlog = 1
    while backlog and time.perf_counter() < deadline:
        for service in services:
            service.check()
        backlog = await pool.fetchval("SELECT EXISTS (SELECT FROM outbox WHERE published_at IS NULL)")
        await asyncio.sleep(0.2)
    published_at = time.perf_counter()
    rate = counted / max(1e-6, consumed_at - first_seen)
    published = counted / max(1e-6, published_at - first_seen)
    say(f"{counted:,} facts: {rate:,.0f} facts/s projected; {published:,.0f} facts/s until the change streams were "
        f"published (load average {os.getloadavg()[0]:.1f})")  # fmt: skip
    return rate, published


async def timed(http: httpx.AsyncClient, url: str, params: dict[str, Any], runs: int) -> tuple[float, float, Any]:
    body: Any = None
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await http.get(url, params=params)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        body = response.json()
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)], body


async def projection_run(
    base: Settings,
    dsn: str,
    keyring: Path,
    pool: asyncpg.Pool,
    label: str,
    streams: dict[str, list[Fact]],
    instances: int,
) -> tuple[float, float, float]:
    settings = base.model_copy(update={"database_url": dsn, "topic_namespace": f"bench{uuid.uuid4().hex[:6]}."})
    total = sum(len(v) for v in streams.values())
    say(f"{label}: publishing {total:,} facts to {', '.join(settings.topic(n) for n in streams)}")
    await publish_facts(settings, streams)
    baseline = await kafka_read_rate(settings, list(streams), total)
    say(f"{label}: baseline, a bare consumer reads these topics at {baseline:,.0f} records/s")
    services = [Service(settings, keyring, f"reporting-{label}-{n}.log") for n in range(instances)]
    try:
        rate, published = await project(pool, services, streams)
    finally:
        for service in services:
            service.stop()
        await delete_topics(settings, [settings.topic_namespace])
    return rate, published, baseline


async def main(args: argparse.Namespace) -> None:
    base = Settings()
    dsn = base.database_url.rsplit("/", 1)[0] + f"/{DB}"
    if args.reuse and await loaded(dsn, args.passports):
        await forget_earlier_runs(dsn)
    else:
        say(f"loading {args.passports:,} synthetic projected passports into database {DB} (setup, not measured)")
        t0 = time.perf_counter()
        await load(base, dsn, args.passports)
        say(f"loaded in {time.perf_counter() - t0:.0f}s")
    var = REPO_ROOT / "var" / "bench"
    var.mkdir(parents=True, exist_ok=True)
    keyring = var / "reporting-keys.json"
    _, key = add_key(keyring, tenant=TENANT, role=Role.oem_admin)
    results: list[str] = [f"RESULT reporting_passports_loaded={args.passports} passports"]
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, server_settings={"search_path": "reporting"})
    try:
        if args.facts:
            streams = {topics.PASSPORT_MINTED.name: minted_facts(args.facts, "bench-minted")}
            rate, published, baseline = await projection_run(
                base, dsn, keyring, pool, "minted", streams, args.instances
            )
            results += [
                f"RESULT projection_minted_only_facts_per_s={rate:.0f} facts/s",
                f"RESULT projection_minted_only_published_facts_per_s={published:.0f} facts/s",
                f"RESULT kafka_baseline_minted_read_rate={baseline:.0f} records/s",
            ]
        if args.mix_passports:
            streams = mixed_facts(args.mix_passports, args.lifecycle, "bench-mixed")
            rate, published, baseline = await projection_run(base, dsn, keyring, pool, "mixed", streams, args.instances)
            results += [
                f"RESULT projection_mixed_facts_per_s={rate:.0f} facts/s",
                f"RESULT projection_mixed_published_facts_per_s={published:.0f} facts/s",
                f"RESULT kafka_baseline_mixed_read_rate={baseline:.0f} records/s",
                f"RESULT projection_mixed_vs_kafka_read_ratio={rate / baseline:.2f} ratio",
            ]
        settings = base.model_copy(update={"database_url": dsn, "topic_namespace": f"bench{uuid.uuid4().hex[:6]}."})
        service = Service(settings, keyring, "reporting-reads.log")
        service.start()
        try:
            results += await reads(service, key, args.runs)
        finally:
            service.stop()
            await delete_topics(settings, [settings.topic_namespace])
    finally:
        await pool.close()
    say(f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for line in results:
        print(line)


async def reads(service: Service, key: str, runs: int) -> list[str]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}", headers={"X-API-Key": key},
                                 timeout=30) as http:  # fmt: skip
        for _ in range(100):
            service.check()
            try:
                if (await http.get("/reporting/health/ready")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
        say(f"population report x{runs}")
        pop50, pop95, report = await timed(http, "/reporting/v1/reports/population", {}, runs)
        print(f"    total {report['total']:,} passports; p50 {pop50:.1f} ms, p95 {pop95:.1f} ms")
        say(f"filtered search pages x{runs} each")
        searches = [
            {"chemistry": "LFP", "stage": "in_service", "limit": 50},
            {"model": "VX-EV-NCA-1", "status": "waste", "limit": 50},
            {"batch": "B001234", "limit": 50},
            {"category": "lmt", "ext.colour": "blue", "limit": 50},
        ]
        p50s, p95s = [], []
        for params in searches:
            p50, p95, page = await timed(http, "/reporting/v1/passports", params, runs)
            if page["next_cursor"]:
                q50, q95, _ = await timed(http, "/reporting/v1/passports", {**params, "cursor": page["next_cursor"]},
                                          runs)  # fmt: skip
                p50, p95 = max(p50, q50), max(p95, q95)
            p50s.append(p50)
            p95s.append(p95)
            print(f"    {json.dumps(params)}: {len(page['items'])} items; p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        c50, c95, counts = await timed(http, "/reporting/v1/passports:count", {"group_by": "chemistry,stage"}, runs)
        print(f"    counts by chemistry,stage ({counts['source']}): p50 {c50:.1f} ms, p95 {c95:.1f} ms")
        say(f"second-life report x{runs}")
        sl50, sl95, second = await timed(http, "/reporting/v1/reports/second-life", {}, runs)
        print(f"    {second['second_life_total']:,} second-life passports, {second['waste']:,} waste, "
              f"{second['superseded']:,} superseded; p50 {sl50:.1f} ms, p95 {sl95:.1f} ms")  # fmt: skip
        say(f"state-of-health report x{runs}")
        sh50, sh95, soh = await timed(http, "/reporting/v1/reports/state-of-health", {}, runs)
        print(f"    {soh['overall']['passports']:,} passports with a state of health in {len(soh['rows'])} model/age "
              f"groups; p50 {sh50:.1f} ms, p95 {sh95:.1f} ms")  # fmt: skip
    return [
        f"RESULT population_report_p50_ms={pop50:.1f} ms",
        f"RESULT population_report_p95_ms={pop95:.1f} ms",
        f"RESULT search_page_p50_ms={max(p50s):.1f} ms",
        f"RESULT search_page_p95_ms={max(p95s):.1f} ms",
        f"RESULT second_life_report_p50_ms={sl50:.1f} ms",
        f"RESULT second_life_report_p95_ms={sl95:.1f} ms",
        f"RESULT state_of_health_report_p50_ms={sh50:.1f} ms",
        f"RESULT state_of_health_report_p95_ms={sh95:.1f} ms",
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passports", type=int, default=1_000_000, help="synthetic projected passports to load")
    parser.add_argument("--facts", type=int, default=10_000, help="minted-only run: PassportMinted facts (0: skip)")
    parser.add_argument("--mix-passports", type=int, default=6_000, help="mixed run: passports minted (0: skip)")
    parser.add_argument("--lifecycle", type=int, default=8, help="mixed run: lifecycle facts per passport")
    parser.add_argument("--runs", type=int, default=30, help="HTTP calls per measured request")
    parser.add_argument("--instances", type=int, default=topics.PASSPORT_MINTED.partitions,
                        help="reporting processes projecting, one consumer group (default: one per partition of the "
                             "fact topics, the most the group can use)")  # fmt: skip
    parser.add_argument("--reuse", action="store_true", help="keep a database loaded earlier with --passports")
    asyncio.run(main(parser.parse_args()))
