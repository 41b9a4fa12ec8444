"""OpenTelemetry wiring, done once per process; the one span each consumed message gets; the JSON log format that
carries trace and span ids (set up for the whole process by services.common.logs.setup_logging)."""

from __future__ import annotations

import json
import logging
import random
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags

_provider: TracerProvider | None = None
tracer = trace.get_tracer("bpass.consumer")

# The passport a message or request is about, for the log lines written while handling it.
current_passport_id: ContextVar[str | None] = ContextVar("current_passport_id", default=None)


def setup_tracing(
    service_name: str,
    otel_endpoint: str | None = None,
    extra_processor: SpanProcessor | None = None,
    sample_ratio: float = 1.0,
    exporter: str = "otlp",
) -> TracerProvider:
    """A tracer provider for the service: spans sent to `otel_endpoint` when one is configured (OTLP/HTTP, or Zipkin
    JSON v2 with `exporter="zipkin"`), else spans are dropped."""
    global _provider
    if _provider is not None:
        return _provider
    # Spans are only worth recording when something receives them: without an exporter, no span records
    # (trace context still propagates through Kafka headers), which saves ~0.2 ms of CPU per message.
    sampler = sampler_for(sample_ratio) if (otel_endpoint or extra_processor) else ALWAYS_OFF
    provider = TracerProvider(resource=Resource.create({"service.name": f"bpass-{service_name}"}), sampler=sampler)
    if otel_endpoint:
        provider.add_span_processor(BatchSpanProcessor(span_exporter(exporter, otel_endpoint)))
    if extra_processor is not None:
        provider.add_span_processor(extra_processor)
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    _provider = provider
    return provider


def span_exporter(protocol: str, endpoint: str) -> SpanExporter:
    """The exporter of `protocol` (settings.otel_exporter) sending to `endpoint` (settings.otel_endpoint)."""
    endpoint = endpoint.rstrip("/")
    if protocol == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")
    if protocol == "zipkin":
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        return ZipkinExporter(endpoint=f"{endpoint}/api/v2/spans")
    raise ValueError(f"unknown span exporter {protocol!r}: otlp or zipkin")


def sampler_for(ratio: float) -> Sampler:
    """Parent-based: a request or message that carries a trace context keeps its parent's decision; a new trace is
    recorded with probability `ratio` (BPASS_OTEL_SAMPLE_RATIO, default 1: every trace of the local stack)."""
    if not 0 <= ratio <= 1:
        raise ValueError(f"sample ratio must lie in [0, 1], not {ratio}")
    return ParentBased(ALWAYS_ON if ratio >= 1 else TraceIdRatioBased(ratio))


def spans_dropped(used: trace.Tracer | None = None) -> bool:
    """True when the tracer a hot path starts its spans with (default: this module's `tracer`) records no span at
    all: an SDK tracer whose sampler is ALWAYS_OFF (no exporter configured). Per-message spans then only cost CPU;
    the hot paths keep the trace context moving without them. Asked of the tracer itself, not of the process-wide
    provider, so a tracer given its own provider (a test's exporter) is honoured whatever the process set up."""
    used = tracer if used is None else used
    if isinstance(used, trace.ProxyTracer):
        used = used._tracer  # the provider's tracer once one is set, else a no-op one
    # OTEL_SDK_DISABLED: the provider hands out no-op tracers, which return the parent's span: not "dropped".
    return isinstance(used, SdkTracer) and used.sampler is ALWAYS_OFF


def start_apply_span(
    topic: str, partition: int, offset: int, carrier: dict[str, str], attributes: dict[str, Any]
) -> Span:
    """The one span of a consumed message (`<topic> apply`), child of its publisher's span (W3C traceparent)."""
    attributes = {
        "messaging.system": "kafka",
        "messaging.operation": "process",
        "messaging.destination.name": topic,
        "messaging.kafka.destination.partition": partition,
        "messaging.kafka.message.offset": offset,
        **attributes,
    }
    parent = propagate.extract(carrier)
    return tracer.start_span(f"{topic} apply", context=parent, kind=SpanKind.CONSUMER, attributes=attributes)


def unrecorded_span(carrier: dict[str, str]) -> Span:
    """The span the SDK's tracer starts when its sampler drops everything (`spans_dropped()`), without the
    tracer's per-span work: not recording, a new span id, in the trace of the carrier's context (else a new
    random trace), unsampled. What it causes carries its context, as before."""
    if _propagated_fields().isdisjoint(carrier):
        parent = INVALID_SPAN_CONTEXT  # nothing the propagator reads: extracting would find no parent
    else:
        parent = trace.get_current_span(propagate.extract(carrier)).get_span_context()
    if parent.is_valid:
        trace_id, trace_state, random_trace_id = parent.trace_id, parent.trace_state, parent.trace_flags.random_trace_id
    else:
        trace_id, trace_state, random_trace_id = _random_id(128), None, True
    flags = TraceFlags.DEFAULT | TraceFlags.RANDOM_TRACE_ID if random_trace_id else TraceFlags.DEFAULT
    return NonRecordingSpan(
        SpanContext(trace_id, _random_id(64), is_remote=False, trace_flags=TraceFlags(flags), trace_state=trace_state)
    )


_fields_of: tuple[TextMapPropagator | None, frozenset[str]] = (None, frozenset())


def _propagated_fields() -> frozenset[str]:
    """The carrier keys the global propagator reads (`fields`, computed again only when the propagator changes)."""
    global _fields_of
    textmap = propagate.get_global_textmap()
    if _fields_of[0] is not textmap:
        _fields_of = (textmap, frozenset(textmap.fields))
    return _fields_of[1]


def _random_id(bits: int) -> int:
    """As the SDK's RandomIdGenerator: random bits, never the invalid id 0."""
    value = 0
    while not value:
        value = random.getrandbits(bits)
    return value


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        span = trace.get_current_span().get_span_context()
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        passport_id = getattr(record, "passport_id", None) or current_passport_id.get()
        if passport_id:
            entry["passport_id"] = passport_id
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)
