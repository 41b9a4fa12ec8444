"""A passport's read model as the Catena-X BatteryPass 6.1.0 aspect
(`urn:samm:io.catenax.battery.battery_pass:6.1.0#BatteryPass`), which Tractus-X DPP viewers read. Pure mapping,
no I/O; materials and performance are in `catenax_materials.py` and `catenax_performance.py`.

Every field the platform holds lands at its 6.1.0 path (`docs/exports/catenax-batterypass-6.1.md` lists them one
by one); dynamic values come from the latest in-service readings, each with its measurement time. A required
member that cannot be filled truthfully is left out and named, with why, in the gaps `catenax_passport` returns
(reason codes: `catenax_context.py`).
"""

from __future__ import annotations

import re
from typing import Any

from services.reporting.domain.catenax_context import (
    NO_BPN,
    Ctx,
    collapse,
    day,
    document,
    documents,
    num,
    prune,
)
from services.reporting.domain.catenax_materials import materials
from services.reporting.domain.catenax_performance import performance

ASPECT_URN = "urn:samm:io.catenax.battery.battery_pass:6.1.0#BatteryPass"
SPEC_VERSION = "urn:io.catenax.battery.battery_pass:6.1.0"
# The schema asks for "a dummy value" when there is no preceding passport: the RFC 9562 Nil UUID says "none".
NIL_PASSPORT = "urn:uuid:00000000-0000-0000-0000-000000000000"
# Stationary battery energy storage systems are industrial batteries (Regulation (EU) 2023/1542, Art. 3(1)(13)-(14)).
CATEGORY = {"ev": "EV", "lmt": "LMT", "industrial": "industrial", "stationary": "industrial"}
# The use a battery category is defined by (Art. 3(1)); Catena-X asks for 'automotive' on EV batteries.
PURPOSE = {
    "ev": ["automotive"],
    "lmt": ["light means of transport"],
    "industrial": ["industrial"],
    "stationary": ["stationary energy storage"],
}
CARBON_STAGES = (
    ("carbon_footprint_raw_material_share_pct", "raw material acquisition and pre-processing"),
    ("carbon_footprint_production_share_pct", "main product production"),
    ("carbon_footprint_distribution_share_pct", "distribution"),
    ("carbon_footprint_end_of_life_share_pct", "end of life and recycling"),
)
DISMANTLING = {"dismantling_manual", "drawing", "bill_of_material", "model_3d", "other_manual"}
FIRE_CLASS = re.compile(r"\s*\((?:fire\s+)?class(?:es)?\s+([A-F](?:\s*[,/+&]\s*[A-F]|\s+and\s+[A-F])*)\)\s*", re.I)


def _pid(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"urn:uuid:[0-9a-fA-F-]{36}", value) is not None


def metadata(ctx: Ctx) -> dict[str, Any]:
    state = ctx.state
    predecessors = [p for p in state.get("predecessor_ids") or [] if _pid(p)]
    ctx.miss("/metadata/economicOperatorId", NO_BPN)
    ctx.miss("/metadata/backupReference", "not_held: no certified third-party backup of the passport exists yet")
    ctx.miss(
        "/metadata/expirationDate",
        "not_held: a passport has no end of availability: after recycling it ceases (Art. 77(8)) but stays readable",
    )
    if not state.get("minted_at"):
        ctx.miss("/metadata/issueDate", "not_given: the minting time is not in this passport's data as exported")
    amendments = [a.get("amended_at") for a in state.get("amendments") or [] if a.get("amended_at")]
    modified = state.get("updated_at") or max([state.get("minted_at") or "", *amendments]) or None
    return {
        "passportIdentifier": state.get("passport_id"),
        "version": str(state.get("version") or state.get("data_version") or 1),
        "status": "expired" if state.get("ceased") else "approved",
        "issueDate": day(state.get("minted_at")),
        "lastModification": day(modified),
        "predecessor": predecessors[0] if predecessors else NIL_PASSPORT,
    }


def identification(ctx: Ctx) -> dict[str, Any]:
    state, static = ctx.state, ctx.static
    subject: dict[str, Any] = state.get("subject") or {}
    identifier = state.get("battery_identifier")
    kind = state.get("kind") or subject.get("kind")
    batches = [subject.get("batch_number"), identifier if kind == "batch" else None]
    chemistry: dict[str, Any] = static.get("battery_chemistry") or {}
    if chemistry:
        named = f"{chemistry.get('clear_name')} ({chemistry.get('short_name')})"
    else:
        ctx.miss("/identification/chemistry", ctx.absent_reason("battery_chemistry"))
        named = None
    if state.get("product_family") is None:
        ctx.miss(
            "/identification/identification/type/manufacturerPartId",
            "not_given: the passport was minted without a product family (the OEM's part id of the model)",
        )
    gtin = subject.get("gtin")
    if not gtin:
        ctx.miss("/identification/identification/codes", "not_given: the passport was minted without a GTIN")
    ctx.miss(
        "/identification/identification/dataCarrier/carrierLayout",
        "not_held: where the QR code sits on the battery is the OEM's label design, not passport data",
    )
    ctx.miss(
        "/identification/identification/classification",
        "not_held: the platform keeps no part classification (standard and class id)",
    )
    if state.get("category") not in CATEGORY:
        ctx.miss("/identification/category", "not_given: the passport names no battery category")
    return {
        "category": CATEGORY.get(str(state.get("category"))),
        "idDmc": identifier,
        "chemistry": named,
        "identification": {
            "serial": [{"key": "partInstanceId", "value": identifier}] if identifier and kind != "batch" else None,
            "batch": [{"key": "batchId", "value": b} for b in dict.fromkeys(batches) if b] or None,
            "type": {
                "manufacturerPartId": state.get("product_family"),
                "nameAtManufacturer": ctx.value(
                    "battery_model", "/identification/identification/type/nameAtManufacturer"
                ),
            },
            "codes": [{"key": "GTIN", "value": gtin}] if gtin else None,
            # The platform issues the passport's QR code (ISO/IEC 18004; Art. 77(3)) encoding `public_uri`.
            "dataCarrier": {"carrierType": "QR"},
        },
    }


def operation(ctx: Ctx) -> dict[str, Any]:
    ctx.miss("/operation/manufacturer/manufacturer", NO_BPN + " (BPNL of the manufacturer)")
    ctx.miss("/operation/manufacturer/facility", NO_BPN + " (BPNA of the plant, whose GLN it holds)")
    in_service: dict[str, Any] = ctx.state.get("in_service") or {}
    return {
        "intoServiceDate": day(in_service.get("put_into_service_at")),
        "manufacturer": {"manufacturingDate": day(ctx.value("manufacturing_date", None))},
    }


def characteristics(ctx: Ctx) -> dict[str, Any]:
    months = ctx.value("warranty_period_months", "/characteristics/warranty")
    weight = ctx.number("weight_kg", "/characteristics/physicalDimension/weight")
    return {
        "warranty": {"lifeValue": int(months), "lifeUnit": "unit:month"} if months is not None else None,
        "physicalDimension": {"weight": {"value": weight, "unit": "unit:kilogram"} if weight is not None else None},
    }


def commercial(ctx: Ctx) -> dict[str, Any]:
    category = str(ctx.state.get("category"))
    if category not in PURPOSE:
        ctx.miss("/commercial/purpose", "not_given: the passport names no battery category, which decides its use")
    in_service: dict[str, Any] = ctx.state.get("in_service") or {}
    return {"placedOnMarket": day(in_service.get("placed_on_market_at")), "purpose": PURPOSE.get(category)}


def carbon_footprint(ctx: Ctx) -> list[dict[str, Any]] | None:
    """The total (`lifecycle` "all life cycle stages"), then its split per stage from the declared shares."""
    total = ctx.value("carbon_footprint_kg_co2e_per_kwh", "/sustainability/carbonFootprint")
    if total is None:
        return None
    entries = [(num(total), "all life cycle stages")]
    for name, stage in CARBON_STAGES:
        share = num(ctx.static.get(name))
        if share is not None:
            entries.append((round(float(num(total) or 0) * share / 100, 4), stage))
    out = []
    for index, (value, stage) in enumerate(entries):
        at = f"/sustainability/carbonFootprint/{index}"
        ctx.miss(f"{at}/rulebook", "not_held: the platform keeps no carbon footprint rulebook reference")
        ctx.miss(f"{at}/manufacturingPlant", NO_BPN + " (BPNA of the plant)")
        ctx.miss(f"{at}/declaration", "not_held: the carbon footprint declaration document is not held (the study is)")
        out.append(
            {
                "value": value,
                "unit": "kg CO2e/kWh",
                "type": "Climate Change Total",
                "lifecycle": stage,
                "performanceClass": ctx.static.get("carbon_footprint_performance_class"),
            }
        )
    return out


def sustainability(ctx: Ctx) -> dict[str, Any]:
    status = ctx.state.get("status")
    if status is None:
        ctx.miss("/sustainability/status", "not_given: the battery status is not in this passport's data as exported")
    return {
        "status": status,
        "documents": {
            "separateCollection": documents(
                ctx,
                "separate_collection_info_url",
                "Separate collection of waste batteries",
                "/sustainability/documents/separateCollection",
            ),
            "wastePrevention": documents(
                ctx,
                "waste_prevention_info_url",
                "Waste prevention: the end-user's role",
                "/sustainability/documents/wastePrevention",
            ),
        },
        "carbonFootprint": carbon_footprint(ctx),
    }


def conformity(ctx: Ctx) -> dict[str, Any]:
    return {
        "declarationOfConformityId": ctx.static.get("declaration_of_conformity_id"),
        "declarationOfConformity": documents(
            ctx,
            "declaration_of_conformity_url",
            "EU declaration of conformity",
            "/conformity/declarationOfConformity",
        ),
        "resultOfTestReport": documents(
            ctx, "test_reports_url", "Results of test reports", "/conformity/resultOfTestReport"
        ),
        "thirdPartyAssurance": documents(
            ctx,
            "third_party_assurances_url",
            "Third-party assurances of supply chain due diligence",
            "/conformity/thirdPartyAssurance",
        ),
        "dueDiligencePolicy": documents(
            ctx,
            "due_diligence_report_url",
            "Supply chain due diligence report (Art. 52(3))",
            "/conformity/dueDiligencePolicy",
        ),
    }


def extinguishing_agents(ctx: Ctx) -> list[dict[str, Any]] | None:
    """`Water (class A)` -> media `Water`, fireClass `A`; an agent given without its class has no fireClass."""
    agents = ctx.value("extinguishing_agents", "/safety/usableExtinguishAgent")
    if agents is None:
        return None
    out = []
    for index, text in enumerate(agents):
        match = FIRE_CLASS.search(text)
        if match is None:
            ctx.miss(
                f"/safety/usableExtinguishAgent/{index}/fireClass",
                f"not_given: the agent '{text}' is given without its fire class",
            )
        media = FIRE_CLASS.sub(" ", text).strip() if match else text
        out.append({"media": media, "fireClass": match.group(1).upper() if match else None})
    return out


def safety(ctx: Ctx) -> dict[str, Any]:
    docs: list[dict[str, Any]] = ctx.static.get("dismantling_documents") or []
    dismantling = [
        document(f"{d['document_type'].replace('_', ' ').capitalize()} ({d.get('mime_type')})", d.get("url"))
        for d in docs
        if d.get("document_type") in DISMANTLING
    ]
    removal = [
        document(f"Removal manual ({d.get('mime_type')})", d.get("url"))
        for d in docs
        if d.get("document_type") == "removal_manual"
    ]
    if not dismantling:
        ctx.miss("/safety/dismantling", ctx.absent_reason("dismantling_documents"))
    return {
        "usableExtinguishAgent": extinguishing_agents(ctx),
        "safetyMeasures": documents(ctx, "safety_instructions_url", "Safety measures", "/safety/safetyMeasures"),
        "meaningOfLabels": documents(
            ctx, "labels_meaning_url", "Meaning of labels and symbols", "/safety/meaningOfLabels"
        ),
        "dismantling": dismantling or None,
        "removalFromAppliance": removal or None,
    }


def handling(ctx: Ctx) -> dict[str, Any] | None:
    sources: list[dict[str, Any]] | None = ctx.value("spare_part_sources", "/handling")
    if sources is None:
        return None
    names = {p["part_number"]: p["part_name"] for p in ctx.static.get("component_part_numbers") or []}
    numbers = list(dict.fromkeys(n for s in sources for n in s.get("part_numbers") or []))
    for index, number in enumerate(numbers):
        if number not in names:
            ctx.miss(
                f"/handling/content/sparePart/{index}/nameAtManufacturer",
                f"not_given: part {number} is not among the component part numbers, which name the parts",
            )
    ctx.miss("/handling/content/producer", NO_BPN + " (BPNL of each spare part source)")
    return {
        "applicable": True,
        "content": {"sparePart": [{"manufacturerPartId": n, "nameAtManufacturer": names.get(n)} for n in numbers]},
    }


def sources(ctx: Ctx) -> list[dict[str, str]] | None:
    """Links the platform holds that have no field of their own in 6.1.0."""
    static = ctx.static
    manufacturer: dict[str, Any] = static.get("manufacturer") or {}
    links = [
        ("Battery passport (public page)", "Product Specifications", ctx.state.get("public_uri")),
        ("Manufacturer web site", "Manufacturer Information", manufacturer.get("web_address")),
        ("Carbon footprint study", "Environmental Impact", static.get("carbon_footprint_study_url")),
        ("Carbon footprint label", "Certifications and Compliance", static.get("carbon_footprint_label_url")),
        ("Separate collection symbol", "Certifications and Compliance", static.get("separate_collection_symbol_url")),
        *(
            ("Cadmium / lead symbol", "Certifications and Compliance", url)
            for url in static.get("cadmium_and_lead_symbol_urls") or []
        ),
        ("End of life: collection, take-back, treatment", "End of Life", static.get("end_of_life_info_url")),
    ]
    out = [{"header": h, "category": c, "type": "URL", "content": str(url)} for h, c, url in links if url]
    return out or None


def catenax_passport(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The 6.1.0 aspect of one passport, and the required members it leaves empty: JSON pointer -> why (a
    member of an object left out altogether is named by that object)."""
    ctx = Ctx(state)
    aspect = prune(
        {
            "specVersion": SPEC_VERSION,
            "metadata": metadata(ctx),
            "identification": identification(ctx),
            "operation": operation(ctx),
            "characteristics": characteristics(ctx),
            "commercial": commercial(ctx),
            "sustainability": sustainability(ctx),
            "materials": materials(ctx),
            "performance": performance(ctx),
            "conformity": conformity(ctx),
            "safety": safety(ctx),
            "handling": handling(ctx),
            "sources": sources(ctx),
        }
    )
    return aspect, collapse(aspect, ctx.gaps)


def to_catenax(state: dict[str, Any]) -> dict[str, Any]:
    """One passport as the Catena-X BatteryPass 6.1.0 aspect."""
    return catenax_passport(state)[0]
