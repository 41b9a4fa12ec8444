"""Catena-X BatteryPass 6.1.0 `materials`: the active materials nickel, lithium, cobalt and lead with their recycled
content, the hazardous substances and the material composition, from the passport's static data. Pure."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.reporting.domain.catenax_context import Ctx, names_material, num

ACTIVE = ("nickel", "lithium", "cobalt", "lead")
NO_DOCUMENTATION = "not_held: the platform keeps no documentation per material"
NO_IMPACT = "not_held: the hazardous substance impacts (H and P statements) are given for other substances, not lead"
NO_LEAD_CONCENTRATION = "not_held: no lead concentration (the Cd/Pb label symbols state thresholds, not a value)"


def recycled_share(ctx: Ctx, material: str, pointer: str) -> float | None:
    """Recycled content share, %: recovered from manufacturing waste plus from post-consumer waste (Art. 8)."""
    pre = ctx.value(f"pre_consumer_recycled_{material}_share_pct", pointer)
    post = ctx.value(f"post_consumer_recycled_{material}_share_pct", pointer)
    if pre is None or post is None:
        return None
    return float(Decimal(str(pre)) + Decimal(str(post)))


def critical(ctx: Ctx, material: str, pointer: str) -> bool | None:
    """Whether this battery holds the element as a critical raw material: named among its critical raw materials
    or by a composition entry flagged critical; false when the list is given and names it nowhere."""
    composition: list[dict[str, Any]] = ctx.static.get("material_composition") or []
    flagged = any(m.get("critical_raw_material") and names_material(material, str(m.get("name"))) for m in composition)
    listed = ctx.static.get("critical_raw_materials")
    if listed is not None:
        return flagged or any(names_material(material, str(name)) for name in listed)
    if any(names_material(material, str(m.get("name"))) for m in composition):
        return flagged
    ctx.miss(pointer, ctx.absent_reason("critical_raw_materials"))
    return None


def location(ctx: Ctx, material: str, pointer: str) -> str | None:
    """The components the composition names the element in (`cathode`, `cathode, anode`)."""
    composition: list[dict[str, Any]] = ctx.static.get("material_composition") or []
    places = [str(m["component"]) for m in composition if names_material(material, str(m.get("name")))]
    if not places:
        if composition:
            ctx.miss(pointer, f"not_given: the material composition names no {material}")
        else:
            ctx.miss(pointer, ctx.absent_reason("material_composition"))
        return None
    return ", ".join(dict.fromkeys(places))


def active_material(ctx: Ctx, material: str, at: str) -> dict[str, Any]:
    ctx.miss(f"{at}/documentation", NO_DOCUMENTATION)
    entry = {
        "recycled": recycled_share(ctx, material, f"{at}/recycled"),
        "critical": critical(ctx, material, f"{at}/critical"),
        "location": location(ctx, material, f"{at}/location"),
    }
    if material == "lead":
        ctx.miss(f"{at}/impactOfSubstances", NO_IMPACT)
        ctx.miss(f"{at}/concentration", NO_LEAD_CONCENTRATION)
        ctx.miss(f"{at}/materialUnit", NO_LEAD_CONCENTRATION)
    return entry


def impacts(ctx: Ctx) -> list[dict[str, str]] | None:
    """The H and P statements as text entries: header `H301`, content `H301: Toxic if swallowed`."""
    statements = ctx.static.get("hazardous_substance_impacts")
    if not statements:
        return None
    return [
        {"contentType": "text/plain", "header": str(text).partition(":")[0][:100], "content": str(text)}
        for text in statements
    ]


def identification(name: Any, cas: Any) -> list[dict[str, str]] | None:
    return [{"type": "CAS", "id": str(cas), "name": str(name)}] if cas else None


def hazardous_other(ctx: Ctx) -> list[dict[str, Any]] | None:
    substances: list[dict[str, Any]] | None = ctx.static.get("hazardous_substances")
    if substances is None:
        return None  # not required: nothing is stated
    crm = ctx.static.get("critical_raw_materials")
    listed = [str(n).lower() for n in crm or []]
    out = []
    for index, s in enumerate(substances):
        at = f"/materials/hazardous/other/{index}"
        ctx.miss(f"{at}/documentation", NO_DOCUMENTATION)
        for member, value, why in (
            ("materialIdentification", s.get("cas_number"), "no CAS number"),
            ("concentration", s.get("concentration_pct"), "no concentration"),
            ("location", s.get("location"), "no location"),
        ):
            if value is None:
                ctx.miss(f"{at}/{member}", f"not_given: the substance '{s.get('name')}' is given with {why}")
        if s.get("concentration_pct") is None:
            ctx.miss(f"{at}/materialUnit", f"not_given: the substance '{s.get('name')}' is given with no concentration")
        if crm is None:
            ctx.miss(f"{at}/critical", ctx.absent_reason("critical_raw_materials"))
        statements = impacts(ctx)
        if statements is None:
            ctx.miss(f"{at}/impactOfSubstances", ctx.absent_reason("hazardous_substance_impacts"))
        concentration = num(s.get("concentration_pct"))
        out.append(
            {
                "materialIdentification": identification(s.get("name"), s.get("cas_number")),
                "concentration": concentration,
                "materialUnit": "unit:percent" if concentration is not None else None,
                "location": s.get("location"),
                "critical": str(s.get("name")).lower() in listed if crm is not None else None,
                "impactOfSubstances": statements,
            }
        )
    return out


def composition(ctx: Ctx) -> list[dict[str, Any]] | None:
    entries: list[dict[str, Any]] | None = ctx.value("material_composition", "/materials/composition")
    if entries is None:
        return None
    weight = ctx.static.get("weight_kg")
    out = []
    for index, m in enumerate(entries):
        at = f"/materials/composition/{index}"
        ctx.miss(f"{at}/documentation", NO_DOCUMENTATION)
        ctx.miss(f"{at}/renewable", "not_held: renewable content is held for the whole battery, not per material")
        share = m.get("share_pct")
        if share is None and m.get("mass_kg") is not None and weight:
            share = (Decimal(str(m["mass_kg"])) * 100 / Decimal(str(weight))).quantize(Decimal("0.0001"))
        if share is None:
            ctx.miss(f"{at}/concentration", f"not_given: '{m.get('name')}' has neither a share nor a mass")
            ctx.miss(f"{at}/unit", f"not_given: '{m.get('name')}' has neither a share nor a mass")
        if not m.get("cas_number"):
            ctx.miss(f"{at}/id", f"not_given: '{m.get('name')}' has no CAS number")
        element = str(m.get("name")).lower()
        recycled = recycled_share(ctx, element, f"{at}/recycled") if element in ACTIVE else None
        if element not in ACTIVE:
            ctx.miss(
                f"{at}/recycled", "not_held: recycled content is held for nickel, cobalt, lithium and lead as elements"
            )
        out.append(
            {
                "id": identification(m.get("name"), m.get("cas_number")),
                "concentration": num(share),
                "unit": "unit:percent" if share is not None else None,
                "critical": bool(m.get("critical_raw_material")),
                "location": m.get("component"),
                "recycled": recycled,
            }
        )
    return out


def materials(ctx: Ctx) -> dict[str, Any]:
    lead = active_material(ctx, "lead", "/materials/active/lead")
    hazardous_lead = active_material(ctx, "lead", "/materials/hazardous/lead")
    for metal in ("cadmium", "mercury"):
        ctx.miss(
            f"/materials/hazardous/{metal}",
            f"not_held: no {metal} concentration or location is held (the label symbols state thresholds only)",
        )
    return {
        "active": {
            **{m: active_material(ctx, m, f"/materials/active/{m}") for m in ACTIVE if m != "lead"},
            "lead": lead,
        },
        "hazardous": {"lead": hazardous_lead, "other": hazardous_other(ctx)},
        "composition": composition(ctx),
    }
