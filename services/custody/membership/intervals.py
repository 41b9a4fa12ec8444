"""Pack membership as event-time intervals: a pure fold over every aggregation observation kept of a pack.

Each EPCIS `AggregationEvent` names a parent (the pack) and children (modules, cells). The fold takes *all* the
observations known, whatever order they arrived in, drops those declared erroneous, and replays them in event-time
order, so a DELETE captured before its ADD, a duplicate or a late event gives the same intervals as the same events
captured in the order they happened:

| action | child in no pack | child in this pack | child in another pack Q |
| --- | --- | --- | --- |
| ADD | joins (interval opens) | confirmation, no change | **move**: Q's interval closes, this one opens |
| DELETE | no change (nothing to end) | leaves (interval closes) | no change |
| DELETE, no childEPCs | every member of this pack leaves | | |
| OBSERVE | no change | confirmation (`last_confirmed_at`) | no change |

A second ADD to another pack is a move, not a refusal: a remanufacturing or disassembly line re-seats a module and
reports the ADD to its new pack while the DELETE from the old one may come later, from another system, or never;
refusing the ADD would make the outcome depend on which of the two arrived first. At equal event time removals
apply before additions (a module re-seated in the same instant stays in), and ties break by event hash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

ADD: Final = "ADD"
DELETE: Final = "DELETE"
OBSERVE: Final = "OBSERVE"
ACTIONS: Final = frozenset({ADD, DELETE, OBSERVE})
# A DELETE without childEPCs (EPCIS 2.0 7.3.4): every child of the parent leaves.
ALL_CHILDREN: Final = ""
_ORDER: Final = {DELETE: 0, ADD: 1, OBSERVE: 2}


@dataclass(frozen=True)
class MembershipObservation:
    """One (event, child) pair of an aggregation event; `child` is ALL_CHILDREN for a DELETE of every child."""

    event_hash: str
    parent: str
    child: str
    action: str
    event_time: datetime
    erroneous: bool = False


@dataclass(frozen=True)
class Interval:
    """`child` was in `parent` from `added_at` (event `added_by`) until `removed_at` (event `removed_by`; None:
    still is). `moved`: it left because an ADD put it into another pack."""

    child: str
    parent: str
    added_at: datetime
    added_by: str
    removed_at: datetime | None = None
    removed_by: str | None = None
    moved: bool = False
    last_confirmed_at: datetime | None = None

    def holds_at(self, at: datetime) -> bool:
        return self.added_at <= at and (self.removed_at is None or at < self.removed_at)


def _identity(key: str) -> str:
    return key


def fold(observations: Iterable[MembershipObservation], alias: Callable[[str], str] = _identity) -> list[Interval]:
    """Every membership interval the observations imply (see the module table), oldest first. `alias` maps each
    identifier to the one subject it names (a passport known by its id and by its GS1 key is one child)."""
    unique = {
        (o.event_hash, alias(o.parent), alias(o.child) if o.child != ALL_CHILDREN else ALL_CHILDREN): o
        for o in observations
        if not o.erroneous
    }
    ordered = sorted(unique.items(), key=lambda item: (item[1].event_time, _ORDER[item[1].action], item[0]))
    open_by_child: dict[str, int] = {}
    intervals: list[Interval] = []

    def close(index: int, at: datetime, by: str, *, moved: bool = False) -> None:
        intervals[index] = replace(intervals[index], removed_at=at, removed_by=by, moved=moved)
        del open_by_child[intervals[index].child]

    for (event_hash, parent, child), observation in ordered:
        at = observation.event_time
        if observation.action == DELETE:
            if child == ALL_CHILDREN:
                for member in [c for c, i in open_by_child.items() if intervals[i].parent == parent]:
                    close(open_by_child[member], at, event_hash)
            elif child in open_by_child and intervals[open_by_child[child]].parent == parent:
                close(open_by_child[child], at, event_hash)
            continue
        current = open_by_child.get(child)
        if current is not None and intervals[current].parent == parent:
            intervals[current] = replace(intervals[current], last_confirmed_at=at)
            continue
        if observation.action == OBSERVE or child == ALL_CHILDREN:
            continue
        if current is not None:
            close(current, at, event_hash, moved=True)
        open_by_child[child] = len(intervals)
        intervals.append(Interval(child=child, parent=parent, added_at=at, added_by=event_hash))
    return intervals


def members_at(intervals: Iterable[Interval], parent: str, at: datetime) -> list[Interval]:
    """The intervals of the children `parent` holds at `at`."""
    return sorted((i for i in intervals if i.parent == parent and i.holds_at(at)), key=lambda i: i.child)


def pack_at(intervals: Iterable[Interval], child: str, at: datetime) -> Interval | None:
    """The interval of the pack `child` is in at `at`, if any (one at a time: moves close the previous one)."""
    return next((i for i in intervals if i.child == child and i.holds_at(at)), None)


def observations_of(
    event_hash: str, parent: str | None, children: Iterable[str], action: str | None, event_time: datetime
) -> list[MembershipObservation]:
    """The membership observations of one aggregation event (none without a parent or a known action)."""
    if parent is None or action not in ACTIONS:
        return []
    named = list(dict.fromkeys(children))
    if not named:
        if action != DELETE:
            return []
        named = [ALL_CHILDREN]
    return [MembershipObservation(event_hash, parent, child, action, event_time) for child in named]
