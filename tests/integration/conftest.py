"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.common.settings import Settings
from tests.conftest import TEST_PORTS
from tests.support import ServiceProcess, service_env


@pytest.fixture(scope="module")
async def reporting(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServiceProcess]:
    """The reporting service alone, on its test port, in this session's namespace (one per test module)."""
    logs = tmp_path_factory.mktemp("reporting-logs")
    env = service_env(settings, settings.api_keys_file)
    env["BPASS_REPORTING_PORT"] = str(TEST_PORTS["reporting"])
    env["BPASS_REPORTING_SIGNING_KEY_FILE"] = str(tmp_path_factory.mktemp("signing") / "key.pem")
    process = ServiceProcess("reporting", TEST_PORTS["reporting"], env, logs / "reporting.log")
    process.start()
    try:
        await process.wait_ready()
        yield process
    finally:
        process.stop()
