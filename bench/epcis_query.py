"""EPCIS query benchmark: 1,000,000 captured battery-lifecycle events; selective queries, paging, subscription lag.

    python bench/epcis_query.py [--events 1000000] [--captured 20000] [--seed 7] [--queries 500] [--warm-up 50]
                                [--workers 2] [--reload] [--lag-seconds 20] [--lag-rate 5]

Target (issue 17): a selective `MATCH_epc` + event-time-window query answers with p99 under 50 ms with 1,000,000
events captured; capture -> WebSocket subscriber p99 under 500 ms.

Against the running local stack (`make stack`). The events (bench/epcis_lifecycles.py: four OEM tenants, their
plants and dealers, collectors and recyclers; commissioning, packing, shipping, receiving, selling, installing,
inspections with sensor readings, and for some an end of life through collection, loading, recycling and a
TransformationEvent, over two years of event time) live in the database `bpass_bench_epcis`:

- the first `--captured` events (whole lifecycles) are captured for real, as their handlers' documents through
  `POST /epcis/capture` of a running custody service;
- the rest are bulk-loaded with COPY of the rows the capture code builds (bench/epcis_load.py), from `--workers`
  processes, the indexes rebuilt afterwards.

The loaded database is kept, keyed by the generator's version, seed and sizes: a rerun with the same ones skips
the load (`--reload` forces it). Then, through HTTP against custody (its own process and port), as a dealer's
handler key and as an OEM key (visibility applies to both): `--warm-up` queries, then `--queries` per key of
`GET /epcis/events?MATCH_epc=<random battery>&GE_eventTime=..&LT_eventTime=..` (a 180-day window), timed at
the client; the CPU of custody and of its PostgreSQL backends per query; a large result followed page by page
through `nextPageToken`. When custody serves WebSocket subscriptions (`POST /epcis/queries`, `GET
/epcis/queries/{name}/events` upgraded), documents are captured at `--lag-rate` per second for `--lag-seconds`
and each event's capture -> arrival on the socket is timed.
Last lines: `RESULT <metric>=<value> <unit>`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from bench.custody import load_average, machine_busy, postgres_cpu  # noqa: E402
from bench.epcis_lifecycles import GENERATOR_VERSION, HANDLERS, TENANTS, lifecycle  # noqa: E402
from bench.epcis_load import (  # noqa: E402
    KNOWN_COLUMNS,
    batteries_for,
    capture_slice,
    compare_with_capture,
    drop_plain_indexes,
    known_row,
    load_chunk,
    registration,
)
from bench.epcis_subscription import subscription_lag  # noqa: E402
from bench.proc import cpu_seconds  # noqa: E402
from services.common.auth import Role, add_key  # noqa: E402
from services.common.db import init_connection  # noqa: E402
from services.common.settings import Settings  # noqa: E402

DB = "bpass_bench_epcis"
PORT_BASE = int(os.environ.get("BPASS_TEST_PORT_BASE", "9700"))
CHUNK = 1000  # batteries per bulk-load task
DEALER = "dealer-voltaris-0"
OEM = "oem-voltaris"
WINDOW = timedelta(days=180)
BULK_TABLES = ("custody_log", "epcis_event_index", "epcis_events")


def say(text: str) -> None:
    print(text, flush=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def owner_connection(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url, timeout=10, command_timeout=3600)


async def cached_load(database_url: str, key: str) -> dict[str, Any] | None:
    """What an earlier run loaded under `key`, or None (no such database, or another key)."""
    try:
        conn = await owner_connection(database_url)
    except asyncpg.InvalidCatalogNameError:
        return None
    try:
        row = await conn.fetchrow("SELECT key, info FROM public.bench_epcis_load WHERE key = $1", key)
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()
    return json.loads(row["info"]) if row else None


async def recreate_database(admin_url: str, name: str) -> None:
    admin = await owner_connection(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def migration_rewritten(log: Path) -> bool:
    """Whether custody's start refused the database because a migration it had applied was rewritten since."""
    return "MigrationChanged" in log.read_text(errors="replace")


async def wait_ready(base_url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 900) -> None:
    """Until custody answers ready: its start migrates the kept database (a migration may rewrite 1,000,000 rows)."""
    deadline = time.perf_counter() + timeout_s
    async with httpx.AsyncClient(timeout=2) as http:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                if migration_rewritten(log):
                    raise SystemExit(
                        f"custody refused the kept database: a migration it applied has been rewritten since; load "
                        f"it again with --reload (see {log})"
                    )
                raise SystemExit(f"custody exited with {process.returncode}; see {log}")
            try:
                if (await http.get(f"{base_url}/custody/health/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit(f"custody was not ready after {timeout_s:.0f}s; see {log}")


def start_custody(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.custody"],
            cwd=REPO_ROOT,
            env=env | {"BPASS_CUSTODY_PORT": str(port)},
            stdout=out,
            stderr=out,
        )


async def load(args: argparse.Namespace, settings: Settings, base_url: str, keys: dict[str, str]) -> dict[str, Any]:
    """Register the handlers, capture the slice over HTTP, bulk-load the rest; what was loaded how."""
    owner = await owner_connection(settings.database_url)
    platform = await asyncpg.connect(settings.platform_dsn(), timeout=10, command_timeout=3600)
    await init_connection(platform)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30, headers={"X-API-Key": keys["operator"]}) as http:
            for handler_id in HANDLERS:
                registered = await http.post("/custody/v1/handlers", json=registration(handler_id))
                verified = await http.post(f"/custody/v1/handlers/{handler_id}/verify", json={"reason": "bench"})
                if registered.status_code != 201 or verified.status_code != 200:
                    raise SystemExit(f"registering {handler_id} failed: {registered.text} {verified.text}")
        by_gln = {
            r["gln"]: (r["handler_id"], r["site_id"])
            for r in await platform.fetch("SELECT gln, handler_id, site_id FROM custody.handler_glns")
        }
        say(f"==> sizing: lifecycles for {args.events:,} events (seed {args.seed})")
        batteries, total = batteries_for(args.seed, args.events)
        sliced, captured_events = batteries_for(args.seed, args.captured) if args.captured else (0, 0)
        say(f"    {batteries:,} batteries, {total:,} events; the first {sliced:,} batteries ({captured_events:,} "
            f"events) captured over HTTP, the other {batteries - sliced:,} bulk-loaded")  # fmt: skip

        say(f"==> HTTP capture: {captured_events:,} events through POST /epcis/capture; load average {load_average()}")
        lives = [lifecycle(args.seed, n) for n in range(sliced)]
        await platform.copy_records_to_table(
            "known_passports", records=[known_row(life.battery) for life in lives],
            columns=KNOWN_COLUMNS[:10], schema_name="custody",
        )  # fmt: skip
        handler_keys = {h: keys[h] for h in HANDLERS}
        posted = await capture_slice(base_url, handler_keys, lives, say) if lives else {"seconds": 0.0, "events": 0}
        outcomes = {
            r["outcome"]: r["n"]
            for r in await platform.fetch("SELECT outcome, count(*) AS n FROM custody.epcis_events GROUP BY 1")
        }
        refused = await platform.fetchval(
            "SELECT coalesce(sum(jsonb_array_length(errors)), 0) FROM custody.capture_jobs"
        )
        say(f"    {posted['events']:,} events in {posted['seconds']:.1f}s "
            f"({posted['events'] / max(posted['seconds'], 1e-9):,.0f} events/s); outcomes {outcomes}, "
            f"{refused} refused")  # fmt: skip
        if sliced:
            compared = await compare_with_capture(platform, args.seed, range(min(sliced, 50)), by_gln)
            say(f"    the bulk path builds the same index rows and custody log entries as the capture did for "
                f"{compared} captured events ({min(sliced, 50)} batteries)")  # fmt: skip

        say(f"==> bulk load: {total - captured_events:,} events (COPY, {args.workers} worker processes, "
            f"indexes dropped first)")  # fmt: skip
        started = time.perf_counter()
        definitions = await drop_plain_indexes(owner, BULK_TABLES)
        done_events, broken = 0, 0
        chunks = [(n, min(n + CHUNK, batteries)) for n in range(sliced, batteries, CHUNK)]
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [
                loop.run_in_executor(pool, load_chunk, settings.platform_dsn(), args.seed, a, b, by_gln)
                for a, b in chunks
            ]
            for finished, future in enumerate(asyncio.as_completed(futures), 1):
                events, violations = await future
                done_events += events
                broken += violations
                if finished % 5 == 0 or finished == len(chunks):
                    elapsed = time.perf_counter() - started
                    rate = done_events / elapsed
                    eta = (total - captured_events - done_events) / rate if rate else 0
                    say(f"    COPY {done_events:>9,} / {total - captured_events:,} events ({rate:,.0f}/s, "
                        f"{elapsed:.0f}s, about {eta:.0f}s to go); load average {load_average()}")  # fmt: skip
        copied = time.perf_counter() - started
        say(f"    rows in {copied:.0f}s; custody rule violations in the bulk lifecycles: {broken}")
        say(f"==> rebuilding {len(definitions)} indexes")
        await owner.execute("SET maintenance_work_mem = '1GB'")
        for definition in definitions:
            began = time.perf_counter()
            await owner.execute(definition)
            name = definition.split(" ON ")[0].removeprefix("CREATE INDEX ")
            say(f"    {name} in {time.perf_counter() - began:.0f}s")
        for table in (*BULK_TABLES, "known_passports"):
            await owner.execute(f"VACUUM ANALYZE custody.{table}")
        bulk_seconds = time.perf_counter() - started
        info = {
            "batteries": batteries,
            "events": total,
            "http_events": posted["events"],
            "http_seconds": round(posted["seconds"], 1),
            "http_outcomes": outcomes,
            "http_refused": refused,
            "bulk_events": done_events,
            "bulk_copy_seconds": round(copied, 1),
            "bulk_seconds_with_indexes": round(bulk_seconds, 1),
            "bulk_rule_violations": broken,
        }
        await owner.execute("CREATE TABLE public.bench_epcis_load (key text PRIMARY KEY, info jsonb NOT NULL)")
        await owner.execute("INSERT INTO public.bench_epcis_load VALUES ($1, $2)", cache_key(args), json.dumps(info))
        return info
    finally:
        await platform.close()
        await owner.close()


def cache_key(args: argparse.Namespace) -> str:
    return f"v{GENERATOR_VERSION}-seed{args.seed}-events{args.events}-captured{args.captured}"


def selective_queries(args: argparse.Namespace, batteries: int, count: int, role: str, rng: random.Random) -> list[Any]:
    """(params, expect_visible) of MATCH_epc + 180-day window queries: mostly batteries the reader may see."""
    queries: list[tuple[dict[str, str], bool]] = []
    tenant_index = TENANTS.index(OEM)
    while len(queries) < count:
        number = rng.randrange(batteries // len(TENANTS)) * len(TENANTS) + tenant_index
        own = rng.random() < 0.85
        if not own:
            number += rng.randrange(1, len(TENANTS))  # another tenant's battery: must answer nothing
        life = lifecycle(args.seed, min(number, batteries - 1))
        dealer = next(c for c, _ in life.events if c.startswith("dealer-"))
        visible = life.battery.tenant == OEM and (role == "oem" or dealer == DEALER)
        if role == "handler" and own and not visible and rng.random() < 0.8:
            continue  # mostly the dealer's own batteries, some of the other dealer's
        first = life.battery.minted_at + timedelta(days=rng.uniform(0, 300))
        params = {
            "MATCH_epc": life.battery.epc,
            "GE_eventTime": first.isoformat().replace("+00:00", "Z"),
            "LT_eventTime": (first + WINDOW).isoformat().replace("+00:00", "Z"),
        }
        queries.append((params, visible))
    return queries


def held_batteries(args: argparse.Namespace, batteries: int, count: int) -> list[str]:
    """EPCs of batteries DEALER holds (sold, installed, still in service): it may record their inspections."""
    held: list[str] = []
    rng = random.Random(args.seed + 1)
    while len(held) < count:
        life = lifecycle(args.seed, rng.randrange(batteries // len(TENANTS)) * len(TENANTS) + TENANTS.index(OEM))
        capturers = {c for c, _ in life.events}
        if DEALER in capturers and not capturers - {DEALER, f"plant-{OEM[4:]}"}:
            held.append(life.battery.epc)
    return held


async def run_queries(
    http: httpx.AsyncClient, key: str, queries: list[tuple[dict[str, str], bool]], max_failures: int
) -> tuple[list[float], int, int, int, list[str]]:
    """Latencies (ms, failed answers included), events answered, queries answering any, answers that showed an
    invisible event, failures (status and reason; a request that failed is timed as it failed). Stops after
    `max_failures` failures (each may hold custody's connection for its whole statement timeout)."""
    latencies: list[float] = []
    failures: list[str] = []
    events, answered, leaks = 0, 0, 0
    for params, visible in queries:
        if len(failures) >= max_failures:
            break
        began = time.perf_counter()
        try:
            response = await http.get("/epcis/events", params=params, headers={"X-API-Key": key})
        except httpx.TransportError as error:  # a timeout, or the connection dropped by a failing request
            latencies.append((time.perf_counter() - began) * 1000)
            failures.append(type(error).__name__)
            continue
        latencies.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            failures.append(f"{response.status_code} {response.json().get('reason', '')}")
            continue
        found = len(response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"])
        events += found
        answered += found > 0
        leaks += found > 0 and not visible
    return latencies, events, answered, leaks, failures


async def paging(http: httpx.AsyncClient, key: str, params: dict[str, str]) -> dict[str, Any]:
    """Follow nextPageToken through a large result: per-page latencies, events, duplicates."""
    target: str | None = "/epcis/events"
    query: dict[str, str] | None = params
    page_ms: list[float] = []
    seen: set[str] = set()
    duplicates = 0
    began = time.perf_counter()
    failed = None
    while target:
        start = time.perf_counter()
        try:
            response = await http.get(target, params=query, headers={"X-API-Key": key})
        except httpx.TransportError as error:
            failed = type(error).__name__
        page_ms.append((time.perf_counter() - start) * 1000)
        if failed is None and response.status_code != 200:
            failed = f"{response.status_code} {response.json().get('reason', '')}"
        if failed is not None:
            break
        for event in response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]:
            duplicates += event["eventID"] in seen
            seen.add(event["eventID"])
        link = response.headers.get("Link")
        target, query = (link[1 : link.index(">")], None) if link else (None, None)
    return {"pages": len(page_ms), "events": len(seen), "duplicates": duplicates, "page_ms": page_ms,
            "seconds": time.perf_counter() - began, "failed": failed}  # fmt: skip


def make_keys(path: Path) -> dict[str, str]:
    keys = {
        "operator": add_key(path, tenant=None, role=Role.platform_operator)[1],
        "regulator": add_key(path, tenant=None, role=Role.regulator)[1],
    }
    for handler_id, handler in HANDLERS.items():
        role = Role.carrier
        if "collector" in handler.roles or "recycler" in handler.roles:
            role = Role.collector if "collector" in handler.roles else Role.recycler
        keys[handler_id] = add_key(path, tenant=handler_id, role=role)[1]
    for tenant in TENANTS:
        keys[tenant] = add_key(path, tenant=tenant, role=Role.oem_admin)[1]
    return keys


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the database (default 1000000)")
    parser.add_argument("--captured", type=int, default=20_000, help="of them captured over HTTP (default 20000)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument("--queries", type=int, default=500, help="timed queries per key (default 500)")
    parser.add_argument("--warm-up", type=int, default=50, help="untimed queries per key first (default 50)")
    parser.add_argument("--workers", type=int, default=2, help="bulk-load processes (default 2)")
    parser.add_argument(
        "--max-failures", type=int, default=10, help="stop a reader's queries after this many failed (default 10)"
    )
    parser.add_argument("--only-lag", action="store_true", help="measure the subscription lag alone")
    parser.add_argument("--database", default=DB, help=f"the database the events are kept in (default {DB})")
    parser.add_argument("--reload", action="store_true", help="load again even when a matching load is cached")
    parser.add_argument("--lag-seconds", type=float, default=20.0, help="length of the subscription-lag phase")
    parser.add_argument("--lag-rate", type=float, default=5.0, help="documents captured per second in that phase")
    parser.add_argument("--port", type=int, default=PORT_BASE + 61, help="custody's port (default port base + 61)")
    args = parser.parse_args()

    base = Settings()
    database_url = base.database_url.rsplit("/", 1)[0] + f"/{args.database}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-epcis-"))
    settings = base.model_copy(
        update={
            "database_url": database_url,
            "topic_namespace": f"{args.database}.",
            "api_keys_file": workdir / "api-keys.json",
        }
    )
    keys = make_keys(settings.api_keys_file)
    cached = None if args.reload else await cached_load(database_url, cache_key(args))
    if cached is None:
        say(f"==> database {args.database}: (re)created for {cache_key(args)}")
        await recreate_database(base.database_url, args.database)
    env = {
        **os.environ,
        "BPASS_DATABASE_URL": database_url,
        "BPASS_TOPIC_NAMESPACE": settings.topic_namespace,
        "BPASS_API_KEYS_FILE": str(settings.api_keys_file),
    }
    log = workdir / "custody.log"
    process = start_custody(env, args.port, log)
    base_url = f"http://127.0.0.1:{args.port}"
    say(f"==> custody: pid {process.pid}, port {args.port}, log {log}; load average {load_average()}")
    try:
        await wait_ready(base_url, process, log)
        if cached is None:
            info = await load(args, settings, base_url, keys)
        else:
            info = cached
            say(f"==> reusing the events loaded earlier under {cache_key(args)} (--reload to load again)")
        say(f"    {info['events']:,} events: {info['http_events']:,} captured over HTTP in {info['http_seconds']}s "
            f"(outcomes {info['http_outcomes']}, {info['http_refused']} refused), {info['bulk_events']:,} "
            f"bulk-loaded by COPY in {info['bulk_copy_seconds']}s ({info['bulk_seconds_with_indexes']}s with the "
            f"index rebuild)")  # fmt: skip
        figures: dict[str, Any] = {"results": []}
        if not args.only_lag:
            figures = await measure(args, settings, base_url, keys, process.pid, info["batteries"])
        held = held_batteries(args, info["batteries"], 50)
        figures.update(await subscription_lag(base_url, keys, args, say, OEM, DEALER, held))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    for line in figures["results"]:
        say(line)
    for name, value, unit in figures.get("lag_results", []):
        say(f"RESULT {name}={value} {unit}")


async def measure(
    args: argparse.Namespace, settings: Settings, base_url: str, keys: dict[str, str], pid: int, batteries: int
) -> dict[str, Any]:
    rng = random.Random(args.seed)
    monitor = await owner_connection(settings.database_url)
    results: list[str] = []
    all_latencies: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            for label, key, role in (("handler", keys[DEALER], "handler"), ("OEM", keys[OEM], "oem")):
                warm = selective_queries(args, batteries, args.warm_up, role, rng)
                timed = selective_queries(args, batteries, args.queries, role, rng)
                reader = DEALER if role == "handler" else OEM
                say(f"==> {label} key ({reader}): {args.warm_up} warm-up queries, then {args.queries} MATCH_epc + "
                    f"180-day window queries; load average {load_average()}")  # fmt: skip
                await run_queries(http, key, warm, args.max_failures)
                cpu_before, pg_before = cpu_seconds(pid), await postgres_cpu(monitor, args.database)
                busy_before, total_before = machine_busy()
                latencies, events, answered, leaks, failures = await run_queries(http, key, timed, args.max_failures)
                cpu, pg = cpu_seconds(pid) - cpu_before, await postgres_cpu(monitor, args.database) - pg_before
                busy_after, total_after = machine_busy()
                machine = 100 * (busy_after - busy_before) / (total_after - total_before)
                all_latencies += latencies
                ran = len(latencies)
                stopped = f" (stopped after {ran} queries: {len(failures)} failed)" if ran < len(timed) else ""
                say(f"    p50 {statistics.median(latencies):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
                    f"max {max(latencies):.1f} ms; {answered} of {ran} answered events ({events} in all), "
                    f"{leaks} showed another party's event; {len(failures)} failed "
                    f"{dict(collections.Counter(failures))}{stopped}")  # fmt: skip
                say(f"    CPU per query: custody {1e6 * cpu / ran:,.0f} us, PostgreSQL {1e6 * pg / ran:,.0f} us; "
                    f"machine {machine:.0f}% busy ({os.cpu_count()} cores), load average {load_average()}")  # fmt: skip
                results.append(f"RESULT epcis_query_{role}_p50_ms={statistics.median(latencies):.1f} ms")
                results.append(f"RESULT epcis_query_{role}_p99_ms={percentile(latencies, 0.99):.1f} ms")
                results.append(f"RESULT epcis_query_{role}_failed={len(failures)} queries")
                results.append(f"RESULT epcis_query_{role}_cpu_us_per_query={1e6 * (cpu + pg) / ran:.0f} us")
                if leaks:
                    raise SystemExit(f"{leaks} answers showed events the {label} key may not see")
            params = {"GE_eventTime": "2026-03-01T00:00:00Z", "LT_eventTime": "2026-03-15T00:00:00Z", "perPage": "100"}
            for label, key in (("OEM", keys[OEM]), ("regulator", keys["regulator"])):
                say(f"==> paging: {label} key, every event it sees of 14 days ({params}), following nextPageToken")
                paged = await paging(http, key, params)
                page_ms = paged["page_ms"]
                failed = f"; page {paged['pages']} failed ({paged['failed']})" if paged["failed"] else ""
                say(f"    {paged['events']:,} events in {paged['pages']} pages, {paged['seconds']:.1f}s; per page p50 "
                    f"{statistics.median(page_ms):.1f} ms, p99 {percentile(page_ms, 0.99):.1f} ms, first "
                    f"{page_ms[0]:.1f} ms, last {page_ms[-1]:.1f} ms; {paged['duplicates']} duplicates"
                    f"{failed}")  # fmt: skip
                name = label.lower()
                results.append(f"RESULT epcis_query_paging_{name}_page_p99_ms={percentile(page_ms, 0.99):.1f} ms")
                results.append(
                    f"RESULT epcis_query_paging_{name}_events_per_s={paged['events'] / paged['seconds']:.0f} events/s"
                )
    finally:
        await monitor.close()
    return {
        "results": [
            *results,
            f"RESULT epcis_query_p50_ms={statistics.median(all_latencies):.1f} ms",
            f"RESULT epcis_query_p99_ms={percentile(all_latencies, 0.99):.1f} ms",
        ]
    }


if __name__ == "__main__":
    asyncio.run(main())
