"""`PerformanceAndDurability.batteryCondition` of the Battery Pass 1.2 export: the latest in-service readings the
read model holds (`state["in_service"]["latest"]`, contracts.telemetry metrics), each with the time it was measured,
and the one static value the schema files under condition (round trip efficiency at 50 % of cycle life).

Decisions where the schema is silent: times spent in extreme temperatures are read in hours and exported in minutes
(the longlist's unit); a count of negative events becomes one `negativeEvents` entry per kind with a count above
zero, and all counts zero export an empty list (reported: none); internal resistance increase is the battery's,
so `pack`; remaining power capability is one entry per state of charge read (80 %, 20 %, as the original power
capability), each with its time; the members the schema holds as bare numbers (energy throughput, power fade, round
trip efficiency fade, evolution of self-discharge) lose the reading's time. A member without a reading is left out
(the conformance report says why).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

# member, its value member, metric: members the schema holds with the time of the reading.
TIMED = (
    ("capacityThroughput", "capacityThroughputValue", "capacity_throughput_ah"),
    ("numberOfFullCycles", "numberOfFullCyclesValue", "full_cycles"),
    ("stateOfCertifiedEnergy", "stateOfCertifiedEnergyValue", "state_of_certified_energy_pct"),
    ("capacityFade", "capacityFadeValue", "capacity_fade_pct"),
    ("remainingEnergy", "remainingEnergyalue", "remaining_energy_kwh"),  # sic: the schema's spelling
    ("remainingCapacity", "remainingCapacityValue", "remaining_capacity_ah"),
    ("stateOfCharge", "stateOfChargeValue", "state_of_charge_pct"),
    (
        "remainingRoundTripEnergyEfficiency",
        "remainingRoundTripEnergyEfficiencyValue",
        "remaining_round_trip_efficiency_pct",
    ),
    ("currentSelfDischargingRate", "currentSelfDischargingRateEntity", "self_discharge_rate_pct_per_month"),
)
# member, metric: members the schema holds as a bare number (the reading's time has no place).
UNTIMED = (
    ("energyThroughput", "energy_throughput_kwh"),
    ("powerFade", "power_fade_pct"),
    ("roundTripEfficiencyFade", "round_trip_efficiency_fade_pct"),
)
# member, its value member, metric: an object holding the number only.
BARE_OBJECTS = (
    ("evolutionOfSelfDischarge", "evolutionOfSelfDischargeEntityValue", "self_discharge_rate_evolution_pct"),
)
# state of charge (%) -> metric of the remaining power capability measured there
REMAINING_POWER = (
    (80.0, "remaining_power_capability_at_80_pct_soc_w"),
    (20.0, "remaining_power_capability_at_20_pct_soc_w"),
)
NEGATIVE_EVENTS = (("deep_discharge_events", "deep discharge events"), ("accident_events", "accidents"))
TEMPERATURE = (
    ("timeExtremeHighTemp", "time_above_max_temperature_h"),
    ("timeExtremeLowTemp", "time_below_min_temperature_h"),
    ("timeExtremeHighTempCharging", "time_charging_above_max_temperature_h"),
    ("timeExtremeLowTempCharging", "time_charging_below_min_temperature_h"),
)
MINUTES_PER_HOUR = Decimal(60)
# Every metric the condition exports, by member (for the conformance report's reasons).
METRIC_OF: dict[str, tuple[str, ...]] = {
    **{member: (metric,) for member, _, metric in TIMED},
    **{member: (metric,) for member, metric in UNTIMED},
    **{member: (metric,) for member, _, metric in BARE_OBJECTS},
    "remainingPowerCapability": tuple(metric for _, metric in REMAINING_POWER),
    "negativeEvents": tuple(metric for metric, _ in NEGATIVE_EVENTS),
    "temperatureInformation": tuple(metric for _, metric in TEMPERATURE),
    "internalResistanceIncrease": ("internal_resistance_increase_pct",),
}


def utc(iso: str) -> str:
    """An ISO 8601 time as the schema's patterns read it, UTC written `Z`."""
    return iso.replace("+00:00", "Z")


def _number(value: Any) -> float:
    return float(Decimal(str(value)))


def battery_condition(state: dict[str, Any], static: dict[str, Any]) -> dict[str, Any] | None:
    """The condition members the passport has values for; None when it has none."""
    latest: dict[str, dict[str, Any]] = (state.get("in_service") or {}).get("latest") or {}
    known = {metric: r for metric, r in latest.items() if r.get("value") is not None and r.get("measured_at")}
    condition: dict[str, Any] = {}
    for member, metric in UNTIMED:
        if metric in known:
            condition[member] = _number(known[metric]["value"])
    for member, value_member, metric in TIMED:
        if metric in known:
            condition[member] = {
                value_member: _number(known[metric]["value"]),
                "lastUpdate": utc(known[metric]["measured_at"]),
            }
    for member, value_member, metric in BARE_OBJECTS:
        if metric in known:
            condition[member] = {value_member: _number(known[metric]["value"])}
    power = [(soc, known[metric]) for soc, metric in REMAINING_POWER if metric in known]
    if power:
        condition["remainingPowerCapability"] = [
            {
                "remainingPowerCapabilityValue": {
                    "atSoC": soc,
                    "powerCapabilityAt": _number(r["value"]),
                    "rPCLastUpdated": utc(r["measured_at"]),
                },
                "lastUpdate": utc(r["measured_at"]),
            }
            for soc, r in power
        ]
    counts = [(known[metric], label) for metric, label in NEGATIVE_EVENTS if metric in known]
    if counts:
        condition["negativeEvents"] = [
            {"negativeEvent": f"{label}: {Decimal(str(r['value'])).normalize():f}", "lastUpdate": utc(r["measured_at"])}
            for r, label in counts
            if Decimal(str(r["value"])) > 0
        ]
    temperature = {member: known[metric] for member, metric in TEMPERATURE if metric in known}
    if temperature:
        info: dict[str, Any] = {
            member: float(Decimal(str(r["value"])) * MINUTES_PER_HOUR) for member, r in temperature.items()
        }
        info["lastUpdate"] = utc(max((r["measured_at"] for r in temperature.values()), key=datetime.fromisoformat))
        condition["temperatureInformation"] = info
    increase = known.get("internal_resistance_increase_pct")
    if increase:
        condition["internalResistanceIncrease"] = [
            {
                "internalResistanceIncreaseValue": _number(increase["value"]),
                "lastUpdate": utc(increase["measured_at"]),
                "batteryComponent": "pack",
            }
        ]
    at_half_life = static.get("round_trip_efficiency_at_50_pct_cycle_life_pct")
    if at_half_life is not None:
        condition["roundTripEfficiencyat50PerCentCycleLife"] = _number(at_half_life)
    return condition or None
