"""The unit of work of an HTTP write: one transaction, bound to the principal's rows, with an outbox, one retry policy.

A route that writes takes `write: HttpWrite` (the `Writes` dependency) next to its principal and runs its work with
`await write.run(principal, work)`: `work(conn, outbox)` runs in one transaction on a connection whose row-level
security is set here, from the principal given (its tenant's rows, or the platform's for cross-tenant principals;
`platform=True` for the few writes a tenant's principal makes on the platform's behalf, said at the call). The
outbox is written before the commit. PostgreSQL aborting the transaction for a concurrent writer (a deadlock, a
serialization failure, a unique key another request took first, such as the next link of a custody chain) runs
the work again from the start, in a new transaction, up to `TRIES` times.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, TypeVar

import asyncpg
from fastapi import Depends, Request

from contracts.envelope import service_source
from services.common.auth import Principal, db_scope_of
from services.common.db import PLATFORM, TENANT_SETTING, DbConnection
from services.common.outbox import Outbox

if TYPE_CHECKING:
    from services.common.runtime import Runtime

log = logging.getLogger(__name__)

T = TypeVar("T")
Work = Callable[[DbConnection, Outbox], Awaitable[T]]

RETRIED = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError, asyncpg.UniqueViolationError)
TRIES = 3


@dataclass(frozen=True)
class HttpWrite:
    """What a writing route works with: the service's pools and the source its messages carry."""

    runtime: Runtime

    async def run(self, principal: Principal, work: Work[T], *, platform: bool = False) -> T:
        scope = PLATFORM if platform else db_scope_of(principal)
        runtime = self.runtime
        pool = runtime.platform_pool if scope == PLATFORM else runtime.tenant_pool
        tenant = "" if scope in (None, PLATFORM) else scope
        for attempt in range(1, TRIES + 1):
            outbox = Outbox(service_source(runtime.name))
            try:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute(f"SELECT set_config('{TENANT_SETTING}', $1, true)", tenant)
                    result = await work(conn, outbox)
                    await outbox.flush(conn)
                return result
            except RETRIED as exc:
                if attempt == TRIES:
                    raise
                log.warning("write aborted by a concurrent writer (%r); again (%d of %d)", exc, attempt + 1, TRIES)
        raise AssertionError("unreachable")


def http_write(request: Request) -> HttpWrite:
    return HttpWrite(request.app.state.runtime)


Writes = Annotated[HttpWrite, Depends(http_write)]
