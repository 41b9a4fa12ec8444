"""EPCIS 2.0 capture rules for JSON(-LD) documents: every broken rule becomes a ``Violation``.

The rules follow the GS1 EPCIS 2.0 standard and its JSON Schema (``EPCIS-JSON-Schema.json``), written in
code so that each rejection names the field, a stable reason code and what to do. Reason codes:

| reason | rule |
| --- | --- |
| ``not_an_object`` | the document (or an event) is not a JSON object |
| ``missing_context`` | no ``@context`` |
| ``missing_epcis_context`` | ``@context`` does not reference the EPCIS 2.0 context |
| ``invalid_context`` | ``@context`` is not a URI, an object or a list of those |
| ``invalid_document_type`` | ``type`` is not ``EPCISDocument`` |
| ``invalid_schema_version`` | ``schemaVersion`` is not a 2.x version string |
| ``missing_required_field`` | a mandatory field is absent |
| ``invalid_field_type`` | a field has the wrong JSON type (object, list, string) |
| ``unknown_field`` | a field that is neither standard for its place nor an extension IRI |
| ``unknown_event_type`` | event ``type`` is not one of the five EPCIS 2.0 event types |
| ``invalid_event_time`` | ``eventTime`` is not an RFC 3339 date-time with offset |
| ``invalid_timestamp`` | another date-time field (creationDate, recordTime, sensor times, ...) is not one |
| ``invalid_time_zone_offset`` | ``eventTimeZoneOffset`` is not ``±hh:mm`` within -14:00..+14:00 |
| ``invalid_action`` | ``action`` is not ADD, OBSERVE or DELETE |
| ``non_standard_biz_step`` | ``bizStep`` is a bare word that is not a CBV 2.0 term (custom ones are URIs) |
| ``non_standard_disposition`` | likewise for ``disposition`` and ``persistentDisposition`` |
| ``non_standard_biz_transaction_type`` | likewise for a business transaction ``type`` |
| ``non_standard_source_destination_type`` | likewise for a source or destination ``type`` |
| ``non_standard_error_reason`` | likewise for ``errorDeclaration.reason`` |
| ``non_standard_sensor_alert`` | likewise for a sensor report's ``exception`` |
| ``non_standard_component`` | likewise for a sensor report's ``component`` |
| ``invalid_uri`` | an identifier that is not an absolute URI |
| ``duplicate_identifier`` | the same identifier twice in one EPC list |
| ``invalid_quantity`` | ``quantity`` is not a JSON number |
| ``invalid_uom`` | ``uom`` of a quantity is not a 2-3 character UN/CEFACT code |
| ``uom_without_quantity`` | ``uom`` given without ``quantity`` |
| ``invalid_number`` / ``invalid_boolean`` / ``invalid_hex_binary`` | sensor report values of the wrong kind |
| ``empty_list`` | a list that must not be empty is |
| ``missing_what`` | the event names no objects (EPC list, quantities, ...) as its event type requires |
| ``ilmd_not_allowed`` | ``ilmd`` on an ObjectEvent whose action is not ADD |

Deliberate leniencies, each needed by real documents we must accept (``shared/fixtures/epcis/battery``,
``openepcis/valid``): keys starting with ``_`` are annotations (JSON-LD drops keys that expand to no IRI)
and are ignored; CBV 1.x URNs (``urn:epcglobal:cbv:btt:po``) are accepted like any URI; a sensor report
``type`` may be any non-empty string, and its numeric values may be decimal strings (``"94.2"``).
``quantity`` stays strict: a JSON number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from contracts.errors import Violation
from services.custody.domain.epcis.field_checks import (
    Checks,
    check_field,
    check_timestamp,
    check_uri,
    json_path,
    missing,
    unknown_fields,
    wrong_type,
)
from services.custody.domain.epcis.vocabulary import EPCIS_CONTEXT_URIS

EVENT_TYPES: Final = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)

_COMMON_FIELDS: Final = frozenset(
    {
        "@context",
        "type",
        "eventTime",
        "recordTime",
        "eventTimeZoneOffset",
        "eventID",
        "certificationInfo",
        "errorDeclaration",
        "bizStep",
        "disposition",
        "persistentDisposition",
        "readPoint",
        "bizLocation",
        "bizTransactionList",
        "sourceList",
        "destinationList",
        "sensorElementList",
    }
)
FIELDS_BY_TYPE: Final = {
    "ObjectEvent": _COMMON_FIELDS | {"action", "epcList", "quantityList", "ilmd"},
    "AggregationEvent": _COMMON_FIELDS | {"action", "parentID", "childEPCs", "childQuantityList"},
    "TransactionEvent": _COMMON_FIELDS | {"action", "parentID", "epcList", "quantityList"},
    "TransformationEvent": _COMMON_FIELDS
    | {
        "inputEPCList",
        "inputQuantityList",
        "outputEPCList",
        "outputQuantityList",
        "transformationID",
        "ilmd",
    },
    "AssociationEvent": _COMMON_FIELDS | {"action", "parentID", "childEPCs", "childQuantityList"},
}
_DOCUMENT_FIELDS: Final = frozenset(
    {
        "@context",
        "id",
        "type",
        "schemaVersion",
        "creationDate",
        "instanceIdentifier",
        "sender",
        "receiver",
        "epcisHeader",
        "epcisBody",
    }
)
_SCHEMA_VERSION: Final = re.compile(r"2(?:\.\d+)*")


def _non_empty(event: Mapping[str, object], *keys: str) -> bool:
    return any(isinstance(event.get(key), list) and event[key] for key in keys)


def _names_objects(event: Mapping[str, object], event_type: str) -> bool:
    """EPCIS 2.0 "what" dimension: which object lists each event type needs (JSON Schema anyOf rules)."""
    deleting = event.get("action") == "DELETE"
    if event_type == "ObjectEvent":
        sensed_at_place = _non_empty(event, "sensorElementList") and "readPoint" in event
        return isinstance(event.get("epcList"), list) or _non_empty(event, "quantityList") or sensed_at_place
    if event_type == "TransactionEvent":
        return isinstance(event.get("epcList"), list) or _non_empty(event, "quantityList") or deleting
    if event_type == "TransformationEvent":
        inputs = _non_empty(event, "inputEPCList", "inputQuantityList")
        outputs = _non_empty(event, "outputEPCList", "outputQuantityList")
        return (inputs and outputs) or ("transformationID" in event and (inputs or outputs))
    return _non_empty(event, "childEPCs", "childQuantityList") or deleting


_REQUIRED: Final = {
    "eventTime": "every event says when it happened",
    "eventTimeZoneOffset": "every event gives the local time zone offset of eventTime, e.g. +02:00",
}


def _check_event_rules(event: Mapping[str, object], path: str, event_type: str) -> Checks:
    for key, why in _REQUIRED.items():
        if key not in event:
            yield missing(json_path(path, key), why)
    if event_type != "TransformationEvent" and "action" not in event:
        yield missing(json_path(path, "action"), f"every {event_type} says ADD, OBSERVE or DELETE")
    if event_type == "AssociationEvent" and "parentID" not in event:
        yield missing(json_path(path, "parentID"), "an AssociationEvent names the parent of the association")
    if event_type == "AggregationEvent" and event.get("action") in ("ADD", "DELETE") and "parentID" not in event:
        yield missing(json_path(path, "parentID"), "an AggregationEvent that adds or deletes names its parent")
    if event_type == "TransactionEvent":
        if "bizTransactionList" not in event:
            yield missing(json_path(path, "bizTransactionList"), "a TransactionEvent names its business transactions")
        elif event["bizTransactionList"] == []:
            yield Violation(
                field=json_path(path, "bizTransactionList"),
                reason="empty_list",
                message="Add at least one business transaction to a TransactionEvent.",
            )
    if not _names_objects(event, event_type):
        yield Violation(
            field=path,
            reason="missing_what",
            message=f"Say which objects this {event_type} is about (EPC list, quantity list or child EPCs).",
        )
    if event_type == "ObjectEvent" and "ilmd" in event and event.get("action") != "ADD":
        yield Violation(
            field=json_path(path, "ilmd"),
            reason="ilmd_not_allowed",
            message="Remove `ilmd` or set action to ADD: lot master data belongs to the creating event.",
        )


def validate_event(event: object, path: str = "", terms: frozenset[str] = frozenset()) -> list[Violation]:
    """Violations of one event; ``terms`` are bare keys the document's own ``@context`` defines."""
    if not isinstance(event, dict):
        return [Violation(field=path, reason="not_an_object", message="Write each event as a JSON object.")]
    event_type = event.get("type")
    if event_type is None:
        return [missing(json_path(path, "type"), f"an event names its type, one of {', '.join(EVENT_TYPES)}")]
    if event_type not in EVENT_TYPES:
        return [
            Violation(
                field=json_path(path, "type"),
                reason="unknown_event_type",
                message=f"Use one of {', '.join(EVENT_TYPES)} as event type, not {event_type!r}.",
            )
        ]
    violations = list(unknown_fields(event, path, FIELDS_BY_TYPE[event_type], terms, str(event_type)))
    for key, value in event.items():
        if key in FIELDS_BY_TYPE[event_type]:
            violations.extend(check_field(key, value, json_path(path, key), terms))
    violations.extend(_check_event_rules(event, path, event_type))
    return violations


def _context_entries(context: object) -> list[object] | None:
    if isinstance(context, str | dict):
        return [context]
    if isinstance(context, list) and all(isinstance(entry, str | dict) for entry in context):
        return context
    return None


def context_terms(context: object) -> frozenset[str]:
    """Bare keys (terms and prefixes) that a document's inline ``@context`` objects define."""
    entries = _context_entries(context) or []
    return frozenset(key for entry in entries if isinstance(entry, dict) for key in entry if not key.startswith("@"))


def _check_context(doc: Mapping[str, object]) -> Checks:
    if "@context" not in doc:
        yield Violation(
            field="@context",
            reason="missing_context",
            message="Add `@context` with https://ref.gs1.org/standards/epcis/epcis-context.jsonld.",
        )
        return
    entries = _context_entries(doc["@context"])
    if entries is None:
        yield Violation(
            field="@context",
            reason="invalid_context",
            message="Make `@context` a URI, an object or a list of those.",
        )
    elif not any(isinstance(entry, str) and entry in EPCIS_CONTEXT_URIS for entry in entries):
        yield Violation(
            field="@context",
            reason="missing_epcis_context",
            message="Include https://ref.gs1.org/standards/epcis/epcis-context.jsonld in `@context`.",
        )


def _check_header(doc: Mapping[str, object], terms: frozenset[str]) -> Checks:
    yield from _check_context(doc)
    yield from unknown_fields(doc, "", _DOCUMENT_FIELDS, terms, "an EPCISDocument")
    if "type" not in doc:
        yield missing("type", "an EPCIS document declares type EPCISDocument")
    elif doc["type"] != "EPCISDocument":
        yield Violation(
            field="type",
            reason="invalid_document_type",
            message=f"Set `type` to EPCISDocument: capture accepts EPCIS documents, not {doc['type']!r}.",
        )
    if "schemaVersion" not in doc:
        yield missing("schemaVersion", "an EPCIS 2.0 document declares schemaVersion 2.0")
    elif not isinstance(doc["schemaVersion"], str) or not _SCHEMA_VERSION.fullmatch(doc["schemaVersion"]):
        yield Violation(
            field="schemaVersion",
            reason="invalid_schema_version",
            message=f'Set `schemaVersion` to "2.0", not {doc["schemaVersion"]!r}.',
        )
    if "creationDate" not in doc:
        yield missing("creationDate", "an EPCIS document says when it was created")
    else:
        yield from check_timestamp(doc["creationDate"], "creationDate")
    if "id" in doc:
        yield from check_uri(doc["id"], "id")
    for key in ("instanceIdentifier", "sender", "receiver"):
        if key in doc and not isinstance(doc[key], str):
            yield wrong_type(key, "a string")
    if "epcisHeader" in doc and not isinstance(doc["epcisHeader"], dict):
        yield wrong_type("epcisHeader", "an object")


def _event_list(doc: Mapping[str, object]) -> tuple[list[object], list[Violation]]:
    body = doc.get("epcisBody")
    if body is None:
        return [], [missing("epcisBody", "an EPCIS document carries its events in epcisBody.eventList")]
    if not isinstance(body, dict):
        return [], [wrong_type("epcisBody", "an object with `eventList`")]
    events = body.get("eventList")
    if events is None:
        return [], [missing("epcisBody.eventList", "an EPCIS document carries its events in epcisBody.eventList")]
    if not isinstance(events, list):
        return [], [wrong_type("epcisBody.eventList", "a JSON array of events")]
    return events, []


def validate_document(doc: object) -> list[Violation]:
    """Every violation of the EPCIS 2.0 capture rules in a parsed JSON document; [] when it is acceptable."""
    if not isinstance(doc, dict):
        return [Violation(field="", reason="not_an_object", message="Send an EPCISDocument JSON object.")]
    terms = context_terms(doc.get("@context"))
    violations = list(_check_header(doc, terms))
    events, body_violations = _event_list(doc)
    violations.extend(body_violations)
    for index, event in enumerate(events):
        violations.extend(validate_event(event, f"epcisBody.eventList.{index}", terms))
    return violations
