"""A custody event whose CloudEvents attributes are present but out of the envelope's bounds is refused with the
header and the rule named, like any other invalid message; it used to raise out of the batch's parsing, so the
batch was rewound and redelivered for ever (a poison message blocking its partition)."""

from __future__ import annotations

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from contracts.custody import CustodyEventReported
from services.common.parsing import parse_record

pytestmark = pytest.mark.unit

BODY = orjson.dumps(
    {
        "kind": "dispatch",
        "occurred_at": "2026-03-01T10:00:00Z",
        "handler_id": "carrier-1",
        "targets": {"passport_ids": ["urn:uuid:1"]},
    }
)


def record(**overrides: bytes) -> ConsumerRecord[bytes, bytes]:
    headers = {
        "ce_specversion": b"1.0",
        "ce_id": b"e-1",
        "ce_source": b"urn:bpass:handler:carrier-1",
        "ce_type": CustodyEventReported.event_type.encode(),
        "ce_time": b"2026-03-01T10:00:00Z",
        "content-type": b"application/json",
    } | overrides
    return ConsumerRecord("events", 1, 42, 0, 0, b"urn:uuid:1", BODY, None, 10, len(BODY), list(headers.items()))


def test_a_well_formed_event_parses() -> None:
    parsed = parse_record(record(), CustodyEventReported)
    assert parsed.violations == []
    assert parsed.envelope is not None
    assert parsed.payload is not None
    assert parsed.dedup_key == "urn:bpass:handler:carrier-1\x1fe-1"


@pytest.mark.parametrize(
    ("header", "value"),
    [("ce_id", b"x" * 201), ("ce_source", b"urn:" + b"s" * 500), ("ce_type", b"t" * 201)],
)
def test_an_overlong_attribute_is_refused_naming_its_header(header: str, value: bytes) -> None:
    parsed = parse_record(record(**{header: value}), CustodyEventReported)
    assert parsed.envelope is None
    assert parsed.payload is None
    assert [(v.field, v.reason) for v in parsed.violations] == [(f"headers.{header}", "invalid_string_too_long")]
    assert parsed.dedup_key == "kafka:events:1:42"  # no envelope to take the key from: one rejection per record
