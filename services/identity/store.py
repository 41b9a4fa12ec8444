"""SQL of the identity schema."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.common.db import DbConnection
from services.identity.domain import NewPassport

STAGE_SQL = """
CREATE TEMP TABLE IF NOT EXISTS mint_stage (
    passport_id text, tenant text, battery_identifier text, kind text, category text, product_family text,
    gtin text, batch_number text, public_uri text, minted_at timestamptz, minted_by text
) ON COMMIT DELETE ROWS
"""

INSERT_SQL = """
INSERT INTO passports (passport_id, tenant, battery_identifier, kind, category, product_family, gtin,
                       batch_number, public_uri, minted_at, minted_by)
SELECT passport_id, tenant, battery_identifier, kind, category, product_family, gtin, batch_number,
       public_uri, minted_at, minted_by
FROM mint_stage
ON CONFLICT (tenant, battery_identifier) DO NOTHING
RETURNING passport_id
"""


async def insert_passports(conn: DbConnection, planned: list[NewPassport]) -> set[str]:
    """Insert what is new; returns the passport ids actually created (the others already existed)."""
    await conn.execute(STAGE_SQL)
    await conn.copy_records_to_table(
        "mint_stage",
        records=[
            (
                p.passport_id,
                p.tenant,
                p.battery_identifier,
                p.spec.subject.kind.value,
                p.spec.category.value,
                p.spec.product_family,
                p.spec.subject.gtin,
                p.spec.subject.batch_number,
                p.public_uri,
                p.minted_at,
                p.minted_by,
            )
            for p in planned
        ],
    )
    created = {r["passport_id"] for r in await conn.fetch(INSERT_SQL)}
    new = [p for p in planned if p.passport_id in created]
    if new:
        await conn.copy_records_to_table(
            "passport_versions",
            columns=[
                "passport_id",
                "version",
                "subject",
                "static_data",
                "extensions",
                "changed_at",
                "changed_by",
                "reason",
            ],
            records=[
                (
                    p.passport_id,
                    1,
                    p.spec.subject.model_dump(mode="json"),
                    p.spec.static_data.model_dump(mode="json", exclude_none=True),
                    p.spec.extensions,
                    p.minted_at,
                    p.minted_by,
                    "minted",
                )
                for p in new
            ],
        )
    return created


async def existing_by_identifier(conn: DbConnection, tenant: str, identifiers: list[str]) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT passport_id, battery_identifier, public_uri FROM passports "
        "WHERE tenant = $1 AND battery_identifier = ANY($2::text[])",
        tenant,
        identifiers,
    )
    return {r["battery_identifier"]: r for r in rows}


async def get_passport(
    conn: DbConnection | asyncpg.Pool, tenant: str | None, passport_id: str
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT p.*, v.subject, v.static_data, v.extensions, v.changed_at, v.changed_by, v.reason
           FROM passports p JOIN passport_versions v
             ON v.passport_id = p.passport_id AND v.version = p.current_version
           WHERE p.passport_id = $1 AND ($2::text IS NULL OR p.tenant = $2)""",
        passport_id,
        tenant,
    )
    return dict(row) if row else None
