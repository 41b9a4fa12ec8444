"""asyncpg pools, tenant isolation and the migrations runner (numbered SQL files, applied once each, checksummed).

Tenant isolation (row-level security). Three PostgreSQL roles, none a superuser:
- the owner (`database_url`): owns every table; used by the migrations only;
- `bpass_app`: HTTP requests of a tenant's principals (OEM users, the auditors they grant). Every table with a
  `tenant` column has FORCE ROW LEVEL SECURITY and the policy `tenant = current_setting('bpass.tenant')`; the
  tenant is set on the connection each time a request borrows it (`tenant_scope`), so a wrong or missing tenant
  sees and writes nothing;
- `bpass_platform` (BYPASSRLS): consumers, the outbox relay, background jobs and the requests of cross-tenant
  principals (handlers, authorities, the platform operator, the public QR surface), whose reach the services
  decide row by row (custody, access tiers).
`Runtime.pool` hands out the pool that fits the current scope.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from services.common.settings import APP_ROLE, PLATFORM_ROLE

log = logging.getLogger(__name__)

# A connection of its own or one borrowed from a pool: the code using it cannot tell the difference.
DbConnection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

COMMON_MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
CONNECT_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 30.0


PLATFORM = "*"  # the scope of consumers, jobs and cross-tenant principals
TENANT_SETTING = "bpass.tenant"

# The tenant a task's database work is confined to; PLATFORM for platform work; None: nothing is visible.
_scope: ContextVar[str | None] = ContextVar("bpass_db_scope", default=None)


def current_scope() -> str | None:
    return _scope.get()


def set_scope(scope: str | None) -> None:
    """Confine this task's (and the tasks it starts) database work to a tenant, or PLATFORM."""
    _scope.set(scope)


@contextmanager
def tenant_scope(scope: str | None) -> Iterator[None]:
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)


async def _set_tenant(conn: Any) -> None:
    """Pool `setup`: runs each time a connection is borrowed, in the borrowing task's context."""
    scope = _scope.get()
    await conn.execute(
        f"SELECT set_config('{TENANT_SETTING}', $1, false)", scope if scope and scope != PLATFORM else ""
    )


def _jsonb_encode(value: Any) -> bytes:
    return b"\x01" + orjson.dumps(value, default=_json_default)


def _jsonb_decode(data: bytes) -> Any:
    return orjson.loads(data[1:])


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


async def init_connection(conn: asyncpg.Connection) -> None:
    # Binary format so that COPY (bulk inserts) can carry jsonb too; version byte 1 then the JSON text.
    await conn.set_type_codec(
        "jsonb", encoder=_jsonb_encode, decoder=_jsonb_decode, schema="pg_catalog", format="binary"
    )
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


STAGE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,50}$")


async def copy_records(conn: DbConnection, table: str, columns: list[str], records: list[tuple[Any, ...]]) -> None:
    """COPY rows into `table` of the connection's schema, also under row-level security (which refuses COPY
    into the table itself): through a session's temporary stage, then one INSERT ... SELECT, in the caller's
    transaction. The policies check every row as the INSERT writes it."""
    if not records:
        return
    if not STAGE_NAME.match(table) or not all(STAGE_NAME.match(c) for c in columns):
        raise ValueError(f"bad table or column name in {table}({columns})")
    stage = f"stage_{table}"
    names = ", ".join(columns)
    await conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} AS SELECT {names} FROM {table} WITH NO DATA")
    await conn.copy_records_to_table(stage, columns=columns, records=records)
    await conn.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage}")
    await conn.execute(f"TRUNCATE {stage}")


async def create_pool(
    dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10, tenant_bound: bool = False
) -> asyncpg.Pool:
    """A pool whose connections see `schema` first: a service only ever touches its own tables. A
    `tenant_bound` pool sets the borrowing task's tenant on the connection each time it is borrowed."""
    if not SCHEMA_NAME.match(schema):
        raise ValueError(f"bad schema name {schema!r}")
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        timeout=CONNECT_TIMEOUT_S,
        command_timeout=COMMAND_TIMEOUT_S,
        init=init_connection,
        setup=_set_tenant if tenant_bound else None,
        server_settings={"search_path": f"{schema},public", "application_name": f"bpass-{schema}"},
    )
    assert pool is not None
    return pool


@dataclass(frozen=True)
class Migration:
    version: str  # "common:001" or "identity:001"
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path, prefix: str) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = MIGRATION_FILE.match(path.name)
        if not match:
            raise ValueError(f"migration file {path} must be named NNN_snake_case.sql")
        found.append(Migration(f"{prefix}:{match.group(1)}", path))
    return found


class MigrationChanged(RuntimeError):
    """An applied migration file was edited afterwards: add a new numbered file instead."""


async def migrate(dsn: str, schema: str, service_migrations: Path) -> list[str]:
    """Create the schema and apply pending migrations (common first, then the service's). Returns versions."""
    if not SCHEMA_NAME.match(schema):
        raise ValueError(f"bad schema name {schema!r}")
    migrations = discover(COMMON_MIGRATIONS, "common") + discover(service_migrations, schema)
    conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S, command_timeout=120)
    applied_now: list[str] = []
    try:
        # One migrator per schema at a time, whatever the number of instances starting.
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"bpass-migrate-{schema}")
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(
                f"""CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations (
                        version text PRIMARY KEY,
                        checksum text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            rows = await conn.fetch(f'SELECT version, checksum FROM "{schema}".schema_migrations')
            done = {r["version"]: r["checksum"] for r in rows}
            for migration in migrations:
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationChanged(
                            f"{migration.path} was changed after it was applied to schema {schema}; "
                            "add a new numbered migration instead"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
                    await conn.execute(migration.sql)
                    await conn.execute(
                        f'INSERT INTO "{schema}".schema_migrations (version, checksum) VALUES ($1, $2)',
                        migration.version,
                        migration.checksum,
                    )
                applied_now.append(migration.version)
                log.info("applied migration %s to schema %s", migration.version, schema)
            async with conn.transaction():
                await enforce_tenant_isolation(conn, schema)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"bpass-migrate-{schema}")
    finally:
        await conn.close()
    return applied_now


async def enforce_tenant_isolation(conn: DbConnection, schema: str) -> list[str]:
    """Grant the application roles their rights on `schema` and put every table with a `tenant` column under
    FORCE ROW LEVEL SECURITY with the tenant policy (idempotent; runs after every migration, so a new table can't
    be forgotten). Returns the tables that got the policy now."""
    missing = await conn.fetch(
        "SELECT r FROM unnest($1::text[]) r WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r)",
        [APP_ROLE, PLATFORM_ROLE],
    )
    if missing:
        raise RuntimeError(
            f"PostgreSQL roles {', '.join(r['r'] for r in missing)} are missing: `bash deploy/local/stack.sh up` "
            "creates them (or see deploy/compose/postgres-init.sql)"
        )
    for role in (APP_ROLE, PLATFORM_ROLE):
        await conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}')
        await conn.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO {role}')
        await conn.execute(f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "{schema}" TO {role}')
    tables = await conn.fetch(
        """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                  EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation') AS has
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant' AND NOT a.attisdropped
            WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')""",
        schema,
    )
    changed = []
    for t in tables:
        name = f'"{schema}"."{t["relname"]}"'
        if not t["relrowsecurity"] or not t["relforcerowsecurity"]:
            await conn.execute(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")
        if not t["has"]:
            await conn.execute(
                f"""CREATE POLICY tenant_isolation ON {name}
                        USING (tenant = current_setting('{TENANT_SETTING}', true))
                        WITH CHECK (tenant = current_setting('{TENANT_SETTING}', true))"""
            )
            changed.append(t["relname"])
    if changed:
        log.info("row-level security on %s.%s", schema, ", ".join(changed))
    return changed


async def pending_migrations(pool: asyncpg.Pool, schema: str, service_migrations: Path) -> list[str]:
    """Versions not yet applied (readiness says not ready while this is non-empty)."""
    expected = [m.version for m in discover(COMMON_MIGRATIONS, "common") + discover(service_migrations, schema)]
    try:
        rows = await pool.fetch(f'SELECT version FROM "{schema}".schema_migrations')
    except asyncpg.UndefinedTableError:
        return expected
    done = {r["version"] for r in rows}
    return [v for v in expected if v not in done]
