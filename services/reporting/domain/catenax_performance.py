"""Catena-X BatteryPass 6.1.0 `performance`: rated values from the static data, dynamic values from the latest
in-service readings (`state["in_service"]["latest"]`), each with the time it was measured (but the self-discharge
rate, which 6.1.0 holds as a bare number; the times in extreme temperatures go to `operatingEnvironment` as text
entries that say when they were measured). Pure."""

from __future__ import annotations

from typing import Any

from contracts.attributes import Requirement, by_key
from services.reporting.domain.catenax_context import Ctx, num, utc_time
from services.reporting.domain.tiers import METRIC_LONGLIST_KEYS

RATED = "/performance/rated"
DYNAMIC = "/performance/dynamic"
NO_READINGS = "not_yet_known: no in-service (BMS) reading has been reported for this battery yet"


def rated(ctx: Ctx) -> dict[str, Any]:
    ctx.miss(
        f"{RATED}/roundTripEfficiency/depthOfDischarge",
        "not_held: the depth of discharge of the round-trip efficiency test is not kept",
    )
    ctx.miss(f"{RATED}/lifetime/report", "not_held: no cycle-life test report link is kept")
    testing = f"{RATED}/lifetime/cycleLifeTesting"
    for member in ("temperature", "depthOfDischarge"):
        ctx.miss(f"{testing}/{member}", f"not_held: the cycle-life test's {member} is not kept")
    one_rate = (
        "not_held: static_data.cycle_life_test_c_rate is one C-rate, without saying whether of charge or discharge"
    )
    ctx.miss(f"{testing}/appliedChargeRate", one_rate)
    ctx.miss(f"{testing}/appliedDischargeRate", one_rate)
    energy = ctx.number("certified_usable_energy_kwh", None)
    return {
        "voltage": {
            "min": ctx.number("minimum_voltage_v", f"{RATED}/voltage/min"),
            "nominal": ctx.number("nominal_voltage_v", f"{RATED}/voltage/nominal"),
            "max": ctx.number("maximum_voltage_v", f"{RATED}/voltage/max"),
        },
        "roundTripEfficiency": {
            "initial": ctx.number("initial_round_trip_efficiency_pct", f"{RATED}/roundTripEfficiency/initial"),
            "50PercentLife": ctx.number(
                "round_trip_efficiency_at_50_pct_cycle_life_pct", f"{RATED}/roundTripEfficiency/50PercentLife"
            ),
        },
        "energy": {"value": energy} if energy is not None else None,
        "resistance": {
            "pack": ctx.number("initial_internal_resistance_pack_ohm", f"{RATED}/resistance/pack"),
            "cell": ctx.number("initial_internal_resistance_cell_ohm", f"{RATED}/resistance/cell"),
            "module": ctx.number("initial_internal_resistance_module_ohm", None),
        },
        "power": {
            "value": ctx.number("original_power_capability_w", f"{RATED}/power/value"),
            "at80SoC": ctx.number("power_capability_at_80_pct_soc_w", f"{RATED}/power/at80SoC"),
            "at20SoC": ctx.number("power_capability_at_20_pct_soc_w", f"{RATED}/power/at20SoC"),
        },
        "capacity": {
            "value": ctx.number("rated_capacity_ah", f"{RATED}/capacity/value"),
            "thresholdExhaustion": ctx.number(
                "capacity_threshold_for_exhaustion_pct", f"{RATED}/capacity/thresholdExhaustion"
            ),
        },
        "temperature": {
            "lower": ctx.number("idle_temperature_lower_c", f"{RATED}/temperature/lower"),
            "upper": ctx.number("idle_temperature_upper_c", f"{RATED}/temperature/upper"),
        },
        "selfDischargingRate": ctx.number("initial_self_discharge_rate_pct_per_month", f"{RATED}/selfDischargingRate"),
        "lifetime": {
            "expectedYears": ctx.number("expected_lifetime_years", f"{RATED}/lifetime/expectedYears"),
            "cycleLifeTesting": {"cycles": ctx.number("expected_lifetime_cycles", f"{testing}/cycles")},
        },
    }


def _absent(ctx: Ctx, metric: str) -> str:
    """Why the latest reading of `metric` is absent: not applicable to the category (longlist), or not read yet."""
    category = ctx.category
    key = METRIC_LONGLIST_KEYS[metric]
    if category is not None and by_key(key).requirement(category) is Requirement.not_applicable:
        return f"not_applicable: {key} does not apply to {category.value} batteries"
    return f"not_yet_known: no reading of {metric} has been reported yet"


def _reading(ctx: Ctx, latest: dict[str, Any], metric: str, pointer: str | None) -> dict[str, Any] | None:
    """`{value, time}` of the latest reading of `metric`; a required one not reported yet is a gap."""
    reading = latest.get(metric) or {}
    value = num(reading.get("value"))
    if value is None or not reading.get("measured_at"):
        if pointer is not None:
            ctx.miss(pointer, _absent(ctx, metric))
        return None
    return {"value": value, "time": utc_time(reading["measured_at"])}


# Annex VII Part B 4 / Annex XIII 4(d): the times in and charging in extreme temperatures are the operating
# environment 6.1.0 names (a list of documents): one text entry each, with the reading's time.
OPERATING_ENVIRONMENT = (
    ("time_above_max_temperature_h", "Time spent above the upper temperature boundary"),
    ("time_below_min_temperature_h", "Time spent below the lower temperature boundary"),
    ("time_charging_above_max_temperature_h", "Time spent charging above the upper temperature boundary"),
    ("time_charging_below_min_temperature_h", "Time spent charging below the lower temperature boundary"),
)


def operating_environment(latest: dict[str, Any]) -> list[dict[str, str]] | None:
    """`{header, content: "<hours> h, measured at <time>", contentType: text/plain}` per time read."""
    entries = []
    for metric, header in OPERATING_ENVIRONMENT:
        reading = latest.get(metric) or {}
        if reading.get("value") is None or not reading.get("measured_at"):
            continue
        content = f"{reading['value']} h, measured at {utc_time(reading['measured_at'])}"
        entries.append({"header": header, "content": content, "contentType": "text/plain"})
    return entries or None


def dynamic(ctx: Ctx) -> dict[str, Any] | None:
    latest: dict[str, Any] = (ctx.state.get("in_service") or {}).get("latest") or {}
    if not latest:
        ctx.miss(DYNAMIC, NO_READINGS)
        return None
    ctx.miss(
        f"{DYNAMIC}/resistance/increase/cell",
        "not_held: internal_resistance_increase_pct is read for the whole battery (pack), not per cell",
    )
    ctx.miss(f"{DYNAMIC}/resistance/remaining", "not_held: the BMS metrics hold no internal resistance in ohms")

    def read(metric: str, pointer: str | None) -> dict[str, Any] | None:
        return _reading(ctx, latest, metric, pointer)

    # selfDischargingRate is a bare percentage (per month): the member has no time for the reading's.
    self_discharge = read("self_discharge_rate_pct_per_month", f"{DYNAMIC}/selfDischargingRate")
    return {
        "stateOfCharge": read("state_of_charge_pct", f"{DYNAMIC}/stateOfCharge"),
        "fullCycles": read("full_cycles", f"{DYNAMIC}/fullCycles"),
        "selfDischargingRate": self_discharge["value"] if self_discharge else None,
        "power": {
            "fade": read("power_fade_pct", f"{DYNAMIC}/power/fade"),
            # One remaining power: at 80 % SoC, the state of charge the rated values are first given at.
            "remaining": read("remaining_power_capability_at_80_pct_soc_w", f"{DYNAMIC}/power/remaining"),
        },
        "capacity": {
            "fade": read("capacity_fade_pct", f"{DYNAMIC}/capacity/fade"),
            "throughput": read("capacity_throughput_ah", f"{DYNAMIC}/capacity/throughput"),
            "capacity": read("remaining_capacity_ah", f"{DYNAMIC}/capacity/capacity"),
        },
        "roundTripEfficiency": {
            "fade": read("round_trip_efficiency_fade_pct", f"{DYNAMIC}/roundTripEfficiency/fade"),
            "remaining": read("remaining_round_trip_efficiency_pct", f"{DYNAMIC}/roundTripEfficiency/remaining"),
        },
        "resistance": {
            "increase": {"pack": read("internal_resistance_increase_pct", f"{DYNAMIC}/resistance/increase/pack")}
        },
        "energy": {
            "soce": read("state_of_certified_energy_pct", f"{DYNAMIC}/energy/soce"),
            "remaining": read("remaining_energy_kwh", f"{DYNAMIC}/energy/remaining"),
            "throughput": read("energy_throughput_kwh", None),
        },
        "operatingEnvironment": operating_environment(latest),
    }


def performance(ctx: Ctx) -> dict[str, Any]:
    return {"rated": rated(ctx), "dynamic": dynamic(ctx)}
