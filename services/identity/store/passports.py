"""SQL of the passports, their versions and their static data documents (and the labels read from them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from services.common.db import DbConnection, copy_records
from services.identity.domain.documents import StaticDocument, StaticDocuments
from services.identity.domain.passports import NewPassport

Conn: TypeAlias = "DbConnection | asyncpg.Pool"

STAGE_SQL = """
CREATE TEMP TABLE IF NOT EXISTS mint_stage (
    passport_id text, tenant text, battery_identifier text, kind text, category text, product_family text,
    gtin text, batch_number text, public_uri text, minted_at timestamptz, minted_by text
) ON COMMIT DELETE ROWS
"""

# The caller has already left out the identifiers it found minted, so the rows normally all go in: a plain
# INSERT, about twice as fast as ON CONFLICT's speculative insertion into three unique indexes (100,000 rows:
# 1.0 s against 2.1 s). Run in a savepoint; a unique violation (a concurrent request minted some of them
# meanwhile, or another tenant's GTIN + serial) rolls it back and INSERT_SQL decides row by row.
INSERT_NEW_SQL = """
INSERT INTO passports (passport_id, tenant, battery_identifier, kind, category, product_family, gtin,
                       batch_number, public_uri, minted_at, minted_by)
SELECT passport_id, tenant, battery_identifier, kind, category, product_family, gtin, batch_number,
       public_uri, minted_at, minted_by
FROM mint_stage
ORDER BY battery_identifier
"""

# No conflict target: a clash on (tenant, identifier) means "already minted"; one on the GTIN + serial of
# another tenant's passport is found afterwards and refused. Rows go in identifier order, so concurrent
# requests for overlapping batteries take their row locks in the same order (no deadlock).
INSERT_SQL = INSERT_NEW_SQL + "ON CONFLICT DO NOTHING\nRETURNING passport_id\n"

# Through a function running as the owner (migration identity:091): documents are shared between tenants, and a
# tenant's connection sees only those its own passport versions name.
DOCUMENTS_SQL = "SELECT add_static_data_documents($1::text[], $2::jsonb[])"

CURRENT_SQL = """
SELECT p.passport_id, p.tenant, p.battery_identifier, p.kind, p.category, p.product_family, p.gtin,
       p.batch_number, p.public_uri, p.current_version, p.current_version AS version, p.minted_at, p.minted_by,
       v.subject, d.static_data, v.extensions, v.changed_at, v.changed_by, v.reason, v.changed_fields,
       v.extension_schema_version
FROM passports p
JOIN passport_versions v ON v.passport_id = p.passport_id AND v.version = p.current_version
JOIN static_data_documents d ON d.digest = v.static_data_digest
"""


PASSPORT_COLUMNS = [
    "passport_id",
    "tenant",
    "battery_identifier",
    "kind",
    "category",
    "product_family",
    "gtin",
    "batch_number",
    "public_uri",
    "minted_at",
    "minted_by",
]


def _passport_records(planned: Sequence[NewPassport]) -> list[tuple[Any, ...]]:
    return [
        (
            p.passport_id,
            p.tenant,
            p.item.subject.battery_identifier,
            p.item.subject.kind.value,
            p.item.category.value,
            p.item.product_family,
            p.item.subject.gtin,
            p.item.subject.batch_number,
            p.public_uri,
            p.minted_at,
            p.minted_by,
        )
        for p in planned
    ]


async def insert_passports(
    conn: DbConnection, planned: Sequence[NewPassport], documents: StaticDocuments, schema_versions: dict[str, int]
) -> set[str]:
    """Insert passports the caller found new; returns the ids actually created. Those not created were minted
    meanwhile by a concurrent request, or clash with another tenant's GTIN + serial."""
    if not planned:
        return set()
    # Identifier order, like INSERT_SQL: concurrent requests for overlapping batteries lock rows in one order.
    records = sorted(_passport_records(planned), key=lambda record: record[2])
    # Through a stage: COPY into `passports` itself is refused under row-level security (an OEM's request runs
    # confined to its tenant), and the INSERT ... SELECT skips rows a concurrent request minted meanwhile.
    await conn.execute(STAGE_SQL)
    await conn.copy_records_to_table("mint_stage", records=records)
    try:
        async with conn.transaction():  # a savepoint in the caller's transaction
            await conn.execute(INSERT_NEW_SQL)
        created = {p.passport_id for p in planned}
    except asyncpg.UniqueViolationError:
        created = {r["passport_id"] for r in await conn.fetch(INSERT_SQL)}
    new = [p for p in planned if p.passport_id in created]
    if new:
        await store_documents(conn, [documents.of(p.item.static_data) for p in new])
        await copy_records(  # an OEM's request runs under row-level security: no COPY into the table itself
            conn,
            "passport_versions",
            [
                "passport_id",
                "version",
                "subject",
                "static_data_digest",
                "extensions",
                "changed_at",
                "changed_by",
                "reason",
                "extension_schema_version",
            ],
            [
                (
                    p.passport_id,
                    1,
                    _subject_json(p),
                    documents.of(p.item.static_data).digest,
                    p.item.extensions,
                    p.minted_at,
                    p.minted_by,
                    "minted",
                    schema_versions.get(p.item.product_family) if p.item.extensions and p.item.product_family else None,
                )
                for p in new
            ],
        )
    return created


def _subject_json(p: NewPassport) -> dict[str, Any]:
    subject = p.item.subject
    return {
        "kind": subject.kind.value,
        "battery_identifier": subject.battery_identifier,
        "gtin": subject.gtin,
        "batch_number": subject.batch_number,
        "member_identifiers": subject.member_identifiers,
    }


async def store_documents(conn: DbConnection, documents: Sequence[StaticDocument]) -> None:
    unique = {d.digest: d for d in documents}
    await conn.execute(DOCUMENTS_SQL, list(unique), [d.json for d in unique.values()])


async def lz4_available(conn: DbConnection) -> bool:
    """Whether this PostgreSQL was built with lz4 (TOAST compression of large values)."""
    return bool(
        await conn.fetchval("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
    )


async def compress_with_lz4(conn: DbConnection) -> None:
    """TOAST-compress this transaction's large values with lz4 (~3x faster than pglz)."""
    await conn.execute("SET LOCAL default_toast_compression = 'lz4'")


async def existing_by_identifier(conn: DbConnection, tenant: str, identifiers: list[str]) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT passport_id, battery_identifier, public_uri FROM passports "
        "WHERE tenant = $1 AND battery_identifier = ANY($2::text[])",
        tenant,
        identifiers,
    )
    return {r["battery_identifier"]: r for r in rows}


async def get_passport(conn: Conn, tenant: str | None, passport_id: str) -> dict[str, Any] | None:
    """The current version of a passport, its owner's view; None when it is not the tenant's (or unknown)."""
    row = await conn.fetchrow(
        f"{CURRENT_SQL} WHERE p.passport_id = $1 AND ($2::text IS NULL OR p.tenant = $2)", passport_id, tenant
    )
    return dict(row) if row else None


async def find_by_gtin_serial(conn: Conn, gtin14: str, serial: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"{CURRENT_SQL} WHERE lpad(p.gtin, 14, '0') = $1 AND p.battery_identifier = $2 AND p.gtin IS NOT NULL",
        gtin14,
        serial,
    )
    return dict(row) if row else None


async def lock_passport(conn: DbConnection, tenant: str, passport_id: str) -> dict[str, Any] | None:
    """The current version, its passport row locked until the transaction ends (amendments serialise)."""
    # Lock alone first: a locking join would re-check `v.version = p.current_version` against the version row
    # it read before waiting, and lose the passport when a concurrent amendment moved current_version on.
    locked = await conn.fetchval(
        "SELECT 1 FROM passports WHERE passport_id = $1 AND tenant = $2 FOR UPDATE", passport_id, tenant
    )
    if locked is None:
        return None
    return await get_passport(conn, tenant, passport_id)


async def insert_version(
    conn: DbConnection,
    *,
    passport_id: str,
    version: int,
    subject: Any,
    document: StaticDocument,
    extensions: dict[str, Any],
    changed_at: datetime,
    changed_by: str,
    reason: str,
    changed_fields: list[str],
    extension_schema_version: int | None,
) -> None:
    await store_documents(conn, [document])
    await conn.execute(
        """INSERT INTO passport_versions (passport_id, version, subject, static_data_digest, extensions, changed_at,
                                          changed_by, reason, changed_fields, extension_schema_version)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        passport_id,
        version,
        subject,
        document.digest,
        extensions,
        changed_at,
        changed_by,
        reason,
        changed_fields,
        extension_schema_version,
    )
    await conn.execute("UPDATE passports SET current_version = $2 WHERE passport_id = $1", passport_id, version)


async def list_versions(conn: Conn, tenant: str | None, passport_id: str) -> list[dict[str, Any]] | None:
    """Every version of a passport, oldest first (without the data); None when the passport is not visible."""
    owner = await conn.fetchval(
        "SELECT tenant FROM passports WHERE passport_id = $1 AND ($2::text IS NULL OR tenant = $2)", passport_id, tenant
    )
    if owner is None:
        return None
    rows = await conn.fetch(
        """SELECT version, changed_at, changed_by, reason, changed_fields, extension_schema_version
           FROM passport_versions WHERE passport_id = $1 ORDER BY version""",
        passport_id,
    )
    return [dict(r) for r in rows]


async def get_version(conn: Conn, tenant: str | None, passport_id: str, version: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT v.passport_id, v.version, v.subject, d.static_data, v.extensions, v.changed_at, v.changed_by,
                  v.reason, v.changed_fields, v.extension_schema_version
           FROM passport_versions v
           JOIN passports p ON p.passport_id = v.passport_id
           JOIN static_data_documents d ON d.digest = v.static_data_digest
           WHERE v.passport_id = $1 AND v.version = $3 AND ($2::text IS NULL OR p.tenant = $2)""",
        passport_id,
        tenant,
        version,
    )
    return dict(row) if row else None


# --- labels -------------------------------------------------------------------------------------------------


async def labels_by_ids(conn: Conn, tenant: str, passport_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """passport id -> (battery identifier, public URI), for the tenant's passports among `passport_ids`."""
    rows = await conn.fetch(
        "SELECT passport_id, battery_identifier, public_uri FROM passports "
        "WHERE tenant = $1 AND passport_id = ANY($2::text[])",
        tenant,
        list(passport_ids),
    )
    return {r["passport_id"]: (r["battery_identifier"], r["public_uri"]) for r in rows}


async def labels_by_batch(
    conn: Conn, tenant: str, batch_number: str | None, product_family: str | None, limit: int
) -> list[tuple[str, str]]:
    """(battery identifier, public URI) of the tenant's passports of a batch and/or family, by identifier."""
    rows = await conn.fetch(
        """SELECT battery_identifier, public_uri FROM passports
           WHERE tenant = $1 AND ($2::text IS NULL OR batch_number = $2) AND ($3::text IS NULL OR product_family = $3)
           ORDER BY battery_identifier LIMIT $4""",
        tenant,
        batch_number,
        product_family,
        limit,
    )
    return [(r["battery_identifier"], r["public_uri"]) for r in rows]
