"""What the Catena-X BatteryPass 6.1.0 mapping shares (`catenax.py`): the passport being mapped, the reasons a
required member stays empty, and the shaping of values. Pure, no I/O.

A required member the platform cannot fill truthfully is left out, never invented; the mapping records why under
the member's JSON pointer (`Ctx.miss`). Each reason starts with a stable code:

- `no_bpn`: a Catena-X Business Partner Number (BPNL, BPNA); the platform identifies companies by name, GLN or
  handler id and holds none;
- `not_held`: no field of the platform's contracts or facts carries it;
- `not_given`: the platform has a field for it, but this passport's data (as exported, at the reader's tier) does
  not give it;
- `not_applicable`: the field does not apply to the battery's category (Battery Pass longlist v1.2);
- `not_yet_known`: dynamic data that has not been reported yet (no BMS reading, not put into service).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from contracts.attributes import BatteryCategory, Requirement, by_key
from contracts.passport_data import longlist_key_of
from services.reporting.domain.batterypass_platform import status_field, without

NO_BPN = "no_bpn: a Catena-X Business Partner Number, which the platform does not hold (it names companies otherwise)"


@dataclass
class Ctx:
    """One passport being mapped, and the JSON pointers of the required members left empty, each with why."""

    state: dict[str, Any]
    gaps: dict[str, str] = field(default_factory=dict)

    @property
    def static(self) -> dict[str, Any]:
        static: dict[str, Any] = self.state.get("static_data") or {}
        return static

    @property
    def category(self) -> BatteryCategory | None:
        try:
            return BatteryCategory(str(self.state.get("category")))
        except ValueError:
            return None

    def miss(self, pointer: str, reason: str) -> None:
        self.gaps.setdefault(pointer, reason)

    def absent_reason(self, name: str) -> str:
        """Why `static_data.<name>` is absent: not applicable to the category, or not given."""
        category = self.category
        if category is not None and by_key(longlist_key_of(name)).requirement(category) is Requirement.not_applicable:
            return f"not_applicable: static_data.{name} does not apply to {category.value} batteries"
        return f"not_given: static_data.{name} is not in this passport's data as exported"

    def value(self, name: str, pointer: str | None) -> Any:
        """`static_data.<name>`; when absent and `pointer` names a required member, the gap is recorded."""
        found = self.static.get(name)
        if found is None and pointer is not None:
            self.miss(pointer, self.absent_reason(name))
        return found

    def number(self, name: str, pointer: str | None) -> float | int | None:
        return num(self.value(name, pointer))


def num(value: Any) -> float | int | None:
    """A JSON number from a decimal string or number; integers stay integers."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return float(Decimal(str(value)))
    except InvalidOperation:
        return None


def day(value: Any) -> str | None:
    """`yyyy-mm-dd` (UTC) of an ISO 8601 date or date-time."""
    if not value:
        return None
    text = str(value)
    if "T" not in text:
        return text[:10]
    moment = datetime.fromisoformat(text)
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date().isoformat()


def utc_time(value: Any) -> str | None:
    """An RFC 3339 time in UTC, `Z` suffixed."""
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def document(header: str, url: Any) -> dict[str, str] | None:
    """A 6.1.0 document entry (`content`, `contentType`, `header` of at most 100 characters) for a link."""
    if not url:
        return None
    return {"contentType": "URL", "header": header[:100], "content": str(url)}


def documents(ctx: Ctx, name: str, header: str, pointer: str) -> list[dict[str, str]] | None:
    """A required list of documents from one link of the static data (gap recorded when absent)."""
    entry = document(header, ctx.value(name, pointer))
    return [entry] if entry else None


def names_material(material: str, text: str) -> bool:
    """Whether `text` (a material or substance name) names the element `material` as a word."""
    return re.search(rf"\b{re.escape(material)}\b", text, re.IGNORECASE) is not None


def prune(value: Any) -> Any:
    """Without None members and without objects left empty (a list is kept as built: [] states 'none')."""
    if isinstance(value, dict):
        out = {}
        for key, member in value.items():
            kept = prune(member)
            if kept is None or kept == {}:
                continue
            out[key] = kept
        return out
    if isinstance(value, list):
        return [prune(member) for member in value]
    return value


def _present(document: Any, parts: list[str]) -> int:
    """How many leading `parts` of a pointer lead to something in `document`."""
    node = document
    for depth, part in enumerate(parts):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return depth
    return len(parts)


def collapse(document: dict[str, Any], gaps: dict[str, str]) -> dict[str, str]:
    """The gaps as a validator sees them: a member of an object that was left out altogether is named by that
    object (the first absent step of its pointer), with the reasons of the members it stands for (` | `)."""
    out: dict[str, list[str]] = {}
    for pointer, reason in gaps.items():
        parts = pointer.strip("/").split("/")
        depth = _present(document, parts)
        if depth == len(parts):
            continue  # filled after all
        reasons = out.setdefault("/" + "/".join(parts[: depth + 1]), [])
        if reason not in reasons:
            reasons.append(reason)
    return {pointer: " | ".join(reasons) for pointer, reasons in sorted(out.items())}


# Static data the 6.1.0 aspect has no member for (companies and plants are named by BPN, recycled content only as
# the sum of both shares, a substance's hazard classes not at all): carried in the entry's `platform` member.
NOT_CARRIED_STATIC = (
    "operator",
    "manufacturing_place",
    "spare_part_sources",
    "absolute_carbon_footprint_t_co2e",
    "supply_chain_index",
    "renewable_content_share_pct",
    "maximum_permitted_power_w",
    "power_to_energy_ratio_w_per_wh",
    "cycle_life_reference_test",
    "cycle_life_test_c_rate",
    "critical_raw_materials",
    *(
        f"{kind}_consumer_recycled_{m}_share_pct"
        for kind in ("pre", "post")
        for m in ("nickel", "cobalt", "lithium", "lead")
    ),
    "hazardous_substances[].hazard_classes",
)
# Of the manufacturer the aspect carries only the web site (in `sources`).
MANUFACTURER_CARRIED = ("web_address",)


def platform_fields(static: dict[str, Any]) -> list[str]:
    """The static data paths of one passport the 6.1.0 aspect cannot carry, for the entry's `platform` member."""
    return [*NOT_CARRIED_STATIC, *without(static, "manufacturer", MANUFACTURER_CARRIED), *status_field(static)]
