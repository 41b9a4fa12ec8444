"""Telemetry ingest benchmark: BMS readings published to Kafka → validated → stored (batched) in PostgreSQL.

Runs against the local stack (`make stack`): starts its own custody process on a free port, in its own topic
namespace and database, registers the passports by publishing minted facts, then publishes the readings as
fast as it can and measures until every reading is stored.

    python bench/telemetry.py [--passports 1000] [--messages 20000] [--readings-per-message 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bpass.examples import valid_static_data  # noqa: E402
from contracts import topics  # noqa: E402
from contracts.envelope import Envelope  # noqa: E402
from contracts.identity import PassportMinted  # noqa: E402
from contracts.passport_data import BatteryCategory, BatteryKind, PassportSubject  # noqa: E402
from contracts.telemetry import Reading, TelemetryMetric, TelemetryReported  # noqa: E402
from services.common.settings import Settings  # noqa: E402


def headers(message: TelemetryReported | PassportMinted, source: str) -> list[tuple[str, bytes]]:
    return Envelope(id=str(uuid.uuid4()), source=source, type=message.event_type, time=datetime.now(UTC)).to_headers()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passports", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--readings-per-message", type=int, default=10)
    parser.add_argument("--port", type=int, default=8792)
    args = parser.parse_args()

    base = Settings()
    name = f"bench_telemetry_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(base.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    database_url = base.database_url.rsplit("/", 1)[0] + f"/{name}"
    settings = base.model_copy(update={"database_url": database_url, "topic_namespace": f"{name}."})
    env = {
        **os.environ,
        "BPASS_DATABASE_URL": database_url,
        "BPASS_TOPIC_NAMESPACE": settings.topic_namespace,
        "BPASS_CUSTODY_PORT": str(args.port),
        "BPASS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
    }
    log = (ROOT / "var" / f"{name}.log").open("wb")
    custody = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.custody", cwd=ROOT, env=env, stdout=log, stderr=log
    )
    producer = AIOKafkaProducer(
        **settings.kafka_client_options(),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=512 * 1024,
    )
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            for _ in range(120):
                try:
                    if (await http.get(f"http://127.0.0.1:{args.port}/custody/health/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
        print(f"custody ready (namespace {settings.topic_namespace}, database {name})", flush=True)
        await producer.start()
        passport_ids = [f"urn:uuid:{uuid.uuid4()}" for _ in range(args.passports)]
        static = valid_static_data(BatteryCategory.ev)
        for pid in passport_ids:
            fact = PassportMinted(
                passport_id=pid,
                tenant="bench-oem",
                subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=f"B-{pid[-12:]}"),
                category=BatteryCategory.ev,
                public_uri=f"https://p.example/p/{pid[9:]}",
                static_data=static,
                version=1,
                minted_at=datetime.now(UTC),
                minted_by="bench",
            )
            await producer.send(
                settings.topic(topics.PASSPORT_MINTED.name),
                fact.model_dump_json().encode(),
                key=pid.encode(),
                headers=headers(fact, "urn:bpass:service:identity"),
            )
        await producer.flush()
        db = await asyncpg.connect(database_url)
        while await db.fetchval("SELECT count(*) FROM custody.known_passports") < args.passports:
            await asyncio.sleep(0.2)
        print(
            f"{args.passports} passports known to custody; publishing {args.messages} messages "
            f"x {args.readings_per_message} readings",
            flush=True,
        )

        metrics = list(TelemetryMetric)[:8]
        start_at = datetime.now(UTC) - timedelta(days=30)
        bodies = []
        for n in range(args.messages):
            pid = passport_ids[n % len(passport_ids)]
            readings = [
                Reading(
                    metric=metrics[k % len(metrics)],
                    value=Decimal(50 + (n + k) % 50),
                    measured_at=start_at + timedelta(seconds=n * 10 + k),
                )
                for k in range(args.readings_per_message)
            ]
            message = TelemetryReported(passport_id=pid, source_system="bench-bms", readings=readings)
            bodies.append((pid, message.model_dump_json().encode(), headers(message, "urn:bpass:handler:bench-bms")))
        total = args.messages * args.readings_per_message
        started = time.perf_counter()
        topic = settings.topic(topics.TELEMETRY.name)
        for pid, body, hdrs in bodies:
            await producer.send(topic, body, key=pid.encode(), headers=hdrs)
        await producer.flush()
        published = time.perf_counter() - started
        print(f"published {total} readings in {published:.1f}s", flush=True)
        stored = 0
        while stored < total:
            await asyncio.sleep(0.5)
            stored = await db.fetchval("SELECT count(*) FROM custody.telemetry_readings")
            print(f"  stored {stored}/{total} ({stored / (time.perf_counter() - started):.0f} readings/s)", flush=True)
            if time.perf_counter() - started > 600:
                raise SystemExit("did not finish within 10 minutes")
        elapsed = time.perf_counter() - started
        await db.close()
        print(f"RESULT telemetry_readings_per_s={total / elapsed:.0f} readings/s")
        print(f"RESULT telemetry_messages_per_s={args.messages / elapsed:.0f} messages/s")
    finally:
        await producer.stop()
        custody.terminate()
        await asyncio.wait_for(custody.wait(), 20)
        log.close()


if __name__ == "__main__":
    asyncio.run(main())
