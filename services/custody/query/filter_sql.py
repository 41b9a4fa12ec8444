"""SQL predicates of the EPCIS query language's extension-field and sensor conditions (query_filters), on the
event index: extension fields on its `extensions` column (keys and equality through its GIN index, comparisons on
the values a field's path yields), sensor conditions on one and the same sensorReport of the stored event."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypeAlias

from services.custody.domain.epcis.query_filters import COMPARISONS, ExtensionCondition, SensorCondition, in_units

Param: TypeAlias = Callable[[Any], str]  # adds a bind parameter, answers its placeholder ($n)


def _jsonpath_key(key: str) -> str:
    return json.dumps(key)  # a jsonpath string literal is written as a JSON string


_NUMERIC_TEXT: Final = r"^\s*-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?\s*$"
_INSTANT_TEXT: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})$"


def _number_of(x: str, strings: bool) -> str:
    """A JSON value as a number (a numeric string too when `strings`), NULL when it is none."""
    text = f"({x} #>> '{{}}')"
    as_string = f" WHEN jsonb_typeof({x}) = 'string' AND {text} ~ '{_NUMERIC_TEXT}' THEN {text}::numeric"
    as_string = as_string if strings else ""
    return f"(CASE WHEN jsonb_typeof({x}) = 'number' THEN {text}::numeric{as_string} END)"


def _instant_of(text: str) -> str:
    return f"(CASE WHEN {text} ~ '{_INSTANT_TEXT}' THEN ({text})::timestamptz END)"


def extension_predicate(param: Param, condition: ExtensionCondition) -> str:
    """An extension-field condition on the extensions column: keys and equality by the GIN index (?|, @?),
    comparisons on the values the field's path yields (numbers numerically, date-times as instants)."""
    paths = [f"$.*.**.{_jsonpath_key(k)}" if condition.inner else f"$.{_jsonpath_key(k)}" for k in condition.keys]
    ors: list[str] = []
    if condition.op == "EXISTS" and not condition.inner:
        ors.append(f"e.extensions ?| {param(list(condition.keys))}::text[]")
    elif condition.op == "EXISTS":
        ors += [f"e.extensions @? {param(path)}::jsonpath" for path in paths]
    elif condition.op == "EQ":
        tests = [f"@ == {json.dumps(v)}" for v in condition.strings]
        tests += [f"@ == {n}" for n in (_decimal_or_none(v) for v in condition.strings) if n is not None]
        either = " || ".join(tests)
        ors += [f"e.extensions @? {param(f'{path} ? ({either})')}::jsonpath" for path in paths]
    else:
        op = COMPARISONS[condition.op]
        if condition.number is not None:
            test = f"{_number_of('x.value', strings=True)} {op} {param(condition.number)}::numeric"
        else:
            instant = _instant_of("(x.value #>> '{}')")
            test = f"{instant} {op} {param(condition.instant)}::timestamptz"
        ors += [
            f"EXISTS (SELECT 1 FROM jsonb_path_query(e.extensions, {param(path + '[*]')}::jsonpath) x(value) "
            f"WHERE {test})"
            for path in paths
        ]
    return f"e.extensions <> '{{}}' AND ({' OR '.join(ors)})"


def _decimal_or_none(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


# What a sensorReport says, or its sensorElement's sensorMetadata says of it.
_INHERITED: Final = frozenset({"deviceID", "dataProcessingMethod", "time"})


def _report_text(field: str) -> str:
    if field in _INHERITED:
        return f"coalesce(r.report ->> '{field}', se.element -> 'sensorMetadata' ->> '{field}')"
    if field == "bizRules":
        return "(se.element -> 'sensorMetadata' ->> 'bizRules')"
    if field == "hexBinaryValue":
        return "upper(r.report ->> 'hexBinaryValue')"
    return f"(r.report ->> '{field}')"


def sensor_predicate(param: Param, conditions: tuple[SensorCondition, ...]) -> str:
    """Every sensor condition met by one and the same sensorReport of the event."""
    tests: list[str] = []
    for c in conditions:
        if c.boolean is not None:
            tests.append(f"r.report -> 'booleanValue' = to_jsonb({param(c.boolean)}::boolean)")
        elif c.strings:
            tests.append(f"{_report_text(c.field)} = ANY({param(list(c.strings))}::text[])")
        elif c.instant is not None:
            op = COMPARISONS[c.op]
            tests.append(f"{_instant_of(_report_text('time'))} {op} {param(c.instant)}::timestamptz")
        elif c.uom is None:  # percRank
            number = _number_of(f"(r.report -> '{c.field}')", strings=False)
            tests.append(f"{number} {COMPARISONS[c.op]} {param(c.numbers[0])}::numeric")
        else:
            number = _number_of(f"(r.report -> '{c.field}')", strings=False)
            op = "=" if c.op == "EQ" else COMPARISONS[c.op]
            alternatives = [
                f"(r.report ->> 'uom' = {param(unit)} AND {number} {op} {param(bound)}::numeric)"
                for value in c.numbers
                for unit, bound in in_units(value, c.uom)
            ]
            tests.append(f"({' OR '.join(alternatives)})")
    return (
        f"e.event ? 'sensorElementList' {_contained(param, conditions)}AND EXISTS (SELECT 1 FROM "
        "jsonb_array_elements(CASE jsonb_typeof(e.event -> 'sensorElementList') WHEN 'array' "
        "THEN e.event -> 'sensorElementList' ELSE '[]' END) se(element), "
        "jsonb_array_elements(CASE jsonb_typeof(se.element -> 'sensorReport') WHEN 'array' "
        "THEN se.element -> 'sensorReport' ELSE '[]' END) r(report) "
        f"WHERE {' AND '.join(tests)})"
    )


def _contained(param: Param, conditions: tuple[SensorCondition, ...]) -> str:
    """Containment prefilters of the conditions on identifying strings (deviceID, bizRules, ...): the GIN index
    of sensorElementList finds the few events that have such a report or metadata; the EXISTS then checks one
    report meets every condition. Types and units are left out: most sensor events share a few, and walking the
    time index finds a page of them sooner than reading all of them by the GIN index."""
    found = ""
    for c in conditions:
        if c.field not in _IDENTIFYING:
            continue
        shapes: list[object] = [{"sensorReport": [{c.field: v}]} for v in c.strings] if c.field != "bizRules" else []
        if c.field in _INHERITED or c.field == "bizRules":
            shapes += [{"sensorMetadata": {c.field: v}} for v in c.strings]
        either = " OR ".join(f"e.event -> 'sensorElementList' @> {param([s])}::jsonb" for s in shapes)
        found += f"AND ({either}) "
    return found


_IDENTIFYING: Final = frozenset(
    {"deviceID", "dataProcessingMethod", "bizRules", "microorganism", "chemicalSubstance", "stringValue", "uriValue"}
)
