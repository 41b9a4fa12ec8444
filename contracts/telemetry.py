"""In-service data from BMS and fleet systems (Annex XIII 4(b), 4(d)): readings in, latest values out."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.base import Message


class TelemetryMetric(StrEnum):
    """What a reading measures; each has one unit and a validated range (`METRIC_RANGES`)."""

    state_of_health_pct = "state_of_health_pct"
    remaining_capacity_ah = "remaining_capacity_ah"
    remaining_energy_kwh = "remaining_energy_kwh"
    capacity_fade_pct = "capacity_fade_pct"
    power_fade_pct = "power_fade_pct"
    internal_resistance_increase_pct = "internal_resistance_increase_pct"
    state_of_certified_energy_pct = "state_of_certified_energy_pct"
    state_of_charge_pct = "state_of_charge_pct"
    full_cycles = "full_cycles"
    energy_throughput_kwh = "energy_throughput_kwh"
    capacity_throughput_ah = "capacity_throughput_ah"
    temperature_c = "temperature_c"
    time_above_max_temperature_h = "time_above_max_temperature_h"
    time_below_min_temperature_h = "time_below_min_temperature_h"
    deep_discharge_events = "deep_discharge_events"
    accident_events = "accident_events"
    # Annex VII Part A/B and Annex XIII 4 parameters of EV, LMT and industrial batteries (longlist v1.2)
    remaining_power_capability_at_80_pct_soc_w = "remaining_power_capability_at_80_pct_soc_w"
    remaining_power_capability_at_20_pct_soc_w = "remaining_power_capability_at_20_pct_soc_w"
    remaining_round_trip_efficiency_pct = "remaining_round_trip_efficiency_pct"
    round_trip_efficiency_fade_pct = "round_trip_efficiency_fade_pct"
    self_discharge_rate_pct_per_month = "self_discharge_rate_pct_per_month"
    self_discharge_rate_evolution_pct = "self_discharge_rate_evolution_pct"
    time_charging_above_max_temperature_h = "time_charging_above_max_temperature_h"
    time_charging_below_min_temperature_h = "time_charging_below_min_temperature_h"


# Inclusive physical ranges; a reading outside is refused with the field and the range.
METRIC_RANGES: dict[TelemetryMetric, tuple[Decimal, Decimal]] = {
    TelemetryMetric.state_of_health_pct: (Decimal(0), Decimal(100)),
    TelemetryMetric.remaining_capacity_ah: (Decimal(0), Decimal(1_000_000)),
    TelemetryMetric.remaining_energy_kwh: (Decimal(0), Decimal(100_000)),
    TelemetryMetric.capacity_fade_pct: (Decimal(0), Decimal(100)),
    TelemetryMetric.power_fade_pct: (Decimal(0), Decimal(100)),
    TelemetryMetric.internal_resistance_increase_pct: (Decimal(0), Decimal(1000)),
    TelemetryMetric.state_of_certified_energy_pct: (Decimal(0), Decimal(100)),
    TelemetryMetric.state_of_charge_pct: (Decimal(0), Decimal(100)),
    TelemetryMetric.full_cycles: (Decimal(0), Decimal(1_000_000)),
    TelemetryMetric.energy_throughput_kwh: (Decimal(0), Decimal(1_000_000_000)),
    TelemetryMetric.capacity_throughput_ah: (Decimal(0), Decimal(10_000_000_000)),
    TelemetryMetric.temperature_c: (Decimal(-80), Decimal(200)),
    TelemetryMetric.time_above_max_temperature_h: (Decimal(0), Decimal(1_000_000)),
    TelemetryMetric.time_below_min_temperature_h: (Decimal(0), Decimal(1_000_000)),
    TelemetryMetric.deep_discharge_events: (Decimal(0), Decimal(1_000_000)),
    TelemetryMetric.accident_events: (Decimal(0), Decimal(1_000)),
    TelemetryMetric.remaining_power_capability_at_80_pct_soc_w: (Decimal(0), Decimal(100_000_000)),
    TelemetryMetric.remaining_power_capability_at_20_pct_soc_w: (Decimal(0), Decimal(100_000_000)),
    TelemetryMetric.remaining_round_trip_efficiency_pct: (Decimal(0), Decimal(100)),
    TelemetryMetric.round_trip_efficiency_fade_pct: (Decimal(0), Decimal(100)),
    TelemetryMetric.self_discharge_rate_pct_per_month: (Decimal(0), Decimal(100)),
    # the current rate's change from the initial one, in % of it: a rate may fall (down to -100 %) or multiply
    TelemetryMetric.self_discharge_rate_evolution_pct: (Decimal(-100), Decimal(10_000)),
    TelemetryMetric.time_charging_above_max_temperature_h: (Decimal(0), Decimal(1_000_000)),
    TelemetryMetric.time_charging_below_min_temperature_h: (Decimal(0), Decimal(1_000_000)),
}


class Reading(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: TelemetryMetric = Field(description="What is measured; the unit is in the name.")
    value: Decimal = Field(
        allow_inf_nan=False, description="The measured value, in the metric's unit.", examples=["97.4"]
    )
    measured_at: AwareDatetime = Field(description="When it was measured, with UTC offset.")


class TelemetryReported(Message):
    """Readings of one battery from a BMS or fleet system (`bpass.custody.telemetry.v1`, keyed by passport id)."""

    event_type = "eu.battery-passport.custody.telemetry.v1"

    passport_id: str = Field(
        pattern=r"^urn:uuid:[0-9a-f-]{36}$",
        description="The battery's passport.",
        examples=["urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11"],
    )
    source_system: str = Field(min_length=1, max_length=200, description="BMS / fleet system that measured it.")
    readings: list[Reading] = Field(min_length=1, max_length=10_000, description="The readings, any order.")


class LatestValue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: Decimal = Field(description="Latest value.")
    measured_at: datetime = Field(description="When it was measured (UTC).")
    source_system: str = Field(description="Who measured it.")


class InServiceDataUpdated(Message):
    """A passport's latest in-service values changed (`bpass.custody.in-service-data.v1`, keyed by passport id)."""

    event_type = "eu.battery-passport.custody.in-service-data-updated.v1"

    passport_id: str = Field(description="The battery's passport.")
    tenant: str = Field(description="Owning tenant.")
    latest: dict[TelemetryMetric, LatestValue] = Field(description="Latest value per metric that changed.")
    readings_stored: int = Field(ge=0, description="Readings stored for this passport by this update.")
