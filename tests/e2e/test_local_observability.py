"""The local stack's trace backend and metrics server (deploy/local/observability/, started by `stack.sh
observability`): a passport minted over HTTP is one trace in Jaeger from the request through Kafka to reporting's
projection and change stream, found through Jaeger's query API; Prometheus scrapes the four services and loaded the
alert rules of deploy/prometheus/alerts.yml. Builds Jaeger once (cached in var/local/bin) on a fresh machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from contracts import topics
from services.common.auth import Role
from services.common.settings import REPO_ROOT, Settings
from tests.conftest import PORT_BASE, SERVICE_NAMES, _ensure_database, new_key
from tests.e2e.test_walking_skeleton import mint_body
from tests.support import ServiceProcess, eventually, service_env

pytestmark = pytest.mark.timeout(900)  # a fresh machine builds Jaeger first (minutes); then about a minute

SERVICE_PORTS = {"identity": PORT_BASE + 71, "custody": PORT_BASE + 72, "recovery": PORT_BASE + 73}
SERVICE_PORTS["reporting"] = PORT_BASE + 74
UI_PORT, GRPC_PORT, OTLP_PORT, PROMETHEUS_PORT = PORT_BASE + 75, PORT_BASE + 76, PORT_BASE + 77, PORT_BASE + 78
BASH = shutil.which("bash") or "/bin/bash"
STACK = REPO_ROOT / "deploy" / "local" / "stack.sh"


def _stack_env(state: Path) -> dict[str, str]:
    return {
        **os.environ,
        "BPASS_OBSERVABILITY_DIR": str(state),
        "BPASS_JAEGER_UI_PORT": str(UI_PORT),
        "BPASS_JAEGER_GRPC_PORT": str(GRPC_PORT),
        "BPASS_OTLP_HTTP_PORT": str(OTLP_PORT),
        "BPASS_PROMETHEUS_PORT": str(PROMETHEUS_PORT),
        **{f"BPASS_{name.upper()}_PORT": str(port) for name, port in SERVICE_PORTS.items()},
    }


def _stack(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script
        [BASH, str(STACK), "observability", *args], env=env, capture_output=True, text=True, timeout=850, check=False
    )


@pytest.fixture(scope="module")
def observability(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Jaeger and Prometheus on this session's ports, with their own state, stopped afterwards."""
    env = _stack_env(tmp_path_factory.mktemp("observability"))
    started = _stack(env, "up")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"http://127.0.0.1:{UI_PORT}/" in started.stdout  # where to look, printed
        exported = subprocess.run(  # noqa: S603 - our own script
            [BASH, str(STACK), "env"], env=env, capture_output=True, text=True, timeout=60, check=True
        ).stdout
        assert f"export BPASS_OTEL_ENDPOINT=http://127.0.0.1:{OTLP_PORT}" in exported.splitlines()
        yield env
    finally:
        stopped = _stack(env, "down")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def _trace_ids_with(traces: list[dict[str, Any]], wanted: set[tuple[str, str]]) -> list[str]:
    """The ids of the traces that hold a span of every (service, operation) wanted."""
    found = []
    for found_trace in traces:
        processes = {key: process["serviceName"] for key, process in found_trace["processes"].items()}
        held = {(processes[span["processID"]], span["operationName"]) for span in found_trace["spans"]}
        if wanted <= held:
            found.append(found_trace["traceID"])
    return found


async def test_a_mint_is_one_trace_in_jaeger_and_prometheus_scrapes_the_services(
    infrastructure: Settings, settings: Settings, observability: dict[str, str], tmp_path: Path
) -> None:
    tenant = f"oem-{uuid.uuid4().hex[:8]}"
    key = new_key(settings, Role.oem_admin, tenant)
    # What `stack.sh env` exports while Jaeger runs (the endpoint), and the default sampling: nothing test-specific
    # about tracing beyond exporting batches promptly.
    # A database of their own: the session's services share the test database, and one relay per schema publishes
    # (an advisory lock), so theirs would send this mint's rows to Kafka with no span exported here.
    own_database = await _ensure_database(infrastructure.database_url, "bpass_test_observability")
    env = service_env(settings, settings.api_keys_file) | {
        "BPASS_DATABASE_URL": own_database,
        "BPASS_OTEL_ENDPOINT": f"http://127.0.0.1:{OTLP_PORT}",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        **{f"BPASS_{name.upper()}_PORT": str(port) for name, port in SERVICE_PORTS.items()},
    }
    processes = {
        name: ServiceProcess(name, SERVICE_PORTS[name], env, tmp_path / f"{name}.log") for name in SERVICE_NAMES
    }
    for process in processes.values():
        process.start()
    try:
        for process in processes.values():
            await process.wait_ready()
        trace_id = uuid.uuid4().hex
        async with httpx.AsyncClient(timeout=10) as http:
            minted = await http.post(
                f"{processes['identity'].base_url}/identity/v1/passports",
                json=mint_body(f"OBS-{uuid.uuid4().hex[:8]}"),
                # The caller's own trace (sampled): the mint's spans join it, and Jaeger is asked for that trace by id
                # (a search for the service's latest traces can miss it behind the relay's and scrapes' traces).
                headers={"X-API-Key": key, "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"},
            )
            assert minted.status_code == 201, minted.text
            topic = settings.topic(topics.PASSPORT_MINTED.name)
            stream = settings.topic(topics.tenant_passport_changes(tenant))
            wanted = {
                ("bpass-identity", f"{topic} publish"),  # the outbox relay's Kafka hop
                ("bpass-reporting", f"{topic} apply"),  # the reporting projection
                ("bpass-reporting", f"{stream} publish"),  # the tenant's change stream
            }
            jaeger = f"http://127.0.0.1:{UI_PORT}/api"

            async def one_trace() -> list[str] | None:
                response = await http.get(f"{jaeger}/traces/{trace_id}")
                if response.status_code == 404:
                    return None
                response.raise_for_status()
                traces = response.json()["data"]
                http_mints = {
                    t["traceID"]
                    for t in traces
                    if any(s["operationName"].startswith("POST /identity/v1/passports") for s in t["spans"])
                }
                whole = [t for t in _trace_ids_with(traces, wanted) if t in http_mints]
                return whole or None

            trace_ids = await eventually(one_trace, timeout=60, what="the mint's trace in Jaeger")
            assert trace_ids == [trace_id], trace_ids
            one = (await http.get(f"{jaeger}/traces/{trace_ids[0]}")).json()["data"][0]
            services = {process["serviceName"] for process in one["processes"].values()}
            assert {"bpass-identity", "bpass-reporting"} <= services

            prometheus = f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1"

            async def scraped() -> dict[str, str] | None:
                targets = (await http.get(f"{prometheus}/targets")).json()["data"]["activeTargets"]
                health = {t["labels"]["job"]: t["health"] for t in targets}
                return health if all(health.get(name) == "up" for name in SERVICE_NAMES) else None

            health = await eventually(scraped, timeout=60, what="Prometheus scraping the four services")
            assert set(SERVICE_NAMES) <= set(health)
            loaded = (await http.get(f"{prometheus}/rules")).json()["data"]["groups"]
            rules = {rule["name"] for group in loaded for rule in group["rules"]}
            committed = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
            assert rules == {rule["alert"] for group in committed["groups"] for rule in group["rules"]}
            assert rules
    finally:
        for process in processes.values():
            process.stop()
