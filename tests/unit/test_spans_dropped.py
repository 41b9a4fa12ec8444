"""The hot paths skip per-message spans only when the tracer they start them with would drop them: the decision is
the tracer's, not the process-wide provider's."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from opentelemetry.trace import NoOpTracer

from services.common.tracing import spans_dropped


def test_a_tracer_whose_sampler_drops_everything_drops_spans() -> None:
    assert spans_dropped(TracerProvider(sampler=ALWAYS_OFF).get_tracer("t"))


def test_a_tracer_that_records_is_used_whatever_the_process_provider_is() -> None:
    assert not spans_dropped(TracerProvider(sampler=ALWAYS_ON).get_tracer("t"))


def test_a_no_op_tracer_is_not_dropping_it_returns_the_parent_span() -> None:
    assert not spans_dropped(NoOpTracer())
