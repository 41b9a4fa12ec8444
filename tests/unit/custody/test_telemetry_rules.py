"""Telemetry readings: ranges per metric, clock sanity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.telemetry import METRIC_RANGES, Reading, TelemetryMetric, TelemetryReported
from services.custody.domain.readings import check_readings

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
PASSPORT = "urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11"


def message(*readings: Reading) -> TelemetryReported:
    return TelemetryReported(passport_id=PASSPORT, source_system="bms-1", readings=list(readings))


def test_every_metric_has_a_range() -> None:
    assert set(METRIC_RANGES) == set(TelemetryMetric)


def test_out_of_range_value_names_the_reading_and_the_range() -> None:
    violations = check_readings(
        message(
            Reading(metric=TelemetryMetric.state_of_health_pct, value=Decimal("97.5"), measured_at=NOW),
            Reading(metric=TelemetryMetric.state_of_charge_pct, value=Decimal("140"), measured_at=NOW),
        ),
        NOW,
    )
    assert [(v.field, v.reason) for v in violations] == [("readings.1.value", "value_out_of_range")]
    assert "between 0 and 100" in violations[0].message


def test_reading_from_the_future_is_refused() -> None:
    later = NOW + timedelta(hours=1)
    violations = check_readings(
        message(Reading(metric=TelemetryMetric.full_cycles, value=Decimal(3), measured_at=later)), NOW
    )
    assert [(v.field, v.reason) for v in violations] == [("readings.0.measured_at", "date_in_future")]


def test_reading_before_2000_is_refused_not_stored_as_minus_infinity() -> None:
    readings = [
        Reading(metric=TelemetryMetric.full_cycles, value=Decimal(3), measured_at=datetime(1, 1, 1, tzinfo=UTC)),
        Reading(metric=TelemetryMetric.full_cycles, value=Decimal(3), measured_at=datetime(2000, 1, 1, tzinfo=UTC)),
    ]
    violations = check_readings(message(*readings), NOW)
    assert [(v.field, v.reason) for v in violations] == [("readings.0.measured_at", "occurred_at_out_of_range")]


def test_non_finite_values_never_reach_the_rules() -> None:
    with pytest.raises(ValueError, match="finite"):
        Reading(metric=TelemetryMetric.temperature_c, value=Decimal("NaN"), measured_at=NOW)


@given(metric=st.sampled_from(list(TelemetryMetric)), data=st.data())
def test_values_inside_the_range_are_accepted(metric: TelemetryMetric, data: st.DataObject) -> None:
    low, high = METRIC_RANGES[metric]
    value = data.draw(st.decimals(min_value=low, max_value=high, allow_nan=False, allow_infinity=False, places=3))
    assert check_readings(message(Reading(metric=metric, value=value, measured_at=NOW)), NOW) == []
