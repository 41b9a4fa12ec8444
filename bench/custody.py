"""Custody ingest benchmark: native custody events published -> validated -> custody log committed -> fact published.

    python bench/custody.py [--instances 2] [--passports 5000] [--events 50000] [--latency-seconds 15]
                            [--max-records 500] [--profile out.prof] [--keep]

Against the running local stack (`make stack`): starts the custody service alone, as `--instances` processes on
free ports (one consumer group: partitions are the unit of parallelism, DESIGN.md; the events topic has the
partitions the topic registry gives it, and one instance's outbox relay is active, the others stand by), in its
own topic namespace and database (`bpass_bench_custody_<hex>`), registers and verifies a handler over HTTP, plays
identity by publishing N minted facts, waits until the consumer group is stable with every instance, then:

1. throughput: publishes M custody events (a legal dispatch -> receipt -> storage cycle per passport, keyed by
   passport id) as fast as it can, and measures from the first publish to the last `CustodyRecorded` fact on
   the fact topic;
2. latency: publishes at half that rate for a while and measures, per event, publish -> its fact's arrival
   (p50 / p99);
3. baseline: a plain aiokafka consumer reads the same events topic from the beginning and COPYs the raw records
   into a scratch table (no parsing, no logic), committing per batch like custody does.

The last lines are `RESULT` figures: custody events/s, p99 latency at half rate, the raw baseline and the ratio.
The CPU the custody processes, their PostgreSQL backends, this benchmark process itself (the publisher and the fact
watcher share the machine with what they measure) and the whole machine used during the throughput phase is
printed with the load average: this 2-core machine also runs Kafka and PostgreSQL, and often other work.
`--profile FILE` runs custody under cProfile (written when it stops; with several instances, FILE.<n>) to see
where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402

from bench.proc import cpu_seconds  # noqa: E402
from bpass.examples import valid_static_data  # noqa: E402
from contracts import topics  # noqa: E402
from contracts.attributes import BatteryCategory  # noqa: E402
from contracts.custody import CustodyEventReported  # noqa: E402
from contracts.identity import PassportMinted  # noqa: E402
from contracts.passport_data import BatteryKind, PassportSubject, static_data_digest  # noqa: E402
from services.common.auth import Role, add_key  # noqa: E402
from services.common.messaging import delete_topics, partition_for  # noqa: E402
from services.common.settings import Settings  # noqa: E402
from services.custody.app import build_spec  # noqa: E402

TENANT = "bench-oem"
HANDLER = "bench-carrier"
CYCLE = ("dispatch", "receipt", "storage")
EVENT_TYPE = CustodyEventReported.event_type.encode()


def say(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    ticks = os.sysconf("SC_CLK_TCK")
    return (total - idle) / ticks, total / ticks


def producer(settings: Settings) -> AIOKafkaProducer:
    # The services' partitioner: the partitions aiokafka's default would choose (tests/unit/test_hot_path_equivalence
    # holds them equal), without its pure-Python hash, which made the publisher compete with custody for the CPU.
    return AIOKafkaProducer(
        **settings.kafka_client_options(),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=512 * 1024,
        partitioner=partition_for,
    )


class Events:
    """Custody events for N passports, each passport cycling through a legal sequence of steps."""

    def __init__(self, passport_ids: list[str]) -> None:
        self.passport_ids = passport_ids
        self.step = dict.fromkeys(passport_ids, 0)
        self.clock = datetime(2026, 3, 1, tzinfo=UTC)
        self.source = f"urn:bpass:handler:{HANDLER}".encode()

    def next(self, index: int) -> tuple[str, bytes, bytes, list[tuple[str, bytes]]]:
        passport_id = self.passport_ids[index % len(self.passport_ids)]
        step = self.step[passport_id]
        self.step[passport_id] = step + 1
        self.clock += timedelta(milliseconds=1)
        event_id = str(uuid.uuid4())
        body = {
            "kind": CYCLE[step % len(CYCLE)],
            "occurred_at": self.clock.isoformat(),
            "handler_id": HANDLER,
            "targets": {"passport_ids": [passport_id]},
            "transport_document": f"CMR-{index}",
        }
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", event_id.encode()),
            ("ce_source", self.source),
            ("ce_type", EVENT_TYPE),
            ("ce_time", self.clock.isoformat().encode()),
            ("content-type", b"application/json"),
        ]
        return event_id, passport_id.encode(), orjson.dumps(body), headers


class FactWatcher:
    """Reads the custody-recorded topic from its end and notes when each fact arrives, by source event id."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.arrived: dict[str, float] = {}
        self.count = 0
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        name = self.settings.topic(topics.CUSTODY_RECORDED.name)
        consumer = AIOKafkaConsumer(
            **self.settings.kafka_client_options(), enable_auto_commit=False, fetch_max_wait_ms=20
        )
        await consumer.start()
        partitions = consumer.partitions_for_topic(name)
        while not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(name)
            await asyncio.sleep(0.2)
        tps = [TopicPartition(name, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    self.count += 1
                    source_event_id = orjson.loads(record.value)["source_event_id"]
                    self.arrived.setdefault(source_event_id, now)

    async def wait_for(self, count: int, timeout_s: float, label: str) -> float:
        deadline = time.perf_counter() + timeout_s
        last_report = 0.0
        while self.count < count:
            now = time.perf_counter()
            if now > deadline:
                raise SystemExit(f"{label}: only {self.count} of {count} facts after {timeout_s:.0f}s")
            if now - last_report > 2:
                say(f"    {label}: {self.count}/{count} facts")
                last_report = now
            await asyncio.sleep(0.01)
        return max(self.arrived.values())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer:
            await self._consumer.stop()


async def drop_database(owner_url: str, name: str) -> None:
    """Drop the benchmark database once the services' connections are gone (the owner may not end the platform
    role's backends itself: FORCE fails while one is still closing)."""
    admin = await asyncpg.connect(owner_url, timeout=10)
    try:
        for attempt in range(20):
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except (asyncpg.InsufficientPrivilegeError, asyncpg.ObjectInUseError):
                if attempt == 19:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await admin.close()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def postgres_cpu(db: asyncpg.Connection, database: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends connected to the benchmark database (same machine)."""
    pids = await db.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database)
    total = 0.0
    for row in pids:
        with contextlib.suppress(OSError, IndexError):
            total += cpu_seconds(row["pid"])
    return total


def consumers_per_instance(settings: Settings) -> int:
    """Custody's Kafka consumers in one process: one per subscription, and one more reading the partners' own forms
    of the inbound topics (by pattern) where a subscription has any."""
    subscriptions = build_spec(settings).subscriptions
    return len(subscriptions) + sum(s.topic.kind is topics.TopicKind.inbound for s in subscriptions)


async def wait_group_stable(settings: Settings, members: int, timeout_s: float = 60) -> None:
    """Until custody's consumer group has every instance's consumers and has finished rebalancing."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options(), request_timeout_ms=10_000)
    await admin.start()
    group = settings.group_id("custody")
    state, count = "?", 0
    try:
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            (response,) = await admin.describe_consumer_groups([group])
            _, _, state, _, _, found = response.groups[0][:6]
            count = len(found)
            if state == "Stable" and count == members:
                return
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    raise SystemExit(f"consumer group {group} not stable with {members} members (state {state}, {count} members)")


async def wait_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(300):
            if process.poll() is not None:
                raise SystemExit(f"custody exited with {process.returncode}; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{base_url}/custody/health/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise SystemExit(f"custody did not get ready; see {log}")


async def mint(settings: Settings, count: int, db: asyncpg.Connection) -> list[str]:
    static = valid_static_data(BatteryCategory.ev)
    digest = static_data_digest(static)
    passport_ids = []
    kafka = producer(settings)
    await kafka.start()
    try:
        for i in range(count):
            passport_id = f"urn:uuid:{uuid.uuid4()}"
            passport_ids.append(passport_id)
            fact = PassportMinted(
                passport_id=passport_id,
                tenant=TENANT,
                subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=f"BENCH-{i:07d}"),
                category=BatteryCategory.ev,
                public_uri=f"https://passport.example.test/p/{passport_id[9:]}",
                static_data=static,
                static_data_digest=digest,
                version=1,
                minted_at=datetime.now(UTC),
                minted_by="urn:bpass:service:identity",
            )
            headers = [
                ("ce_specversion", b"1.0"),
                ("ce_id", str(uuid.uuid4()).encode()),
                ("ce_source", b"urn:bpass:service:identity"),
                ("ce_type", fact.event_type.encode()),
                ("ce_time", datetime.now(UTC).isoformat().encode()),
                ("content-type", b"application/json"),
            ]
            await kafka.send(
                settings.topic(topics.PASSPORT_MINTED.name),
                fact.model_dump_json().encode(),
                key=passport_id.encode(),
                headers=headers,
            )
        await kafka.flush()
    finally:
        await kafka.stop()
    for _ in range(600):
        known = await db.fetchval("SELECT count(*) FROM custody.known_passports")
        if known >= count:
            return passport_ids
        await asyncio.sleep(0.2)
    raise SystemExit(f"custody learned only {known} of {count} passports")


async def throughput(settings: Settings, events: Events, total: int, watcher: FactWatcher) -> tuple[float, float]:
    batch = [events.next(i) for i in range(total)]
    kafka = producer(settings)
    await kafka.start()
    name = settings.topic(topics.CUSTODY_EVENTS.name)
    expected = watcher.count + total
    try:
        started = time.perf_counter()
        for _, key, value, headers in batch:
            await kafka.send(name, value, key=key, headers=headers)
        await kafka.flush()
        published = time.perf_counter() - started
        say(f"    published {total} events in {published:.2f}s ({total / published:,.0f}/s)")
        finished = await watcher.wait_for(expected, timeout_s=max(120, total / 200), label="throughput")
    finally:
        await kafka.stop()
    return total / (finished - started), published


async def latency(settings: Settings, events: Events, rate: float, seconds: float, watcher: FactWatcher) -> list[float]:
    kafka = producer(settings)
    await kafka.start()
    name = settings.topic(topics.CUSTODY_EVENTS.name)
    sent: dict[str, float] = {}
    tick = 0.01
    per_tick = rate * tick
    expected = watcher.count
    try:
        started = time.perf_counter()
        owed = 0.0
        index = 10_000_000
        while (now := time.perf_counter()) - started < seconds:
            owed = per_tick * ((now - started) / tick + 1) - len(sent)
            for _ in range(int(owed)):
                event_id, key, value, headers = events.next(index)
                index += 1
                sent[event_id] = time.perf_counter()
                await kafka.send(name, value, key=key, headers=headers)
            await asyncio.sleep(tick)
        await kafka.flush()
        expected += len(sent)
        await watcher.wait_for(expected, timeout_s=120, label="latency")
    finally:
        await kafka.stop()
    say(f"    sent {len(sent)} events at {len(sent) / seconds:,.0f}/s")
    return sorted(
        (watcher.arrived[event_id] - at) * 1000 for event_id, at in sent.items() if event_id in watcher.arrived
    )


async def baseline(settings: Settings, db: asyncpg.Connection, total: int) -> float:
    """Raw: aiokafka consumes the same events topic from the start and COPYs records into a scratch table."""
    await db.execute(
        "CREATE TABLE IF NOT EXISTS bench_raw (topic text, kafka_partition int, kafka_offset bigint, "
        "message_key bytea, payload bytea)"
    )
    consumer = AIOKafkaConsumer(
        settings.topic(topics.CUSTODY_EVENTS.name),
        **settings.kafka_client_options(),
        group_id=f"{settings.topic_namespace}bench-baseline",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
    )
    await consumer.start()
    copied = 0
    started = time.perf_counter()
    try:
        while copied < total:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            rows = [(r.topic, r.partition, r.offset, r.key, r.value) for records in batch.values() for r in records]
            if not rows:
                continue
            async with db.transaction():
                await db.copy_records_to_table("bench_raw", records=rows)
            await consumer.commit()
            copied += len(rows)
        return copied / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=2, help="custody processes, one consumer group (default 2)")
    parser.add_argument("--passports", type=int, default=5000, help="passports minted (default 5000)")
    parser.add_argument("--events", type=int, default=50_000, help="events in the throughput phase (default 50000)")
    parser.add_argument("--latency-seconds", type=float, default=15.0, help="length of the latency phase")
    parser.add_argument(
        "--max-records", type=int, help="BPASS_CONSUMER_MAX_RECORDS of the custody processes (default: the setting's)"
    )
    parser.add_argument("--profile", type=Path, help="run custody under cProfile, writing this file")
    parser.add_argument(
        "--no-tracing",
        action="store_true",
        help="run custody with OTEL_SDK_DISABLED=true (no spans at all), to measure what tracing costs",
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database and topics")
    args = parser.parse_args()

    base = Settings()
    name = f"bpass_bench_custody_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(base.database_url, timeout=10)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    database_url = base.database_url.rsplit("/", 1)[0] + f"/{name}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-custody-"))
    settings = base.model_copy(
        update={
            "database_url": database_url,
            "topic_namespace": f"{name}.",
            "api_keys_file": workdir / "api-keys.json",
        }
    )
    _, operator = add_key(settings.api_keys_file, tenant=None, role=Role.platform_operator)
    env = {
        **os.environ,
        "BPASS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "BPASS_DATABASE_URL": database_url,
        "BPASS_REDIS_URL": settings.redis_url,
        "BPASS_TOPIC_NAMESPACE": settings.topic_namespace,
        "BPASS_API_KEYS_FILE": str(settings.api_keys_file),
    }
    if args.max_records:
        env["BPASS_CONSUMER_MAX_RECORDS"] = str(args.max_records)
    if args.no_tracing:
        env["OTEL_SDK_DISABLED"] = "true"
    max_records = args.max_records or settings.consumer_max_records
    processes: list[tuple[subprocess.Popen[bytes], int, Path]] = []
    say(
        f"==> starting {args.instances} custody instance(s) (database {name}, consumer group "
        f"{settings.group_id('custody')}, {topics.CUSTODY_EVENTS.partitions} partitions on the events topic, "
        f"batches of up to {max_records} records); load average {load_average()}"
    )
    for index in range(args.instances):
        port = free_port()
        log = workdir / f"custody-{index}.log"
        command = [sys.executable, "-m", "services.custody"]
        if args.profile:
            target = args.profile.resolve() if args.instances == 1 else Path(f"{args.profile.resolve()}.{index}")
            command = [sys.executable, "-m", "cProfile", "-o", str(target), "-m", "services.custody"]
        with log.open("ab") as out:
            process = subprocess.Popen(  # noqa: S603, ASYNC220
                command, cwd=REPO_ROOT, env=env | {"BPASS_CUSTODY_PORT": str(port)}, stdout=out, stderr=out
            )
        processes.append((process, port, log))
        say(f"    instance {index}: pid {process.pid}, port {port}, log {log}")
    db = await asyncpg.connect(database_url, timeout=10)
    watcher = FactWatcher(settings)
    try:
        for process, port, log in processes:
            await wait_ready(f"http://127.0.0.1:{port}", process, log)
        base_url = f"http://127.0.0.1:{processes[0][1]}"
        async with httpx.AsyncClient(base_url=base_url, timeout=10, headers={"X-API-Key": operator}) as http:
            # The OEM's delegate (write authority: it holds the OEM's batteries before their first custody step).
            delegate = [{"scheme": "oem_delegate", "value": TENANT}]
            registered = await http.post(
                "/custody/v1/handlers",
                json={"handler_id": HANDLER, "name": "Bench Carrier", "roles": ["carrier"], "identifiers": delegate},
            )
            verified = await http.post(f"/custody/v1/handlers/{HANDLER}/verify")
            if registered.status_code != 201 or verified.status_code != 200:
                raise SystemExit(f"registering the handler failed: {registered.text} {verified.text}")
        await wait_group_stable(settings, args.instances * consumers_per_instance(settings))
        say(f"==> minting {args.passports} passports (publishing minted facts)")
        started = time.perf_counter()
        passport_ids = await mint(settings, args.passports, db)
        say(f"    custody knows them after {time.perf_counter() - started:.1f}s")
        await watcher.start()
        events = Events(passport_ids)

        say("==> warm-up: 2000 events")
        await throughput(settings, events, 2000, watcher)
        say(f"==> throughput: {args.events} custody events as fast as possible; load average {load_average()}")
        pids = [process.pid for process, _, _ in processes]
        cpu_before, (busy_before, total_before) = cpu_seconds(*pids), machine_busy()
        pg_before = await postgres_cpu(db, name)
        own_before = time.process_time()
        wall_before = time.perf_counter()
        rate, _ = await throughput(settings, events, args.events, watcher)
        wall = time.perf_counter() - wall_before
        cpu = cpu_seconds(*pids) - cpu_before
        own = time.process_time() - own_before
        pg = await postgres_cpu(db, name) - pg_before
        busy_after, total_after = machine_busy()
        say(f"    {rate:,.0f} events/s end to end")
        machine = 100 * (busy_after - busy_before) / (total_after - total_before)
        say(
            f"    custody ({args.instances} process(es)): {cpu:.1f} s CPU over {wall:.1f} s "
            f"({1e6 * cpu / args.events:.0f} us/event, {100 * cpu / wall:.0f}% of one core); its PostgreSQL "
            f"backends {pg:.1f} s ({1e6 * pg / args.events:.0f} us/event); this benchmark (publisher, fact watcher) "
            f"{own:.1f} s; machine {machine:.0f}% busy ({os.cpu_count()} cores); load average {load_average()}"
        )

        half = rate / 2
        say(f"==> latency: {half:,.0f} events/s for {args.latency_seconds:.0f}s")
        latencies = await latency(settings, events, half, args.latency_seconds, watcher)
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        say(f"    p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {latencies[-1]:.0f} ms over {len(latencies)} events")
        entries = await db.fetchval("SELECT count(*) FROM custody.custody_log")
        rejected = await db.fetchval("SELECT count(*) FROM custody.inbox WHERE outcome <> 'applied'")
        say(f"    custody log: {entries} entries; {rejected} events not applied")

        total = await db.fetchval(
            "SELECT count(*) FROM custody.inbox WHERE topic = $1", settings.topic(topics.CUSTODY_EVENTS.name)
        )
        say(f"==> baseline: aiokafka -> COPY of the same {total} raw events, no logic")
        raw = await baseline(settings, db, total)
        say(f"    {raw:,.0f} events/s; load average {load_average()}")
    finally:
        await watcher.stop()
        for process, _, _ in processes:
            # SIGINT, not SIGTERM: uvicorn re-raises the signal it caught, and only an interrupt lets cProfile write.
            process.send_signal(signal.SIGINT if args.profile else signal.SIGTERM)
        for process, _, _ in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        await db.close()
        if not args.keep:
            await drop_database(base.database_url, name)
            await delete_topics(settings, [settings.topic_namespace])
    say(f"RESULT custody_instances={args.instances} processes")
    say(f"RESULT custody_ingest_events_per_s={rate:.0f} events/s")
    say(f"RESULT custody_p50_latency_ms={p50:.0f} ms")
    say(f"RESULT custody_p99_latency_ms={p99:.0f} ms")
    say(f"RESULT baseline_events_per_s={raw:.0f} events/s")
    say(f"RESULT ratio={rate / raw:.2f}")


def _run() -> Any:
    return asyncio.run(main())


if __name__ == "__main__":
    _run()
