"""A row of one tenant in any table of the services' schemas, made from the catalog, and what a statement of
another connection does to it: the machinery of the every-table check in test_row_level_security."""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.common.settings import Settings

# The table of each schema whose tenant column decides what its passport-keyed tables show.
PASSPORT_ROOTS = {"identity": "passports", "custody": "known_passports", "recovery": "known_passports",
                  "reporting": "passport_view"}  # fmt: skip
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

COLUMNS_SQL = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typname AS udt, a.attnotnull AS not_null,
       a.atthasdef OR a.attidentity <> '' AS has_default, a.attidentity <> '' AS is_identity
  FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
 WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
 ORDER BY a.attnum
"""
FOREIGN_KEYS_SQL = """
SELECT (SELECT array_agg(a.attname ORDER BY k.i) FROM unnest(c.conkey) WITH ORDINALITY AS k(n, i)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) AS columns,
       c.confrelid::regclass::text AS parent,
       (SELECT array_agg(a.attname ORDER BY k.i) FROM unnest(c.confkey) WITH ORDINALITY AS k(n, i)
          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n) AS parent_columns
  FROM pg_constraint c WHERE c.conrelid = $1::regclass AND c.contype = 'f'
"""

# Values that CHECK constraints allow, by column (or by table.column where the name means different things).
ALLOWED = {
    "outcome": "applied",
    "reported_via": "http",
    "channel": "http",
    "error_behaviour": "rollback",
    "custody_violation_policy": "reject",
    "responsible_kind": "producer",
    "operation": "repurposing",
    "state": "verified",
    "identity.gtin_prefixes.state": "declared",
    "reporting.export_jobs.status": "queued",
    "recovery.attribution_lines.stage": "treatment",
    "custody.pack_membership_events.action": "ADD",
    "reporting.passport_view.state_json": "{}",
    "reporting.passport_view_versions.state_json": "{}",
}


def quoted(name: str) -> str:
    if not IDENTIFIER.match(name):
        raise ValueError(f"unexpected identifier {name!r}")
    return f'"{name}"'


def qualified(table: str) -> str:
    schema, name = table.split(".")
    return f"{quoted(schema)}.{quoted(name)}"


def sample(udt: str, column: str) -> str:
    """A valid value of a column's type, as text (cast in the statement), unique where it could be a key."""
    if column == "prefix":
        return str(random.randrange(10**8, 10**9))
    if udt.startswith("_"):
        return "{}"
    if udt in {"int2"}:
        return str(random.randrange(1, 30_000))
    if udt in {"int4", "int8"}:
        return str(random.randrange(1, 2**31 - 1))
    if udt in {"numeric", "float4", "float8"}:
        return "1"
    if udt == "bool":
        return "false"
    if udt in {"timestamptz", "timestamp"}:
        return "2026-01-01T00:00:00Z"
    if udt == "date":
        return "2026-01-01"
    if udt in {"json", "jsonb"}:
        return "{}"
    if udt == "uuid":
        return str(uuid.uuid4())
    if udt == "bytea":
        return "\\x00"
    return f"rls-{uuid.uuid4().hex}"


@dataclass
class Seeded:
    table: str
    ctid: str
    row: dict[str, Any]


@dataclass
class TenantRows:
    """Rows of one tenant in every table that needs one, written by the owner (the migrations' role)."""

    owner: asyncpg.Connection
    tenant: str
    passport_id: str
    seeded: dict[str, Seeded] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    async def columns(self, table: str) -> list[asyncpg.Record]:
        return list(await self.owner.fetch(COLUMNS_SQL, qualified(table)))

    async def links(self, table: str) -> dict[str, tuple[str, str]]:
        """Column -> (table, column) it takes its value from: foreign keys and the links row-level security
        follows without one."""
        schema = table.split(".")[0]
        found: dict[str, tuple[str, str]] = {}
        for fk in await self.owner.fetch(FOREIGN_KEYS_SQL, qualified(table)):
            parent = fk["parent"] if "." in fk["parent"] else f"{schema}.{fk['parent']}"
            for column, parent_column in zip(fk["columns"], fk["parent_columns"], strict=True):
                found[column] = (parent, parent_column)
        if table == "identity.passport_versions":
            found["static_data_digest"] = ("identity.static_data_documents", "digest")
        if table == "custody.epcis_events":
            found["capture_id"] = ("custody.capture_jobs", "capture_id")
        return found

    async def values(self, table: str) -> dict[str, str]:
        """A new row of this tenant for `table`, as text values by column (columns with defaults left out)."""
        schema = table.split(".")[0]
        root = f"{schema}.{PASSPORT_ROOTS[schema]}"
        if table != root:
            await self.seed(root)  # A's passport, in every schema, before what refers to it
        links = await self.links(table)
        values: dict[str, str] = {}
        for column in await self.columns(table):
            name = column["name"]
            if name in links and (column["not_null"] or links[name][0] in self.seeded or name == "passport_id"):
                parent, parent_column = links[name]
                if parent != table:
                    values[name] = str((await self.seed(parent)).row[parent_column])
                    continue
            if name == "tenant":
                values[name] = self.tenant
            elif name == "passport_id":
                values[name] = self.passport_id
            elif table == "custody.capture_jobs" and name == "events":
                values[name] = f'[{{"entries": [{{"passport_id": "{self.passport_id}"}}]}}]'
            elif f"{table}.{name}" in ALLOWED:
                values[name] = ALLOWED[f"{table}.{name}"]
            elif column["has_default"]:
                continue
            elif name in ALLOWED and column["udt"] == "text":
                values[name] = ALLOWED[name]
            elif column["not_null"]:
                values[name] = sample(column["udt"], name)
        return values

    async def insert_sql(self, table: str, values: dict[str, str]) -> str:
        types = {c["name"]: c["type"] for c in await self.columns(table)}
        names = list(values)
        casts = ", ".join(f"${i}::text::{types[n]}" for i, n in enumerate(names, 1))
        return f"INSERT INTO {qualified(table)} ({', '.join(map(quoted, names))}) VALUES ({casts})"

    async def seed(self, table: str) -> Seeded:
        if table in self.seeded:
            return self.seeded[table]
        values = await self.values(table)
        sql = await self.insert_sql(table, values) + " RETURNING ctid::text AS ctid, *"
        record = await self.owner.fetchrow(sql, *values.values())
        assert record is not None
        row = dict(record)
        seeded = self.seeded[table] = Seeded(table, row.pop("ctid"), row)
        self.order.append(table)
        return seeded

    async def remove(self) -> None:
        for table in reversed(self.order):
            await self.owner.execute(
                f"DELETE FROM {qualified(table)} WHERE ctid = $1::text::tid", self.seeded[table].ctid
            )


async def app_connection(settings: Settings, tenant: str | None) -> asyncpg.Connection:
    conn = await asyncpg.connect(settings.app_dsn(), timeout=10)
    await conn.execute("SELECT set_config('bpass.tenant', $1, false)", tenant or "")
    return conn


async def refused_or_none(conn: asyncpg.Connection, sql: str, *args: Any) -> str:
    """The statement's status in a transaction rolled back (nothing it did stays), or 'refused' when row-level
    security refused it."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        status: str = await conn.execute(sql, *args)
    except asyncpg.InsufficientPrivilegeError as refused:
        return "refused" if "row-level security" in str(refused) else f"refused otherwise: {refused}"
    except asyncpg.IntegrityConstraintViolationError as reached:  # it got past row-level security to the row
        return f"{type(reached).__name__}: {reached}"
    finally:
        await transaction.rollback()
    return status
