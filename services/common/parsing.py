"""Reading one consumed Kafka record: its CloudEvents headers, event type, JSON body and payload contract, and for a
partner's topic the binding of its source to that partner. The result (`Parsed`) is either a payload or the
violations its rejection will name; nothing here raises for a bad message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from contracts.base import Message
from contracts.envelope import Envelope, envelope_from_header_map, header_map, source_principal
from contracts.errors import Violation
from contracts.topics import partner_of
from services.common import jsonpolicy
from services.common.settings import Settings

P = TypeVar("P", bound=Message)


@dataclass(slots=True)
class Parsed(Generic[P]):
    record: ConsumerRecord[Any, Any]
    dedup_key: str
    envelope: Envelope | None
    payload: P | None
    violations: list[Violation]
    headers: dict[str, str]  # the record's headers by lower-case name


# Envelope attribute -> the header it is read from, to name the header in a rejection.
ENVELOPE_HEADERS = {
    "id": "ce_id",
    "source": "ce_source",
    "type": "ce_type",
    "subject": "ce_subject",
    "time": "ce_time",
    "specversion": "ce_specversion",
    "datacontenttype": "content-type",
    "traceparent": "traceparent",
}


def record_key(record: ConsumerRecord[Any, Any]) -> str:
    """The dedup key of a record whose CloudEvents id cannot stand for it: its place in the log."""
    return f"kafka:{record.topic}:{record.partition}:{record.offset}"


def parse_record(record: ConsumerRecord[Any, Any], payload_type: type[P]) -> Parsed[P]:
    """Validate one record: CloudEvents headers, event type, JSON body, payload contract."""
    headers = header_map(record.headers or [])
    undecodable = undecodable_envelope_headers(record, headers)
    if undecodable:
        return Parsed(record, record_key(record), None, None, undecodable, headers)
    try:
        envelope_or_errors = envelope_from_header_map(headers)
    except ValidationError as exc:  # present but out of the contract's bounds (an overlong ce_id): refused, not retried
        envelope_or_errors = envelope_violations(exc)
    if isinstance(envelope_or_errors, list):
        return Parsed(record, record_key(record), None, None, envelope_or_errors, headers)
    envelope = envelope_or_errors
    if envelope.type != payload_type.event_type:
        violation = Violation(
            field="headers.ce_type",
            reason="unexpected_event_type",
            message=f"Topic {record.topic} carries {payload_type.event_type}, not {envelope.type}.",
        )
        return Parsed(record, envelope.dedup_key, envelope, None, [violation], headers)
    refused = jsonpolicy.violations(record.value or b"")  # the one JSON policy (HTTP's too) before decoding
    if refused:
        return Parsed(record, envelope.dedup_key, envelope, None, refused, headers)
    try:
        payload = payload_type.model_validate_json(record.value or b"")
    except ValidationError as exc:
        return Parsed(record, envelope.dedup_key, envelope, None, violations_from_pydantic(exc), headers)
    return Parsed(record, envelope.dedup_key, envelope, payload, [], headers)


def bind_to_partner(parsed: Parsed[Any], partner: str) -> None:
    """A message read from partner `partner`'s topic: refused unless its source names that partner."""
    if parsed.envelope is None:
        return
    refused = principal_violations(partner, parsed.envelope)
    if refused:
        parsed.payload = None
        parsed.violations = refused + parsed.violations
        # Not under the source it claims: its id must not stand in for that principal's own message.
        parsed.dedup_key = record_key(parsed.record)


def partner_of_topic(settings: Settings, topic: str) -> str | None:
    """The partner whose topic `topic` (namespaced) is, or None for a platform topic."""
    if not topic.startswith(settings.topic_namespace):
        return None
    return partner_of(topic[len(settings.topic_namespace) :])


def principal_violations(partner: str, envelope: Envelope) -> list[Violation]:
    """A message on a partner's topic was published by that partner (the broker's ACLs let no one else write
    there): its source must name that partner, as a tenant or a handler, or it is refused, never applied."""
    principal = source_principal(envelope.source)
    if principal is not None and principal[1] == partner:
        return []
    return [
        Violation(
            field="headers.ce_source",
            reason="source_not_principal",
            message=f"This topic is partner {partner}'s: its messages must come from urn:bpass:tenant:{partner} or "
            f"urn:bpass:handler:{partner}, not {envelope.source[:200]!r}.",
        )
    ]


def undecodable_envelope_headers(record: ConsumerRecord[Any, Any], headers: dict[str, str]) -> list[Violation]:
    """A CloudEvents attribute whose bytes are not UTF-8 (`header_map` replaced them): refused, naming it."""
    suspects = {name for name in ENVELOPE_HEADERS.values() if "\ufffd" in headers.get(name, "")}
    if not suspects:
        return []
    violations = []
    for name, value in record.headers or ():
        if name.lower() in suspects and isinstance(value, bytes):
            try:
                value.decode("utf-8")
            except UnicodeDecodeError as exc:
                violations.append(
                    Violation(
                        field=f"headers.{name.lower()}",
                        reason="invalid_utf8",
                        message=f"CloudEvents attributes are UTF-8 text; byte {exc.start} of this one is not.",
                    )
                )
    return violations


def envelope_violations(exc: ValidationError) -> list[Violation]:
    """The envelope's validation errors, each naming the header the attribute came from."""
    violations = []
    for error in exc.errors(include_url=False):
        attribute = str(error["loc"][0]) if error["loc"] else ""
        violations.append(
            Violation(
                field=f"headers.{ENVELOPE_HEADERS.get(attribute, attribute)}",
                reason=f"invalid_{error['type']}",
                message=str(error["msg"]),
            )
        )
    return violations


def violations_from_pydantic(exc: ValidationError, prefix: str = "") -> list[Violation]:
    violations = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in error["loc"])
        if error["type"] == "json_invalid":
            violations.append(
                Violation(field="", reason="invalid_json", message=f"The body is not valid JSON: {error['msg']}.")
            )
            continue
        violations.append(
            Violation(
                field=f"{prefix}{loc}" if loc else prefix.rstrip("."),
                reason=f"invalid_{error['type']}",
                message=str(error["msg"]),
            )
        )
    return violations
