"""Recovery HTTP routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status

from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.runtime import Runtime

router = APIRouter(prefix="/recovery/v1", tags=["recovery"])

READERS = require_roles(*OEM_ROLES, Role.auditor, Role.regulator, Role.platform_operator)


@router.get("/passports/{passport_id}", summary="What recovery knows of a passport's declared composition")
async def known_passport(
    passport_id: str, request: Request, principal: Annotated[Principal, READERS]
) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    row = await runtime.pool.fetchrow("SELECT * FROM known_passports WHERE passport_id = $1", passport_id)
    sees_all = principal.role in {Role.regulator, Role.platform_operator}
    if row is None or (not sees_all and principal.role in OEM_ROLES and row["tenant"] != principal.tenant):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            {"reason": "passport_not_found", "message": f"No passport {passport_id} is visible to you."},
        )
    return dict(row)
