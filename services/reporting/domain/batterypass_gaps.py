"""Why a Battery Pass 1.2 member is missing from a passport's export, and what the passport holds that the schemas
have no member for. Pure; read by the conformance report (`missing`, `not_exported`).

A reason names the source the member would come from (a static data field, an in-service metric) and what the
Battery Pass longlist v1.2 (contracts.attributes) asks of the passport's category, so a reader tells a gap the
OEM can fill from one the regulation does not ask for, or one the battery does not have yet.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlsplit

from contracts.attributes import BatteryCategory, Requirement, by_key
from services.reporting.domain.batterypass_condition import METRIC_OF, TEMPERATURE

GPI = "GeneralProductInformation"
PERF = "PerformanceAndDurability/batteryTechicalProperties"
COND = "PerformanceAndDurability/batteryCondition"
# Member (aspect + JSON pointer) -> (the static data fields it comes from, longlist key).
STATIC_SOURCES: dict[str, tuple[tuple[str, ...], str]] = {
    f"{GPI}/manufacturerInformation": (("manufacturer",), "manufacturer_identifier"),
    f"{GPI}/manufacturerInformation/identifier": (("manufacturer.identifier",), "manufacturer_identifier"),
    f"{GPI}/operatorInformation/identifier": (
        ("operator.identifier", "manufacturer.identifier"),
        "operator_identifier",
    ),
    f"{GPI}/manufacturingDate": (("manufacturing_date",), "manufacturing_date"),
    f"{GPI}/manufacturingPlace": (("manufacturing_place",), "manufacturing_place"),
    f"{GPI}/batteryMass": (("weight_kg",), "battery_mass"),
    f"{GPI}/warrentyPeriod": (("warranty_period_months",), "warranty_period"),
    f"{PERF}/originalPowerCapability": (
        ("power_capability_at_80_pct_soc_w", "power_capability_at_20_pct_soc_w"),
        "original_power_capability",
    ),
    f"{PERF}/ratedMaximumPower": (("maximum_permitted_power_w",), "maximum_permitted_power"),
    f"{PERF}/powerCapabilityRatio": (("power_to_energy_ratio_w_per_wh",), "power_to_energy_ratio"),
    f"{PERF}/ratedEnergy": (("certified_usable_energy_kwh",), "certified_usable_energy"),
    f"{PERF}/expectedNumberOfCycles": (("expected_lifetime_cycles",), "expected_lifetime_cycles"),
    f"{PERF}/initialSelfDischarge": (("initial_self_discharge_rate_pct_per_month",), "initial_self_discharge_rate"),
    f"{PERF}/roundtripEfficiency": (("initial_round_trip_efficiency_pct",), "initial_round_trip_efficiency"),
    f"{PERF}/ratedCapacity": (("rated_capacity_ah",), "rated_capacity"),
    f"{PERF}/initialInternalResistance": (
        tuple(f"initial_internal_resistance_{part}_ohm" for part in ("pack", "module", "cell")),
        "initial_internal_resistance",
    ),
    f"{PERF}/expectedLifetime": (("expected_lifetime_years",), "expected_lifetime_years"),
    f"{PERF}/nominalVoltage": (("nominal_voltage_v",), "nominal_voltage"),
    f"{PERF}/minimumVoltage": (("minimum_voltage_v",), "minimum_voltage"),
    f"{PERF}/maximumVoltage": (("maximum_voltage_v",), "maximum_voltage"),
    f"{PERF}/capacityThresholdForExhaustion": (
        ("capacity_threshold_for_exhaustion_pct",),
        "capacity_threshold_for_exhaustion",
    ),
    f"{PERF}/lifetimeReferenceTest": (("cycle_life_reference_test",), "cycle_life_reference_test"),
    f"{PERF}/cRateLifeCycleTest": (("cycle_life_test_c_rate",), "cycle_life_test_c_rate"),
    f"{PERF}/temperatureRangeIdleState": (("idle_temperature_upper_c",), "idle_temperature_upper_boundary"),
    f"{COND}/roundTripEfficiencyat50PerCentCycleLife": (
        ("round_trip_efficiency_at_50_pct_cycle_life_pct",),
        "round_trip_efficiency_at_50_percent_cycle_life",
    ),
}
# Condition members and the longlist attribute they carry (each has its metrics: batterypass_condition.METRIC_OF).
CONDITION_KEYS = {
    "energyThroughput": "energy_throughput",
    "capacityThroughput": "capacity_throughput",
    "numberOfFullCycles": "full_cycles_count",
    "stateOfCertifiedEnergy": "state_of_certified_energy",
    "capacityFade": "capacity_fade",
    "remainingEnergy": "remaining_usable_energy",
    "remainingCapacity": "remaining_capacity",
    "negativeEvents": "accident_information",
    "temperatureInformation": "temperature_information",
    "remainingPowerCapability": "remaining_power_capability",
    "powerFade": "power_fade",
    "roundTripEfficiencyFade": "round_trip_efficiency_fade",
    "evolutionOfSelfDischarge": "self_discharge_rate_evolution",
    "currentSelfDischargingRate": "current_self_discharge_rate",
    "internalResistanceIncrease": "internal_resistance_increase",
    "remainingRoundTripEnergyEfficiency": "remaining_round_trip_efficiency",
    "stateOfCharge": "state_of_charge",
}
# temperatureInformation's members and the longlist attribute each carries.
TEMPERATURE_KEYS = {
    "timeExtremeHighTemp": "time_above_temperature_boundary",
    "timeExtremeLowTemp": "time_below_temperature_boundary",
    "timeExtremeHighTempCharging": "time_charging_above_temperature_boundary",
    "timeExtremeLowTempCharging": "time_charging_below_temperature_boundary",
}
NOT_IN_SERVICE_STAGES = ("manufactured", "placed_on_market")


@functools.cache
def _asks(key: str, category: str | None) -> str:
    levels = {c.value: r.value for c, r in by_key(key).requirements.items()}
    if category not in levels:
        return "longlist v1.2: no category to judge by"
    return f"longlist v1.2 for {category}: {levels[category].replace('_', ' ')}"


def _given(static: dict[str, Any], dotted: str) -> Any:
    value: Any = static
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def is_uri(text: str) -> bool:
    parts = urlsplit(text)
    return bool(parts.scheme) and bool(parts.netloc) and " " not in text


def missing_reasons(state: dict[str, Any], static: dict[str, Any]) -> dict[str, str]:
    """Member -> why it is missing, for every member the mapping can leave out."""
    category = state.get("category")
    stage = state.get("stage") or "manufactured"
    reasons: dict[str, str] = {}
    for member, (fields, key) in STATIC_SOURCES.items():
        held = [f for f in fields if _given(static, f) is not None]
        why = f"no {' or '.join(fields)} in the static data read"
        if held:
            why = f"{', '.join(held)} is held but has no place here"
        reasons[member] = f"{why}; {_asks(key, category)}"
    test = static.get("cycle_life_reference_test")
    if test and not is_uri(str(test)):
        reasons[f"{PERF}/lifetimeReferenceTest"] = (
            f"the static data names the test as text ({test!r}); the schema holds a URI (ResourcePath): give the "
            f"test document's URI; {_asks('cycle_life_reference_test', category)}"
        )
    if static.get("original_power_capability_w") is not None and not _given(static, "power_capability_at_80_pct_soc_w"):
        reasons[f"{PERF}/originalPowerCapability"] = (
            "original_power_capability_w is held without the state of charge it was measured at; the schema holds "
            f"it per SoC (80 % and 20 %): give power_capability_at_80/20_pct_soc_w; "
            f"{_asks('original_power_capability', category)}"
        )
    reasons[f"{GPI}/puttingIntoService"] = (
        f"not put into service yet (stage {stage}); {_asks('putting_into_service_date', category)}"
    )
    readings = (state.get("in_service") or {}).get("latest") or {}
    why_none = f"no in-service readings in the read model (stage {stage}; none received, or none readable at this tier)"
    if not readings and stage in NOT_IN_SERVICE_STAGES:
        why_none = f"not put into service yet (stage {stage}): no in-service readings"
    reasons[COND] = why_none
    for member, key in CONDITION_KEYS.items():
        metrics = METRIC_OF[member]
        why = f"no {' or '.join(metrics)} reading received" if readings else why_none
        reasons[f"{COND}/{member}"] = f"{why}; {_asks(key, category)}"
    for member, metric in TEMPERATURE:
        why = f"no {metric} reading received" if readings else why_none
        reasons[f"{COND}/temperatureInformation/{member}"] = f"{why}; {_asks(TEMPERATURE_KEYS[member], category)}"
    if f"{COND}/temperatureInformation" in not_applicable(category):
        reasons[f"{COND}/temperatureInformation"] = (
            f"{reasons[f'{COND}/temperatureInformation']}; its members (times in extreme temperatures, charging or "
            f"not) are each not applicable to {category} per longlist v1.2, and the temperature read has no member"
        )
    return reasons


def longlist_keys() -> dict[str, str]:
    """Member (aspect + JSON pointer) -> the longlist attribute it carries, for every member the mapping fills."""
    keys = {member: key for member, (_, key) in STATIC_SOURCES.items()}
    keys[f"{GPI}/puttingIntoService"] = "putting_into_service_date"
    keys.update({f"{COND}/{member}": key for member, key in CONDITION_KEYS.items()})
    keys.update({f"{COND}/temperatureInformation/{member}": key for member, key in TEMPERATURE_KEYS.items()})
    return keys


LONGLIST_KEYS = longlist_keys()


@functools.cache
def not_applicable(category: str | None) -> frozenset[str]:
    """The members the longlist v1.2 marks not applicable to `category`: the schemas require them of every battery,
    identity refuses static data that gives them (`not_applicable_for_category`), so no passport of the category
    can hold them."""
    if category not in {c.value for c in BatteryCategory}:
        return frozenset()
    members = {
        member
        for member, key in LONGLIST_KEYS.items()
        if by_key(key).requirement(BatteryCategory(category)) is Requirement.not_applicable
    }
    if all(f"{COND}/temperatureInformation/{member}" in members for member in TEMPERATURE_KEYS):
        members.add(f"{COND}/temperatureInformation")  # an object of members none of which applies
    return frozenset(members)


NOT_EXPORTED_STATIC = {
    "battery_model": "GeneralProductInformation has no model designation",
    "declaration_of_conformity_id": "Labeling holds the declaration's URL only",
    "critical_raw_materials": "MaterialComposition flags each material (isCriticalRawMaterial), it holds no list",
    "idle_temperature_lower_c": "temperatureRangeIdleState is one number: the upper boundary is exported there",
    "original_power_capability_w": "originalPowerCapability is held per state of charge only",
    "manufacturer.registered_trade_name": "the contact information has no trade name",
    "manufacturing_place.facility_identifier": "manufacturingPlace is a postal address only",
}
NOT_EXPORTED_READINGS = {
    "state_of_health_pct": "Battery Pass 1.2 has no state-of-health member (it holds the metrics that make it up)",
    "temperature_c": "temperatureInformation holds times spent in extreme temperatures, not a temperature",
    "energy_throughput_kwh": "exported as energyThroughput without its time: the member is a bare number",
    "power_fade_pct": "exported as powerFade without its time: the member is a bare number",
    "round_trip_efficiency_fade_pct": "exported as roundTripEfficiencyFade without its time: a bare number",
    "self_discharge_rate_evolution_pct": "exported as evolutionOfSelfDischarge without its time: the member has none",
}


def not_exported(state: dict[str, Any], static: dict[str, Any]) -> list[dict[str, str]]:
    """What the passport holds that the Battery Pass 1.2 schemas have no member for (or hold only in part)."""
    out = [
        {"source": f"static_data.{field}", "reason": reason}
        for field, reason in NOT_EXPORTED_STATIC.items()
        if _given(static, field) not in (None, [], "")
    ]
    test = static.get("cycle_life_reference_test")
    if test and not is_uri(str(test)):
        out.append({"source": "static_data.cycle_life_reference_test", "reason": "lifetimeReferenceTest holds a URI"})
    latest = (state.get("in_service") or {}).get("latest") or {}
    out += [
        {"source": f"in_service.latest.{metric}", "reason": reason}
        for metric, reason in NOT_EXPORTED_READINGS.items()
        if metric in latest
    ]
    return out
