"""Headless Chromium that resolves no host but this machine's: pages must render from what the services serve."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

from tests.e2e.test_dashboard_browser import CHROMEDRIVER, CHROMIUM


def offline_chromium(artifacts: Path, profile_prefix: str) -> Iterator[webdriver.Chrome]:
    """A fixture body: the driver, its profile removed and the browser quit afterwards; screenshots go to
    `artifacts`."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: run `make browser`.", pytrace=False)
    profile = tempfile.mkdtemp(prefix=profile_prefix)
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
        # Offline but for this machine: no other host name resolves.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    except WebDriverException as exc:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.fail(f"headless Chromium did not start: {exc.msg}")
    driver.set_page_load_timeout(30)
    artifacts.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
