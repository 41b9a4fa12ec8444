"""Headers that are not UTF-8 (a CloudEvents attribute or any other header) are answered like any bad message:
refused on the rejected topic, and the partition goes on with the message behind them."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from contracts import topics
from services.common.settings import Settings
from tests.integration.test_delivery_guarantees import custody_event, passport_custody_knows
from tests.support import ServiceProcess, cloudevent_headers, eventually, publish, read_topic


async def test_undecodable_headers_never_block_the_partition(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str], db: asyncpg.Connection
) -> None:
    passport_id = await passport_custody_knows(platform, settings, tenant[1], db, "HDR", owner=tenant[0])
    source = "urn:bpass:handler:carrier-1"
    topic = topics.CUSTODY_EVENTS.name
    good = custody_event(passport_id)
    body = good.model_dump_json().encode()
    headers = cloudevent_headers(good, source=source)
    bad_ce_id = [(n, b"\xff\xfeid" if n == "ce_id" else v) for n, v in headers]
    bad_extra = [*cloudevent_headers(good, source=source, event_id=str(uuid.uuid4())), ("x-note", b"\xc3\x28")]
    # Same key, so same partition: the good one comes after both.
    await publish(settings, topic, body, key=passport_id, headers=bad_ce_id)
    await publish(settings, topic, body, key=passport_id, headers=bad_extra)
    await publish(settings, topic, body, key=passport_id, headers=cloudevent_headers(good, source=source))

    async def applied() -> int | None:
        count: int = await db.fetchval("SELECT count(*) FROM custody.custody_log WHERE passport_id = $1", passport_id)
        return count or None

    # The event is applied once: from the message with the stray header (the header is not ours, the event is
    # valid) or from the good one (a duplicate of it); the undecodable ce_id is refused.
    assert await eventually(applied, what="the good message behind them applied") == 1

    async def refusal() -> list[Any] | None:
        for record in await read_topic(settings, topics.CUSTODY_REJECTED.name):
            refused = json.loads(record.value)
            if record.key == passport_id.encode():
                return [(v["field"], v["reason"]) for v in refused["violations"]]
        return None

    violations = await eventually(refusal, what="the refusal of the undecodable ce_id")
    assert any(field == "headers.ce_id" for field, _ in violations), violations
