"""axe-core (npm, locked in package-lock.json; `make install` runs `npm ci`) run inside a page in headless Chromium.

violations = axe_violations(driver)          # serious and critical ones only
assert not violations, describe(violations)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from selenium import webdriver

from services.common.settings import REPO_ROOT

AXE_JS = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']})
  .then(r => done(JSON.stringify(r.violations)))
  .catch(e => done(JSON.stringify({error: String(e)})));
"""


def axe_violations(driver: webdriver.Chrome, impacts: tuple[str, ...] = BLOCKING) -> list[dict[str, Any]]:
    """The page's accessibility violations of the given impacts, as axe-core reports them (id, impact, help,
    nodes with their CSS targets)."""
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} missing: run `make install` (npm ci installs axe-core).", pytrace=False)
    driver.execute_script(AXE_JS.read_text(encoding="utf-8"))
    driver.set_script_timeout(60)
    raw = json.loads(driver.execute_async_script(_RUN))
    if isinstance(raw, dict):
        raise AssertionError(f"axe-core failed on {driver.current_url}: {raw['error']}")
    return [v for v in raw if v.get("impact") in impacts]


def describe(violations: list[dict[str, Any]]) -> str:
    """One line a violation: rule, impact, what to do, and the first elements it found."""
    lines = []
    for v in violations:
        targets = ", ".join(str(node.get("target")) for node in v.get("nodes", [])[:3])
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} at {targets}")
    return "\n".join(lines)
