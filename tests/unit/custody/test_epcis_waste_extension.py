"""The platform's EPCIS extension fields for waste (`wasteCode`, `wasteOperation`): read by IRI or by a prefix the
document's @context gives the namespace, never by a prefix of another namespace."""

from __future__ import annotations

from typing import Any

from services.custody.domain.epcis import to_custody_observation
from services.custody.domain.epcis.mapping import WASTE_NAMESPACE, extension_key

EVENT: dict[str, Any] = {
    "type": "ObjectEvent",
    "eventTime": "2026-03-02T10:00:00.000Z",
    "eventTimeZoneOffset": "+01:00",
    "action": "OBSERVE",
    "bizStep": "collecting",
    "epcList": ["https://id.gs1.org/01/09521234000013/21/S1"],
}


def test_the_waste_code_is_read_by_iri_or_by_the_documents_prefix_of_the_namespace() -> None:
    by_iri = to_custody_observation({**EVENT, WASTE_NAMESPACE + "wasteCode": "16 06 01*"}, {})
    by_prefix = to_custody_observation({**EVENT, "bp:wasteOperation": " R4 "}, {"bp": WASTE_NAMESPACE})
    assert (by_iri.waste_code, by_iri.waste_operation) == ("16 06 01*", None)
    assert (by_prefix.waste_code, by_prefix.waste_operation) == (None, "R4")


def test_a_prefix_of_another_namespace_or_an_empty_value_is_no_waste_code() -> None:
    other = to_custody_observation({**EVENT, "bp:wasteCode": "16 06 01*"}, {"bp": "https://example.com/other/"})
    empty = to_custody_observation({**EVENT, WASTE_NAMESPACE + "wasteCode": "  "}, {})
    assert other.waste_code is None
    assert empty.waste_code is None


def test_the_field_a_refusal_names_is_the_documents_own_spelling() -> None:
    assert extension_key("wasteCode", {"ex": "https://example.com/", "bp": WASTE_NAMESPACE}) == "bp:wasteCode"
    assert extension_key("wasteCode", {"ex": "https://example.com/"}) == WASTE_NAMESPACE + "wasteCode"
