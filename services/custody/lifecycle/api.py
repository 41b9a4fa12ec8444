"""HTTP: the owner or the holder declares a battery waste; responsibility moves, the passport stays (Art. 77(7))."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse

from contracts import topics
from contracts.custody import (
    PassportStage,
    PassportStatusChanged,
    ResponsibilityBasis,
    ResponsiblePartyKind,
    WasteDeclarationRequest,
)
from contracts.envelope import service_source
from contracts.errors import Violation
from contracts.passport_data import BatteryStatus
from services.common.auth import Principal, Role, require_roles
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.problems import violations_response
from services.common.runtime import Runtime
from services.custody.domain.chain import LogEntry
from services.custody.http_errors import ERROR_RESPONSES, PassportIdPath
from services.custody.ingest import facts
from services.custody.ingest.api import HANDLER_ROLES
from services.custody.lifecycle import rules
from services.custody.lifecycle import store as lifecycle_store
from services.custody.registry import store as registry

router = APIRouter(prefix="/custody/v1", tags=["lifecycle"], responses=ERROR_RESPONSES)

DECLARERS = require_roles(Role.oem_admin, *HANDLER_ROLES)
WRITE_ATTEMPTS = 3


def _refused(refused: rules.DeclarationRefused) -> HTTPException:
    first = refused.violations[0]
    return HTTPException(
        refused.status_code,
        {
            "reason": first.reason,
            "field": first.field,
            "message": first.message,
            "violations": [v.model_dump() for v in refused.violations],
        },
    )


async def _declare(
    conn: DbConnection,
    outbox: Outbox,
    runtime: Runtime,
    *,
    passport_id: str,
    body: WasteDeclarationRequest,
    principal: Principal,
    now: datetime,
) -> dict[str, Any]:
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
        caller_tenant=principal.tenant,
        owner_admin=principal.role is Role.oem_admin,
        handler=principal.role in HANDLER_ROLES,
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
            "declared_by": principal.name,
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
        declared_by=principal.name,
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
        facts.add(outbox, runtime.settings.topic(publication.topic), publication)
    return {
        "declaration_id": declaration_id,
        "passport_id": passport_id,
        "status": BatteryStatus.waste.value,
        "responsible_party": party.model_dump(mode="json"),
        "occurred_at": occurred_at.isoformat(),
        "entry": {"sequence": entry.sequence, "entry_hash": entry_hash},
    }


@router.post(
    "/passports/{passport_id}/waste-declaration",
    status_code=status.HTTP_201_CREATED,
    summary="Declare a battery waste: its status becomes waste and responsibility moves (no new passport)",
    description="By the OEM admin of the owning tenant, or by the handler holding the battery. The declaration is "
    "appended to the passport's custody log (an `observation` entry in the hash chain) and published as "
    "`PassportStatusChanged` (status `waste`, `responsible_operator`, `responsibility_basis` "
    "`waste_declaration`). A waste operator named as responsible must be a verified handler; a producer must be "
    "the passport's owner.",
    responses={
        201: {"description": "Recorded."},
        403: {"description": "`not_custodian`: a handler that does not hold the battery."},
        409: {"description": "`already_waste`."},
    },
)
async def declare_waste(
    passport_id: PassportIdPath,
    body: WasteDeclarationRequest,
    request: Request,
    principal: Annotated[Principal, DECLARERS],
) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    now = datetime.now(UTC)
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        outbox = Outbox(service_source(runtime.name))
        try:
            async with runtime.pool.acquire() as conn, conn.transaction():
                result = await _declare(
                    conn, outbox, runtime, passport_id=passport_id, body=body, principal=principal, now=now
                )
                await outbox.flush(conn)
            return JSONResponse(result, status_code=status.HTTP_201_CREATED)
        except rules.DeclarationRefused as refused:
            if refused.status_code == 422:
                return violations_response(refused.violations)
            raise _refused(refused) from None
        except asyncpg.UniqueViolationError:  # a custody step was appended to the chain meanwhile: read again
            if attempt == WRITE_ATTEMPTS:
                raise
    raise AssertionError("unreachable")
