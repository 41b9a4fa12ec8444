"""CloudEvents 1.0 in Kafka *binary* mode: attributes travel as `ce_*` headers, the body is `data` as JSON.

https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/kafka-protocol-binding.md
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from contracts.errors import Violation

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
TYPE_PREFIX = "eu.battery-passport."

RawHeaders = Iterable[tuple[str, bytes]]

# Sources that name a partner principal, `urn:bpass:tenant:<tenant>[:<system>]` and `urn:bpass:handler:<handler id>`,
# and the form of that name (a tenant's or handler's id: also the name of its Kafka topics and user).
PRINCIPAL_KINDS = ("tenant", "handler")
PRINCIPAL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def source_principal(source: str) -> tuple[str, str] | None:
    """(`tenant`|`handler`, name) of a source naming a partner principal (the name as written, valid or not)."""
    parts = source.split(":")
    if len(parts) >= 3 and parts[0] == "urn" and parts[1] == "bpass" and parts[2] in PRINCIPAL_KINDS:
        return parts[2], parts[3] if len(parts) > 3 else ""
    return None


def service_source(service: str) -> str:
    """The CloudEvents source of what a platform service publishes: `urn:bpass:service:<service>`."""
    return f"urn:bpass:service:{service}"


def cloudevent_time(value: datetime) -> str:
    """`ce_time` as written: RFC 3339 in UTC, with `Z`."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cloudevent_headers(
    *,
    id: str,
    source: str,
    type: str,
    time: str,
    subject: str | None = None,
    traceparent: str | None = None,
    specversion: str = SPEC_VERSION,
    datacontenttype: str = CONTENT_TYPE,
) -> list[tuple[str, str]]:
    """The CloudEvents attributes as Kafka headers (binary mode), as text, in the order every publisher writes them
    (`time` from `cloudevent_time`). Hot paths that encode facts directly call this instead of building an
    `Envelope`; `Envelope.to_headers` is this, encoded."""
    headers = [
        ("ce_specversion", specversion),
        ("ce_id", id),
        ("ce_source", source),
        ("ce_type", type),
        ("ce_time", time),
        ("content-type", datacontenttype),
    ]
    if subject is not None:
        headers.append(("ce_subject", subject))
    if traceparent is not None:
        headers.append(("traceparent", traceparent))
    return headers


def source_violations(source: str) -> list[Violation]:
    """A source naming a tenant or handler must name a valid one: checked once, here, for every service."""
    principal = source_principal(source)
    if principal is None or PRINCIPAL_NAME.match(principal[1]):
        return []
    kind, name = principal
    return [
        Violation(
            field="headers.ce_source",
            reason="invalid_source",
            message=f"ce_source names {kind} {name[:80]!r}, which is not a valid {kind} name "
            "(a-z, 0-9 and '-', 2..63 characters, starting with a letter or digit).",
        )
    ]


class Envelope(BaseModel):
    """The CloudEvents context attributes of one message."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=200, description="Unique per source; dedup key with `source`.")
    source: str = Field(
        min_length=1,
        max_length=500,
        description="URI-reference naming the publishing system, e.g. `urn:bpass:handler:<handler id>`.",
        examples=["urn:bpass:service:identity"],
    )
    type: str = Field(
        min_length=1,
        max_length=200,
        description="Event type, versioned: `eu.battery-passport.<domain>.<name>.v<N>`.",
        examples=["eu.battery-passport.identity.passport-minted.v1"],
    )
    subject: str | None = Field(default=None, description="The passport id the event is about, when known.")
    time: datetime = Field(description="When the occurrence happened (UTC).")
    specversion: str = SPEC_VERSION
    datacontenttype: str = CONTENT_TYPE
    traceparent: str | None = Field(default=None, description="W3C trace context of the publisher.")

    def to_headers(self) -> list[tuple[str, bytes]]:
        headers = cloudevent_headers(
            id=self.id,
            source=self.source,
            type=self.type,
            time=cloudevent_time(self.time),
            subject=self.subject,
            traceparent=self.traceparent,
            specversion=self.specversion,
            datacontenttype=self.datacontenttype,
        )
        return [(name, value.encode()) for name, value in headers]

    @property
    def dedup_key(self) -> str:
        return f"{self.source}\x1f{self.id}"


def header_map(headers: RawHeaders | Mapping[str, bytes | str]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in items:
        out[name.lower()] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return out


def parse_envelope(headers: RawHeaders | Mapping[str, bytes | str]) -> Envelope | list[Violation]:
    """Read the CloudEvents attributes; returns the violations instead when they are absent or wrong."""
    return envelope_from_header_map(header_map(headers))


def envelope_from_header_map(h: Mapping[str, str]) -> Envelope | list[Violation]:
    """`parse_envelope` of headers already in `header_map` form (lower-case names, text values), for a caller
    that keeps that map anyway: the consumer's hot path maps each record's headers once, not twice."""
    violations: list[Violation] = []
    for required in ("ce_id", "ce_source", "ce_type", "ce_specversion"):
        if not h.get(required):
            violations.append(
                Violation(
                    field=f"headers.{required}",
                    reason="missing_cloudevents_attribute",
                    message=f"Header {required} is required (CloudEvents 1.0, Kafka binary mode).",
                )
            )
    if h.get("ce_source"):
        violations.extend(source_violations(h["ce_source"]))
    if h.get("ce_specversion") and h["ce_specversion"] != SPEC_VERSION:
        violations.append(
            Violation(
                field="headers.ce_specversion",
                reason="unsupported_specversion",
                message=f"ce_specversion must be {SPEC_VERSION}, got {h['ce_specversion']!r}.",
            )
        )
    content_type = h.get("content-type", CONTENT_TYPE)
    if not content_type.startswith(CONTENT_TYPE):
        violations.append(
            Violation(
                field="headers.content-type",
                reason="unsupported_content_type",
                message=f"Only {CONTENT_TYPE} bodies are accepted, got {content_type!r}.",
            )
        )
    time: datetime | None = None
    if h.get("ce_time"):
        try:
            time = datetime.fromisoformat(h["ce_time"].replace("Z", "+00:00"))
        except ValueError:
            violations.append(
                Violation(
                    field="headers.ce_time",
                    reason="invalid_timestamp",
                    message="ce_time must be an RFC 3339 timestamp, e.g. 2026-11-28T10:00:00Z.",
                )
            )
        else:
            if time.tzinfo is None:
                violations.append(
                    Violation(
                        field="headers.ce_time",
                        reason="timestamp_without_offset",
                        message="ce_time must carry a UTC offset or Z.",
                    )
                )
    if violations:
        return violations
    return Envelope(
        id=h["ce_id"],
        source=h["ce_source"],
        type=h["ce_type"],
        subject=h.get("ce_subject"),
        time=time if time is not None else datetime.now(UTC),
        specversion=h["ce_specversion"],
        datacontenttype=content_type,
        traceparent=h.get("traceparent"),
    )
