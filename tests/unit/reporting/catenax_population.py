"""A generated population of read-model states for the Catena-X export (every category and stage, BMS readings for
the batteries put into service, second-life and recycled passports), and its conformance, counted:

    .venv/bin/python -m tests.unit.reporting.catenax_population [passports]
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bpass.simulate import STEPS_FOR_STAGE, Battery
from contracts.telemetry import METRIC_RANGES, TelemetryMetric
from services.reporting.domain import readmodel
from tests.unit.reporting.factories import T0, batteries, minted

STAGES = (("placed_on_market", 3), ("in_service", 4), ("collected", 5), ("in_treatment", 7))


def readings(battery: Battery, since: Any) -> dict[str, dict[str, Any]]:
    """The latest reading per metric: every metric for a third of the batteries, five for the others."""
    rng = random.Random(f"catenax:{battery.identifier}")
    metrics = list(TelemetryMetric) if battery.index % 3 == 0 else rng.sample(list(TelemetryMetric), 5)
    out = {}
    for metric in metrics:
        low, high = METRIC_RANGES[metric]
        value = low + min(high - low, Decimal(100)) * Decimal(str(round(rng.uniform(0.05, 0.95), 3)))
        at = since + timedelta(days=rng.randint(1, 300), seconds=rng.randint(0, 86_399), microseconds=rng.randint(0, 9))
        out[metric.value] = {"value": str(value), "measured_at": at.isoformat(), "source_system": "sim-bms"}
    return out


def state_of(battery: Battery, tenant: str = "acme") -> dict[str, Any]:
    """One battery's read model at its target stage; every seventh is a second-life passport, and a recycled one
    has ceased."""
    fact = minted(battery, tenant)
    state = readmodel.empty_state(fact.passport_id, tenant)
    readmodel.apply_minted(state, fact)
    at = T0
    for stage, steps in STAGES:
        if STEPS_FOR_STAGE[battery.target_stage] < steps:
            break
        at += timedelta(days=battery.gaps[steps - 1])
        status = "waste" if stage in ("collected", "in_treatment") else None
        readmodel.apply_status(state, occurred_at=at, stage=stage, status=status, by="handler-x")
        if stage == "in_service":
            readmodel.apply_in_service_data(state, readings(battery, at))
    if battery.target_stage == "recycled":
        readmodel.apply_ceased(state, ceased_at=at + timedelta(days=30), reason="recycled")
    if battery.index % 7 == 3:
        readmodel.apply_links(state, predecessor_ids=[f"urn:uuid:{uuid.UUID(int=battery.index + 1)}"])
    state["version"] = 1 + len(state["status_history"])
    state["updated_at"] = (at + timedelta(days=31)).isoformat()
    return state


def population(n: int, run: str = "CXPOP1") -> Iterator[dict[str, Any]]:
    for battery in batteries(n, run=run):
        yield state_of(battery)


def main(n: int) -> None:
    from services.reporting.exports.catenax import CatenaxWriter

    started = time.perf_counter()
    writer = CatenaxWriter({"tenant": "acme"})
    states = list(population(n))
    writer.add(states)
    content = writer.finish()
    elapsed = time.perf_counter() - started
    summary = writer.summary()
    categories = Counter(str(s.get("category")) for s in states)
    print(f"passports {summary['passports']} ({dict(categories)})")
    print(f"RESULT catenax_valid_strict={summary['valid_strict']} passports")
    print(f"RESULT catenax_not_valid={summary['not_valid']} passports")
    print(f"RESULT catenax_missing_required_per_passport={sum(summary['missing_required'].values()) / n:.1f} members")
    print(f"RESULT catenax_bytes_per_passport={len(content) / n:.0f} bytes")
    print(f"RESULT catenax_ms_per_passport={elapsed * 1000 / n:.2f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
