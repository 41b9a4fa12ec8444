"""Redis cache of passport reads and public pages; entries are dropped after the transaction that changes them
commits. Redis is never the only copy: a miss or a Redis outage reads PostgreSQL.

A read that missed may have read PostgreSQL just before a change committed, and write its entry just after the
change dropped the entries: that entry would be stale until it expires. So a change also leaves a marker with the
passport's new version for a minute, and an entry is written only if it is not older than the marker (one Lua
script: the check and the write are atomic)."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from services.common.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

TTL_S = 300
PUBLIC_TTL_S = 3600
CHANGED_TTL_S = 60  # far longer than a read takes from its PostgreSQL query to its cache write

# KEYS[1] the entry, KEYS[2] its passport's change marker; ARGV: value, the version it shows, TTL in seconds.
PUT_UNLESS_STALE = """
local changed = redis.call('GET', KEYS[2])
if changed and tonumber(changed) > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""
# KEYS: the change markers of n passports, then the entries to drop; ARGV: the n new versions, then the markers'
# TTL. A marker never goes back to an older version (two processes' hooks may run in either order).
MARK_CHANGED = """
local n = #ARGV - 1
local ttl = ARGV[#ARGV]
for i = 1, n do
  local old = redis.call('GET', KEYS[i])
  if not old or tonumber(old) < tonumber(ARGV[i]) then redis.call('SET', KEYS[i], ARGV[i], 'EX', ttl) end
end
for i = n + 1, #KEYS do redis.call('DEL', KEYS[i]) end
return n
"""


class PassportCache:
    def __init__(self) -> None:
        self.redis: aioredis.Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}

    def _script(self, redis: aioredis.Redis, text: str) -> AsyncScript:
        """A Lua script registered with `redis`: called by its SHA (EVALSHA), not sent again with every call."""
        script = self._scripts.get(text)
        if script is None or script.registered_client is not redis:
            script = self._scripts[text] = redis.register_script(text)
        return script

    @staticmethod
    def key(passport_id: str) -> str:
        return f"bpass:reporting:passport:{passport_id}"

    @staticmethod
    def public_key(passport_id: str, variant: str) -> str:
        return f"bpass:reporting:public:{passport_id}:{variant}"

    @staticmethod
    def changed_key(passport_id: str) -> str:
        return f"bpass:reporting:changed:{passport_id}"

    async def get(self, passport_id: str) -> dict[str, Any] | None:
        raw = await self._get(self.key(passport_id))
        return json.loads(raw) if raw else None

    async def put(self, passport_id: str, state: dict[str, Any], version: int) -> None:
        """Cache a passport's state as read from PostgreSQL at `version` (unless a newer change committed)."""
        await self._set(passport_id, self.key(passport_id), json.dumps(state, default=str), version, TTL_S)

    async def get_public(self, passport_id: str, variant: str) -> bytes | None:
        return await self._get(self.public_key(passport_id, variant))

    async def put_public(self, passport_id: str, variant: str, body: bytes, version: int) -> None:
        """Cache a public page made from the passport at `version`."""
        await self._set(passport_id, self.public_key(passport_id, variant), body, version, PUBLIC_TTL_S)

    async def _get(self, key: str) -> bytes | None:
        if self.redis is None:
            return None
        try:
            raw = await self.redis.get(key)
        except (aioredis.RedisError, OSError) as exc:
            log.warning("cache read failed: %r", exc)
            return None
        return raw.encode() if isinstance(raw, str) else raw

    async def _set(self, passport_id: str, key: str, value: str | bytes, version: int, ttl_s: int) -> None:
        if self.redis is None:
            return
        try:
            put = self._script(self.redis, PUT_UNLESS_STALE)
            await put(keys=[key, self.changed_key(passport_id)], args=[value, version, ttl_s])
        except (aioredis.RedisError, OSError) as exc:
            log.warning("cache write failed: %r", exc)

    def keys_of(self, passport_ids: list[str]) -> list[str]:
        keys = [self.key(p) for p in passport_ids]
        for p in passport_ids:
            keys += [self.public_key(p, "html"), self.public_key(p, "json")]
        return keys

    def invalidate_after_commit(self, uow: UnitOfWork, versions: dict[str, int]) -> None:
        """Once `uow` commits: mark the passports changed (at their new versions) and drop their entries."""
        if not versions or self.redis is None:
            return
        mark = self._script(self.redis, MARK_CHANGED)
        pids = list(versions)
        keys = [self.changed_key(p) for p in pids] + self.keys_of(pids)
        args = [versions[p] for p in pids] + [CHANGED_TTL_S]

        async def drop() -> None:
            await mark(keys=keys, args=args)

        uow.after_commit.append(drop)
