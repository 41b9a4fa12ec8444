"""Applying a batch of custody steps: check, correlate, chain, publish; set-based SQL, rules in Python.

For a batch: load the handlers named (one query), resolve every reference (one query), lock the passports
concerned in id order (one query), then walk the steps in order in memory: registry and permit rules, the
transition rules of each passport, the tenant's policy; append the chain entries (one COPY) and the new heads
(one UPDATE). A step is applied whole or not at all: when it breaks a rule and any tenant concerned rejects
violations, nothing of it is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from contracts import topics
from contracts.custody import (
    HandlerRecord,
    PassportStage,
    PassportStatusChanged,
)
from contracts.envelope import Envelope
from contracts.errors import Violation
from contracts.passport_data import BatteryStatus
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.settings import Settings
from services.custody.domain.authority import Actor, ActorKind, Write, actor_of, authority_violations
from services.custody.domain.chain import hash_entry
from services.custody.domain.permits import handler_violations, permit_violations
from services.custody.domain.steps import CustodyStep, parking_key
from services.custody.domain.transitions import WASTE_STAGES, CustodyState, Step, transition
from services.custody.domain.waste_declarations import responsibility_on_collection
from services.custody.ingest import store
from services.custody.messaging import facts
from services.custody.messaging.facts import Publication, recorded
from services.custody.registry import store as registry

PASSPORT_ID_PREFIX = "urn:uuid:"
RECORDED = "recorded"
FLAGGED = "flagged"
PARKED = "parked"
REJECTED = "rejected"


@dataclass
class Outcome:
    """What became of one step."""

    status: str
    violations: list[Violation] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    parked_references: list[str] = field(default_factory=list)
    publications: list[Publication] = field(default_factory=list)


@dataclass
class _Passport:
    passport_id: str
    tenant: str
    policy: str
    sequence: int
    head_hash: str
    state: CustodyState
    status: str | None = None
    dirty: bool = False


def _handlers_named(step: CustodyStep) -> list[str]:
    return [h for h in (step.handler_id, step.from_handler_id, step.to_handler_id) if h]


def registry_violations(
    step: CustodyStep, handlers: dict[str, HandlerRecord], *, reporter_is_handler: bool = True
) -> list[Violation]:
    """The reporting handler is registered, verified and permitted; both parties of a handover are verified.
    An OEM or an authority reporting (an observation) is no handler: the registry has nothing to say of it."""
    if not reporter_is_handler:
        return []
    record = handlers.get(step.handler_id)
    violations = handler_violations(step.handler_id, record)
    if step.kind == "handover":
        for party, name in ((step.from_handler_id, "from_handler_id"), (step.to_handler_id, "to_handler_id")):
            if party and party != step.handler_id:
                role = "handing-over handler" if name == "from_handler_id" else "receiving handler"
                violations += handler_violations(party, handlers.get(party), name, role)
    if record is not None and not violations:
        violations += permit_violations(
            record,
            kind=step.kind,
            occurred_at=step.occurred_at,
            ewc_code=step.ewc_code,
            operation=step.operation,
            site_id=step.site_id,
        )
    return violations


def _ambiguous(reference: str, index: int) -> Violation:
    return Violation(
        field=f"targets.{index}",
        reason="ambiguous_identifier",
        message=f"{reference!r} names passports of several tenants; send the passport id or the Digital Link "
        "URI instead.",
    )


# Taken by whoever parks a step and by whoever unparks after minting (transaction-scoped).
PARKING_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.parking'))"


async def apply_steps(conn: DbConnection, steps: list[CustodyStep]) -> list[Outcome]:
    """Apply `steps` in order inside the caller's transaction; each outcome carries the facts to publish."""
    handler_ids = {h for step in steps for h in _handlers_named(step)}
    handlers = await registry.load_handlers(conn, handler_ids)
    references = [r for step in steps for r in step.references]
    resolved, rows = await _resolve(conn, references)
    if any(not resolved.get(r) for r in references):
        # Something may be parked: serialise with the minting path, then look again, so a passport minted
        # concurrently is either seen here or finds the parked step when it unparks (never neither).
        await conn.execute(PARKING_LOCK_SQL)
        resolved, rows = await _resolve(conn, references)
    if any(step.kind == "receipt" for step in steps):
        # The collector -> recycler rule of write authority reads the holder's roles.
        holders = {row["holder"] for row in rows.values() if row["holder"] and row["holder"] not in handlers}
        handlers.update(await registry.load_handlers(conn, holders))
    passports = {
        pid: _Passport(
            passport_id=pid,
            tenant=row["tenant"],
            policy=row["policy"],
            sequence=row["head_sequence"],
            head_hash=row["head_hash"],
            state=CustodyState(row["holder"], row["in_transit"], row["pending_from"], row["pending_to"], row["stage"]),
        )
        for pid, row in rows.items()
    }
    log_rows: list[tuple[Any, ...]] = []
    parked_rows: list[tuple[str, dict[str, Any], dict[str, Any], str]] = []
    outcomes = []
    actors: dict[tuple[str, str], Actor] = {}
    for step in steps:
        actor = actors.get((step.source, step.handler_id))
        if actor is None:
            actor = actors[(step.source, step.handler_id)] = actor_of(step.source, step.handler_id, handlers)
        outcome = _apply_one(step, actor, handlers, resolved, passports, log_rows)
        if outcome.parked_references:
            step_json = step.to_json()
            envelope = {"id": step.source_event_id, "source": step.source}
            for reference in outcome.parked_references:
                parked_rows.append((parking_key(reference), envelope, step_json, "step"))
        outcomes.append(outcome)
    await store.append_entries(conn, log_rows)
    await store.update_states(
        conn,
        [
            (
                p.passport_id,
                p.sequence,
                p.head_hash,
                p.state.holder,
                p.state.in_transit,
                p.state.pending_from,
                p.state.pending_to,
                p.state.stage,
                p.status,
            )
            for p in passports.values()
            if p.dirty
        ],
    )
    await store.park(conn, parked_rows)
    return outcomes


async def _resolve(
    conn: DbConnection, references: list[str]
) -> tuple[dict[str, list[tuple[str, str]]], dict[str, Any]]:
    rows = None
    resolved: dict[str, list[tuple[str, str]]] = {}
    if all(r.startswith(PASSPORT_ID_PREFIX) for r in references):
        # The common case, steps naming passports by id: one query resolves them and reads their state, unless a
        # pack or batch among them brings members (then the general path below).
        rows = await store.states(conn, references)
        if any(row["kind"] != "battery" for row in rows.values()):
            rows = None
        else:
            resolved = {pid: [(pid, row["tenant"])] for pid, row in rows.items()}
    if rows is None:
        resolved = await store.resolve(conn, references)
        rows = await store.states(conn, list({pid for matches in resolved.values() for pid, _ in matches}))
    return resolved, rows


def write_violations(
    step: CustodyStep, actor: Actor, targets: dict[str, _Passport], handlers: dict[str, HandlerRecord]
) -> list[Violation]:
    """The write-authority rules `actor` breaks on any target (one violation per field and reason)."""
    write = Write(step.kind, step.handler_id, step.from_handler_id, step.to_handler_id)
    found: dict[tuple[str, str], Violation] = {}
    for passport in targets.values():
        state = passport.state
        holder_record = handlers.get(state.holder) if state.holder else None
        for violation in authority_violations(write, actor, passport.tenant, state, holder_record):
            found.setdefault((violation.field, violation.reason), violation)
    return list(found.values())


def _apply_one(
    step: CustodyStep,
    actor: Actor,
    handlers: dict[str, HandlerRecord],
    resolved: dict[str, list[tuple[str, str]]],
    passports: dict[str, _Passport],
    log_rows: list[tuple[Any, ...]],
) -> Outcome:
    hard = list(step.hard_violations)
    targets: dict[str, _Passport] = {}
    waiting: list[str] = []
    for index, reference in enumerate(step.references):
        matches = resolved.get(reference, [])
        if len(matches) > 1 and len({tenant for _, tenant in matches}) > 1:
            hard.append(_ambiguous(reference, index))
        for pid, _ in matches:
            if pid in passports:
                targets.setdefault(pid, passports[pid])
        if not matches:
            waiting.append(reference)
    if hard:
        return Outcome(REJECTED, hard)
    if not targets:
        # Early: nothing it names is minted yet. Checked when it is applied, against the passport's tenant policy.
        return Outcome(PARKED, parked_references=waiting)
    violations = registry_violations(step, handlers, reporter_is_handler=actor.kind is ActorKind.handler)
    refused = write_violations(step, actor, targets, handlers)
    if refused:  # never flagged evidence, whatever the tenant's policy: a party that may not write does not
        return Outcome(REJECTED, violations + refused)
    custody_step = Step(step.kind, step.handler_id, step.from_handler_id, step.to_handler_id)
    after: dict[str, CustodyState] = {}
    for pid, passport in targets.items():
        state, broken = transition(passport.state, custody_step)
        after[pid] = state
        violations += [v for v in broken if v not in violations]
    if violations and any(p.policy != "flag" for p in targets.values()):
        return Outcome(REJECTED, violations)
    outcome = Outcome(FLAGGED if violations else RECORDED, violations, parked_references=waiting)
    flags = [v.model_dump() for v in violations]
    content = {**step.content, "flags": flags} if flags else step.content
    occurred_at = step.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    for pid, passport in targets.items():
        sequence = passport.sequence + 1
        previous_hash = passport.head_hash
        # The recorded fields, in the log's column order: hashed, then written with the hash.
        fields = (
            pid,
            sequence,
            step.kind,
            step.occurred_at,
            step.handler_id,
            step.from_handler_id,
            step.to_handler_id,
            step.source_event_id,
            step.source,
            content,
            previous_hash,
        )
        entry_hash = hash_entry(*fields)
        log_rows.append((*fields, entry_hash, step.epcis_event_hash))
        previous_stage = passport.state.stage
        passport.sequence, passport.head_hash, passport.state, passport.dirty = (
            sequence,
            entry_hash,
            after[pid],
            True,
        )
        outcome.entries.append({"passport_id": pid, "sequence": sequence, "entry_hash": entry_hash})
        outcome.publications.append(
            recorded(
                {
                    "passport_id": pid,
                    "tenant": passport.tenant,
                    "sequence": sequence,
                    "kind": step.kind,
                    "occurred_at": occurred_at,
                    "handler_id": step.handler_id,
                    "from_handler_id": step.from_handler_id,
                    "to_handler_id": step.to_handler_id,
                    "source_event_id": step.source_event_id,
                    "entry_hash": entry_hash,
                    "previous_hash": previous_hash,
                    "site_id": step.site_id,
                    "ewc_code": step.ewc_code,
                    "operation": step.operation,
                    "flags": flags,
                    "epcis_event_hash": step.epcis_event_hash,
                    "corrects_sequence": step.corrects.get(pid),
                },
                pid,
            )
        )
        stage = passport.state.stage
        if stage is not None and stage != previous_stage:
            status = BatteryStatus.waste if stage in WASTE_STAGES else None
            if status is not None:
                passport.status = status.value
            responsible = responsibility_on_collection(step.kind, step.handler_id, violations)
            outcome.publications.append(
                Publication(
                    topics.CUSTODY_PASSPORT_STATUS.name,
                    PassportStatusChanged(
                        passport_id=pid,
                        tenant=passport.tenant,
                        stage=PassportStage(stage),
                        previous_stage=previous_stage,
                        status=status,
                        occurred_at=step.occurred_at,
                        sequence=sequence,
                        handler_id=step.handler_id,
                        source_event_id=step.source_event_id,
                        responsible_operator=responsible.operator if responsible else None,
                        responsible_party_kind=responsible.kind if responsible else None,
                        responsibility_basis=responsible.basis if responsible else None,
                    ),
                    key=pid,
                    subject=pid,
                )
            )
    return outcome


async def record_step(
    conn: DbConnection, outbox: Outbox, settings: Settings, envelope: Envelope, step: CustodyStep, *, channel: str
) -> Outcome | None:
    """Apply one step reported by request, its facts in the outbox; None when its event id was seen before."""
    if not await store.remember_request(conn, envelope.dedup_key, channel):
        return None
    (outcome,) = await apply_steps(conn, [step])
    if outcome.status not in (RECORDED, FLAGGED):
        kept = "rejected" if outcome.status == REJECTED else "parked"
        await store.set_request_outcome(conn, envelope.dedup_key, kept)
    for publication in outcome.publications:
        facts.add(outbox, settings.topic(publication.topic), publication)
    return outcome
