"""Battery Pass 1.2 aspects (as reporting's `batterypass-json` export writes them: `{"format": "batterypass-1.2",
"passports": [{"passport_id", "aspects": {<aspect name>: {...}}, ...}]}`, or one passport of it) back to identity's
mint terms. The inverse of reporting's `to_batterypass`, read from the aspects' published fields. No I/O.

What the aspects cannot carry (the battery model, critical raw materials, the cycle-life reference test, the GTIN...)
comes from the passport's `platform` member when bpass exported it (platform.py), else from the import's `defaults`;
what the document carries that has no place here is listed back as not imported."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from contracts.errors import Violation
from services.identity.domain.imports.batterypass_lists import (
    CARBON,
    CIRCULARITY,
    COMPOSITION,
    CONDITION,
    GPI,
    LABELING,
    SUPPLY,
    TECHNICAL,
    circularity,
    composition,
    labels,
    operator,
    performance,
    postal,
)
from services.identity.domain.imports.document import (
    ASSIGNED_BY_PLATFORM,
    DYNAMIC_DATA,
    EXPORT_NOTE,
    INVALID_VALUE,
    NOT_THE_DECLARED_FORMAT,
    Entries,
    ImportedPassport,
    Path,
    Reader,
    export_entries,
    number,
)
from services.identity.domain.imports.platform import MEMBER as PLATFORM
from services.identity.domain.imports.platform import read_platform
from services.identity.domain.imports.subject import subject_from

FORMAT = "batterypass-1.2"
# Static data fields held in one published field each: field -> its place in a passport.
SCALARS: dict[str, Path] = {
    "weight_kg": (*GPI, "batteryMass"),
    "carbon_footprint_kg_co2e_per_kwh": (*CARBON, "batteryCarbonFootprint"),
    "carbon_footprint_performance_class": (*CARBON, "carbonFootprintPerformanceClass"),
    "carbon_footprint_study_url": (*CARBON, "carbonFootprintStudy"),
    "absolute_carbon_footprint_t_co2e": (*CARBON, "absoluteCarbonFootprint"),
    "renewable_content_share_pct": (*CIRCULARITY, "renewableContent"),
    "safety_instructions_url": (*CIRCULARITY, "safetyMeasures", "safetyInstructions"),
    "extinguishing_agents": (*CIRCULARITY, "safetyMeasures", "extinguishingAgent"),
    "waste_prevention_info_url": (*CIRCULARITY, "endOfLifeInformation", "wastePrevention"),
    "separate_collection_info_url": (*CIRCULARITY, "endOfLifeInformation", "separateCollection"),
    "end_of_life_info_url": (*CIRCULARITY, "endOfLifeInformation", "informationOnCollection"),
    "declaration_of_conformity_url": (*LABELING, "declarationOfConformity"),
    "test_reports_url": (*LABELING, "resultOfTestReport"),
    "maximum_permitted_power_w": (*TECHNICAL, "ratedMaximumPower"),
    "power_to_energy_ratio_w_per_wh": (*TECHNICAL, "powerCapabilityRatio"),
    "certified_usable_energy_kwh": (*TECHNICAL, "ratedEnergy"),
    "expected_lifetime_cycles": (*TECHNICAL, "expectedNumberOfCycles"),
    "initial_self_discharge_rate_pct_per_month": (*TECHNICAL, "initialSelfDischarge"),
    "initial_round_trip_efficiency_pct": (*TECHNICAL, "roundtripEfficiency"),
    "rated_capacity_ah": (*TECHNICAL, "ratedCapacity"),
    "expected_lifetime_years": (*TECHNICAL, "expectedLifetime"),
    "nominal_voltage_v": (*TECHNICAL, "nominalVoltage"),
    "minimum_voltage_v": (*TECHNICAL, "minimumVoltage"),
    "maximum_voltage_v": (*TECHNICAL, "maximumVoltage"),
    "capacity_threshold_for_exhaustion_pct": (*TECHNICAL, "capacityThresholdForExhaustion"),
    "cycle_life_test_c_rate": (*TECHNICAL, "cRateLifeCycleTest"),
    "cycle_life_reference_test": (*TECHNICAL, "lifetimeReferenceTest"),
    "idle_temperature_upper_c": (*TECHNICAL, "temperatureRangeIdleState"),
    "round_trip_efficiency_at_50_pct_cycle_life_pct": (*CONDITION, "roundTripEfficiencyat50PerCentCycleLife"),
    "due_diligence_report_url": (*SUPPLY, "supplyChainDueDiligenceReport"),
    "third_party_assurances_url": (*SUPPLY, "thirdPartyAussurances"),
    "supply_chain_index": (*SUPPLY, "supplyChainIndicies"),
}
# Every static data field the aspects carry -> where (for a field the document lacks, refusals point there).
FIELD_PLACES: dict[str, str] = {
    **{name: ".".join(str(key) for key in keys) for name, keys in SCALARS.items()},
    "manufacturer": ".".join((*GPI, "manufacturerInformation")),
    "operator": ".".join((*GPI, "operatorInformation")),
    "manufacturing_date": ".".join((*GPI, "manufacturingDate")),
    "manufacturing_place": ".".join((*GPI, "manufacturingPlace")),
    "warranty_period_months": ".".join((*GPI, "warrentyPeriod")),
    "battery_status": ".".join((*GPI, "batteryStatus")),
    "battery_category": ".".join((*GPI, "batteryCategory")),
    **{
        f"carbon_footprint_{stage}_share_pct": ".".join((*CARBON, "carbonFootprintPerLifecycleStage"))
        for stage in ("raw_material", "production", "distribution", "end_of_life")
    },
    "dismantling_documents": ".".join((*CIRCULARITY, "dismantlingAndRemovalInformation")),
    "spare_part_sources": ".".join((*CIRCULARITY, "sparePartSources")),
    "component_part_numbers": ".".join((*CIRCULARITY, "sparePartSources")),
    **{
        f"{kind}_consumer_recycled_{material}_share_pct": ".".join((*CIRCULARITY, "recycledContent"))
        for kind in ("pre", "post")
        for material in ("nickel", "cobalt", "lithium", "lead")
    },
    "separate_collection_symbol_url": ".".join((*LABELING, "labels")),
    "cadmium_and_lead_symbol_urls": ".".join((*LABELING, "labels")),
    "carbon_footprint_label_url": ".".join((*LABELING, "labels")),
    "labels_meaning_url": ".".join((*LABELING, "labels")),
    "battery_chemistry": ".".join((*COMPOSITION, "batteryChemistry")),
    "material_composition": ".".join((*COMPOSITION, "batteryMaterials")),
    "hazardous_substances": ".".join((*COMPOSITION, "hazardousSubstances")),
    "hazardous_substance_impacts": ".".join((*COMPOSITION, "hazardousSubstances")),
    "power_capability_at_80_pct_soc_w": ".".join((*TECHNICAL, "originalPowerCapability")),
    "power_capability_at_20_pct_soc_w": ".".join((*TECHNICAL, "originalPowerCapability")),
    **{
        f"initial_internal_resistance_{part}_ohm": ".".join((*TECHNICAL, "initialInternalResistance"))
        for part in ("pack", "module", "cell")
    },
}
# Static data fields the aspects carry with a loss: imported as the document says, which exports the same again.
LOSSY: dict[str, str] = {
    "battery_category": "the passport's category is exported whether or not its static data repeated it.",
    "operator": "an operator that is the manufacturer is exported as the manufacturer's contact.",
    "material_composition": "a material's share of the battery's mass is exported as the mass it makes.",
    "hazardous_substances": "a substance's hazard classes are exported as the one Battery Pass class they fall "
    "under, a substance without location as located in `other`.",
    "component_part_numbers": "only the parts a spare-part supplier names are exported, in the suppliers' order.",
}
GMONTH = re.compile(r"--(0[1-9]|1[0-2])")
DURATION = re.compile(r"P(?:(?P<years>[0-9]{1,3})Y)?(?:(?P<months>[0-9]{1,4})M)?")
STATUS = {"Original": None, "Repurposed": "repurposed", "Reused": "re-used", "Remanufactured": "remanufactured"}
STATUS_WASTE = "Waste"
LIFECYCLE_STAGES = {
    "RawMaterialExtraction": "carbon_footprint_raw_material_share_pct",
    "MainProduction": "carbon_footprint_production_share_pct",
    "Distribution": "carbon_footprint_distribution_share_pct",
    "Recycling": "carbon_footprint_end_of_life_share_pct",
}
PASSPORT_NOTES = ("not_representable", "conformance")
ASPECT_NAMES = ("GeneralProductInformation", "CarbonFootprintForBatteries", "Circularity", "Labeling")


def passports_of(document: Any) -> Entries:
    """The passports of a Battery Pass 1.2 export (or the one passport that is the document)."""
    return export_entries(
        document,
        FORMAT,
        _not_this_format,
        lambda one: isinstance(one.get("aspects"), Mapping),
        "neither `passports` nor `aspects`",
    )


def _not_this_format(where: str, why: str) -> Violation:
    return Violation(
        field=where,
        reason=NOT_THE_DECLARED_FORMAT,
        message=f"The document is not a Battery Pass 1.2 export ({FORMAT}): {why}. Send the export as reporting's "
        "batterypass-json writes it, or one passport of it, or declare its format.",
    )


def from_batterypass(passport: Mapping[str, Any], path: str) -> ImportedPassport:
    """One passport's aspects as identity's mint terms (not yet validated)."""
    reader = Reader(passport, path)
    imported = ImportedPassport(path=path, field_places=FIELD_PLACES)
    aspects = passport.get("aspects")
    if not isinstance(aspects, Mapping) or not any(name in aspects for name in ASPECT_NAMES):
        imported.violations.append(
            _not_this_format(reader.at(("aspects",)), "the passport has no Battery Pass aspects")
        )
        return imported
    subject_from(imported, reader.get(*GPI, "productIdentifier"), reader.at((*GPI, "productIdentifier")))
    imported.category = reader.get(*GPI, "batteryCategory")
    imported.category_place = reader.at((*GPI, "batteryCategory"))
    if imported.category is not None:
        _set(imported, "battery_category", imported.category, (*GPI, "batteryCategory"))
    reader.skip(("passport_id",), ASSIGNED_BY_PLATFORM)
    reader.skip((*GPI, "batteryPassportIdentifier"), ASSIGNED_BY_PLATFORM)
    reader.skip((*GPI, "puttingIntoService"), DYNAMIC_DATA)
    for note in PASSPORT_NOTES:
        reader.skip((note,), EXPORT_NOTE)
    for name, keys in SCALARS.items():
        value = reader.get(*keys)
        if value is not None and value != []:
            _set(
                imported, name, value if name.endswith(("_url", "_test", "_class", "_agents")) else number(value), keys
            )
    _general(imported, reader)
    _carbon_stages(imported, reader)
    circularity(imported, reader)
    labels(imported, reader)
    composition(imported, reader)
    performance(imported, reader)
    member = reader.get(PLATFORM)
    imported.not_imported = reader.not_imported + reader.leftovers()
    read_platform(imported, member, reader.at((PLATFORM,)))
    return imported


def _set(imported: ImportedPassport, name: str, value: Any, keys: Path) -> None:
    imported.static_data[name] = value
    imported.place(name, keys)


def _general(imported: ImportedPassport, reader: Reader) -> None:
    manufacturer = operator(imported, reader, (*GPI, "manufacturerInformation"), "manufacturer")
    if manufacturer is not None:
        imported.static_data["manufacturer"] = manufacturer
    named = operator(imported, reader, (*GPI, "operatorInformation"), "operator")
    # The export names the manufacturer as operator when the passport names none.
    if named is not None and named != manufacturer:
        imported.static_data["operator"] = named
    date = reader.get(*GPI, "manufacturingDate")
    if date is not None:
        _set(
            imported,
            "manufacturing_date",
            date.split("T")[0] if isinstance(date, str) else date,
            (*GPI, "manufacturingDate"),
        )
    place = postal(imported, reader, (*GPI, "manufacturingPlace"), "manufacturing_place.postal_address")
    if place is not None:
        imported.static_data["manufacturing_place"] = {"postal_address": place}
    warranty = reader.get(*GPI, "warrentyPeriod")
    if warranty is not None:
        _set(imported, "warranty_period_months", warranty_months(warranty), (*GPI, "warrentyPeriod"))
    status = reader.get(*GPI, "batteryStatus")
    if status is None:
        return
    keys = (*GPI, "batteryStatus")
    if status == STATUS_WASTE:
        _set(imported, "battery_status", "waste", keys)  # refused by the mint rules: waste is never minted
    elif status in STATUS:
        if STATUS[status] is not None:  # `original` is what a passport without a status has
            _set(imported, "battery_status", STATUS[status], keys)
    else:
        imported.violations.append(
            Violation(
                field=reader.at(keys),
                reason=INVALID_VALUE,
                message=f"{status!r} is no Battery Pass 1.2 battery status ({', '.join([*STATUS, STATUS_WASTE])}).",
            )
        )


def warranty_months(value: Any) -> Any:
    """Months of a warranty written as an ISO 8601 duration (`P96M`, `P8Y`, `P1Y6M`: what reporting exports) or as
    the schema's xsd:gMonth (`--06`, older exports: six months); anything else unchanged, for the contract to
    refuse."""
    if not isinstance(value, str):
        return value
    if GMONTH.fullmatch(value):
        return int(value[2:])
    duration = DURATION.fullmatch(value)
    if duration and (duration["years"] or duration["months"]):
        return 12 * int(duration["years"] or 0) + int(duration["months"] or 0)
    return value


def simplest_share(
    stage: Decimal, total: Decimal, *, exported: Callable[[Decimal, Decimal], Decimal] | None = None
) -> Decimal:
    """The share (%) with the fewest decimals that the export turns into `stage` (`exported(total, share)`; by
    default total × share / 100 to 4 decimals): the share the exporter had, when it had no more than 6 decimals."""
    export = exported or _decimal_stage
    exact = stage * 100 / total
    for decimals in range(7):
        share = exact.quantize(Decimal(1).scaleb(-decimals))
        if export(total, share) == stage:
            return share
    return exact.quantize(Decimal("0.000001"))


def _decimal_stage(total: Decimal, share: Decimal) -> Decimal:
    return round(total * share / 100, 4)


def _carbon_stages(imported: ImportedPassport, reader: Reader) -> None:
    total = imported.static_data.get("carbon_footprint_kg_co2e_per_kwh")
    for index, _ in reader.items(*CARBON, "carbonFootprintPerLifecycleStage"):
        keys = (*CARBON, "carbonFootprintPerLifecycleStage", index)
        stage, value = reader.get(*keys, "lifecycleStage"), number(reader.get(*keys, "carbonFootprint"))
        field = LIFECYCLE_STAGES.get(stage) if isinstance(stage, str) else None
        if field is None or not isinstance(value, Decimal) or not isinstance(total, Decimal) or total <= 0:
            imported.violations.append(
                Violation(
                    field=reader.at(keys),
                    reason=INVALID_VALUE,
                    message="A life-cycle stage's carbon footprint is read as a share of batteryCarbonFootprint: "
                    "give a known lifecycleStage, its carbonFootprint and a positive batteryCarbonFootprint.",
                )
            )
            continue
        _set(imported, field, simplest_share(value, total), (*keys, "carbonFootprint"))
