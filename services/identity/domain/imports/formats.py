"""An import request's document, passport by passport, as mint items or refusals: the format's mapping, the import's
defaults, then the mint rules (the same `check_items` a mint runs), each refusal pointing at the imported document.
No I/O: what needs the database (GTIN prefixes, passports the tenant has) is the use case's."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from contracts.errors import ValidationFailed, Violation
from contracts.identity import MintDefaults
from services.identity.domain import passports
from services.identity.domain.imports import batterypass, catenax
from services.identity.domain.imports.document import ImportedPassport, mint_item, relocated

TOO_MANY_PASSPORTS = "too_many_passports"
MAX_PASSPORTS = 100_000  # as a bulk mint


class ImportFormat(StrEnum):
    batterypass_1_2 = "batterypass-1.2"
    catenax_batterypass_6_1 = "catenax-batterypass-6.1"


@dataclass(frozen=True)
class FormatMapping:
    passports_of: Callable[[Any], tuple[list[tuple[str, Mapping[str, Any]]], list[Violation], list[Violation]]]
    mapped: Callable[[Mapping[str, Any], str], ImportedPassport]


MAPPINGS: dict[ImportFormat, FormatMapping] = {
    ImportFormat.batterypass_1_2: FormatMapping(batterypass.passports_of, batterypass.from_batterypass),
    ImportFormat.catenax_batterypass_6_1: FormatMapping(catenax.passports_of, catenax.from_catenax),
}


@dataclass
class PreparedImport:
    """The passports of one import: `imported[i]` is the i-th passport of the document; `items` those that may be
    minted (key: i), `refused` the others' violations (key: i); `not_imported` the document's own header fields."""

    imported: list[ImportedPassport]
    items: dict[int, passports.MintItem] = field(default_factory=dict)
    refused: dict[int, list[Violation]] = field(default_factory=dict)
    not_imported: list[Violation] = field(default_factory=list)

    def copy(self) -> PreparedImport:
        refused = {index: list(found) for index, found in self.refused.items()}
        return PreparedImport(self.imported, dict(self.items), refused, self.not_imported)

    def refuse(self, found: Sequence[Violation]) -> None:
        """Move the items the mint rules' violations name (`<i>.…`) to the refused, pointing at the document;
        ValidationFailed when one names no passport (a defaults problem: the whole request's)."""
        for violation in found:
            head = violation.field.split(".", 1)[0]
            if not head.isdigit() or int(head) not in self.items:
                raise ValidationFailed(list(found))
        for violation in found:
            index = int(violation.field.split(".", 1)[0])
            self.items.pop(index, None)
            self.refused.setdefault(index, []).extend(relocated(self.imported[index], [violation], str(index)))


def prepare(format_: ImportFormat, document: Any, defaults: MintDefaults | None, *, now: datetime) -> PreparedImport:
    """Map and check every passport of `document`; ValidationFailed when the document is not `format_` at all."""
    mapping = MAPPINGS[format_]
    entries, wrong, header = mapping.passports_of(document)
    if wrong:
        raise ValidationFailed(wrong)
    if len(entries) > MAX_PASSPORTS:
        raise ValidationFailed(
            [
                Violation(
                    field="document.passports",
                    reason=TOO_MANY_PASSPORTS,
                    message=f"The document holds {len(entries):,} passports; import at most {MAX_PASSPORTS:,} at once.",
                )
            ]
        )
    prepared = PreparedImport(imported=[mapping.mapped(entry, path) for path, entry in entries], not_imported=header)
    for index, imported in enumerate(prepared.imported):
        item, violations = mint_item(imported, index, defaults)
        if item is None:
            prepared.refused[index] = violations
        else:
            prepared.items[index] = item
    prepared.refuse(passports.check_items(list(prepared.items.values()), now=now))
    return prepared
