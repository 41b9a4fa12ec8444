"""OpenTelemetry wiring, done once per process, and JSON logs that carry trace and span ids."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased

_provider: TracerProvider | None = None

# The passport a message or request is about, for the log lines written while handling it.
current_passport_id: ContextVar[str | None] = ContextVar("current_passport_id", default=None)


def setup_telemetry(
    service_name: str, otel_endpoint: str | None = None, extra_processor: SpanProcessor | None = None
) -> TracerProvider:
    """A tracer provider for the service: OTLP/HTTP when an endpoint is configured, else spans are dropped."""
    global _provider
    if _provider is not None:
        return _provider
    # Spans are only worth recording when something receives them: without an exporter, no span records
    # (trace context still propagates through Kafka headers), which saves ~0.2 ms of CPU per message.
    sampler = ParentBased(ALWAYS_ON) if (otel_endpoint or extra_processor) else ALWAYS_OFF
    provider = TracerProvider(resource=Resource.create({"service.name": f"bpass-{service_name}"}), sampler=sampler)
    if otel_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otel_endpoint}/v1/traces")))
    if extra_processor is not None:
        provider.add_span_processor(extra_processor)
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    _provider = provider
    return provider


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


def setup_logging(service: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
