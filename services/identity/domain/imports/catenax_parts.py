"""Catena-X BatteryPass 6.1.0 `materials` and `performance` back to identity's static data fields. No I/O; used by
`catenax.py`. The active materials' recycled content is the sum of the pre- and post-consumer shares this platform
keeps apart, and their `critical` and `location` are derived from the composition: listed back as derived."""

from __future__ import annotations

from typing import Any

from services.identity.domain.imports.document import DERIVED, DYNAMIC_DATA, ImportedPassport, Path, Reader, number

# performance.rated member -> the static data field holding it.
RATED: dict[Path, str] = {
    ("voltage", "min"): "minimum_voltage_v",
    ("voltage", "nominal"): "nominal_voltage_v",
    ("voltage", "max"): "maximum_voltage_v",
    ("roundTripEfficiency", "initial"): "initial_round_trip_efficiency_pct",
    ("roundTripEfficiency", "50PercentLife"): "round_trip_efficiency_at_50_pct_cycle_life_pct",
    ("energy", "value"): "certified_usable_energy_kwh",
    ("resistance", "pack"): "initial_internal_resistance_pack_ohm",
    ("resistance", "cell"): "initial_internal_resistance_cell_ohm",
    ("resistance", "module"): "initial_internal_resistance_module_ohm",
    ("power", "value"): "original_power_capability_w",
    ("power", "at80SoC"): "power_capability_at_80_pct_soc_w",
    ("power", "at20SoC"): "power_capability_at_20_pct_soc_w",
    ("capacity", "value"): "rated_capacity_ah",
    ("capacity", "thresholdExhaustion"): "capacity_threshold_for_exhaustion_pct",
    ("temperature", "lower"): "idle_temperature_lower_c",
    ("temperature", "upper"): "idle_temperature_upper_c",
    ("selfDischargingRate",): "initial_self_discharge_rate_pct_per_month",
    ("lifetime", "expectedYears"): "expected_lifetime_years",
    ("lifetime", "cycleLifeTesting", "cycles"): "expected_lifetime_cycles",
}
RATED_PLACES = {field: ".".join(("performance", "rated", *map(str, keys))) for keys, field in RATED.items()}
RECYCLED_SUM = (
    "The recycled content of the element, pre- plus post-consumer: this platform keeps the two shares apart; give "
    "them in defaults.static_data."
)


def _cas(reader: Reader, keys: Path) -> tuple[Any, Any]:
    """Name and CAS number of a 6.1.0 material identification list (its first CAS entry)."""
    name = cas = None
    for index, _ in reader.items(*keys):
        kind = reader.get(*keys, index, "type")
        if kind == "CAS" and cas is None:
            name, cas = reader.get(*keys, index, "name"), reader.get(*keys, index, "id")
    return name, cas


def materials(imported: ImportedPassport, reader: Reader) -> None:
    static = imported.static_data
    active = reader.peek("materials", "active")
    for element in active if isinstance(active, dict) else {}:
        reader.skip(("materials", "active", element, "recycled"), DERIVED, RECYCLED_SUM)
        for member in ("critical", "location"):
            reader.skip(("materials", "active", element, member), DERIVED)
    reader.skip(("materials", "hazardous", "lead"), DERIVED)
    entries = []
    for index, _ in reader.items("materials", "composition"):
        keys: Path = ("materials", "composition", index)
        name, cas = _cas(reader, (*keys, "id"))
        share, unit = number(reader.get(*keys, "concentration")), reader.get(*keys, "unit")
        entry = {
            "name": name,
            "cas_number": cas,
            "share_pct": share if unit in (None, "unit:percent") else None,
            "critical_raw_material": reader.get(*keys, "critical"),
            "component": reader.get(*keys, "location"),
        }
        reader.skip((*keys, "recycled"), DERIVED, RECYCLED_SUM)
        entries.append({k: v for k, v in entry.items() if v is not None})
        prefix = f"material_composition.{index}"
        imported.place(prefix, keys)
        imported.place(f"{prefix}.name", (*keys, "id"))
        imported.place(f"{prefix}.cas_number", (*keys, "id"))
        imported.place(f"{prefix}.share_pct", (*keys, "concentration"))
        imported.place(f"{prefix}.component", (*keys, "location"))
    if entries:
        static["material_composition"] = entries
    substances: list[dict[str, Any]] = []
    impacts: list[Any] = []
    for index, _ in reader.items("materials", "hazardous", "other"):
        keys = ("materials", "hazardous", "other", index)
        name, cas = _cas(reader, (*keys, "materialIdentification"))
        reader.get(*keys, "materialUnit")
        reader.skip((*keys, "critical"), DERIVED)
        substance = {
            "name": name,
            "cas_number": cas,
            "concentration_pct": number(reader.get(*keys, "concentration")),
            "location": reader.get(*keys, "location"),
        }
        substances.append({k: v for k, v in substance.items() if v is not None})
        for at, _ in reader.items(*keys, "impactOfSubstances"):
            reader.get(*keys, "impactOfSubstances", at, "header")
            reader.get(*keys, "impactOfSubstances", at, "contentType")
            text = reader.get(*keys, "impactOfSubstances", at, "content")
            if text not in impacts:  # the export repeats the battery's statements in every substance
                imported.place(f"hazardous_substance_impacts.{len(impacts)}", (*keys, "impactOfSubstances", at))
                impacts.append(text)
        prefix = f"hazardous_substances.{index}"
        imported.place(prefix, keys)
        imported.place(f"{prefix}.name", (*keys, "materialIdentification"))
        imported.place(f"{prefix}.cas_number", (*keys, "materialIdentification"))
        imported.place(f"{prefix}.concentration_pct", (*keys, "concentration"))
        imported.place(f"{prefix}.location", (*keys, "location"))
    if substances:
        static["hazardous_substances"] = substances
    if impacts:
        static["hazardous_substance_impacts"] = impacts


def performance(imported: ImportedPassport, reader: Reader) -> None:
    for keys, field in RATED.items():
        value = reader.get("performance", "rated", *keys)
        if value is not None:
            imported.put(field, number(value), ("performance", "rated", *keys))
    reader.skip(("performance", "dynamic"), DYNAMIC_DATA)
