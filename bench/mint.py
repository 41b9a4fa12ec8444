"""Bulk mint benchmark: one HTTP request of N passports, end to end, against the running local stack.

    python bench/mint.py [--count 100000] [--body shared|full] [--retry] [--keep]

Starts the identity service as a subprocess on a free port, in its own topic namespace and its own database
(`bpass_bench_<hex>` on the stack's PostgreSQL), sends ONE `POST /identity/v1/passports:bulk` of N EV
passports, then waits until N `PassportMinted` facts are on the namespaced passport-minted topic (counted by
end offsets). QR images are not rendered at mint (they are rendered on demand), so they are not part of this.

`--body shared` (default) sends the model-level static data once (`defaults.static_data`) and per passport
only its subject; `--body full` repeats the complete static data in every passport (~5.8 kB each), the shape
a system without defaults would send. `--retry` sends the same request again and checks it mints nothing.

Figures (last lines): HTTP response time, time until every fact is on Kafka, passports per second over the
latter, and the baseline of a raw PostgreSQL COPY of the same number of passport rows on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402
from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: E402

from bpass.examples import EXAMPLE_GTIN, valid_static_payload  # noqa: E402
from bpass.gtin import EXAMPLE_PREFIX, ensure_verified_prefix  # noqa: E402
from contracts import topics  # noqa: E402
from contracts.attributes import BatteryCategory  # noqa: E402
from services.common.auth import Role, add_key  # noqa: E402
from services.common.messaging import delete_topics  # noqa: E402
from services.common.settings import Settings  # noqa: E402

TENANT = "bench-oem"


def say(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def build_body(count: int, shape: str, run: str) -> bytes:
    static = valid_static_payload(BatteryCategory.ev)
    subjects = [
        {"kind": "battery", "battery_identifier": f"B{run}-{i:07d}", "gtin": EXAMPLE_GTIN, "batch_number": "L2026-03"}
        for i in range(count)
    ]
    if shape == "full":
        body: dict[str, Any] = {
            "passports": [
                {"subject": subject, "category": "ev", "product_family": "VX-400", "static_data": static}
                for subject in subjects
            ]
        }
    else:
        body = {
            "defaults": {"category": "ev", "product_family": "VX-400", "static_data": static},
            "passports": [{"subject": subject} for subject in subjects],
        }
    return orjson.dumps(body)


async def create_database(settings: Settings, name: str) -> str:
    conn = await asyncpg.connect(settings.database_url, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = settings.database_url.rpartition("/")
    return f"{base}/{name}"


async def drop_database(settings: Settings, name: str) -> None:
    conn = await asyncpg.connect(settings.database_url, timeout=10)
    try:
        for _ in range(30):
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except asyncpg.InsufficientPrivilegeError:  # an autovacuum worker is still on it: wait for it
                await asyncio.sleep(1.0)
        say(f"could not drop database {name}; drop it by hand")
    finally:
        await conn.close()


async def copy_baseline(database_url: str, count: int) -> float:
    """Seconds for a raw COPY of `count` passport-shaped rows into an unlogged-free scratch table."""
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        await conn.execute(
            "CREATE TABLE copy_baseline (passport_id text PRIMARY KEY, tenant text, battery_identifier text, "
            "public_uri text, minted_at timestamptz, UNIQUE (tenant, battery_identifier))"
        )
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        rows = [
            (
                f"urn:uuid:{uuid.uuid4()}",
                TENANT,
                f"X-{i:07d}",
                f"https://id.example/01/{EXAMPLE_GTIN}/21/X-{i:07d}",
                now,
            )
            for i in range(count)
        ]
        started = time.perf_counter()
        await conn.copy_records_to_table("copy_baseline", records=rows)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def minted_count(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> int:
    ends = await consumer.end_offsets(tps)
    return sum(ends.values())


async def wait_ready(base_url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"identity exited with {process.returncode}:\n{tail(log_path)}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base_url}/identity/health/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise SystemExit(f"identity not ready after {timeout}s:\n{tail(log_path)}")


def tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:]


async def run(args: argparse.Namespace) -> None:
    base = Settings()
    run_id = uuid.uuid4().hex[:8]
    database = f"bpass_bench_{run_id}"
    namespace = f"bench{run_id}."
    workdir = Path(tempfile.mkdtemp(prefix="bpass-bench-mint-"))
    keyring = workdir / "api-keys.json"
    _, key = add_key(keyring, tenant=TENANT, role=Role.oem_admin)
    _, operator_key = add_key(keyring, tenant=None, role=Role.platform_operator)
    port = free_port()
    database_url = await create_database(base, database)
    settings = base.model_copy(update={"database_url": database_url, "topic_namespace": namespace})
    topic = settings.topic(topics.PASSPORT_MINTED.name)
    log_path = workdir / "identity.log"
    env = {
        **os.environ,
        "BPASS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "BPASS_DATABASE_URL": database_url,
        "BPASS_REDIS_URL": settings.redis_url,
        "BPASS_TOPIC_NAMESPACE": namespace,
        "BPASS_API_KEYS_FILE": str(keyring),
        "BPASS_IDENTITY_PORT": str(port),
        "BPASS_PUBLIC_BASE_URL": "https://id.voltaris.example",
    }
    if args.relay_batch_size:
        env["BPASS_RELAY_BATCH_SIZE"] = str(args.relay_batch_size)
    say(f"==> identity on :{port}, database {database}, topic namespace {namespace} (log {log_path})")
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
            [sys.executable, "-m", "services.identity"], cwd=REPO_ROOT, env=env, stdout=log, stderr=log
        )
    base_url = f"http://127.0.0.1:{port}"
    consumer = AIOKafkaConsumer(**settings.kafka_client_options(), enable_auto_commit=False)
    try:
        await wait_ready(base_url, process, log_path)
        async with httpx.AsyncClient(timeout=30) as http:  # the tenant mints under its verified GS1 prefix
            await ensure_verified_prefix(http, base_url, key, operator_key, EXAMPLE_PREFIX)
        await consumer.start()
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0, 1, 2})]
        before = await minted_count(consumer, tps)

        started = time.perf_counter()
        body = build_body(args.count, args.body, run_id)
        say(
            f"==> request body: {args.count:,} passports, {len(body) / 1e6:.1f} MB ({args.body} static data); "
            f"built in {time.perf_counter() - started:.2f}s"
        )
        headers = {"X-API-Key": key, "Content-Type": "application/json"}
        async with httpx.AsyncClient(timeout=args.timeout) as http:
            say(f"==> POST /identity/v1/passports:bulk ({args.count:,} passports)")
            done = asyncio.Event()

            async def progress() -> None:
                while not done.is_set():
                    await asyncio.sleep(1.0)
                    published = await minted_count(consumer, tps) - before
                    say(f"    {time.perf_counter() - t0:6.1f}s  facts on Kafka: {published:,}")

            t0 = time.perf_counter()
            reporter = asyncio.create_task(progress())
            response = await http.post(f"{base_url}/identity/v1/passports:bulk", content=body, headers=headers)
            t_response = time.perf_counter() - t0
            if response.status_code != 200:
                done.set()
                raise SystemExit(f"bulk mint failed: HTTP {response.status_code}: {response.text[:2000]}")
            result = response.json()
            say(f"    HTTP 200 after {t_response:.2f}s: minted {result['minted']:,}, existing {result['existing']:,}")
            while await minted_count(consumer, tps) - before < args.count:
                if time.perf_counter() - t0 > args.timeout:
                    done.set()
                    raise SystemExit(f"not all facts published after {args.timeout}s")
                await asyncio.sleep(0.05)
            t_all = time.perf_counter() - t0
            done.set()
            reporter.cancel()
            say(f"    all {args.count:,} minted facts on Kafka after {t_all:.2f}s")

            if args.retry:
                t1 = time.perf_counter()
                again = await http.post(f"{base_url}/identity/v1/passports:bulk", content=body, headers=headers)
                t_retry = time.perf_counter() - t1
                second = again.json()
                same = [p["passport_id"] for p in second["passports"]] == [
                    p["passport_id"] for p in result["passports"]
                ]
                await asyncio.sleep(1.0)
                extra = await minted_count(consumer, tps) - before - args.count
                say(
                    f"==> retry: HTTP {again.status_code} after {t_retry:.2f}s, minted {second['minted']}, "
                    f"existing {second['existing']:,}, same passport ids: {same}, extra facts: {extra}"
                )

        say("==> baseline: raw PostgreSQL COPY of the same number of passport rows")
        t_copy = await copy_baseline(database_url, args.count)
        say(f"    COPY of {args.count:,} rows: {t_copy:.2f}s")
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        if not args.keep:
            await cleanup(settings, base, database, namespace)
    per_s = args.count / t_all
    say(f"RESULT mint_http_response_seconds={t_response:.2f} s")
    say(f"RESULT copy_baseline_seconds={t_copy:.2f} s")
    say(f"RESULT mint_100k_seconds={t_all * 100_000 / args.count:.2f} s")
    say(f"RESULT mint_passports_per_s={per_s:.0f} passports/s")


async def cleanup(settings: Settings, base: Settings, database: str, namespace: str) -> None:
    await delete_topics(settings, [namespace])
    await drop_database(base, database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="passports in the one bulk request")
    parser.add_argument("--body", choices=["shared", "full"], default="shared", help="request body shape")
    parser.add_argument("--retry", action="store_true", help="send the same request again; it must mint nothing")
    parser.add_argument("--relay-batch-size", type=int, default=0, help="BPASS_RELAY_BATCH_SIZE of the service")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before giving up")
    parser.add_argument("--keep", action="store_true", help="keep the database and topics afterwards")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
