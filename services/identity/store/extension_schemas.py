"""SQL of the extension schemas: each product family's JSON Schema of OEM extension fields, by version."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from services.common.db import DbConnection

Conn: TypeAlias = "DbConnection | asyncpg.Pool"


# --- extension schemas --------------------------------------------------------------------------------------


async def latest_extension_schemas(conn: Conn, tenant: str, families: Sequence[str]) -> dict[str, dict[str, Any]]:
    """family -> its latest schema row, for the families that have one."""
    if not families:
        return {}
    rows = await conn.fetch(
        """SELECT DISTINCT ON (product_family) product_family, version, json_schema, public_fields, declared_at,
                  declared_by
           FROM extension_schemas WHERE tenant = $1 AND product_family = ANY($2::text[])
           ORDER BY product_family, version DESC""",
        tenant,
        list(families),
    )
    return {r["product_family"]: dict(r) for r in rows}


async def extension_schema(conn: Conn, tenant: str, family: str, version: int | None = None) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT product_family, version, json_schema, public_fields, declared_at, declared_by
           FROM extension_schemas
           WHERE tenant = $1 AND product_family = $2 AND ($3::int IS NULL OR version = $3)
           ORDER BY version DESC LIMIT 1""",
        tenant,
        family,
        version,
    )
    return dict(row) if row else None


async def declare_extension_schema(
    conn: DbConnection,
    *,
    tenant: str,
    family: str,
    json_schema: dict[str, Any],
    public_fields: list[str],
    declared_at: datetime,
    declared_by: str,
) -> tuple[dict[str, Any], bool]:
    """Store the schema as the family's next version, unless it equals the latest; (row, created)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('extension-schema/' || $1 || '/' || $2))", tenant, family)
    latest = await extension_schema(conn, tenant, family)
    if latest is not None and latest["json_schema"] == json_schema:
        return latest, False
    row = await conn.fetchrow(
        """INSERT INTO extension_schemas (tenant, product_family, version, json_schema, public_fields, declared_at,
                                          declared_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           RETURNING product_family, version, json_schema, public_fields, declared_at, declared_by""",
        tenant,
        family,
        (latest["version"] if latest else 0) + 1,
        json_schema,
        public_fields,
        declared_at,
        declared_by,
    )
    assert row is not None
    return dict(row), True
