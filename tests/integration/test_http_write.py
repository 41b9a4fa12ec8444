"""The unit of work of an HTTP write (services/common/http_uow.py) on the real PostgreSQL: the connection is bound to
the principal's rows by the write itself, and a transaction aborted by a concurrent writer runs again from the start.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest

from services.common.auth import Principal, Role
from services.common.db import DbConnection, create_pool, migrate
from services.common.http_uow import TRIES, HttpWrite
from services.common.outbox import Outbox
from services.common.settings import REPO_ROOT, Settings

QUERY = "SELECT passport_id FROM passports WHERE passport_id = ANY($1::text[]) ORDER BY 1"


@pytest.fixture(scope="module")
async def write(settings: Settings) -> AsyncIterator[HttpWrite]:
    await migrate(settings.database_url, "identity", REPO_ROOT / "services" / "identity" / "migrations")
    tenant_pool = await create_pool(settings.app_dsn(), "identity", min_size=1, max_size=2, tenant_bound=True)
    platform_pool = await create_pool(settings.platform_dsn(), "identity", min_size=1, max_size=2)
    runtime: Any = SimpleNamespace(name="identity", tenant_pool=tenant_pool, platform_pool=platform_pool)
    try:
        yield HttpWrite(runtime)
    finally:
        await tenant_pool.close()
        await platform_pool.close()


@pytest.fixture
async def passports(write: HttpWrite, db: asyncpg.Connection) -> AsyncIterator[dict[str, str]]:
    """One identity passport of each of two tenants (tenant -> passport id), written by the migrations' role."""
    made = {f"oem-{uuid.uuid4().hex[:8]}": f"urn:uuid:{uuid.uuid4()}" for _ in range(2)}
    for tenant, passport_id in made.items():
        await db.execute(
            """INSERT INTO identity.passports (passport_id, tenant, battery_identifier, kind, category, public_uri,
                                               minted_at, minted_by)
               VALUES ($1, $2, $3, 'battery', 'ev', $4, $5, 'test')""",
            passport_id,
            tenant,
            f"SN-{uuid.uuid4().hex[:8]}",
            f"https://passport.example.test/p/{passport_id}",
            datetime.now(UTC),
        )
    yield made
    await db.execute("DELETE FROM identity.passports WHERE passport_id = ANY($1::text[])", list(made.values()))


async def test_the_write_binds_its_connection_to_the_principals_rows(
    write: HttpWrite, passports: dict[str, str]
) -> None:
    (tenant_a, passport_a), (tenant_b, passport_b) = passports.items()
    both = [passport_a, passport_b]

    async def seen(conn: DbConnection, outbox: Outbox) -> list[str]:
        return [row["passport_id"] for row in await conn.fetch(QUERY, both)]

    owner_a = Principal(tenant=tenant_a, role=Role.oem_admin, key_id="k")
    assert await write.run(owner_a, seen) == [passport_a]
    assert await write.run(Principal(tenant=tenant_b, role=Role.oem_user, key_id="k"), seen) == [passport_b]
    assert await write.run(Principal(tenant=None, role=Role.oem_admin, key_id="k"), seen) == []  # no tenant: nothing
    regulator = Principal(tenant=None, role=Role.regulator, key_id="k")
    assert await write.run(regulator, seen) == sorted(both)  # a cross-tenant principal: the platform's rows
    assert await write.run(owner_a, seen, platform=True) == sorted(both)  # said at the call


async def test_a_write_aborted_by_a_concurrent_writer_runs_again_from_the_start(write: HttpWrite) -> None:
    principal = Principal(tenant="oem-x", role=Role.oem_admin, key_id="k")
    transactions: list[int] = []

    async def once_taken(conn: DbConnection, outbox: Outbox) -> str:
        transactions.append(await conn.fetchval("SELECT txid_current()"))
        if len(transactions) == 1:
            raise asyncpg.UniqueViolationError("the next chain link was taken meanwhile")
        return "written"

    assert await write.run(principal, once_taken) == "written"
    assert len(transactions) == 2
    assert transactions[0] != transactions[1]  # a new transaction, not the aborted one

    tries: list[int] = []

    async def always_deadlocked(conn: DbConnection, outbox: Outbox) -> None:
        tries.append(1)
        raise asyncpg.DeadlockDetectedError("deadlock")

    with pytest.raises(asyncpg.DeadlockDetectedError):
        await write.run(principal, always_deadlocked)
    assert len(tries) == TRIES

    refused: list[int] = []

    async def bug(conn: DbConnection, outbox: Outbox) -> None:
        refused.append(1)
        raise ValueError("not a concurrent writer")

    with pytest.raises(ValueError, match="not a concurrent writer"):
        await write.run(principal, bug)
    assert refused == [1]  # anything else is not run again
