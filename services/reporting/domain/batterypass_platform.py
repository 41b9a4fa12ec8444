"""The `platform` member an exported passport carries beside its aspects (Battery Pass 1.2 and Catena-X 6.1.0): what
bpass holds that the published aspects have no member for, so that our own export imported back (identity's
`passports:import`) gives the passport as minted without the importer re-typing it. Pure.

It is not part of the Battery Pass or Catena-X model and no schema is applied to it (the conformance report is the
aspects'). It is built from the same tier-cut state as the aspects: a reader sees in it only fields its tier reads
(a static data field the tier cuts is absent from the state, the GTIN and batch come from `subject`, which only
the legitimate-interest tier and above read)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

NOTE = (
    "bpass data the published aspects have no member for; not part of the Battery Pass/Catena-X model and not "
    "validated against its schema. Static data fields are named as bpass names them (contracts/passport_data.py); "
    "an object holds only the members the aspects lack. Importing this document into bpass reads it."
)
EMPTY: tuple[Any, ...] = (None, [], {}, "")


def _pick(static: dict[str, Any], path: str) -> Any:
    """The value at a static data path: `manufacturer.registered_trade_name`, `hazardous_substances[].hazard_classes`
    (a list of as many objects as the field holds, each with only that member, so that it fills entry by entry)."""
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        entries = static.get(head[:-2])
        if not isinstance(entries, list) or not rest:
            return None
        picked = [
            {rest: entry[rest]} if isinstance(entry, dict) and entry.get(rest) not in EMPTY else {} for entry in entries
        ]
        return picked if any(picked) else None
    value = static.get(head)
    if not rest:
        return value
    return _pick(value, rest) if isinstance(value, dict) else None


def _put(target: dict[str, Any], path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        target[head[:-2]] = value
    elif rest:
        _put(target.setdefault(head, {}), rest, value)
    else:
        target[head] = value


def uncarried_static_data(static: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """Only the static data at `paths` (a whole field, one member of an object field, or one member of each entry
    of a list field), at their static data names."""
    out: dict[str, Any] = {}
    for path in paths:
        value = _pick(static, path)
        if value not in EMPTY:
            _put(out, path, value)
    return out


def without(static: dict[str, Any], field: str, carried: Iterable[str]) -> list[str]:
    """The members of an object field other than those the aspects carry, as paths (`manufacturer.name`...)."""
    value = static.get(field)
    if not isinstance(value, dict):
        return []
    kept = set(carried)
    return [f"{field}.{member}" for member in value if member not in kept]


def status_field(static: dict[str, Any]) -> list[str]:
    """`battery_status` when it is `original`: the aspects export no status and `original` alike (the import reads
    that as no status), so only this says the passport's static data named it."""
    return ["battery_status"] if static.get("battery_status") == "original" else []


def platform_member(state: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """`{"note", "battery_identifier", "gtin", "batch_number", "static_data"}` of one (tier-cut) passport state;
    members the state does not hold are left out."""
    subject: dict[str, Any] = state.get("subject") or {}
    static: dict[str, Any] = state.get("static_data") or {}
    member = {
        "note": NOTE,
        "battery_identifier": state.get("battery_identifier"),
        "gtin": subject.get("gtin"),
        "batch_number": subject.get("batch_number"),
        "static_data": uncarried_static_data(static, paths),
    }
    return {key: value for key, value in member.items() if value not in EMPTY or key == "static_data"}
