"""The simulator's end check: does the read model tell what the simulator sent?

For a sample of the simulated batteries it reads the passport as the OEM (`GET /reporting/v1/passports/{id}`)
and compares it to the ground truth (`bpass.simulate_schedule.Truth`): the final stage, status and `ceased`, and
the stages of `status_history` in order with their event times (a leading `manufactured` entry, the mint, is
allowed), and the latest state-of-health reading (the one measured last, whatever order they arrived in); then
it reads the passport `as_of` a few random instants between the battery's events and compares the stage then.
The comparisons are pure functions; only `check_read_model` does I/O.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from rich.progress import Progress

from bpass.simulate_schedule import Truth

DEFAULT_SAMPLE = 200
AS_OF_PROBES = 3


@dataclass(frozen=True)
class Disagreement:
    """One field of one passport where the read model and the simulator's ground truth differ."""

    identifier: str
    passport_id: str
    field: str
    expected: str
    actual: str

    def line(self) -> str:
        return f"{self.identifier} ({self.passport_id}) {self.field}: expected {self.expected}, read {self.actual}"


@dataclass
class CheckResult:
    population: int
    checked: int = 0
    as_of_reads: int = 0
    disagreements: list[Disagreement] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def disagreeing(self) -> int:
        return len({d.passport_id for d in self.disagreements})

    def summary(self, limit: int = 25) -> list[str]:
        agree = self.checked - self.disagreeing
        sampled = f" (a sample of {self.population})" if self.checked < self.population else ""
        lines = [f"{self.checked} batteries checked{sampled}, {self.as_of_reads} as_of reads: {agree} agree"]
        if self.disagreements:
            lines[0] += f", {self.disagreeing} disagree"
        if self.seconds:
            lines[0] += f" in {self.seconds:.1f} s"
        if self.disagreements:
            by_field = Counter(d.field.split("@")[0] for d in self.disagreements)
            lines.append("disagreements by field: " + ", ".join(f"{k} {v}" for k, v in by_field.most_common()))
            lines += [d.line() for d in self.disagreements[:limit]]
            if len(self.disagreements) > limit:
                lines.append(f"... and {len(self.disagreements) - limit} more")
        return lines


def _instant(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def read_history(state: Mapping[str, Any]) -> list[tuple[str, datetime | None]]:
    """(stage, event time) of each `status_history` entry, without the leading `manufactured` ones (the mint)."""
    entries = [(str(h.get("stage")), _instant(h.get("occurred_at"))) for h in state.get("status_history") or []]
    while entries and entries[0][0] == "manufactured":
        entries.pop(0)
    return entries


def _history_text(entries: list[tuple[str, datetime | None]]) -> str:
    return "[" + ", ".join(f"{s}@{t.isoformat() if t else '?'}" for s, t in entries) + "]"


def compare_current(truth: Truth, passport_id: str, state: Mapping[str, Any]) -> list[Disagreement]:
    """The current read model against the truth: stage, status, ceased, status history (stages and times)."""
    out = []

    def differs(name: str, expected: Any, actual: Any) -> None:
        if expected != actual:
            out.append(Disagreement(truth.identifier, passport_id, name, str(expected), str(actual)))

    differs("stage", truth.stage, state.get("stage"))
    differs("status", truth.status, state.get("status"))
    differs("ceased", truth.ceased, state.get("ceased"))
    expected = [(e.stage, e.occurred_at) for e in truth.history]
    actual = read_history(state)
    if expected != actual:
        differs("status_history", _history_text(list(expected)), _history_text(actual))
    if truth.latest_soh is not None:
        at, value = truth.latest_soh
        differs("in_service.latest.state_of_health_pct", f"{_number(value)}@{at.isoformat()}", _latest_soh(state))
    return out


def _latest_soh(state: Mapping[str, Any]) -> str:
    """The latest state-of-health reading the read model holds, as `value@measured_at` (normalised)."""
    reading = ((state.get("in_service") or {}).get("latest") or {}).get("state_of_health_pct")
    if not reading:
        return "none"
    at = _instant(reading.get("measured_at"))
    try:
        value = Decimal(str(reading.get("value")))
    except InvalidOperation:
        return str(reading)
    return f"{_number(value)}@{at.isoformat() if at else reading.get('measured_at')}"


def _number(value: Decimal) -> str:
    """98.70 and 98.7 alike, 100 not 1E+2."""
    return format(value.normalize(), "f")


def compare_as_of(
    truth: Truth, passport_id: str, instant: datetime, state: Mapping[str, Any] | None
) -> list[Disagreement]:
    """The read `as_of` an instant against the stage the battery was in then (None: the read found nothing)."""
    expected = truth.stage_at(instant)
    actual = "no version" if state is None else state.get("stage")
    if expected == actual:
        return []
    return [Disagreement(truth.identifier, passport_id, f"as_of.stage@{instant.isoformat()}", expected, str(actual))]


def sample_of(truths: Mapping[str, Truth], size: int, rng: random.Random) -> list[str]:
    """Up to `size` passport ids, chosen at random (all of them when there are fewer)."""
    ids = sorted(truths)
    return ids if size >= len(ids) else sorted(rng.sample(ids, size))


async def check_read_model(
    http: httpx.AsyncClient,
    url: Callable[[str], str],
    headers: Mapping[str, str],
    truths: Mapping[str, Truth],
    *,
    sample: int = DEFAULT_SAMPLE,
    rng: random.Random,
    progress: Progress | None = None,
    concurrency: int = 8,
) -> CheckResult:
    """Read a sample of the passports as the OEM (current and `as_of`) and compare each to its truth."""
    started = time.monotonic()
    chosen = sample_of(truths, sample, rng)
    probes = {pid: truths[pid].probe_instants(rng, AS_OF_PROBES) for pid in chosen}
    result = CheckResult(population=len(truths))
    task = progress.add_task("end check: read model vs what was sent", total=len(chosen)) if progress else None
    gate = asyncio.Semaphore(concurrency)

    async def read(passport_id: str, as_of: datetime | None = None) -> tuple[int, dict[str, Any] | None]:
        params = {"as_of": as_of.isoformat()} if as_of is not None else None
        async with gate:
            r = await http.get(url(f"/reporting/v1/passports/{passport_id}"), params=params, headers=dict(headers))
        return r.status_code, (r.json() if r.status_code == 200 else None)

    async def check(passport_id: str) -> list[Disagreement]:
        truth = truths[passport_id]
        status, state = await read(passport_id)
        if state is None:
            return [Disagreement(truth.identifier, passport_id, "read", "200", str(status))]
        found = compare_current(truth, passport_id, state)
        for instant in probes[passport_id]:
            status, old = await read(passport_id, instant)
            if status not in (200, 404):
                found.append(Disagreement(truth.identifier, passport_id, "read as_of", "200", str(status)))
                continue
            result.as_of_reads += 1
            found += compare_as_of(truth, passport_id, instant, old)
        if progress is not None and task is not None:
            progress.advance(task)
        return found

    for found in await asyncio.gather(*(check(pid) for pid in chosen)):
        result.disagreements += found
    result.checked = len(chosen)
    result.seconds = time.monotonic() - started
    return result
