"""A row Kafka refuses for good (larger than the producer's limit) is moved to `outbox_refused` with the error,
and the rows behind it are published: the outbox neither loses it nor stops at it."""

from __future__ import annotations

import json
import uuid

import asyncpg

from services.common.messaging import ensure_topics
from services.common.settings import Settings
from tests.support import ServiceProcess, eventually, read_topic

INSERT_SQL = """
INSERT INTO outbox (topic, message_key, headers, payload) VALUES ($1, $2, $3::jsonb, $4) RETURNING id
"""


async def test_a_refused_row_is_set_aside_and_the_rows_behind_it_are_published(
    platform: dict[str, ServiceProcess], settings: Settings, db: asyncpg.Connection
) -> None:
    topic = f"{settings.topic_namespace}relay-refused-{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [(topic, 1)])
    headers = json.dumps([["ce_id", str(uuid.uuid4())], ["ce_type", "t"]])
    async with db.transaction():  # as services write their outbox: under its lock, which keeps ids in commit order
        await db.execute("SET LOCAL search_path = custody")
        await db.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.outbox'))")
        huge = await db.fetchval(INSERT_SQL, topic, b"k", headers, b"x" * (2 * 1024 * 1024))
        after = await db.fetchval(INSERT_SQL, topic, b"k", headers, b"behind the refused one")
        await db.execute("SELECT pg_notify('custody_outbox', '')")

    async def published() -> list[bytes] | None:
        values = [record.value for record in await read_topic(settings, topic, physical=True)]
        return values or None

    assert await eventually(published, what="the row behind the refused one") == [b"behind the refused one"]

    async def set_aside() -> asyncpg.Record | None:
        # The relay copies the refused row, then deletes both rows from the outbox: a statement each, so wait for
        # the deletion too, not only the copy.
        row = await db.fetchrow(
            "SELECT topic, length(payload) AS size, error FROM custody.outbox_refused WHERE id = $1", huge
        )
        left = await db.fetchval("SELECT count(*) FROM custody.outbox WHERE id = ANY($1::bigint[])", [huge, after])
        return row if row is not None and left == 0 else None

    refused = await eventually(set_aside, what="the refused row set aside and both rows gone from the outbox")
    assert (refused["topic"], refused["size"]) == (topic, 2 * 1024 * 1024)
    assert "MessageSizeTooLargeError" in refused["error"]
