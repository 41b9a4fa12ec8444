"""Revoke a tenant's GS1 company prefix (kept for the record): no more passports under its GTINs."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from services.common.db import DbConnection
from services.identity.store import gtin_prefixes


async def revoke_gtin_prefix(
    conn: DbConnection, *, tenant: str, prefix: str, revoked_by: str, reason: str | None
) -> asyncpg.Record | None:
    """The revoked row; None when the tenant has no such prefix."""
    return await gtin_prefixes.revoke(conn, tenant, prefix, by=revoked_by, reason=reason, now=datetime.now(UTC))
