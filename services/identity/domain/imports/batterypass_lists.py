"""The Battery Pass 1.2 fields that are lists (documents, suppliers, recycled content, labels, materials, substances,
resistances, power capabilities) back to identity's static data fields. No I/O; used by `batterypass.py`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from contracts.errors import Violation
from services.identity.domain.imports.document import (
    DYNAMIC_DATA,
    INVALID_VALUE,
    NO_PLACE_IN_MODEL,
    ImportedPassport,
    Path,
    Reader,
    number,
)

GPI = ("aspects", "GeneralProductInformation")
CARBON = ("aspects", "CarbonFootprintForBatteries")
CIRCULARITY = ("aspects", "Circularity")
LABELING = ("aspects", "Labeling")
COMPOSITION = ("aspects", "MaterialComposition")
TECHNICAL = ("aspects", "PerformanceAndDurability", "batteryTechicalProperties")
CONDITION = ("aspects", "PerformanceAndDurability", "batteryCondition")
SUPPLY = ("aspects", "SupplyChainDueDiligence")

DOCUMENT_TYPES = {
    "BillOfMaterial": "bill_of_material",
    "Model3D": "model_3d",
    "DismantlingManual": "dismantling_manual",
    "RemovalManual": "removal_manual",
    "OtherManual": "other_manual",
    "Drawing": "drawing",
}
RECYCLED = {"Nickel": "nickel", "Cobalt": "cobalt", "Lithium": "lithium", "Lead": "lead"}
LABEL_FIELDS = {
    "SeparateCollection": "separate_collection_symbol_url",
    "CarbonFootPrint": "carbon_footprint_label_url",
}
POWER_AT_SOC = {Decimal(80): "power_capability_at_80_pct_soc_w", Decimal(20): "power_capability_at_20_pct_soc_w"}
# A Battery Pass hazard class as the CLP hazard class text it stands for (the battery's own texts, with their
# categories, are not exported).
HAZARD_CLASSES = {
    "AcuteToxicity": "Acute Tox.",
    "SkinCorrosionOrIrritation": "Skin Corr./Irrit.",
    "EyeDamageOrIrritation": "Eye Dam./Irrit.",
}
RESISTANCE_PARTS = ("pack", "module", "cell")
# The sentence the export writes as a label's meaning when the passport gives no meaning-of-labels document.
DEFAULT_LABEL_MEANING = "See the meaning of labels document."


def _invalid(reader: Reader, keys: Path, message: str) -> Violation:
    return Violation(field=reader.at(keys), reason=INVALID_VALUE, message=message)


def postal(imported: ImportedPassport, reader: Reader, keys: Path, prefix: str) -> dict[str, Any] | None:
    country, code = reader.get(*keys, "addressCountry"), reader.get(*keys, "postalCode")
    street = reader.get(*keys, "streetAddress")
    if country is None and code is None and street is None:
        return None
    address: dict[str, Any] = {"country_code": country, "postal_code": code}
    # Written as "street, locality": the locality is what follows the last comma.
    if isinstance(street, str) and ", " in street:
        address["street_address"], address["locality"] = street.rsplit(", ", 1)
    else:
        address["street_address"] = street
    for name, published in (
        ("country_code", "addressCountry"),
        ("postal_code", "postalCode"),
        ("street_address", "streetAddress"),
        ("locality", "streetAddress"),
    ):
        imported.place(f"{prefix}.{name}", (*keys, published))
    imported.place(prefix, keys)
    return {k: v for k, v in address.items() if v is not None}


def operator(imported: ImportedPassport, reader: Reader, keys: Path, prefix: str) -> dict[str, Any] | None:
    if reader.peek(*keys) is None:
        return None
    name, identifier = reader.get(*keys, "contactName"), reader.get(*keys, "identifier")
    operator = {
        "name": name,
        # The export writes the name where an operator has no identifier of its own.
        "identifier": identifier if identifier != name else None,
        "email": reader.get(*keys, "emailAddress"),
        "web_address": reader.get(*keys, "webAddress"),
        "postal_address": postal(imported, reader, (*keys, "postalAddress"), f"{prefix}.postal_address"),
    }
    for name_, published in (("name", "contactName"), ("identifier", "identifier")):
        imported.place(f"{prefix}.{name_}", (*keys, published))
    imported.place(f"{prefix}.email", (*keys, "emailAddress"))
    imported.place(f"{prefix}.web_address", (*keys, "webAddress"))
    imported.place(prefix, keys)
    return {k: v for k, v in operator.items() if v is not None}


def circularity(imported: ImportedPassport, reader: Reader) -> None:
    static = imported.static_data
    documents = []
    for index, _ in reader.items(*CIRCULARITY, "dismantlingAndRemovalInformation"):
        keys = (*CIRCULARITY, "dismantlingAndRemovalInformation", index)
        kind = reader.get(*keys, "documentType")
        documents.append(
            {
                "document_type": DOCUMENT_TYPES.get(kind, kind) if isinstance(kind, str) else kind,
                "mime_type": reader.get(*keys, "mimeType"),
                "url": reader.get(*keys, "documentURL"),
            }
        )
        prefix = f"dismantling_documents.{index}"
        imported.place(prefix, keys)
        imported.place(f"{prefix}.document_type", (*keys, "documentType"))
        imported.place(f"{prefix}.mime_type", (*keys, "mimeType"))
        imported.place(f"{prefix}.url", (*keys, "documentURL"))
    if documents:
        static["dismantling_documents"] = documents
    sources, parts = [], {}
    for index, _ in reader.items(*CIRCULARITY, "sparePartSources"):
        keys = (*CIRCULARITY, "sparePartSources", index)
        prefix = f"spare_part_sources.{index}"
        numbers = []
        for at, _ in reader.items(*keys, "components"):
            number_, name = (
                reader.get(*keys, "components", at, "partNumber"),
                reader.get(*keys, "components", at, "partName"),
            )
            numbers.append(number_)
            imported.place(f"{prefix}.part_numbers.{len(numbers) - 1}", (*keys, "components", at, "partNumber"))
            # The export names a part by its number when the passport lists no name for it.
            if isinstance(number_, str) and name is not None and name != number_ and number_ not in parts:
                parts[number_] = name
                imported.place(f"component_part_numbers.{len(parts) - 1}", (*keys, "components", at))
        source = {
            "name": reader.get(*keys, "nameOfSupplier"),
            "postal_address": postal(imported, reader, (*keys, "addressOfSupplier"), f"{prefix}.postal_address"),
            "email": reader.get(*keys, "emailAddressOfSupplier"),
            "web_address": reader.get(*keys, "supplierWebAddress"),
            "part_numbers": numbers,
        }
        sources.append({k: v for k, v in source.items() if v is not None})
        imported.place(prefix, keys)
        imported.place(f"{prefix}.name", (*keys, "nameOfSupplier"))
        imported.place(f"{prefix}.email", (*keys, "emailAddressOfSupplier"))
        imported.place(f"{prefix}.web_address", (*keys, "supplierWebAddress"))
    if sources:
        static["spare_part_sources"] = sources
    if parts:
        static["component_part_numbers"] = [{"part_name": name, "part_number": n} for n, name in parts.items()]
    for index, _ in reader.items(*CIRCULARITY, "recycledContent"):
        keys = (*CIRCULARITY, "recycledContent", index)
        material = reader.get(*keys, "recycledMaterial")
        if material not in RECYCLED:
            imported.violations.append(
                _invalid(reader, keys, f"{material!r} is no recycled material of Battery Pass 1.2.")
            )
            continue
        for kind, published in (("pre", "preConsumerShare"), ("post", "postConsumerShare")):
            value = reader.get(*keys, published)
            if value is not None:
                name = f"{kind}_consumer_recycled_{RECYCLED[material]}_share_pct"
                static[name] = number(value)
                imported.place(name, (*keys, published))


def labels(imported: ImportedPassport, reader: Reader) -> None:
    static = imported.static_data
    if isinstance(reader.peek(*LABELING), dict):
        # The label list is the battery's: no cadmium/lead symbol in it means it carries none (an empty list).
        static["cadmium_and_lead_symbol_urls"] = []
        imported.place("cadmium_and_lead_symbol_urls", (*LABELING, "labels"))
    for index, _ in reader.items(*LABELING, "labels"):
        keys = (*LABELING, "labels", index)
        subject, symbol = reader.get(*keys, "labelingSubject"), reader.get(*keys, "labelingSymbol")
        meaning = reader.get(*keys, "labelingMeaning")
        texts = list(meaning.values()) if isinstance(meaning, dict) else [meaning]
        for text in texts:
            if isinstance(text, str) and text.startswith(("http://", "https://")):
                static.setdefault("labels_meaning_url", text)
                imported.place("labels_meaning_url", (*keys, "labelingMeaning"))
            elif text not in (None, DEFAULT_LABEL_MEANING):
                reader.not_imported.append(
                    Violation(
                        field=reader.at((*keys, "labelingMeaning")),
                        reason=NO_PLACE_IN_MODEL,
                        message="A label's meaning is kept as the URL of a meaning-of-labels document; this text is "
                        "not one.",
                    )
                )
        if subject == "HazardousMaterial":
            urls = static.setdefault("cadmium_and_lead_symbol_urls", [])
            imported.place(f"cadmium_and_lead_symbol_urls.{len(urls)}", (*keys, "labelingSymbol"))
            urls.append(symbol)
        elif subject in LABEL_FIELDS:
            static[LABEL_FIELDS[subject]] = symbol
            imported.place(LABEL_FIELDS[subject], (*keys, "labelingSymbol"))
        else:
            reader.not_imported.append(
                Violation(
                    field=reader.at(keys),
                    reason=NO_PLACE_IN_MODEL,
                    message=f"This platform keeps label symbols of separate collection, cadmium and lead and the "
                    f"carbon footprint, not of {subject!r}.",
                )
            )


def composition(imported: ImportedPassport, reader: Reader) -> None:
    static = imported.static_data
    chemistry = (*COMPOSITION, "batteryChemistry")
    if reader.peek(*chemistry) is not None:
        static["battery_chemistry"] = {
            "short_name": reader.get(*chemistry, "shortName"),
            "clear_name": reader.get(*chemistry, "clearName"),
        }
        imported.place("battery_chemistry", chemistry)
        imported.place("battery_chemistry.short_name", (*chemistry, "shortName"))
        imported.place("battery_chemistry.clear_name", (*chemistry, "clearName"))
    materials = []
    for index, _ in reader.items(*COMPOSITION, "batteryMaterials"):
        keys = (*COMPOSITION, "batteryMaterials", index)
        prefix = f"material_composition.{index}"
        materials.append(
            {
                "name": reader.get(*keys, "batteryMaterialName"),
                "component": reader.get(*keys, "batteryMaterialLocation", "componentName"),
                "cas_number": reader.get(*keys, "batteryMaterialIdentifier"),
                "mass_kg": number(reader.get(*keys, "batteryMaterialMass")),
                "critical_raw_material": bool(reader.get(*keys, "isCriticalRawMaterial")),
            }
        )
        imported.place(prefix, keys)
        for name, published in (
            ("name", ("batteryMaterialName",)),
            ("component", ("batteryMaterialLocation", "componentName")),
            ("cas_number", ("batteryMaterialIdentifier",)),
            ("mass_kg", ("batteryMaterialMass",)),
        ):
            imported.place(f"{prefix}.{name}", (*keys, *published))
    if materials:
        static["material_composition"] = materials
    substances: list[dict[str, Any]] = []
    impacts: list[Any] = []
    for index, _ in reader.items(*COMPOSITION, "hazardousSubstances"):
        keys = (*COMPOSITION, "hazardousSubstances", index)
        prefix = f"hazardous_substances.{index}"
        klass = reader.get(*keys, "hazardousSubstanceClass")
        substance = {
            "name": reader.get(*keys, "hazardousSubstanceName"),
            "cas_number": reader.get(*keys, "hazardousSubstanceIdentifier"),
            "hazard_classes": [HAZARD_CLASSES.get(klass, klass)] if klass is not None else [],
            "concentration_pct": number(reader.get(*keys, "hazardousSubstanceConcentration")),
            "location": reader.get(*keys, "hazardousSubstanceLocation", "componentName"),
        }
        substances.append({k: v for k, v in substance.items() if v is not None})
        for at, impact in reader.items(*keys, "hazardousSubstanceImpact"):
            reader.get(*keys, "hazardousSubstanceImpact", at)
            if impact not in impacts:  # the export repeats the battery's impacts in every substance
                imported.place(f"hazardous_substance_impacts.{len(impacts)}", (*keys, "hazardousSubstanceImpact", at))
                impacts.append(impact)
        imported.place(prefix, keys)
        for name, published in (
            ("name", ("hazardousSubstanceName",)),
            ("cas_number", ("hazardousSubstanceIdentifier",)),
            ("hazard_classes", ("hazardousSubstanceClass",)),
            ("concentration_pct", ("hazardousSubstanceConcentration",)),
            ("location", ("hazardousSubstanceLocation", "componentName")),
        ):
            imported.place(f"{prefix}.{name}", (*keys, *published))
    if substances:
        static["hazardous_substances"] = substances
    if impacts:
        static["hazardous_substance_impacts"] = impacts


def performance(imported: ImportedPassport, reader: Reader) -> None:
    static = imported.static_data
    for index, _ in reader.items(*TECHNICAL, "originalPowerCapability"):
        keys = (*TECHNICAL, "originalPowerCapability", index)
        soc = number(reader.get(*keys, "atSoC"))
        field = POWER_AT_SOC.get(Decimal(soc)) if isinstance(soc, Decimal | int) and not isinstance(soc, bool) else None
        if field is None:
            imported.violations.append(
                _invalid(reader, keys, "This platform keeps the power capability at 80 % and 20 % state of charge.")
            )
            continue
        static[field] = number(reader.get(*keys, "powerCapabilityAt"))
        imported.place(field, (*keys, "powerCapabilityAt"))
    for index, _ in reader.items(*TECHNICAL, "initialInternalResistance"):
        keys = (*TECHNICAL, "initialInternalResistance", index)
        part = reader.get(*keys, "batteryComponent")
        if part not in RESISTANCE_PARTS:
            imported.violations.append(_invalid(reader, keys, "batteryComponent is one of pack, module, cell."))
            continue
        field = f"initial_internal_resistance_{part}_ohm"
        static[field] = number(reader.get(*keys, "ohmicResistance"))
        imported.place(field, (*keys, "ohmicResistance"))
    condition = reader.peek(*CONDITION)
    if isinstance(condition, dict):
        for key in condition:
            if key != "roundTripEfficiencyat50PerCentCycleLife":
                reader.skip((*CONDITION, key), DYNAMIC_DATA)
