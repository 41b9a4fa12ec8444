"""Catena-X BatteryPass 6.1.0 aspects (as reporting's `catenax-batterypass-6.1` export writes them: `{"format":
"catenax-batterypass-6.1", "passports": [{"passport_id", "aspect": {...}, "conformance"}]}`, one entry of it, or
one bare aspect) back to identity's mint terms: the inverse of reporting's `to_catenax`. No I/O.

The aspect names companies by Catena-X Business Partner Number, not by name and address: the manufacturer (but its
web site), the operator, the plant and the spare-part suppliers come from the entry's `platform` member when bpass
exported it (platform.py), else from the import's `defaults`, as do what 6.1.0 only sums (pre- and post-consumer
recycled shares) or does not hold (hazard classes, absolute carbon footprint)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from contracts.errors import Violation
from services.identity.domain.imports.batterypass import simplest_share
from services.identity.domain.imports.catenax_parts import RATED_PLACES, materials, performance
from services.identity.domain.imports.document import (
    ASSIGNED_BY_PLATFORM,
    DYNAMIC_DATA,
    EXPORT_NOTE,
    INVALID_VALUE,
    NO_PLACE_IN_MODEL,
    NOT_THE_DECLARED_FORMAT,
    Entries,
    ImportedPassport,
    Path,
    Reader,
    export_entries,
    not_imported,
    number,
)
from services.identity.domain.imports.platform import MEMBER as PLATFORM
from services.identity.domain.imports.platform import read_platform
from services.identity.domain.imports.subject import subject_from

FORMAT = "catenax-batterypass-6.1"
SPEC_VERSION = "urn:io.catenax.battery.battery_pass:6.1.0"
CATEGORIES = {"EV": "ev", "LMT": "lmt", "industrial": "industrial"}
STATIONARY = "stationary energy storage"  # the purpose that tells a stationary battery among industrial ones
STATUSES = {"original": None, "repurposed": "repurposed", "re-used": "re-used", "remanufactured": "remanufactured"}
TOTAL_STAGE = "all life cycle stages"
CARBON_STAGES = {
    "raw material acquisition and pre-processing": "carbon_footprint_raw_material_share_pct",
    "main product production": "carbon_footprint_production_share_pct",
    "distribution": "carbon_footprint_distribution_share_pct",
    "end of life and recycling": "carbon_footprint_end_of_life_share_pct",
}
# A document list of one link -> the static data field holding it.
DOCUMENTS: dict[Path, str] = {
    ("sustainability", "documents", "separateCollection"): "separate_collection_info_url",
    ("sustainability", "documents", "wastePrevention"): "waste_prevention_info_url",
    ("conformity", "declarationOfConformity"): "declaration_of_conformity_url",
    ("conformity", "resultOfTestReport"): "test_reports_url",
    ("conformity", "thirdPartyAssurance"): "third_party_assurances_url",
    ("conformity", "dueDiligencePolicy"): "due_diligence_report_url",
    ("safety", "safetyMeasures"): "safety_instructions_url",
    ("safety", "meaningOfLabels"): "labels_meaning_url",
}
# `sources` entries by header -> the static data field holding the link (None: the platform's own).
SOURCES: dict[str, str | None] = {
    "Battery passport (public page)": None,
    "Manufacturer web site": "manufacturer.web_address",
    "Carbon footprint study": "carbon_footprint_study_url",
    "Carbon footprint label": "carbon_footprint_label_url",
    "Separate collection symbol": "separate_collection_symbol_url",
    "Cadmium / lead symbol": "cadmium_and_lead_symbol_urls",
    "End of life: collection, take-back, treatment": "end_of_life_info_url",
}
# Static data fields the aspect carries with a loss: imported as the document says, which exports the same again.
LOSSY: dict[str, str] = {
    "battery_category": "the passport's category is exported whether or not its static data repeated it.",
    "material_composition": "a material's mass is exported as its share of the battery's mass (to 4 decimals).",
    "dismantling_documents": "removal manuals are exported after the other documents.",
    "extinguishing_agents": "an agent's fire class is exported apart from its name, and read back as `(class A)`.",
    "component_part_numbers": "only the parts a spare-part supplier names are exported, in the suppliers' order.",
}
CHEMISTRY = re.compile(r"(?P<clear>.+) \((?P<short>[^()]+)\)")
DOCUMENT_HEADER = re.compile(r"(?P<kind>.+?) \((?P<mime>[^()]+)\)")
# Static data fields the aspect carries -> where (for a field the document lacks, refusals point there).
FIELD_PLACES: dict[str, str] = {
    "battery_model": "identification.identification.type.nameAtManufacturer",
    "battery_chemistry": "identification.chemistry",
    "manufacturing_date": "operation.manufacturer.manufacturingDate",
    "warranty_period_months": "characteristics.warranty",
    "weight_kg": "characteristics.physicalDimension.weight",
    "battery_status": "sustainability.status",
    "carbon_footprint_kg_co2e_per_kwh": "sustainability.carbonFootprint",
    "carbon_footprint_performance_class": "sustainability.carbonFootprint",
    **{field: "sustainability.carbonFootprint" for field in CARBON_STAGES.values()},
    **{field: ".".join(map(str, keys)) for keys, field in DOCUMENTS.items()},
    "declaration_of_conformity_id": "conformity.declarationOfConformityId",
    "extinguishing_agents": "safety.usableExtinguishAgent",
    "dismantling_documents": "safety.dismantling",
    "component_part_numbers": "handling.content.sparePart",
    "material_composition": "materials.composition",
    "hazardous_substances": "materials.hazardous.other",
    "hazardous_substance_impacts": "materials.hazardous.other",
    **{field: "sources" for field in SOURCES.values() if field and "." not in field},
    **RATED_PLACES,
}


def passports_of(document: Any) -> Entries:
    """The aspects of a Catena-X BatteryPass 6.1 export (or of its one entry, or the one bare aspect)."""
    return export_entries(
        document,
        FORMAT,
        _not_this_format,
        lambda one: "aspect" in one or "specVersion" in one,
        "neither `passports`, `aspect` nor `specVersion`",
    )


def _not_this_format(where: str, why: str) -> Violation:
    return Violation(
        field=where,
        reason=NOT_THE_DECLARED_FORMAT,
        message=f"The document is not a Catena-X BatteryPass 6.1 export ({FORMAT}): {why}. Send the export as "
        "reporting's catenax-batterypass-6.1 writes it, one passport of it, or one aspect.",
    )


def from_catenax(entry: Mapping[str, Any], path: str) -> ImportedPassport:
    """One passport's 6.1.0 aspect as identity's mint terms (not yet validated)."""
    bare = "specVersion" in entry
    aspect = entry if bare else entry.get("aspect")
    at = path if bare else f"{path}.aspect"
    imported = ImportedPassport(path=at, field_places=FIELD_PLACES)
    if not isinstance(aspect, Mapping) or aspect.get("specVersion") != SPEC_VERSION:
        version = aspect.get("specVersion") if isinstance(aspect, Mapping) else None
        imported.violations.append(_not_this_format(f"{at}.specVersion", f"its specVersion is {version!r}"))
        return imported
    kept = ("aspect", PLATFORM)
    notes = [] if bare else [not_imported(f"{path}.{key}", _entry_reason(key)) for key in entry if key not in kept]
    reader = Reader(aspect, at)
    reader.get("specVersion")
    _identification(imported, reader)
    _general(imported, reader)
    _carbon(imported, reader)
    _documents(imported, reader)
    _safety(imported, reader)
    _handling(imported, reader)
    _sources(imported, reader)
    materials(imported, reader)
    performance(imported, reader)
    imported.not_imported = notes + reader.not_imported + reader.leftovers()
    if not bare:
        read_platform(imported, entry.get(PLATFORM), f"{path}.{PLATFORM}")
    return imported


def _entry_reason(key: str) -> str:
    return ASSIGNED_BY_PLATFORM if key == "passport_id" else EXPORT_NOTE


def _identification(imported: ImportedPassport, reader: Reader) -> None:
    ident = ("identification", "identification")
    reader.skip(("metadata",), ASSIGNED_BY_PLATFORM)
    reader.skip((*ident, "dataCarrier"), ASSIGNED_BY_PLATFORM, "The platform prints its own QR code.")
    subject_from(imported, reader.get("identification", "idDmc"), reader.at(("identification", "idDmc")))
    for index, _ in reader.items(*ident, "serial"):  # the same identifier again, for a single battery
        reader.get(*ident, "serial", index, "key")
        reader.get(*ident, "serial", index, "value")
    batches = [reader.get(*ident, "batch", i, "value") for i, _ in reader.items(*ident, "batch")]
    for index, _ in reader.items(*ident, "batch"):
        reader.get(*ident, "batch", index, "key")
    if imported.subject and batches:
        imported.subject["batch_number"] = batches[0]
    for index, _ in reader.items(*ident, "codes"):
        key, value = reader.get(*ident, "codes", index, "key"), reader.get(*ident, "codes", index, "value")
        if key == "GTIN" and imported.subject:
            imported.subject["gtin"] = value
        elif key != "GTIN":
            reader.not_imported.append(not_imported(reader.at((*ident, "codes", index)), NO_PLACE_IN_MODEL))
    category, purposes = reader.get("identification", "category"), reader.get("commercial", "purpose")
    imported.category_place = reader.at(("identification", "category"))
    if category is not None:
        mapped = CATEGORIES.get(category, category) if isinstance(category, str) else category
        if mapped == "industrial" and isinstance(purposes, list) and STATIONARY in purposes:
            mapped = "stationary"
        imported.category = mapped
        imported.put("battery_category", mapped, ("identification", "category"))
    family = reader.get(*ident, "type", "manufacturerPartId")
    if family is not None:
        imported.product_family = family
    model = reader.get(*ident, "type", "nameAtManufacturer")
    if model is not None:
        imported.put("battery_model", model, (*ident, "type", "nameAtManufacturer"))
    chemistry = reader.get("identification", "chemistry")
    if chemistry is not None:
        parts = CHEMISTRY.fullmatch(chemistry) if isinstance(chemistry, str) else None
        value = {"clear_name": parts["clear"], "short_name": parts["short"]} if parts else chemistry
        imported.put("battery_chemistry", value, ("identification", "chemistry"))


def _general(imported: ImportedPassport, reader: Reader) -> None:
    reader.skip(("operation", "intoServiceDate"), DYNAMIC_DATA)
    reader.skip(("commercial", "placedOnMarket"), DYNAMIC_DATA)
    date = reader.get("operation", "manufacturer", "manufacturingDate")
    if date is not None:
        imported.put("manufacturing_date", date, ("operation", "manufacturer", "manufacturingDate"))
    warranty = ("characteristics", "warranty")
    months, unit = reader.get(*warranty, "lifeValue"), reader.get(*warranty, "lifeUnit")
    if months is not None:
        factor = {"unit:month": 1, "unit:year": 12}.get(unit) if isinstance(unit, str) else None
        if factor is None or not isinstance(months, int):
            imported.violations.append(
                Violation(
                    field=reader.at(warranty),
                    reason=INVALID_VALUE,
                    message="The warranty is read as a whole number of unit:month or unit:year.",
                )
            )
        else:
            imported.put("warranty_period_months", months * factor, (*warranty, "lifeValue"))
    weight = ("characteristics", "physicalDimension", "weight")
    value, unit = reader.get(*weight, "value"), reader.get(*weight, "unit")
    if value is not None:
        if unit not in (None, "unit:kilogram"):
            imported.violations.append(
                Violation(field=reader.at((*weight, "unit")), reason=INVALID_VALUE, message="Give the weight in kg.")
            )
        imported.put("weight_kg", number(value), (*weight, "value"))
    status = reader.get("sustainability", "status")
    if status in STATUSES:
        if STATUSES[status] is not None:  # `original` is what a passport without a status has
            imported.put("battery_status", STATUSES[status], ("sustainability", "status"))
    elif status is not None:  # waste, or an unknown word: for the mint rules and the contract to refuse
        imported.put("battery_status", status, ("sustainability", "status"))


def _carbon(imported: ImportedPassport, reader: Reader) -> None:
    entries = reader.items("sustainability", "carbonFootprint")
    base = ("sustainability", "carbonFootprint")
    values = {reader.peek(*base, i, "lifecycle"): (i, number(reader.peek(*base, i, "value"))) for i, _ in entries}
    total = values.get(TOTAL_STAGE, (None, None))[1]
    for index, _ in entries:
        keys = (*base, index)
        stage, value = reader.get(*keys, "lifecycle"), number(reader.get(*keys, "value"))
        for member in ("unit", "type"):
            reader.get(*keys, member)
        performance_class = reader.get(*keys, "performanceClass")
        if performance_class is not None:
            imported.static_data.setdefault("carbon_footprint_performance_class", performance_class)
            imported.place("carbon_footprint_performance_class", (*keys, "performanceClass"))
        if stage == TOTAL_STAGE:
            imported.put("carbon_footprint_kg_co2e_per_kwh", value, (*keys, "value"))
            continue
        field = CARBON_STAGES.get(stage) if isinstance(stage, str) else None
        if field is None or not isinstance(value, Decimal) or not isinstance(total, Decimal) or total <= 0:
            imported.violations.append(
                Violation(
                    field=reader.at(keys),
                    reason=INVALID_VALUE,
                    message="A life-cycle stage's carbon footprint is read as a share of the 'all life cycle "
                    "stages' entry: give a known lifecycle, its value and a positive total.",
                )
            )
            continue
        imported.put(field, simplest_share(value, total, exported=_float_stage), (*keys, "value"))


def _float_stage(total: Decimal, share: Decimal) -> Decimal:
    """A stage's kg CO2e as reporting's Catena-X export computes it (in binary floating point)."""
    return Decimal(repr(round(float(total) * float(share) / 100, 4)))


def _documents(imported: ImportedPassport, reader: Reader) -> None:
    for keys, field in DOCUMENTS.items():
        links = reader.items(*keys)
        for index, _ in links:
            reader.get(*keys, index, "header")
            reader.get(*keys, index, "contentType")
            if index == 0:
                imported.put(field, reader.get(*keys, index, "content"), (*keys, index, "content"))
            else:  # the platform keeps one link per document
                reader.skip((*keys, index, "content"), NO_PLACE_IN_MODEL)
    conformity_id = reader.get("conformity", "declarationOfConformityId")
    if conformity_id is not None:
        imported.put("declaration_of_conformity_id", conformity_id, ("conformity", "declarationOfConformityId"))


def _safety(imported: ImportedPassport, reader: Reader) -> None:
    agents = []
    for index, _ in reader.items("safety", "usableExtinguishAgent"):
        keys = ("safety", "usableExtinguishAgent", index)
        media, fire_class = reader.get(*keys, "media"), reader.get(*keys, "fireClass")
        agents.append(f"{media} (class {fire_class})" if fire_class else media)
        imported.place(f"extinguishing_agents.{index}", keys)
    if agents:
        imported.static_data["extinguishing_agents"] = agents
    documents: list[dict[str, Any]] = []
    for member in ("dismantling", "removalFromAppliance"):
        for index, _ in reader.items("safety", member):
            keys = ("safety", member, index)
            header, url = reader.get(*keys, "header"), reader.get(*keys, "content")
            reader.get(*keys, "contentType")
            parts = DOCUMENT_HEADER.fullmatch(header) if isinstance(header, str) else None
            kind = parts["kind"].lower().replace(" ", "_") if parts else header
            imported.place(f"dismantling_documents.{len(documents)}", keys)
            documents.append({"document_type": kind, "mime_type": parts["mime"] if parts else None, "url": url})
    if documents:
        imported.static_data["dismantling_documents"] = documents


def _handling(imported: ImportedPassport, reader: Reader) -> None:
    reader.get("handling", "applicable")
    parts: list[dict[str, Any]] = []
    for index, _ in reader.items("handling", "content", "sparePart"):
        keys = ("handling", "content", "sparePart", index)
        number_, name = reader.get(*keys, "manufacturerPartId"), reader.get(*keys, "nameAtManufacturer")
        if name is not None:
            imported.place(f"component_part_numbers.{len(parts)}", keys)
            parts.append({"part_name": name, "part_number": number_})
    if parts:
        imported.static_data["component_part_numbers"] = parts


def _sources(imported: ImportedPassport, reader: Reader) -> None:
    if isinstance(reader.peek("sources"), list):
        # The battery's links: no cadmium/lead symbol among them means it carries none (an empty list).
        imported.put("cadmium_and_lead_symbol_urls", [], ("sources",))
    for index, _ in reader.items("sources"):
        keys = ("sources", index)
        header = reader.peek(*keys, "header")
        field = SOURCES.get(header, "") if isinstance(header, str) else ""
        if field is None:
            reader.skip(keys, ASSIGNED_BY_PLATFORM, "The platform's own public page of the passport.")
            continue
        if not field:
            continue  # listed as not imported: a link with no field here
        for member in ("header", "category", "type"):
            reader.get(*keys, member)
        url = reader.get(*keys, "content")
        if field == "cadmium_and_lead_symbol_urls":
            urls = imported.static_data.setdefault(field, [])
            imported.place(f"{field}.{len(urls)}", (*keys, "content"))
            urls.append(url)
        elif field == "manufacturer.web_address":  # the rest of the manufacturer comes from the defaults
            imported.static_data["manufacturer"] = {"web_address": url}
            imported.place(field, (*keys, "content"))
        else:
            imported.put(field, url, (*keys, "content"))
