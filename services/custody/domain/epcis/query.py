"""The EPCIS 2.0 query language (REST binding of `GET /epcis/events`): query parameters -> a typed `EventQuery`.

Every parameter is checked; an unknown or malformed one is refused as EPCIS's `QueryParameterException`
(`QueryParameterError`: a stable reason code and the parameter named). Several values of one parameter are
given as `a|b` or by repeating the parameter; they match when any of them matches (EPCIS "OR").

Supported: `eventType`, `GE_/LT_eventTime`, `GE_/LT_recordTime`, `EQ_action`, `EQ_bizStep`, `EQ_disposition`,
`EQ_readPoint`, `EQ_bizLocation`, `MATCH_epc`, `MATCH_anyEPC`, `MATCH_parentID`, `MATCH_inputEPC`,
`MATCH_outputEPC` (exact identifiers, no `*` patterns), `EQ_bizTransaction_<type>`, `EQ_source_<type>`,
`EQ_destination_<type>`, `EXISTS_<field>` (top-level event fields), `orderBy` (`eventTime` | `recordTime`),
`orderDirection` (`ASC` | `DESC`, default `DESC` as the standard says), `eventCountLimit`, `maxEventCount`
(the answer is refused as too large when more events match), `perPage` and `nextPageToken`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from services.custody.domain.epcis.identifiers import to_digital_link
from services.custody.domain.epcis.query_filters import (
    ExtensionCondition,
    FilterError,
    SensorCondition,
    extension_condition,
    is_filter_parameter,
    sensor_condition,
)
from services.custody.domain.epcis.timestamps import parse_timestamp
from services.custody.domain.epcis.validation import FIELDS_BY_TYPE
from services.custody.domain.epcis.vocabulary import Vocabulary, bare_term

EVENT_TYPES: Final = frozenset(FIELDS_BY_TYPE)
ACTIONS: Final = frozenset({"ADD", "OBSERVE", "DELETE"})
ORDER_FIELDS: Final = {"eventTime": "event_time", "recordTime": "record_time"}
# Top-level fields EXISTS_<field> may name: any event type's fields (validation's), less those every event has.
EXISTS_FIELDS: Final = frozenset().union(*FIELDS_BY_TYPE.values()) - {
    "@context",
    "type",
    "eventTime",
    "eventTimeZoneOffset",
    "recordTime",
}
DEFAULT_PER_PAGE: Final = 30
MAX_PER_PAGE: Final = 1000
MAX_VALUES: Final = 200

# Stable reason codes of QueryParameterError.
UNKNOWN_PARAMETER: Final = "unknown_query_parameter"
INVALID_VALUE: Final = "invalid_query_parameter_value"
INVALID_TIME: Final = "invalid_query_time"
INVALID_NUMBER: Final = "invalid_query_number"
REPEATED_PARAMETER: Final = "repeated_query_parameter"
CONFLICTING_LIMITS: Final = "conflicting_query_limits"
TOO_MANY_VALUES: Final = "too_many_query_values"
EMPTY_VALUE: Final = "empty_query_parameter_value"


class QueryParameterError(ValueError):
    """EPCIS `QueryParameterException`: one parameter is unknown or malformed."""

    def __init__(self, parameter: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class EventQuery:
    """A checked EPCIS query. Tuples of values match when any value matches; empty means "no condition"."""

    event_types: tuple[str, ...] = ()
    ge_event_time: datetime | None = None
    lt_event_time: datetime | None = None
    ge_record_time: datetime | None = None
    lt_record_time: datetime | None = None
    actions: tuple[str, ...] = ()
    biz_steps: tuple[str, ...] = ()
    dispositions: tuple[str, ...] = ()
    read_points: tuple[str, ...] = ()
    biz_locations: tuple[str, ...] = ()
    match_epc: tuple[str, ...] = ()
    match_any_epc: tuple[str, ...] = ()
    match_parent_id: tuple[str, ...] = ()
    match_input_epc: tuple[str, ...] = ()
    match_output_epc: tuple[str, ...] = ()
    biz_transactions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    sources: tuple[tuple[str, tuple[str, ...]], ...] = ()
    destinations: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exists: tuple[str, ...] = ()
    extensions: tuple[ExtensionCondition, ...] = ()
    # Conditions every one of which one and the same sensorReport meets.
    sensor: tuple[SensorCondition, ...] = ()
    order_by: str = "eventTime"
    descending: bool = True
    event_count_limit: int | None = None
    max_event_count: int | None = None
    per_page: int = DEFAULT_PER_PAGE
    next_page_token: str | None = None
    # The query's parameters without paging ones, sorted: what a page token is bound to.
    fingerprint: tuple[tuple[str, str], ...] = field(default=(), compare=False)


def typed_term(vocabulary: Vocabulary, value: str) -> str:
    """A CBV value as stored and compared: the bare term for a standard one (bare, URN, Web URI, CURIE), the
    value itself for a custom URI."""
    return bare_term(vocabulary, value) or value


def _values(name: str, raw: list[str]) -> tuple[str, ...]:
    values = [v.strip() for r in raw for v in r.split("|")]
    if any(not v for v in values):
        raise QueryParameterError(name, EMPTY_VALUE, f"{name} has an empty value; give one or more values a|b.")
    if len(values) > MAX_VALUES:
        raise QueryParameterError(name, TOO_MANY_VALUES, f"{name} takes at most {MAX_VALUES} values.")
    return tuple(dict.fromkeys(values))


def _single(name: str, raw: list[str]) -> str:
    if len(raw) != 1:
        raise QueryParameterError(name, REPEATED_PARAMETER, f"{name} is given {len(raw)} times; give it once.")
    value = raw[0].strip()
    if not value:
        raise QueryParameterError(name, EMPTY_VALUE, f"{name} has an empty value.")
    return value


def _time(name: str, raw: list[str]) -> datetime:
    parsed = parse_timestamp(_single(name, raw))
    if parsed is None:
        raise QueryParameterError(
            name, INVALID_TIME, f"{name} is an ISO 8601 date-time with a time zone (e.g. 2026-03-01T10:00:00Z)."
        )
    return parsed


def _positive(name: str, raw: list[str], maximum: int | None = None) -> int:
    value = _single(name, raw)
    if not value.isdigit() or int(value) < 1 or (maximum is not None and int(value) > maximum):
        bound = f" up to {maximum}" if maximum is not None else ""
        raise QueryParameterError(name, INVALID_NUMBER, f"{name} is a whole number from 1{bound}, not {value!r}.")
    return int(value)


def _one_of(name: str, values: tuple[str, ...], allowed: Iterable[str]) -> tuple[str, ...]:
    allowed = frozenset(allowed)
    for value in values:
        if value not in allowed:
            raise QueryParameterError(
                name, INVALID_VALUE, f"{name} takes {', '.join(sorted(allowed))}; {value!r} is none of them."
            )
    return values


def _typed(name: str, prefix: str) -> str:
    kind = name[len(prefix) :]
    if not kind:
        raise QueryParameterError(name, UNKNOWN_PARAMETER, f"{prefix}<type> names a type after the underscore.")
    return kind


_PAGING: Final = frozenset({"perPage", "nextPageToken"})


def _filter(name: str, raw: list[str]) -> ExtensionCondition | SensorCondition | None:
    """The sensor or extension-field condition of a parameter (query_filters), None when it is neither."""
    if not is_filter_parameter(name):
        return None
    values = () if name.startswith("EXISTS_") else _values(name, raw)
    single = values[0] if len(values) == 1 and len(raw) == 1 else None
    try:
        return sensor_condition(name, values, single) or extension_condition(name, values or tuple(raw), single)
    except FilterError as error:
        raise QueryParameterError(error.parameter, error.reason, error.message) from error


def parse_query(pairs: Iterable[tuple[str, str]]) -> EventQuery:
    """The typed query of the REST binding's query string, or QueryParameterError naming the first bad one."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    args: dict[str, object] = {}
    biz_transactions: dict[str, tuple[str, ...]] = {}
    sources: dict[str, tuple[str, ...]] = {}
    destinations: dict[str, tuple[str, ...]] = {}
    exists: list[str] = []
    extensions: list[ExtensionCondition] = []
    sensor: list[SensorCondition] = []
    for name in sorted(grouped):
        raw = grouped[name]
        if name == "eventType":
            args["event_types"] = _one_of(name, _values(name, raw), EVENT_TYPES)
        elif name in ("GE_eventTime", "LT_eventTime", "GE_recordTime", "LT_recordTime"):
            op, what = name.split("_", 1)
            args[f"{op.lower()}_{'event' if what == 'eventTime' else 'record'}_time"] = _time(name, raw)
        elif name == "EQ_action":
            args["actions"] = _one_of(name, _values(name, raw), ACTIONS)
        elif name == "EQ_bizStep":
            args["biz_steps"] = tuple(typed_term(Vocabulary.BIZ_STEP, v) for v in _values(name, raw))
        elif name == "EQ_disposition":
            args["dispositions"] = tuple(typed_term(Vocabulary.DISPOSITION, v) for v in _values(name, raw))
        elif name == "EQ_readPoint":
            args["read_points"] = _values(name, raw)
        elif name == "EQ_bizLocation":
            args["biz_locations"] = _values(name, raw)
        elif name in ("MATCH_epc", "MATCH_anyEPC", "MATCH_parentID", "MATCH_inputEPC", "MATCH_outputEPC"):
            values = _values(name, raw)
            for value in values:
                if "*" in value:
                    raise QueryParameterError(
                        name, INVALID_VALUE, f"{name} takes exact identifiers; EPC patterns (*) are not supported."
                    )
            key = {
                "MATCH_epc": "match_epc",
                "MATCH_anyEPC": "match_any_epc",
                "MATCH_parentID": "match_parent_id",
                "MATCH_inputEPC": "match_input_epc",
                "MATCH_outputEPC": "match_output_epc",
            }[name]
            args[key] = values
        elif name.startswith("EQ_bizTransaction_"):
            biz_transactions[typed_term(Vocabulary.BIZ_TRANSACTION_TYPE, _typed(name, "EQ_bizTransaction_"))] = _values(
                name, raw
            )
        elif name.startswith("EQ_source_"):
            sources[typed_term(Vocabulary.SOURCE_DESTINATION_TYPE, _typed(name, "EQ_source_"))] = _values(name, raw)
        elif name.startswith("EQ_destination_"):
            kind = typed_term(Vocabulary.SOURCE_DESTINATION_TYPE, _typed(name, "EQ_destination_"))
            destinations[kind] = _values(name, raw)
        elif name.startswith("EXISTS_") and ":" in name:
            extensions.append(_filter(name, raw))  # type: ignore[arg-type]  # an EXISTS_ of a field is one
        elif name.startswith("EXISTS_"):
            what = _typed(name, "EXISTS_")
            if what not in EXISTS_FIELDS:
                raise QueryParameterError(
                    name, UNKNOWN_PARAMETER, f"EXISTS_ takes a top-level event field; {what!r} is not one."
                )
            if any(v.strip() for v in raw):
                raise QueryParameterError(name, INVALID_VALUE, f"{name} takes no value.")
            exists.append(what)
        elif name == "orderBy":
            value = _single(name, raw)
            _one_of(name, (value,), ORDER_FIELDS)
            args["order_by"] = value
        elif name == "orderDirection":
            value = _single(name, raw)
            _one_of(name, (value,), ("ASC", "DESC"))
            args["descending"] = value == "DESC"
        elif name == "eventCountLimit":
            args["event_count_limit"] = _positive(name, raw)
        elif name == "maxEventCount":
            args["max_event_count"] = _positive(name, raw)
        elif name == "perPage":
            args["per_page"] = _positive(name, raw, MAX_PER_PAGE)
        elif name == "nextPageToken":
            args["next_page_token"] = _single(name, raw)
        elif isinstance(condition := _filter(name, raw), SensorCondition):
            sensor.append(condition)
        elif isinstance(condition, ExtensionCondition):
            extensions.append(condition)
        else:
            raise QueryParameterError(name, UNKNOWN_PARAMETER, f"{name} is not a query parameter this service knows.")
    if "event_count_limit" in args and "max_event_count" in args:
        raise QueryParameterError(
            "eventCountLimit",
            CONFLICTING_LIMITS,
            "eventCountLimit and maxEventCount may not be given together (EPCIS 2.0 query language).",
        )
    fingerprint = tuple(sorted((n, v) for n, values in grouped.items() if n not in _PAGING for v in values))
    return EventQuery(
        biz_transactions=tuple(sorted(biz_transactions.items())),
        sources=tuple(sorted(sources.items())),
        destinations=tuple(sorted(destinations.items())),
        exists=tuple(exists),
        extensions=tuple(extensions),
        sensor=tuple(sensor),
        fingerprint=fingerprint,
        **args,  # type: ignore[arg-type]
    )


def identifier_forms(identifier: str) -> tuple[str, ...]:
    """An identifier as written and, for a GS1 key, its canonical Digital Link: what is indexed and what a
    MATCH_/EQ_ value is looked up by, so that an EPC URN finds an event written with a Digital Link and back."""
    canonical = to_digital_link(identifier)
    return (identifier,) if canonical is None or canonical == identifier else (identifier, canonical)


def lookup_forms(values: Iterable[str]) -> list[str]:
    return sorted({form for value in values for form in identifier_forms(value)})


@dataclass(frozen=True)
class IndexedEvent:
    """What the query language filters a captured event by (its columns in the event index)."""

    event_type: str
    event_time: datetime
    action: str | None
    biz_step: str | None
    disposition: str | None
    read_point: str | None
    biz_location: str | None
    epcs: list[str]
    parent_ids: list[str]
    input_epcs: list[str]
    output_epcs: list[str]
    biz_transactions: list[str]
    sources: list[str]
    destinations: list[str]


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _typed_list(items: object, key: str, vocabulary: Vocabulary) -> list[str]:
    """`<type> <id>` of each entry of a bizTransactionList / sourceList / destinationList (type "" when none),
    every identifier form."""
    found: set[str] = set()
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get(key), str):
            kind = typed_term(vocabulary, item["type"]) if isinstance(item.get("type"), str) else ""
            found.update(f"{kind} {form}" for form in identifier_forms(item[key]))
    return sorted(found)


def _location(value: object) -> str | None:
    return value["id"] if isinstance(value, dict) and isinstance(value.get("id"), str) else None


def index_fields(event: dict[str, object]) -> IndexedEvent:
    """The indexed fields of an event that passed EPCIS capture validation."""
    event_time = parse_timestamp(str(event.get("eventTime")))
    if event_time is None:  # validation guarantees it; a guard, not a path
        raise ValueError("event without a valid eventTime")
    biz_step, disposition = event.get("bizStep"), event.get("disposition")
    parent, action = event.get("parentID"), event.get("action")
    return IndexedEvent(
        event_type=str(event.get("type")),
        event_time=event_time,
        action=action if isinstance(action, str) else None,
        biz_step=typed_term(Vocabulary.BIZ_STEP, biz_step) if isinstance(biz_step, str) else None,
        disposition=typed_term(Vocabulary.DISPOSITION, disposition) if isinstance(disposition, str) else None,
        read_point=_location(event.get("readPoint")),
        biz_location=_location(event.get("bizLocation")),
        epcs=lookup_forms(_strings(event.get("epcList")) + _strings(event.get("childEPCs"))),
        parent_ids=lookup_forms([parent] if isinstance(parent, str) else []),
        input_epcs=lookup_forms(_strings(event.get("inputEPCList"))),
        output_epcs=lookup_forms(_strings(event.get("outputEPCList"))),
        biz_transactions=_typed_list(
            event.get("bizTransactionList"), "bizTransaction", Vocabulary.BIZ_TRANSACTION_TYPE
        ),
        sources=_typed_list(event.get("sourceList"), "source", Vocabulary.SOURCE_DESTINATION_TYPE),
        destinations=_typed_list(event.get("destinationList"), "destination", Vocabulary.SOURCE_DESTINATION_TYPE),
    )


__all__ = [
    "EventQuery",
    "IndexedEvent",
    "QueryParameterError",
    "identifier_forms",
    "index_fields",
    "lookup_forms",
    "parse_query",
    "typed_term",
]
