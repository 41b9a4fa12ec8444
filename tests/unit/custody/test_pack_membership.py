"""Pack membership intervals: generated pack lifecycles whose membership at every instant is known, captured in
random arrival orders (duplicates, late events, DELETEs before their ADDs, declarations before or after the events
they declare erroneous): the intervals answer the known membership at every instant, whatever the order."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from services.custody.domain.epcis.mapping import to_custody_observation
from services.custody.membership.capture import membership_observations
from services.custody.membership.intervals import (
    ADD,
    ALL_CHILDREN,
    DELETE,
    OBSERVE,
    Interval,
    MembershipObservation,
    fold,
    members_at,
    observations_of,
    pack_at,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, tzinfo=UTC)
PACKS = ("pack-a", "pack-b", "pack-c")
MODULES = tuple(f"module-{n}" for n in range(8))


@dataclass(frozen=True)
class Event:
    """One aggregation event as captured: its hash, what it says, and whether it is an erroneous one."""

    event_hash: str
    parent: str
    children: tuple[str, ...]
    action: str
    at: datetime
    erroneous: bool = False


@dataclass
class Lifecycle:
    events: list[Event] = field(default_factory=list)
    # The true membership: (instant, {module: pack}) after each true event, in event-time order.
    truth: list[tuple[datetime, dict[str, str]]] = field(default_factory=list)

    def member_of(self, at: datetime) -> dict[str, str]:
        current: dict[str, str] = {}
        for instant, membership in self.truth:
            if instant > at:
                break
            current = membership
        return current


def generate(rng: random.Random, steps: int = 40) -> Lifecycle:
    """A lifecycle of packs being assembled, re-seated and disassembled; every event at its own instant."""
    life = Lifecycle()
    where: dict[str, str] = {}
    at = T0
    for n in range(steps):
        at += timedelta(minutes=rng.randint(1, 90))
        choice = rng.random()
        module = rng.choice(MODULES)
        if choice < 0.12:  # an event that did not happen, declared erroneous
            life.events.append(
                Event(f"err-{n}", rng.choice(PACKS), (module,), rng.choice((ADD, DELETE)), at, erroneous=True)
            )
            continue
        if choice < 0.22:  # a confirmation of what is
            if module in where:
                life.events.append(Event(f"obs-{n}", where[module], (module,), OBSERVE, at))
            else:  # an OBSERVE of a pack the module is not in changes nothing either
                life.events.append(Event(f"obs-{n}", rng.choice(PACKS), (module,), OBSERVE, at))
            continue
        if choice < 0.30:  # the pack is taken apart: DELETE without childEPCs
            pack = rng.choice(PACKS)
            life.events.append(Event(f"all-{n}", pack, (), DELETE, at))
            where = {m: p for m, p in where.items() if p != pack}
        elif module in where and choice < 0.60:
            life.events.append(Event(f"del-{n}", where[module], (module,), DELETE, at))
            where = {m: p for m, p in where.items() if m != module}
        elif module in where and choice < 0.65:  # a DELETE naming a pack it is not in changes nothing
            other = rng.choice([p for p in PACKS if p != where[module]])
            life.events.append(Event(f"stray-{n}", other, (module,), DELETE, at))
        else:  # joins a pack, or moves to another one without a DELETE from the first
            pack = rng.choice(PACKS)
            joining = tuple(sorted({module, *rng.sample(MODULES, rng.randint(0, 2))}))
            life.events.append(Event(f"add-{n}", pack, joining, ADD, at))
            where = {**where, **dict.fromkeys(joining, pack)}
        life.truth.append((at, dict(where)))
    return life


class Store:
    """`pack_membership_events` and the capture's duplicate check, as capture uses them (capture/usecases.py,
    membership/store.py): a redelivered event is not recorded again; an event whose declaration came first is a
    duplicate of it and never recorded; a declaration after the event marks its rows."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], MembershipObservation] = {}
        self.seen: set[str] = set()

    def capture(self, event: Event) -> None:
        if event.event_hash in self.seen:
            return
        self.seen.add(event.event_hash)
        for o in observations_of(event.event_hash, event.parent, event.children, event.action, event.at):
            self.rows.setdefault((o.event_hash, o.parent, o.child), o)

    def declare(self, event_hash: str) -> None:
        self.seen.add(event_hash)
        for key, o in self.rows.items():
            if o.event_hash == event_hash:
                self.rows[key] = MembershipObservation(o.event_hash, o.parent, o.child, o.action, o.event_time, True)


def arrivals(rng: random.Random, life: Lifecycle) -> list[tuple[str, Event]]:
    """Every event once or twice (redelivery), every declaration once, in a random order."""
    deliveries = [("capture", e) for e in life.events] + [("capture", e) for e in life.events if rng.random() < 0.2]
    deliveries += [("declare", e) for e in life.events if e.erroneous]
    rng.shuffle(deliveries)
    return deliveries


def instants(life: Lifecycle) -> list[datetime]:
    """Every event instant, the instants just before and after each, and one before everything."""
    at = [T0 - timedelta(days=1)]
    for event in life.events:
        at += [event.at - timedelta(seconds=1), event.at, event.at + timedelta(seconds=1)]
    return at


def assert_matches_truth(life: Lifecycle, intervals: list[Interval]) -> None:
    for at in instants(life):
        truth = life.member_of(at)
        for pack in PACKS:
            expected = sorted(m for m, p in truth.items() if p == pack)
            assert [i.child for i in members_at(intervals, pack, at)] == expected, (pack, at)
        for module in MODULES:
            found = pack_at(intervals, module, at)
            assert (found.parent if found else None) == truth.get(module), (module, at)


@pytest.mark.parametrize("seed", range(60))
def test_membership_at_every_instant_is_the_truth_in_any_arrival_order(seed: int) -> None:
    rng = random.Random(seed)
    life = generate(rng)
    for _ in range(12):  # permutations of the same lifecycle
        store = Store()
        for what, event in arrivals(rng, life):
            if what == "capture":
                store.capture(event)
            else:
                store.declare(event.event_hash)
        assert_matches_truth(life, fold(store.rows.values()))


@pytest.mark.parametrize("seed", range(20))
def test_every_arrival_order_gives_the_same_intervals(seed: int) -> None:
    rng = random.Random(1000 + seed)
    life = generate(rng, steps=25)
    results = set()
    for _ in range(20):
        store = Store()
        for what, event in arrivals(rng, life):
            store.capture(event) if what == "capture" else store.declare(event.event_hash)
        results.add(tuple(fold(store.rows.values())))
    assert len(results) == 1


def test_a_delete_captured_before_its_add_still_ends_the_stay() -> None:
    t1, t2 = T0, T0 + timedelta(hours=2)
    delete = observations_of("h2", "pack", ["m"], DELETE, t2)
    add = observations_of("h1", "pack", ["m"], ADD, t1)
    (stay,) = fold(delete + add)
    assert (stay.added_at, stay.added_by, stay.removed_at, stay.removed_by) == (t1, "h1", t2, "h2")
    assert members_at([stay], "pack", t1 + timedelta(hours=1))[0].child == "m"
    assert members_at([stay], "pack", t2) == []


def test_an_add_to_another_pack_is_a_move_and_observe_only_confirms() -> None:
    t = [T0 + timedelta(hours=n) for n in range(4)]
    observed = (
        observations_of("a", "pack-1", ["m"], ADD, t[0])
        + observations_of("o", "pack-1", ["m"], OBSERVE, t[1])
        + observations_of("b", "pack-2", ["m"], ADD, t[2])
        + observations_of("o2", "pack-1", ["m"], OBSERVE, t[3])  # of a pack it left: no change
    )
    first, second = fold(observed)
    assert (first.parent, first.removed_at, first.removed_by, first.moved, first.last_confirmed_at) == (
        "pack-1",
        t[2],
        "b",
        True,
        t[1],
    )
    assert (second.parent, second.removed_at) == ("pack-2", None)
    assert pack_at([first, second], "m", t[3]) == second


def test_an_erroneous_add_undoes_its_move() -> None:
    t1, t2 = T0, T0 + timedelta(hours=1)
    good = observations_of("a", "pack-1", ["m"], ADD, t1)
    (wrong,) = observations_of("b", "pack-2", ["m"], ADD, t2)
    assert [i.parent for i in fold([*good, wrong])] == ["pack-1", "pack-2"]
    undone = MembershipObservation(wrong.event_hash, wrong.parent, wrong.child, wrong.action, wrong.event_time, True)
    (stay,) = fold([*good, undone])
    assert (stay.parent, stay.removed_at) == ("pack-1", None)


def test_removals_apply_before_additions_at_the_same_instant() -> None:
    re_seated = observations_of("z-add", "pack", ["m"], ADD, T0 + timedelta(hours=1))
    re_seated += observations_of("a-del", "pack", ["m"], DELETE, T0 + timedelta(hours=1))
    intervals = fold(observations_of("first", "pack", ["m"], ADD, T0) + re_seated)
    assert [(i.added_by, i.removed_by) for i in intervals] == [("first", "a-del"), ("z-add", None)]


def test_identifiers_of_one_passport_fold_as_one_child() -> None:
    observed = observations_of("a", "pack", ["gs1:01/09521234000013/21/M1"], ADD, T0)
    observed += observations_of("d", "pack", ["urn:uuid:m1"], DELETE, T0 + timedelta(hours=1))
    alias = {"gs1:01/09521234000013/21/M1": "urn:uuid:m1"}
    (stay,) = fold(observed, lambda key: alias.get(key, key))
    assert (stay.child, stay.removed_by) == ("urn:uuid:m1", "d")


def test_what_an_aggregation_event_observes() -> None:
    assert observations_of("h", None, ["m"], ADD, T0) == []
    assert observations_of("h", "pack", [], ADD, T0) == []
    assert [o.child for o in observations_of("h", "pack", [], DELETE, T0)] == [ALL_CHILDREN]
    event = {
        "type": "AggregationEvent",
        "eventTime": "2026-03-01T10:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "action": "ADD",
        "parentID": "urn:epc:id:sgtin:9521234.000001.PACK1",
        "childEPCs": ["https://example.com/01/09521234000013/21/M1", "urn:epc:id:sgtin:9521234.000001.M1"],
    }
    observed = membership_observations(to_custody_observation(event))
    assert [(o.parent, o.child, o.action) for o in observed] == [
        ("gs1:01/09521234000013/21/PACK1", "gs1:01/09521234000013/21/M1", ADD)
    ]
    assert membership_observations(to_custody_observation({**event, "type": "ObjectEvent"})) == []
