"""Declare a product family's extension schema: a new version unless it equals the latest one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.common.db import DbConnection
from services.identity.domain import extensions
from services.identity.domain.violations import fail_if
from services.identity.store import extension_schemas


async def declare_extension_schema(
    conn: DbConnection, *, tenant: str, family: str, schema: dict[str, Any], declared_by: str
) -> tuple[dict[str, Any], bool]:
    fail_if(extensions.check_schema(schema))
    return await extension_schemas.declare_extension_schema(
        conn,
        tenant=tenant,
        family=family,
        json_schema=schema,
        public_fields=extensions.public_paths(schema),
        declared_at=datetime.now(UTC),
        declared_by=declared_by,
    )
