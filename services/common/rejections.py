"""Refusing consumed messages. Every service's refusal is one `MessageRejected` fact built here, on the rejected
topic its publisher reads (a partner's own for a message of a partner topic, else the service's); a message that
kept failing is copied as it came to the service's dead-letter topic, the error in its headers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord

from contracts.envelope import Envelope
from contracts.errors import Violation
from contracts.rejections import MessageRejected
from contracts.topics import dead_letter_topic, partner_rejected_topic
from services.common import metrics
from services.common.outbox import OutboxRow, build_row, new_event_id
from services.common.parsing import partner_of_topic
from services.common.settings import Settings


@dataclass(frozen=True, slots=True)
class Origin:
    """A consumed message as its refusal names it: where it was read, and the CloudEvents attributes it carried
    (none when they were unreadable)."""

    topic: str
    partition: int
    offset: int
    key: str | None
    ce_id: str | None = None
    ce_source: str | None = None
    ce_type: str | None = None
    subject: str | None = None

    @classmethod
    def of(cls, record: ConsumerRecord[Any, Any], envelope: Envelope | None) -> Origin:
        key = record.key.decode("utf-8", "replace") if isinstance(record.key, bytes) else None
        if envelope is None:
            return cls(record.topic, record.partition, record.offset, key)
        return cls(
            record.topic, record.partition, record.offset, key, envelope.id, envelope.source, envelope.type,
            envelope.subject,
        )  # fmt: skip


def rejection_topic_of(settings: Settings, topic: str, default: str) -> str:
    """Where the refusal of a message read from `topic` (namespaced) goes: a partner's own rejected topic for a
    message of a partner topic (no other partner sees it), else `default`, the service's."""
    partner = partner_of_topic(settings, topic)
    return settings.topic(partner_rejected_topic(partner)) if partner is not None else default


def rejection_row(
    origin: Origin,
    violations: list[Violation],
    *,
    topic: str,
    source: str,
    service: str,
    extra_headers: list[tuple[str, str]] | None = None,
    counted: bool = True,
) -> OutboxRow:
    """The outbox row of a refusal, on `topic` (`rejection_topic_of`), published as `source`; each violation is
    counted by reason unless the notice is not a refusal (`counted=False`: a step accepted with a flag)."""
    if counted:
        for violation in violations:
            metrics.REJECTIONS.labels(service, origin.topic, violation.reason).inc()
    message = MessageRejected(
        rejected_topic=origin.topic,
        rejected_partition=origin.partition,
        rejected_offset=origin.offset,
        rejected_ce_id=origin.ce_id,
        rejected_ce_source=origin.ce_source,
        rejected_ce_type=origin.ce_type,
        rejected_at=datetime.now(UTC),
        violations=violations,
    )
    return build_row(topic, message, source=source, key=origin.key, subject=origin.subject, extra_headers=extra_headers)


def dead_letter_row(
    record: ConsumerRecord[Any, Any], error: BaseException, *, settings: Settings, service: str
) -> OutboxRow:
    """The record as it came (headers, key, body), on the service's dead-letter topic, with why it failed."""
    headers = [(name, value.decode("utf-8", "replace")) for name, value in (record.headers or [])]
    headers += [
        ("bpass_dlq_error", repr(error)[:2000]),
        ("bpass_dlq_error_type", type(error).__name__),
        ("bpass_dlq_original_topic", record.topic),
        ("bpass_dlq_original_partition", str(record.partition)),
        ("bpass_dlq_original_offset", str(record.offset)),
        ("bpass_dlq_tries", str(settings.consumer_max_tries)),
        ("bpass_dlq_service", service),
        ("bpass_dlq_id", new_event_id()),
    ]
    return OutboxRow(
        topic=settings.topic(dead_letter_topic(service)),
        key=record.key if isinstance(record.key, bytes) else None,
        headers=headers,
        payload=record.value or b"",
    )
