"""The local stack's trace backend and metrics server (deploy/local/observability/, started by `make run` and by
`stack.sh observability up`), as an ops person meets them in a browser:

- a passport minted over HTTP is one trace in Zipkin, from the request through the outbox relay's Kafka hop to
  reporting's projection and the tenant's change stream, and Zipkin's own web UI shows it (headless Chromium,
  offline: the UI comes from the Zipkin server, nothing from a CDN);
- Prometheus scrapes the four services and loaded the committed alert rules; a custody log altered behind the
  platform's back fails its verification and the alert BpassCustodyChainBroken fires, on Prometheus' alerts page.

Its services run on a database and topic namespace of their own: the session's services would otherwise consume
(the same consumer groups) and relay (one relay per schema holds its advisory lock) this test's messages, with no
span sent here. Screenshots under var/test-artifacts/observability/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from contracts import topics
from contracts.custody import CustodyEventKind, CustodyEventReported, CustodyTargets
from services.common.auth import Role
from services.common.settings import REPO_ROOT, Settings
from tests.conftest import PORT_BASE, SERVICE_NAMES, _ensure_database, new_key
from tests.e2e.offline_browser import offline_chromium
from tests.e2e.test_walking_skeleton import mint_body, register_verified_handler
from tests.support import ServiceProcess, cloudevent_headers, eventually, namespace, publish, service_env

pytestmark = pytest.mark.timeout(600)  # a fresh machine fetches Zipkin's jar first (seconds); then about a minute

SERVICE_PORTS = {"identity": PORT_BASE + 71, "custody": PORT_BASE + 72, "recovery": PORT_BASE + 73}
SERVICE_PORTS["reporting"] = PORT_BASE + 74
ZIPKIN_PORT, PROMETHEUS_PORT = PORT_BASE + 75, PORT_BASE + 78
BASH = shutil.which("bash") or "/bin/bash"
STACK = REPO_ROOT / "deploy" / "local" / "stack.sh"
ARTIFACTS = REPO_ROOT / "var" / "test-artifacts" / "observability"
ALERT = "BpassCustodyChainBroken"


def _stack_env(state: Path) -> dict[str, str]:
    return {
        **os.environ,
        "BPASS_OBSERVABILITY_DIR": str(state),
        "BPASS_ZIPKIN_PORT": str(ZIPKIN_PORT),
        "BPASS_PROMETHEUS_PORT": str(PROMETHEUS_PORT),
        **{f"BPASS_{name.upper()}_PORT": str(port) for name, port in SERVICE_PORTS.items()},
    }


def _stack(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script
        [BASH, str(STACK), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def observability(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Zipkin and Prometheus on this module's ports, with their own state, stopped afterwards."""
    env = _stack_env(tmp_path_factory.mktemp("observability"))
    started = _stack(env, "observability", "up")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        # Where to look, printed.
        assert f"http://127.0.0.1:{ZIPKIN_PORT}/zipkin/" in started.stdout, started.stdout
        assert f"http://127.0.0.1:{PROMETHEUS_PORT}/classic/alerts" in started.stdout, started.stdout
        # While Zipkin runs, the services started from `stack.sh env` send their spans there, in its protocol.
        exported = _stack(env, "env").stdout.splitlines()
        assert f"export BPASS_OTEL_ENDPOINT=http://127.0.0.1:{ZIPKIN_PORT}" in exported
        assert "export BPASS_OTEL_EXPORTER=zipkin" in exported
        yield env
    finally:
        stopped = _stack(env, "observability", "down")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    yield from offline_chromium(ARTIFACTS, "bpass-observability-")


def _page_shows(driver: webdriver.Chrome, url: str, texts: list[str], timeout: float = 30) -> str:
    """Open `url` and wait until the page's visible text holds every one of `texts` (a single-page app renders after
    load); the text it showed."""
    driver.get(url)
    try:
        WebDriverWait(driver, timeout).until(
            lambda d: all(t.lower() in d.find_element(By.TAG_NAME, "body").text.lower() for t in texts)
        )
    except Exception as missing:  # a timeout: report what the page showed instead
        shown = driver.find_element(By.TAG_NAME, "body").text[:2000]
        raise AssertionError(f"{url} does not show {texts} after {timeout} s; it shows:\n{shown}") from missing
    return str(driver.find_element(By.TAG_NAME, "body").text)


async def test_a_mint_is_one_trace_in_zipkin_and_an_alert_fires_in_prometheus(
    infrastructure: Settings,
    settings: Settings,
    observability: dict[str, str],
    browser: webdriver.Chrome,
    tmp_path: Path,
) -> None:
    database = await _ensure_database(infrastructure.database_url, "bpass_test_observability")
    iso = settings.model_copy(
        update={
            "database_url": database,
            "topic_namespace": namespace(f"obs{uuid.uuid4().hex[:6]}"),
            "api_keys_file": tmp_path / "keys.json",
        }
    )
    tenant = f"oem-{uuid.uuid4().hex[:8]}"
    key = new_key(iso, Role.oem_admin, tenant)
    operator = new_key(iso, Role.platform_operator)
    # What `stack.sh env` exports while Zipkin runs, and the default sampling: nothing test-specific about tracing
    # beyond exporting batches promptly.
    env = service_env(iso, iso.api_keys_file) | {
        "BPASS_OTEL_ENDPOINT": f"http://127.0.0.1:{ZIPKIN_PORT}",
        "BPASS_OTEL_EXPORTER": "zipkin",
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
        async with httpx.AsyncClient(timeout=10) as http:
            passport_id = await _trace_of_a_mint(http, iso, processes["identity"].base_url, key, tenant, browser)
            await _alert_on_a_broken_chain(http, iso, processes["custody"].base_url, operator, tenant, passport_id)
            await _prometheus_pages(http, browser)
    finally:
        for process in processes.values():
            process.stop()


async def _trace_of_a_mint(
    http: httpx.AsyncClient, iso: Settings, identity_url: str, key: str, tenant: str, driver: webdriver.Chrome
) -> str:
    trace_id = uuid.uuid4().hex
    minted = await http.post(
        f"{identity_url}/identity/v1/passports",
        json=mint_body(f"OBS-{uuid.uuid4().hex[:8]}"),
        # The caller's own trace (sampled): the mint's spans join it, and Zipkin is asked for that trace by id.
        headers={"X-API-Key": key, "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"},
    )
    assert minted.status_code == 201, minted.text
    topic = iso.topic(topics.PASSPORT_MINTED.name)
    stream = iso.topic(topics.tenant_passport_changes(tenant))
    # Zipkin keeps names in lower case.
    wanted = {
        ("bpass-identity", "post /identity/v1/passports"),  # the HTTP request
        ("bpass-identity", f"{topic} publish".lower()),  # the outbox relay's Kafka hop
        ("bpass-custody", f"{topic} apply".lower()),  # custody's consumer
        ("bpass-reporting", f"{topic} apply".lower()),  # the reporting projection
        ("bpass-reporting", f"{stream} publish".lower()),  # the tenant's change stream
    }
    zipkin = f"http://127.0.0.1:{ZIPKIN_PORT}"
    held: set[tuple[str, str]] = set()

    async def whole_trace() -> list[dict[str, Any]] | None:
        response = await http.get(f"{zipkin}/api/v2/trace/{trace_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        spans: list[dict[str, Any]] = response.json()
        held.clear()
        held.update((s["localEndpoint"]["serviceName"], s["name"].lower()) for s in spans)
        return spans if wanted <= held else None

    try:
        spans = await eventually(whole_trace, timeout=90, what="the mint's whole trace in Zipkin")
    except AssertionError as missing:
        raise AssertionError(f"{missing}; spans of trace {trace_id} so far: {sorted(held)}") from None
    assert {s["traceId"] for s in spans} == {trace_id}
    # One tree: every span but the caller's root child has its parent in the trace.
    ids = {s["id"] for s in spans}
    orphans = [s["name"] for s in spans if s.get("parentId") not in ids]
    assert len(orphans) == 1, orphans

    # Zipkin's web UI shows it, served by Zipkin itself (the browser resolves no other host).
    # Its span tree lists rows as far as the window shows them (in whatever order the services' spans came), so the
    # page is asked for the request and the relay's Kafka hop; the deeper hops were checked through the API above.
    driver.set_window_size(1280, 2400)
    _page_shows(
        driver,
        f"{zipkin}/zipkin/traces/{trace_id}",
        [trace_id, "bpass-identity: post /identity/v1/passports", f"bpass-identity: {topic} publish".lower()],
    )
    driver.save_screenshot(str(ARTIFACTS / "01-zipkin-trace.png"))
    driver.set_window_size(1280, 1000)
    passport_id: str = minted.json()["passport_id"]
    return passport_id


async def _alert_on_a_broken_chain(
    http: httpx.AsyncClient, iso: Settings, custody_url: str, operator: str, tenant: str, passport_id: str
) -> None:
    prometheus = f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1"

    async def scraped() -> dict[str, str] | None:
        targets = (await http.get(f"{prometheus}/targets")).json()["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        return health if all(health.get(name) == "up" for name in SERVICE_NAMES) else None

    await eventually(scraped, timeout=60, what="Prometheus scraping the four services")
    loaded = (await http.get(f"{prometheus}/rules")).json()["data"]["groups"]
    rules = {rule["name"]: rule for group in loaded for rule in group["rules"]}
    committed = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    assert set(rules) == {rule["alert"] for group in committed["groups"] for rule in group["rules"]}
    assert rules[ALERT]["state"] == "inactive", rules[ALERT]

    # A carrier ships the battery: one custody entry, its chain intact.
    carrier = f"carrier-{uuid.uuid4().hex[:8]}"
    await register_verified_handler(custody_url, operator, carrier, delegate_of=tenant)
    event = CustodyEventReported(
        kind=CustodyEventKind.dispatch,
        occurred_at=datetime.now(UTC),
        handler_id=carrier,
        targets=CustodyTargets(passport_ids=[passport_id]),
    )
    headers = cloudevent_headers(event, source=f"urn:bpass:handler:{carrier}")
    await publish(iso, topics.CUSTODY_EVENTS.name, event.model_dump_json().encode(), key=None, headers=headers)
    verification_url = f"{custody_url}/custody/v1/passports/{passport_id}/custody-log/verification"

    async def logged() -> bool:
        return bool(await db.fetchval("SELECT count(*) FROM custody.custody_log WHERE passport_id = $1", passport_id))

    db = await asyncpg.connect(iso.database_url)
    try:
        await eventually(logged, timeout=60, what="the dispatch in the custody log")
        intact = await http.get(verification_url, headers={"X-API-Key": operator})
        assert intact.status_code == 200, intact.text
        assert intact.json()["intact"] is True, intact.text
        # Someone alters the entry in the database, behind the platform's back.
        content = await db.fetchval(
            "SELECT content FROM custody.custody_log WHERE passport_id = $1 AND sequence = 1", passport_id
        )
        altered = json.loads(content) if isinstance(content, str) else content
        altered["handler_id"] = "someone-else"
        await db.execute(
            "UPDATE custody.custody_log SET content = $2::jsonb WHERE passport_id = $1 AND sequence = 1",
            passport_id,
            json.dumps(altered),
        )
    finally:
        await db.close()
    broken = await http.get(verification_url, headers={"X-API-Key": operator})
    assert broken.status_code == 200, broken.text
    assert broken.json()["intact"] is False, broken.text

    async def firing() -> dict[str, Any] | None:
        alerts = (await http.get(f"{prometheus}/alerts")).json()["data"]["alerts"]
        return next((a for a in alerts if a["labels"]["alertname"] == ALERT and a["state"] == "firing"), None)

    alert = await eventually(firing, timeout=90, what=f"{ALERT} firing in Prometheus")
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["service"] == "custody"


async def _prometheus_pages(http: httpx.AsyncClient, driver: webdriver.Chrome) -> None:
    base = f"http://127.0.0.1:{PROMETHEUS_PORT}/classic"
    shown = _page_shows(driver, f"{base}/alerts", [f"{ALERT} (1 active)", "Firing (1)"])
    assert "BpassDeadLetters" in shown  # the other rules are listed too, inactive
    driver.save_screenshot(str(ARTIFACTS / "02-prometheus-alerts.png"))
    _page_shows(driver, f"{base}/targets", [*(f'job="{name}"' for name in SERVICE_NAMES)])
    driver.save_screenshot(str(ARTIFACTS / "03-prometheus-targets.png"))
