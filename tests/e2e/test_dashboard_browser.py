"""The OEM dashboard in a real browser (headless Chromium from Debian, driven by Selenium), used as an analyst would:
answer "how many NMC811 EV batteries placed on the market in March are now in treatment, and which batches are they
from" with the filters alone, on a population with near misses on every filter; then click through every view
(population, passports, batches, a batch, a passport with its timeline, lifecycle stages, every report, an export)
at desktop (1280 px) and phone (390 x 844) widths, with axe-core on each page (no serious or critical violation) and
a screenshot of each under var/test-artifacts/dashboard/."""

from __future__ import annotations

import base64
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
from selenium.webdriver.support.ui import Select, WebDriverWait

from services.common.auth import Role
from services.common.settings import REPO_ROOT, Settings
from services.reporting.domain.reports import REPORTS
from tests.conftest import new_key
from tests.e2e.axe import axe_violations, describe
from tests.integration.test_dashboard_population import seed_analyst_population
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


DESKTOP = (1280, 1000)
PHONE = (390, 844)


def full_shot(driver: webdriver.Chrome, name: str) -> None:
    """The whole page, not only the window (Chromium's DevTools protocol), at the window's width."""
    width, height = driver.execute_script(
        "return [document.documentElement.clientWidth, document.documentElement.scrollHeight]"
    )
    image = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}},
    )
    (ARTIFACTS / f"{name}.png").write_bytes(base64.b64decode(image["data"]))


def check_page(driver: webdriver.Chrome, name: str) -> None:
    """Screenshot of the whole page, no serious or critical accessibility violation, nothing wider than the window
    (wide tables and charts scroll inside their panel), and every chart at or under its natural size."""
    full_shot(driver, name)
    violations = axe_violations(driver)
    assert not violations, f"{name} ({driver.current_url}):\n{describe(violations)}"
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{name}: the page is {overflow}px wider than the window"
    for svg in driver.find_elements(By.CSS_SELECTOR, "figure.chart svg"):
        natural = float(svg.get_attribute("width") or 0)
        assert svg.size["width"] <= natural + 1, f"{name}: a chart drawn {svg.size['width']}px wide, set for {natural}"


def sign_in(driver: webdriver.Chrome, base: str, key: str) -> None:
    driver.get(f"{base}/dashboard/logout")
    wait_for(driver, "#api_key").send_keys(key)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, "[data-card='passports']")


def table_column(driver: webdriver.Chrome, table: str, index: int) -> list[str]:
    return [
        str(td.text)
        for td in driver.find_elements(By.CSS_SELECTOR, f"[data-table='{table}'] tbody tr td:nth-child({index})")
    ]


@pytest.mark.timeout(300)  # two dozen pages, each checked by axe-core, at two widths
async def test_an_analyst_answers_from_the_dashboard_alone(
    reporting: ServiceProcess, browser: webdriver.Chrome, settings: Settings
) -> None:
    import httpx

    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    key = new_key(settings, Role.oem_admin, tenant)
    async with httpx.AsyncClient(base_url=reporting.base_url, headers={"X-API-Key": key}, timeout=15) as http:
        population = await seed_analyst_population(settings, tenant, http)
    base = reporting.base_url
    driver = browser
    driver.set_window_size(*DESKTOP)
    driver.get(f"{base}/dashboard")
    wait_for(driver, "#api_key")
    check_page(driver, "analyst-01-login")
    sign_in(driver, base, key)
    assert text_of(driver, "[data-card='passports'] .n") == str(len(population["rows"]))
    check_page(driver, "analyst-02-population")

    # The question, asked with the filters: each is a list of the values the data holds.
    driver.find_element(By.LINK_TEXT, "Passports").click()
    wait_for(driver, "[data-table='passports']")
    assert "NMC622" in [o.text for o in Select(driver.find_element(By.ID, "f-chemistry")).options]
    Select(driver.find_element(By.ID, "f-chemistry")).select_by_visible_text("NMC811")
    Select(driver.find_element(By.ID, "f-category")).select_by_visible_text("ev")
    Select(driver.find_element(By.ID, "f-placed_month")).select_by_visible_text("2026-03")
    Select(driver.find_element(By.ID, "f-stage")).select_by_visible_text("in_treatment")
    driver.find_element(By.ID, "apply-filters").click()
    wait_for(driver, "#result-count [data-total]")
    count = int(driver.find_element(By.CSS_SELECTOR, "#result-count [data-total]").get_attribute("data-total") or -1)
    assert count == population["answer_count"]
    assert f"{count} passports match" in text_of(driver, "#result-count")
    assert set(table_column(driver, "passports", 8)) == {"in_treatment"}
    assert all(day.startswith("2026-03-") for day in table_column(driver, "passports", 9))
    shareable = driver.current_url  # the query string is the whole question
    check_page(driver, "analyst-03-answer-passports")
    driver.find_element(By.ID, "by-batch").click()
    wait_for(driver, "[data-table='batches']")
    assert sorted(table_column(driver, "batches", 1)) == population["answer_batches"]
    assert sum(int(n) for n in table_column(driver, "batches", 4)) == count
    check_page(driver, "analyst-04-answer-batches")
    driver.get(shareable)
    assert int(wait_for(driver, "#result-count [data-total]").get_attribute("data-total")) == count

    # Sorting by a column heading, both ways, the filters kept.
    driver.find_element(By.CSS_SELECTOR, "[data-table='passports'] a[data-sort='placed_on_market']").click()
    wait_for(driver, "th[aria-sort='ascending'] a[data-sort='placed_on_market']")
    ascending = table_column(driver, "passports", 9)
    assert ascending == sorted(ascending)
    assert ascending[-1].startswith("2026-03-31")
    driver.find_element(By.CSS_SELECTOR, "[data-table='passports'] a[data-sort='placed_on_market']").click()
    wait_for(driver, "th[aria-sort='descending'] a[data-sort='placed_on_market']")
    assert table_column(driver, "passports", 9) == sorted(ascending, reverse=True)
    assert len(ascending) == count

    # A value the data lacks (a typo in a shared link) is a message, not an empty list.
    driver.get(f"{base}/dashboard/passports?chemistry=NMC81")
    reason = wait_for(driver, "#refused li").get_attribute("data-reason")
    assert reason == "unknown_filter_value"
    assert "NMC811" in text_of(driver, "#refused")
    check_page(driver, "analyst-05-refused")

    # Every view at both widths.
    batch = population["answer_batches"][0]
    first = population["rows"][0]["passport_id"]
    views = [
        ("population", "/dashboard"),
        ("passports", "/dashboard/passports"),
        ("answer", shareable.removeprefix(base)),
        ("batches", "/dashboard/batches"),
        ("batch", f"/dashboard/batches/{batch}"),
        ("passport", f"/dashboard/passports/{first}"),
        ("stages", "/dashboard/stages"),
        ("reports", "/dashboard/reports"),
        *((f"report-{name}", f"/dashboard/reports/{name}") for name in REPORTS),
    ]
    for width_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        driver.set_window_size(*size)
        for name, path in views:
            driver.get(f"{base}{path}")
            wait_for(driver, "main h1")
            if name == "answer":  # on a phone the applied filters fold away: the answer comes first
                folded = driver.find_element(By.CSS_SELECTOR, "details.filter-box").get_attribute("open") is None
                assert folded == (width_name == "phone")
                assert "chemistry NMC811" in text_of(driver, "details.filter-box summary")
            if name == "report-recycled-content":  # wider than any window: it scrolls inside its panel
                inner, outer, panel = driver.execute_script(
                    "const s = document.querySelector('[data-table=report]').parentElement;"
                    "return [s.scrollWidth, s.clientWidth, document.querySelector('main').clientWidth];"
                )
                assert inner > outer
                assert outer <= panel
            check_page(driver, f"views-{width_name}-{name}")
    driver.set_window_size(*DESKTOP)


@pytest.mark.timeout(300)
async def test_a_passport_its_timeline_and_an_export(
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
    driver.set_window_size(*DESKTOP)
    sign_in(driver, base, key)
    assert driver.find_element(By.CSS_SELECTOR, "html").get_attribute("lang") == "en"
    assert text_of(driver, "[data-card='passports'] .n") == str(len(rows))
    assert len(driver.find_elements(By.CSS_SELECTOR, "figure.chart svg g.bar")) >= 4

    # One passport: every section of its data, its timeline in event-time order, who handed to whom.
    driver.get(f"{base}/dashboard/passports/{rows[0]['passport_id']}")
    wait_for(driver, "[data-timeline] li")
    kinds = [li.get_attribute("data-kind") for li in driver.find_elements(By.CSS_SELECTOR, "[data-timeline] li")]
    assert kinds[0] == "minted"
    events = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "[data-timeline] li")]
    dispatch = next(e for e in events if "dispatch" in e)
    assert "→" in dispatch
    assert any("in_service" in e for e in events)
    assert driver.find_element(By.ID, "chain-check").get_attribute("data-intact") == "true"
    assert "intact" in text_of(driver, "#chain-check")
    sections = {s.get_attribute("data-section") for s in driver.find_elements(By.CSS_SELECTOR, "section.data")}
    assert {"static_data", "manufacturer"} <= sections
    nested = driver.find_elements(By.CSS_SELECTOR, "section[data-section='static_data'] section.data")
    assert nested, "nested fields are sections inside their parent"
    assert len(driver.find_elements(By.CSS_SELECTOR, "[data-table='versions'] tbody tr")) == 4
    check_page(driver, "passport-01-timeline")
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

    # The recycled passport: its cease closes the timeline.
    driver.get(f"{base}/dashboard/passports/{rows[3]['passport_id']}")
    wait_for(driver, "[data-timeline] li")
    kinds = [li.get_attribute("data-kind") for li in driver.find_elements(By.CSS_SELECTOR, "[data-timeline] li")]
    assert (kinds[0], kinds[-1]) == ("minted", "ceased")
    check_page(driver, "passport-02-ceased")

    # A batch, exported as a signed audit pack: the job states its total from the start.
    driver.find_element(By.LINK_TEXT, "Batches").click()
    wait_for(driver, "[data-table='batches']")
    driver.find_element(By.LINK_TEXT, rows[0]["batch"]).click()
    wait_for(driver, "[data-table='batch-passports']")
    members = [r for r in rows if r["batch"] == rows[0]["batch"]]
    assert text_of(driver, "[data-card='passports in batch'] .n") == str(len(members))
    check_page(driver, "passport-03-batch")
    driver.find_element(By.ID, "export-batch").click()  # a form: the export's page comes when the job is queued
    assert wait_for(driver, "#export-total", timeout=30).text == str(len(members))
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "download"))
    assert "done" in text_of(driver, "#export-status")
    assert text_of(driver, "#export-count") == f"{len(members)} of {len(members)} passports read."
    assert driver.find_elements(By.ID, "signature")
    check_page(driver, "passport-04-export-done")

    # Lifecycle stages.
    driver.find_element(By.LINK_TEXT, "Lifecycle stages").click()
    wait_for(driver, "[data-table='stages']")
    stage_rows = {
        tr.find_element(By.CSS_SELECTOR, "td").text: tr.find_elements(By.CSS_SELECTOR, "td")[-1].text
        for tr in driver.find_elements(By.CSS_SELECTOR, "[data-table='stages'] tbody tr")
    }
    assert stage_rows["in_service"] == "1"
    assert stage_rows["recycled"] == "1"
    assert stage_rows["collected"] == "1"
    driver.find_element(By.LINK_TEXT, "Reports").click()
    WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.LINK_TEXT, "End-of-life status"))
    driver.find_element(By.LINK_TEXT, "End-of-life status").click()
    wait_for(driver, "figure.chart svg")
    labels = [g.get_attribute("data-label") for g in driver.find_elements(By.CSS_SELECTOR, "figure.chart g.bar")]
    assert {"collected", "in_treatment", "recycled"} <= set(labels)


@pytest.mark.timeout(600)
async def test_the_state_of_health_report_has_the_simulated_bms_readings(
    settings: Settings, tenant: tuple[str, str], platform: dict[str, ServiceProcess], browser: webdriver.Chrome
) -> None:
    """`bpass simulate` sends BMS telemetry for the batteries in service: the state-of-health report the dashboard
    shows counts them with real values, not zeros."""
    import httpx

    from bpass.simulate import Endpoints, run_simulation

    _, oem_key = tenant
    endpoints = Endpoints(**{name: process.base_url for name, process in platform.items()})
    result = await run_simulation(
        settings,
        batteries=30,
        run=f"s{uuid.uuid4().hex[:5]}",
        oem_key=oem_key,
        operator_key=new_key(settings, Role.platform_operator),
        endpoints=endpoints,
        timeout=60,
        progress=False,
    )
    assert result["refusals"] == [], result["reasons"]
    assert result["counts"]["telemetry_messages"] > 0, result["counts"]
    async with httpx.AsyncClient(base_url=endpoints.reporting, headers={"X-API-Key": oem_key}, timeout=10) as http:

        async def measured() -> dict[str, Any] | None:
            report = (await http.get("/reporting/v1/reports/state-of-health")).json()
            return report if report["overall"]["passports"] > 0 else None

        report = await eventually(measured, what="state of health in the report")
    overall = report["overall"]
    assert 40 <= float(overall["mean_pct"]) < 100, overall
    driver = browser
    driver.set_window_size(*DESKTOP)
    sign_in(driver, endpoints.reporting, oem_key)
    driver.get(f"{endpoints.reporting}/dashboard/reports/state-of-health")
    wait_for(driver, "[data-table='report']")
    values = [float(g.get_attribute("data-value") or 0) for g in driver.find_elements(By.CSS_SELECTOR, "g.bar")]
    assert sum(values) > 0, "every bar of the state-of-health charts is zero"
    check_page(driver, "soh-01-report-desktop")
    driver.set_window_size(*PHONE)
    driver.refresh()
    wait_for(driver, "[data-table='report']")
    check_page(driver, "soh-02-report-phone")
    driver.set_window_size(*DESKTOP)
