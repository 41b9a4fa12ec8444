"""The EPCIS 2.0 query language's extension-field and sensor parameters (section 8.2.7.1), parsed into conditions.

Extension fields (`EQ_`, `GT_`, `GE_`, `LT_`, `LE_`, `EXISTS_`, each also as `..._INNER_` for a field nested in a
top-level extension field) name the field by the prefix the event's document gave it (`EQ_example:batch`) or by its
full IRI (`EQ_http://ns.example.com/epcis/batch`, or as EPCIS 1.x wrote it, namespace `#` name). `EQ_` matches a
string (or number) equal to one of the values; the others compare numbers numerically and date-times as instants.

Sensor parameters constrain one and the same sensorReport (with what its sensorElement's sensorMetadata says of
it: `deviceID`, `dataProcessingMethod` and `time` when the report does not give its own, and `bizRules`): an event
matches when one of its reports meets every sensor condition of the query together. `<op>_value_<uom>` (and
`minValue`, `maxValue`, `meanValue`, `sDev`, `percValue`) compare with the UN/ECE Rec 20 unit in the parameter's
name; a report in another unit of the same quantity (CEL/FAH/KEL, ...) is compared after conversion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Final

from services.custody.domain.epcis.timestamps import parse_timestamp
from services.custody.domain.epcis.vocabulary import VOCABULARIES, Vocabulary, bare_term

COMPARISONS: Final = {"GT": ">", "GE": ">=", "LT": "<", "LE": "<="}
SENSOR_STRINGS: Final = {
    "EQ_type": "type",
    "EQ_deviceID": "deviceID",
    "EQ_dataProcessingMethod": "dataProcessingMethod",
    "EQ_microorganism": "microorganism",
    "EQ_chemicalSubstance": "chemicalSubstance",
    "EQ_bizRules": "bizRules",
    "EQ_stringValue": "stringValue",
    "EQ_hexBinaryValue": "hexBinaryValue",
    "EQ_uriValue": "uriValue",
}
MEASURES: Final = ("value", "minValue", "maxValue", "meanValue", "sDev", "percValue")
_MEASURE: Final = re.compile(r"^(EQ|GT|GE|LT|LE)_(value|minValue|maxValue|meanValue|sDev|percValue)_(.*)$")
_UOM: Final = re.compile(r"^[A-Z0-9]{2,3}$")
_EXTENSION: Final = re.compile(r"^(EQ|GT|GE|LT|LE|EXISTS)_(INNER_)?(.+)$")
GS1_VOC: Final = "https://gs1.org/voc/"

# UN/ECE Rec 20 units convertible to one another: unit -> (quantity, factor, offset) with base = value*factor+offset.
UNITS: Final[dict[str, tuple[str, Fraction, Fraction]]] = {
    "CEL": ("temperature", Fraction(1), Fraction(0)),
    "KEL": ("temperature", Fraction(1), Fraction("-273.15")),
    "FAH": ("temperature", Fraction(5, 9), Fraction(-160, 9)),
    "KGM": ("mass", Fraction(1), Fraction(0)),
    "GRM": ("mass", Fraction(1, 1000), Fraction(0)),
    "MGM": ("mass", Fraction(1, 1000000), Fraction(0)),
    "TNE": ("mass", Fraction(1000), Fraction(0)),
    "MTR": ("length", Fraction(1), Fraction(0)),
    "CMT": ("length", Fraction(1, 100), Fraction(0)),
    "MMT": ("length", Fraction(1, 1000), Fraction(0)),
    "KMT": ("length", Fraction(1000), Fraction(0)),
    "VLT": ("voltage", Fraction(1), Fraction(0)),
    "2Z": ("voltage", Fraction(1, 1000), Fraction(0)),
    "KVT": ("voltage", Fraction(1000), Fraction(0)),
    "AMP": ("current", Fraction(1), Fraction(0)),
    "4K": ("current", Fraction(1, 1000), Fraction(0)),
    "WTT": ("power", Fraction(1), Fraction(0)),
    "KWT": ("power", Fraction(1000), Fraction(0)),
    "JOU": ("energy", Fraction(1), Fraction(0)),
    "KJO": ("energy", Fraction(1000), Fraction(0)),
    "WHR": ("energy", Fraction(3600), Fraction(0)),
    "KWH": ("energy", Fraction(3600000), Fraction(0)),
    "AMH": ("charge", Fraction(3600), Fraction(0)),
    "C34": ("charge", Fraction(1), Fraction(0)),  # coulomb
    "PAL": ("pressure", Fraction(1), Fraction(0)),
    "KPA": ("pressure", Fraction(1000), Fraction(0)),
    "BAR": ("pressure", Fraction(100000), Fraction(0)),
    "MBR": ("pressure", Fraction(100), Fraction(0)),
    "SEC": ("time", Fraction(1), Fraction(0)),
    "MIN": ("time", Fraction(60), Fraction(0)),
    "HUR": ("time", Fraction(3600), Fraction(0)),
}

# Stable reason codes (besides query.py's).
INVALID_UOM: Final = "invalid_query_uom"
INVALID_COMPARAND: Final = "invalid_query_comparand"
INVALID_FIELD_NAME: Final = "invalid_query_field_name"


class FilterError(ValueError):
    """A malformed extension or sensor parameter: query.py raises it as QueryParameterError."""

    def __init__(self, parameter: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.parameter, self.reason, self.message = parameter, reason, message


@dataclass(frozen=True)
class ExtensionCondition:
    """`op` (EQ, GT, GE, LT, LE, EXISTS) on an extension field known under any of `keys` (as written with its
    document's prefix, or expanded to its IRI); `inner`: nested in a top-level extension field, at any depth."""

    op: str
    keys: tuple[str, ...]
    inner: bool
    strings: tuple[str, ...] = ()  # EQ: any of these
    number: Decimal | None = None  # GT..LE: a number ...
    instant: datetime | None = None  # ... or a date-time


@dataclass(frozen=True)
class SensorCondition:
    """One condition on a sensorReport's `field`: `op` EQ with `strings` (or `boolean`), or a comparison with
    `number` (in `uom` when it has one) or `instant`."""

    field: str
    op: str
    strings: tuple[str, ...] = ()
    boolean: bool | None = None
    numbers: tuple[Decimal, ...] = ()
    uom: str | None = None
    instant: datetime | None = None


def is_filter_parameter(name: str) -> bool:
    """Whether `name` is a sensor or an extension-field parameter (whatever its value)."""
    op, _, rest = name.partition("_")
    extension = _EXTENSION.match(name)
    return (
        name in SENSOR_STRINGS
        or name == "EQ_booleanValue"
        or (op in COMPARISONS and rest in ("time", "percRank"))
        or _MEASURE.match(name) is not None
        or (extension is not None and ":" in extension.group(3))
    )


def _number(name: str, value: str) -> Decimal:
    try:
        number = Decimal(value.strip())
    except InvalidOperation as exc:
        raise FilterError(name, INVALID_COMPARAND, f"{name} takes a number, not {value!r}.") from exc
    if not number.is_finite():
        raise FilterError(name, INVALID_COMPARAND, f"{name} takes a finite number, not {value!r}.")
    return number


def _instant(name: str, value: str) -> datetime:
    parsed = parse_timestamp(value.strip())
    if parsed is None:
        raise FilterError(name, INVALID_COMPARAND, f"{name} takes an ISO 8601 date-time with a time zone.")
    return parsed


def measurement_type_forms(value: str) -> tuple[str, ...]:
    """A measurement type as an event may write it: a standard one bare, as `gs1:` CURIE or as GS1 Web URI."""
    term = bare_term(Vocabulary.MEASUREMENT_TYPE, value)
    if term is None:
        return (value,)
    return (term, f"gs1:{term}", VOCABULARIES[Vocabulary.MEASUREMENT_TYPE].get(term, GS1_VOC + term))


def sensor_condition(name: str, values: tuple[str, ...], single: str | None) -> SensorCondition | None:
    """The sensor condition a parameter states, None when `name` is not a sensor parameter. `values`: its values
    (a|b, repeated); `single`: its one value when it was given once with one value."""
    if name in SENSOR_STRINGS:
        field = SENSOR_STRINGS[name]
        if field == "type":
            values = tuple(f for v in values for f in measurement_type_forms(v))
        elif field == "hexBinaryValue":
            values = tuple(v.upper() for v in values)
        return SensorCondition(field, "EQ", strings=values)
    if name == "EQ_booleanValue":
        if single not in ("true", "false"):
            raise FilterError(name, INVALID_COMPARAND, f"{name} takes true or false.")
        return SensorCondition("booleanValue", "EQ", boolean=single == "true")
    op, _, rest = name.partition("_")
    if op in COMPARISONS and rest in ("time", "percRank"):
        if single is None:
            raise FilterError(name, INVALID_COMPARAND, f"{name} takes one value.")
        if rest == "time":
            return SensorCondition("time", op, instant=_instant(name, single))
        return SensorCondition("percRank", op, numbers=(_number(name, single),))
    measure = _MEASURE.match(name)
    if measure is None:
        return None
    op, field, uom = measure.groups()
    if not _UOM.match(uom):
        raise FilterError(name, INVALID_UOM, f"{name} ends with a UN/ECE Rec 20 unit code (e.g. CEL), not {uom!r}.")
    if op != "EQ" and single is None:
        raise FilterError(name, INVALID_COMPARAND, f"{name} takes one value.")
    numbers = tuple(_number(name, v) for v in values) if op == "EQ" else (_number(name, single or ""),)
    return SensorCondition(field, op, numbers=numbers, uom=uom)


def in_units(number: Decimal, uom: str) -> list[tuple[str, Decimal]]:
    """`number` in `uom` expressed in every unit of the same quantity (itself alone when the unit is not one the
    conversion table knows)."""
    if uom not in UNITS:
        return [(uom, number)]
    quantity, factor, offset = UNITS[uom]
    base = Fraction(number) * factor + offset
    found = []
    for other, (kind, other_factor, other_offset) in sorted(UNITS.items()):
        if kind == quantity:
            value = number if other == uom else _decimal((base - other_offset) / other_factor)
            found.append((other, value))
    return found


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def extension_condition(name: str, values: tuple[str, ...], single: str | None) -> ExtensionCondition | None:
    """The extension-field condition a parameter states, None when `name` names no extension field (no `:` in the
    field: a CURIE or an IRI)."""
    match = _EXTENSION.match(name)
    if match is None or ":" not in match.group(3):
        return None
    op, inner, field = match.group(1), bool(match.group(2)), match.group(3)
    keys = [field]
    if "#" in field and "://" in field:  # EPCIS 1.x: namespace#name; in JSON-LD the name follows the namespace
        namespace, _, local = field.rpartition("#")
        if not local or not namespace:
            raise FilterError(name, INVALID_FIELD_NAME, f"{name} names a field as namespace#name.")
        keys.append(namespace + local)
    if field.endswith(":") or field.startswith(":"):
        raise FilterError(name, INVALID_FIELD_NAME, f"{name} names a field as prefix:name or by its IRI.")
    if op == "EXISTS":
        if any(v.strip() for v in values):
            raise FilterError(name, INVALID_COMPARAND, f"{name} takes no value.")
        return ExtensionCondition(op, tuple(keys), inner)
    if op == "EQ":
        return ExtensionCondition(op, tuple(keys), inner, strings=values)
    if single is None:
        raise FilterError(name, INVALID_COMPARAND, f"{name} takes one value.")
    try:
        return ExtensionCondition(op, tuple(keys), inner, number=Decimal(single.strip()))
    except InvalidOperation:
        instant = parse_timestamp(single.strip())
        if instant is None:
            raise FilterError(
                name, INVALID_COMPARAND, f"{name} compares a number or an ISO 8601 date-time, not {single!r}."
            ) from None
        return ExtensionCondition(op, tuple(keys), inner, instant=instant)


def expand_keys(value: object, prefixes: dict[str, str]) -> object:
    """A JSON value with every CURIE key whose prefix its document defines expanded to the IRI."""
    if isinstance(value, dict):
        return {_expand(k, prefixes): expand_keys(v, prefixes) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_keys(v, prefixes) for v in value]
    return value


def _expand(key: str, prefixes: dict[str, str]) -> str:
    prefix, colon, local = key.partition(":")
    return prefixes[prefix] + local if colon and prefix in prefixes and not local.startswith("//") else key


def extension_fields(event: dict[str, object], prefixes: dict[str, str]) -> dict[str, object]:
    """What extension-field conditions search: each top-level extension field of the event as written (its key a
    CURIE or an IRI) and, beside it, under its IRI with every nested key expanded too."""
    found: dict[str, object] = {}
    for key, value in event.items():
        if ":" in key and not key.startswith("@"):
            found[key] = value
            expanded = _expand(key, prefixes)
            if expanded != key:
                found[expanded] = expand_keys(value, prefixes)
    return found
