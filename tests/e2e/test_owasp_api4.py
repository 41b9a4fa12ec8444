"""OWASP API4 (unrestricted resource consumption): every list has a page-size ceiling, bulk minting a size ceiling,
bodies a byte ceiling, and the public surface (QR resolver, public passport page) a per-address rate limit.

Each ceiling is probed just above its value on the running platform and must be refused with a named reason, never
served; the rate limit must answer 429 with Retry-After within two windows' worth of requests from one address.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from services.common.auth import Role
from services.common.settings import Settings
from services.identity.api.resolver import REQUESTS_PER_MINUTE as RESOLVER_PER_MINUTE
from services.reporting.domain.query import MAX_PAGE
from services.reporting.public import REQUESTS_PER_MINUTE as PUBLIC_PAGE_PER_MINUTE
from tests.conftest import new_key
from tests.integration.gateway_support import client_from
from tests.support import ServiceProcess

pytestmark = pytest.mark.timeout(120)
UNKNOWN = "0190d8f4-0000-7000-8000-000000000000"  # a well-formed passport id nobody minted
GATEWAY = "127.0.0.2"  # the local gateway's address (BPASS_GATEWAY_ADDRESSES)


def violation_reasons(response: httpx.Response) -> set[str]:
    body = response.json()
    return {v["reason"] for v in body.get("violations", [])} | {str((body.get("detail") or {}).get("reason"))}


@pytest.mark.parametrize(
    ("service", "path", "limit_param"),
    [
        ("reporting", "/reporting/v1/passports", MAX_PAGE + 1),
        ("reporting", "/reporting/v1/access-log", MAX_PAGE + 1),
        ("identity", "/identity/v1/api-keys", 1001),
        ("custody", "/custody/v1/handlers", 501),
    ],
)
async def test_list_pages_have_a_ceiling(
    platform: dict[str, ServiceProcess], settings: Settings, service: str, path: str, limit_param: int
) -> None:
    key = new_key(settings, Role.oem_admin, f"oem-{uuid.uuid4().hex[:10]}")
    async with httpx.AsyncClient(base_url=platform[service].base_url, headers={"X-API-Key": key}, timeout=20) as http:
        within = await http.get(path, params={"limit": limit_param - 1})
        above = await http.get(path, params={"limit": limit_param})
    assert within.status_code == 200, within.text
    assert above.status_code == 422, above.text
    assert above.json()["violations"][0]["field"] in {"limit", "query.limit"}


async def test_bulk_mint_has_a_size_ceiling(platform: dict[str, ServiceProcess], settings: Settings) -> None:
    key = new_key(settings, Role.oem_admin, f"oem-{uuid.uuid4().hex[:10]}")
    # 100,001 minimal items: refused as a whole (size or body ceiling), nothing minted.
    items = ",".join(f'{{"battery_identifier":"B{i}"}}' for i in range(100_001))
    body = f'{{"defaults":{{}},"passports":[{items}]}}'
    async with httpx.AsyncClient(
        base_url=platform["identity"].base_url, headers={"X-API-Key": key}, timeout=60
    ) as http:
        response = await http.post(
            "/identity/v1/passports:bulk", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code in {413, 422}, response.text[:500]
        if response.status_code == 422:
            assert any(v["field"] == "passports" for v in response.json()["violations"]), response.text[:500]
        else:
            assert response.json()["reason"] == "request_too_large"


async def _until_limited(http: httpx.AsyncClient, path: str, address: str, per_minute: int) -> httpx.Response | None:
    """Requests from one address until one is refused; at most two windows' worth (a minute may turn over)."""
    headers = {"X-Forwarded-For": address, "Accept": "application/json"}
    sent = 0
    while sent <= 2 * per_minute + 1:
        batch = await asyncio.gather(*(http.get(path, headers=headers) for _ in range(25)))
        sent += len(batch)
        for response in batch:
            if response.status_code == 429:
                return response
            assert response.status_code in {200, 404}, response.text
    return None


@pytest.mark.parametrize(
    ("service", "path", "per_minute"),
    [
        ("identity", f"/p/urn:uuid:{UNKNOWN}", RESOLVER_PER_MINUTE),
        ("reporting", f"/passport/{UNKNOWN}", PUBLIC_PAGE_PER_MINUTE),
    ],
)
async def test_the_public_surface_is_rate_limited_per_address(
    platform: dict[str, ServiceProcess], service: str, path: str, per_minute: int
) -> None:
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    # As the gateway calls the services (from its own address, 127.0.0.2, the one whose X-Forwarded-For they trust),
    # naming the client address it saw.
    async with client_from(GATEWAY, platform[service].base_url, timeout=20) as http:
        refused = await _until_limited(http, path, address, per_minute)
        assert refused is not None, f"no 429 after {2 * per_minute + 1} requests from one address"
        assert refused.json()["reason"] == "rate_limited"
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        # Another address is not affected.
        other = await http.get(path, headers={"X-Forwarded-For": "198.51.100.254", "Accept": "application/json"})
    assert other.status_code in {200, 404}
