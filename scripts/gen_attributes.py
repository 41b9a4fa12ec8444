"""Generate `contracts/attributes.json` from the Battery Pass data attribute longlist v1.2 (CSV).

Run once when the longlist changes; the JSON is committed and `contracts.attributes` loads it.

    python scripts/gen_attributes.py                # write contracts/attributes.json
    python scripts/gen_attributes.py --check        # exit 1 if the committed JSON is stale
    python scripts/gen_attributes.py --csv PATH     # another copy of the longlist

The only judgement calls live in the tables below: the stable `key` of each attribute (chosen by hand, by
longlist number, so that a rewording in the source never renames a contract field) and the mapping of the
free-text access right onto our access tiers.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO_ROOT.parent / "shared/reference/batterypass/data-attributes-longlist-v1.2.csv"
OUTPUT = REPO_ROOT / "contracts/attributes.json"
EXPECTED_ROWS = 93

# Column name (in the CSV header) -> battery category code.
CATEGORY_COLUMNS = {
    "ev": "EV",
    "lmt": "LMT",
    "industrial": "Other Industrial >2kWh",
    "stationary": "Stationary >2kWh",
}

# x = mandatory, o = voluntary; the longlist leaves the cell empty (or writes "-") when not applicable.
REQUIREMENTS = {"x": "mandatory", "o": "voluntary", "": "not_applicable", "-": "not_applicable"}

# Tiers are nested: public < legitimate_interest < authorities (< owner); a reader of a tier also reads every
# lower tier. When a row names several groups, the attribute gets the most restrictive tier that still admits
# every group named: "persons with a legitimate interest and the Commission" is legitimate_interest (the
# Commission, an authority, reads it as well); making it `authorities` would lock out the recyclers and
# repairers the regulation gives it to (Art. 77(2)(c)).
ACCESS_TIERS = {
    "Public": "public",
    "persons with a legitimate interest": "legitimate_interest",
    "persons with a legitimate interest and the Commission": "legitimate_interest",
    "Notified bodies, market surveillance authorities and the Commission": "authorities",
}

BEHAVIOURS = {"Static": "static", "Dynamic": "dynamic"}
GRANULARITIES = {"Battery model": "model", "Individual battery": "individual_battery"}

# The source spells one sub-category two ways.
SUB_CATEGORY_FIXES = {"Circularity Information": "Circularity information"}

KEYS: dict[int, str] = {
    1: "battery_passport_identifier",
    2: "battery_identifier",
    3: "operator_identifier",
    4: "manufacturer_identifier",
    5: "manufacturing_place",
    6: "manufacturing_date",
    7: "putting_into_service_date",
    8: "warranty_period",
    9: "battery_category",
    10: "battery_mass",
    11: "battery_status",
    12: "separate_collection_symbol",
    13: "cadmium_and_lead_symbols",
    14: "carbon_footprint_label",
    15: "extinguishing_agent",
    16: "meaning_of_labels_and_symbols",
    17: "eu_declaration_of_conformity",
    18: "test_report_results",
    19: "carbon_footprint_per_functional_unit",
    20: "carbon_footprint_raw_material_contribution",
    21: "carbon_footprint_production_contribution",
    22: "carbon_footprint_distribution_contribution",
    23: "carbon_footprint_end_of_life_contribution",
    24: "carbon_footprint_performance_class",
    25: "carbon_footprint_study",
    26: "general_battery_and_manufacturer_information",
    27: "absolute_carbon_footprint",
    28: "due_diligence_report",
    29: "third_party_assurances",
    30: "supply_chain_indices",
    31: "battery_chemistry",
    32: "critical_raw_materials",
    33: "cathode_anode_electrolyte_materials",
    34: "hazardous_substances",
    35: "hazardous_substances_impact",
    36: "dismantling_information",
    37: "component_part_numbers",
    38: "spare_part_sources",
    39: "safety_measures",
    40: "pre_consumer_recycled_nickel_share",
    41: "pre_consumer_recycled_cobalt_share",
    42: "pre_consumer_recycled_lithium_share",
    43: "pre_consumer_recycled_lead_share",
    44: "post_consumer_recycled_nickel_share",
    45: "post_consumer_recycled_cobalt_share",
    46: "post_consumer_recycled_lithium_share",
    47: "post_consumer_recycled_lead_share",
    48: "renewable_content_share",
    49: "end_user_waste_prevention_information",
    50: "end_user_separate_collection_information",
    51: "end_of_life_information",
    52: "rated_capacity",
    53: "remaining_capacity",
    54: "capacity_fade",
    55: "certified_usable_energy",
    56: "remaining_usable_energy",
    57: "state_of_certified_energy",
    58: "state_of_charge",
    59: "minimum_voltage",
    60: "maximum_voltage",
    61: "nominal_voltage",
    62: "original_power_capability",
    63: "remaining_power_capability",
    64: "power_fade",
    65: "maximum_permitted_power",
    66: "power_to_energy_ratio",
    67: "initial_round_trip_efficiency",
    68: "round_trip_efficiency_at_50_percent_cycle_life",
    69: "remaining_round_trip_efficiency",
    70: "round_trip_efficiency_fade",
    71: "initial_self_discharge_rate",
    72: "current_self_discharge_rate",
    73: "self_discharge_rate_evolution",
    74: "initial_internal_resistance",
    75: "internal_resistance_increase",
    76: "expected_lifetime_years",
    77: "expected_lifetime_cycles",
    78: "full_cycles_count",
    79: "cycle_life_reference_test",
    80: "cycle_life_test_c_rate",
    81: "energy_throughput",
    82: "capacity_throughput",
    83: "capacity_threshold_for_exhaustion",
    84: "temperature_information",
    85: "idle_temperature_lower_boundary",
    86: "idle_temperature_upper_boundary",
    87: "time_above_temperature_boundary",
    88: "time_below_temperature_boundary",
    89: "time_charging_above_temperature_boundary",
    90: "time_charging_below_temperature_boundary",
    91: "deep_discharge_events",
    92: "overcharge_events",
    93: "accident_information",
}

_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_NOT_GIVEN = {"", "-", "n.a."}


def _text(value: str) -> str:
    """Collapse the source's runs of whitespace (double spaces, line breaks) into single spaces."""
    return " ".join(value.split())


def _optional(value: str) -> str | None:
    text = _text(value)
    return None if text in _NOT_GIVEN else text


def _lookup(table: dict[str, str], raw: str, what: str, number: int) -> str:
    try:
        return table[raw]
    except KeyError:
        raise ValueError(f"longlist row {number}: unmapped {what} {raw!r}; extend the table") from None


def build(csv_path: Path) -> list[dict[str, Any]]:
    """The longlist as JSON-ready rows, in longlist order."""
    with csv_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if len(rows) != EXPECTED_ROWS:
        raise ValueError(f"{csv_path}: {len(rows)} attribute rows, expected {EXPECTED_ROWS}")
    if len(set(KEYS.values())) != len(KEYS):
        raise ValueError("KEYS holds a key twice")
    attributes: list[dict[str, Any]] = []
    for row in rows:
        number = int(row["#"])
        key = KEYS[number]
        if not _SNAKE_CASE.match(key):
            raise ValueError(f"key {key!r} is not snake_case")
        unit = _optional(row["Unit of attribute or sign (if applicable)"])
        sub_category = _optional(row["Attribute sub-category"])
        attributes.append(
            {
                "number": number,
                "din_clause": _text(row["DIN DKE Spec 99100 Chapter"]),
                "key": key,
                "name": _text(row["Attribute"]),
                "category": _text(row["Attribute category"]),
                "sub_category": SUB_CATEGORY_FIXES.get(sub_category, sub_category) if sub_category else None,
                "requirements": {
                    code: _lookup(REQUIREMENTS, row[column].strip(), f"{column} requirement", number)
                    for code, column in CATEGORY_COLUMNS.items()
                },
                "access_tier": _lookup(
                    ACCESS_TIERS,
                    _text(row["Access rights according to Battery Regulation"]),
                    "access",
                    number,
                ),
                "access_right": _text(row["Access rights according to Battery Regulation"]),
                "behaviour": _lookup(
                    BEHAVIOURS,
                    _text(row["Data behavioural characteristic: static vs. dynamic"]),
                    "behaviour",
                    number,
                ),
                "granularity": _lookup(
                    GRANULARITIES,
                    _text(row["Granularity level I: Model vs individual battery"]),
                    "granularity",
                    number,
                ),
                "unit": unit.strip("[]") if unit else None,
                "data_format": _optional(row["Data format"]),
                "regulation_reference": _optional(row["Regulation Reference"]),
                "update_requirement": _optional(row["Update requirement for dynamic data, or, where defined"]),
            }
        )
    if [a["number"] for a in attributes] != list(range(1, EXPECTED_ROWS + 1)):
        raise ValueError("longlist numbers are not 1..93 in order")
    return attributes


def render(attributes: list[dict[str, Any]]) -> str:
    return json.dumps(attributes, indent=2, ensure_ascii=False) + "\n"


def distinct_access_rights(csv_path: Path) -> Counter[str]:
    with csv_path.open(encoding="utf-8", newline="") as handle:
        return Counter(_text(row["Access rights according to Battery Regulation"]) for row in csv.DictReader(handle))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help=f"longlist CSV (default {DEFAULT_CSV})")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"JSON to write (default {OUTPUT})")
    parser.add_argument("--check", action="store_true", help="only compare with the existing output")
    args = parser.parse_args(argv)

    for raw, count in sorted(distinct_access_rights(args.csv).items()):
        print(f"access right {raw!r} x{count} -> {ACCESS_TIERS.get(raw, 'UNMAPPED')}")
    text = render(build(args.csv))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale; run scripts/gen_attributes.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({EXPECTED_ROWS} attributes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
