"""EPCIS webhook subscriptions without I/O: where a webhook may go (no request forgery), the GS1-Signature header,
the retry back-off, the subscription request's rules and the document a delivery POSTs."""

from __future__ import annotations

import ipaddress
import random
import uuid
from datetime import UTC, datetime

import jsonschema
import pytest

from services.custody.subscriptions.webhooks.api import (
    SUBSCRIPTION_EXAMPLE,
    SUBSCRIPTION_SCHEMA,
    Refused,
    checked_request,
)
from services.custody.subscriptions.webhooks.delivery import RetryPolicy, query_document
from services.custody.subscriptions.webhooks.destination import (
    DestinationRefused,
    address_allowed,
    check_url,
    resolve,
)
from services.custody.subscriptions.webhooks.signing import signature, verify
from services.custody.subscriptions.webhooks.store import Claimed


@pytest.mark.parametrize(
    ("dest", "allow_local", "reason"),
    [
        ("http://client.example.com/hook", False, "dest_not_https"),
        ("http://127.0.0.1:9000/hook", False, "dest_not_https"),
        ("http://10.0.0.5/hook", True, "dest_not_https"),  # http only to loopback, even where local is allowed
        ("ftp://client.example.com/hook", False, "dest_invalid"),
        ("https:///nohost", False, "dest_invalid"),
        ("https://user:pw@client.example.com/hook", False, "dest_credentials"),
        ("https://client.example.com/hook#frag", False, "dest_invalid"),
        ("https://client.example.com:99999/hook", False, "dest_invalid"),
        ("https://" + "a" * 2000 + ".com/", False, "dest_too_long"),
    ],
)
def test_a_dest_breaking_a_url_rule_is_refused_with_its_reason(dest: str, allow_local: bool, reason: str) -> None:
    with pytest.raises(DestinationRefused) as refused:
        check_url(dest, allow_local=allow_local)
    assert refused.value.reason == reason


def test_https_is_accepted_and_http_only_to_loopback_where_local_is_allowed() -> None:
    assert check_url("https://client.example.com/hook", allow_local=False).hostname == "client.example.com"
    assert check_url("http://127.0.0.1:9000/hook", allow_local=True).port == 9000
    assert check_url("http://localhost:9000/hook", allow_local=True).hostname == "localhost"
    assert check_url("http://[::1]:9000/hook", allow_local=True).hostname == "::1"


@pytest.mark.parametrize(
    ("address", "public_only", "local_allowed"),
    [
        ("93.184.216.34", True, True),
        ("2606:2800:220:1:248:1893:25c8:1946", True, True),
        ("127.0.0.1", False, True),
        ("::1", False, True),
        ("10.1.2.3", False, True),
        ("172.16.0.1", False, True),
        ("192.168.1.1", False, True),
        ("fd00::1", False, True),
        ("169.254.169.254", False, False),  # cloud metadata: link-local, never
        ("fe80::1", False, False),
        ("::ffff:169.254.169.254", False, False),  # IPv4-mapped form of the same
        ("::ffff:10.0.0.1", False, True),
        ("0.0.0.0", False, False),
        ("224.0.0.1", False, False),
        ("240.0.0.1", False, False),
    ],
)
def test_which_addresses_a_webhook_may_reach(address: str, public_only: bool, local_allowed: bool) -> None:
    ip = ipaddress.ip_address(address)
    assert address_allowed(ip, allow_local=False) is public_only
    assert address_allowed(ip, allow_local=True) is local_allowed


async def test_a_literal_private_or_metadata_address_is_refused_before_any_request() -> None:
    for dest in ("https://10.0.0.8/hook", "https://169.254.169.254/latest/meta-data", "https://[::1]/hook"):
        with pytest.raises(DestinationRefused) as refused:
            await resolve(dest, allow_local=False)
        assert refused.value.reason == "dest_address_refused"
    with pytest.raises(DestinationRefused):
        await resolve("https://169.254.169.254/latest/meta-data", allow_local=True)
    target = await resolve("http://127.0.0.1:9/hook", allow_local=True)
    assert str(target.address) == "127.0.0.1"


async def test_a_name_resolving_to_loopback_is_refused_unless_local_is_allowed() -> None:
    with pytest.raises(DestinationRefused) as refused:
        await resolve("https://localhost/hook", allow_local=False)
    assert refused.value.reason == "dest_address_refused"
    assert (await resolve("https://localhost/hook", allow_local=True)).address.is_loopback


def test_the_signature_verifies_with_the_token_and_nothing_else() -> None:
    body = b'{"type":"EPCISQueryDocument"}'
    header = signature("s3cret", 1_800_000_000, body)
    assert header.startswith("t=1800000000,hmac-sha256=")
    assert verify("s3cret", header, body, now=1_800_000_010)
    assert not verify("other", header, body, now=1_800_000_010)
    assert not verify("s3cret", header, body + b" ", now=1_800_000_010)
    assert not verify("s3cret", header.replace("t=1800000000", "t=1800000001"), body, now=1_800_000_010)
    assert not verify("s3cret", header, body, now=1_800_000_000 + 301)  # a replay, later
    assert not verify("s3cret", "garbage", body, now=1_800_000_000)


def test_back_off_doubles_with_jitter_up_to_its_cap_and_gives_up_at_the_limits() -> None:
    policy = RetryPolicy(base_s=2.0, cap_s=60.0, max_attempts=5, max_age_s=3600.0)
    rng = random.Random(7)
    for attempts, full in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 32.0), (6, 60.0), (30, 60.0)]:
        delays = [policy.delay_s(attempts, rng) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays), (attempts, min(delays), max(delays))
        assert max(delays) - min(delays) > full / 4  # jittered, not one value
    assert not policy.gives_up(4, 10.0)
    assert policy.gives_up(5, 10.0)
    assert policy.gives_up(1, 3600.0)


def _refusal(body: object) -> tuple[str, str]:
    with pytest.raises(Refused) as refused:
        checked_request(body)
    return refused.value.field, refused.value.reason


def test_a_subscription_request_follows_the_binding() -> None:
    dest, token, initial = checked_request(
        {
            "dest": "https://c.example/h",
            "signatureToken": "abc",
            "stream": True,
            "initialRecordTime": "2026-01-01T01:00:00+01:00",
        }
    )
    assert (dest, token, initial) == ("https://c.example/h", "abc", datetime(2026, 1, 1, tzinfo=UTC))
    assert checked_request({"dest": "https://c.example/h", "stream": True, "reportIfEmpty": False})[1] is None
    assert _refusal([]) == ("", "invalid_subscription")
    assert _refusal({"stream": True}) == ("dest", "dest_missing")
    assert _refusal({"dest": "https://c.example/h"}) == ("stream", "stream_required")
    assert _refusal({"dest": "https://c.example/h", "stream": False}) == ("stream", "stream_required")
    assert _refusal({"dest": "https://c.example/h", "schedule": {"hour": "24"}}) == (
        "schedule.hour",
        "schedule_value_out_of_range",
    )
    assert _refusal({"dest": "https://c.example/h", "stream": True, "reportIfEmpty": True}) == (
        "reportIfEmpty",
        "report_if_empty_needs_schedule",
    )
    assert _refusal({"dest": "https://c.example/h", "stream": True, "signatureToken": 5}) == (
        "signatureToken",
        "invalid_signature_token",
    )
    assert _refusal({"dest": "https://c.example/h", "stream": True, "initialRecordTime": "2026-01-01T00:00:00"}) == (
        "initialRecordTime",
        "invalid_time",
    )
    assert _refusal({"dest": "https://c.example/h", "stream": True, "secret": "x"}) == ("secret", "unknown_field")


def test_a_delivery_posts_a_query_document_naming_its_subscription_and_query() -> None:
    subscription_id = uuid.uuid4()
    event = {"type": "ObjectEvent", "eventID": "urn:uuid:1"}
    claimed = Claimed(
        delivery_id=1,
        subscription_id=subscription_id,
        query_name="MyQuery",
        dest="https://c.example/h",
        signature_token=None,
        capture_id="c1",
        record_time=datetime(2026, 1, 1, tzinfo=UTC),
        events=[event],
        context=[{"ex": "https://ex.example/"}],
        attempts=0,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        lapsed_lease=None,
    )
    document = query_document(claimed, datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC))
    assert document["type"] == "EPCISQueryDocument"
    assert document["creationDate"] == "2026-01-02T03:04:05.600Z"
    assert document["@context"] == [
        "https://ref.gs1.org/standards/epcis/epcis-context.jsonld",
        {"ex": "https://ex.example/"},
    ]
    results = document["epcisBody"]["queryResults"]
    assert results == {
        "subscriptionID": str(subscription_id),
        "queryName": "MyQuery",
        "resultsBody": {"eventList": [event]},
    }


def test_the_documented_request_example_is_valid_and_accepted() -> None:
    jsonschema.Draft202012Validator(SUBSCRIPTION_SCHEMA).validate(SUBSCRIPTION_EXAMPLE)
    assert checked_request(dict(SUBSCRIPTION_EXAMPLE))[0] == SUBSCRIPTION_EXAMPLE["dest"]
