"""The failure tests' own platform: a three-broker KRaft cluster, PostgreSQL and Redis started by deploy/local/stack.sh
in a var dir of their own (var/test-cluster-<port base>) on ports of their own, and every service running as two
instances against it. Started for the module and wiped after it: the single-broker stack the rest of the suite uses is
never touched (a PostgreSQL restart here restarts this PostgreSQL only)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from services.common.auth import Role, add_key
from services.common.settings import REPO_ROOT, Settings
from tests.cluster.stack import ClusterStack
from tests.conftest import PORT_BASE, SERVICE_NAMES
from tests.support import ServiceProcess

INSTANCES = 2
# Instance i of a service listens on PORT_BASE + 111 + 10*i + its index (identity, custody, recovery, reporting).
INSTANCE_PORTS = {
    name: [PORT_BASE + 111 + 10 * i + n for i in range(INSTANCES)] for n, name in enumerate(SERVICE_NAMES)
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: runs on a three-broker Kafka cluster of its own, started and wiped by the tests"
    )


def _kafka_home() -> Path | None:
    """The single-broker stack's jars (`stack.sh env` exports BPASS_KAFKA_LIBS): the cluster runs the same ones."""
    libs = os.environ.get("BPASS_KAFKA_LIBS")
    if libs and any(Path(libs).glob("kafka_2.13-*.jar")):
        return Path(libs).parent
    return None


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterStack]:
    stack = ClusterStack(REPO_ROOT / "var" / f"test-cluster-{PORT_BASE}", PORT_BASE, _kafka_home())
    stack.down()  # what an interrupted earlier run left
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="module")
def cluster_env(cluster: ClusterStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The services' environment on the cluster: `stack.sh env` of its var dir, a topic namespace, a keyring."""
    env = cluster.service_env()
    assert env["BPASS_KAFKA_BROKERS"] == "3", env["BPASS_KAFKA_BROKERS"]
    assert len(env["BPASS_KAFKA_BOOTSTRAP"].split(",")) == 3, env["BPASS_KAFKA_BOOTSTRAP"]
    env.update(
        {
            "BPASS_TOPIC_NAMESPACE": f"clu{uuid.uuid4().hex[:8]}.",
            "BPASS_API_KEYS_FILE": str(tmp_path_factory.mktemp("cluster-keys") / "api-keys.json"),
            "BPASS_PUBLIC_BASE_URL": "https://passport.example.test",
            "BPASS_OTEL_ENDPOINT": "",  # the calling environment may name the main stack's trace backend
        }
    )
    return env


@pytest.fixture(scope="module")
def cluster_settings(cluster_env: dict[str, str]) -> Settings:
    return Settings(
        kafka_bootstrap=cluster_env["BPASS_KAFKA_BOOTSTRAP"],
        kafka_brokers=int(cluster_env["BPASS_KAFKA_BROKERS"]),
        kafka_security_protocol=cluster_env["BPASS_KAFKA_SECURITY_PROTOCOL"],
        kafka_sasl_mechanism=cluster_env["BPASS_KAFKA_SASL_MECHANISM"],
        kafka_sasl_username=cluster_env["BPASS_KAFKA_SASL_USERNAME"],
        kafka_sasl_password=cluster_env["BPASS_KAFKA_SASL_PASSWORD"],
        database_url=cluster_env["BPASS_DATABASE_URL"],
        app_database_password=cluster_env["BPASS_APP_DATABASE_PASSWORD"],
        platform_database_password=cluster_env["BPASS_PLATFORM_DATABASE_PASSWORD"],
        redis_url=cluster_env["BPASS_REDIS_URL"],
        secrets_dir=Path(cluster_env["BPASS_SECRETS_DIR"]),
        topic_namespace=cluster_env["BPASS_TOPIC_NAMESPACE"],
        api_keys_file=Path(cluster_env["BPASS_API_KEYS_FILE"]),
        public_base_url=cluster_env["BPASS_PUBLIC_BASE_URL"],
    )


@pytest.fixture(scope="module")
async def instances(
    cluster_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, list[ServiceProcess]]]:
    """Every service as two processes in one consumer group (and one relay lease) on the cluster."""
    logs = tmp_path_factory.mktemp("cluster-service-logs")
    processes = {
        name: [
            ServiceProcess(
                name, port, {**cluster_env, f"BPASS_{name.upper()}_PORT": str(port)}, logs / f"{name}-{i}.log"
            )
            for i, port in enumerate(INSTANCE_PORTS[name])
        ]
        for name in SERVICE_NAMES
    }
    every = [p for group in processes.values() for p in group]
    for process in every:
        process.start()
    try:
        for process in every:
            await ready(process)
        yield processes
    finally:
        for process in every:
            process.stop()


async def ready(process: ServiceProcess, timeout: float = 240) -> None:
    """Wait for the instance's readiness; when it does not come, say which check failed."""
    try:
        await process.wait_ready(timeout=timeout)
    except AssertionError as exc:
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                checks = (await http.get(f"{process.base_url}/{process.name}/health/ready")).text
        except httpx.HTTPError as error:
            checks = repr(error)
        lines = process.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
        tail = "\n".join(lines)
        raise AssertionError(
            f"{process.name} on {process.port} not ready: {checks}\n{exc}\nlast lines of {process.log_path}:\n{tail}"
        ) from None


@pytest.fixture(scope="module")
def operator_key(cluster_settings: Settings) -> str:
    _, key = add_key(cluster_settings.api_keys_file, tenant=None, role=Role.platform_operator)
    return key
