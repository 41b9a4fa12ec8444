"""GS1 company prefixes a tenant may mint under (table `gtin_prefixes`): the rule and its SQL.

A GTIN-14's company prefix follows its indicator digit; a tenant mints a passport naming a GTIN only when one of its
*verified* prefixes starts that part. A tenant with no verified prefix mints no GTIN at all (passports without a
GTIN are unaffected: their URI is `/p/<passport id>`). The platform operator verifies a prefix after checking the
GS1 licence; a prefix already verified for another tenant (or overlapping one) is verified again only when the
operator says it is shared (a brand owner and its contract manufacturer)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg

from contracts.errors import Violation
from services.common.db import DbConnection

GTIN_PREFIX_NOT_OWNED = "gtin_prefix_not_owned"
GTIN_PREFIX_OWNED_BY_ANOTHER = "gtin_prefix_owned_by_another"
PREFIX_PATTERN = r"^[0-9]{4,12}$"


def company_part(gtin14: str) -> str:
    """The digits of a GTIN-14 after its indicator digit (where the GS1 company prefix starts)."""
    return gtin14[1:]


def owned(gtin14: str, prefixes: Iterable[str]) -> bool:
    part = company_part(gtin14)
    return any(part.startswith(prefix) for prefix in prefixes)


def not_owned(field: str, gtin14: str) -> Violation:
    return Violation(
        field=field,
        reason=GTIN_PREFIX_NOT_OWNED,
        message=f"GTIN {gtin14} is not under a GS1 company prefix verified for your tenant: declare your prefix "
        "(POST /identity/v1/gtin-prefixes) and have the platform operator verify it, or mint without a GTIN.",
    )


async def verified_prefixes(conn: DbConnection | asyncpg.Pool, tenant: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT prefix FROM gtin_prefixes WHERE tenant = $1 AND state = 'verified' ORDER BY prefix", tenant
    )
    return [r["prefix"] for r in rows]


async def declare(conn: DbConnection, tenant: str, prefix: str, by: str, now: datetime) -> asyncpg.Record:
    """Declare a prefix (idempotent: an existing row, whatever its state, is returned unchanged)."""
    await conn.execute(
        """INSERT INTO gtin_prefixes (tenant, prefix, state, declared_at, declared_by)
           VALUES ($1, $2, 'declared', $3, $4)
           ON CONFLICT (tenant, prefix) DO NOTHING""",
        tenant,
        prefix,
        now,
        by,
    )
    row = await conn.fetchrow("SELECT * FROM gtin_prefixes WHERE tenant = $1 AND prefix = $2", tenant, prefix)
    assert row is not None
    return row


async def overlapping_owners(conn: DbConnection, tenant: str, prefix: str) -> list[str]:
    """Other tenants with a verified prefix that is this one, starts it or starts with it."""
    rows = await conn.fetch(
        """SELECT DISTINCT tenant FROM gtin_prefixes
           WHERE state = 'verified' AND tenant <> $1 AND (starts_with(prefix, $2) OR starts_with($2, prefix))
           ORDER BY tenant""",
        tenant,
        prefix,
    )
    return [r["tenant"] for r in rows]


async def verify(
    conn: DbConnection, tenant: str, prefix: str, *, by: str, reason: str | None, shared: bool, now: datetime
) -> asyncpg.Record:
    """Verify a tenant's prefix (declaring it first when the tenant has not)."""
    row = await conn.fetchrow(
        """INSERT INTO gtin_prefixes (tenant, prefix, state, shared, declared_at, declared_by, verified_at, verified_by,
               reason)
           VALUES ($1, $2, 'verified', $3, $4, $5, $4, $5, $6)
           ON CONFLICT (tenant, prefix) DO UPDATE SET state = 'verified', shared = EXCLUDED.shared,
               verified_at = EXCLUDED.verified_at, verified_by = EXCLUDED.verified_by, reason = EXCLUDED.reason
           RETURNING *""",
        tenant,
        prefix,
        shared,
        now,
        by,
        reason,
    )
    assert row is not None
    return row


async def revoke(
    conn: DbConnection, tenant: str, prefix: str, *, by: str, reason: str | None, now: datetime
) -> asyncpg.Record | None:
    """Revoke a tenant's prefix (kept for the record); None when the tenant has no such prefix."""
    return await conn.fetchrow(
        """UPDATE gtin_prefixes SET state = 'revoked', verified_at = $3, verified_by = $4, reason = $5
           WHERE tenant = $1 AND prefix = $2 RETURNING *""",
        tenant,
        prefix,
        now,
        by,
        reason,
    )


async def listed(conn: DbConnection | asyncpg.Pool, tenant: str | None) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT * FROM gtin_prefixes WHERE ($1::text IS NULL OR tenant = $1) ORDER BY tenant, prefix LIMIT 1000",
            tenant,
        )
    )


def body(row: Any) -> dict[str, Any]:
    return {
        "tenant": row["tenant"],
        "prefix": row["prefix"],
        "state": row["state"],
        "shared": row["shared"],
        "declared_at": row["declared_at"].isoformat(),
        "declared_by": row["declared_by"],
        "verified_at": row["verified_at"].isoformat() if row["verified_at"] else None,
        "verified_by": row["verified_by"],
        "reason": row["reason"],
    }
