"""Custody use cases."""

from __future__ import annotations

from datetime import UTC

from contracts import topics
from contracts.custody import CustodyEventReported, CustodyRecorded
from contracts.envelope import Envelope
from contracts.errors import Violation
from contracts.identity import PassportMinted
from services.common.consumer import Inbound, UnitOfWork
from services.custody import store
from services.custody.domain import GENESIS_HASH, LogEntry


async def on_passport_minted(uow: UnitOfWork, items: list[Inbound[PassportMinted]]) -> None:
    """Learn of new passports, then apply the custody events that were waiting for them."""
    for item in items:
        minted = item.payload
        await store.remember_passport(
            uow.conn,
            {
                "passport_id": minted.passport_id,
                "tenant": minted.tenant,
                "battery_identifier": minted.subject.battery_identifier,
                "public_uri": minted.public_uri,
                "minted_at": minted.minted_at,
            },
        )
        parked = await store.unpark(
            uow.conn, [minted.passport_id, minted.public_uri, minted.subject.battery_identifier]
        )
        for row in sorted(parked, key=lambda r: (r["payload"]["occurred_at"], r["id"])):
            envelope = Envelope.model_validate(row["envelope"])
            event = CustodyEventReported.model_validate(row["payload"])
            await record(uow, envelope, event, minted.passport_id, minted.tenant)


async def on_custody_events(uow: UnitOfWork, items: list[Inbound[CustodyEventReported]]) -> None:
    for item in items:
        event = item.payload
        references = list(event.targets.passport_ids) + list(event.targets.battery_identifiers)
        resolved: list[tuple[str, str]] = []
        waiting: list[str] = []
        violations: list[Violation] = []
        for index, reference in enumerate(references):
            matches = await store.resolve(uow.conn, reference)
            if len(matches) > 1:
                violations.append(
                    Violation(
                        field=f"targets.{index}",
                        reason="ambiguous_identifier",
                        message=f"{reference!r} names passports of several tenants; send the passport id or "
                        "the Digital Link URI instead.",
                    )
                )
            elif matches:
                resolved.append((matches[0]["passport_id"], matches[0]["tenant"]))
            else:
                waiting.append(reference)
        if violations:
            uow.reject(item, violations)
            continue
        for passport_id, tenant in dict.fromkeys(resolved):
            await record(uow, item.envelope, event, passport_id, tenant)
        for reference in waiting:
            await store.park(uow.conn, reference, item.envelope.model_dump(mode="json"), event.model_dump(mode="json"))
        if waiting and not resolved:
            uow.park(item)


async def record(
    uow: UnitOfWork, envelope: Envelope, event: CustodyEventReported, passport_id: str, tenant: str
) -> None:
    last = await store.last_entry(uow.conn, passport_id)
    entry = LogEntry(
        passport_id=passport_id,
        sequence=(last["sequence"] + 1) if last else 1,
        kind=event.kind.value,
        occurred_at=event.occurred_at.astimezone(UTC),
        handler_id=event.handler_id,
        from_handler_id=event.from_handler_id,
        to_handler_id=event.to_handler_id,
        source_event_id=envelope.id,
        source=envelope.source,
        content=event.model_dump(mode="json"),
        previous_hash=last["entry_hash"] if last else GENESIS_HASH,
    )
    entry_hash = await store.append(uow.conn, entry)
    uow.publish(
        topics.CUSTODY_RECORDED.name,
        CustodyRecorded(
            passport_id=passport_id,
            tenant=tenant,
            sequence=entry.sequence,
            kind=event.kind,
            occurred_at=entry.occurred_at,
            handler_id=event.handler_id,
            from_handler_id=event.from_handler_id,
            to_handler_id=event.to_handler_id,
            source_event_id=envelope.id,
            entry_hash=entry_hash,
            previous_hash=entry.previous_hash,
        ),
        key=passport_id,
        subject=passport_id,
    )
