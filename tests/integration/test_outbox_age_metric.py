"""bpass_outbox_oldest_age_seconds (alert BpassOutboxStale): the relay reports the age of the oldest row it has not
published yet, and 0 once the outbox is empty."""

from __future__ import annotations

import pytest

from services.common import metrics
from tests.integration.test_outbox_inbox_relay_on_postgres import (  # noqa: F401 - pg, db: the fixtures
    SERVICE,
    Db,
    RecordingProducer,
    _empty,
    db,
    pg,
    running_relay,
    until,
    write_outbox,
)

pytestmark = pytest.mark.integration


def outbox_age() -> float:
    return float(metrics.OUTBOX_AGE.labels(SERVICE)._value.get())


async def test_the_relay_reports_the_age_of_the_oldest_unpublished_row_then_zero(db: Db) -> None:  # noqa: F811
    await write_outbox(db, [("bpass.t.v1", b"k", f"{i}".encode()) for i in range(3)])
    async with db.pool.acquire() as conn:  # the first row waits since ten minutes, the others since now
        await conn.execute(
            "UPDATE outbox SET created_at = now() - interval '10 minutes' WHERE id = (SELECT min(id) FROM outbox)"
        )
    metrics.OUTBOX_AGE.labels(SERVICE).set(-1)
    producer = RecordingProducer(hold=True)  # Kafka does not acknowledge: the rows stay unpublished
    relay = await running_relay(db, producer)
    try:
        await until(lambda: outbox_age() >= 0, "the relay's first fetch")
        assert 600 <= outbox_age() < 660
        producer.hold = False
        producer.release()
        await until(lambda: _empty(db), "the rows published")
        await until(lambda: outbox_age() == 0, "the age back to 0 once nothing waits")
    finally:
        await relay.stop()
