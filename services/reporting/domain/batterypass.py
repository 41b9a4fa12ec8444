"""A passport's read model in the shape of the Battery Pass data model 1.2 (io.BatteryPass.* SAMM aspects), checked
against the vendored JSON Schemas of those aspects (contracts/external/batterypass-1.2). Pure, no I/O.

Only what the passport holds is exported: a member the schema requires and the passport lacks (a value the OEM
did not give, one the battery does not have yet, one the regulation does not ask of its category) is left out,
never filled in, and each passport's `conformance` names it and says why (batterypass_gaps). No convention of the
Battery Pass consortium for such members was found (longlist v1.2, the schemas' descriptions). Values kept as
they are although a published schema refuses them are the schemas' documented defects (conformance.UPSTREAM_DEFECTS):
`urn:uuid:` passport identifiers, real e-mail addresses, and the warranty period as an ISO 8601 duration (`P96M`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.reporting.domain.batterypass_condition import battery_condition, utc
from services.reporting.domain.batterypass_gaps import (
    NOT_EXPORTED_STATIC,
    is_uri,
    missing_reasons,
    not_applicable,
    not_exported,
)
from services.reporting.domain.batterypass_platform import platform_member, status_field
from services.reporting.domain.conformance import BATTERYPASS_1_2, SchemaError, conformance, schema_errors

ASPECTS = {
    "GeneralProductInformation": "urn:samm:io.BatteryPass.GeneralProductInformation:1.2.0#GeneralProductInformation",
    "CarbonFootprintForBatteries": "urn:samm:io.BatteryPass.CarbonFootprint:1.2.0#CarbonFootprintForBatteries",
    "Circularity": "urn:samm:io.BatteryPass.Circularity:1.2.0#Circularity",
    "Labeling": "urn:samm:io.BatteryPass.Labels:1.2.0#Labeling",
    "MaterialComposition": "urn:samm:io.BatteryPass.MaterialComposition:1.2.0#MaterialComposition",
    "PerformanceAndDurability": "urn:samm:io.BatteryPass.Performance:1.2.0#PerformanceAndDurability",
    "SupplyChainDueDiligence": "urn:samm:io.BatteryPass.SupplyChainDueDiligence:1.2.0#SupplyChainDueDiligence",
}
STATUS = {
    "original": "Original",
    "repurposed": "Repurposed",
    "re-used": "Reused",
    "remanufactured": "Remanufactured",
    "waste": "Waste",
}
DOCUMENT_TYPES = {
    "bill_of_material": "BillOfMaterial",
    "model_3d": "Model3D",
    "dismantling_manual": "DismantlingManual",
    "removal_manual": "RemovalManual",
    "other_manual": "OtherManual",
    "drawing": "Drawing",
}
HAZARD_CLASSES = (
    ("acute tox", "AcuteToxicity"),
    ("skin corr", "SkinCorrosionOrIrritation"),
    ("skin irrit", "SkinCorrosionOrIrritation"),
    ("eye dam", "EyeDamageOrIrritation"),
    ("eye irrit", "EyeDamageOrIrritation"),
)
LIFECYCLE_SHARES = (
    ("carbon_footprint_raw_material_share_pct", "RawMaterialExtraction"),
    ("carbon_footprint_production_share_pct", "MainProduction"),
    ("carbon_footprint_distribution_share_pct", "Distribution"),
    ("carbon_footprint_end_of_life_share_pct", "Recycling"),
)
RECYCLED = ("Nickel", "Cobalt", "Lithium", "Lead")


def _num(value: Any) -> float | None:
    if value is None:
        return None
    return float(Decimal(str(value)))


# Members whose empty list is a value: no negative event among the counts read (they are all zero).
EMPTY_IS_A_VALUE = frozenset({"negativeEvents"})


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _drop_none(v)
            for k, v in value.items()
            if v is not None and v != {} and (v != [] or k in EMPTY_IS_A_VALUE)
        }
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _address(address: dict[str, Any] | None) -> dict[str, Any] | None:
    if not address:
        return None
    return {
        "addressCountry": address.get("country_code"),
        "postalCode": address.get("postal_code"),
        "streetAddress": ", ".join(part for part in (address.get("street_address"), address.get("locality")) if part),
    }


def _contact(operator: dict[str, Any] | None) -> dict[str, Any] | None:
    if not operator:
        return None
    return {
        "contactName": operator.get("name"),
        "postalAddress": _address(operator.get("postal_address")),
        "identifier": operator.get("identifier"),
        "emailAddress": operator.get("email"),
        "webAddress": operator.get("web_address"),
    }


def general_product_information(state: dict[str, Any], static: dict[str, Any]) -> dict[str, Any]:
    date = static.get("manufacturing_date")
    months = static.get("warranty_period_months")
    in_service = state.get("in_service") or {}
    put_into_service = in_service.get("put_into_service_at")
    return {
        "productIdentifier": state.get("battery_identifier"),
        "batteryPassportIdentifier": state.get("passport_id"),
        "batteryCategory": state.get("category"),
        "manufacturerInformation": _contact(static.get("manufacturer")),
        "manufacturingDate": f"{date}T00:00:00Z" if date else None,
        "batteryStatus": STATUS.get(str(state.get("status"))),
        "batteryMass": _num(static.get("weight_kg")),
        "manufacturingPlace": _address((static.get("manufacturing_place") or {}).get("postal_address")),
        "operatorInformation": _contact(static.get("operator") or static.get("manufacturer")),
        "puttingIntoService": utc(put_into_service) if put_into_service else None,
        # an xsd:duration, refused by the schema's xsd:gMonth pattern (an upstream defect): `--03` would say March
        "warrentyPeriod": f"P{int(months)}M" if months is not None else None,
    }


def carbon_footprint(static: dict[str, Any]) -> dict[str, Any]:
    total = static.get("carbon_footprint_kg_co2e_per_kwh")
    stages = []
    for field, stage in LIFECYCLE_SHARES:
        if total is not None and static.get(field) is not None:
            value = Decimal(str(total)) * Decimal(str(static[field])) / 100
            stages.append({"lifecycleStage": stage, "carbonFootprint": float(round(value, 4))})
    return {
        "batteryCarbonFootprint": _num(total),
        "carbonFootprintPerLifecycleStage": stages,
        "carbonFootprintPerformanceClass": static.get("carbon_footprint_performance_class"),
        "carbonFootprintStudy": static.get("carbon_footprint_study_url"),
        "absoluteCarbonFootprint": _num(static.get("absolute_carbon_footprint_t_co2e")),
    }


def circularity(static: dict[str, Any]) -> dict[str, Any]:
    names = {p["part_number"]: p["part_name"] for p in static.get("component_part_numbers") or []}
    sources = [
        {
            "nameOfSupplier": s.get("name"),
            "addressOfSupplier": _address(s.get("postal_address")),
            "emailAddressOfSupplier": s.get("email"),
            "supplierWebAddress": s.get("web_address"),
            "components": [{"partName": names.get(n, n), "partNumber": n} for n in s.get("part_numbers") or []],
        }
        for s in static.get("spare_part_sources") or []
    ]
    recycled = []
    for material in RECYCLED:
        pre = static.get(f"pre_consumer_recycled_{material.lower()}_share_pct")
        post = static.get(f"post_consumer_recycled_{material.lower()}_share_pct")
        if pre is not None or post is not None:
            recycled.append(
                {
                    "recycledMaterial": material,
                    "preConsumerShare": _num(pre),
                    "postConsumerShare": _num(post),
                }
            )
    safety = None
    if static.get("safety_instructions_url") or static.get("extinguishing_agents"):
        safety = {
            "safetyInstructions": static.get("safety_instructions_url"),
            "extinguishingAgent": static.get("extinguishing_agents") or [],
        }
    end_of_life = None
    if static.get("waste_prevention_info_url") or static.get("separate_collection_info_url"):
        end_of_life = {
            "wastePrevention": static.get("waste_prevention_info_url"),
            "separateCollection": static.get("separate_collection_info_url"),
            "informationOnCollection": static.get("end_of_life_info_url"),
        }
    return {
        "dismantlingAndRemovalInformation": [
            {
                "documentType": DOCUMENT_TYPES.get(d["document_type"], "OtherManual"),
                "mimeType": d.get("mime_type"),
                "documentURL": d.get("url"),
            }
            for d in static.get("dismantling_documents") or []
        ],
        "sparePartSources": sources,
        "recycledContent": recycled,
        "safetyMeasures": safety,
        "endOfLifeInformation": end_of_life,
        "renewableContent": _num(static.get("renewable_content_share_pct")),
    }


def labeling(static: dict[str, Any]) -> dict[str, Any]:
    labels = []
    meaning = {"en": static["labels_meaning_url"]} if static.get("labels_meaning_url") else None
    if static.get("separate_collection_symbol_url"):
        labels.append(
            {
                "labelingSymbol": static["separate_collection_symbol_url"],
                "labelingMeaning": meaning,
                "labelingSubject": "SeparateCollection",
            }
        )
    for url in static.get("cadmium_and_lead_symbol_urls") or []:
        labels.append({"labelingSymbol": url, "labelingMeaning": meaning, "labelingSubject": "HazardousMaterial"})
    if static.get("carbon_footprint_label_url"):
        labels.append(
            {
                "labelingSymbol": static["carbon_footprint_label_url"],
                "labelingMeaning": meaning,
                "labelingSubject": "CarbonFootPrint",
            }
        )
    return {
        "declarationOfConformity": static.get("declaration_of_conformity_url"),
        "resultOfTestReport": static.get("test_reports_url"),
        "labels": labels,
    }


def _hazard_class(classes: list[str]) -> str | None:
    for text in classes:
        for needle, name in HAZARD_CLASSES:
            if needle in text.lower():
                return name
    return None


def material_composition(static: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    skipped: list[dict[str, str]] = []
    weight = Decimal(str(static.get("weight_kg") or 0))
    materials = []
    for m in static.get("material_composition") or []:
        if not m.get("cas_number"):
            skipped.append({"source": f"static_data.material_composition: {m.get('name')}", "reason": "no CAS number"})
            continue
        mass = m.get("mass_kg")
        if mass is None and m.get("share_pct") is not None:
            mass = weight * Decimal(str(m["share_pct"])) / 100
        materials.append(
            {
                "batteryMaterialLocation": {"componentName": m.get("component")},
                "batteryMaterialIdentifier": m["cas_number"],
                "batteryMaterialName": m.get("name"),
                "batteryMaterialMass": None if mass is None else float(round(Decimal(str(mass)), 4)),
                "isCriticalRawMaterial": bool(m.get("critical_raw_material")),
            }
        )
    substances = []
    for h in static.get("hazardous_substances") or []:
        klass = _hazard_class(h.get("hazard_classes") or [])
        if klass is None or not h.get("cas_number"):
            skipped.append(
                {
                    "source": f"static_data.hazardous_substances: {h.get('name')}",
                    "reason": "no CAS number, or no hazard class among the schema's three",
                }
            )
            continue
        substances.append(
            {
                "hazardousSubstanceClass": klass,
                "hazardousSubstanceName": h.get("name"),
                "hazardousSubstanceConcentration": _num(h.get("concentration_pct")),
                "hazardousSubstanceImpact": static.get("hazardous_substance_impacts") or [],
                "hazardousSubstanceLocation": {"componentName": h["location"]} if h.get("location") else None,
                "hazardousSubstanceIdentifier": h["cas_number"],
            }
        )
    chemistry = static.get("battery_chemistry") or {}
    aspect = {
        "batteryChemistry": {"shortName": chemistry.get("short_name"), "clearName": chemistry.get("clear_name")}
        if chemistry
        else None,
        "batteryMaterials": materials,
        "hazardousSubstances": substances,
    }
    return aspect, skipped


def performance(state: dict[str, Any], static: dict[str, Any]) -> dict[str, Any]:
    resistances = [
        {"ohmicResistance": _num(static.get(f"initial_internal_resistance_{part}_ohm")), "batteryComponent": part}
        for part in ("pack", "module", "cell")
        if static.get(f"initial_internal_resistance_{part}_ohm") is not None
    ]
    power = [
        {"atSoC": soc, "powerCapabilityAt": _num(static.get(field))}
        for soc, field in ((80.0, "power_capability_at_80_pct_soc_w"), (20.0, "power_capability_at_20_pct_soc_w"))
        if static.get(field) is not None
    ]
    test = static.get("cycle_life_reference_test")
    return {
        "batteryCondition": battery_condition(state, static),
        "batteryTechicalProperties": {
            "originalPowerCapability": power,
            "ratedMaximumPower": _num(static.get("maximum_permitted_power_w")),
            "powerCapabilityRatio": _num(static.get("power_to_energy_ratio_w_per_wh")),
            "ratedEnergy": _num(static.get("certified_usable_energy_kwh")),
            "expectedNumberOfCycles": static.get("expected_lifetime_cycles"),
            "initialSelfDischarge": _num(static.get("initial_self_discharge_rate_pct_per_month")),
            "roundtripEfficiency": _num(static.get("initial_round_trip_efficiency_pct")),
            "ratedCapacity": _num(static.get("rated_capacity_ah")),
            "initialInternalResistance": resistances,
            "expectedLifetime": _num(static.get("expected_lifetime_years")),
            "nominalVoltage": _num(static.get("nominal_voltage_v")),
            "minimumVoltage": _num(static.get("minimum_voltage_v")),
            "maximumVoltage": _num(static.get("maximum_voltage_v")),
            "capacityThresholdForExhaustion": _num(static.get("capacity_threshold_for_exhaustion_pct")),
            "lifetimeReferenceTest": test if test and is_uri(str(test)) else None,
            "cRateLifeCycleTest": _num(static.get("cycle_life_test_c_rate")),
            "temperatureRangeIdleState": _num(static.get("idle_temperature_upper_c")),
        },
    }


def supply_chain(static: dict[str, Any]) -> dict[str, Any]:
    return {
        "supplyChainDueDiligenceReport": static.get("due_diligence_report_url"),
        "thirdPartyAussurances": static.get("third_party_assurances_url"),
        "supplyChainIndicies": _num(static.get("supply_chain_index")),
    }


def aspects_of(state: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[dict[str, str]]]:
    """The seven aspects (aspect name -> payload) with what the passport holds, and the composition entries left
    out (no CAS number, no hazard class the schema knows)."""
    static: dict[str, Any] = state.get("static_data") or {}
    composition, skipped = material_composition(static)
    aspects = {
        "GeneralProductInformation": general_product_information(state, static),
        "CarbonFootprintForBatteries": carbon_footprint(static),
        "Circularity": circularity(static),
        "Labeling": labeling(static),
        "MaterialComposition": composition,
        "PerformanceAndDurability": performance(state, static),
        "SupplyChainDueDiligence": supply_chain(static),
    }
    return {name: _drop_none(value) for name, value in aspects.items()}, skipped


def errors_of(aspects: dict[str, dict[str, Any]]) -> list[SchemaError]:
    """Every schema error of the aspects, each against its own vendored schema."""
    return [e for name in ASPECTS for e in schema_errors(BATTERYPASS_1_2 / f"{name}-schema.json", aspects[name])]


def to_batterypass(state: dict[str, Any]) -> dict[str, Any]:
    """One passport as Battery Pass 1.2 aspects (`aspects`: aspect name -> payload) and its `conformance`: the
    exact schema errors, the documented upstream defects among them, why each missing member is missing, what the
    passport holds that the schemas have no member for (`not_exported`), and whether it is valid but for the
    upstream defects and the members the longlist marks not applicable to its category (which the schemas require
    of every battery and identity refuses to hold: no passport can be valid except upstream defects alone)."""
    static: dict[str, Any] = state.get("static_data") or {}
    aspects, skipped = aspects_of(state)
    report = conformance(errors_of(aspects), missing_reasons=missing_reasons(state, static))
    excused = not_applicable(state.get("category"))
    report["valid_except_upstream_defects_and_not_applicable"] = all(
        "upstream_defect" in e or (e["rule"] == "required" and f"{e['aspect']}{e['path']}" in excused)
        for e in report["errors"]
    )
    report["not_exported"] = [*not_exported(state, static), *skipped]
    return {
        "passport_id": state.get("passport_id"),
        "aspects": aspects,
        "conformance": report,
        "platform": platform_member(state, platform_fields(static)),
    }


def platform_fields(static: dict[str, Any]) -> list[str]:
    """The static data the aspects have no member for (conformance's `not_exported`), for the `platform` member."""
    fields = [*NOT_EXPORTED_STATIC, *status_field(static)]
    test = static.get("cycle_life_reference_test")
    if test and not is_uri(str(test)):
        fields.append("cycle_life_reference_test")
    return fields
