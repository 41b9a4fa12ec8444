"""EPCIS 2.0 for the custody service: capture rules, CBV 2.0 event hash, custody mapping. Pure, no I/O.

- ``validate_document(doc) -> list[Violation]``: EPCIS 2.0 capture rules (``validation``).
- ``event_hash(event, prefixes)`` / ``prehash_string``: CBV 2.0 event hash (``event_hash``);
  ``context_prefixes(doc["@context"])`` gives the prefixes.
- ``observations_from_document(doc)`` / ``to_custody_observation(event, prefixes)``: ``CustodyObservation``
  (``mapping``).
- ``to_digital_link(identifier)``: GS1 keys as constrained canonical Digital Links (``identifiers``).
"""

from services.custody.domain.epcis.event_hash import context_prefixes, event_hash, prehash_string
from services.custody.domain.epcis.identifiers import to_digital_link
from services.custody.domain.epcis.mapping import (
    CustodyKind,
    CustodyObservation,
    observations_from_document,
    to_custody_observation,
)
from services.custody.domain.epcis.validation import validate_document

__all__ = [
    "CustodyKind",
    "CustodyObservation",
    "context_prefixes",
    "event_hash",
    "observations_from_document",
    "prehash_string",
    "to_custody_observation",
    "to_digital_link",
    "validate_document",
]
