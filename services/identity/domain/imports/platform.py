"""The `platform` member of a passport exported by bpass (reporting writes it beside the aspects of both formats):
what bpass held that the published aspects have no member for, read as plain JSON. Its values fill what the aspects
lack; where both say something the aspects win (and the member's value is listed back as not imported). A
third-party document has no such member: what the format cannot carry comes from the import's `defaults`. No I/O.

Shape: `{"note": str, "battery_identifier": str, "gtin": str, "batch_number": str, "static_data": {<static data
fields at their bpass names; an object may hold only some members, a list of objects only some members of each
entry>}}`, every member optional."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts.errors import Violation
from services.identity.domain.imports.document import (
    EXPORT_NOTE,
    INVALID_VALUE,
    ImportedPassport,
    filled_value,
    not_imported,
)

MEMBER = "platform"
PLATFORM_BATTERY_MISMATCH = "platform_battery_mismatch"
GIVEN_BY_ASPECTS = "given_by_aspects"
GIVEN_BY_ASPECTS_MESSAGE = "The document's aspects give this field too; where both say something the aspects win."
SUBJECT_FIELDS = ("gtin", "batch_number")


def read_platform(imported: ImportedPassport, member: Any, where: str) -> None:
    """Fill `imported` from a passport's `platform` member found at `where` in the request (None: no member)."""
    if member is None:
        return
    if not isinstance(member, Mapping):
        _refuse(imported, where, INVALID_VALUE, "`platform` is an object (as bpass exports it).")
        return
    if member.get("note") is not None:
        imported.not_imported.append(not_imported(f"{where}.note", EXPORT_NOTE))
    if not _subject(imported, member, where):
        return
    static = member.get("static_data")
    if static is None:
        return
    if not isinstance(static, Mapping):
        _refuse(imported, f"{where}.static_data", INVALID_VALUE, "`platform.static_data` is an object.")
        return
    for name, value in static.items():
        place = f"{where}.static_data.{name}"
        if value is None:
            continue
        mine = imported.static_data.get(name)
        if mine is None:
            imported.static_data[name] = value
            imported.from_platform[name] = place
            continue
        merged = filled_value(mine, value)
        if merged == mine:
            if merged != value:
                imported.not_imported.append(not_imported(place, GIVEN_BY_ASPECTS, GIVEN_BY_ASPECTS_MESSAGE))
            continue
        imported.static_data[name] = merged
        for leaf in _leaves(value, name):
            keys = leaf.split(".")[1:]
            present = _at(mine, keys)
            if present is None:
                imported.from_platform[leaf] = f"{where}.static_data.{leaf}"
            elif present != _at(value, keys):
                imported.not_imported.append(
                    not_imported(f"{where}.static_data.{leaf}", GIVEN_BY_ASPECTS, GIVEN_BY_ASPECTS_MESSAGE)
                )


def _subject(imported: ImportedPassport, member: Mapping[str, Any], where: str) -> bool:
    """The battery the member names must be the document's; its GTIN and batch fill what the aspects lack."""
    named = member.get("battery_identifier")
    mine = imported.battery_identifier
    if named is not None and mine is not None and named != mine:
        _refuse(
            imported,
            f"{where}.battery_identifier",
            PLATFORM_BATTERY_MISMATCH,
            f"`platform` names the battery {str(named)[:80]!r}, the aspects {mine[:80]!r}: it is not this passport's.",
        )
        return False
    for name in SUBJECT_FIELDS:
        value = member.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            _refuse(imported, f"{where}.{name}", INVALID_VALUE, f"`platform.{name}` is a string.")
            return False
        if not imported.subject:  # the aspects name no battery: refused for that already
            continue
        present = imported.subject.get(name)
        if present is None:
            imported.subject[name] = value
        elif present != value:
            imported.not_imported.append(not_imported(f"{where}.{name}", GIVEN_BY_ASPECTS, GIVEN_BY_ASPECTS_MESSAGE))
    return True


def _refuse(imported: ImportedPassport, where: str, reason: str, message: str) -> None:
    imported.violations.append(Violation(field=where, reason=reason, message=message))


def _leaves(value: Any, prefix: str) -> list[str]:
    """The static data paths of every member an object or list value holds (`manufacturer.registered_trade_name`,
    `hazardous_substances.0.hazard_classes`); the value's own path when it is neither."""
    if isinstance(value, Mapping) and value:
        return [leaf for key, child in value.items() for leaf in _leaves(child, f"{prefix}.{key}")]
    if isinstance(value, list) and value and all(isinstance(entry, Mapping) for entry in value):
        return [leaf for index, entry in enumerate(value) for leaf in _leaves(entry, f"{prefix}.{index}")]
    return [prefix]


def _at(value: Any, keys: list[str]) -> Any:
    for key in keys:
        if isinstance(value, Mapping):
            value = value.get(key)
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value
