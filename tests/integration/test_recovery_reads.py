"""Recovery's reads see one committed state: a treatment batch commits its attribution lines, the cease of its
passports and the batch itself in one transaction, so a read never shows some of them without the others, even
when the batch commits in the middle of the read (on the real PostgreSQL, with the real consumer writing).

The attribution route runs in-process here so that the writer can be made to commit between the read's
statements: the pool handed to the route runs the writer right after the read's first statement.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx

from contracts import topics
from contracts.attributes import BatteryCategory
from services.common.auth import Principal, Role
from services.common.db import create_pool, tenant_scope
from services.common.settings import Settings
from services.recovery.api import passports
from tests.integration.recovery_support import recycler_holding
from tests.integration.test_recovery_flow import mint, send, treatment_batch
from tests.support import ServiceProcess, eventually


class Interleave:
    """Runs `between` once, right after the first statement a wrapped pool or connection completes."""

    def __init__(self, between: Callable[[], Awaitable[None]]) -> None:
        self.between: Callable[[], Awaitable[None]] | None = between
        self.ran = False

    async def after(self, result: Any) -> Any:
        if self.between is not None:
            between, self.between = self.between, None
            await between()
            self.ran = True
        return result


class InterleavedConnection:
    def __init__(self, target: Any, interleave: Interleave) -> None:
        self._target, self._interleave = target, interleave

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        return await self._interleave.after(await self._target.fetch(*args, **kwargs))

    async def fetchrow(self, *args: Any, **kwargs: Any) -> Any:
        return await self._interleave.after(await self._target.fetchrow(*args, **kwargs))

    async def fetchval(self, *args: Any, **kwargs: Any) -> Any:
        return await self._interleave.after(await self._target.fetchval(*args, **kwargs))


class InterleavedPool(InterleavedConnection):
    @asynccontextmanager
    async def acquire(self, **kwargs: Any) -> AsyncIterator[InterleavedConnection]:
        async with self._target.acquire(**kwargs) as conn:
            yield InterleavedConnection(conn, self._interleave)


def consistent(view: dict[str, Any]) -> bool:
    """Ceased, the batch that ceased it, and its treatment lines: all three or none."""
    ceased = view["status"] == "ceased"
    lines = any(line["stage"] == "treatment" for line in view["lines"])
    return ceased == lines == (view["treatment"] is not None) == bool(view["declared"])


def summary(view: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": view["status"],
        "treatment_lines": sum(1 for line in view["lines"] if line["stage"] == "treatment"),
        "treatment": view["treatment"] and view["treatment"]["batch_id"],
        "declared": len(view["declared"]),
    }


async def test_attribution_read_never_shows_lines_of_a_batch_without_its_cease(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str], db: asyncpg.Connection
) -> None:
    tenant_name, oem_key = tenant
    identity = platform["identity"]
    tag = uuid.uuid4().hex[:8]
    recycler, batch_id = f"recycler-{tag}", f"TB-{tag}"
    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": oem_key}) as http:
        nmc, _ = await mint(http, identity, BatteryCategory.ev)
        lfp, lfp_identifier = await mint(http, identity, BatteryCategory.industrial)
    for passport_id in (nmc, lfp):
        await eventually(
            lambda p=passport_id: db.fetchval("SELECT 1 FROM recovery.known_passports WHERE passport_id = $1", p),  # type: ignore[misc]
            what="recovery to know the passport",
        )
    await recycler_holding(settings, platform, db, recycler, [nmc, lfp])

    async def batch_commits() -> None:
        """The recycler's batch, applied by the recovery service's consumer, commits now."""
        batch = treatment_batch(recycler, batch_id, nmc, lfp_identifier)
        await send(settings, topics.TREATMENT_BATCHES.name, batch, source=f"urn:bpass:handler:{recycler}", key=tag)
        await eventually(
            lambda: db.fetchval(
                "SELECT ceased_at FROM recovery.known_passports WHERE passport_id = $1 AND ceased_at IS NOT NULL", nmc
            ),
            what="the batch to be applied",
        )

    owner = Principal(tenant=tenant_name, role=Role.oem_admin, key_id=f"k-{tag}")
    pool = await create_pool(settings.app_dsn(), "recovery", max_size=2, tenant_bound=True)
    try:

        async def read(through: Any) -> dict[str, Any]:
            request: Any = SimpleNamespace(
                app=SimpleNamespace(state=SimpleNamespace(runtime=SimpleNamespace(pool=through)))
            )
            with tenant_scope(tenant_name):  # as the service does for an OEM's request
                response = await passports.attribution(nmc, request, owner)
            view: dict[str, Any] = json.loads(response.body)
            return view

        interleave = Interleave(batch_commits)
        during = await read(InterleavedPool(pool, interleave))
        assert interleave.ran, "the batch did not commit during the read"
        assert consistent(during), f"a read saw part of the batch's transaction: {summary(during)}"
        assert during["status"] == "active"  # it began before the batch committed

        after = await read(pool)
        assert after["status"] == "ceased"
        assert after["treatment"]["batch_id"] == batch_id
        assert consistent(after)
    finally:
        await pool.close()
