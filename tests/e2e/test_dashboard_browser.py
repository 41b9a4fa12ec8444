"""The OEM dashboard in a real browser (headless Chromium from Debian, driven by Selenium): sign in, click
through the population, passports, single passport, batch, lifecycle-stage and report views, start an export.
Screenshots are kept under var/test-artifacts/dashboard/."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from services.common.auth import Role
from services.common.settings import REPO_ROOT, Settings
from tests.conftest import new_key
from tests.integration.test_reporting_readmodel import seed, seed_projected
from tests.support import ServiceProcess, eventually

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO_ROOT / "var" / "test-artifacts" / "dashboard"


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:  # `make test` runs `make browser` first, which installs them
        pytest.fail(
            f"{' and '.join(missing)} missing: run `make browser` (Debian's chromium and chromium-driver); "
            "`make test` does it before the tests.",
            pytrace=False,
        )
    profile = tempfile.mkdtemp(prefix="bpass-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    except WebDriverException as exc:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.fail(f"headless Chromium did not start: {exc.msg}")
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def shot(driver: webdriver.Chrome, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def text_of(driver: webdriver.Chrome, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def wait_for(driver: webdriver.Chrome, css: str, timeout: float = 15) -> Any:
    return WebDriverWait(driver, timeout).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


async def test_dashboard_views_in_a_real_browser(
    reporting: ServiceProcess, browser: webdriver.Chrome, settings: Settings
) -> None:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    key = new_key(settings, Role.oem_admin, tenant)
    import httpx

    async with httpx.AsyncClient(base_url=reporting.base_url, headers={"X-API-Key": key}, timeout=10) as http:
        rows = await seed(settings, tenant, http, n=12)
        # All of it, not only the cease: the views below show every passport, every stage and the custody steps.
        await eventually(lambda: seed_projected(http, rows), what="the population projected")
    base = reporting.base_url
    driver = browser

    # Sign in: the dashboard sends a stranger to the login form.
    driver.get(f"{base}/dashboard")
    wait_for(driver, "#api_key").send_keys(key)
    shot(driver, "01-login")
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, "[data-card='passports']")
    assert driver.find_element(By.CSS_SELECTOR, "html").get_attribute("lang") == "en"
    assert text_of(driver, "[data-card='passports'] .n") == str(len(rows))
    assert len(driver.find_elements(By.CSS_SELECTOR, "figure.chart svg g.bar")) >= 4
    shot(driver, "02-population")

    # Passports: filter by chemistry, open one passport with its timeline and versions.
    driver.find_element(By.LINK_TEXT, "Passports").click()
    wait_for(driver, "[data-table='passports']")
    chemistry = rows[0]["chemistry"]
    driver.find_element(By.ID, "f-chemistry").send_keys(chemistry)
    driver.find_element(By.CSS_SELECTOR, "form.filters button").click()
    wait_for(driver, "#result-count")
    cells = driver.find_elements(By.CSS_SELECTOR, "[data-table='passports'] tbody tr td:nth-child(3)")
    assert cells
    assert all(c.text == chemistry for c in cells)
    shot(driver, "03-passports-filtered")
    driver.get(f"{base}/dashboard/passports/{rows[0]['passport_id']}")
    wait_for(driver, "[data-timeline] li")
    events = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "[data-timeline] li")]
    assert any("Minted" in e for e in events)
    assert any("dispatch" in e for e in events)
    assert any("in_service" in e for e in events)
    assert "intact" in driver.find_element(By.TAG_NAME, "main").text
    assert len(driver.find_elements(By.CSS_SELECTOR, "[data-table='versions'] tbody tr")) == 4
    shot(driver, "04-passport-timeline")
    # The first row is the earliest event; as of that instant, the latest version valid then is shown (event time:
    # the facts of one instant all count).
    listed = [
        [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in driver.find_elements(By.CSS_SELECTOR, "[data-table='versions'] tbody tr")
    ]
    first_at = datetime.fromisoformat(listed[0][2])
    shown = max(int(row[0]) for row in listed if datetime.fromisoformat(row[2]) <= first_at)
    driver.find_element(By.LINK_TEXT, "view as of").click()
    assert f"version {shown}." in wait_for(driver, "#as-of").text

    # Batches: open the first passport's batch and export it as a signed audit pack.
    driver.find_element(By.LINK_TEXT, "Batches").click()
    wait_for(driver, "[data-table='batches']")
    driver.find_element(By.LINK_TEXT, rows[0]["batch"]).click()
    wait_for(driver, "[data-table='batch-passports']")
    members = [r for r in rows if r["batch"] == rows[0]["batch"]]
    assert text_of(driver, "[data-card='passports in batch'] .n") == str(len(members))
    shot(driver, "05-batch")
    driver.find_element(By.ID, "export-batch").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "download"))
    assert "done" in text_of(driver, "#export-status")
    assert driver.find_elements(By.ID, "signature")
    shot(driver, "06-export-done")

    # Lifecycle stages and a report with its charts.
    driver.find_element(By.LINK_TEXT, "Lifecycle stages").click()
    wait_for(driver, "[data-table='stages']")
    stage_rows = {
        tr.find_element(By.CSS_SELECTOR, "td").text: tr.find_elements(By.CSS_SELECTOR, "td")[-1].text
        for tr in driver.find_elements(By.CSS_SELECTOR, "[data-table='stages'] tbody tr")
    }
    assert stage_rows["in_service"] == "1"
    assert stage_rows["recycled"] == "1"
    assert stage_rows["collected"] == "1"
    shot(driver, "07-stages")
    driver.find_element(By.LINK_TEXT, "Reports").click()
    driver.find_element(By.LINK_TEXT, "End-of-life status").click()
    wait_for(driver, "figure.chart svg")
    labels = [g.get_attribute("data-label") for g in driver.find_elements(By.CSS_SELECTOR, "figure.chart g.bar")]
    assert {"collected", "in_treatment", "recycled"} <= set(labels)
    shot(driver, "08-report-end-of-life")
    driver.find_element(By.LINK_TEXT, "Reports").click()
    driver.find_element(By.LINK_TEXT, "Recycled content by chemistry").click()
    wait_for(driver, "[data-table='report']")
    shot(driver, "09-report-recycled-content")

    # The public QR page, on a phone-sized window.
    driver.set_window_size(390, 844)
    driver.get(f"{base}/passport/{rows[1]['passport_id']}")
    wait_for(driver, "main section")
    assert rows[1]["identifier"] in driver.find_element(By.TAG_NAME, "main").text
    shot(driver, "10-public-page-phone")
    driver.set_window_size(1280, 1000)
