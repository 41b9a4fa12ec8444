"""What every import format shares: reading a passport of an exported document while remembering what was read (the
rest is listed back as not imported), the passport as identity will mint it, and the way back from a mint rule's
field to the place in the imported document. No I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import pydantic

from contracts.attributes import BatteryCategory
from contracts.errors import Violation
from contracts.identity import MintDefaults
from contracts.passport_data import PassportSubject, StaticPassportData
from services.identity.domain.passports import CATEGORY_REQUIRED, MintItem
from services.identity.domain.violations import pydantic_violations

NOT_THE_DECLARED_FORMAT = "not_the_declared_format"
BATTERY_IDENTIFIER_MISSING = "battery_identifier_missing"
INVALID_VALUE = "invalid_value"

# Reasons a field of the imported document is not imported (listed back, never dropped silently).
ASSIGNED_BY_PLATFORM = "assigned_by_platform"
DYNAMIC_DATA = "dynamic_data"
EXPORT_NOTE = "export_note"
DERIVED = "derived"
NO_PLACE_IN_MODEL = "no_place_in_model"

NOT_IMPORTED_MESSAGES = {
    ASSIGNED_BY_PLATFORM: "Assigned by the platform that minted the passport; this platform mints its own.",
    DYNAMIC_DATA: "Dynamic data recorded over the battery's life (custody, status changes, readings), not at mint.",
    EXPORT_NOTE: "The exporter's note about its document, not passport data.",
    DERIVED: "Derived by the exporter from fields imported here (composition, recycled shares, critical raw "
    "materials), or summed from several of them; not kept on its own.",
    NO_PLACE_IN_MODEL: "This platform's passport data has no field for it.",
}

Path = tuple[str | int, ...]


def dotted(prefix: str, keys: Path) -> str:
    return ".".join([prefix, *(str(key) for key in keys)]) if prefix else ".".join(str(key) for key in keys)


def not_imported(where: str, reason: str, message: str | None = None) -> Violation:
    return Violation(field=where, reason=reason, message=message or NOT_IMPORTED_MESSAGES[reason])


class Reader:
    """A passport of an imported document, read by path; what was never read nor skipped is left over."""

    def __init__(self, root: Mapping[str, Any], path: str) -> None:
        self.root = root
        self.path = path
        self._read: set[Path] = set()
        self.not_imported: list[Violation] = []

    def at(self, keys: Path) -> str:
        return dotted(self.path, keys)

    def get(self, *keys: str | int) -> Any:
        """The value at `keys` (None when absent), marked as read (with all it holds)."""
        node = self.peek(*keys)
        self._read.add(keys)
        return node

    def peek(self, *keys: str | int) -> Any:
        """The value at `keys` (None when absent), not marked as read."""
        node: Any = self.root
        for key in keys:
            if isinstance(key, int) and isinstance(node, list) and 0 <= key < len(node):
                node = node[key]
            elif isinstance(key, str) and isinstance(node, Mapping):
                node = node.get(key)
            else:
                return None
        return node

    def items(self, *keys: str | int) -> list[tuple[int, Any]]:
        """The entries of the list at `keys` with their indexes (none when it is no list); the list itself is not
        marked as read, its entries' fields are, one by one."""
        node = self.peek(*keys)
        return list(enumerate(node)) if isinstance(node, list) else []

    def skip(self, keys: Path, reason: str, message: str | None = None) -> None:
        """A field present in the document that is deliberately not imported, with why."""
        value = self.get(*keys)
        if value is not None:
            self.not_imported.append(not_imported(self.at(keys), reason, message))

    def leftovers(self) -> list[Violation]:
        """Every field neither read nor skipped, as `no_place_in_model` (whole subtrees reported once)."""
        found: list[Violation] = []
        read_below: set[Path] = {keys[:n] for keys in self._read for n in range(len(keys) + 1)}

        def walk(node: Any, keys: Path) -> None:
            if keys in self._read:
                return
            if keys not in read_below:
                found.append(not_imported(self.at(keys), NO_PLACE_IN_MODEL))
                return
            children = node.items() if isinstance(node, Mapping) else enumerate(node) if isinstance(node, list) else ()
            for key, child in children:
                walk(child, (*keys, key))

        walk(self.root, ())
        return found


Entries = tuple[list[tuple[str, Mapping[str, Any]]], list[Violation], list[Violation]]


def export_entries(
    document: Any,
    format_name: str,
    not_this_format: Callable[[str, str], Violation],
    is_single: Callable[[Mapping[str, Any]], bool],
    neither: str,
) -> Entries:
    """The entries of an export document as reporting writes it (`{"format", ..., "passports": [...]}`), or the one
    entry that is the document (`is_single`), each with its path in the request; violations when the document is
    not that format (`neither`: what it lacks); the header's other fields, listed as not imported."""
    if isinstance(document, Mapping) and "passports" in document:
        declared = document.get("format")
        if declared != format_name:
            return [], [not_this_format("document.format", f"the document says its format is {declared!r}")], []
        entries = document.get("passports")
        if not isinstance(entries, list) or not all(isinstance(entry, Mapping) for entry in entries):
            return [], [not_this_format("document.passports", "its passports are no list of objects")], []
        header = [
            not_imported(f"document.{key}", EXPORT_NOTE) for key in document if key not in ("format", "passports")
        ]
        return [(f"document.passports.{i}", entry) for i, entry in enumerate(entries)], [], header
    if isinstance(document, Mapping) and is_single(document):
        return [("document", document)], [], []
    return [], [not_this_format("document", f"it has {neither}")], []


def number(value: Any) -> Any:
    """A JSON number as the Decimal it was written as (a float's shortest repr: 512.5, never 512.5000000001);
    anything else unchanged, for the contract's validation to refuse."""
    if isinstance(value, float):
        try:
            return Decimal(repr(value))
        except InvalidOperation:
            return value
    return value


@dataclass
class ImportedPassport:
    """One passport of an imported document mapped to identity's terms (JSON values, not yet validated), with the
    place in the document every value came from."""

    path: str  # the passport in the request: "document.passports.3" (or "document" for a single passport)
    field_places: Mapping[str, str]  # the format's static data field -> its place in a passport, relative
    subject: dict[str, Any] = field(default_factory=dict)
    subject_place: str = ""
    category: Any = None
    category_place: str = ""
    product_family: Any = None
    static_data: dict[str, Any] = field(default_factory=dict)
    # static data path -> the document's keys it came from (made a path only for a refusal: most are never needed)
    places: dict[str, Path] = field(default_factory=dict)
    not_imported: list[Violation] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    defaulted: set[str] = field(default_factory=set)  # static data fields the import's defaults gave
    # static data path -> its place in the request, for what the exporter's `platform` member gave (platform.py)
    from_platform: dict[str, str] = field(default_factory=dict)

    @property
    def battery_identifier(self) -> str | None:
        value = self.subject.get("battery_identifier")
        return value if isinstance(value, str) else None

    def put(self, name: str, value: Any, keys: Path) -> None:
        """Set a static data field from the document's field at `keys`."""
        self.static_data[name] = value
        self.place(name, keys)

    def place(self, static_path: str, keys: Path) -> None:
        self.places[static_path] = keys

    def place_of(self, item_field: str) -> str:
        """Where a violation of the minted item (`subject.gtin`, `static_data.manufacturer.name`, `category`) points
        in the request: the document's field it came from (its aspects' or its `platform` member's), the place the
        format gives it, or the `defaults` of the import request when the format has no place for it."""
        head, _, rest = item_field.partition(".")
        if head == "subject":
            return self.subject_place
        if head == "category":
            return self.category_place
        if head != "static_data":
            return f"defaults.{item_field}"
        parts = rest.split(".")
        for end in range(len(parts), 0, -1):
            known = self.places.get(".".join(parts[:end]))
            if known is not None:
                return dotted(self.path, known)
            given = self.from_platform.get(".".join(parts[:end]))
            if given is not None:
                return given
        relative = self.field_places.get(parts[0])
        if relative is not None and parts[0] not in self.defaulted:
            return f"{self.path}.{relative}"
        return f"defaults.static_data.{rest}"


def relocated(imported: ImportedPassport, violations: Sequence[Violation], item_path: str) -> list[Violation]:
    """Violations of a mint item (fields under `item_path`) pointing at the imported document instead."""
    moved = []
    for violation in violations:
        where = violation.field
        inside = where[len(item_path) + 1 :] if where.startswith(f"{item_path}.") else where
        if where == "defaults.extensions" or where.startswith("defaults.extensions."):
            moved.append(violation)
            continue
        moved.append(violation.model_copy(update={"field": imported.place_of(inside)}))
    return moved


def filled(given: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """`given` with what it lacks taken from `defaults`: objects key by key (a manufacturer's trade name the
    document has no place for), lists of as many objects entry by entry, other lists and values whole; what
    `given` has wins."""
    merged = dict(defaults)
    for key, value in given.items():
        merged[key] = filled_value(value, merged.get(key))
    return merged


def filled_value(value: Any, default: Any) -> Any:
    """`value` with what it lacks taken from `default` (as `filled`, for any JSON value)."""
    if isinstance(value, dict) and isinstance(default, dict):
        return filled(value, default)
    # Entries of a list of objects the defaults give as many of: entry by entry (a substance's hazard classes).
    if isinstance(value, list) and isinstance(default, list) and len(value) == len(default):
        return [filled_value(entry, fallback) for entry, fallback in zip(value, default, strict=True)]
    return value


def mint_item(
    imported: ImportedPassport, index: int, defaults: MintDefaults | None
) -> tuple[MintItem | None, list[Violation]]:
    """The mint item of an imported passport: its values, then the import's defaults for what it does not give
    (the document wins where both give a field). Refusals point at the imported document."""
    defaults = defaults or MintDefaults()
    violations = list(imported.violations)
    if any(v.reason == NOT_THE_DECLARED_FORMAT for v in violations):
        return None, violations
    path = str(index)
    subject = None
    try:
        if imported.subject:  # else its mapping said why there is none
            subject = PassportSubject.model_validate(imported.subject)
    except pydantic.ValidationError as exc:
        violations += relocated(imported, pydantic_violations(exc, "subject."), "")
    category = imported.category if imported.category is not None else defaults.category
    if category is None:
        violations.append(
            Violation(
                field=imported.category_place,
                reason=CATEGORY_REQUIRED,
                message="The document names no battery category; give it there or in defaults.category.",
            )
        )
    given = defaults.static_data.model_dump(exclude_none=True) if defaults.static_data else {}
    imported.defaulted = set(given) - set(imported.static_data)
    try:
        static_data = StaticPassportData.model_validate(filled(imported.static_data, given))
    except pydantic.ValidationError as exc:
        violations += relocated(imported, pydantic_violations(exc, "static_data."), "")
        static_data = None
    try:
        category = BatteryCategory(category) if category is not None else None
    except ValueError:
        violations.append(
            Violation(
                field=imported.category_place,
                reason=INVALID_VALUE,
                message=f"{category!r} is no battery category of this platform (ev, lmt, industrial, stationary).",
            )
        )
        category = None
    if violations or subject is None or static_data is None or category is None:
        return None, violations
    return (
        MintItem(
            path=path,
            subject=subject,
            category=category,
            product_family=imported.product_family if imported.product_family is not None else defaults.product_family,
            static_data=static_data,
            extensions=defaults.extensions or {},
            static_data_path=f"{path}.static_data",
            extensions_path="defaults.extensions",
        ),
        [],
    )
