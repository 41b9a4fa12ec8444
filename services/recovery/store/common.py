"""What the recovery store's modules share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, TypeAlias

import asyncpg

from contracts.recovery import RecoveredMaterial
from services.common.db import DbConnection

Db: TypeAlias = "DbConnection | asyncpg.Pool"
ACQUIRE_TIMEOUT_S = 10.0
ATTRIBUTION_LINE_COLUMNS = [
    "stage",
    "batch",
    "input_index",
    "passport_id",
    "tenant",
    "lot",
    "product",
    "material",
    "origin",
    "amount_kg",
    "line",
]


@asynccontextmanager
async def snapshot(pool: asyncpg.Pool) -> AsyncIterator[DbConnection]:
    """One connection in a read-only REPEATABLE READ transaction: every statement of a read sees the same committed
    state. A read of several statements straight off the pool borrows a connection per statement, each seeing what
    was committed when it ran, so a writer committing in between shows half of its transaction (e.g. a passport's
    attribution lines without the cease they were written with)."""
    async with (
        pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        yield conn


async def copy_rows(conn: DbConnection, table: str, columns: list[str], records: list[tuple[Any, ...]]) -> None:
    if records:
        await conn.copy_records_to_table(
            table, columns=columns, records=records, schema_name=await conn.fetchval("SELECT current_schema()")
        )


def materials_of(data: dict[str, Any]) -> dict[RecoveredMaterial, Decimal]:
    return {RecoveredMaterial(k): Decimal(str(v)) for k, v in data.items()}
