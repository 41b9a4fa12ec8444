"""The public surface's rate limit keys on a client address the gateway vouches for: a random X-Forwarded-For per
request, sent straight to a service or through the gateway, does not make a client a new one."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

from services.common.ratelimit import counter_key
from services.common.settings import Settings
from services.identity.api.resolver import REQUESTS_PER_MINUTE
from tests.conftest import PORT_BASE, TEST_PORTS
from tests.integration.gateway_support import client_from, local_gateway, loopback_address
from tests.support import ServiceProcess

GATEWAY_PORT = PORT_BASE + 41
SCOPE = "identity-resolver"


@pytest.fixture(scope="module")
async def gateway(platform: dict[str, ServiceProcess], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with local_gateway(tmp_path_factory.mktemp("gateway"), GATEWAY_PORT, TEST_PORTS) as url:
        yield url


def random_ip() -> str:
    return f"{random.randint(1, 223)}.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


async def one_window() -> int:
    """The current one-minute window, once at least 30 s of it are left (the test's requests fit in one)."""
    if time.time() % 60 > 30:
        await asyncio.sleep(60 - time.time() % 60 + 0.1)
    return int(time.time() // 60)


async def count_of(settings: Settings, client: str, window: int, *, reset: bool = False) -> int:
    """How many requests the limiter counted against `client` (and, with `reset`, forget them)."""
    key = counter_key(settings.topic_namespace, SCOPE, client, window)
    redis = aioredis.from_url(settings.redis_url)
    try:
        value = await (redis.getdel(key) if reset else redis.get(key))
    finally:
        await redis.aclose()
    return int(value or 0)


async def exhaust(http: httpx.AsyncClient) -> list[int]:
    """The limit's worth of requests (ten at a time) and then one more, each claiming another X-Forwarded-For;
    their status codes."""

    async def one() -> int:
        response = await http.get("/p/not-a-passport", headers={"X-Forwarded-For": random_ip()})
        return response.status_code

    codes: list[int] = []
    for _ in range(REQUESTS_PER_MINUTE // 10):
        codes += await asyncio.gather(*(one() for _ in range(10)))
    return [*codes, await one()]


async def test_a_random_forwarded_for_sent_straight_to_the_service_does_not_escape_the_limit(
    platform: dict[str, ServiceProcess], settings: Settings
) -> None:
    """From 127.0.0.1, a local process like any other (uvicorn's default would believe its X-Forwarded-For)."""
    window = await one_window()
    await count_of(settings, "127.0.0.1", window, reset=True)  # the session's earlier reads from 127.0.0.1
    try:
        async with httpx.AsyncClient(base_url=platform["identity"].base_url, timeout=10) as http:
            codes = await exhaust(http)
            assert codes[:-1] == [404] * REQUESTS_PER_MINUTE
            assert codes[-1] == 429
            refused = await http.get("/p/not-a-passport", headers={"X-Forwarded-For": random_ip()})
        assert refused.status_code == 429
        assert refused.json()["reason"] == "rate_limited"
        assert "127.0.0.1" in refused.json()["detail"]
        assert 0 < int(refused.headers["retry-after"]) <= 60
    finally:  # the session's other tests read the resolver from 127.0.0.1 too
        counted = await count_of(settings, "127.0.0.1", window, reset=True)
    # The limiter counted every request against the connection's own address.
    assert counted == REQUESTS_PER_MINUTE + 2


async def test_through_the_gateway_the_limit_is_per_client_whatever_it_claims(gateway: str, settings: Settings) -> None:
    address, neighbour = loopback_address(), loopback_address()
    window = await one_window()
    async with client_from(address, gateway, timeout=10) as http:
        codes = await exhaust(http)
    assert codes[:-1] == [404] * REQUESTS_PER_MINUTE
    assert codes[-1] == 429
    # Keyed on the address the gateway saw (not on the gateway's own, not on what the client claimed) ...
    assert await count_of(settings, address, window) == REQUESTS_PER_MINUTE + 1
    assert await count_of(settings, "127.0.0.2", window) == 0
    # ... so another client behind the same gateway is not refused.
    async with client_from(neighbour, gateway, timeout=10) as http:
        assert (await http.get("/p/not-a-passport", headers={"X-Forwarded-For": address})).status_code == 404
    assert await count_of(settings, neighbour, window) == 1


async def test_a_client_the_gateway_does_not_vouch_for_cannot_name_another(
    platform: dict[str, ServiceProcess], settings: Settings
) -> None:
    """Straight to the service, X-Forwarded-For names nobody: the request counts against its sender."""
    victim = loopback_address()
    window = await one_window()
    async with httpx.AsyncClient(base_url=platform["identity"].base_url, timeout=10) as http:
        assert (await http.get("/p/not-a-passport", headers={"X-Forwarded-For": victim})).status_code == 404
    assert await count_of(settings, victim, window) == 0
    assert await count_of(settings, "127.0.0.1", window, reset=True) >= 1
