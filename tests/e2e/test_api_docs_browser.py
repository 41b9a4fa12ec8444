"""The API docs on a machine with no network: headless Chromium (Debian's, as in test_dashboard_browser.py) that
cannot resolve any host but localhost opens identity's Swagger UI and reporting's ReDoc, and finds the operations
rendered and the way to authorise. With FastAPI's default pages (scripts and styles from a CDN) both stay blank."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from services.common.settings import REPO_ROOT
from tests.e2e.offline_browser import offline_chromium
from tests.support import ServiceProcess

ARTIFACTS = REPO_ROOT / "var" / "test-artifacts" / "api-docs"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def offline_browser() -> Iterator[webdriver.Chrome]:
    yield from offline_chromium(ARTIFACTS, "bpass-chromium-offline-")


def wait_for(driver: webdriver.Chrome, css: str, timeout: float = 20) -> Any:
    return WebDriverWait(driver, timeout).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def remote_assets(driver: webdriver.Chrome) -> list[str]:
    """Every script, stylesheet, icon and script-fetched resource of the page not served by this machine. (Images
    are left out: ReDoc's bundle names a remote logo, which the page's Content-Security-Policy refuses to load.)"""
    urls: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('script[src], link[href]')].map(e => e.src || e.href)"
        ".concat(performance.getEntriesByType('resource').filter(e => e.initiatorType !== 'img').map(e => e.name))"
    )
    return [url for url in urls if urlsplit(url).hostname not in LOCAL_HOSTS]


def test_swagger_ui_renders_offline_with_authorize(
    platform: dict[str, ServiceProcess], offline_browser: webdriver.Chrome
) -> None:
    driver = offline_browser
    driver.get(f"{platform['identity'].base_url}/identity/docs")
    wait_for(driver, ".opblock")
    summaries = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")]
    assert "/identity/v1/passports" in summaries
    assert len(summaries) > 15
    driver.save_screenshot(str(ARTIFACTS / "identity-swagger-ui.png"))
    driver.find_element(By.CSS_SELECTOR, "button.authorize").click()
    dialog = wait_for(driver, ".auth-container")
    WebDriverWait(driver, 10).until(lambda d: "X-API-Key" in d.find_element(By.CSS_SELECTOR, ".modal-ux").text)
    text = driver.find_element(By.CSS_SELECTOR, ".modal-ux").text
    assert "ApiKey" in text
    assert "Bearer" in text
    assert dialog.find_elements(By.CSS_SELECTOR, "input")
    driver.save_screenshot(str(ARTIFACTS / "identity-swagger-ui-authorize.png"))
    assert remote_assets(driver) == []


def test_redoc_renders_offline(platform: dict[str, ServiceProcess], offline_browser: webdriver.Chrome) -> None:
    driver = offline_browser
    driver.get(f"{platform['reporting'].base_url}/reporting/redoc")
    wait_for(driver, "[data-section-id^='operation/']")
    operations = driver.find_elements(By.CSS_SELECTOR, "[data-section-id^='operation/']")
    assert len(operations) > 15
    # ReDoc shows each keyed operation's schemes under "Authorizations:" (upper-cased by its style sheet).
    WebDriverWait(driver, 20).until(lambda d: "AUTHORIZATIONS:" in d.find_element(By.TAG_NAME, "body").text.upper())
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "/reporting/v1/exports" in body
    assert "ApiKey" in body
    assert "Bearer" in body
    driver.save_screenshot(str(ARTIFACTS / "reporting-redoc.png"))
    assert remote_assets(driver) == []
