"""The one JSON decoding policy (services/common/jsonpolicy.py): what it refuses, with which reason, and that no
input whatever makes it raise anything but its own refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common import jsonpolicy
from services.common.jsonpolicy import MAX_DEPTH, MAX_NUMBER_CHARS, JsonPolicyViolation, check


def reason_of(body: bytes) -> str | None:
    try:
        check(body, text=True)
    except JsonPolicyViolation as refused:
        return refused.reason
    return None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "json_too_deep"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "json_too_deep"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "json_too_deep"),
        (b'[{"a":' * 33 + b"1" + b"}]" * 33, "json_too_deep"),  # 66 levels of both kinds
        (b"[" * 100_000, "json_too_deep"),  # and unbalanced
        (b'{"n": ' + b"1" * 5_000 + b"}", "number_too_long"),
        (b'{"n": 0.' + b"1" * MAX_NUMBER_CHARS + b"}", "number_too_long"),
        (b'{"s": "a\\u0000b"}', "unstorable_text"),
        (b'{"a\\u0000": 1}', "unstorable_text"),
        (b'{"s": "a\\\\\\u0000b"}', "unstorable_text"),  # an escaped backslash, then the NUL escape
        (b'{"s": "\\ud800"}', "unstorable_text"),
        (b'{"s": "x\\udfffy"}', "unstorable_text"),
        (b'{"s": "\\ud800\\u0041"}', "unstorable_text"),
        (b'{"s": "\xed\xa0\x80"}', "unstorable_text"),  # a surrogate encoded as UTF-8
    ],
)
def test_refused_with_its_reason(body: bytes, reason: str) -> None:
    assert reason_of(body) == reason


@pytest.mark.parametrize(
    "body",
    [
        b"[" * MAX_DEPTH + b"]" * MAX_DEPTH,
        b'["' + b"[" * 1000 + b'"]',  # brackets inside strings do not nest
        b'["\\"' + b"[" * 1000 + b'\\""]',
        b'{"gtin": "' + b"1" * 200 + b'"}',  # digits in text are not numbers
        b'{"n": ' + b"9" * MAX_NUMBER_CHARS + b"}",
        b'{"s": "a\\\\u0000b"}',  # an escaped backslash followed by the text u0000
        b'{"s": "\\ud83d\\ude00 \xc3\xa9"}',
        b"{",  # not JSON: left to the caller's decoder
        b"",
    ],
)
def test_accepted(body: bytes) -> None:
    assert reason_of(body) is None


def test_a_body_over_the_size_limit_is_413() -> None:
    with pytest.raises(JsonPolicyViolation) as refused:
        check(b"[1, 2, 3]", max_bytes=4)
    assert refused.value.reason == "request_too_large"
    assert refused.value.status_code == 413


def nested(depth: int, leaf: Any, kinds: list[bool]) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if kinds[i % len(kinds)] else {"k": value}
    return value


@settings(max_examples=200, deadline=None)
@given(
    depth=st.integers(min_value=0, max_value=3 * MAX_DEPTH),
    kinds=st.lists(st.booleans(), min_size=1, max_size=8),
    leaf=st.one_of(
        st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00")),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=False, allow_infinity=False),
        st.none(),
    ),
)
def test_generated_nesting_is_refused_exactly_past_the_limit(depth: int, kinds: list[bool], leaf: Any) -> None:
    body = json.dumps(nested(depth, leaf, kinds), ensure_ascii=False).encode("utf-8", "surrogatepass")
    reason = reason_of(body)
    assert reason == ("json_too_deep" if depth > MAX_DEPTH else None)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2_000) | st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_arbitrary_bytes_raise_nothing_but_the_policy(body: bytes) -> None:
    assert reason_of(body) in {None, "json_too_deep", "number_too_long", "unstorable_text"}


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(10**30), max_value=10**30)
        | st.text()
        | st.floats(allow_nan=False, allow_infinity=False),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
        max_leaves=30,
    ),
    st.sampled_from(["[", "{", '[{"a":']),
    st.integers(min_value=0, max_value=2_000),
)
def test_what_passes_decodes_with_the_standard_decoder(value: Any, opener: str, extra: int) -> None:
    closer = {"[": "]", "{": "}", '[{"a":': "}]"}[opener]
    text = json.dumps(value)
    body = (opener * extra + text + closer * extra if opener != "{" else '{"a":' * extra + text + "}" * extra).encode(
        "utf-8", "surrogatepass"
    )
    try:
        check(body)
    except JsonPolicyViolation:
        return
    json.loads(body)  # no RecursionError, no ValueError from int conversion: whatever passes is decodable


def test_kafka_payloads_get_the_same_refusal_as_violations() -> None:
    refused = jsonpolicy.violations(b"[" * 10_000 + b"]" * 10_000)
    assert [(v.field, v.reason) for v in refused] == [("", "json_too_deep")]
    assert jsonpolicy.violations(b'{"ok": true}') == []


def test_text_is_left_to_the_services_field_checks_unless_asked() -> None:
    nul = b'{"battery_model": "VX\\u0000400"}'
    assert jsonpolicy.violations(nul) == []
    assert [v.reason for v in jsonpolicy.violations(nul, text=True)] == ["unstorable_text"]


async def run_middleware(body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[list[Any], list[bytes]]:
    """The middleware in front of an app that records the body it receives; (messages sent, bodies received)."""
    sent: list[Any] = []
    received: list[bytes] = []
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)] or [b""]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        received.append(message["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "headers": headers}
    await jsonpolicy.JsonPolicyMiddleware(app, max_bytes=100_000)(scope, receive, send)
    return sent, received


async def test_the_middleware_refuses_before_the_app_and_passes_the_same_body_on() -> None:
    json_type = [(b"content-type", b"application/json")]
    sent, received = await run_middleware(b"[" * 5_000 + b"]" * 5_000, json_type)
    assert received == []
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["violations"][0]["reason"] == "json_too_deep"

    body = json.dumps({"a": [1, 2, {"b": "x" * 3_000}]}).encode()
    sent, received = await run_middleware(body, json_type)
    assert received == [body]
    assert sent[0]["status"] == 200

    sent, received = await run_middleware(b"[1]", [*json_type, (b"content-length", b"999999999")])
    assert (sent[0]["status"], received) == (413, [])
    sent, received = await run_middleware(b"[" * 5_000, [(b"content-type", b"text/plain")])
    assert received == [b"[" * 1000]  # not JSON: the route decides
