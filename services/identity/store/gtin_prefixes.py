"""SQL of the GS1 company prefixes a tenant declared and the platform operator verified or revoked (table
`gtin_prefixes`); the ownership rule is in domain/gtin_prefixes.py."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.common.db import DbConnection


async def lock_prefixes(conn: DbConnection) -> None:
    """Verifications one at a time: two overlapping prefixes are never verified for two tenants at once."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('identity.gtin_prefixes'))")


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
