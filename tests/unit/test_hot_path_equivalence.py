"""The shortcuts of the ingest hot path compute exactly what the general code computes."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import TraceFlags

from services.common.consumer import unrecorded_span
from services.common.messaging import murmur2, partition_for
from services.custody.domain.chain import GENESIS_HASH, LogEntry, hash_entry
from services.custody.ingest import facts


@pytest.mark.parametrize("length", [*range(0, 41), 45, 64, 255, 1000])
def test_murmur2_is_kafkas(length: int) -> None:
    rng = random.Random(length)
    for _ in range(20):
        data = bytes(rng.getrandbits(8) for _ in range(length))
        assert murmur2(data) == aiokafka_murmur2(data)


def test_partition_is_the_default_partitioners() -> None:
    for _ in range(200):
        key = f"urn:uuid:{os.urandom(16).hex()}".encode()
        for count in (1, 3, 6, 12):
            partitions = list(range(count))
            assert partition_for(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)
    assert partition_for(None, [0, 1, 2], [1]) == 1  # unkeyed: an available partition


def test_unrecorded_span_is_what_an_always_off_tracer_starts() -> None:
    tracer = TracerProvider(sampler=ALWAYS_OFF).get_tracer("test")
    parent_trace, parent_span = os.urandom(16).hex(), os.urandom(8).hex()
    carrier = {"traceparent": f"00-{parent_trace}-{parent_span}-01", "tracestate": "vendor=value"}
    expected = tracer.start_span("x", context=propagate.extract(carrier)).get_span_context()
    got = unrecorded_span(carrier)
    assert not got.is_recording()
    context = got.get_span_context()
    assert context.trace_id == expected.trace_id == int(parent_trace, 16)
    assert context.span_id not in (0, int(parent_span, 16))
    assert context.trace_flags == expected.trace_flags == TraceFlags.DEFAULT
    assert context.trace_state == expected.trace_state
    assert not context.is_remote

    root = unrecorded_span({})  # no parent: a new trace
    assert root.get_span_context().is_valid
    assert root.get_span_context().trace_flags == tracer.start_span("y").get_span_context().trace_flags


def test_explicit_traceparent_is_the_current_spans() -> None:
    span = unrecorded_span({"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"})
    with trace.use_span(span):
        current = facts.traceparent()
    assert facts.traceparent(span) == current
    assert current is not None
    assert current.startswith(f"00-{'ab' * 16}-")


def test_hash_entry_is_the_log_entrys_hash() -> None:
    fields = {
        "passport_id": "urn:uuid:0190a000-0000-7000-8000-000000000001",
        "sequence": 3,
        "kind": "receipt",
        "occurred_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        "handler_id": "carrier-1",
        "from_handler_id": None,
        "to_handler_id": None,
        "source_event_id": "e-1",
        "source": "urn:bpass:handler:carrier-1",
        "content": {"kind": "receipt", "mass_kg": "12.5", "flags": [], "note": "é", "big": 2**70},
        "previous_hash": GENESIS_HASH,
    }
    entry = LogEntry(**fields)  # type: ignore[arg-type]
    assert hash_entry(**fields) == entry.entry_hash  # type: ignore[arg-type]
