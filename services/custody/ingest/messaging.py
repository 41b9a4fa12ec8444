"""Consumers of custody: minted passports (and the early steps waiting for them), native custody events."""

from __future__ import annotations

from typing import Any

from contracts.custody import CustodyEventReported
from contracts.errors import Violation
from contracts.identity import PassportMinted
from services.common.outbox import OutboxRow
from services.common.rejections import Origin
from services.common.unit_of_work import Inbound, UnitOfWork
from services.custody.domain.steps import BATCH_REFERENCE_PREFIX, GS1_REFERENCE_PREFIX, CustodyStep, from_native
from services.custody.ingest import store
from services.custody.ingest.usecases import (
    FLAGGED,
    PARKED,
    PARKING_LOCK_SQL,
    RECORDED,
    REJECTED,
    Outcome,
    apply_steps,
)
from services.custody.messaging import facts

# Header on a notice that a step was accepted as flagged evidence (tenant policy `flag`), not refused.
OUTCOME_HEADER = "bpass_outcome"
FLAGGED_OUTCOME = "accepted_flagged"


def received_from(item: Inbound[Any]) -> dict[str, Any]:
    record, envelope = item.record, item.envelope
    key = record.key.decode("utf-8", "replace") if isinstance(record.key, bytes) else None
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": key,
        "ce_id": envelope.id,
        "ce_source": envelope.source,
        "ce_type": envelope.type,
        "subject": envelope.subject,
    }


def notice_row(uow: UnitOfWork, received: dict[str, Any], violations: list[Violation], *, flagged: bool) -> OutboxRow:
    """A refusal (or a flagged acceptance) on the rejected topic, for a step known by where it came from."""
    origin = Origin(
        topic=received.get("topic") or "",
        partition=received.get("partition") or 0,
        offset=received.get("offset") or 0,
        key=received.get("key"),
        ce_id=received.get("ce_id"),
        ce_source=received.get("ce_source"),
        ce_type=received.get("ce_type"),
        subject=received.get("subject"),
    )
    outcome = FLAGGED_OUTCOME if flagged else "rejected"
    return uow.rejection_row(origin, violations, extra_headers=[(OUTCOME_HEADER, outcome)], counted=not flagged)


def publish_outcome(uow: UnitOfWork, outcome: Outcome, at: str | None = None) -> None:
    at = at or facts.ce_time()
    for publication in outcome.publications:
        facts.add(uow.outbox, uow.settings.topic(publication.topic), publication, at=at)


async def on_custody_events(uow: UnitOfWork, items: list[Inbound[CustodyEventReported]]) -> None:
    steps = [from_native(item.payload, item.envelope, received_from(item)) for item in items]
    outcomes = await apply_steps(uow.conn, steps)
    at = facts.ce_time()
    for item, outcome in zip(items, outcomes, strict=True):
        span = uow.spans.get(item.dedup_key)
        if outcome.status == RECORDED and span is not None and all(p.message is None for p in outcome.publications):
            # The common case: only fast-encoded facts, which take the item's span context directly (what
            # `uow.tracing(item)` would make current) instead of entering and leaving it per item.
            parent = facts.traceparent(span)
            for publication in outcome.publications:
                facts.add(uow.outbox, uow.settings.topic(publication.topic), publication, at=at, parent=parent)
            continue
        with uow.tracing(item):
            if outcome.status == REJECTED:
                uow.reject(item, outcome.violations)
                continue
            if outcome.status == PARKED:
                uow.park(item)
            elif outcome.status == FLAGGED:
                uow.outbox.add_row(notice_row(uow, received_from(item), outcome.violations, flagged=True))
            publish_outcome(uow, outcome, at)


def parking_keys(minted: PassportMinted) -> list[str]:
    """The references under which early steps for this passport may be parked."""
    subject = minted.subject
    keys = [minted.passport_id, minted.public_uri, subject.battery_identifier]
    if subject.gtin:
        gtin14 = subject.gtin.zfill(14)
        keys.append(f"{GS1_REFERENCE_PREFIX}01/{gtin14}/21/{subject.battery_identifier}")
        if subject.batch_number:
            keys.append(f"{GS1_REFERENCE_PREFIX}01/{gtin14}/10/{subject.batch_number}")
    if subject.batch_number:
        keys.append(BATCH_REFERENCE_PREFIX + subject.batch_number)
    return keys


def _passport_row(minted: PassportMinted) -> tuple[Any, ...]:
    subject = minted.subject
    gtin14 = subject.gtin.zfill(14) if subject.gtin else None
    return (
        minted.passport_id,
        minted.tenant,
        subject.battery_identifier,
        minted.public_uri,
        minted.minted_at,
        subject.kind.value,
        gtin14,
        subject.batch_number,
        f"01/{gtin14}/21/{subject.battery_identifier}" if gtin14 else None,
        f"01/{gtin14}/10/{subject.batch_number}" if gtin14 and subject.batch_number else None,
    )


def step_of_parked(row: Any) -> CustodyStep:
    payload: dict[str, Any] = row["payload"]
    if row["origin"] == "step":
        step = CustodyStep.from_json(payload)
    else:  # parked before steps were normalised: the native contract as published
        from contracts.envelope import Envelope

        step = from_native(CustodyEventReported.model_validate(payload), Envelope.model_validate(row["envelope"]))
    step.references = (row["reference"],)
    return step


async def on_passport_minted(uow: UnitOfWork, items: list[Inbound[PassportMinted]]) -> None:
    """Learn of new passports (and what packs and batches hold), then apply the steps that were waiting."""
    minted = [item.payload for item in items]
    await store.remember_passports(uow.conn, [_passport_row(m) for m in minted])
    await store.add_members(
        uow.conn,
        [(m.passport_id, m.tenant, member) for m in minted for member in m.subject.member_identifiers],
    )
    await uow.conn.execute(PARKING_LOCK_SQL)  # see apply_steps: parked steps are never missed
    parked = await store.unpark(uow.conn, [key for m in minted for key in parking_keys(m)])
    if not parked:
        return
    steps = [step_of_parked(row) for row in sorted(parked, key=lambda r: (r["payload"]["occurred_at"], r["id"]))]
    for step, outcome in zip(steps, await apply_steps(uow.conn, steps), strict=True):
        if outcome.status == REJECTED and step.received:
            uow.outbox.add_row(notice_row(uow, step.received, outcome.violations, flagged=False))
        elif outcome.status == FLAGGED and step.received:
            uow.outbox.add_row(notice_row(uow, step.received, outcome.violations, flagged=True))
        publish_outcome(uow, outcome)
