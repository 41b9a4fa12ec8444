"""The passport cache against the real Redis: a read that raced a change never leaves a stale entry behind."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from services.common.outbox import Outbox
from services.common.settings import Settings
from services.common.unit_of_work import UnitOfWork
from services.reporting.store.cache import CHANGED_TTL_S, PassportCache


@pytest.fixture
async def cache(settings: Settings) -> AsyncIterator[PassportCache]:
    client = aioredis.Redis.from_url(settings.redis_url)
    cache = PassportCache()
    cache.redis = client
    try:
        yield cache
    finally:
        await client.aclose()


async def committed(cache: PassportCache, settings: Settings, versions: dict[str, int]) -> None:
    """What the projection does once its transaction commits: the after-commit hook of `invalidate_after_commit`."""
    uow = UnitOfWork(None, Outbox("urn:test"), "reporting", settings, "rejected")  # type: ignore[arg-type]
    cache.invalidate_after_commit(uow, versions)
    assert len(uow.after_commit) == 1
    for hook in uow.after_commit:
        await hook()


def new_pid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


async def test_a_read_that_raced_a_change_is_not_cached(cache: PassportCache, settings: Settings) -> None:
    pid = new_pid()
    # a request read version 5 from PostgreSQL; version 6 commits and drops the entries before it writes its entry
    await committed(cache, settings, {pid: 6})
    await cache.put(pid, {"passport_id": pid, "version": 5}, 5)
    await cache.put_public(pid, "html", b"<p>version 5</p>", 5)
    assert await cache.get(pid) is None
    assert await cache.get_public(pid, "html") is None
    # the next read finds version 6 and caches it
    await cache.put(pid, {"passport_id": pid, "version": 6}, 6)
    await cache.put_public(pid, "html", b"<p>version 6</p>", 6)
    assert await cache.get(pid) == {"passport_id": pid, "version": 6}
    assert await cache.get_public(pid, "html") == b"<p>version 6</p>"


async def test_a_change_drops_the_entries_of_its_passports_only(cache: PassportCache, settings: Settings) -> None:
    changed, other = new_pid(), new_pid()
    for pid in (changed, other):
        await cache.put(pid, {"passport_id": pid, "version": 1}, 1)
        await cache.put_public(pid, "json", b"{}", 1)
    await committed(cache, settings, {changed: 2})
    assert await cache.get(changed) is None
    assert await cache.get_public(changed, "json") is None
    assert await cache.get(other) == {"passport_id": other, "version": 1}
    assert await cache.get_public(other, "json") == b"{}"
    assert cache.redis is not None
    ttl = await cache.redis.ttl(cache.changed_key(changed))
    assert 0 < ttl <= CHANGED_TTL_S


async def test_the_change_marker_never_goes_back_to_an_older_version(cache: PassportCache, settings: Settings) -> None:
    pid = new_pid()
    # two processes' after-commit hooks, the newer change's first
    await committed(cache, settings, {pid: 8})
    await committed(cache, settings, {pid: 7})
    assert cache.redis is not None
    assert await cache.redis.get(cache.changed_key(pid)) == b"8"
    await cache.put(pid, {"passport_id": pid, "version": 7}, 7)
    assert await cache.get(pid) is None
