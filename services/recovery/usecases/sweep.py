"""A background use case: the periodic look at parked treatment batches: those that have waited longer than
`BPASS_RECOVERY_PARKING_MAX_AGE_S` for the passports they name to be minted or for their custody are refused on
`bpass.recovery.rejected.v1` with `reference_never_appeared` (a batch is also refused so when a fact makes recovery
look at it after that time, and it still waits)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import asyncpg
from prometheus_client import Gauge

from contracts import topics
from contracts.envelope import service_source
from services.common.outbox import Outbox
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.common.unit_of_work import UnitOfWork
from services.recovery import store
from services.recovery.config import recovery_settings
from services.recovery.usecases.parking import refuse_expired

log = logging.getLogger(__name__)
SERVICE = "recovery"
SWEEP_LIMIT = 100  # batches per transaction

# What an operator watches: batches waiting for facts that have not arrived, and how long the oldest has waited
# (it is refused at BPASS_RECOVERY_PARKING_MAX_AGE_S). Set after every sweep.
PARKED_BATCHES = Gauge("bpass_recovery_parked_batches", "Treatment batches parked, waiting for mint or custody facts")
OLDEST_PARKED_SECONDS = Gauge(
    "bpass_recovery_oldest_parked_seconds", "How long the oldest parked treatment batch has waited (0: none parked)"
)


async def observe_parked(pool: asyncpg.Pool) -> tuple[int, float]:
    """Set the parked-batch gauges; returns (batches parked, seconds the oldest has waited)."""
    count, oldest = await store.parked_summary(pool)
    PARKED_BATCHES.set(count)
    OLDEST_PARKED_SECONDS.set(oldest)
    return count, oldest


async def sweep_parked(pool: asyncpg.Pool, settings: Settings, max_age: timedelta) -> int:
    """Refuse every batch parked longer than `max_age` (a transaction per `SWEEP_LIMIT`); returns how many."""
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            outbox = Outbox(service_source(SERVICE))
            uow = UnitOfWork(conn, outbox, SERVICE, settings, settings.topic(topics.RECOVERY_REJECTED.name))
            decided = await refuse_expired(uow, max_age, SWEEP_LIMIT)
            await outbox.flush(conn)
        total += decided
        if decided < SWEEP_LIMIT:
            return total


async def sweep_forever(runtime: Runtime) -> None:
    config = recovery_settings()
    while True:
        try:
            decided = await sweep_parked(runtime.platform_pool, runtime.settings, config.parking_max_age)
            if decided:
                log.info("refused %d parked treatment batch(es) that waited too long", decided)
            await observe_parked(runtime.platform_pool)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("parked batch sweep failed (%r); trying again in %.0f s", exc, config.parking_sweep_interval_s)
        await asyncio.sleep(config.parking_sweep_interval_s)


async def start_sweep(runtime: Runtime) -> None:
    runtime.background.append(asyncio.create_task(sweep_forever(runtime), name="recovery-parking-sweep"))
