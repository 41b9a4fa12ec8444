"""Named queries and WebSocket subscriptions without I/O: the binding's query object as query-string pairs, a
definition's refusals, whose a name is, list page tokens, a subscription's controls, and a socket's bounded queue and
memory of what it sent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.custody import CapturedEpcisEvent, EpcisEventsCaptured
from services.common.auth import Principal, Role
from services.custody.domain.epcis.query import QueryParameterError, parse_query
from services.custody.query import named
from services.custody.subscriptions import stream
from services.custody.subscriptions.stream_api import SubscriptionRefused, _controls


def test_the_query_object_becomes_the_pairs_of_a_query_string() -> None:
    pairs = named.query_pairs(
        {"eventType": ["ObjectEvent", "AggregationEvent"], "EQ_bizStep": "shipping", "eventCountLimit": 5,
         "EXISTS_bizLocation": True}
    )  # fmt: skip
    assert pairs == [
        ("eventType", "ObjectEvent"),
        ("eventType", "AggregationEvent"),
        ("EQ_bizStep", "shipping"),
        ("eventCountLimit", "5"),
        ("EXISTS_bizLocation", ""),
    ]
    query = parse_query(pairs)
    assert query.event_types == ("ObjectEvent", "AggregationEvent")
    assert query.event_count_limit == 5
    assert query.exists == ("bizLocation",)


@pytest.mark.parametrize(
    ("query", "parameter", "reason"),
    [
        ({"EQ_bizStep": []}, "EQ_bizStep", "empty_query_parameter_value"),
        ({"EQ_bizStep": [{"x": 1}]}, "EQ_bizStep", "invalid_query_parameter_value"),
        ({"EXISTS_bizLocation": False}, "EXISTS_bizLocation", "invalid_query_parameter_value"),
        ({"eventCountLimit": 2.5}, "eventCountLimit", "invalid_query_parameter_value"),
        ({"nextPageToken": "abc"}, "nextPageToken", "paging_in_named_query"),
        ({"EQ_colour": "red"}, "EQ_colour", "unknown_query_parameter"),
    ],
)
def test_a_definition_that_could_not_run_names_its_parameter(
    query: dict[str, Any], parameter: str, reason: str
) -> None:
    with pytest.raises(QueryParameterError) as refused:
        named.checked_definition({"name": "q", "query": query})
    assert (refused.value.parameter, refused.value.reason) == (parameter, reason)


@pytest.mark.parametrize(
    ("body", "field"),
    [(None, ""), ({"name": "a b", "query": {}}, "name"), ({"name": "x" * 201, "query": {}}, "name"),
     ({"name": "q", "query": []}, "query"), ({"name": "q", "query": {}, "extra": 1}, "extra")],
)  # fmt: skip
def test_a_body_that_is_not_a_definition_is_refused(body: object, field: str) -> None:
    with pytest.raises(named.InvalidQueryDefinition) as refused:
        named.checked_definition(body)
    assert refused.value.field == field


def test_a_name_is_the_tenants_or_for_an_auditor_or_a_role_without_one_the_keys() -> None:
    admin, user = Principal("oem-1", Role.oem_admin, "k1"), Principal("oem-1", Role.oem_user, "k5")
    assert named.owner_of(admin) == named.owner_of(user) == "tenant:oem-1"
    carrier = Principal("carrier-1", Role.carrier, "k6")
    assert named.owner_of(carrier) == "tenant:carrier-1"
    auditor = Principal("oem-1", Role.auditor, "k2")  # read-only: never the OEM's names (it could delete them)
    assert named.owner_of(auditor) == f"principal:{auditor.name}"
    first, second = Principal(None, Role.regulator, "k3"), Principal(None, Role.regulator, "k4")
    assert named.owner_of(first) != named.owner_of(second)


def test_list_tokens_round_trip_and_others_are_refused() -> None:
    assert named.decode_list_token(named.encode_list_token("my.query-1")) == "my.query-1"
    for token in ("%%%", named.encode_list_token("not a name")):
        with pytest.raises(QueryParameterError):
            named.decode_list_token(token)


def test_subscription_controls() -> None:
    assert _controls([("stream", "true")]) == (None, False)
    initial, report = _controls([("stream", "true"), ("initialRecordTime", "2026-03-01T10:00:00Z"),
                                 ("reportIfEmpty", "true")])  # fmt: skip
    assert initial == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert report is True
    for pairs, reason in (
        ([], "stream_required"),
        ([("stream", "true"), ("minute", "5")], "stream_and_schedule"),
        ([("stream", "true"), ("stream", "true")], "repeated_query_parameter"),
        ([("stream", "true"), ("perPage", "5")], "parameter_not_for_subscription"),
    ):
        with pytest.raises(SubscriptionRefused) as refused:
            _controls(pairs)
        assert refused.value.reason == reason


def fact(n: int) -> EpcisEventsCaptured:
    return EpcisEventsCaptured(
        capture_id=f"c{n}",
        record_time=datetime.now(UTC),
        events=[CapturedEpcisEvent(event_hash=f"h{n}", event_type="ObjectEvent")],
    )


async def test_a_full_queue_marks_the_socket_slow() -> None:
    query = named.NamedQuery("tenant:t", "q", {}, [], datetime.now(UTC))
    subscription = stream.StreamSubscription(
        None,  # type: ignore[arg-type]  # no socket needed to queue
        Principal("t", Role.carrier, "k"),
        query,
        parse_query([]),
        None,
        False,
        queue_facts=2,
    )
    subscription.offer(fact(1))
    subscription.offer(fact(2))
    assert not subscription.overflowed.is_set()
    subscription.offer(fact(3))  # a plain call: the consumer never waits on a socket
    assert subscription.overflowed.is_set()
    assert subscription.facts.qsize() == 2


def test_an_event_is_sent_once_per_socket_and_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "REMEMBERED_HASHES", 3)
    query = named.NamedQuery("tenant:t", "q", {}, [], datetime.now(UTC))
    subscription = stream.StreamSubscription(
        None,  # type: ignore[arg-type]
        Principal("t", Role.carrier, "k"),
        query,
        parse_query([]),
        None,
        False,
        queue_facts=2,
    )
    assert [subscription.remember(h) for h in ("a", "b", "a", "c")] == [True, True, False, True]
    subscription.remember("d")  # the oldest is forgotten past the bound
    assert list(subscription.sent) == ["b", "c", "d"]
