"""What a simulated BMS or fleet system reads of a battery in service: every metric of the readings contract
(contracts.telemetry), consistent with each other and with the model's static data (capacity, energy, power,
round trip efficiency, self-discharge at the start of life), ageing with the time in service.

Shared by the simulator (`bpass simulate`, `make run`) and the generated populations of the export tests, so the
demo's exports carry what the tests check. Values stay inside `METRIC_RANGES`.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from contracts.telemetry import METRIC_RANGES, TelemetryMetric

M = TelemetryMetric
COUNTS = frozenset({M.full_cycles, M.deep_discharge_events, M.accident_events})
CYCLES_PER_YEAR = 250
CAPACITY_FADE_PCT_PER_YEAR = 3.0
# assumed where the model declares no initial self-discharge rate (EV, industrial: the longlist does not ask for it)
SELF_DISCHARGE_AT_START_PCT_PER_MONTH = 2.0


def _static(static: dict[str, Any], field: str, default: float) -> float:
    value = static.get(field)
    return default if value is None else float(value)


def bms_values(static: dict[str, Any], years_in_service: float, rng: random.Random) -> dict[TelemetryMetric, float]:
    """Every metric's value for a battery of `static` after `years_in_service` years, before rounding."""
    years = max(years_in_service, 0.0)
    fade = min(years * CAPACITY_FADE_PCT_PER_YEAR + rng.uniform(0, 0.5), 60.0)
    health = 100.0 - fade
    capacity_ah = _static(static, "rated_capacity_ah", 100.0)
    voltage = _static(static, "nominal_voltage_v", 48.0)
    energy_kwh = _static(static, "certified_usable_energy_kwh", capacity_ah * voltage / 1000)
    original_w = _static(static, "original_power_capability_w", energy_kwh * 1000)
    power_fade = min(fade * 1.2, 100.0)
    cycles = int(years * CYCLES_PER_YEAR * rng.uniform(0.7, 1.3))
    rte_start = _static(static, "initial_round_trip_efficiency_pct", 95.0)
    rte_now = max(rte_start - fade * 0.3, 0.0)
    evolution = years * rng.uniform(5, 15)
    hours = years * 8760
    return {
        M.state_of_health_pct: health,
        M.remaining_capacity_ah: capacity_ah * health / 100,
        M.remaining_energy_kwh: energy_kwh * health / 100,
        M.capacity_fade_pct: fade,
        M.power_fade_pct: power_fade,
        M.internal_resistance_increase_pct: fade * 4,
        M.state_of_certified_energy_pct: health,
        M.state_of_charge_pct: rng.uniform(20, 95),
        M.full_cycles: cycles,
        M.energy_throughput_kwh: cycles * energy_kwh,
        M.capacity_throughput_ah: cycles * capacity_ah,
        M.temperature_c: rng.uniform(12, 35),
        M.time_above_max_temperature_h: hours * rng.uniform(0, 0.001),
        M.time_below_min_temperature_h: hours * rng.uniform(0, 0.002),
        M.deep_discharge_events: rng.randint(0, 3),
        M.accident_events: 1 if rng.random() < 0.05 else 0,
        M.remaining_power_capability_at_80_pct_soc_w: _static(static, "power_capability_at_80_pct_soc_w", original_w)
        * (1 - power_fade / 100),
        M.remaining_power_capability_at_20_pct_soc_w: _static(
            static, "power_capability_at_20_pct_soc_w", original_w * 0.75
        )
        * (1 - power_fade / 100),
        M.remaining_round_trip_efficiency_pct: rte_now,
        M.round_trip_efficiency_fade_pct: (rte_start - rte_now) / rte_start * 100 if rte_start else 0.0,
        M.self_discharge_rate_pct_per_month: _static(
            static, "initial_self_discharge_rate_pct_per_month", SELF_DISCHARGE_AT_START_PCT_PER_MONTH
        )
        * (1 + evolution / 100),
        M.self_discharge_rate_evolution_pct: evolution,
        M.time_charging_above_max_temperature_h: hours * rng.uniform(0, 0.0002),
        M.time_charging_below_min_temperature_h: hours * rng.uniform(0, 0.0004),
    }


def bms_readings(
    static: dict[str, Any],
    years_in_service: float,
    rng: random.Random,
    metrics: frozenset[TelemetryMetric] | None = None,
) -> dict[TelemetryMetric, Decimal]:
    """The readings (every metric, or those in `metrics`) rounded as a BMS reports them, clamped to their ranges."""
    out = {}
    for metric, value in bms_values(static, years_in_service, rng).items():
        if metrics is not None and metric not in metrics:
            continue
        low, high = METRIC_RANGES[metric]
        reading = Decimal(str(round(value))) if metric in COUNTS else Decimal(str(round(value, 2)))
        out[metric] = min(max(reading, low), high)
    return out
