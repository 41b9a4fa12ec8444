"""A fresh service's /metrics carries, at zero, every series the Grafana dashboard and the alert rules query, so
no panel shows "No data" and no alert is blind before the first message (services/common/metrics.initialise).

The services are built in a new process (the metrics registry is process-wide: series other tests created must
not count) and their /metrics read before they start (no Kafka, database or Redis touched)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "compose" / "grafana" / "dashboards" / "bpass.json"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
SERVICES = ("identity", "custody", "recovery", "reporting")
# Series every service has whatever it consumes or publishes (the rest follows its subscriptions and topics).
EVERY_SERVICE = (
    "bpass_outbox_backlog",
    "bpass_outbox_oldest_age_seconds",
    "bpass_outbox_refused_total",
    "bpass_outbox_relay_failures_total",
    "bpass_chain_verifications_total",
    "bpass_http_request_seconds_count",
)
# An expression that shows zero by itself where its metric has no series yet (labels not known up front).
ZERO_FALLBACK = re.compile(r"\bor\s+vector\(0\)\s*$")

READ_FRESH = """
import importlib, json, sys
from fastapi.testclient import TestClient
from services.common.http_app import http_app
from services.common.runtime import Runtime
from services.common.settings import Settings

settings = Settings()
out = {}
for name in sys.argv[1:]:
    spec = importlib.import_module(f"services.{name}.app").build_spec(settings)
    client = TestClient(http_app(Runtime(spec, settings)))  # not entered: the lifespan (start) does not run
    response = client.get(f"/{name}/metrics")
    assert response.status_code == 200, response.text
    out[name] = response.text
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def fresh() -> dict[str, dict[str, list[float]]]:
    """service -> sample name -> the values of its samples labelled with that service."""
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", READ_FRESH, *SERVICES], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    texts: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in SERVICES}
    for name, text in texts.items():
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.labels.get("service") == name:
                    samples[name].setdefault(sample.name, []).append(sample.value)
    return samples


def queried_metrics() -> list[tuple[str, str]]:
    """(where, PromQL) of every dashboard target and alert rule."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    queries += [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]
    return queries


def test_every_queried_metric_has_a_series_at_zero_on_a_fresh_start(fresh: dict[str, dict[str, list[float]]]) -> None:
    present = {sample for samples in fresh.values() for sample in samples}
    for where, expr in queried_metrics():
        names = set(re.findall(r"\b(bpass_[A-Za-z0-9_]+)", expr))
        if ZERO_FALLBACK.search(expr.strip()):
            continue
        missing = names - present
        assert not missing, f"{where}: no series of {sorted(missing)} before the first message: 'No data'"


def test_the_fresh_series_are_zero(fresh: dict[str, dict[str, list[float]]]) -> None:
    for name, samples in fresh.items():
        for sample, values in samples.items():
            if sample.endswith("_created"):
                continue
            if sample.startswith("bpass_http_request_seconds_"):
                continue  # the scrape that read these was itself measured after the answer: 0 or 1
            assert all(value == 0 for value in values), f"{name}: {sample} = {values}"


def test_every_service_has_its_outbox_relay_and_http_series(fresh: dict[str, dict[str, list[float]]]) -> None:
    for name, samples in fresh.items():
        missing = [sample for sample in EVERY_SERVICE if sample not in samples]
        assert not missing, f"{name}: {missing}"


def test_consumed_topics_have_their_dead_letter_and_lag_series(fresh: dict[str, dict[str, list[float]]]) -> None:
    # Every service but identity consumes; each consumer's topics have dead-letter and per-partition lag series.
    for name in ("custody", "recovery", "reporting"):
        for sample in ("bpass_dead_letters_total", "bpass_consumer_lag", "bpass_messages_in_total"):
            assert fresh[name].get(sample), f"{name}: no {sample}"
