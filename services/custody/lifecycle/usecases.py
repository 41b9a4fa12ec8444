"""Use cases of a passport's lifecycle in custody: the waste declaration (Art. 77(7)): responsibility moves to the
waste operator, the passport stays."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from contracts import topics
from contracts.custody import (
    PassportStage,
    PassportStatusChanged,
    ResponsibilityBasis,
    ResponsiblePartyKind,
    WasteDeclarationRequest,
)
from contracts.errors import Violation
from contracts.passport_data import BatteryStatus
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.settings import Settings
from services.custody.domain import waste_declarations as rules
from services.custody.domain.chain import LogEntry
from services.custody.lifecycle import store as lifecycle_store
from services.custody.messaging import facts
from services.custody.registry import store as registry


@dataclass(frozen=True)
class Caller:
    """Who declares: the key's name, its tenant, and whether it is the owner's admin or a handler's key."""

    name: str
    tenant: str | None
    owner_admin: bool
    handler: bool


async def declare_waste(
    conn: DbConnection,
    outbox: Outbox,
    settings: Settings,
    *,
    passport_id: str,
    body: WasteDeclarationRequest,
    caller: Caller,
    now: datetime,
) -> dict[str, Any]:
    """Declare a battery waste: check who may (`waste_declarations`), append the declaration to the passport's
    custody chain and put `CustodyRecorded` and `PassportStatusChanged` (status waste) in the outbox."""
    row = await lifecycle_store.lock_passport(conn, passport_id)
    if row is None:
        raise rules.DeclarationRefused(
            404,
            [
                Violation(
                    field="passport_id",
                    reason="passport_not_found",
                    message=f"No passport {passport_id} is visible to you.",
                )
            ],
        )
    passport = rules.PassportCustody(
        passport_id, row["tenant"], row["holder"], row["in_transit"], row["stage"], row["status"]
    )
    who = rules.declarer(
        passport,
        caller_tenant=caller.tenant,
        owner_admin=caller.owner_admin,
        handler=caller.handler,
    )
    party = body.responsible_party
    operator = None
    if party.kind is ResponsiblePartyKind.waste_operator:
        operator = (await registry.load_handlers(conn, [party.id])).get(party.id)
    code, violations = rules.declaration_violations(passport, body, waste_operator=operator, now=now)
    if violations:
        raise rules.DeclarationRefused(code, violations)
    # In UTC, as the log returns it: the entry hash commits to this text, and verification recomputes it.
    occurred_at = (body.occurred_at or now).astimezone(UTC)
    declaration_id = str(uuid.uuid4())
    content = {
        "waste_declaration": {
            "declaration_id": declaration_id,
            "responsible_party": party.model_dump(mode="json"),
            "reason": body.reason,
            "declared_by": caller.name,
        }
    }
    entry = LogEntry(
        passport_id=passport_id,
        sequence=row["head_sequence"] + 1,
        kind="observation",
        occurred_at=occurred_at,
        handler_id=who.party,
        from_handler_id=None,
        to_handler_id=None,
        source_event_id=declaration_id,
        source=who.source,
        content=content,
        previous_hash=row["head_hash"],
    )
    entry_hash = entry.entry_hash
    await lifecycle_store.append_declaration(
        conn,
        log_row=(
            passport_id,
            entry.sequence,
            entry.kind,
            occurred_at,
            who.party,
            None,
            None,
            declaration_id,
            who.source,
            content,
            entry.previous_hash,
            entry_hash,
            None,
        ),
        passport_id=passport_id,
        tenant=passport.tenant,
        sequence=entry.sequence,
        entry_hash=entry_hash,
        declaration_id=declaration_id,
        responsible_kind=party.kind.value,
        responsible_id=party.id,
        reason=body.reason,
        occurred_at=occurred_at,
        declared_by=caller.name,
    )
    occurred_iso = occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    publications = [
        facts.recorded(
            {
                "passport_id": passport_id,
                "tenant": passport.tenant,
                "sequence": entry.sequence,
                "kind": entry.kind,
                "occurred_at": occurred_iso,
                "handler_id": who.party,
                "from_handler_id": None,
                "to_handler_id": None,
                "source_event_id": declaration_id,
                "entry_hash": entry_hash,
                "previous_hash": entry.previous_hash,
                "site_id": None,
                "ewc_code": None,
                "operation": None,
                "flags": [],
                "epcis_event_hash": None,
                "corrects_sequence": None,
            },
            passport_id,
        ),
        facts.Publication(
            topics.CUSTODY_PASSPORT_STATUS.name,
            PassportStatusChanged(
                passport_id=passport_id,
                tenant=passport.tenant,
                stage=PassportStage(rules.declared_stage(passport)),
                previous_stage=passport.stage,
                status=BatteryStatus.waste,
                occurred_at=occurred_at,
                sequence=entry.sequence,
                handler_id=who.party,
                source_event_id=declaration_id,
                responsible_operator=party.id,
                responsible_party_kind=party.kind,
                responsibility_basis=ResponsibilityBasis.waste_declaration,
            ),
            key=passport_id,
            subject=passport_id,
        ),
    ]
    for publication in publications:
        facts.add(outbox, settings.topic(publication.topic), publication)
    return {
        "declaration_id": declaration_id,
        "passport_id": passport_id,
        "status": BatteryStatus.waste.value,
        "responsible_party": party.model_dump(mode="json"),
        "occurred_at": occurred_at.isoformat(),
        "entry": {"sequence": entry.sequence, "entry_hash": entry_hash},
    }
