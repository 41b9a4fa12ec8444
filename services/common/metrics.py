"""Prometheus metrics every service exposes on `/metrics`."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_IN = Counter(
    "bpass_messages_in_total", "Inbound Kafka messages by topic and outcome", ["service", "topic", "outcome"]
)
REJECTIONS = Counter("bpass_rejections_total", "Refused messages by reason code", ["service", "topic", "reason"])
DEAD_LETTERS = Counter("bpass_dead_letters_total", "Messages sent to the dead-letter topic", ["service", "topic"])
BATCH_SECONDS = Histogram(
    "bpass_consume_batch_seconds",
    "Time to apply one consumed batch (database transaction included)",
    ["service", "topic"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENT_AGE_SECONDS = Histogram(
    "bpass_event_age_seconds",
    "From the event's Kafka timestamp to its effects being committed",
    ["service", "topic"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
MESSAGES_OUT = Counter("bpass_messages_out_total", "Messages published by the outbox relay", ["service", "topic"])
OUTBOX_BACKLOG = Gauge("bpass_outbox_backlog", "Outbox rows not yet published", ["service"])
OUTBOX_REFUSED = Counter(
    "bpass_outbox_refused_total", "Outbox rows Kafka refused for good, moved to outbox_refused", ["service"]
)
RELAY_FAILURES = Counter(
    "bpass_outbox_relay_failures_total", "Times the outbox relay failed and started again", ["service"]
)
OUTBOX_AGE = Gauge(
    "bpass_outbox_oldest_age_seconds", "Age of the oldest outbox row not yet published (0: none waits)", ["service"]
)
CHAIN_VERIFICATIONS = Counter(
    "bpass_chain_verifications_total",
    "Custody log hash-chain verifications by result (intact, broken)",
    ["service", "result"],
)
CONSUMER_LAG = Gauge(
    "bpass_consumer_lag", "Messages not yet consumed, per topic partition", ["service", "topic", "partition"]
)
HTTP_SECONDS = Histogram(
    "bpass_http_request_seconds",
    "HTTP request latency by route and status",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 10),
)


# The outcome every consumed message can have from the start (the others appear when they happen).
FIRST_OUTCOME = "applied"


def initialise(
    service: str,
    *,
    consumed: Iterable[tuple[str, str, int]] = (),
    batches: Iterable[str] = (),
    published: Iterable[str] = (),
) -> None:
    """Create, at zero, every series whose labels are known before the first message: a fresh service's /metrics
    then carries each family the dashboard and the alert rules query (a series that does not exist is "No data"
    and never fires). `consumed`: (logical topic name, Kafka topic name, partitions) of each subscription;
    `batches`: the names the consumers' batches are measured under; `published`: logical topics the relay
    publishes."""
    for name, kafka_topic, partitions in consumed:
        MESSAGES_IN.labels(service, name, FIRST_OUTCOME)
        EVENT_AGE_SECONDS.labels(service, name)
        DEAD_LETTERS.labels(service, kafka_topic)
        for partition in range(partitions):
            CONSUMER_LAG.labels(service, kafka_topic, str(partition))
    for name in batches:
        BATCH_SECONDS.labels(service, name)
    for name in published:
        MESSAGES_OUT.labels(service, name)
    OUTBOX_BACKLOG.labels(service)
    OUTBOX_AGE.labels(service)
    OUTBOX_REFUSED.labels(service)
    RELAY_FAILURES.labels(service)
    for result in ("intact", "broken"):
        CHAIN_VERIFICATIONS.labels(service, result)
    # The one request known up front: Prometheus's own scrape (the HTTP panels have a series from the start).
    HTTP_SECONDS.labels(service, "GET", f"/{service}/metrics", "200")


def observe_each(histogram: Histogram, amounts: Sequence[float]) -> None:
    """`histogram.observe(amount)` for every amount, counted into the buckets first and then added once per
    bucket: one lock and one increment per bucket instead of per record (`Histogram.observe` is a measurable
    share of a small message's cost). Uses the histogram's own bounds and values, as `observe` does."""
    bounds = histogram._upper_bounds
    counts = [0] * len(bounds)
    for amount in amounts:
        index = bisect_left(bounds, amount)  # the first bound >= amount: `observe`'s bucket (the last is +Inf)
        if amount <= bounds[index]:  # false only for NaN, which `observe` counts in no bucket
            counts[index] += 1
    histogram._raise_if_not_observable()  # type: ignore[no-untyped-call]  # as `observe`: a labelled child only
    histogram._sum.inc(sum(amounts))
    for bucket, count in zip(histogram._buckets, counts, strict=True):
        if count:
            bucket.inc(count)
