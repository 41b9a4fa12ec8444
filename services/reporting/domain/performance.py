"""Annex XIII 4(a): the performance and durability values a passport shows, snapshotted at placing on the market
and at every status change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

# --- Annex XIII 4(a): performance and durability values at placing on market and at every status change ----------

# Static values (Annex VII Part A, from the passport's static data): field -> unit.
PERFORMANCE_STATIC: dict[str, str] = {
    "rated_capacity_ah": "Ah",
    "certified_usable_energy_kwh": "kWh",
    "minimum_voltage_v": "V",
    "nominal_voltage_v": "V",
    "maximum_voltage_v": "V",
    "original_power_capability_w": "W",
    "power_capability_at_80_pct_soc_w": "W",
    "power_capability_at_20_pct_soc_w": "W",
    "maximum_permitted_power_w": "W",
    "power_to_energy_ratio_w_per_wh": "W/Wh",
    "initial_round_trip_efficiency_pct": "%",
    "round_trip_efficiency_at_50_pct_cycle_life_pct": "%",
    "initial_self_discharge_rate_pct_per_month": "%/month",
    "initial_internal_resistance_pack_ohm": "Ohm",
    "initial_internal_resistance_module_ohm": "Ohm",
    "initial_internal_resistance_cell_ohm": "Ohm",
    "expected_lifetime_years": "years",
    "expected_lifetime_cycles": "cycles",
    "capacity_threshold_for_exhaustion_pct": "%",
}
# Dynamic values (the latest in-service reading of each, contracts.telemetry metrics): metric -> unit. State of
# charge, temperatures and negative events are usage data (Annex XIII 4(d)), not performance parameters.
PERFORMANCE_DYNAMIC: dict[str, str] = {
    "state_of_health_pct": "%",
    "remaining_capacity_ah": "Ah",
    "capacity_fade_pct": "%",
    "remaining_energy_kwh": "kWh",
    "state_of_certified_energy_pct": "%",
    "power_fade_pct": "%",
    "internal_resistance_increase_pct": "%",
    "full_cycles": "cycles",
    "energy_throughput_kwh": "kWh",
    "capacity_throughput_ah": "Ah",
}
# A passport changes status or stage a handful of times; the bound only guards against a runaway publisher: the
# first snapshot (the baseline, usually placing on the market) and the latest ones are kept.
MAX_PERFORMANCE_SNAPSHOTS = 24


def performance_values(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The 4(a) values as they stand: static ones from the static data (when the state holds it), dynamic ones from
    the latest in-service readings. Each: {value (string), unit, source[, measured_at]}; absent values are left out.
    """
    values: dict[str, dict[str, Any]] = {}
    static: dict[str, Any] = state.get("static_data") or {}
    source = f"static_data v{state.get('data_version') or 1}"
    for name, unit in PERFORMANCE_STATIC.items():
        if static.get(name) is not None:
            values[name] = {"value": str(static[name]), "unit": unit, "source": source}
    latest: dict[str, Any] = (state.get("in_service") or {}).get("latest") or {}
    for name, unit in PERFORMANCE_DYNAMIC.items():
        reading = latest.get(name)
        if reading and reading.get("value") is not None:
            values[name] = {
                "value": str(reading["value"]),
                "unit": unit,
                "measured_at": reading.get("measured_at"),
                "source": reading.get("source_system"),
            }
    return values


def snapshot_performance(state: dict[str, Any], *, at: datetime, by: str | None, reason: str | None) -> bool:
    """Append a snapshot of the 4(a) values for the status / stage the state has now, changed at `at`. A change
    already snapshotted (same instant, status and stage) is not snapshotted again. True: one was added."""
    snapshots: list[dict[str, Any]] = state.setdefault("performance_snapshots", [])
    entry = {
        "at": at.isoformat(),
        "status": state.get("status"),
        "stage": state.get("stage"),
        "by": by,
        "reason": reason,
        "data_version": state.get("data_version"),
        "values": performance_values(state),
    }
    key = (entry["at"], entry["status"], entry["stage"])
    if any((s.get("at"), s.get("status"), s.get("stage")) == key for s in snapshots):
        return False
    snapshots.append(entry)
    if len(snapshots) > MAX_PERFORMANCE_SNAPSHOTS:
        del snapshots[1 : len(snapshots) - MAX_PERFORMANCE_SNAPSHOTS + 1]
    return True
