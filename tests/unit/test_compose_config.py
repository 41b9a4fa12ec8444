"""docker-compose.yml as Docker Compose itself reads it: `docker compose config` (the Compose command line built from
its Go module by deploy/local/compose_cli.sh; `config` needs no Docker engine) with the .env that
`make compose-env` writes. The structural tests of test_compose.py read the YAML; these read what Compose makes of
it once every variable is interpolated: the exact images, the bound addresses, the health-gated start order."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_CLI = ROOT / "var" / "local" / "bin" / "docker-compose"
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_SH = ROOT / "deploy" / "compose" / "env.sh"
# Containers that run once and exit (set-up jobs): no healthcheck to wait for.
ONE_SHOT = {"kafka-acls", "kafka-setup"}


def compose(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not COMPOSE_CLI.exists():
        pytest.fail(f"{COMPOSE_CLI} missing: run `bash deploy/local/compose_cli.sh` (`make test` does)", pytrace=False)
    return subprocess.run(  # noqa: S603 - the Compose CLI this repository builds
        [str(COMPOSE_CLI), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .env `make compose-env` writes (versions of deploy/versions.env, a generated Grafana password)."""
    path = tmp_path_factory.mktemp("compose") / ".env"
    subprocess.run(["bash", str(ENV_SH), str(path)], check=True, timeout=60, capture_output=True)  # noqa: S603, S607
    return path


@pytest.fixture(scope="module")
def config(env_file: Path) -> dict[str, Any]:
    done = compose(env_file, "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def versions() -> dict[str, str]:
    lines = (ROOT / "deploy" / "versions.env").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z0-9_]+=", line))


def test_compose_config_accepts_the_file_with_the_generated_env(config: dict[str, Any]) -> None:
    assert {"identity", "custody", "recovery", "reporting", "gateway", "kafka", "postgres"} <= set(config["services"])


def test_without_the_generated_password_compose_refuses_and_says_what_to_run(env_file: Path, tmp_path: Path) -> None:
    lines = env_file.read_text(encoding="utf-8").splitlines()
    bare = tmp_path / ".env"
    bare.write_text("\n".join(x for x in lines if not x.startswith("GRAFANA_ADMIN_PASSWORD=")) + "\n")
    refused = compose(bare, "config", "-q")
    assert refused.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in refused.stderr
    assert "make compose-env" in refused.stderr


def test_every_image_is_exact_and_kafka_is_the_pinned_version(config: dict[str, Any]) -> None:
    kafka = versions()["BPASS_KAFKA_VERSION"]
    for name, service in config["services"].items():
        image = service["image"]
        if image == "bpass:local":  # built from the Dockerfile
            assert "build" in service, name
            continue
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: {image} has no tag"
        assert re.fullmatch(r"v?\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?", tag), f"{name}: {image} floats"
        if repository == "apache/kafka":
            assert tag == kafka, f"{name}: {image}, deploy/versions.env pins {kafka}"


def test_every_published_port_is_bound_to_loopback(config: dict[str, Any]) -> None:
    published = [
        (name, port) for name, service in config["services"].items() for port in service.get("ports", []) or []
    ]
    assert published, "compose publishes the gateway and the consoles"
    for name, port in published:
        assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond this machine"


def test_long_running_services_are_health_checked_and_started_after_their_dependencies_are_healthy(
    config: dict[str, Any],
) -> None:
    services = config["services"]
    for name, service in services.items():
        if name in ONE_SHOT:
            continue
        assert "healthcheck" in service, f"{name} has no healthcheck"
        assert not service["healthcheck"].get("disable"), name
        for dependency, condition in (service.get("depends_on") or {}).items():
            wanted = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert condition["condition"] == wanted, f"{name} starts before {dependency} is {wanted}"
    # The gateway waits for the four services to be healthy.
    gateway = services["gateway"]["depends_on"]
    four = ("identity", "custody", "recovery", "reporting")
    assert {name: gateway[name]["condition"] for name in four} == dict.fromkeys(four, "service_healthy")
