"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from tests.support import ServiceProcess


@pytest.fixture(scope="module")
def reporting(platform: dict[str, ServiceProcess]) -> ServiceProcess:
    """The reporting service of the session's platform (one process on the test port: a second one started on
    the same port would join the consumer group, fail to bind and leave, stalling the group while it does)."""
    return platform["reporting"]
