"""The webhook delivery worker: a background task of every custody instance (several are safe: deliveries are
leased with `FOR UPDATE SKIP LOCKED`, `store.claim_due`). Each attempt POSTs the EPCISQueryDocument of the
delivery (`queryResults` with `subscriptionID` and `queryName`, as the REST binding's callback says) signed with
the subscriber's token (`signing.py`), to the address the destination check resolved (`destination.py`), with a
timeout and no redirects. A 2xx answer delivers it; anything else is retried with exponential back-off and jitter
until `epcis_webhook_max_attempts` or `epcis_webhook_max_age_s`, then the delivery is `failed`. Every attempt is
logged (`GET .../subscriptions/{id}/deliveries`). A subscription's deliveries go out in order, one at a time.

The worker wakes when this process's consumer commits new deliveries (`wake`), and otherwise every
`POLL_INTERVAL_S` (retries falling due, deliveries another instance's consumer wrote, lapsed leases).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg
import httpx
import orjson
from prometheus_client import Counter, Gauge, Histogram

from services.common.runtime import Runtime
from services.common.settings import Settings
from services.custody.subscriptions.webhooks import store
from services.custody.subscriptions.webhooks.destination import DestinationRefused, resolve
from services.custody.subscriptions.webhooks.signing import SIGNATURE_HEADER, signature

log = logging.getLogger(__name__)

POLL_INTERVAL_S: Final = 0.5
IN_FLIGHT: Final = 16  # attempts one instance makes at once (one per subscription at most)
LEASE_MARGIN_S: Final = 10.0  # beyond the timeout: an attempt that outlives its lease was cut off
METRICS_INTERVAL_S: Final = 10.0
EPCIS_CONTEXT: Final = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
INTERRUPTED: Final = "interrupted: the instance sending it stopped before the receiver's answer was recorded"
ERROR_TEXT_MAX: Final = 500
DATABASE_ERRORS: Final = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)

DELIVERIES = Gauge(
    "bpass_epcis_webhook_deliveries",
    "EPCIS webhook deliveries not delivered, by status (pending, failed)",
    ["service", "status"],
)
ATTEMPTS = Counter(
    "bpass_epcis_webhook_attempts_total",
    "EPCIS webhook delivery attempts by outcome (delivered; retry: failed, tried again; failed: the last one)",
    ["service", "outcome"],
)
LAG_SECONDS = Histogram(
    "bpass_epcis_webhook_lag_seconds",
    "From an EPCIS capture's record time to its webhook delivery being answered 2xx",
    ["service"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
STATUSES: Final = ("pending", "failed")
OUTCOMES: Final = ("delivered", "retry", "failed")

_wake = asyncio.Event()


async def wake() -> None:
    """New deliveries were committed: the worker looks now rather than at its next poll."""
    _wake.set()


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float
    cap_s: float
    max_attempts: int
    max_age_s: float

    @classmethod
    def of(cls, settings: Settings) -> RetryPolicy:
        return cls(
            settings.epcis_webhook_backoff_s,
            settings.epcis_webhook_backoff_max_s,
            settings.epcis_webhook_max_attempts,
            settings.epcis_webhook_max_age_s,
        )

    def delay_s(self, attempts: int, rng: random.Random | None = None) -> float:
        """Wait after the `attempts`-th failed attempt: base * 2^(attempts-1), capped, with "equal jitter" (between
        half of it and all of it) so that the retries of many deliveries do not fall due together."""
        full: float = min(self.cap_s, self.base_s * 2.0 ** min(attempts - 1, 62))
        jitter: float = (rng or random).uniform(0, full / 2)
        return full / 2 + jitter

    def gives_up(self, attempts: int, age_s: float) -> bool:
        return attempts >= self.max_attempts or age_s >= self.max_age_s


def query_document(claimed: store.Claimed, created: datetime) -> dict[str, Any]:
    context = [EPCIS_CONTEXT, *[c for c in claimed.context if c != EPCIS_CONTEXT]]
    return {
        "@context": context,
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "epcisBody": {
            "queryResults": {
                "subscriptionID": str(claimed.subscription_id),
                "queryName": claimed.query_name,
                "resultsBody": {"eventList": claimed.events},
            }
        },
    }


class DeliveryWorker:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, service: str = "custody") -> None:
        self.pool = pool
        self.service = service
        for status in STATUSES:  # every series from the start, at zero
            DELIVERIES.labels(service, status)
        for outcome in OUTCOMES:
            ATTEMPTS.labels(service, outcome)
        LAG_SECONDS.labels(service)
        self.settings = settings
        self.policy = RetryPolicy.of(settings)
        self.timeout_s = settings.epcis_webhook_timeout_s
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s), follow_redirects=False, trust_env=False)
        self.running: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        next_metrics = 0.0
        try:
            while True:
                free = IN_FLIGHT - len(self.running)
                claimed: list[store.Claimed] = []
                if free > 0:
                    try:
                        claimed = await store.claim_due(self.pool, free, self.timeout_s + LEASE_MARGIN_S)
                    except DATABASE_ERRORS as exc:
                        log.warning("webhook deliveries not claimed (%r); trying again", exc)
                for item in claimed:
                    task = asyncio.create_task(self.attempt(item), name=f"webhook-{item.delivery_id}")
                    self.running.add(task)
                    task.add_done_callback(self.running.discard)
                if time.monotonic() >= next_metrics:
                    next_metrics = time.monotonic() + METRICS_INTERVAL_S
                    await self.measure()
                if claimed and len(claimed) == free:
                    await asyncio.sleep(0)  # more may be due: claim again once a slot is free
                    if len(self.running) >= IN_FLIGHT:
                        await asyncio.wait(self.running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                await self.idle()
        finally:
            await self.stop()

    async def idle(self) -> None:
        """Until new deliveries are committed here, an attempt ends (its subscription's next may be due), or the
        poll interval passes."""
        waiter = asyncio.create_task(_wake.wait())
        try:
            await asyncio.wait({waiter, *self.running}, timeout=POLL_INTERVAL_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            _wake.clear()

    async def stop(self) -> None:
        for task in list(self.running):
            task.cancel()
        if self.running:
            await asyncio.wait(self.running, timeout=5)
        await self.client.aclose()

    async def measure(self) -> None:
        try:
            counts = await store.backlog(self.pool)
        except DATABASE_ERRORS:
            return
        for status in STATUSES:
            DELIVERIES.labels(self.service, status).set(counts.get(status, 0))

    async def attempt(self, claimed: store.Claimed) -> None:
        started = datetime.now(UTC)
        clock = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            status_code = await self.post(claimed, started)
        except DestinationRefused as refused:
            error = f"{refused.reason}: {refused.message}"
        except httpx.TimeoutException as exc:
            error = f"timeout after {self.timeout_s:g} s ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_MAX]
        except asyncio.CancelledError:
            error = "interrupted: the service stopped during the attempt"
            with contextlib.suppress(*DATABASE_ERRORS):  # shielded: the record survives the stop
                await asyncio.shield(self.settle(claimed, started, clock, None, error))
            raise
        try:
            await self.settle(claimed, started, clock, status_code, error)
        except DATABASE_ERRORS as exc:  # the lease lapses: the delivery is taken again, this attempt logged as cut off
            log.warning("attempt of webhook delivery %s not recorded (%r)", claimed.delivery_id, exc)

    async def post(self, claimed: store.Claimed, now: datetime) -> int:
        target = await resolve(claimed.dest, allow_local=self.settings.epcis_webhook_allow_local)
        body = orjson.dumps(query_document(claimed, now))
        url = httpx.URL(target.url)
        headers = {"Content-Type": "application/json", "Host": url.netloc.decode("ascii"), "GS1-EPCIS-Version": "2.0.0"}
        if claimed.signature_token:
            headers[SIGNATURE_HEADER] = signature(claimed.signature_token, int(now.timestamp()), body)
        extensions = {"sni_hostname": target.host} if url.scheme == "https" else {}
        # Streamed and closed unread: only the status counts, and a receiver's body could be of any size.
        async with self.client.stream(
            "POST", url.copy_with(host=str(target.address)), content=body, headers=headers, extensions=extensions
        ) as response:
            return response.status_code

    async def settle(
        self, claimed: store.Claimed, started: datetime, clock: float, status_code: int | None, error: str | None
    ) -> None:
        duration_ms = (time.monotonic() - clock) * 1000
        attempt = store.Attempt(started, duration_ms, status_code, error)
        interrupted = (
            store.Attempt(
                claimed.lapsed_lease - timedelta(seconds=self.timeout_s + LEASE_MARGIN_S), 0, None, INTERRUPTED
            )
            if claimed.lapsed_lease is not None
            else None
        )
        attempts = claimed.attempts + (2 if interrupted else 1)
        now = datetime.now(UTC)
        next_at: datetime | None = None
        if status_code is not None and 200 <= status_code < 300:
            outcome = "delivered"
            LAG_SECONDS.labels(self.service).observe(max(0.0, (now - claimed.record_time).total_seconds()))
        elif self.policy.gives_up(attempts, (now - claimed.created_at).total_seconds()):
            outcome = "failed"
        else:
            outcome = "pending"
            next_at = now + timedelta(seconds=self.policy.delay_s(attempts))
        ATTEMPTS.labels(self.service, "retry" if outcome == "pending" else outcome).inc()
        await store.record_attempt(
            self.pool, claimed, attempt, outcome=outcome, next_attempt_at=next_at, interrupted=interrupted
        )
        if outcome == "failed":
            log.warning(
                "webhook delivery %s of subscription %s failed after %d attempts: %s",
                claimed.delivery_id,
                claimed.subscription_id,
                attempts,
                error or f"HTTP {status_code}",
            )


async def start_worker(runtime: Runtime) -> None:
    """`ServiceSpec.on_start` hook: the delivery worker, on the platform pool, stopped with the runtime."""
    worker = DeliveryWorker(runtime.platform_pool, runtime.settings, runtime.name)
    runtime.background.append(asyncio.create_task(worker.run(), name="epcis-webhook-deliveries"))
