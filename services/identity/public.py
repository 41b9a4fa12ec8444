"""The public tier of a passport (what anyone scanning the QR code reads), as JSON and as an HTML page. No I/O.

Field by field: a static data field is public when the longlist attribute it carries is (`field_tier`); an
OEM extension value when the family's current extension schema marks it `x-public`. Everything else is
withheld, and the page says which fields exist but are restricted, and to whom.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pydantic

from contracts.attributes import ATTRIBUTES, AccessTier, by_key
from contracts.errors import Violation
from contracts.passport_data import FIELD_LONGLIST_KEYS, StaticPassportData, field_tier, longlist_key_of
from services.common.access import visible_static_data
from services.identity import extensions

CATEGORY_NAMES = {
    "ev": "Electric vehicle (EV) battery",
    "lmt": "Light means of transport (LMT) battery",
    "industrial": "Industrial battery (> 2 kWh)",
    "stationary": "Stationary battery energy storage (> 2 kWh)",
}
KIND_NAMES = {"battery": "Battery", "pack": "Battery pack", "batch": "Production batch"}
TIER_READERS = {
    AccessTier.legitimate_interest: "persons with a legitimate interest (repairers, recyclers, second-life "
    "operators) and the authorities",
    AccessTier.authorities: "notified bodies, market surveillance authorities and the Commission",
    AccessTier.owner: "the manufacturer",
}
_GROUP_ORDER = list(dict.fromkeys(attribute.category for attribute in ATTRIBUTES))
_UNITS = (
    ("_kg_co2e_per_kwh", "kg CO₂e/kWh"),
    ("_t_co2e", "t CO₂e"),
    ("_w_per_wh", "W/Wh"),
    ("_pct_per_month", "%/month"),
    ("_kwh", "kWh"),
    ("_ah", "Ah"),
    ("_kg", "kg"),
    ("_pct", "%"),
    ("_ohm", "Ω"),
    ("_months", "months"),
    ("_years", "years"),
    ("_urls", ""),
    ("_url", ""),
    ("_v", "V"),
    ("_w", "W"),
    ("_c", "°C"),
)
_WORDS = {"pct": "%", "soc": "SOC", "co2e": "CO₂e", "cas": "CAS", "id": "ID", "c": "C", "gtin": "GTIN"}


def is_public_field(name: str) -> bool:
    return name in FIELD_LONGLIST_KEYS and field_tier(name) is AccessTier.public


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _in_declared_order(stored: Mapping[str, Any]) -> Mapping[str, Any]:
    """Stored JSON (jsonb orders keys by length) back in the order of the contract's fields."""
    try:
        return StaticPassportData.model_validate(stored).model_dump(mode="json", exclude_none=True)
    except pydantic.ValidationError:  # stored before a field was tightened: show it as stored
        return stored


def public_passport(row: Mapping[str, Any], extension_schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """The public JSON view of a passport's current version (`row` as `store.get_passport` returns it)."""
    static = _in_declared_order(row["static_data"])
    restricted: dict[str, list[str]] = {}
    for name in static:
        if not is_public_field(name):
            tier = field_tier(name) if name in FIELD_LONGLIST_KEYS else AccessTier.owner
            restricted.setdefault(tier.value, []).append(name)
    return {
        "passport_id": row["passport_id"],
        "public_uri": row["public_uri"],
        "battery_identifier": row["battery_identifier"],
        "kind": row["kind"],
        "category": row["category"],
        "gtin": row["gtin"].zfill(14) if row["gtin"] else None,
        "batch_number": row["batch_number"],
        "version": row["current_version"],
        "minted_at": _iso(row["minted_at"]),
        "updated_at": _iso(row["changed_at"]),
        "static_data": visible_static_data(dict(static), AccessTier.public),
        "extensions": extensions.public_view(extension_schema, row["extensions"]),
        "restricted_fields": {tier: sorted(names) for tier, names in sorted(restricted.items())},
    }


# --- HTML ---------------------------------------------------------------------------------------------------


def label(name: str) -> str:
    """A field name as a person reads it: `nominal_voltage_v` -> `Nominal voltage (V)`."""
    unit = None
    for suffix, symbol in _UNITS:
        if name.endswith(suffix) and len(name) > len(suffix):
            name, unit = name[: -len(suffix)], symbol
            break
    words = [_WORDS.get(word, word) for word in name.split("_")]
    text = " ".join(words)
    text = text[:1].upper() + text[1:]
    return f"{text} ({unit})" if unit else text


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, Mapping):
        items = "".join(f"<dt>{_e(label(k))}</dt><dd>{_value(v)}</dd>" for k, v in value.items() if v is not None)
        return f"<dl>{items}</dl>"
    if isinstance(value, list):
        if not value:
            return "<span class='none'>none</span>"
        return "<ul>" + "".join(f"<li>{_value(item)}</li>" for item in value) + "</ul>"
    text = str(value)
    if text.startswith(("https://", "http://")):
        return f'<a href="{_e(text)}" rel="nofollow noopener">{_e(text)}</a>'
    return _e(text)


def _section(title: str, fields: Sequence[tuple[str, Any]], section_id: str) -> str:
    rows = "".join(f"<dt>{_e(label(name))}</dt><dd>{_value(value)}</dd>" for name, value in fields)
    return f'<section aria-labelledby="{section_id}"><h2 id="{section_id}">{_e(title)}</h2><dl>{rows}</dl></section>'


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5;margin:0;color:#1a1a1a;
background:#fff}main{max-width:46rem;margin:0 auto;padding:1rem}h1{font-size:1.5rem;margin:.5rem 0}
h2{font-size:1.15rem;border-bottom:1px solid #ccc;padding-bottom:.25rem;margin-top:1.5rem}
dl{display:grid;grid-template-columns:minmax(8rem,40%) 1fr;gap:.25rem 1rem;margin:.5rem 0}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}dd dl{grid-template-columns:1fr;gap:0}
dd dt{font-weight:500;color:#444}ul{margin:0;padding-left:1.2rem}a{color:#0645ad}
.none{color:#666}.note{background:#f4f4f4;padding:.75rem;border-radius:.25rem}
@media (max-width:30rem){dl{grid-template-columns:1fr}dd{margin-bottom:.5rem}}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body><main>{body}</main></body></html>"
    )


def passport_page(public: Mapping[str, Any]) -> str:
    """The public passport as an accessible HTML page (every value escaped)."""
    static: Mapping[str, Any] = public["static_data"]
    model = static.get("battery_model")
    manufacturer = static.get("manufacturer") or {}
    title = f"{model} — battery passport" if model else "Battery passport"
    identity: list[tuple[str, Any]] = [
        ("passport_identifier", public["passport_id"]),
        ("battery_identifier", public["battery_identifier"]),
        ("kind", KIND_NAMES.get(public["kind"], public["kind"])),
        ("battery_category", CATEGORY_NAMES.get(public["category"], public["category"])),
    ]
    if public["gtin"]:
        identity.append(("gtin", public["gtin"]))
    if public["batch_number"]:
        identity.append(("batch_number", public["batch_number"]))
    identity += [("passport_version", public["version"]), ("last_updated", public["updated_at"])]
    groups: dict[str, list[tuple[str, Any]]] = {}
    for name, value in static.items():
        if name == "battery_category":
            continue
        groups.setdefault(by_key(longlist_key_of(name)).category, []).append((name, value))
    sections = [_section("Passport", identity, "passport")]
    for index, group in enumerate(sorted(groups, key=_GROUP_ORDER.index)):
        sections.append(_section(group, groups[group], f"group-{index}"))
    if public["extensions"]:
        sections.append(_section("More from the manufacturer", list(public["extensions"].items()), "extensions"))
    restricted = public["restricted_fields"]
    if restricted:
        lines = "".join(
            f"<li>{_e(', '.join(label(n) for n in names))}: for {_e(TIER_READERS.get(AccessTier(tier), tier))}.</li>"
            for tier, names in restricted.items()
        )
        sections.append(
            '<section aria-labelledby="restricted"><h2 id="restricted">Restricted information</h2>'
            f'<p class="note">This passport holds more data than is shown here, readable only by those entitled '
            f"(Regulation (EU) 2023/1542, Art. 77(2)):</p><ul>{lines}</ul></section>"
        )
    maker = f"<p>{_e(manufacturer['name'])}</p>" if isinstance(manufacturer, Mapping) and "name" in manufacturer else ""
    header = (
        f"<header><h1>{_e(model or 'Battery passport')}</h1>{maker}"
        "<p>Digital battery passport, Regulation (EU) 2023/1542</p></header>"
    )
    return _page(title, header + "".join(sections))


def not_found_page(message: str) -> str:
    return _page(
        "Passport not found",
        f"<h1>Passport not found</h1><p>{_e(message)}</p>"
        "<p>Check that the link or QR code is complete; if it came from a battery label, contact its manufacturer.</p>",
    )


def invalid_link_page(violations: Sequence[Violation]) -> str:
    items = "".join(f"<li>{_e(v.message)}</li>" for v in violations)
    return _page(
        "Not a passport link",
        f"<h1>Not a passport link</h1><p>This address does not name a battery passport:</p><ul>{items}</ul>",
    )
