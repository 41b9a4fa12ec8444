"""Per-tenant output topics: the change stream and the compacted latest-state topic, created before first use; and
their messages as outbox rows, built from the state's JSON as stored (never re-encoded)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import orjson
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from opentelemetry.trace import Span

from contracts import topics
from contracts.envelope import cloudevent_headers, service_source
from contracts.reporting import PassportChanged, PassportState
from services.common.messaging import new_topic
from services.common.outbox import OutboxRow, new_event_id
from services.common.settings import Settings

log = logging.getLogger(__name__)

PARTITIONS = 3
STATE_TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    # Let a subscriber see recent intermediate states for a minute before they are compacted away.
    "min.compaction.lag.ms": "60000",
    "segment.ms": "3600000",
}
TIMEOUT_S = 20.0


class TenantTopics:
    """Creates `bpass.tenant.<t>.passport-changes.v1` and the compacted `…passport-state.v1` once per tenant."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.known: set[str] = set()
        self._lock = asyncio.Lock()

    async def ensure(self, tenants: set[str]) -> None:
        missing = tenants - self.known
        if not missing:
            return
        async with self._lock:
            missing = tenants - self.known
            if not missing:
                return
            await asyncio.wait_for(self._create(missing), TIMEOUT_S)
            self.known |= missing

    async def _create(self, tenants: set[str]) -> None:
        admin = AIOKafkaAdminClient(**self.settings.kafka_client_options(), request_timeout_ms=15_000)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            wanted: list[NewTopic] = []
            for tenant in sorted(tenants):
                changes = self.settings.topic(topics.tenant_passport_changes(tenant))
                state = self.settings.topic(topics.tenant_passport_state(tenant))
                if changes not in existing:
                    wanted.append(new_topic(self.settings, changes, PARTITIONS))
                if state not in existing:
                    wanted.append(new_topic(self.settings, state, PARTITIONS, STATE_TOPIC_CONFIG))
            for topic in wanted:  # one at a time: a parallel creator makes only its own call fail
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics([topic])
            if wanted:
                log.info("created tenant topics %s", [t.name for t in wanted])
        except KafkaError as exc:
            log.warning("could not create tenant topics for %s: %r", sorted(tenants), exc)
            raise
        finally:
            await admin.close()


SOURCE = service_source("reporting")


def rfc3339(instant: datetime) -> str:
    """As pydantic writes an aware datetime in JSON and `Envelope` in `ce_time`."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def traceparent_of(span: Span | None) -> str | None:
    """W3C `traceparent` of a span (what the propagator injects), None when it is not recording a trace."""
    if span is None:
        return None
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def message_row(
    topic: str, event_type: str, payload: bytes, *, key: str, time: str, traceparent: str | None
) -> OutboxRow:
    """The outbox row `services.common.outbox.build_row` makes (CloudEvents headers of `Envelope.to_headers`), for a
    payload already encoded: a message keyed and subject-ed by its passport id."""
    headers = cloudevent_headers(
        id=new_event_id(), source=SOURCE, type=event_type, time=time, subject=key, traceparent=traceparent
    )
    return OutboxRow(topic, key.encode(), headers, payload)


def passport_changed_json(
    *,
    passport_id: str,
    tenant: str,
    version: int,
    change: str,
    changed_fields: list[str],
    changed_at: str,
    state: bytes,
    valid_from: str | None = None,
    data_version: int | None = None,
) -> bytes:
    """`PassportChanged` v1 as JSON, `state` spliced in as encoded (same document as `model_dump_json`)."""
    return orjson.dumps(
        {
            "passport_id": passport_id,
            "tenant": tenant,
            "version": version,
            "change": change,
            "changed_fields": changed_fields,
            "changed_at": changed_at,
            "state": orjson.Fragment(state),
            "valid_from": valid_from,
            "data_version": data_version,
        }
    )


def passport_state_json(
    *, passport_id: str, tenant: str, version: int, ceased: bool, updated_at: str, state: bytes
) -> bytes:
    """`PassportState` v1 as JSON, `state` spliced in as encoded (same document as `model_dump_json`)."""
    return orjson.dumps(
        {
            "passport_id": passport_id,
            "tenant": tenant,
            "version": version,
            "ceased": ceased,
            "updated_at": updated_at,
            "state": orjson.Fragment(state),
        }
    )


CHANGED_TYPE = PassportChanged.event_type
STATE_TYPE = PassportState.event_type
