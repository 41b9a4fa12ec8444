"""Error declarations roll back the custody state: generated custody lifecycles of a passport, captured in random
arrival orders with one event declared erroneous (its declaration before or after it and after any later events,
its corrective event before or after the declaration); the state custody keeps is the one the same arrivals give
without the erroneous event, and the chain keeps both the original entry and the declaration."""

from __future__ import annotations

import random
from typing import Any

import pytest

from contracts.passport_data import BatteryStatus
from services.custody.domain.transitions import WASTE_STAGES, CustodyState, Step, transition
from services.custody.lifecycle.corrections import (
    ERROR_DECLARATION,
    ChainEntry,
    DerivedState,
    declared_erroneous,
    refold,
)

pytestmark = pytest.mark.unit

PID = "urn:uuid:00000000-0000-7000-8000-000000000001"
HANDLERS = ("carrier-a", "carrier-b", "collector-c", "recycler-d")


def random_step(rng: random.Random) -> Step:
    kind = rng.choice(
        ("dispatch", "receipt", "handover", "collection", "storage", "treatment_start", "placed_on_market",
         "in_service", "inspected", "observation")
    )  # fmt: skip
    handler, other = rng.sample(HANDLERS, 2)
    if kind == "dispatch":
        return Step(kind, handler, None, other)
    if kind == "receipt":
        return Step(kind, handler, rng.choice((None, other)), None)
    if kind == "handover":
        return Step(kind, handler, handler, other)
    return Step(kind, handler)


def reference_state(steps: list[Step]) -> DerivedState:
    """The state the transition rules give for these steps in this order (the ground truth)."""
    state, status = CustodyState(), None
    for step in steps:
        before = state.stage
        state, _ = transition(state, step)
        if state.stage != before and state.stage in WASTE_STAGES:
            status = BatteryStatus.waste.value
    return DerivedState(state, status)


class Passport:
    """A passport's chain and stored state as capture keeps them: each new step appended and its state moved by the
    transition rules (ingest/usecases.py); a declaration appends its entry and folds the chain again; an event
    whose declaration came first is a duplicate, never applied (capture/usecases.py)."""

    def __init__(self) -> None:
        self.chain: list[ChainEntry] = []
        self.state = DerivedState(CustodyState(), None)
        self.by_event: dict[str, int] = {}
        self.declared: set[str] = set()

    def _append(self, kind: str, step: Step | None, content: dict[str, Any]) -> int:
        sequence = len(self.chain) + 1
        handler = step.handler_id if step else "declarer"
        self.chain.append(
            ChainEntry(
                sequence,
                kind,
                handler,
                step.from_handler_id if step else None,
                step.to_handler_id if step else None,
                content,
            )
        )
        return sequence

    def capture(self, event_id: str, step: Step) -> None:
        if event_id in self.declared or event_id in self.by_event:
            return
        self.by_event[event_id] = self._append(step.kind, step, {})
        before = self.state.state.stage
        state, _ = transition(self.state.state, step)
        status = self.state.status
        if state.stage != before and state.stage in WASTE_STAGES:
            status = BatteryStatus.waste.value
        self.state = DerivedState(state, status)

    def declare(self, event_id: str) -> None:
        if event_id in self.declared:
            return
        self.declared.add(event_id)
        if event_id in self.by_event:
            corrects = [{"passport_id": PID, "sequence": self.by_event[event_id]}]
            self._append(ERROR_DECLARATION, None, {"corrects": corrects})
            self.state = refold(PID, self.chain)


@pytest.mark.parametrize("seed", range(80))
def test_the_state_after_a_declaration_is_the_state_without_the_erroneous_event(seed: int) -> None:
    rng = random.Random(seed)
    events = [(f"e{n}", random_step(rng)) for n in range(rng.randint(2, 14))]
    wrong = rng.randrange(len(events))
    corrective = (f"c{seed}", random_step(rng))
    for _ in range(10):
        arrival = [*events, corrective]
        rng.shuffle(arrival)
        declared_at = rng.randint(0, len(arrival))  # before the erroneous event, after it, after later events
        passport = Passport()
        for position, (event_id, step) in enumerate(arrival):
            if position == declared_at:
                passport.declare(events[wrong][0])
            passport.capture(event_id, step)
        if declared_at == len(arrival):
            passport.declare(events[wrong][0])
        truth = reference_state([step for event_id, step in arrival if event_id != events[wrong][0]])
        assert passport.state == truth
        # Append-only: the erroneous entry stays in the chain when it was captured, named by its declaration.
        kinds = [e.kind for e in passport.chain]
        if events[wrong][0] in passport.by_event:
            assert kinds.count(ERROR_DECLARATION) == 1
            assert declared_erroneous(PID, passport.chain) == {passport.by_event[events[wrong][0]]}
        else:
            assert ERROR_DECLARATION not in kinds


@pytest.mark.parametrize("seed", range(30))
def test_a_chain_without_declarations_folds_to_the_state_its_steps_left(seed: int) -> None:
    rng = random.Random(500 + seed)
    passport = Passport()
    for n in range(rng.randint(1, 20)):
        passport.capture(f"e{n}", random_step(rng))
    assert refold(PID, passport.chain) == passport.state
    assert refold(PID, list(reversed(passport.chain))) == passport.state  # folded by sequence, not by list order


def test_an_erroneous_collection_no_longer_makes_the_battery_waste() -> None:
    passport = Passport()
    passport.capture("sold", Step("placed_on_market", "carrier-a"))
    passport.capture("collected", Step("collection", "collector-c"))
    assert (passport.state.state.stage, passport.state.status) == ("collected", "waste")
    passport.declare("collected")
    assert passport.state.state == CustodyState(stage="placed_on_market")
    assert passport.state.status is None
    assert [e.kind for e in passport.chain] == ["placed_on_market", "collection", ERROR_DECLARATION]


def test_a_waste_declaration_keeps_the_status_when_another_entry_is_declared_erroneous() -> None:
    chain = [
        ChainEntry(1, "dispatch", "carrier-a", None, "carrier-b", {}),
        ChainEntry(2, "observation", "oem", None, None, {"waste_declaration": {"declaration_id": "d"}}),
        ChainEntry(3, ERROR_DECLARATION, "carrier-a", None, None, {"corrects": [{"passport_id": PID, "sequence": 1}]}),
    ]
    assert refold(PID, chain) == DerivedState(CustodyState(), "waste")


def test_a_declaration_names_entries_of_its_own_passport_only() -> None:
    other = "urn:uuid:00000000-0000-7000-8000-000000000002"
    chain = [
        ChainEntry(1, "dispatch", "carrier-a", None, "carrier-b", {}),
        ChainEntry(
            2, ERROR_DECLARATION, "carrier-a", None, None, {"corrects": [{"passport_id": other, "sequence": 1}]}
        ),
    ]
    assert declared_erroneous(PID, chain) == set()
    assert refold(PID, chain).state.in_transit is True
