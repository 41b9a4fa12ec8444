"""Local sampling: parent-based, new traces recorded at a configurable ratio, nothing recorded without an exporter."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from services.common.settings import Settings
from services.common.tracing import sampler_for


def _recorded(ratio: float, parent_sampled: bool | None, traces: int = 2000) -> int:
    tracer = TracerProvider(sampler=sampler_for(ratio)).get_tracer("t")
    recorded = 0
    for n in range(1, traces + 1):
        context = None
        if parent_sampled is not None:
            flags = TraceFlags(TraceFlags.SAMPLED if parent_sampled else TraceFlags.DEFAULT)
            parent = SpanContext(n << 64 | n, n, is_remote=True, trace_flags=flags)
            context = trace.set_span_in_context(NonRecordingSpan(parent))
        with tracer.start_as_current_span("x", context=context) as span:
            recorded += span.is_recording()
    return recorded


def test_every_new_trace_is_recorded_by_default() -> None:
    assert Settings().otel_sample_ratio == 1.0
    assert _recorded(Settings().otel_sample_ratio, None) == 2000


def test_new_traces_are_recorded_at_the_configured_ratio() -> None:
    assert 300 <= _recorded(0.25, None) <= 700  # 500 expected out of 2,000
    assert _recorded(0.0, None) == 0


def test_a_parent_decision_is_followed_whatever_the_ratio() -> None:
    assert _recorded(0.0, parent_sampled=True, traces=50) == 50
    assert _recorded(1.0, parent_sampled=False, traces=50) == 0


def test_the_ratio_is_a_setting_in_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPASS_OTEL_SAMPLE_RATIO", "0.1")
    assert Settings().otel_sample_ratio == 0.1
    monkeypatch.setenv("BPASS_OTEL_SAMPLE_RATIO", "1.5")
    with pytest.raises(ValueError, match="otel_sample_ratio"):
        Settings()
    with pytest.raises(ValueError, match="sample ratio"):
        sampler_for(-0.1)
    assert sampler_for(0.5) is not ALWAYS_OFF
