"""The shortcuts of the ingest hot path compute exactly what the general code computes."""

from __future__ import annotations

import math
import os
import random
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import propagate, trace
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import INVALID_SPAN_CONTEXT, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry, Histogram

from contracts.custody import CustodyEventReported
from contracts.envelope import Envelope
from services.common.messaging import murmur2, partition_for
from services.common.metrics import observe_each
from services.common.outbox import OutboxRow
from services.common.tracing import _propagated_fields, unrecorded_span
from services.custody.domain.chain import GENESIS_HASH, LogEntry, hash_entry
from services.custody.domain.steps import from_native
from services.custody.messaging import facts

BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


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


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if not sample.name.endswith("_created")
    }


AMOUNTS = st.floats(min_value=-1.0, max_value=100.0) | st.sampled_from([*BUCKETS, math.nan, math.inf])


@given(st.lists(AMOUNTS, max_size=60))
def test_observe_each_is_observe_per_amount(amounts: list[float]) -> None:
    one_by_one, at_once = CollectorRegistry(), CollectorRegistry()
    slow = Histogram("age", "age", ["topic"], buckets=BUCKETS, registry=one_by_one).labels("t")
    fast = Histogram("age", "age", ["topic"], buckets=BUCKETS, registry=at_once).labels("t")
    for amount in amounts:
        slow.observe(amount)
    observe_each(fast, amounts)
    expected, got = _samples(one_by_one), _samples(at_once)
    assert expected.keys() == got.keys()
    for name, value in expected.items():
        if name[0].endswith("_sum"):  # summed in another order: equal up to rounding (NaN stays NaN)
            assert got[name] == pytest.approx(value, nan_ok=True)
        else:
            assert got[name] == value


def test_observe_each_refuses_an_unlabelled_parent_as_observe_does() -> None:
    parent = Histogram("age", "age", ["topic"], buckets=BUCKETS, registry=CollectorRegistry())
    with pytest.raises(ValueError, match="missing label values"):
        parent.observe(1.0)
    with pytest.raises(ValueError, match="missing label values"):
        observe_each(parent, [1.0])


def test_unrecorded_span_reads_no_carrier_the_propagator_ignores() -> None:
    """Without any header the global propagator reads, the span starts a new trace exactly as extracting would
    (an invalid parent); the propagator's fields are followed when it is replaced."""
    carrier = {"ce_id": "x", "content-type": "application/json"}
    assert trace.get_current_span(propagate.extract(carrier)).get_span_context() == INVALID_SPAN_CONTEXT
    expected = TracerProvider(sampler=ALWAYS_OFF).get_tracer("test").start_span("x", context=propagate.extract(carrier))
    span = unrecorded_span(carrier).get_span_context()
    assert span.is_valid
    assert span.trace_flags == expected.get_span_context().trace_flags
    assert span.trace_state == expected.get_span_context().trace_state
    assert not span.is_remote

    original = propagate.get_global_textmap()
    assert _propagated_fields() == frozenset(original.fields)
    b3_like = CompositePropagator([TraceContextTextMapPropagator()])
    try:
        propagate.set_global_textmap(b3_like)
        assert _propagated_fields() == frozenset({"traceparent", "tracestate"})
        parent = f"00-{'ab' * 16}-{'cd' * 8}-01"
        assert unrecorded_span({"traceparent": parent}).get_span_context().trace_id == int("ab" * 16, 16)
    finally:
        propagate.set_global_textmap(original)
    assert _propagated_fields() == frozenset(original.fields)


@pytest.mark.parametrize(
    "body",
    [
        {
            "kind": "dispatch",
            "occurred_at": "2026-03-01T10:00:00.123456+02:00",
            "handler_id": "carrier-1",
            "targets": {"passport_ids": ["urn:uuid:1", "urn:uuid:1"]},
        },
        {
            "kind": "treatment_start",
            "occurred_at": "2026-03-01T10:00:00Z",
            "handler_id": "recycler-1",
            "site_id": "site-1",
            "from_handler_id": "carrier-1",
            "to_handler_id": "recycler-1",
            "targets": {"battery_identifiers": ["B-1", "é\u2028"], "batch_numbers": ["L-1"]},
            "mass_kg": "1250.500",
            "quantity": 3,
            "transport_document": "CMR-1",
            "dwts_id": "DW-1",
            "diwass_id": "DI-1",
            "ewc_code": "16 06 01*",
            "operation": "R4",
        },
        {"kind": "handover", "occurred_at": "2026-03-01T10:00:00-05:00", "handler_id": "h", "targets": {}},
    ],
)
def test_step_content_is_the_events_json_dump(body: dict[str, object]) -> None:
    if not body["targets"]:
        body = {**body, "targets": {"batch_numbers": ["L-9"]}, "mass_kg": 0}
    event = CustodyEventReported.model_validate_json(orjson.dumps(body))
    envelope = Envelope(
        id="e-1", source="urn:bpass:handler:h", type=CustodyEventReported.event_type, time=datetime.now(UTC)
    )
    content = from_native(event, envelope).content
    assert content == event.model_dump(mode="json")
    assert orjson.dumps(content) == orjson.dumps(event.model_dump(mode="json"))  # same types, same order


def test_outbox_rows_are_the_tuples_flush_copies() -> None:
    row = OutboxRow("topic", b"key", [("ce_id", "1")], b"{}")
    assert tuple(row) == ("topic", b"key", [("ce_id", "1")], b"{}")
    assert list(OutboxRow._fields) == ["topic", "key", "headers", "payload"]  # the COPY's column order
