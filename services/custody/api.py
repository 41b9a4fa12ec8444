"""Custody HTTP routes: a passport's custody log and the verification of its hash chain."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status

from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.runtime import Runtime
from services.custody import store
from services.custody.domain import LogEntry, verify_chain

router = APIRouter(prefix="/custody/v1", tags=["custody"])

READERS = require_roles(*OEM_ROLES, Role.auditor, Role.regulator, Role.platform_operator)


async def _visible_passport(request: Request, principal: Principal, passport_id: str) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    tenant = await store.passport_tenant(runtime.pool, passport_id)
    sees_all = principal.role in {Role.regulator, Role.platform_operator}
    if tenant is None or (not sees_all and tenant != principal.tenant):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            {"reason": "passport_not_found", "message": f"No passport {passport_id} is visible to you."},
        )
    return runtime


@router.get("/passports/{passport_id}/custody-log", summary="A passport's custody log, oldest first")
async def custody_log(passport_id: str, request: Request, principal: Annotated[Principal, READERS]) -> dict[str, Any]:
    runtime = await _visible_passport(request, principal, passport_id)
    rows = await store.log_of(runtime.pool, passport_id)
    return {"passport_id": passport_id, "entries": [dict(r) for r in rows]}


@router.get("/passports/{passport_id}/custody-log/verification", summary="Verify the custody log's hash chain")
async def verify(passport_id: str, request: Request, principal: Annotated[Principal, READERS]) -> dict[str, Any]:
    runtime = await _visible_passport(request, principal, passport_id)
    rows = await store.log_of(runtime.pool, passport_id)
    entries = [
        (
            LogEntry(
                passport_id=r["passport_id"],
                sequence=r["sequence"],
                kind=r["kind"],
                occurred_at=r["occurred_at"],
                handler_id=r["handler_id"],
                from_handler_id=r["from_handler_id"],
                to_handler_id=r["to_handler_id"],
                source_event_id=r["source_event_id"],
                source=r["source"],
                content=r["content"],
                previous_hash=r["previous_hash"],
            ),
            r["entry_hash"],
        )
        for r in rows
    ]
    broken = verify_chain(entries)
    return {
        "passport_id": passport_id,
        "entries": len(entries),
        "intact": broken is None,
        "head_hash": entries[-1][1] if entries else None,
        "break": None
        if broken is None
        else {"sequence": broken.sequence, "reason": broken.reason, "message": broken.message},
    }
