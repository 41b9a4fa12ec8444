"""deploy/prometheus/alerts.yml: promtool accepts it, its unit tests pass, and it queries only what the services
export (a rule on a metric that does not exist never fires)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from services.common import metrics

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}
# The metric families (prometheus_client's names: counters without _total) the alerts must watch.
WATCHED = {
    "bpass_consumer_lag",
    "bpass_dead_letters",
    "bpass_outbox_relay_failures",
    "bpass_outbox_oldest_age_seconds",
    "bpass_http_request_seconds",
    "bpass_chain_verifications",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: `make install` installs Debian's prometheus package"
    return subprocess.run(  # noqa: S603 - the system promtool on our own files
        [binary, *args], capture_output=True, text=True, timeout=120, cwd=RULES.parent
    )


def exported() -> dict[str, tuple[str, frozenset[str]]]:
    """Sample name -> (family, label names) of every metric of services/common/metrics.py."""
    samples = {}
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            for family in obj.describe():
                for suffix in SUFFIXES[family.type]:
                    extra = {"le"} if suffix == "_bucket" else set()
                    samples[family.name + suffix] = (family.name, frozenset(obj._labelnames) | extra)
    return samples


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_the_promtool_unit_tests_of_the_alerts_pass() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")  # shown firing, not only silent
    }
    assert tested <= {rule["alert"] for rule in rules()}
    assert len(tested) >= 2, tested


def test_the_rules_query_only_metrics_and_labels_the_services_export() -> None:
    samples = exported()
    families = set()
    for rule in rules():
        expr = rule["expr"]
        names = set(re.findall(r"\b(bpass_[A-Za-z0-9_]+)", expr))
        assert names, f"{rule['alert']}: queries no bpass metric"
        unknown = names - samples.keys()
        assert not unknown, f"{rule['alert']}: {sorted(unknown)} not exported by services/common/metrics.py"
        labels = frozenset().union(*(samples[name][1] for name in names))
        grouped = {g.strip() for clause in re.findall(r"\bby\s*\(([^)]*)\)", expr) for g in clause.split(",")}
        matched = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"", expr))
        assert (grouped | matched) - {""} <= labels, f"{rule['alert']}: unknown labels"
        used = set(re.findall(r"\{\{\s*\$labels\.(\w+)\s*\}\}", " ".join(rule["annotations"].values())))
        assert used <= grouped, f"{rule['alert']}: annotations use labels the expression drops: {used - grouped}"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        families |= {samples[name][0] for name in names}
    assert families >= WATCHED, f"no alert watches {sorted(WATCHED - families)}"
