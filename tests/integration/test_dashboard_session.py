"""Dashboard sessions against the real reporting service and Redis: the cookie holds a random session id, never the
API key; the key stays server side; forged, closed and revoked sessions are refused."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie

import httpx
import pytest
import redis.asyncio as aioredis

from services.common.auth import Role, list_keys, revoke_key
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.reporting.app import build_spec
from services.reporting.dashboard.session import COOKIE, KEY_PREFIX, LEGACY_COOKIE, TTL_S
from tests.conftest import new_key
from tests.support import ServiceProcess


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=5)
    try:
        yield client
    finally:
        await client.aclose()


async def sign_in(http: httpx.AsyncClient, key: str, **headers: str) -> httpx.Response:
    return await http.post("/dashboard/login", data={"api_key": key}, headers=headers)


def session_cookie(response: httpx.Response) -> tuple[str, str]:
    """(the Set-Cookie header of the session cookie, the session id)."""
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    parsed = SimpleCookie()
    parsed.load(headers[0])
    return headers[0], parsed[COOKIE].value


def as_session(session_id: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={session_id}"}


async def test_the_cookie_holds_an_opaque_session_id_and_the_key_stays_in_redis(
    reporting: ServiceProcess, settings: Settings, redis: aioredis.Redis
) -> None:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    key = new_key(settings, Role.oem_admin, tenant)
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=10) as http:
        signed_in = await sign_in(http, key)
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/dashboard"
        header, session_id = session_cookie(signed_in)
        for cookie in signed_in.headers.get_list("set-cookie"):
            assert key not in cookie
            assert hashlib.sha256(key.encode()).hexdigest() not in cookie
        attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
        assert {"httponly", "path", "max-age", "samesite"} <= attributes
        assert "samesite=lax" in header.lower()
        assert "path=/dashboard" in header.lower()
        assert "secure" not in attributes  # plain HTTP: a Secure cookie would never come back
        assert len(session_id) == 43

        # Redis holds the key under the id's digest, for the session's lifetime; never under the id itself.
        stored = f"{KEY_PREFIX}{hashlib.sha256(session_id.encode()).hexdigest()}"
        assert await redis.get(stored) == key.encode()
        assert TTL_S - 60 < await redis.ttl(stored) <= TTL_S
        assert await redis.exists(f"{KEY_PREFIX}{session_id}") == 0

        page = await http.get("/dashboard", headers=as_session(session_id))
        assert page.status_code == 200
        assert tenant in page.text

        # A browser still holding the cookie of old, which held the key itself, has it deleted at sign-in.
        legacy = await sign_in(http, key, Cookie=f"{LEGACY_COOKIE}={key}")
        assert any(c.startswith(f'{LEGACY_COOKIE}=""') for c in legacy.headers.get_list("set-cookie"))
        assert not any(key in c for c in legacy.headers.get_list("set-cookie"))

        # Behind the gateway's TLS (X-Forwarded-Proto: https) the cookie is Secure.
        over_tls = await sign_in(http, key, **{"X-Forwarded-Proto": "https"})
        header, _ = session_cookie(over_tls)
        assert "secure" in {part.strip().lower() for part in header.split(";")}


async def test_forged_closed_and_revoked_sessions_are_refused(
    reporting: ServiceProcess, settings: Settings, redis: aioredis.Redis
) -> None:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    key = new_key(settings, Role.oem_admin, tenant)
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=10) as http:
        for forged in (secrets.token_urlsafe(32), key, "../" + "a" * 40, ""):
            refused = await http.get("/dashboard", headers=as_session(forged))
            assert refused.status_code == 303, forged
            assert refused.headers["location"] == "/dashboard/login"

        _, session_id = session_cookie(await sign_in(http, key))
        assert (await http.get("/dashboard/passports", headers=as_session(session_id))).status_code == 200
        # Signing out deletes the session: the id no longer opens anything, even if the browser kept it.
        signed_out = await http.post("/dashboard/logout", headers=as_session(session_id))
        assert signed_out.status_code == 303
        assert any(c.startswith(f'{COOKIE}=""') for c in signed_out.headers.get_list("set-cookie"))
        assert await redis.exists(f"{KEY_PREFIX}{hashlib.sha256(session_id.encode()).hexdigest()}") == 0
        assert (await http.get("/dashboard", headers=as_session(session_id))).status_code == 303

        # A key revoked after sign-in ends its sessions at once.
        _, session_id = session_cookie(await sign_in(http, key))
        assert (await http.get("/dashboard", headers=as_session(session_id))).status_code == 200
        key_id = next(
            k["key_id"] for k in list_keys(settings.api_keys_file) if k.get("tenant") == tenant and not k.get("revoked")
        )
        assert revoke_key(settings.api_keys_file, key_id)
        assert (await http.get("/dashboard", headers=as_session(session_id))).status_code == 303

        # A wrong key opens no session at all.
        wrong = await sign_in(http, "not-a-key")
        assert wrong.status_code == 303
        assert wrong.headers["location"] == "/dashboard/login?error=1"
        assert not [c for c in wrong.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}=")]


async def test_without_redis_signing_in_is_a_503_not_a_cookie_holding_the_key(settings: Settings) -> None:
    runtime = Runtime(build_spec(settings), settings)
    runtime._redis = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)  # nothing listens
    key = new_key(settings, Role.oem_admin, f"oem-{uuid.uuid4().hex[:10]}")
    transport = httpx.ASGITransport(app=runtime.http_app())
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://reporting") as http:
            refused = await sign_in(http, key)
            assert refused.status_code == 503
            assert refused.json()["reason"] == "sessions_unavailable"
            assert not refused.headers.get_list("set-cookie")
            page = await http.get("/dashboard", headers=as_session(secrets.token_urlsafe(32)))
            assert page.status_code == 503
    finally:
        await runtime._redis.aclose()
