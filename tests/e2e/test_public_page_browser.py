"""The public passport page as a person with a phone sees it: headless Chromium at 390×844 scans the QR code's URI
through the local gateway, in English, German and French (`Accept-Language`), and finds what the battery is,
whether it is dangerous and where to take it on the first screen, the separate-collection symbol as a loaded image,
the rest in sections that open and close; a recycled passport says so first, a continued one leads to its
successor. axe-core finds no serious or critical violation at phone or desktop width, in any language.
Screenshots are kept under var/test-artifacts/public/."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from contracts import topics
from contracts.identity import PassportSuperseded, SecondLifeOperation
from contracts.passport_data import BatteryStatus
from services.common.auth import Role
from services.common.settings import REPO_ROOT, Settings
from tests.conftest import PORT_BASE, TEST_PORTS, new_key
from tests.e2e.axe import axe_violations, describe
from tests.e2e.offline_browser import offline_chromium
from tests.integration.gateway_support import local_gateway
from tests.integration.test_public_face import mint_with_gtin, projected, urls_of
from tests.support import ServiceProcess, send_fact
from tests.unit.reporting.factories import ceased

ARTIFACTS = REPO_ROOT / "var" / "test-artifacts" / "public"
GATEWAY_PORT = PORT_BASE + 43
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 1000}
LANGUAGES = {  # what a phone set to that language sends, and words its first screen must show
    "en": ("en-GB,en;q=0.9", ("Battery category", "Hazards", "How to return it", "Passport active")),
    "de": ("de-CH,de;q=0.9,en;q=0.5", ("Batteriekategorie", "Gefahren", "So geben Sie sie zurück", "Pass aktiv")),
    "fr": ("fr-FR,fr;q=0.9", ("Catégorie de batterie", "Dangers", "Comment la rapporter", "Passeport actif")),
}
ESSENTIALS = ("name", "status", "category", "chemistry", "capacity", "carbon-class", "hazards", "extinguishing",
              "return", "symbol")  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    yield from offline_chromium(ARTIFACTS, "bpass-chromium-public-")


@pytest.fixture(scope="module")
async def gateway(platform: dict[str, ServiceProcess], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with local_gateway(tmp_path_factory.mktemp("gateway"), GATEWAY_PORT, TEST_PORTS) as url:
        yield url


@pytest.fixture(scope="module")
async def passports(platform: dict[str, ServiceProcess], settings: Settings, gateway: str) -> dict[str, dict[str, Any]]:
    """Four passports minted through identity: one in use, one recycled, one continued by the fourth."""
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    key = new_key(settings, Role.oem_admin, tenant)
    live, recycled, predecessor, successor = [await mint_with_gtin(platform, key) for _ in range(4)]
    serial = recycled["public_uri"].rsplit("/", 1)[1]
    gone = ceased(recycled["passport_id"], tenant, serial, datetime(2026, 3, 4, 10, 15, 3, 123456, tzinfo=UTC))
    for topic in topics.ALL:
        if topic.payload is type(gone):
            await send_fact(settings, topic, gone, recycled["passport_id"])
    continued = PassportSuperseded(
        passport_id=predecessor["passport_id"],
        tenant=tenant,
        successor_id=successor["passport_id"],
        successor_tenant=tenant,
        operation=SecondLifeOperation.repurposing,
        status=BatteryStatus.repurposed,
        responsible_operator=tenant,
        superseded_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
        superseded_by=f"repairer:{tenant}:key_1",
    )
    await send_fact(settings, topics.PASSPORT_SUPERSEDED, continued, predecessor["passport_id"])
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as http:
        await projected(http, live["passport_id"], "passport_id")
        await projected(http, successor["passport_id"], "passport_id")
        await projected(http, recycled["passport_id"], "ceased")
        await projected(http, predecessor["passport_id"], "successor_ids")
    return {"live": live, "recycled": recycled, "predecessor": predecessor, "successor": successor}


def device(driver: webdriver.Chrome, size: dict[str, int], accept_language: str) -> None:
    """The window of a phone (or a desktop) whose browser asks for `accept_language`."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {**size, "deviceScaleFactor": 1, "mobile": size["width"] < 600},
    )
    agent = driver.execute_script("return navigator.userAgent")
    driver.execute_cdp_cmd("Emulation.setUserAgentOverride", {"userAgent": agent, "acceptLanguage": accept_language})


def open_page(driver: webdriver.Chrome, url: str) -> None:
    driver.get(url)
    WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "main h1")))
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")


def shot(driver: webdriver.Chrome, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def first_screen_bottoms(driver: webdriver.Chrome) -> dict[str, float]:
    """Where each essential ends, in CSS pixels from the top of the page, as first shown (not scrolled)."""
    driver.execute_script("window.scrollTo(0, 0)")
    found: dict[str, float] = driver.execute_script(
        "const out = {};"
        "for (const el of document.querySelectorAll('[data-essential]')) {"
        "  const box = el.getBoundingClientRect();"
        "  if (box.height > 0) out[el.dataset.essential] = box.bottom + window.scrollY; }"
        "return out;"
    )
    return found


def assert_accessible(driver: webdriver.Chrome, where: str) -> None:
    violations = axe_violations(driver)
    assert not violations, f"{where}:\n{describe(violations)}"


async def test_a_person_with_a_phone_reads_the_passport_in_their_language(
    browser: webdriver.Chrome, gateway: str, passports: dict[str, dict[str, Any]]
) -> None:
    driver = browser
    live = passports["live"]
    qr = f"{gateway}{urls_of(live)[0]}"  # the GS1 Digital Link on the label, answered with a redirect
    for language, (accept, words) in LANGUAGES.items():
        device(driver, PHONE, accept)
        open_page(driver, qr)
        assert driver.current_url.endswith(f"/passport/{live['passport_id']}")
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
        assert driver.execute_script("return window.innerWidth") == PHONE["width"]
        bottoms = first_screen_bottoms(driver)
        assert set(ESSENTIALS) <= set(bottoms), set(ESSENTIALS) - set(bottoms)
        below = {name: bottom for name, bottom in bottoms.items() if bottom > PHONE["height"]}
        assert not below, f"{language}: below the first screen: {below}"
        main = driver.find_element(By.TAG_NAME, "main").text
        for word in words:
            assert word in main, (language, word)
        assert "VX-400 NMC811 82 kWh" in main
        assert "NMC811" in main
        assert "Water (class A), CO2" in main
        # The symbol is a loaded image with a text alternative, not a link to one.
        symbol = driver.find_element(By.CSS_SELECTOR, "img[data-essential='symbol']")
        assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", symbol)
        assert symbol.get_attribute("alt")
        assert symbol.rect["width"] >= 40
        shot(driver, f"phone-{language}-first-screen")

        # Everything else is folded away until asked for, and folds away again.
        sections = driver.find_elements(By.CSS_SELECTOR, "main details")
        assert len(sections) >= 6
        assert not any(s.get_attribute("open") for s in sections)
        performance = driver.find_element(By.CSS_SELECTOR, "details[data-section='Performance and durability']")
        voltage = performance.find_element(By.CSS_SELECTOR, "dd")
        assert not voltage.is_displayed()
        performance.find_element(By.TAG_NAME, "summary").click()
        WebDriverWait(driver, 5).until(expected_conditions.visibility_of(voltage))
        assert performance.get_attribute("open") is not None
        assert "360 V" in performance.text
        shot(driver, f"phone-{language}-section-open")
        performance.find_element(By.TAG_NAME, "summary").click()
        WebDriverWait(driver, 5).until(expected_conditions.invisibility_of_element(voltage))
        assert_accessible(driver, f"phone, {language}")

    # The language links switch the page whatever the phone asks for.
    device(driver, PHONE, LANGUAGES["de"][0])
    open_page(driver, f"{gateway}/passport/{live['passport_id']}")
    driver.find_element(By.CSS_SELECTOR, "footer a[hreflang='fr']").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr")
    assert "Comment la rapporter" in driver.find_element(By.TAG_NAME, "main").text


async def test_the_end_of_a_passports_life_comes_first(
    browser: webdriver.Chrome, gateway: str, passports: dict[str, dict[str, Any]]
) -> None:
    driver = browser
    recycled = passports["recycled"]
    for language, expected in (
        ("en", ("Recycled: this passport has ceased", "Closed on 4 March 2026.")),
        ("de", ("Recycelt: dieser Pass ist beendet", "Geschlossen am 4. März 2026.")),
        ("fr", ("Recyclée : ce passeport est clos", "Clos le 4 mars 2026.")),
    ):
        device(driver, PHONE, LANGUAGES[language][0])
        open_page(driver, f"{gateway}{urls_of(recycled)[1]}")  # the /p/<id> form of the QR code
        status = driver.find_element(By.CSS_SELECTOR, "[data-essential='status']")
        assert status.get_attribute("role") == "alert"
        for text in expected:
            assert text in status.text, (language, text)
        below = {name: bottom for name, bottom in first_screen_bottoms(driver).items() if bottom > PHONE["height"]}
        assert not below, f"{language}: below the first screen: {below}"
        shot(driver, f"phone-{language}-recycled")
        assert_accessible(driver, f"recycled, phone, {language}")

    device(driver, PHONE, LANGUAGES["en"][0])
    open_page(driver, f"{gateway}/passport/{passports['predecessor']['passport_id']}")
    assert "Continued by a new passport" in driver.find_element(By.CSS_SELECTOR, "[data-essential='status']").text
    shot(driver, "phone-en-continued")
    driver.find_element(By.CSS_SELECTOR, "a[rel='successor-version']").click()
    successor = passports["successor"]["passport_id"]
    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith(f"/passport/{successor}"))
    assert driver.find_element(By.CSS_SELECTOR, "[data-essential='status']").get_attribute("data-status") == "active"


async def test_every_language_is_accessible_at_desktop_width_with_every_section_open(
    browser: webdriver.Chrome, gateway: str, passports: dict[str, dict[str, Any]]
) -> None:
    driver = browser
    for language, (accept, words) in LANGUAGES.items():
        device(driver, DESKTOP, accept)
        open_page(driver, f"{gateway}/passport/{passports['live']['passport_id']}")
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
        assert words[0] in driver.find_element(By.TAG_NAME, "main").text
        shot(driver, f"desktop-{language}")
        assert_accessible(driver, f"desktop, {language}")
        driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
        shot(driver, f"desktop-{language}-all-open")
        assert_accessible(driver, f"desktop, {language}, every section open")
    device(driver, PHONE, LANGUAGES["fr"][0])
    driver.get(f"{gateway}/passport/00000000-0000-4000-8000-000000000000")
    WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "main h1")))
    assert driver.find_element(By.TAG_NAME, "h1").text == "Passeport introuvable"
    assert_accessible(driver, "not found, phone, fr")
