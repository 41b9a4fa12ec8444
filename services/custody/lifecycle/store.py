"""SQL of waste declarations: lock the passport's custody record, append the entry, record the declaration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.common.db import DbConnection
from services.custody.ingest.store import LOG_COLUMNS

INSERT_ENTRY_SQL = (
    f"INSERT INTO custody_log ({', '.join(LOG_COLUMNS)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(LOG_COLUMNS) + 1))})"
)


async def lock_passport(conn: DbConnection, passport_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT passport_id, tenant, head_sequence, head_hash, holder, in_transit, stage, status
           FROM known_passports WHERE passport_id = $1 FOR UPDATE""",
        passport_id,
    )


async def append_declaration(
    conn: DbConnection,
    *,
    log_row: tuple[Any, ...],
    passport_id: str,
    tenant: str,
    sequence: int,
    entry_hash: str,
    declaration_id: str,
    responsible_kind: str,
    responsible_id: str,
    reason: str,
    occurred_at: datetime,
    declared_by: str,
) -> None:
    """The log entry (its primary key guards against a concurrent append), the new head and status, the record."""
    # INSERT, not COPY: an OEM's request runs under row-level security, which COPY does not support.
    await conn.execute(INSERT_ENTRY_SQL, *log_row)
    await conn.execute(
        "UPDATE known_passports SET head_sequence = $2, head_hash = $3, status = 'waste' WHERE passport_id = $1",
        passport_id,
        sequence,
        entry_hash,
    )
    await conn.execute(
        """INSERT INTO waste_declarations (declaration_id, passport_id, tenant, sequence, responsible_kind,
                                           responsible_id, reason, occurred_at, declared_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        declaration_id,
        passport_id,
        tenant,
        sequence,
        responsible_kind,
        responsible_id,
        reason,
        occurred_at,
        declared_by,
    )
