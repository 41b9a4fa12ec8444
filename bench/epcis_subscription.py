"""Capture -> WebSocket subscriber lag of EPCIS subscriptions, for bench/epcis_query.py.

An OEM key names a query (`POST /epcis/queries`, every inspection) and subscribes to it over WebSocket
(`GET /epcis/queries/{name}/events?stream=true` upgraded). A dealer then captures documents of one inspection each
of batteries it holds, at a steady rate, through `POST /epcis/capture`; each event's lag is from the moment its
capture request was sent to the moment the EPCISQueryDocument naming it arrived on the socket. Figures:
`epcis_subscription_lag_p50_ms`, `epcis_subscription_lag_ms` (the p99: the issue's target is under 500 ms) and the
events that did not arrive within DRAIN_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.epcis_lifecycles import document

WARM_UP = 5
DRAIN_S = 10.0


def inspection(epc: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:{uuid.uuid4()}",
        "eventTime": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "eventTimeZoneOffset": "+01:00",
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "disposition": "active",
        "epcList": [epc],
        "sensorElementList": [
            {
                "sensorMetadata": {"time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z")},
                "sensorReport": [{"type": "gs1:Temperature", "value": 21.5, "uom": "CEL"}],
            }
        ],
    }


class Arrivals:
    """When each event first arrived on the socket, by eventID."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.documents = 0

    async def read(self, socket: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in socket:
                now = time.perf_counter()
                body = json.loads(message)
                self.documents += 1
                for event in body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]:
                    self.at.setdefault(event["eventID"], now)

    async def wait_for(self, event_ids: list[str], timeout_s: float) -> None:
        deadline = time.perf_counter() + timeout_s
        while any(e not in self.at for e in event_ids) and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)


async def subscription_lag(
    base_url: str, keys: dict[str, str], args: Any, say: Callable[[str], None], subscriber: str, capturer: str,
    epcs: list[str],
) -> dict[str, Any]:  # fmt: skip
    """`subscriber` (a key name) subscribes, `capturer` captures inspections of `epcs` (batteries it holds). The lag
    figures, or none (said why) when custody serves no named queries."""
    name = f"bench-lag-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        created = await http.post(
            "/epcis/queries",
            json={"name": name, "query": {"EQ_bizStep": "inspecting"}},
            headers={"X-API-Key": keys[subscriber]},
        )
        if created.status_code in (404, 405):
            say(f"==> subscription lag: not measured, custody serves no /epcis/queries ({created.status_code})")
            return {}
        if created.status_code != 201:
            raise SystemExit(f"creating the named query answered {created.status_code}: {created.text[:300]}")
        url = base_url.replace("http://", "ws://", 1) + f"/epcis/queries/{quote(name, safe='')}/events?stream=true"
        arrivals = Arrivals()
        sent: dict[str, float] = {}
        try:
            async with connect(url, additional_headers={"X-API-Key": keys[subscriber]}, open_timeout=30) as socket:
                reader = asyncio.create_task(arrivals.read(socket))

                async def capture(epc: str) -> str:
                    event = inspection(epc)
                    sent[event["eventID"]] = time.perf_counter()
                    response = await http.post(
                        "/epcis/capture", json=document([event]), headers={"X-API-Key": keys[capturer]}
                    )
                    if response.status_code != 202 or not response.json()["success"]:
                        raise SystemExit(f"capture answered {response.status_code}: {response.text[:300]}")
                    return str(event["eventID"])

                say(f"==> subscription lag: {subscriber} subscribed to {name} over WebSocket; {WARM_UP} warm-up "
                    f"captures")  # fmt: skip
                for n in range(WARM_UP):
                    warm = await capture(epcs[n % len(epcs)])
                    await arrivals.wait_for([warm], 30)
                    if warm not in arrivals.at:
                        raise SystemExit("a captured inspection did not arrive on the socket within 30 s")
                sent.clear()
                count = int(args.lag_seconds * args.lag_rate)
                say(f"    {count} documents at {args.lag_rate}/s through POST /epcis/capture as {capturer}")
                started = time.perf_counter()
                tasks = []
                for n in range(count):
                    await asyncio.sleep(max(0.0, started + n / args.lag_rate - time.perf_counter()))
                    tasks.append(asyncio.create_task(capture(epcs[(WARM_UP + n) % len(epcs)])))
                captured = await asyncio.gather(*tasks)
                await arrivals.wait_for(captured, DRAIN_S)
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        finally:
            await http.delete(f"/epcis/queries/{quote(name, safe='')}", headers={"X-API-Key": keys[subscriber]})
    lags = sorted((arrivals.at[e] - sent[e]) * 1000 for e in captured if e in arrivals.at)
    missing = len(captured) - len(lags)
    if not lags:
        raise SystemExit(f"none of {len(captured)} captured inspections arrived on the socket")
    p50, p99 = statistics.median(lags), lags[min(len(lags) - 1, int(len(lags) * 0.99))]
    say(f"    capture -> socket: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {lags[-1]:.0f} ms over {len(lags)} events "
        f"({arrivals.documents} documents); {missing} not arrived within {DRAIN_S:.0f} s")  # fmt: skip
    return {
        "lag_results": [
            ("epcis_subscription_lag_p50_ms", f"{p50:.0f}", "ms"),
            ("epcis_subscription_lag_ms", f"{p99:.0f}", "ms"),
            ("epcis_subscription_lag_missing", str(missing), "events"),
        ]
    }
