"""The battery an imported passport is for, from the product identifier the document gives: a GS1 Digital Link URI
(`https://<resolver>/01/<GTIN>/21/<serial>`, GTIN and serial and batch taken from it), another platform's passport URI
(`…/p/<id>`: no battery identifier in it), or the OEM's serial itself. No I/O."""

from __future__ import annotations

from typing import Any

from contracts.errors import ValidationFailed, Violation
from services.identity.domain.identifiers import parse_digital_link
from services.identity.domain.imports.document import BATTERY_IDENTIFIER_MISSING, ImportedPassport

_MISSING = (
    "The passport names no battery identifier; each imported passport needs the OEM's serial (or a GS1 Digital "
    "Link URI) there."
)


def subject_from(imported: ImportedPassport, product_identifier: Any, place: str) -> None:
    """Set the imported passport's subject (a single battery) from its product identifier, or say why not."""
    imported.subject_place = place
    if product_identifier is None or product_identifier == "":
        imported.violations.append(Violation(field=place, reason=BATTERY_IDENTIFIER_MISSING, message=_MISSING))
        return
    if not isinstance(product_identifier, str):
        # Left to the subject's contract to refuse, naming this place.
        imported.subject = {"kind": "battery", "battery_identifier": product_identifier}
        return
    text = product_identifier.strip()
    if text.lower().startswith(("http://", "https://")) and "/01/" in text:
        try:
            link = parse_digital_link(text, field=place)
        except ValidationFailed as failed:
            imported.violations += failed.violations
            return
        imported.subject = {"kind": "battery", "battery_identifier": link.serial, "gtin": link.gtin}
        if link.batch is not None:
            imported.subject["batch_number"] = link.batch
        return
    if text.lower().startswith(("http://", "https://")):
        imported.violations.append(
            Violation(
                field=place,
                reason=BATTERY_IDENTIFIER_MISSING,
                message=f"{text[:80]!r} is a URI without a GS1 GTIN and serial (/01/…/21/…); give the battery's "
                "serial number or its GS1 Digital Link URI.",
            )
        )
        return
    imported.subject = {"kind": "battery", "battery_identifier": text}
