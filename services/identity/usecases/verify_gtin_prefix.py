"""Verify a tenant's GS1 company prefix (the platform operator, after checking the GS1 licence): its GTINs may be
minted from now on; a prefix overlapping one verified for another tenant only when said to be shared."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from services.common.db import DbConnection
from services.identity.store import gtin_prefixes


class PrefixOwnedByAnother(Exception):
    """The prefix overlaps one verified for other tenants, and the verification did not say it is shared."""

    def __init__(self, others: list[str]) -> None:
        self.others = others
        super().__init__(f"verified for {', '.join(others)}")


async def verify_gtin_prefix(
    conn: DbConnection, *, tenant: str, prefix: str, verified_by: str, reason: str | None, shared: bool
) -> asyncpg.Record:
    await gtin_prefixes.lock_prefixes(conn)
    others = await gtin_prefixes.overlapping_owners(conn, tenant, prefix)
    if others and not shared:
        raise PrefixOwnedByAnother(others)
    return await gtin_prefixes.verify(
        conn, tenant, prefix, by=verified_by, reason=reason, shared=shared, now=datetime.now(UTC)
    )
