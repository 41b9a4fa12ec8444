"""Reporting's copy of the handler registry: custody's `HandlerRegistryChanged` facts folded into
`handler_registry` (state and roles per handler, newest version wins), read when a value-chain operator asks for
the legitimate-interest tier (services/reporting/api/entitlement.py)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from contracts.custody import HandlerRegistryChanged
from services.common.consumer import Inbound, UnitOfWork
from services.common.db import DbConnection


@dataclass(frozen=True)
class RegisteredHandler:
    state: str
    roles: frozenset[str]


async def on_handler_registry_changed(uow: UnitOfWork, items: list[Inbound[HandlerRegistryChanged]]) -> None:
    newest: dict[str, HandlerRegistryChanged] = {}
    for item in items:
        fact = item.payload
        seen = newest.get(fact.handler.handler_id)
        if seen is None or seen.handler.version < fact.handler.version:
            newest[fact.handler.handler_id] = fact
    if not newest:
        return
    await uow.conn.executemany(
        """INSERT INTO handler_registry (handler_id, state, roles, version, updated_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (handler_id) DO UPDATE SET state = EXCLUDED.state, roles = EXCLUDED.roles,
               version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
           WHERE handler_registry.version < EXCLUDED.version""",
        [
            (
                handler_id,
                fact.handler.state.value,
                sorted(role.value for role in fact.handler.roles),
                fact.handler.version,
                fact.handler.updated_at,
            )
            for handler_id, fact in sorted(newest.items())
        ],
    )


async def registered_handler(conn: DbConnection | asyncpg.Pool, handler_id: str) -> RegisteredHandler | None:
    row = await conn.fetchrow("SELECT state, roles FROM handler_registry WHERE handler_id = $1", handler_id)
    return None if row is None else RegisteredHandler(row["state"], frozenset(row["roles"]))
