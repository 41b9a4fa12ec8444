"""What the simulator knows and in which order it tells it: each battery's ground truth and the arrival order.

Pure (no I/O), so both are unit-tested and the end check (`bpass.simulate_check`) compares the read model to
exactly what was sent.

Ground truth (`Truth`): the stages a battery went through after manufacture, each at the event time the simulator
gave it (custody steps' `occurred_at`, the treatment batch's `completed_at` for `recycled`), with the status it
had then (`waste` from collection on, Art. 3(58)).

Telemetry: a battery put into service reports its state of health a few times while in use (BMS readings on
`bpass.custody.telemetry.v1`); the truth keeps the reading measured last.

Arrival order (`custody_arrivals`, `late_merge`), with `--shuffle`:
- custody's transfer steps of a battery (dispatch, receipt, collection, handover, treatment start) keep their
  order: custody checks them in arrival order against who holds the battery (`services/custody/domain/
  transitions.py`, `authority.py`), and a receipt before its dispatch, or a handover before the collection, is
  refused;
- its observations (placed on the market, put into service) are legal in any custody state (the OEM's delegate
  reports them, whoever holds the battery): they are permuted and put at random places among the transfers
  (before the dispatch, after the treatment start, ...);
- for about one battery in four (`LATE_SHARE`) the observations are held back altogether and published only
  once the treatment batches were applied and reporting folded the ceased facts (so after the battery's
  `recycled` entry, for a recycled one), interleaved with the refiner reports;
- batteries are interleaved with each other at random (each battery's own order is kept: its Kafka key is its
  passport id, so one partition carries it in the order sent);
- a battery's telemetry messages go out in a random order, among the custody steps (`shuffled`, `interleave`);
- treatment batches are published in a random order, and so are the refiner reports.
Without `--shuffle` every battery's steps go out in event-time order, battery after battery, nothing held back,
then the readings in measured order; batches and reports in their order.
The unit tests replay every shuffled order through custody's authority and transition rules.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

# Custody's transfer steps: custody decides them in arrival order (who holds the battery), so their order stays.
TRANSFER_KINDS = frozenset({"dispatch", "receipt", "collection", "handover", "storage", "treatment_start"})
# Observations: legal whoever holds the battery; they may arrive anywhere.
OBSERVATION_KINDS = frozenset({"placed_on_market", "in_service"})
STAGE_OF_KIND = {
    "placed_on_market": "placed_on_market",
    "in_service": "in_service",
    "collection": "collected",
    "treatment_start": "in_treatment",
}
WASTE_STAGES = frozenset({"collected", "in_treatment", "recycled"})
LATE_SHARE = 0.25

T = TypeVar("T")


@dataclass(frozen=True)
class StageEntry:
    """One stage the battery entered, when it did, and the status it had from then on."""

    occurred_at: datetime
    stage: str
    status: str

    def label(self) -> str:
        return f"{self.stage}/{self.status}@{self.occurred_at.isoformat()}"


@dataclass(frozen=True)
class Truth:
    """What the simulator knows of one battery: its identifier and the stages it went through after manufacture."""

    identifier: str
    first_event_at: datetime | None  # the first custody step sent, whatever its kind
    history: tuple[StageEntry, ...]
    ceased: bool
    # the state-of-health reading measured last (when, value), whatever order the readings arrived in
    latest_soh: tuple[datetime, Decimal] | None = None

    @property
    def stage(self) -> str:
        return self.history[-1].stage if self.history else "manufactured"

    @property
    def status(self) -> str:
        return self.history[-1].status if self.history else "original"

    def stage_at(self, instant: datetime) -> str:
        """The stage the battery was in at `instant` (event time)."""
        stage = "manufactured"
        for entry in self.history:
            if entry.occurred_at > instant:
                break
            stage = entry.stage
        return stage

    def probe_instants(self, rng: random.Random, count: int) -> list[datetime]:
        """Up to `count` instants strictly between the battery's events (from its first custody step on, and in the
        month after its last stage change), chosen at random: where an `as_of` read must show the stage it was
        in then. None for a battery no partner reported anything of."""
        if self.first_event_at is None:
            return []
        bounds = [self.first_event_at] + [e.occurred_at for e in self.history if e.occurred_at > self.first_event_at]
        gaps = [(a, b) for a, b in itertools.pairwise(bounds) if b - a > timedelta(minutes=2)]
        gaps.append((bounds[-1], bounds[-1] + timedelta(days=30)))
        chosen = rng.sample(gaps, min(count, len(gaps)))
        instants = []
        for start, end in sorted(chosen):
            span = int((end - start).total_seconds() // 60)
            instants.append(start + timedelta(minutes=rng.randint(1, span - 1)))
        return instants


def truth(
    identifier: str,
    steps: Sequence[tuple[str, datetime]],
    ceased_at: datetime | None,
    soh_readings: Sequence[tuple[datetime, Decimal]] = (),
) -> Truth:
    """The ground truth of a battery from the custody steps sent (kind, occurred_at) and when it ceased, if it did."""
    entries: list[StageEntry] = []
    status = "original"
    for kind, occurred_at in sorted(steps, key=lambda s: s[1]):
        stage = STAGE_OF_KIND.get(kind)
        if stage is None:
            continue
        status = "waste" if stage in WASTE_STAGES else status
        entries.append(StageEntry(occurred_at, stage, status))
    if ceased_at is not None:
        entries.append(StageEntry(ceased_at, "recycled", "waste"))
    first = min((at for _, at in steps), default=None)
    latest = max(soh_readings, default=None)
    return Truth(identifier, first, tuple(entries), ceased_at is not None, latest)


def interleave(rng: random.Random, sequences: Sequence[Sequence[T]]) -> list[T]:
    """A uniformly random merge of `sequences` that keeps each one's own order."""
    tokens = [n for n, sequence in enumerate(sequences) for _ in sequence]
    rng.shuffle(tokens)
    positions = [0] * len(sequences)
    merged = []
    for n in tokens:
        merged.append(sequences[n][positions[n]])
        positions[n] += 1
    return merged


def battery_arrivals(rng: random.Random, kinds: Sequence[str], hold_back: bool) -> tuple[list[int], list[int]]:
    """(now, late): the indexes of a battery's steps (`kinds`, in event order) in the order they are published,
    and those held back until after recovery's facts. Transfers keep their order; observations go anywhere."""
    transfers = [n for n, kind in enumerate(kinds) if kind not in OBSERVATION_KINDS]
    observations = [n for n, kind in enumerate(kinds) if kind in OBSERVATION_KINDS]
    rng.shuffle(observations)
    if hold_back and observations:
        return transfers, observations
    return interleave(rng, [transfers, observations]), []


def custody_arrivals(
    rng: random.Random | None, batteries: Sequence[Sequence[str]], late_share: float = LATE_SHARE
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(now, late): (battery, step) pairs in publishing order for every battery's steps (`batteries[b]`: the
    kinds of battery b's custody steps, in event order). Without `rng` (no shuffle): event order, battery after
    battery, nothing late."""
    if rng is None:
        return [(b, n) for b, kinds in enumerate(batteries) for n in range(len(kinds))], []
    now: list[list[tuple[int, int]]] = []
    late: list[list[tuple[int, int]]] = []
    for b, kinds in enumerate(batteries):
        first, held = battery_arrivals(rng, kinds, rng.random() < late_share)
        now.append([(b, n) for n in first])
        late.append([(b, n) for n in held])
    return interleave(rng, now), interleave(rng, late)


def shuffled(rng: random.Random | None, items: Sequence[T]) -> list[T]:
    """`items` in a random order (in their order without `rng`)."""
    out = list(items)
    if rng is not None:
        rng.shuffle(out)
    return out


def late_merge(rng: random.Random | None, late_steps: Sequence[T], others: Sequence[T]) -> list[T]:
    """The held-back custody steps interleaved with another topic's messages (refiner reports)."""
    if rng is None:
        return [*others, *late_steps]
    return interleave(rng, [list(late_steps), list(others)])
