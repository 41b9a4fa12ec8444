"""The public tier of a passport (Art. 77(2), Annex XIII 1): what anyone scanning the QR code may read.

It is the public cut of `tiers` (identification, category, kind, the public static data fields, the extension values
the OEM's schema marks `x-public`) and the end of the passport's life, which `tiers` makes public too: whether it
has ceased, when and why (Art. 77(8)), and the passports that continue it (Art. 77(7)). The page's first screen
(`essentials`) and its collapsible sections (`detail_sections`) are cut from that view and nothing else. No I/O.
"""

from __future__ import annotations

from typing import Any

from contracts.attributes import AccessTier, by_key
from contracts.passport_data import FIELD_LONGLIST_KEYS, StaticPassportData, field_tier, longlist_key_of
from services.reporting.domain.tiers import state_for_tier

PUBLIC_FIELDS = tuple(name for name in StaticPassportData.model_fields if field_tier(name) is AccessTier.public)


def public_view(state: dict[str, Any]) -> dict[str, Any]:
    """Only public-tier fields; owner, legitimate-interest and authority fields never leave here."""
    view = state_for_tier(state, AccessTier.public)
    static: dict[str, Any] = view.get("static_data") or {}
    view["static_data"] = {name: static[name] for name in PUBLIC_FIELDS if static.get(name) not in (None, [], {})}
    view["ceased"] = bool(view.get("ceased"))
    view["successor_ids"] = list(view.get("successor_ids") or [])
    view["public_extensions"] = dict(view.get("public_extensions") or {})
    return view


def restricted_fields(state: dict[str, Any]) -> dict[str, list[str]]:
    """The static data fields a passport holds beyond the public ones, by the tier that may read them."""
    restricted: dict[str, list[str]] = {}
    for name, value in (state.get("static_data") or {}).items():
        if value in (None, [], {}):
            continue
        tier = field_tier(name) if name in FIELD_LONGLIST_KEYS else AccessTier.owner
        if tier is not AccessTier.public:
            restricted.setdefault(tier.value, []).append(name)
    return {tier: sorted(names) for tier, names in sorted(restricted.items())}


# What a person holding the battery needs first (issue: what it is, whether it is dangerous, where to take it):
# these fields are shown in full on the first screen, so the collapsible sections below leave them out.
ESSENTIAL_FIELDS = frozenset(
    {
        "battery_model",
        "battery_category",
        "rated_capacity_ah",
        "certified_usable_energy_kwh",
        "hazardous_substance_impacts",
        "extinguishing_agents",
        "carbon_footprint_performance_class",
        "separate_collection_info_url",
        "end_of_life_info_url",
    }
)
CAPACITY_FIELDS = ("rated_capacity_ah", "certified_usable_energy_kwh")
RETURN_FIELDS = ("separate_collection_info_url", "end_of_life_info_url")


def public_status(view: dict[str, Any]) -> str:
    """The passport's standing as the public tier knows it: `recycled`, `ceased` (another reason), `continued`
    (by a new passport, Art. 77(7)) or `active`. The battery's own status (in service, waste) is legitimate-interest
    data (Annex XIII 4(c)) and is not read here."""
    if view["ceased"]:
        return "recycled" if view.get("ceased_reason") == "recycled" else "ceased"
    if view["successor_ids"]:
        return "continued"
    return "active"


def essentials(view: dict[str, Any]) -> dict[str, Any]:
    """The first screen of the public page, from the public view only."""
    static: dict[str, Any] = view["static_data"]
    manufacturer = static.get("manufacturer") or {}
    chemistry = static.get("battery_chemistry") or {}
    return {
        "name": static.get("battery_model"),
        "manufacturer": manufacturer.get("registered_trade_name") or manufacturer.get("name"),
        "category": view.get("category") or static.get("battery_category"),
        "chemistry": chemistry.get("short_name"),
        "capacity": [(name, static[name]) for name in CAPACITY_FIELDS if name in static],
        "hazardous_substances": [s["name"] for s in static.get("hazardous_substances") or [] if s.get("name")],
        "hazard_impacts": list(static.get("hazardous_substance_impacts") or []),
        "extinguishing_agents": list(static.get("extinguishing_agents") or []),
        "carbon_class": static.get("carbon_footprint_performance_class"),
        "return_links": [(name, static[name]) for name in RETURN_FIELDS if _is_web(static.get(name))],
        "contact": {
            key: manufacturer[key]
            for key, valid in (("web_address", _is_web), ("email", _is_email))
            if valid(manufacturer.get(key))
        },
        "status": public_status(view),
        "ceased_at": view.get("ceased_at"),
        "ceased_reason": view.get("ceased_reason"),
        "successor_ids": view["successor_ids"],
    }


def _is_web(value: Any) -> bool:
    """Only web addresses become links (the contract validates them; the page does not rely on it)."""
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _is_email(value: Any) -> bool:
    return isinstance(value, str) and "@" in value and ":" not in value and "/" not in value


def detail_sections(view: dict[str, Any]) -> list[tuple[str, list[tuple[str, Any]]]]:
    """The public fields not on the first screen, by longlist category (in the order of the passport's fields)."""
    sections: dict[str, list[tuple[str, Any]]] = {}
    for name, value in view["static_data"].items():
        if name in ESSENTIAL_FIELDS:
            continue
        sections.setdefault(by_key(longlist_key_of(name)).category, []).append((name, value))
    return list(sections.items())
