"""Redis cache of passport reads and public pages; entries are dropped after the transaction that changes them
commits. Redis is never the only copy: a miss or a Redis outage reads PostgreSQL."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis.asyncio as aioredis

from services.common.consumer import UnitOfWork

log = logging.getLogger(__name__)

TTL_S = 300
PUBLIC_TTL_S = 3600


class PassportCache:
    def __init__(self) -> None:
        self.redis: aioredis.Redis | None = None

    @staticmethod
    def key(passport_id: str) -> str:
        return f"bpass:reporting:passport:{passport_id}"

    @staticmethod
    def public_key(passport_id: str, variant: str) -> str:
        return f"bpass:reporting:public:{passport_id}:{variant}"

    async def get(self, passport_id: str) -> dict[str, Any] | None:
        raw = await self._get(self.key(passport_id))
        return json.loads(raw) if raw else None

    async def put(self, passport_id: str, row: dict[str, Any]) -> None:
        await self._set(self.key(passport_id), json.dumps(row, default=str), TTL_S)

    async def get_public(self, passport_id: str, variant: str) -> bytes | None:
        return await self._get(self.public_key(passport_id, variant))

    async def put_public(self, passport_id: str, variant: str, body: bytes) -> None:
        await self._set(self.public_key(passport_id, variant), body, PUBLIC_TTL_S)

    async def _get(self, key: str) -> bytes | None:
        if self.redis is None:
            return None
        try:
            raw = await self.redis.get(key)
        except (aioredis.RedisError, OSError) as exc:
            log.warning("cache read failed: %r", exc)
            return None
        return raw.encode() if isinstance(raw, str) else raw

    async def _set(self, key: str, value: str | bytes, ttl_s: int) -> None:
        if self.redis is None:
            return
        try:
            await self.redis.set(key, value, ex=ttl_s)
        except (aioredis.RedisError, OSError) as exc:
            log.warning("cache write failed: %r", exc)

    def keys_of(self, passport_ids: list[str]) -> list[str]:
        keys = [self.key(p) for p in passport_ids]
        for p in passport_ids:
            keys += [self.public_key(p, "html"), self.public_key(p, "json")]
        return keys

    def invalidate_after_commit(self, uow: UnitOfWork, passport_ids: list[str]) -> None:
        if not passport_ids or self.redis is None:
            return
        redis = self.redis
        keys = self.keys_of(passport_ids)

        async def drop() -> None:
            await redis.delete(*keys)

        uow.after_commit.append(drop)
