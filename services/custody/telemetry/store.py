"""SQL of telemetry: the time series (`telemetry_readings`), the latest value per metric (`telemetry_latest`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import asyncpg

from services.common.db import DbConnection

STAGE_SQL = """
CREATE TEMP TABLE IF NOT EXISTS telemetry_stage (
    passport_id text, metric text, measured_at timestamptz, value numeric, source_system text
) ON COMMIT DELETE ROWS
"""

STORE_SQL = """
WITH stored AS (
    INSERT INTO telemetry_readings (passport_id, metric, measured_at, value, source_system)
    SELECT passport_id, metric, measured_at, value, source_system FROM telemetry_stage
    ON CONFLICT DO NOTHING
    RETURNING passport_id
)
SELECT passport_id, count(*) AS stored FROM stored GROUP BY passport_id
"""

LATEST_SQL = """
INSERT INTO telemetry_latest (passport_id, metric, value, measured_at, source_system)
SELECT DISTINCT ON (passport_id, metric) passport_id, metric, value, measured_at, source_system
FROM telemetry_stage ORDER BY passport_id, metric, measured_at DESC
ON CONFLICT (passport_id, metric) DO UPDATE
    SET value = EXCLUDED.value, measured_at = EXCLUDED.measured_at, source_system = EXCLUDED.source_system
    WHERE telemetry_latest.measured_at < EXCLUDED.measured_at
RETURNING passport_id, metric, value, measured_at, source_system
"""


async def store_readings(
    conn: DbConnection, rows: Sequence[tuple[str, str, datetime, Decimal, str]]
) -> tuple[dict[str, int], list[asyncpg.Record]]:
    """Store readings (duplicates ignored): how many were new per passport, and the latest values they changed."""
    await conn.execute(STAGE_SQL)
    await conn.copy_records_to_table("telemetry_stage", records=rows)
    stored = {row["passport_id"]: row["stored"] for row in await conn.fetch(STORE_SQL)}
    return stored, await conn.fetch(LATEST_SQL)


async def tenants_of(conn: DbConnection, passport_ids: Sequence[str]) -> dict[str, str]:
    """The tenant of each passport custody knows of (minted)."""
    rows = await conn.fetch(
        "SELECT passport_id, tenant FROM known_passports WHERE passport_id = ANY($1::text[])", passport_ids
    )
    return {row["passport_id"]: row["tenant"] for row in rows}
