"""Facts custody publishes, as outbox rows. The hot one (`CustodyRecorded`, one per chain entry) is encoded
straight to JSON: its fields are already validated, and building a pydantic model and a CloudEvents envelope per
entry costs more than the rest of its path. `tests/unit/custody/test_facts.py` holds the encoding to the
contract: what is written here validates as `CustodyRecorded` and carries the same CloudEvents headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import uuid_utils
from opentelemetry import trace
from opentelemetry.trace import Span

from contracts.base import Message
from contracts.custody import CustodyRecorded
from contracts.envelope import cloudevent_headers, cloudevent_time
from services.common.outbox import Outbox, OutboxRow, current_traceparent

CUSTODY_RECORDED_TYPE = CustodyRecorded.event_type


@dataclass(frozen=True)
class Publication:
    """A fact to publish: a contract model, or (for `CustodyRecorded`) its fields as JSON-ready data."""

    topic: str
    message: Message | None
    key: str | None
    subject: str | None = None
    data: dict[str, Any] | None = None
    event_type: str | None = None


def recorded(data: dict[str, Any], key: str) -> Publication:
    return Publication(
        topic="bpass.custody.custody-recorded.v1",
        message=None,
        key=key,
        subject=key,
        data=data,
        event_type=CUSTODY_RECORDED_TYPE,
    )


def traceparent(span: Span | None = None) -> str | None:
    """W3C traceparent of `span` (default: the current span), without the propagator machinery (same value as
    `inject`)."""
    context = (span if span is not None else trace.get_current_span()).get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


CURRENT = "current"  # `fast_row(parent=...)`: the current span's traceparent


def fast_row(
    topic: str, publication: Publication, *, source: str, ce_time: str, parent: str | None = CURRENT
) -> OutboxRow:
    """The outbox row `build_row` would write for this fact, encoded directly (`parent`: the traceparent of the
    span it is written in, when the caller has it at hand)."""
    if publication.data is None or publication.event_type is None:
        raise ValueError("a fast-encoded publication carries data and an event type")
    if parent is CURRENT:
        parent = traceparent()
    headers = cloudevent_headers(
        id=str(uuid_utils.uuid7()),
        source=source,
        type=publication.event_type,
        time=ce_time,
        subject=publication.subject,
        traceparent=parent,
    )
    key = publication.key.encode() if publication.key is not None else None
    return OutboxRow(topic, key, headers, orjson.dumps(publication.data, default=_default))


def _default(value: object) -> Any:
    if isinstance(value, Message):
        return value.model_dump(mode="json")
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot encode {type(value).__name__}")


def ce_time(now: datetime | None = None) -> str:
    """`ce_time` as the envelope writes it; computed once for a batch of facts."""
    return cloudevent_time(now or datetime.now(UTC))


def add(
    outbox: Outbox, topic: str, publication: Publication, *, at: str | None = None, parent: str | None = CURRENT
) -> None:
    """Put a publication in the outbox (`topic` is the physical, namespaced topic; `at` from `ce_time()`;
    `parent` as for `fast_row`, for fast-encoded facts only: a contract model takes the current span's)."""
    if publication.message is not None:
        outbox.add(topic, publication.message, key=publication.key, subject=publication.subject)
    else:
        outbox.add_row(fast_row(topic, publication, source=outbox.source, ce_time=at or ce_time(), parent=parent))


__all__ = [
    "CURRENT",
    "Publication",
    "add",
    "ce_time",
    "current_traceparent",
    "fast_row",
    "recorded",
    "traceparent",
]
