"""Tenant isolation in PostgreSQL: row-level security on every table with a tenant, checked in the database itself.

The services connect as `bpass_app` (a tenant's principals; row-level security applies) or `bpass_platform`
(consumers, jobs, cross-tenant principals); neither owns a table. Here the schemas are migrated as the services
migrate them, then each rule is checked against the real PostgreSQL.

Every table of every service schema, as the catalog lists it, is either declared not tenant-scoped in its
migrations (`COMMENT ON TABLE ... IS 'not tenant-scoped: <why>'`) or shown confined: a row of tenant A is
seeded in it (and in what it refers to), then `bpass_app` with tenant B, and with no tenant, sees no row of the
table at all, and can neither change, delete nor add a row of A's. A table commented `platform only: ...` is
hidden from A too.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from services.common.db import PLATFORM, create_pool, migrate, tenant_scope
from services.common.settings import APP_ROLE, PLATFORM_ROLE, REPO_ROOT, Settings
from tests.integration.tenant_rows import TenantRows, app_connection, qualified, quoted, refused_or_none

SERVICES = ("identity", "custody", "recovery", "reporting")


@pytest.fixture(scope="module")
async def migrated(settings: Settings) -> Settings:
    for service in SERVICES:
        await migrate(settings.database_url, service, REPO_ROOT / "services" / service / "migrations")
    return settings


@pytest.fixture
async def two_passports(migrated: Settings, db: asyncpg.Connection) -> AsyncIterator[tuple[str, str, str, str]]:
    """One identity passport of tenant A and one of tenant B, written by the owner (migrations' role)."""
    tenant_a, tenant_b = f"oem-a-{uuid.uuid4().hex[:8]}", f"oem-b-{uuid.uuid4().hex[:8]}"
    ids = (f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}")
    for passport_id, tenant in zip(ids, (tenant_a, tenant_b), strict=True):
        await db.execute(
            """INSERT INTO identity.passports (passport_id, tenant, battery_identifier, kind, category, public_uri,
                                               minted_at, minted_by)
               VALUES ($1, $2, $3, 'battery', 'ev', $4, $5, 'test')""",
            passport_id,
            tenant,
            f"SN-{uuid.uuid4().hex[:8]}",
            f"https://passport.example.test/p/{passport_id}",
            datetime.now(UTC),
        )
    yield tenant_a, ids[0], tenant_b, ids[1]
    await db.execute("DELETE FROM identity.passports WHERE passport_id = ANY($1::text[])", list(ids))


async def test_every_table_with_a_tenant_forces_row_level_security(migrated: Settings, db: asyncpg.Connection) -> None:
    rows = await db.fetch(
        """SELECT n.nspname AS schema, c.relname AS name, c.relrowsecurity, c.relforcerowsecurity,
                  pg_get_userbyid(c.relowner) AS owner,
                  (SELECT pg_get_expr(p.polqual, p.polrelid) FROM pg_policy p
                    WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation') AS policy
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant' AND NOT a.attisdropped
            WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p')""",
        list(SERVICES),
    )
    tables = {f"{r['schema']}.{r['name']}" for r in rows}
    # The tables holding tenant data in each service (more may come; none may be left out).
    assert {
        "identity.passports",
        "custody.known_passports",
        "recovery.known_passports",
        "reporting.passport_view",
    } <= tables
    assert {r["schema"] for r in rows} == set(SERVICES)
    for r in rows:
        assert r["relrowsecurity"], f"{r['schema']}.{r['name']} has no row-level security"
        assert r["relforcerowsecurity"], f"{r['schema']}.{r['name']} does not force row-level security"
        assert "current_setting('bpass.tenant'" in (r["policy"] or ""), r
        assert r["owner"] not in {APP_ROLE, PLATFORM_ROLE}


async def test_every_table_keyed_by_passport_forces_row_level_security(
    migrated: Settings, db: asyncpg.Connection
) -> None:
    """Tables without a tenant of their own are confined through their passport's row (its tenant)."""
    rows = await db.fetch(
        """SELECT n.nspname || '.' || c.relname AS name, c.relforcerowsecurity AS forced,
                  EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid) AS has_policy
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'passport_id' AND NOT a.attisdropped
            WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p')""",
        list(SERVICES),
    )
    assert {"identity.passport_versions", "custody.custody_log", "reporting.passport_view_versions"} <= {
        r["name"] for r in rows
    }
    unprotected = [r["name"] for r in rows if not (r["forced"] and r["has_policy"])]
    assert unprotected == []


async def test_the_application_roles_own_nothing_and_only_the_platform_role_bypasses(
    migrated: Settings, db: asyncpg.Connection
) -> None:
    owned = await db.fetchval(
        # Temporary stage tables of a session (COPY targets) belong to their session, and go with it.
        """SELECT count(*) FROM pg_class c
            WHERE pg_get_userbyid(c.relowner) = ANY($1::text[]) AND c.relpersistence <> 't'
              AND c.relnamespace NOT IN (SELECT oid FROM pg_namespace WHERE nspname LIKE 'pg_toast_temp%')""",
        [APP_ROLE, PLATFORM_ROLE],
    )
    assert owned == 0
    roles = {
        r["rolname"]: (r["rolsuper"], r["rolbypassrls"])
        for r in await db.fetch(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = ANY($1::text[])",
            [APP_ROLE, PLATFORM_ROLE],
        )
    }
    assert roles == {APP_ROLE: (False, False), PLATFORM_ROLE: (False, True)}


async def test_a_wrong_or_missing_tenant_sees_and_writes_nothing(
    migrated: Settings, two_passports: tuple[str, str, str, str]
) -> None:
    tenant_a, passport_a, tenant_b, passport_b = two_passports
    conn = await asyncpg.connect(migrated.app_dsn(), timeout=10)
    try:
        ours = "SELECT passport_id FROM identity.passports WHERE passport_id = ANY($1::text[]) ORDER BY 1"
        both = [passport_a, passport_b]
        assert await conn.fetch(ours, both) == []  # no tenant set
        await conn.execute("SELECT set_config('bpass.tenant', 'someone-else', false)")
        assert await conn.fetch(ours, both) == []  # a wrong tenant
        await conn.execute("SELECT set_config('bpass.tenant', $1, false)", tenant_a)
        assert [r["passport_id"] for r in await conn.fetch(ours, both)] == [passport_a]
        # Another tenant's rows can be neither changed nor deleted, nor can rows be written in its name.
        updated = await conn.execute(
            "UPDATE identity.passports SET minted_by = 'intruder' WHERE passport_id = $1", passport_b
        )
        assert updated == "UPDATE 0"
        assert await conn.execute("DELETE FROM identity.passports WHERE passport_id = $1", passport_b) == "DELETE 0"
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await conn.execute(
                """INSERT INTO identity.passports (passport_id, tenant, battery_identifier, kind, category,
                                                   public_uri, minted_at, minted_by)
                   VALUES ($1, $2, 'SN-X', 'battery', 'ev', 'https://x.test/p/1', now(), 'intruder')""",
                f"urn:uuid:{uuid.uuid4()}",
                tenant_b,
            )
        # The owner-only role of the migrations is not reachable from here either.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("ALTER TABLE identity.passports NO FORCE ROW LEVEL SECURITY")
    finally:
        await conn.close()


async def test_the_services_pools_set_the_tenant_of_each_borrowing_task(
    migrated: Settings, two_passports: tuple[str, str, str, str]
) -> None:
    tenant_a, passport_a, tenant_b, passport_b = two_passports
    query = "SELECT passport_id FROM passports WHERE passport_id = ANY($1::text[]) ORDER BY 1"
    both = [passport_a, passport_b]
    # One connection, so every borrow below reuses it: nothing of a previous borrower's tenant may stick.
    pool = await create_pool(migrated.app_dsn(), "identity", min_size=1, max_size=1, tenant_bound=True)
    platform = await create_pool(migrated.platform_dsn(), "identity", min_size=1, max_size=1)
    try:
        with tenant_scope(tenant_a):
            assert [r["passport_id"] for r in await pool.fetch(query, both)] == [passport_a]
        with tenant_scope(None):
            assert await pool.fetch(query, both) == []
        with tenant_scope(tenant_b):
            async with pool.acquire() as conn, conn.transaction():
                assert [r["passport_id"] for r in await conn.fetch(query, both)] == [passport_b]
        assert await pool.fetch(query, both) == []  # outside any scope
        with tenant_scope(PLATFORM):
            assert await pool.fetch(query, both) == []  # the application role never sees across tenants
            assert [r["passport_id"] for r in await platform.fetch(query, both)] == sorted(both)
    finally:
        await pool.close()
        await platform.close()


# --- every table, from the catalog

DECLARED = "not tenant-scoped:"
PLATFORM_ONLY = "platform only:"

TABLES_SQL = """
SELECT n.nspname AS schema, c.relname AS name, obj_description(c.oid, 'pg_class') AS comment,
       EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant' AND NOT a.attisdropped)
           AS has_tenant
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
 ORDER BY 1, 2
"""


async def test_every_table_is_confined_to_its_tenant_or_declared_not_tenant_scoped(
    migrated: Settings, db: asyncpg.Connection
) -> None:
    tables = await db.fetch(TABLES_SQL, list(SERVICES))
    assert {t["schema"] for t in tables} == set(SERVICES)
    declared = {f"{t['schema']}.{t['name']}": t["comment"] for t in tables if (t["comment"] or "").startswith(DECLARED)}
    for name, comment in declared.items():
        assert len(comment.removeprefix(DECLARED).strip()) >= 20, f"{name}: say why it is not tenant-scoped"
    with_tenant = {f"{t['schema']}.{t['name']}" for t in tables if t["has_tenant"]}
    assert not with_tenant & declared.keys(), "a table with a tenant column is always tenant-scoped"
    platform_only = {f"{t['schema']}.{t['name']}" for t in tables if (t["comment"] or "").startswith(PLATFORM_ONLY)}
    scoped = [f"{t['schema']}.{t['name']}" for t in tables if f"{t['schema']}.{t['name']}" not in declared]

    tenant_a, tenant_b = f"oem-a-{uuid.uuid4().hex[:8]}", f"oem-b-{uuid.uuid4().hex[:8]}"
    rows = TenantRows(db, tenant_a, f"urn:uuid:{uuid.uuid4()}")
    a_conn = await app_connection(migrated, tenant_a)
    others = {"tenant B": await app_connection(migrated, tenant_b), "no tenant": await app_connection(migrated, None)}
    failures: list[str] = []
    try:
        for table in scoped:
            seeded = await rows.seed(table)
            column = quoted(next(c["name"] for c in await rows.columns(table) if not c["is_identity"]))
            visible_to_a = await a_conn.fetchval(
                f"SELECT count(*) FROM {qualified(table)} WHERE ctid = $1::text::tid", seeded.ctid
            )
            expected_for_a = 0 if table in platform_only else 1
            if visible_to_a != expected_for_a:
                failures.append(f"{table}: tenant A sees {visible_to_a} of its seeded row, not {expected_for_a}")
            fresh = await rows.values(table)  # another row in A's name, linked to A's rows
            for who, conn in others.items():
                seen = await conn.fetchval(f"SELECT count(*) FROM {qualified(table)}")
                if seen:
                    failures.append(f"{table}: {who} sees {seen} rows")
                updated = await refused_or_none(
                    conn,
                    f"UPDATE {qualified(table)} SET {column} = {column} WHERE ctid = $1::text::tid",
                    seeded.ctid,
                )
                if updated not in {"UPDATE 0", "refused"}:
                    failures.append(f"{table}: {who} updates A's row ({updated})")
                deleted = await refused_or_none(
                    conn, f"DELETE FROM {qualified(table)} WHERE ctid = $1::text::tid", seeded.ctid
                )
                if deleted not in {"DELETE 0", "refused"}:
                    failures.append(f"{table}: {who} deletes A's row ({deleted})")
                inserted = await refused_or_none(conn, await rows.insert_sql(table, fresh), *fresh.values())
                if inserted != "refused":
                    failures.append(f"{table}: {who} adds a row in A's name ({inserted})")
    finally:
        for conn in (a_conn, *others.values()):
            await conn.close()
        await rows.remove()
    assert not failures, "\n".join(failures)
    assert len(scoped) > len(declared)  # most tables hold some tenant's data
