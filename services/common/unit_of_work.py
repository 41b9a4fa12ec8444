"""What an apply function of consumed messages works with: the valid messages of a batch (`Inbound`) and the batch's one
transaction (`UnitOfWork`): its connection, its outbox, and what it records of each message's outcome."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiokafka import ConsumerRecord
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span

from contracts.base import Message
from contracts.envelope import Envelope
from contracts.errors import Violation
from services.common.db import DbConnection
from services.common.outbox import Outbox, OutboxRow
from services.common.rejections import Origin, rejection_row, rejection_topic_of
from services.common.settings import Settings
from services.common.tracing import current_passport_id

P = TypeVar("P", bound=Message)


@dataclass(frozen=True)
class Inbound(Generic[P]):
    """One valid inbound message handed to an apply function."""

    record: ConsumerRecord[Any, Any]
    envelope: Envelope
    payload: P

    @property
    def dedup_key(self) -> str:
        return self.envelope.dedup_key


@dataclass
class UnitOfWork:
    """What an apply function may touch: the transaction's connection and its outbox."""

    conn: DbConnection
    outbox: Outbox
    service: str
    settings: Settings
    rejected_topic: str
    outcomes: dict[str, str] = field(default_factory=dict)
    # What must wait for the commit (dropping cache entries of what the batch changed); run once it is done.
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    spans: dict[str, Span] = field(default_factory=dict)

    def each(self, items: Iterable[Inbound[P]]) -> Iterator[Inbound[P]]:
        """Iterate a batch with each item's trace active: what it causes joins its publisher's trace."""
        for item in items:
            with self.tracing(item):
                yield item

    @contextmanager
    def tracing(self, item: Inbound[Any]) -> Iterator[None]:
        span = self.spans.get(item.dedup_key)
        token = otel_context.attach(trace.set_span_in_context(span)) if span is not None else None
        passport_token = current_passport_id.set(item.envelope.subject)
        try:
            yield
        finally:
            current_passport_id.reset(passport_token)
            if token is not None:
                otel_context.detach(token)

    def rejection_topic(self, topic: str) -> str:
        """Where the refusal of a message read from `topic` (namespaced) goes (`rejections.rejection_topic_of`)."""
        return rejection_topic_of(self.settings, topic, self.rejected_topic)

    def rejection_row(
        self,
        origin: Origin,
        violations: list[Violation],
        *,
        extra_headers: list[tuple[str, str]] | None = None,
        counted: bool = True,
    ) -> OutboxRow:
        """The refusal of a message read at `origin`, from this service, on the topic its publisher reads."""
        return rejection_row(
            origin,
            violations,
            topic=self.rejection_topic(origin.topic),
            source=self.outbox.source,
            service=self.service,
            extra_headers=extra_headers,
            counted=counted,
        )

    def reject(self, item: Inbound[Any], violations: list[Violation]) -> None:
        """Refuse an item for a domain reason: nothing of it is applied, the publisher is told why."""
        self.outcomes[item.dedup_key] = "rejected"
        with self.tracing(item):
            self.outbox.add_row(self.rejection_row(Origin.of(item.record, item.envelope), violations))

    def park(self, item: Inbound[Any]) -> None:
        """Mark an item as parked: kept by the apply function until what it refers to exists."""
        self.outcomes[item.dedup_key] = "parked"

    def publish(self, topic: str, message: Message, *, key: str | None, subject: str | None = None) -> None:
        self.outbox.add(self.settings.topic(topic), message, key=key, subject=subject)


ApplyBatch = Callable[[UnitOfWork, list[Inbound[P]]], Awaitable[None]]
