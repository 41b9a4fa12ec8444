"""What the recovery store's modules share."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeAlias

import asyncpg

from contracts.recovery import RecoveredMaterial
from services.common.db import DbConnection

Db: TypeAlias = "DbConnection | asyncpg.Pool"
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


async def copy_rows(conn: DbConnection, table: str, columns: list[str], records: list[tuple[Any, ...]]) -> None:
    if records:
        await conn.copy_records_to_table(
            table, columns=columns, records=records, schema_name=await conn.fetchval("SELECT current_schema()")
        )


def materials_of(data: dict[str, Any]) -> dict[RecoveredMaterial, Decimal]:
    return {RecoveredMaterial(k): Decimal(str(v)) for k, v in data.items()}
