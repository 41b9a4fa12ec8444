"""stack.sh keeps one cluster shape per var dir: a var dir formatted for one broker is not silently half-joined into
three (its node's quorum and its topics' replicas would not match), and `env`/`status` follow the recorded count."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.cluster.stack import STACK_SH


def stack(var: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BPASS_")}
    return subprocess.run(  # noqa: S603 - our own script
        ["bash", str(STACK_SH), *args],  # noqa: S607
        env={**base, "BPASS_LOCAL_VAR": str(var), "BPASS_KAFKA_PORT": "9", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_single_broker_var_dir_is_not_started_as_three(tmp_path: Path) -> None:
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "brokers").write_text("1\n")
    done = stack(tmp_path, "up", BPASS_KAFKA_BROKERS="3", BPASS_LOCAL_NGINX="0")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "holds a 1-broker cluster, BPASS_KAFKA_BROKERS=3 asks for 3" in done.stderr
    assert not (tmp_path / "kafka" / "broker-1").exists()


def test_env_and_status_follow_the_recorded_broker_count(tmp_path: Path) -> None:
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "brokers").write_text("3\n")
    env = stack(tmp_path, "env", BPASS_KAFKA_PORT="9470")
    assert env.returncode == 0, env.stderr
    assert "export BPASS_KAFKA_BOOTSTRAP=127.0.0.1:9470,127.0.0.1:9480,127.0.0.1:9490\n" in env.stdout
    assert "export BPASS_KAFKA_BROKERS=3\n" in env.stdout
    status = stack(tmp_path, "status", BPASS_KAFKA_PORT="9470")
    assert [line.split()[:2] for line in status.stdout.splitlines() if line.startswith("kafka")] == [
        ["kafka-1", "stopped"],
        ["kafka-2", "stopped"],
        ["kafka-3", "stopped"],
    ]


def test_a_broker_count_out_of_range_is_refused(tmp_path: Path) -> None:
    done = stack(tmp_path, "status", BPASS_KAFKA_BROKERS="12")
    assert done.returncode == 1
    assert "BPASS_KAFKA_BROKERS=12: give a number of brokers from 1 to 9" in done.stderr
