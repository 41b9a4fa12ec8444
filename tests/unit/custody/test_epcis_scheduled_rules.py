"""A scheduled webhook subscription's request as the REST binding has it: `schedule` or `stream`, never both;
`reportIfEmpty` for schedules only; a schedule's fields checked and refused naming the field; the subscription
answered back with its schedule and no signature token."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.custody import CapturedEpcisEvent, EpcisEventsCaptured
from services.common.auth import Principal, Role
from services.custody.domain.epcis.query import parse_query
from services.custody.query import named
from services.custody.subscriptions import scheduled_stream, stream
from services.custody.subscriptions.schedule import parse_schedule
from services.custody.subscriptions.webhooks.api import Refused, checked_controls, checked_request
from services.custody.subscriptions.webhooks.store import WebhookSubscription
from services.custody.subscriptions.webhooks.usecases import response_body

DEST = "https://c.example/h"


def _refusal(body: dict[str, object]) -> tuple[str, str]:
    with pytest.raises(Refused) as refused:
        checked_request(body)
    return refused.value.field, refused.value.reason


def test_a_schedule_is_taken_instead_of_stream() -> None:
    body = {"dest": DEST, "schedule": {"second": "*/2"}, "reportIfEmpty": True}
    assert checked_request(body) == (DEST, None, None)
    schedule, report = checked_controls(body)
    assert schedule is not None
    assert report is True
    assert schedule.next_after(datetime(2026, 12, 7, 10, 0, 0, tzinfo=UTC)) == datetime(
        2026, 12, 7, 10, 0, 2, tzinfo=UTC
    )
    assert checked_controls({"dest": DEST, "schedule": {"minute": "0"}, "stream": False})[1] is False
    assert checked_controls({"dest": DEST, "stream": True}) == (None, False)


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"dest": DEST, "schedule": {"second": "*"}, "stream": True}, "stream", "stream_and_schedule"),
        ({"dest": DEST, "schedule": "0 * * * *"}, "schedule", "invalid_schedule"),
        ({"dest": DEST, "schedule": {}}, "schedule", "empty_schedule"),
        ({"dest": DEST, "schedule": {"hours": "1"}}, "schedule.hours", "unknown_schedule_field"),
        ({"dest": DEST, "schedule": {"minute": "61"}}, "schedule.minute", "schedule_value_out_of_range"),
        ({"dest": DEST, "schedule": {"minute": 5}}, "schedule.minute", "invalid_schedule_field"),
        ({"dest": DEST, "schedule": {"dayOfMonth": "30", "month": "2"}}, "schedule", "schedule_never_runs"),
        (
            {"dest": DEST, "schedule": {"second": "*"}, "reportIfEmpty": "yes"},
            "reportIfEmpty",
            "invalid_report_if_empty",
        ),
        ({"dest": DEST, "stream": True, "reportIfEmpty": True}, "reportIfEmpty", "report_if_empty_needs_schedule"),
        ({"dest": DEST}, "stream", "stream_required"),
    ],
)
def test_a_request_that_is_not_a_valid_subscription_is_refused_naming_the_field(
    body: dict[str, object], field: str, reason: str
) -> None:
    assert _refusal(body) == (field, reason)


def _subscription(schedule: dict[str, str] | None, report_if_empty: bool = False) -> WebhookSubscription:
    at = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    return WebhookSubscription(
        subscription_id=uuid.uuid4(),
        seq=1,
        query_owner="carrier:c1",
        query_name="q",
        owner=Principal(tenant=None, role=Role.carrier, key_id="k1"),
        dest=DEST,
        initial_record_time=at,
        created_at=at,
        last_notified_at=None,
        schedule=schedule,
        report_if_empty=report_if_empty,
        next_run_at=at if schedule else None,
    )


def test_a_scheduled_subscription_is_answered_with_its_schedule_not_stream() -> None:
    body = response_body(_subscription({"minute": "0,30"}, report_if_empty=True))
    assert body["schedule"] == {"minute": "0,30"}
    assert body["reportIfEmpty"] is True
    assert "stream" not in body
    assert "signatureToken" not in body
    streamed = response_body(_subscription(None))
    assert streamed["stream"] is True
    assert "schedule" not in streamed


class _Socket:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)


def _captured(*hashes: str) -> EpcisEventsCaptured:
    return EpcisEventsCaptured(
        capture_id=f"c-{uuid.uuid4().hex[:6]}",
        record_time=datetime.now(UTC),
        events=[CapturedEpcisEvent(event_hash=h, event_type="ObjectEvent") for h in hashes],
    )


async def test_a_scheduled_socket_keeps_a_bounded_number_of_events_for_its_next_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    query = named.NamedQuery("tenant:t", "q", {}, [], datetime.now(UTC))

    async def find(*_: object) -> named.NamedQuery:
        return query

    async def matching(_pool: object, _query: object, _principal: object, hashes: list[str]) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        return [
            {"event_hash": h, "record_time": now, "seq": n, "context": [], "event": {}} for n, h in enumerate(hashes)
        ]

    monkeypatch.setattr(named, "find", find)
    monkeypatch.setattr(scheduled_stream, "matching_rows", matching)
    monkeypatch.setattr(scheduled_stream, "MAX_RUN_EVENTS", 3)
    socket = _Socket()
    subscription = stream.StreamSubscription(
        socket,  # type: ignore[arg-type]
        Principal("t", Role.carrier, "k"),
        query,
        parse_query([]),
        None,
        False,
        queue_facts=10,
        schedule=parse_schedule({"month": "1", "dayOfMonth": "1", "hour": "0", "minute": "0"}),
    )
    subscription.offer(_captured("h1", "h2"))
    subscription.offer(_captured("h1", "h2"))  # a fact read again: its events are kept once
    subscription.offer(_captured("h3"))
    sender = asyncio.create_task(scheduled_stream.send_scheduled(None, subscription))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert not sender.done()  # three events wait for the run (next 1 January)
    subscription.offer(_captured("h4"))
    with pytest.raises(scheduled_stream.RunTooLarge):
        await asyncio.wait_for(sender, 1)
    assert socket.sent == []
