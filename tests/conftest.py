"""Test tiers by folder (unit / integration / e2e) and the real infrastructure they run against.

Integration and e2e tests use the local stack started by `make test` (deploy/local/stack.sh), configured by
the BPASS_* environment. When no stack is configured and a Docker engine is reachable, Kafka, PostgreSQL and
Redis are started with testcontainers instead. Each test session uses its own topic namespace and the
`bpass_test` database, so a running `make run` platform is never disturbed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from hypothesis import settings as hypothesis_settings

from services.common.auth import Role, add_key
from services.common.messaging import delete_topics
from services.common.settings import Settings
from tests.support import NAMESPACES, ServiceProcess, namespace, service_env

# Property tests run on a loaded 2-core CI machine: no per-example deadline, no example database on disk.
hypothesis_settings.register_profile("bpass", deadline=None, database=None)
hypothesis_settings.load_profile("bpass")

TEST_DATABASE = "bpass_test"
ROLES_SQL = Path(__file__).resolve().parents[1] / "deploy" / "postgres" / "roles.sql"
SERVICE_NAMES = ("identity", "custody", "recovery", "reporting")
# Parallel test sessions on one machine each set their own BPASS_TEST_PORT_BASE.
PORT_BASE = int(os.environ.get("BPASS_TEST_PORT_BASE", "8200"))
TEST_PORTS = {
    "identity": PORT_BASE + 1,
    "custody": PORT_BASE + 2,
    "recovery": PORT_BASE + 3,
    "reporting": PORT_BASE + 4,
}
STANDALONE_REPORTING_PORT = PORT_BASE + 34


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in ("unit", "integration", "e2e"):
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


def _docker_reachable() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0  # noqa: S607


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Settings]:
    """Where Kafka, PostgreSQL and Redis are: the configured/local stack, or testcontainers."""
    if (
        "BPASS_KAFKA_BOOTSTRAP" not in os.environ
        and os.environ.get("BPASS_USE_TESTCONTAINERS") != "0"
        and _docker_reachable()
    ):
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer
        from testcontainers.redis import RedisContainer

        with (
            KafkaContainer("apache/kafka:4.1.0").with_kraft() as kafka,
            PostgresContainer(
                "postgres:16",
                username="bpass",
                password="bpass",  # noqa: S106 - a throwaway test container
                dbname="bpass",
            ) as pg,
            RedisContainer("redis:7") as redis,
        ):
            # The container's bpass is a superuser; the services' roles come from the same script as locally.
            pg.exec(["psql", "-U", "bpass", "-d", "bpass", "-c", ROLES_SQL.read_text(encoding="utf-8")])
            yield Settings(
                kafka_bootstrap=kafka.get_bootstrap_server(),
                database_url=pg.get_connection_url(driver=None),
                redis_url=f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0",
            )
        return
    yield Settings()


async def _ensure_database(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # a parallel session made it
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
async def settings(infrastructure: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    database_url = await _ensure_database(infrastructure.database_url, TEST_DATABASE)
    keyring = tmp_path_factory.mktemp("keys") / "api-keys.json"
    session = infrastructure.model_copy(
        update={
            "database_url": database_url,
            "topic_namespace": namespace(f"t{uuid.uuid4().hex[:8]}"),
            "api_keys_file": keyring,
            "secrets_dir": tmp_path_factory.mktemp("secrets"),  # partners' Kafka credentials the tests create
            "public_base_url": "https://passport.example.test",
            "identity_port": TEST_PORTS["identity"],
            "custody_port": TEST_PORTS["custody"],
            "recovery_port": TEST_PORTS["recovery"],
            "reporting_port": TEST_PORTS["reporting"],
        }
    )
    yield session
    try:
        await delete_topics(session, NAMESPACES)
    except Exception as exc:  # noqa: BLE001 - the results stand; the topics stay until a later run or `make clean-data`
        warnings.warn(f"could not delete this session's topics: {exc!r}", stacklevel=1)


def new_key(settings: Settings, role: Role, tenant: str | None = None) -> str:
    _, key = add_key(settings.api_keys_file, tenant=tenant, role=role)
    return key


@pytest.fixture
def tenant(settings: Settings) -> tuple[str, str]:
    """A fresh OEM tenant and its admin API key."""
    name = f"oem-{uuid.uuid4().hex[:10]}"
    return name, new_key(settings, Role.oem_admin, name)


@pytest.fixture(scope="session")
async def platform(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, ServiceProcess]]:
    """All four services as processes against the real stack, on test ports, in this session's namespace."""
    logs = tmp_path_factory.mktemp("service-logs")
    env = service_env(settings, settings.api_keys_file)
    env.update({f"BPASS_{name.upper()}_PORT": str(port) for name, port in TEST_PORTS.items()})
    env["BPASS_EPCIS_WEBHOOK_ALLOW_LOCAL"] = "true"  # as the local stack's: webhook receivers on this machine
    processes = {name: ServiceProcess(name, TEST_PORTS[name], env, logs / f"{name}.log") for name in SERVICE_NAMES}
    for process in processes.values():
        process.start()
    try:
        for process in processes.values():
            await process.wait_ready()
        yield processes
    finally:
        for process in processes.values():
            process.stop()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(settings.database_url, timeout=10)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def reporting(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServiceProcess]:
    """The reporting service alone, in this session's namespace (one per test module), on a port of its own: the
    session platform's reporting may be running too (the two then share the consumer group and the database)."""
    logs = tmp_path_factory.mktemp("reporting-logs")
    env = service_env(settings, settings.api_keys_file)
    env["BPASS_REPORTING_PORT"] = str(STANDALONE_REPORTING_PORT)
    env["BPASS_REPORTING_SIGNING_KEY_FILE"] = str(tmp_path_factory.mktemp("signing") / "key.pem")
    process = ServiceProcess("reporting", STANDALONE_REPORTING_PORT, env, logs / "reporting.log")
    process.start()
    try:
        await process.wait_ready()
        yield process
    finally:
        process.stop()
