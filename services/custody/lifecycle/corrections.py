"""Error declarations roll back the custody state an erroneous event caused; the chain keeps both entries.

A passport's custody state (holder, dispatch in transit, stage, waste status) is the fold of its chain, entry by
entry in chain order, through the transition rules (`domain.transitions`). After an `error_declaration` entry is
appended, the state is folded again from the chain *without* the entries any declaration of the chain names
(nor the declarations themselves): the state is the one the passport would have if the erroneous event had never
been captured, whatever came after it (later steps and corrective events stay applied, in their order). The chain
is untouched: the original entry and its declaration both stay, and verification still passes.

When the erroneous entry was a stage step, or the stage or status custody derives changes, a
`PassportStatusChanged` with `corrects_sequence` (the erroneous entry's sequence; `sequence` the declaration's)
states the corrected stage and status. Its `occurred_at` is the erroneous entry's event time: a read model that
folds status changes in event time (reporting) folds it right after the change it corrects, restores what the
passport had before, and folds the later changes on top, whatever order they arrived in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts import topics
from contracts.custody import PassportStage, PassportStatusChanged
from contracts.passport_data import BatteryStatus
from services.common.db import DbConnection
from services.custody.domain.transitions import STAGE_AFTER, WASTE_STAGES, CustodyState, Step, transition
from services.custody.messaging.facts import Publication

ERROR_DECLARATION = "error_declaration"


@dataclass(frozen=True)
class ChainEntry:
    """What the fold reads of one custody log entry."""

    sequence: int
    kind: str
    handler_id: str
    from_handler_id: str | None
    to_handler_id: str | None
    content: Mapping[str, Any]
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class DerivedState:
    """The custody state and the status a chain derives."""

    state: CustodyState
    status: str | None


def declared_erroneous(passport_id: str, entries: Iterable[ChainEntry]) -> set[int]:
    """The sequences of the passport's entries an `error_declaration` entry of its chain names."""
    named: set[int] = set()
    for entry in entries:
        if entry.kind != ERROR_DECLARATION:
            continue
        for corrected in entry.content.get("corrects") or ():
            if corrected.get("passport_id") == passport_id and isinstance(corrected.get("sequence"), int):
                named.add(corrected["sequence"])
    return named


def refold(passport_id: str, entries: Sequence[ChainEntry]) -> DerivedState:
    """The state of the chain `entries` (any order; folded by sequence) as if the entries declared erroneous had
    never been recorded."""
    erroneous = declared_erroneous(passport_id, entries)
    state, status = CustodyState(), None
    for entry in sorted(entries, key=lambda e: e.sequence):
        if entry.kind == ERROR_DECLARATION or entry.sequence in erroneous:
            continue
        if "waste_declaration" in entry.content:  # the owner or the holder declared it waste (lifecycle)
            status = BatteryStatus.waste.value
            continue
        before = state.stage
        state, _ = transition(state, Step(entry.kind, entry.handler_id, entry.from_handler_id, entry.to_handler_id))
        if state.stage != before and state.stage in WASTE_STAGES:
            status = BatteryStatus.waste.value
    return DerivedState(state, status)


ENTRIES_SQL = """
SELECT passport_id, sequence, kind, handler_id, from_handler_id, to_handler_id, content, occurred_at
FROM custody_log
WHERE passport_id = ANY($1::text[]) ORDER BY passport_id, sequence
"""

STATES_SQL = """
SELECT passport_id, tenant, holder, in_transit, pending_from, pending_to, stage, status FROM known_passports
WHERE passport_id = ANY($1::text[])
"""

SET_STATES_SQL = """
UPDATE known_passports k SET holder = s.holder, in_transit = s.in_transit, pending_from = s.pending_from,
    pending_to = s.pending_to, stage = s.stage, status = s.status
FROM unnest($1::text[], $2::text[], $3::bool[], $4::text[], $5::text[], $6::text[], $7::text[])
    AS s(passport_id, holder, in_transit, pending_from, pending_to, stage, status)
WHERE k.passport_id = s.passport_id
"""

# A parked step of an event declared erroneous before its passport was minted: it never applies.
UNPARK_ERRONEOUS_SQL = """
DELETE FROM parked_events WHERE origin = 'step' AND payload ->> 'epcis_event_hash' = ANY($1::text[])
"""


@dataclass(frozen=True)
class Declaration:
    """An applied error declaration of one passport: its entry and who reported it, when."""

    passport_id: str
    sequence: int
    handler_id: str
    source_event_id: str
    declared_at: datetime
    corrects: int | None = None  # the sequence of the entry it declares erroneous


async def roll_back(conn: DbConnection, declarations: Sequence[Declaration]) -> list[Publication]:
    """Fold the state of each declared passport again without its erroneous entries, store it, and return the
    status facts of the corrections (see the module docstring)."""
    if not declarations:
        return []
    by_passport: dict[str, list[Declaration]] = {}
    for declaration in sorted(declarations, key=lambda d: d.sequence):
        by_passport.setdefault(declaration.passport_id, []).append(declaration)
    ids = sorted(by_passport)
    chains: dict[str, list[ChainEntry]] = {}
    for entry in await conn.fetch(ENTRIES_SQL, ids):
        content = entry["content"] if isinstance(entry["content"], dict) else {}
        chains.setdefault(entry["passport_id"], []).append(
            ChainEntry(
                entry["sequence"],
                entry["kind"],
                entry["handler_id"],
                entry["from_handler_id"],
                entry["to_handler_id"],
                content,
                entry["occurred_at"],
            )
        )
    stored = {row["passport_id"]: row for row in await conn.fetch(STATES_SQL, ids)}
    updates: list[tuple[Any, ...]] = []
    publications: list[Publication] = []
    for pid in ids:
        row = stored.get(pid)
        if row is None:
            continue
        chain = chains.get(pid, [])
        derived = refold(pid, chain)
        state = derived.state
        now = (state.holder, state.in_transit, state.pending_from, state.pending_to, state.stage, derived.status)
        was = (row["holder"], row["in_transit"], row["pending_from"], row["pending_to"], row["stage"], row["status"])
        if now != was:
            updates.append((pid, *now))
        changed = (state.stage, derived.status) != (row["stage"], row["status"])
        by_sequence = {e.sequence: e for e in chain}
        for declaration in by_passport[pid]:
            erroneous = by_sequence.get(declaration.corrects) if declaration.corrects else None
            moved_stage = erroneous is not None and erroneous.kind in STAGE_AFTER
            if moved_stage or (changed and declaration is by_passport[pid][-1]):
                # No stage left: the battery is back where it was before custody knew one (manufactured).
                stage = state.stage or PassportStage.manufactured.value
                at = erroneous.occurred_at if erroneous and erroneous.occurred_at else declaration.declared_at
                publications.append(_status_fact(declaration, row, stage, derived.status, at))
    if updates:
        columns = list(zip(*updates, strict=True))
        await conn.execute(SET_STATES_SQL, *[list(c) for c in columns])
    return publications


async def forget_parked(conn: DbConnection, event_hashes: Sequence[str]) -> None:
    """Parked steps of events declared erroneous are dropped: they would apply when their passport is minted."""
    if event_hashes:
        await conn.execute(UNPARK_ERRONEOUS_SQL, sorted(set(event_hashes)))


def _status(corrected: str | None, stored: str | None) -> BatteryStatus | None:
    """The status a correction states: waste when it still is; original when only the erroneous event made it
    waste (custody decides no other status: it says nothing of the rest)."""
    if corrected is not None:
        return BatteryStatus(corrected)
    return BatteryStatus.original if stored == BatteryStatus.waste.value else None


def _status_fact(
    declaration: Declaration, row: Any, stage: str, status: str | None, occurred_at: datetime
) -> Publication:
    pid = declaration.passport_id
    return Publication(
        topics.CUSTODY_PASSPORT_STATUS.name,
        PassportStatusChanged(
            passport_id=pid,
            tenant=row["tenant"],
            stage=PassportStage(stage),
            previous_stage=row["stage"],
            status=_status(status, row["status"]),
            occurred_at=occurred_at,
            sequence=declaration.sequence,
            handler_id=declaration.handler_id,
            source_event_id=declaration.source_event_id,
            corrects_sequence=declaration.corrects,
        ),
        key=pid,
        subject=pid,
    )
