"""A Redis rate limit for the public surface (OWASP API4): fixed one-minute windows per client address.

The client address is the connection's, or, for a connection from the gateway (`Settings.gateway_addresses`), the
one the gateway saw and vouches for in X-Forwarded-For (uvicorn's proxy-headers middleware, configured in
`runtime.serve`, puts it in `request.client`): what a client claims itself never makes it a new client."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis.asyncio as aioredis
from fastapi import Depends, HTTPException, Request, status

log = logging.getLogger(__name__)


def counter_key(namespace: str, scope: str, client: str, window: int) -> str:
    """The Redis counter of `client`'s requests to `scope` in one-minute `window`; `namespace` (the topic
    namespace) keeps the counters of platforms sharing a Redis, such as test sessions, apart."""
    return f"bpass:ratelimit:{namespace}{scope}:{client}:{window}"


def rate_limited(per_minute: int, scope: str) -> Any:
    """A FastAPI dependency refusing a client's request number `per_minute + 1` within a minute (429)."""

    async def dependency(request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        window = int(time.time() // 60)
        runtime = request.app.state.runtime
        key = counter_key(runtime.settings.topic_namespace, scope, client, window)
        try:
            redis: aioredis.Redis = runtime.redis
            async with redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, 120)
                count, _ = await pipe.execute()
        except (aioredis.RedisError, OSError) as exc:
            log.warning("rate limiter unavailable, letting the request through: %r", exc)
            return
        if int(count) > per_minute:
            retry_after = 60 - int(time.time() % 60)
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                {
                    "reason": "rate_limited",
                    "message": f"More than {per_minute} requests a minute from {client}; retry in {retry_after} s.",
                },
                headers={"Retry-After": str(retry_after)},
            )

    return Depends(dependency)
