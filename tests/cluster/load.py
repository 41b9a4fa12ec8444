"""A steady stream of mints (over HTTP, to either identity instance) and custody events (on the inbound Kafka topic,
acks=all), and the ledger of what the platform accepted: a mint answered 200/201, an event acknowledged by Kafka.
What was not accepted is retried unchanged (the same battery identifier, the same CloudEvents id) until it is, as a
partner would; so every accepted thing must appear once, however often it was sent."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from contracts import topics
from contracts.custody import CustodyEventKind, CustodyEventReported, CustodyTargets
from services.common.messaging import SAFE_PRODUCER_SETTINGS
from services.common.settings import Settings
from tests.e2e.test_walking_skeleton import mint_body
from tests.support import cloudevent_headers

RETRY_S = 0.5


@dataclass
class Ledger:
    tenant: str
    handler_id: str
    minted: dict[str, str] = field(default_factory=dict)  # battery identifier -> passport id
    events: dict[str, str] = field(default_factory=dict)  # CloudEvents id -> passport id
    mint_retries: int = 0
    publish_retries: int = 0

    def events_of(self) -> dict[str, int]:
        counts = dict.fromkeys(self.minted.values(), 0)
        for passport_id in self.events.values():
            counts[passport_id] += 1
        return counts


@dataclass
class Load:
    """`minters` HTTP minting loops and `publishers` custody-event loops, each pausing `pause_s` between its own
    sends, until `stop()`; whatever is in flight then is retried until accepted."""

    settings: Settings
    identity_urls: list[str]
    tenant_key: str
    ledger: Ledger
    minters: int = 2
    publishers: int = 4
    pause_s: float = 0.2
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            **self.settings.kafka_client_options(), client_id="bpass-cluster-test-load", **SAFE_PRODUCER_SETTINGS
        )
        await self._producer.start()
        self._tasks = [asyncio.create_task(self._mint_loop(i)) for i in range(self.minters)]
        self._tasks += [asyncio.create_task(self._publish_loop()) for _ in range(self.publishers)]

    async def wait_minted(self, count: int, timeout: float = 120.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.ledger.minted) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"only {len(self.ledger.minted)} of {count} mints accepted in {timeout:.0f}s")
            await asyncio.sleep(0.2)

    async def stop(self, timeout: float = 180.0) -> None:
        """No new mints or events; what is in flight is retried until accepted."""
        self._stop.set()
        async with asyncio.timeout(timeout):
            for task in self._tasks:
                await task
        await self.close()

    async def close(self) -> None:
        """Stop at once, abandoning what is in flight (after a failed test: what never got through stays unsent)."""
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(KafkaError, OSError):
                await asyncio.wait_for(producer.stop(), 30)

    async def _mint_loop(self, index: int) -> None:
        async with httpx.AsyncClient(timeout=20, headers={"X-API-Key": self.tenant_key}) as http:
            turn = index
            while not self._stop.is_set():
                identifier = f"CLU-{uuid.uuid4().hex[:16]}"
                while True:  # the same identifier until accepted: minting is idempotent per identifier
                    url = self.identity_urls[turn % len(self.identity_urls)]
                    turn += 1
                    try:
                        response = await http.post(f"{url}/identity/v1/passports", json=mint_body(identifier))
                    except httpx.HTTPError:
                        response = None
                    if response is not None and response.status_code in (200, 201):
                        self.ledger.minted[identifier] = response.json()["passport_id"]
                        break
                    if response is not None and response.status_code < 500:
                        raise AssertionError(f"mint refused: {response.status_code} {response.text}")
                    self.ledger.mint_retries += 1
                    await asyncio.sleep(RETRY_S)
                await asyncio.sleep(self.pause_s)

    async def _publish_loop(self) -> None:
        assert self._producer is not None
        source = f"urn:bpass:handler:{self.ledger.handler_id}"
        while not self._stop.is_set():
            if not self.ledger.minted:
                await asyncio.sleep(0.2)
                continue
            passport_id = random.choice(list(self.ledger.minted.values()))
            event = CustodyEventReported(
                kind=CustodyEventKind.inspected,
                occurred_at=datetime.now(UTC),
                handler_id=self.ledger.handler_id,
                targets=CustodyTargets(passport_ids=[passport_id]),
            )
            event_id = str(uuid.uuid4())
            value = event.model_dump_json().encode()
            headers = cloudevent_headers(event, source=source, event_id=event_id)
            while True:  # the same record until Kafka acknowledges it
                try:
                    await self._producer.send_and_wait(
                        self.settings.topic(topics.CUSTODY_EVENTS.name),
                        value=value,
                        key=passport_id.encode(),
                        headers=headers,
                    )
                    break
                except KafkaError:
                    self.ledger.publish_retries += 1
                    await asyncio.sleep(RETRY_S)
            self.ledger.events[event_id] = passport_id
            await asyncio.sleep(self.pause_s)
