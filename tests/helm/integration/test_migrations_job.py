"""The Helm chart's migration Job (deploy/helm/bpass/templates/migrations.yaml) runs its program, as rendered by
`helm template`, against a new database of the real PostgreSQL: every service's schema is created, row-level
security is forced on the tenant tables, and a second run (the next `helm upgrade`) applies nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import yaml

from services.common.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
HELM = ROOT / "var" / "local" / "bin" / "helm"
CHART = ROOT / "deploy" / "helm" / "bpass"
SERVICES = ("custody", "identity", "recovery", "reporting")


def job_program() -> str:
    if not HELM.exists():
        pytest.fail(f"{HELM.relative_to(ROOT)} is missing: run `make helm` (deploy/local/helm.sh builds it)")
    done = subprocess.run(  # noqa: S603 - the project's own helm binary on its own chart
        [str(HELM), "template", "bpass", str(CHART), "--show-only", "templates/migrations.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (container,) = yaml.safe_load(done.stdout)["spec"]["template"]["spec"]["containers"]
    assert container["command"][:2] == ["python", "-c"]
    program: str = container["command"][2]
    return program


@pytest.fixture
async def scratch_database(infrastructure: Settings) -> AsyncIterator[str]:
    name = f"bpass_helm_job_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infrastructure.database_url, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = infrastructure.database_url.rpartition("/")
    yield f"{base}/{name}"
    admin = await asyncpg.connect(infrastructure.database_url, timeout=10)
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def run_job(program: str, database_url: str) -> str:
    done = subprocess.run(  # noqa: S603 - this interpreter on the chart's own program
        [sys.executable, "-c", program],
        cwd=ROOT,
        env={**os.environ, "BPASS_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


async def test_the_migration_job_migrates_every_schema_once(scratch_database: str) -> None:
    program = job_program()
    first = run_job(program, scratch_database)
    for service in SERVICES:
        assert f"{service} migrations applied: common:001" in first
    conn = await asyncpg.connect(scratch_database, timeout=10)
    try:
        schemas = {r["nspname"] for r in await conn.fetch("SELECT nspname FROM pg_namespace")}
        assert set(SERVICES) <= schemas
        forced = await conn.fetchval(
            "SELECT relforcerowsecurity FROM pg_class WHERE oid = 'reporting.passport_view'::regclass"
        )
        assert forced is True
    finally:
        await conn.close()
    second = run_job(program, scratch_database)
    assert second.splitlines() == [f"{service} migrations applied: none" for service in SERVICES]
