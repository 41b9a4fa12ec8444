"""A three-broker KRaft cluster with its own PostgreSQL and Redis, started by deploy/local/stack.sh in a var dir and on
ports of its own (BPASS_KAFKA_BROKERS=3), so the single-broker stack the rest of the suite uses is never touched; and
the failures the tests inflict on it: kill -9 of a broker, a restart of PostgreSQL."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

from services.common.settings import REPO_ROOT

STACK_SH = REPO_ROOT / "deploy" / "local" / "stack.sh"
BROKERS = 3


class StackError(AssertionError):
    pass


def _alive(pid: int) -> bool:
    """The process runs (a zombie left for an init that does not reap counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


class ClusterStack:
    """`stack.sh` run with BPASS_LOCAL_VAR=<var> and ports from `port_base`: Kafka nodes on port_base+70/+80/+90
    (controllers +71/+81/+91), PostgreSQL on +75, Redis on +76; no gateway, no observability."""

    def __init__(self, var: Path, port_base: int, kafka_home: Path | None) -> None:
        self.var = var
        self.kafka_port = port_base + 70
        self.env = {
            "BPASS_LOCAL_VAR": str(var),
            "BPASS_KAFKA_BROKERS": str(BROKERS),
            "BPASS_KAFKA_PORT": str(self.kafka_port),
            "BPASS_KAFKA_CONTROLLER_PORT": str(port_base + 71),
            "BPASS_PG_PORT": str(port_base + 75),
            "BPASS_REDIS_PORT": str(port_base + 76),
            "BPASS_LOCAL_NGINX": "0",
            "BPASS_LOCAL_OBSERVABILITY": "0",
            "BPASS_KAFKA_TIMEOUT": "240",  # three JVMs booting at once on a loaded two-core machine
        }
        if kafka_home is not None:  # the main stack's jars: no second download
            self.env["KAFKA_HOME"] = str(kafka_home)
        self.log = var.parent / f"{var.name}.stack.log"

    def run(self, *args: str, timeout: float = 420) -> str:
        # The calling environment describes the single-broker stack: none of its BPASS_* settings may leak in.
        base = {k: v for k, v in os.environ.items() if not k.startswith("BPASS_") and k != "KAFKA_HOME"}
        done = subprocess.run(  # noqa: S603 - our own script
            ["bash", str(STACK_SH), *args],  # noqa: S607
            env={**base, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        with self.log.open("a", encoding="utf-8") as log:
            log.write(f"$ stack.sh {' '.join(args)} (exit {done.returncode})\n{done.stdout}{done.stderr}\n")
        if done.returncode != 0:
            raise StackError(f"stack.sh {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def up(self) -> None:
        self.var.parent.mkdir(parents=True, exist_ok=True)
        self.run("up")

    def down(self) -> None:
        try:
            self.run("down", "--wipe", timeout=240)
        finally:
            shutil.rmtree(self.var, ignore_errors=True)

    def service_env(self) -> dict[str, str]:
        """What `stack.sh env` exports for this stack (Kafka's bootstrap list and credentials, the database and Redis
        URLs with their generated passwords)."""
        env: dict[str, str] = {}
        for line in self.run("env").splitlines():
            words = shlex.split(line, comments=True)
            if len(words) == 2 and words[0] == "export":
                key, _, value = words[1].partition("=")
                env[key] = value
        return env

    def status(self) -> str:
        return self.run("status", timeout=60)

    def broker_pids(self) -> dict[int, int]:
        """Node id -> pid of each running broker, as `stack.sh status` shows them."""
        return {
            int(node): int(pid)
            for node, pid in re.findall(r"^kafka-(\d+)\s+running\s+pid (\d+)", self.status(), flags=re.MULTILINE)
        }

    def postgres_pid(self) -> int:
        found = re.search(r"^postgres\s+running\s+pid (\d+)", self.status(), flags=re.MULTILINE)
        if found is None:
            raise StackError(f"PostgreSQL is not running:\n{self.status()}")
        return int(found.group(1))

    def kill_broker(self, node: int) -> int:
        """kill -9 of broker `node` (broker and controller: the nodes are combined); its pid."""
        pid = self.broker_pids()[node]
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 30)
        return pid

    def restart_missing(self) -> None:
        """`stack.sh up`: starts what is not running (a killed broker, a stopped PostgreSQL), waits until ready."""
        self.run("up")

    def stop_postgres(self) -> None:
        """PostgreSQL's fast shutdown (SIGINT to the postmaster: every session is cut, what committed stays)."""
        pid = self.postgres_pid()
        os.kill(pid, signal.SIGINT)
        _wait_gone(pid, 60)


def _wait_gone(pid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            raise StackError(f"pid {pid} still running {seconds}s after it was signalled")
        time.sleep(0.1)
