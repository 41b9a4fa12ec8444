"""Custody against the real stack with a BMS's complete set of readings (every metric of the readings contract, the
Annex VII ones included): each checked against its range, the message refused whole when one is out of it, the
rest kept as the latest values of the passport and published on the in-service data topic."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from bpass.examples import valid_static_payload
from bpass.simulate_readings import bms_readings
from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.telemetry import Reading, TelemetryMetric, TelemetryReported
from services.common.settings import Settings
from tests.conftest import PORT_BASE
from tests.integration.test_custody_events import Custody, custody_alone, facts, mint, rejection_of
from tests.support import cloudevent_headers, eventually, publish

AT = datetime(2026, 3, 1, 10, tzinfo=UTC)
M = TelemetryMetric


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("custody-telemetry"), PORT_BASE + 24) as running:
        yield running


async def send(custody: Custody, message: TelemetryReported) -> str:
    event_id = str(uuid.uuid4())
    await publish(
        custody.settings,
        topics.TELEMETRY.name,
        message.model_dump_json().encode(),
        key=message.passport_id,
        headers=cloudevent_headers(message, source="urn:bpass:handler:bms-test", event_id=event_id),
    )
    return event_id


async def latest_of(custody: Custody, passport_id: str) -> dict[str, Decimal]:
    rows = await custody.db.fetch(
        "SELECT metric, value FROM custody.telemetry_latest WHERE passport_id = $1", passport_id
    )
    return {row["metric"]: row["value"] for row in rows}


async def test_every_metric_is_checked_kept_as_latest_and_published(custody: Custody) -> None:
    passport_id, _ = await mint(custody, f"tel-{uuid.uuid4().hex[:6]}")
    values = bms_readings(valid_static_payload(BatteryCategory.ev), 1.5, random.Random(7))
    assert set(values) == set(TelemetryMetric)
    readings = [Reading(metric=metric, value=value, measured_at=AT) for metric, value in values.items()]
    await send(custody, TelemetryReported(passport_id=passport_id, source_system="bms-test", readings=readings))

    async def published() -> dict[str, Any] | None:
        found = await facts(custody, topics.IN_SERVICE_DATA.name, passport_id=passport_id)
        return found[-1] if found else None

    fact = await eventually(published, what="the in-service data fact")
    assert {metric: Decimal(str(r["value"])) for metric, r in fact["latest"].items()} == {
        metric.value: value for metric, value in values.items()
    }
    assert fact["readings_stored"] == len(TelemetryMetric)

    # one reading out of its range refuses the whole message: nothing of it becomes a latest value
    later = AT.replace(day=2)
    bad = TelemetryReported(
        passport_id=passport_id,
        source_system="bms-test",
        readings=[
            Reading(metric=M.remaining_round_trip_efficiency_pct, value=Decimal("88"), measured_at=later),
            Reading(metric=M.self_discharge_rate_evolution_pct, value=Decimal("-150"), measured_at=later),
        ],
    )
    refused = await rejection_of(custody, await send(custody, bad))
    assert [(v["field"], v["reason"]) for v in refused["violations"]] == [("readings.1.value", "value_out_of_range")], (
        json.dumps(refused)[:2000]
    )
    latest = await latest_of(custody, passport_id)
    assert latest[M.remaining_round_trip_efficiency_pct.value] == values[M.remaining_round_trip_efficiency_pct]
    assert latest[M.self_discharge_rate_evolution_pct.value] == values[M.self_discharge_rate_evolution_pct]
