"""Complete, valid mint inputs per battery category, for the simulator, the demo, the benchmarks and the tests. No I/O.

`valid_static_payload(category)` is the JSON-ready body (what an OEM would send);
`valid_static_data(category)` is the same, validated. Every mandatory static attribute of the category is
given, nothing the longlist marks not applicable is, and every cross-field rule holds. The values are
plausible for the kind of battery but invented; the manufacturer and its URLs live under `.example`.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from contracts.passport_data import BatteryCategory, StaticPassportData

EXAMPLE_GTIN = "09506000134352"  # the GS1 example GTIN used throughout the GS1 Digital Link standard

_DOCS = "https://voltaris.example/docs"
_ADDRESS = {
    "street_address": "Industriestraße 12",
    "postal_code": "38440",
    "locality": "Wolfsburg",
    "country_code": "DE",
}

_COMMON: dict[str, Any] = {
    "manufacturer": {
        "identifier": "GLN 4006381000016",
        "name": "Voltaris Batteries GmbH",
        "registered_trade_name": "Voltaris",
        "postal_address": _ADDRESS,
        "email": "passport@voltaris.example",
        "web_address": "https://voltaris.example",
    },
    "manufacturing_place": {
        "facility_identifier": "GLN 4006381000023",
        "postal_address": {
            "street_address": "Werkstraße 1",
            "postal_code": "38440",
            "locality": "Wolfsburg",
            "country_code": "DE",
        },
    },
    "manufacturing_date": "2025-09-15",
    "warranty_period_months": 96,
    "battery_status": "original",
    "separate_collection_symbol_url": "https://voltaris.example/labels/separate-collection.svg",
    "cadmium_and_lead_symbol_urls": [],
    "carbon_footprint_label_url": "https://voltaris.example/labels/carbon-footprint.svg",
    "extinguishing_agents": ["Water (class A)", "CO2"],
    "labels_meaning_url": f"{_DOCS}/labels.pdf",
    "declaration_of_conformity_url": f"{_DOCS}/declaration-of-conformity.pdf",
    "declaration_of_conformity_id": "DoC-VX-2025-07",
    "test_reports_url": "https://voltaris.example/restricted/test-reports.pdf",
    "carbon_footprint_raw_material_share_pct": "62.0",
    "carbon_footprint_production_share_pct": "30.5",
    "carbon_footprint_distribution_share_pct": "2.5",
    "carbon_footprint_end_of_life_share_pct": "5.0",
    "carbon_footprint_performance_class": "B",
    "carbon_footprint_study_url": f"{_DOCS}/carbon-footprint-study.pdf",
    "due_diligence_report_url": f"{_DOCS}/due-diligence-2025.pdf",
    "third_party_assurances_url": f"{_DOCS}/assurances.pdf",
    "hazardous_substances": [
        {
            "name": "Lithium hexafluorophosphate",
            "cas_number": "21324-40-3",
            "hazard_classes": ["Acute Tox. 3", "Skin Corr. 1A", "STOT RE 1"],
            "concentration_pct": "1.2",
            "location": "electrolyte",
        }
    ],
    "hazardous_substance_impacts": [
        "H301: Toxic if swallowed",
        "H314: Causes severe skin burns and eye damage",
        "P280: Wear protective gloves/protective clothing/eye protection/face protection",
    ],
    "dismantling_documents": [
        {"document_type": "removal_manual", "mime_type": "application/pdf", "url": f"{_DOCS}/removal.pdf"},
        {
            "document_type": "dismantling_manual",
            "mime_type": "application/pdf",
            "url": f"{_DOCS}/dismantling.pdf",
        },
    ],
    "component_part_numbers": [
        {"part_name": "Battery management unit", "part_number": "VX-BMU-0042"},
        {"part_name": "Module", "part_number": "VX-MOD-0100"},
    ],
    "spare_part_sources": [
        {
            "name": "Voltaris Service GmbH",
            "postal_address": {
                "street_address": "Servicestraße 3",
                "postal_code": "38440",
                "locality": "Wolfsburg",
                "country_code": "DE",
            },
            "email": "parts@voltaris.example",
            "web_address": "https://parts.voltaris.example",
            "part_numbers": ["VX-BMU-0042", "VX-MOD-0100"],
        }
    ],
    "safety_instructions_url": f"{_DOCS}/safety.pdf",
    "pre_consumer_recycled_nickel_share_pct": "4.0",
    "pre_consumer_recycled_cobalt_share_pct": "6.0",
    "pre_consumer_recycled_lithium_share_pct": "2.0",
    "pre_consumer_recycled_lead_share_pct": "0",
    "post_consumer_recycled_nickel_share_pct": "3.0",
    "post_consumer_recycled_cobalt_share_pct": "10.0",
    "post_consumer_recycled_lithium_share_pct": "4.0",
    "post_consumer_recycled_lead_share_pct": "0",
    "renewable_content_share_pct": "0",
    "waste_prevention_info_url": f"{_DOCS}/waste-prevention.pdf",
    "separate_collection_info_url": f"{_DOCS}/separate-collection.pdf",
    "end_of_life_info_url": f"{_DOCS}/end-of-life.pdf",
    "initial_round_trip_efficiency_pct": "95.0",
    "round_trip_efficiency_at_50_pct_cycle_life_pct": "92.0",
    # the test document's URI: Battery Pass 1.2 holds the reference test as a ResourcePath
    "cycle_life_reference_test": f"{_DOCS}/cycle-life-reference-test-iec-62660-1-2018.pdf",
    "cycle_life_test_c_rate": "0.33",
    "idle_temperature_lower_c": "-20",
    "idle_temperature_upper_c": "60",
}

_NMC_CHEMISTRY = {
    "short_name": "NMC811",
    "clear_name": "Lithium nickel manganese cobalt oxide (8:1:1) / graphite, LiPF6 in carbonate electrolyte",
}
_LFP_CHEMISTRY = {
    "short_name": "LFP",
    "clear_name": "Lithium iron phosphate / graphite, LiPF6 in carbonate electrolyte",
}
_NMC_RAW_MATERIALS = ["Cobalt", "Lithium", "Manganese", "Natural graphite", "Nickel"]
_LFP_RAW_MATERIALS = ["Lithium", "Natural graphite", "Phosphorus"]


def _nmc_composition() -> list[dict[str, Any]]:
    """Cathode/anode/electrolyte materials of an NMC811 battery, as shares of its mass."""
    shares = [
        ("Nickel", "cathode", "7440-02-0", "7.5", True),
        ("Cobalt", "cathode", "7440-48-4", "0.9", True),
        ("Manganese", "cathode", "7439-96-5", "0.9", True),
        ("Lithium carbonate", "cathode", "554-13-2", "3.1", True),
        ("Graphite", "anode", "7782-42-5", "9.8", True),
        ("Ethylene carbonate", "electrolyte", "96-49-1", "4.0", False),
    ]
    return [
        {"name": name, "component": component, "cas_number": cas, "share_pct": share,
         "critical_raw_material": critical}
        for name, component, cas, share, critical in shares
    ]  # fmt: skip


def _lfp_composition(weight_kg: str) -> list[dict[str, Any]]:
    """Cathode/anode/electrolyte of an LFP battery; masses for a battery of `weight_kg`."""
    weight = Decimal(weight_kg)
    shares = [
        ("Lithium iron phosphate", "cathode", "15365-14-7", "0.22", True),
        ("Graphite", "anode", "7782-42-5", "0.11", True),
        ("Ethylene carbonate", "electrolyte", "96-49-1", "0.05", False),
        ("Aluminium", "cathode", "7429-90-5", "0.04", False),
        ("Copper", "anode", "7440-50-8", "0.06", False),
    ]
    return [
        {"name": name, "component": component, "cas_number": cas,
         "mass_kg": str((weight * Decimal(share)).quantize(Decimal("0.01"))),
         "critical_raw_material": critical}
        for name, component, cas, share, critical in shares
    ]  # fmt: skip


_BY_CATEGORY: dict[BatteryCategory, dict[str, Any]] = {
    BatteryCategory.ev: {
        "battery_category": "ev",
        "battery_model": "VX-400 NMC811 82 kWh",
        "weight_kg": "512.5",
        "carbon_footprint_kg_co2e_per_kwh": "61.3",
        "absolute_carbon_footprint_t_co2e": "8.4",
        "battery_chemistry": _NMC_CHEMISTRY,
        "critical_raw_materials": _NMC_RAW_MATERIALS,
        "material_composition": _nmc_composition(),
        "rated_capacity_ah": "228",
        "certified_usable_energy_kwh": "77.0",
        "minimum_voltage_v": "270",
        "nominal_voltage_v": "360",
        "maximum_voltage_v": "403",
        "original_power_capability_w": "250000",
        "power_capability_at_80_pct_soc_w": "250000",
        "power_capability_at_20_pct_soc_w": "180000",
        "maximum_permitted_power_w": "270000",
        "power_to_energy_ratio_w_per_wh": "3.1",
        "initial_internal_resistance_pack_ohm": "0.085",
        "initial_internal_resistance_cell_ohm": "0.00075",
        "initial_internal_resistance_module_ohm": "0.0072",
        "expected_lifetime_years": "12",
        "expected_lifetime_cycles": 2000,
        "capacity_threshold_for_exhaustion_pct": "70",
    },
    BatteryCategory.lmt: {
        "battery_category": "lmt",
        "battery_model": "VX-E36 e-bike 500 Wh",
        "weight_kg": "3.1",
        "carbon_footprint_kg_co2e_per_kwh": "74.0",
        "battery_chemistry": _NMC_CHEMISTRY,
        "critical_raw_materials": _NMC_RAW_MATERIALS,
        "material_composition": _nmc_composition(),
        "rated_capacity_ah": "14",
        "minimum_voltage_v": "30",
        "nominal_voltage_v": "36",
        "maximum_voltage_v": "42",
        "original_power_capability_w": "750",
        "power_capability_at_80_pct_soc_w": "750",
        "power_capability_at_20_pct_soc_w": "600",
        "maximum_permitted_power_w": "1000",
        "power_to_energy_ratio_w_per_wh": "1.5",
        "initial_self_discharge_rate_pct_per_month": "2.0",
        "initial_internal_resistance_pack_ohm": "0.12",
        "initial_internal_resistance_cell_ohm": "0.025",
        "expected_lifetime_years": "6",
        "expected_lifetime_cycles": 1000,
    },
    BatteryCategory.industrial: {
        "battery_category": "industrial",
        "battery_model": "VX-F80 LFP forklift 46 kWh",
        "weight_kg": "1250",
        "carbon_footprint_kg_co2e_per_kwh": "58.9",
        "battery_chemistry": _LFP_CHEMISTRY,
        "critical_raw_materials": _LFP_RAW_MATERIALS,
        "material_composition": _lfp_composition("1250"),
        "rated_capacity_ah": "600",
        "minimum_voltage_v": "70",
        "nominal_voltage_v": "76.8",
        "maximum_voltage_v": "87.6",
        "original_power_capability_w": "46000",
        "power_capability_at_80_pct_soc_w": "46000",
        "power_capability_at_20_pct_soc_w": "38000",
        "maximum_permitted_power_w": "60000",
        "power_to_energy_ratio_w_per_wh": "1.0",
        "initial_internal_resistance_pack_ohm": "0.006",
        "initial_internal_resistance_cell_ohm": "0.00025",
        "expected_lifetime_years": "10",
        "expected_lifetime_cycles": 4000,
    },
    BatteryCategory.stationary: {
        "battery_category": "stationary",
        "battery_model": "VX-H10 LFP home storage 10.24 kWh",
        "weight_kg": "95",
        "carbon_footprint_kg_co2e_per_kwh": "55.2",
        "battery_chemistry": _LFP_CHEMISTRY,
        "critical_raw_materials": _LFP_RAW_MATERIALS,
        "material_composition": _lfp_composition("95"),
        "rated_capacity_ah": "200",
        "minimum_voltage_v": "44.8",
        "nominal_voltage_v": "51.2",
        "maximum_voltage_v": "57.6",
        "original_power_capability_w": "5000",
        "power_capability_at_80_pct_soc_w": "5000",
        "power_capability_at_20_pct_soc_w": "4200",
        "maximum_permitted_power_w": "7500",
        "power_to_energy_ratio_w_per_wh": "0.49",
        "initial_self_discharge_rate_pct_per_month": "1.5",
        "initial_internal_resistance_pack_ohm": "0.02",
        "initial_internal_resistance_cell_ohm": "0.0003",
        "expected_lifetime_years": "15",
        "expected_lifetime_cycles": 6000,
    },
}


def valid_static_payload(category: BatteryCategory) -> dict[str, Any]:
    """A JSON-ready StaticPassportData body that passes every rule for `category` (a fresh copy each call)."""
    return copy.deepcopy({**_COMMON, **_BY_CATEGORY[category]})


def valid_static_data(category: BatteryCategory) -> StaticPassportData:
    """A complete, valid StaticPassportData for `category`."""
    return StaticPassportData.model_validate(valid_static_payload(category))
