"""Shape rules for the standard fields of an EPCIS 2.0 event, one checker per field kind.

Each checker yields ``Violation``s for the value at a JSON path; ``validation.py`` decides which fields an
event type has and which are required.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Final

from contracts.errors import Violation
from services.custody.domain.epcis.timestamps import is_time_zone_offset, parse_timestamp
from services.custody.domain.epcis.vocabulary import Vocabulary, is_standard_term

ACTIONS: Final = ("ADD", "OBSERVE", "DELETE")

_SENSOR_METADATA_FIELDS: Final = frozenset(
    {
        "time",
        "startTime",
        "endTime",
        "deviceID",
        "deviceMetadata",
        "rawData",
        "dataProcessingMethod",
        "bizRules",
    }
)
_SENSOR_REPORT_URIS: Final = frozenset(
    {
        "deviceID",
        "deviceMetadata",
        "rawData",
        "dataProcessingMethod",
        "bizRules",
        "microorganism",
        "chemicalSubstance",
        "coordinateReferenceSystem",
        "uriValue",
    }
)
_SENSOR_REPORT_NUMBERS: Final = frozenset(
    {"value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue"}
)
_SENSOR_REPORT_FIELDS: Final = (
    _SENSOR_REPORT_URIS
    | _SENSOR_REPORT_NUMBERS
    | {"type", "exception", "time", "component", "stringValue", "booleanValue", "hexBinaryValue", "uom"}
)

_URI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+")
_UOM: Final = re.compile(r"[A-Z0-9]{2,3}")
_HEX_BINARY: Final = re.compile(r"[A-Fa-f0-9]+")
_DECIMAL: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

_VOCABULARY_REASONS: Final = {
    Vocabulary.BIZ_STEP: "non_standard_biz_step",
    Vocabulary.DISPOSITION: "non_standard_disposition",
    Vocabulary.BIZ_TRANSACTION_TYPE: "non_standard_biz_transaction_type",
    Vocabulary.SOURCE_DESTINATION_TYPE: "non_standard_source_destination_type",
    Vocabulary.ERROR_REASON: "non_standard_error_reason",
    Vocabulary.SENSOR_ALERT: "non_standard_sensor_alert",
    Vocabulary.COMPONENT: "non_standard_component",
}

Checks = Iterator[Violation]


def json_path(parent: str, key: str | int) -> str:
    return f"{parent}.{key}" if parent else str(key)


def field_name(path: str) -> str:
    """The field name a path ends with (``...readPoint.id`` -> ``readPoint.id`` for list items' keys)."""
    parts = path.split(".")
    named = [part for part in parts if not part.isdigit()]
    return ".".join(named[-2:]) if parts[-1] in ("id", "type") and len(named) > 1 else named[-1] if named else path


def _is_uri(value: object) -> bool:
    return isinstance(value, str) and _URI.fullmatch(value) is not None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_extension_key(key: str, terms: frozenset[str]) -> bool:
    """An IRI or CURIE (``ext:field``), a term of the document's own context, or an ``_`` annotation."""
    return key.startswith("_") or key in terms or _URI.fullmatch(key) is not None


def missing(path: str, what: str) -> Violation:
    return Violation(field=path, reason="missing_required_field", message=f"Add `{field_name(path)}`: {what}.")


def wrong_type(path: str, expected: str) -> Violation:
    return Violation(field=path, reason="invalid_field_type", message=f"Make `{field_name(path)}` {expected}.")


def unknown_fields(
    obj: Mapping[str, object], path: str, allowed: frozenset[str], terms: frozenset[str] | None, where: str
) -> Checks:
    """Fields outside ``allowed``; with ``terms`` given, extension IRIs and annotations are allowed too."""
    for key in obj:
        if key in allowed or (terms is not None and _is_extension_key(key, terms)):
            continue
        hint = " or write an extension as a namespaced IRI such as `ext:field`" if terms is not None else ""
        yield Violation(
            field=json_path(path, key),
            reason="unknown_field",
            message=f"Remove `{key}`: it is not a field of {where}{hint}.",
        )


def check_uri(value: object, path: str) -> Checks:
    if not _is_uri(value):
        yield Violation(
            field=path,
            reason="invalid_uri",
            message=f"Write `{field_name(path)}` as an absolute URI (EPC URN, Digital Link, ...), not {value!r}.",
        )


def check_timestamp(value: object, path: str, reason: str = "invalid_timestamp") -> Checks:
    if not isinstance(value, str) or parse_timestamp(value) is None:
        yield Violation(
            field=path,
            reason=reason,
            message=f"Write `{field_name(path)}` as an RFC 3339 date-time with offset, "
            f"e.g. 2026-07-22T06:45:00+02:00, not {value!r}.",
        )


def _check_term(value: object, path: str, vocabulary: Vocabulary) -> Checks:
    if isinstance(value, str) and (is_standard_term(vocabulary, value) or _is_uri(value)):
        return
    yield Violation(
        field=path,
        reason=_VOCABULARY_REASONS[vocabulary],
        message=f"Use a standard CBV 2.0 {vocabulary.value} term or a URI for a custom one, not {value!r}.",
    )


def _check_list(value: object, path: str, check_item: Callable[[object, str], Checks]) -> Checks:
    if not isinstance(value, list):
        yield wrong_type(path, "a JSON array")
        return
    for index, item in enumerate(value):
        yield from check_item(item, json_path(path, index))


def _check_epc_list(value: object, path: str) -> Checks:
    yield from _check_list(value, path, check_uri)
    if isinstance(value, list):
        seen: set[str] = set()
        for index, item in enumerate(value):
            if isinstance(item, str) and item in seen:
                yield Violation(
                    field=json_path(path, index),
                    reason="duplicate_identifier",
                    message=f"Remove the second {item}: each identifier may appear once in `{path}`.",
                )
            seen.add(item if isinstance(item, str) else "")


def _check_quantity_element(value: object, path: str) -> Checks:
    if not isinstance(value, dict):
        yield wrong_type(path, "an object {epcClass, quantity, uom}")
        return
    yield from unknown_fields(value, path, frozenset({"epcClass", "quantity", "uom"}), None, "a quantity element")
    if "epcClass" not in value:
        yield missing(json_path(path, "epcClass"), "a quantity element names its class (EPC class URI or Digital Link)")
    else:
        yield from check_uri(value["epcClass"], json_path(path, "epcClass"))
    if "quantity" in value and not _is_number(value["quantity"]):
        yield Violation(
            field=json_path(path, "quantity"),
            reason="invalid_quantity",
            message=f"Write `quantity` as a JSON number such as 20 or 2.5, not {value['quantity']!r}.",
        )
    if "uom" in value:
        if "quantity" not in value:
            yield Violation(
                field=json_path(path, "uom"),
                reason="uom_without_quantity",
                message="Add `quantity` or remove `uom`: a unit of measure needs a quantity.",
            )
        if not isinstance(value["uom"], str) or not _UOM.fullmatch(value["uom"]):
            yield Violation(
                field=json_path(path, "uom"),
                reason="invalid_uom",
                message=f"Write `uom` as a UN/CEFACT Rec 20 code such as KGM, not {value['uom']!r}.",
            )


def _check_location(value: object, path: str, terms: frozenset[str]) -> Checks:
    if not isinstance(value, dict):
        yield wrong_type(path, "an object with an `id` URI")
        return
    if "id" not in value:
        yield missing(json_path(path, "id"), "a location is identified by a URI such as an SGLN")
    else:
        yield from check_uri(value["id"], json_path(path, "id"))
    yield from unknown_fields(value, path, frozenset({"id"}), terms, path.rsplit(".", 1)[-1])


def _check_typed_link(value: object, path: str, link: str, vocabulary: Vocabulary, type_required: bool) -> Checks:
    if not isinstance(value, dict):
        yield wrong_type(path, f"an object {{type, {link}}}")
        return
    yield from unknown_fields(value, path, frozenset({"type", link}), None, f"a {link} entry")
    for key, required in ((link, True), ("type", type_required)):
        if key not in value:
            if required:
                yield missing(json_path(path, key), f"each entry needs its `{key}`")
        elif key == link:
            yield from check_uri(value[key], json_path(path, key))
        else:
            yield from _check_term(value[key], json_path(path, key), vocabulary)


def _check_persistent_disposition(value: object, path: str) -> Checks:
    if not isinstance(value, dict):
        yield wrong_type(path, "an object {set, unset}")
        return
    yield from unknown_fields(value, path, frozenset({"set", "unset"}), None, "persistentDisposition")
    if "set" not in value and "unset" not in value:
        yield missing(json_path(path, "set"), "persistentDisposition sets or unsets at least one disposition")
    for key in ("set", "unset"):
        if key in value:
            if isinstance(value[key], list) and not value[key]:
                yield Violation(field=json_path(path, key), reason="empty_list", message=f"Remove the empty `{key}`.")
            yield from _check_list(
                value[key],
                json_path(path, key),
                lambda item, at: _check_term(item, at, Vocabulary.DISPOSITION),
            )


def _check_error_declaration(value: object, path: str, terms: frozenset[str]) -> Checks:
    if not isinstance(value, dict):
        yield wrong_type(path, "an object {declarationTime, reason, correctiveEventIDs}")
        return
    allowed = frozenset({"declarationTime", "reason", "correctiveEventIDs"})
    yield from unknown_fields(value, path, allowed, terms, "errorDeclaration")
    if "declarationTime" not in value:
        yield missing(json_path(path, "declarationTime"), "an error declaration says when it was declared")
    else:
        yield from check_timestamp(value["declarationTime"], json_path(path, "declarationTime"))
    if "reason" in value:
        yield from _check_term(value["reason"], json_path(path, "reason"), Vocabulary.ERROR_REASON)
    if "correctiveEventIDs" in value:
        yield from _check_list(value["correctiveEventIDs"], json_path(path, "correctiveEventIDs"), check_uri)


def _check_sensor_report(value: object, path: str, terms: frozenset[str]) -> Checks:
    if not isinstance(value, dict):
        yield wrong_type(path, "a sensor report object")
        return
    yield from unknown_fields(value, path, _SENSOR_REPORT_FIELDS, terms, "a sensor report")
    if "exception" not in value and (not isinstance(value.get("type"), str) or not value["type"]):
        yield missing(
            json_path(path, "type"),
            "a sensor report names its measurement type (e.g. Temperature) or an exception",
        )
    for key, item in value.items():
        at = json_path(path, key)
        if key in _SENSOR_REPORT_URIS:
            yield from check_uri(item, at)
        elif key in _SENSOR_REPORT_NUMBERS and not (
            _is_number(item) or (isinstance(item, str) and _DECIMAL.fullmatch(item))
        ):
            yield Violation(field=at, reason="invalid_number", message=f"Write `{key}` as a number, not {item!r}.")
        elif key == "time":
            yield from check_timestamp(item, at)
        elif key == "exception":
            yield from _check_term(item, at, Vocabulary.SENSOR_ALERT)
        elif key == "component":
            yield from _check_term(item, at, Vocabulary.COMPONENT)
        elif key == "booleanValue" and not isinstance(item, bool):
            yield Violation(field=at, reason="invalid_boolean", message=f"Write `{key}` as true or false.")
        elif key == "hexBinaryValue" and not (isinstance(item, str) and _HEX_BINARY.fullmatch(item)):
            yield Violation(field=at, reason="invalid_hex_binary", message=f"Write `{key}` as hexadecimal digits.")


def _check_sensor_element(value: object, path: str, terms: frozenset[str]) -> Checks:
    if not isinstance(value, dict):
        yield wrong_type(path, "an object {sensorMetadata, sensorReport}")
        return
    yield from unknown_fields(value, path, frozenset({"sensorMetadata", "sensorReport"}), terms, "a sensor element")
    metadata = value.get("sensorMetadata")
    if metadata is not None:
        at = json_path(path, "sensorMetadata")
        if not isinstance(metadata, dict):
            yield wrong_type(at, "an object")
        else:
            yield from unknown_fields(metadata, at, _SENSOR_METADATA_FIELDS, terms, "sensorMetadata")
            for key, item in metadata.items():
                if key in ("time", "startTime", "endTime"):
                    yield from check_timestamp(item, json_path(at, key))
                elif key in _SENSOR_METADATA_FIELDS:
                    yield from check_uri(item, json_path(at, key))
    reports = value.get("sensorReport")
    at = json_path(path, "sensorReport")
    if reports is None:
        yield missing(at, "a sensor element carries at least one sensor report")
    elif isinstance(reports, list) and not reports:
        yield Violation(field=at, reason="empty_list", message="Add at least one sensor report.")
    else:
        yield from _check_list(reports, at, lambda item, where: _check_sensor_report(item, where, terms))


def _check_ilmd(value: object, path: str, terms: frozenset[str]) -> Checks:
    if not isinstance(value, dict):
        yield wrong_type(path, "an object of extension fields")
        return
    yield from unknown_fields(value, path, frozenset(), terms, "ilmd")


def check_field(key: str, value: object, path: str, terms: frozenset[str]) -> Checks:
    """Shape of one standard event field, whatever the event type."""
    if key == "eventTime":
        yield from check_timestamp(value, path, "invalid_event_time")
    elif key == "recordTime":
        yield from check_timestamp(value, path)
    elif key == "eventTimeZoneOffset" and not (isinstance(value, str) and is_time_zone_offset(value)):
        yield Violation(
            field=path,
            reason="invalid_time_zone_offset",
            message=f"Write `eventTimeZoneOffset` as ±hh:mm between -14:00 and +14:00, not {value!r}.",
        )
    elif key == "action" and value not in ACTIONS:
        yield Violation(
            field=path,
            reason="invalid_action",
            message=f"Set `action` to ADD, OBSERVE or DELETE, not {value!r}.",
        )
    elif key in ("eventID", "parentID", "transformationID"):
        yield from check_uri(value, path)
    elif key == "certificationInfo":
        yield from (_check_list(value, path, check_uri) if isinstance(value, list) else check_uri(value, path))
    elif key in ("epcList", "childEPCs", "inputEPCList", "outputEPCList"):
        yield from _check_epc_list(value, path)
    elif key in ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"):
        yield from _check_list(value, path, _check_quantity_element)
    elif key == "bizStep":
        yield from _check_term(value, path, Vocabulary.BIZ_STEP)
    elif key == "disposition":
        yield from _check_term(value, path, Vocabulary.DISPOSITION)
    elif key == "persistentDisposition":
        yield from _check_persistent_disposition(value, path)
    elif key in ("readPoint", "bizLocation"):
        yield from _check_location(value, path, terms)
    elif key == "bizTransactionList":
        yield from _check_list(
            value,
            path,
            lambda v, at: _check_typed_link(v, at, "bizTransaction", Vocabulary.BIZ_TRANSACTION_TYPE, False),
        )
    elif key in ("sourceList", "destinationList"):
        link = key.removesuffix("List")
        yield from _check_list(
            value,
            path,
            lambda v, at: _check_typed_link(v, at, link, Vocabulary.SOURCE_DESTINATION_TYPE, True),
        )
    elif key == "sensorElementList":
        yield from _check_list(value, path, lambda v, at: _check_sensor_element(v, at, terms))
    elif key == "errorDeclaration":
        yield from _check_error_declaration(value, path, terms)
    elif key == "ilmd":
        yield from _check_ilmd(value, path, terms)
