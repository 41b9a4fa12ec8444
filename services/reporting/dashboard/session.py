"""Dashboard sessions, kept server side: signing in stores the API key in Redis under a random session id, and the
browser's cookie holds only that id (HttpOnly, SameSite=Lax, Secure when the gateway says the request came over
TLS). Redis keeps the SHA-256 of the id, not the id, so its contents do not open sessions; signing out deletes it.
Every request authenticates the stored key again, so a revoked or expired key ends its sessions at once."""

from __future__ import annotations

import hashlib
import re
import secrets

import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "bpass_dashboard_session"
LEGACY_COOKIE = "bpass_dashboard_key"  # held the API key itself before sessions: deleted wherever it is still sent
COOKIE_PATH = "/dashboard"
TTL_S = 8 * 3600
KEY_PREFIX = "bpass:dashboard:session:"
# token_urlsafe(32): 43 characters of the URL-safe alphabet; anything else is not an id this service issued.
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")


def _redis_key(session_id: str) -> str:
    return KEY_PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


def over_tls(request: Request) -> bool:
    """Whether the browser reached us over HTTPS: directly, or through the gateway (X-Forwarded-Proto)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return forwarded == "https" or request.url.scheme == "https"


class DashboardSessions:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def open(self, api_key: str) -> str:
        """A new session for an authenticated key; returns its id (the cookie's only content)."""
        session_id = secrets.token_urlsafe(32)
        await self.redis.set(_redis_key(session_id), api_key, ex=TTL_S)
        return session_id

    async def api_key(self, session_id: str | None) -> str | None:
        """The key of a live session; None for a missing, malformed, forged, expired or closed one."""
        if not session_id or not SESSION_ID.fullmatch(session_id):
            return None
        stored = await self.redis.get(_redis_key(session_id))
        if stored is None:
            return None
        return stored.decode() if isinstance(stored, bytes) else str(stored)

    async def close(self, session_id: str | None) -> None:
        if session_id and SESSION_ID.fullmatch(session_id):
            await self.redis.delete(_redis_key(session_id))


def set_session_cookie(response: Response, request: Request, session_id: str) -> None:
    if LEGACY_COOKIE in request.cookies:
        response.delete_cookie(LEGACY_COOKIE, path=COOKIE_PATH)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=TTL_S,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=over_tls(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    if LEGACY_COOKIE in request.cookies:
        response.delete_cookie(LEGACY_COOKIE, path=COOKIE_PATH)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax", secure=over_tls(request))
