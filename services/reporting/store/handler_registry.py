"""The `handler_registry` table: state and roles per handler, the newest version wins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from contracts.custody import HandlerRecord
from services.common.db import DbConnection

UPSERT_SQL = """
INSERT INTO handler_registry (handler_id, state, roles, version, updated_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (handler_id) DO UPDATE SET state = EXCLUDED.state, roles = EXCLUDED.roles,
    version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
WHERE handler_registry.version < EXCLUDED.version
"""


@dataclass(frozen=True)
class RegisteredHandler:
    state: str
    roles: frozenset[str]


async def upsert(conn: DbConnection, handlers: Sequence[HandlerRecord]) -> None:
    if handlers:
        await conn.executemany(
            UPSERT_SQL,
            [
                (h.handler_id, h.state.value, sorted(role.value for role in h.roles), h.version, h.updated_at)
                for h in handlers
            ],
        )


async def registered_handler(conn: DbConnection | asyncpg.Pool, handler_id: str) -> RegisteredHandler | None:
    row = await conn.fetchrow("SELECT state, roles FROM handler_registry WHERE handler_id = $1", handler_id)
    return None if row is None else RegisteredHandler(row["state"], frozenset(row["roles"]))
