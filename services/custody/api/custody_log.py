"""Custody HTTP routes: a passport's custody log and the verification of its hash chain."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, HTTPException, Request, status

from services.common import metrics
from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.runtime import Runtime
from services.custody.api.errors import ERROR_RESPONSES, PassportIdPath
from services.custody.domain import LogEntry, verify_chain
from services.custody.ingest import store

router = APIRouter(prefix="/custody/v1", tags=["custody"], responses=ERROR_RESPONSES)

READERS = require_roles(*OEM_ROLES, Role.auditor, Role.regulator, Role.platform_operator)


async def _visible_passport(request: Request, principal: Principal, passport_id: str) -> tuple[Runtime, asyncpg.Record]:
    runtime: Runtime = request.app.state.runtime
    head = await store.passport_head(runtime.pool, passport_id)
    sees_all = principal.role in {Role.regulator, Role.platform_operator}
    if head is None or (not sees_all and head["tenant"] != principal.tenant):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            {"reason": "passport_not_found", "message": f"No passport {passport_id} is visible to you."},
        )
    return runtime, head


def _entry(row: asyncpg.Record, corrected_by: dict[int, list[int]]) -> dict[str, Any]:
    entry = dict(row)
    entry["flags"] = row["content"].get("flags", []) if isinstance(row["content"], dict) else []
    entry["corrected_by"] = corrected_by.get(row["sequence"], [])
    return entry


@router.get("/passports/{passport_id}/custody-log", summary="A passport's custody log, oldest first")
async def custody_log(
    passport_id: PassportIdPath, request: Request, principal: Annotated[Principal, READERS]
) -> dict[str, Any]:
    runtime, head = await _visible_passport(request, principal, passport_id)
    rows = await store.log_of(runtime.pool, passport_id)
    corrected_by: dict[int, list[int]] = {}
    for row in rows:
        if row["kind"] != "error_declaration" or not isinstance(row["content"], dict):
            continue
        for corrected in row["content"].get("corrects", []):
            if corrected.get("passport_id") == passport_id and isinstance(corrected.get("sequence"), int):
                corrected_by.setdefault(corrected["sequence"], []).append(row["sequence"])
    return {
        "passport_id": passport_id,
        "custody": {
            "holder": head["holder"],
            "in_transit": head["in_transit"],
            "pending_from": head["pending_from"],
            "pending_to": head["pending_to"],
            "stage": head["stage"],
            "status": head["status"],
        },
        "entries": [_entry(r, corrected_by) for r in rows],
    }


@router.get("/passports/{passport_id}/custody-log/verification", summary="Verify the custody log's hash chain")
async def verify(
    passport_id: PassportIdPath, request: Request, principal: Annotated[Principal, READERS]
) -> dict[str, Any]:
    runtime, head = await _visible_passport(request, principal, passport_id)
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
    broken = verify_chain(entries, (head["head_sequence"], head["head_hash"]))
    metrics.CHAIN_VERIFICATIONS.labels(runtime.name, "intact" if broken is None else "broken").inc()
    return {
        "passport_id": passport_id,
        "entries": len(entries),
        "intact": broken is None,
        "head_sequence": head["head_sequence"],
        "head_hash": head["head_hash"] if head["head_sequence"] else None,
        "break": None
        if broken is None
        else {"sequence": broken.sequence, "reason": broken.reason, "message": broken.message},
    }
