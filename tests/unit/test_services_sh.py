"""`deploy/local/services.sh up` right after a `kill -9` restarts the service, every time: a dying or zombie process
is not taken for a running one (`kill -0` succeeds on those), the old pid is waited for, and a pid file names its
process by pid and start time (a pid the kernel has since given to another process is not the service)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "local" / "services.sh"
RESTARTS = 10

# Stands in for the interpreter services.sh runs (`python -m services.<name>`): answers readiness on the service's
# port at once, so the test is about services.sh, not about a service's start-up time.
FAKE_PYTHON = f"""#!{sys.executable}
import os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

service = sys.argv[2].rpartition(".")[2]


class Ready(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == f"/{{service}}/health/ready" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ[f"BPASS_{{service.upper()}}_PORT"])), Ready).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON, encoding="utf-8")
    python.chmod(0o755)
    env = {
        **os.environ,
        "BPASS_LOCAL_VAR": str(tmp_path / "var"),
        "BPASS_SERVICES_PYTHON": str(python),
        "BPASS_IDENTITY_PORT": str(free_port()),
        "BPASS_READY_TIMEOUT": "20",
    }
    yield env
    subprocess.run(  # noqa: S603 - our own script
        ["bash", str(SCRIPT), "down", "identity"],  # noqa: S607 - bash from PATH, as make runs it
        env=env,
        capture_output=True,
        timeout=60,
    )


def services_sh(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own script
        ["bash", str(SCRIPT), *args],  # noqa: S607 - bash from PATH, as make runs it
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def recorded(env: dict[str, str]) -> tuple[int, int | None]:
    """The pid file's pid and start time (None: the file records no start time)."""
    pid, *start = (Path(env["BPASS_LOCAL_VAR"]) / "services" / "identity.pid").read_text().split()
    return int(pid), int(start[0]) if start else None


def start_time(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[19])  # field 22; the fields after the name start at field 3


def test_up_right_after_kill_9_restarts_the_service_every_time(env: dict[str, str]) -> None:
    services_sh(env, "up", "identity")
    port = env["BPASS_IDENTITY_PORT"]
    restarted = 0
    for _ in range(RESTARTS):
        old, _ = recorded(env)
        os.kill(old, signal.SIGKILL)
        out = services_sh(env, "up", "identity")  # at once: the old process is still dying
        assert "already running" not in out, out
        new, start = recorded(env)
        assert new != old
        assert start == start_time(new)
        assert httpx.get(f"http://127.0.0.1:{port}/identity/health/ready", timeout=5).status_code == 200
        restarted += 1
    assert restarted == RESTARTS


def test_a_pid_file_naming_another_process_is_not_the_service(env: dict[str, str]) -> None:
    """The recorded pid is alive but started at another time: a process that reused the pid, not the service."""
    services_sh(env, "up", "identity")
    stranger = subprocess.Popen(["sleep", "30"])  # noqa: S607 - a live process that is not the service
    try:
        services_sh(env, "down", "identity")
        pid_file = Path(env["BPASS_LOCAL_VAR"]) / "services" / "identity.pid"
        pid_file.write_text(f"{stranger.pid} {start_time(stranger.pid) + 1}\n")
        assert "stopped" in services_sh(env, "status", "identity")
        out = services_sh(env, "up", "identity")
        assert "ready on" in out, out
        assert stranger.poll() is None  # left alone
    finally:
        stranger.kill()
        stranger.wait()
