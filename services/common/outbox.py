"""The transactional outbox: events are rows written with the effects that cause them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

import uuid_utils
from opentelemetry import propagate

from contracts.base import Message
from contracts.envelope import cloudevent_headers, cloudevent_time
from services.common.db import DbConnection

# Every service serialises its outbox inserts on this lock (per schema, per database), so that the bigserial order
# of outbox rows equals their commit order and the relay never skips a late committer; with it, the relay's wake-up
# (delivered at commit) and the schema to COPY into, in one round trip.
FLUSH_PREPARE_SQL = (
    "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.outbox')), "
    "pg_notify(current_schema() || '_outbox', ''), current_schema()"
)


class OutboxRow(NamedTuple):
    """One outbox row, in the table's column order: `flush` copies rows as they are (one per fact on hot paths,
    where a frozen dataclass cost more to build and then to turn into the tuple COPY takes)."""

    topic: str
    key: bytes | None
    headers: list[tuple[str, str]]
    payload: bytes


def new_event_id() -> str:
    return str(uuid_utils.uuid7())


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def build_row(
    topic: str,
    message: Message,
    *,
    source: str,
    key: str | None,
    subject: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
    extra_headers: list[tuple[str, str]] | None = None,
) -> OutboxRow:
    headers = cloudevent_headers(
        id=event_id or new_event_id(),
        source=source,
        type=message.event_type,
        time=cloudevent_time(time or datetime.now(UTC)),
        subject=subject,
        traceparent=current_traceparent(),
    )
    if extra_headers:
        headers.extend(extra_headers)
    return OutboxRow(topic, key.encode() if key is not None else None, headers, message.model_dump_json().encode())


@dataclass
class Outbox:
    """Collects rows during a unit of work; `flush` writes them inside the caller's transaction."""

    source: str
    rows: list[OutboxRow] = field(default_factory=list)

    def add(
        self,
        topic: str,
        message: Message,
        *,
        key: str | None,
        subject: str | None = None,
        event_id: str | None = None,
    ) -> None:
        self.rows.append(build_row(topic, message, source=self.source, key=key, subject=subject, event_id=event_id))

    def add_row(self, row: OutboxRow) -> None:
        self.rows.append(row)

    async def flush(self, conn: DbConnection) -> int:
        if not self.rows:
            return 0
        prepared = await conn.fetchrow(FLUSH_PREPARE_SQL)
        assert prepared is not None
        await conn.copy_records_to_table(
            "outbox",
            columns=["topic", "message_key", "headers", "payload"],
            records=self.rows,
            schema_name=prepared[2],
        )
        count = len(self.rows)
        self.rows.clear()
        return count
