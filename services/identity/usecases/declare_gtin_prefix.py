"""Declare a GS1 company prefix of a tenant, to be verified by the platform operator (idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from services.common.db import DbConnection
from services.identity.store import gtin_prefixes


async def declare_gtin_prefix(conn: DbConnection, *, tenant: str, prefix: str, declared_by: str) -> asyncpg.Record:
    return await gtin_prefixes.declare(conn, tenant, prefix, declared_by, datetime.now(UTC))
