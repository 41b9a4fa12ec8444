"""`/docs/events` on a machine with no network: headless Chromium (Debian's, as in test_dashboard_browser.py) that
cannot resolve any host but localhost opens reporting's event docs and finds every channel of a service rendered
by the AsyncAPI React component (served from the project's node_modules), each message with its CloudEvents
headers; nothing is fetched from another host."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from services.common.contracts_docs import ASYNCAPI_DIR
from services.common.settings import REPO_ROOT
from tests.e2e.offline_browser import offline_chromium
from tests.support import ServiceProcess

ARTIFACTS = REPO_ROOT / "var" / "test-artifacts" / "event-docs"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def offline_browser() -> Iterator[webdriver.Chrome]:
    yield from offline_chromium(ARTIFACTS, "bpass-chromium-events-")


def rendered(driver: webdriver.Chrome, timeout: float = 30) -> Any:
    """The component's root once it has rendered operations (an empty root: the bundle did not run)."""
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.querySelectorAll('#asyncapi [id^=operation-]').length") > 0
    )
    return driver.find_element(By.ID, "asyncapi")


def test_event_docs_render_every_channel_with_its_headers_offline(
    reporting: ServiceProcess, offline_browser: webdriver.Chrome
) -> None:
    driver = offline_browser
    document = yaml.safe_load((ASYNCAPI_DIR / "custody.yaml").read_text(encoding="utf-8"))
    driver.get(f"{reporting.base_url}/docs/events/custody")
    root = rendered(driver)
    driver.save_screenshot(str(ARTIFACTS / "custody.png"))
    text = root.text
    for channel in document["channels"].values():
        assert channel["address"] in text, channel["address"]
    # Every operation's message is rendered with its headers: the CloudEvents attributes and trace context.
    operations = driver.find_elements(By.CSS_SELECTOR, "#asyncapi [id^=operation-][id$=-message]")
    assert len(operations) == len(document["operations"])
    for operation in operations:
        content = operation.get_attribute("textContent") or ""
        assert "Headers" in content, operation.get_attribute("id")
        if "dead-letter" not in (operation.get_attribute("id") or ""):
            for header in ("ce_specversion", "ce_id", "ce_source", "ce_type", "traceparent"):
                assert header in content, (operation.get_attribute("id"), header)
    assert "SCRAM" in text.upper()
    urls: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('script[src], link[href]')].map(e => e.src || e.href)"
        ".concat(performance.getEntriesByType('resource').map(e => e.name))"
    )
    assert [u for u in urls if urlsplit(u).hostname not in LOCAL_HOSTS] == []

    # The index renders the first service; its navigation reaches the others.
    driver.get(f"{reporting.base_url}/docs/events")
    rendered(driver)
    driver.find_element(By.LINK_TEXT, "recovery").click()
    assert "bpass.recovery.dead-letter.v1" in rendered(driver).text


async def test_event_docs_refuse_what_they_do_not_have(reporting: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=10) as http:
        unknown = await http.get("/docs/events/billing")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        assert unknown.json()["reason"] == "unknown_service"
        assert unknown.json()["field"] == "path.service"
        asset = await http.get("/docs/events/assets/../../pyproject.toml")
        assert asset.status_code == 404
        served = await http.get("/docs/events/custody.yaml")
        assert served.status_code == 200
        assert served.text == (ASYNCAPI_DIR / "custody.yaml").read_text(encoding="utf-8")
