"""The normalised custody step every channel produces (native event, HTTP, EPCIS event), before resolution."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import orjson

from contracts.custody import CustodyEventReported
from contracts.envelope import Envelope
from contracts.errors import Violation
from services.custody.domain.authority import ActorKind, source_party
from services.custody.domain.event_time import event_time_violations

BATCH_REFERENCE_PREFIX = "batch:"
GS1_REFERENCE_PREFIX = "gs1:"
_DIGITAL_LINK = re.compile(r"^https?://[^/]+/01/(\d{8,14})/(21|10)/([^/?#]+)")
HANDLER_SOURCE_PREFIX = "urn:bpass:handler:"


def gs1_path(reference: str) -> str | None:
    """`01/<GTIN-14>/21/<serial>` (or `/10/<lot>`) of a GS1 Digital Link on any resolver domain, else None."""
    if reference.startswith(GS1_REFERENCE_PREFIX):
        return reference[len(GS1_REFERENCE_PREFIX) :]
    match = _DIGITAL_LINK.match(reference)
    if match is None:
        return None
    gtin, ai, value = match.groups()
    return f"01/{gtin.zfill(14)}/{ai}/{unquote(value)}"


def parking_key(reference: str) -> str:
    """Digital Links are parked by their GS1 key, so that a passport minted on any resolver domain finds them."""
    path = gs1_path(reference)
    return GS1_REFERENCE_PREFIX + path if path else reference


@dataclass
class CustodyStep:
    """One reported step, in the custody log's terms; `references` are resolved to passports later."""

    kind: str
    occurred_at: datetime
    handler_id: str
    source_event_id: str
    source: str
    references: tuple[str, ...]
    content: dict[str, Any]
    from_handler_id: str | None = None
    to_handler_id: str | None = None
    site_id: str | None = None
    ewc_code: str | None = None
    operation: str | None = None
    epcis_event_hash: str | None = None
    # Rules broken whatever the passport and the tenant's policy (an unknown handler, a spoofed source).
    hard_violations: list[Violation] = field(default_factory=list)
    # For an error declaration: passport id -> sequence of the entry it declares erroneous.
    corrects: dict[str, int] = field(default_factory=dict)
    # Where it came from (topic, partition, offset, key, CloudEvents attributes), to answer it later if parked.
    received: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "occurred_at": self.occurred_at.isoformat(),
            "handler_id": self.handler_id,
            "source_event_id": self.source_event_id,
            "source": self.source,
            "references": list(self.references),
            "content": self.content,
            "from_handler_id": self.from_handler_id,
            "to_handler_id": self.to_handler_id,
            "site_id": self.site_id,
            "ewc_code": self.ewc_code,
            "operation": self.operation,
            "epcis_event_hash": self.epcis_event_hash,
            "hard_violations": [v.model_dump() for v in self.hard_violations],
            "corrects": self.corrects,
            "received": self.received,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CustodyStep:
        return cls(
            kind=data["kind"],
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
            handler_id=data["handler_id"],
            source_event_id=data["source_event_id"],
            source=data["source"],
            references=tuple(data["references"]),
            content=data["content"],
            from_handler_id=data.get("from_handler_id"),
            to_handler_id=data.get("to_handler_id"),
            site_id=data.get("site_id"),
            ewc_code=data.get("ewc_code"),
            operation=data.get("operation"),
            epcis_event_hash=data.get("epcis_event_hash"),
            hard_violations=[Violation.model_validate(v) for v in data.get("hard_violations", [])],
            corrects=dict(data.get("corrects") or {}),
            received=data.get("received"),
        )


def _publisher(source: str) -> tuple[str, str] | None:
    """(what, name) of the party a source names, if it names one."""
    if source.startswith(HANDLER_SOURCE_PREFIX):
        return "Handler", source[len(HANDLER_SOURCE_PREFIX) :].split(":", 1)[0]
    party = source_party(source)
    if party is None:
        return None
    return ("Tenant" if party[0] is ActorKind.oem else "Authority"), party[1]


def source_violations(source: str, handler_id: str) -> list[Violation]:
    """A party publishes as itself: `urn:bpass:handler:<id>` must name the reporting handler, and an OEM
    (`urn:bpass:tenant:<tenant>`) or an authority (`urn:bpass:authority:<id>`) reports under its own name."""
    publisher = _publisher(source)
    if publisher is None or publisher[1] == handler_id:
        return []
    what, name = publisher
    return [
        Violation(
            field="handler_id",
            reason="source_not_handler",
            message=f"{what} {name} published a step reported as {handler_id}; a party reports its own steps "
            "under its own name.",
        )
    ]


def unstorable_field(value: object, path: str = "") -> str | None:
    """The path of the first text holding NUL or a lone surrogate (PostgreSQL and UTF-8 cannot store them)."""
    if isinstance(value, str):
        if "\x00" in value:
            return path
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = unstorable_field(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = unstorable_field(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def text_violations(content: dict[str, Any]) -> list[Violation]:
    """Text PostgreSQL cannot store is refused where it arrives, naming the field (not retried, dead-lettered)."""
    try:  # one C pass for the common case; the walk below only when something may be wrong
        if b"\\u0000" not in orjson.dumps(content):
            return []
    except orjson.JSONEncodeError:  # lone surrogates (or integers beyond 64 bits: the walk finds nothing)
        pass
    where = unstorable_field(content)
    if where is None:
        return []
    return [
        Violation(
            field=where,
            reason="invalid_character",
            message=f"{where} holds a NUL character or a lone surrogate, which cannot be stored.",
        )
    ]


def from_native(
    event: CustodyEventReported,
    envelope: Envelope,
    received: dict[str, Any] | None = None,
    *,
    received_at: datetime | None = None,
) -> CustodyStep:
    targets = event.targets
    references = (
        tuple(targets.passport_ids)
        + tuple(targets.battery_identifiers)
        + tuple(BATCH_REFERENCE_PREFIX + b for b in targets.batch_numbers)
    )
    # `model_dump(mode="json")`, without its Python wrapper (half the cost of the dump on this path)
    content = event.__pydantic_serializer__.to_python(event, mode="json")
    out_of_range = event_time_violations(event.occurred_at, received_at or datetime.now(UTC))
    return CustodyStep(
        kind=event.kind.value,
        # An out-of-range time is only reported back (converting 0001-01-01T00:00+01:00 to UTC overflows).
        occurred_at=event.occurred_at if out_of_range else event.occurred_at.astimezone(UTC),
        handler_id=event.handler_id,
        source_event_id=envelope.id,
        source=envelope.source,
        references=tuple(dict.fromkeys(references)),
        content=content,
        from_handler_id=event.from_handler_id,
        to_handler_id=event.to_handler_id,
        site_id=event.site_id,
        ewc_code=event.ewc_code,
        operation=event.operation,
        hard_violations=source_violations(envelope.source, event.handler_id)
        + _kind_violations(event.kind.value)
        + out_of_range
        + text_violations(content),
        received=received,
    )


def _kind_violations(kind: str) -> list[Violation]:
    """An error declaration corrects a captured EPCIS event; a native event cannot be one."""
    if kind == "error_declaration":
        return [
            Violation(
                field="kind",
                reason="kind_not_reportable",
                message="error_declaration entries come from EPCIS errorDeclaration captures; report the step itself.",
            )
        ]
    return []
