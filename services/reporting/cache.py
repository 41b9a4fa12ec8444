"""Redis cache of passport reads; entries are dropped after the transaction that changes them commits."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis.asyncio as aioredis

from services.common.consumer import UnitOfWork

log = logging.getLogger(__name__)

TTL_S = 300


class PassportCache:
    def __init__(self) -> None:
        self.redis: aioredis.Redis | None = None

    @staticmethod
    def key(passport_id: str) -> str:
        return f"bpass:reporting:passport:{passport_id}"

    async def get(self, passport_id: str) -> dict[str, Any] | None:
        if self.redis is None:
            return None
        try:
            raw = await self.redis.get(self.key(passport_id))
        except (aioredis.RedisError, OSError) as exc:
            log.warning("cache read failed: %r", exc)
            return None
        return json.loads(raw) if raw else None

    async def put(self, passport_id: str, row: dict[str, Any]) -> None:
        if self.redis is None:
            return
        try:
            await self.redis.set(self.key(passport_id), json.dumps(row, default=str), ex=TTL_S)
        except (aioredis.RedisError, OSError) as exc:
            log.warning("cache write failed: %r", exc)

    def invalidate_after_commit(self, uow: UnitOfWork, passport_ids: list[str]) -> None:
        if not passport_ids or self.redis is None:
            return
        redis = self.redis
        keys = [self.key(p) for p in passport_ids]

        async def drop() -> None:
            await redis.delete(*keys)

        uow.after_commit.append(drop)
