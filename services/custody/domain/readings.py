"""Telemetry rules without I/O."""

from __future__ import annotations

from datetime import datetime

from contracts.errors import Violation, future_violation
from contracts.telemetry import METRIC_RANGES, TelemetryReported
from services.custody.domain.event_time import EARLIEST, event_time_violations


def check_readings(message: TelemetryReported, now: datetime) -> list[Violation]:
    """Every reading within its metric's physical range, not measured in the future nor before 2000."""
    violations = []
    for index, reading in enumerate(message.readings):
        low, high = METRIC_RANGES[reading.metric]
        if not low <= reading.value <= high:
            violations.append(
                Violation(
                    field=f"readings.{index}.value",
                    reason="value_out_of_range",
                    message=f"{reading.metric.value} must be between {low} and {high}, got {reading.value}.",
                )
            )
        future = future_violation(f"readings.{index}.measured_at", reading.measured_at, now, "check the BMS clock")
        if future is not None:
            violations.append(future)
        elif reading.measured_at < EARLIEST:  # the event-time window of every custody input
            violations += event_time_violations(reading.measured_at, now, f"readings.{index}.measured_at")
    return violations
