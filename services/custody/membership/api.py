"""HTTP: the members of a pack, and the pack a module or cell is in, at an event time (EPCIS aggregation)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import AwareDatetime

from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.runtime import Runtime
from services.custody.api.errors import ERROR_RESPONSES, PassportIdPath
from services.custody.membership import usecases
from services.custody.membership.usecases import HANDLER_ROLES, PassportNotVisible

router = APIRouter(prefix="/custody/v1", tags=["custody"], responses=ERROR_RESPONSES)

READERS = require_roles(*OEM_ROLES, Role.auditor, Role.regulator, Role.platform_operator, *HANDLER_ROLES)
AtQuery = Annotated[
    AwareDatetime | None,
    Query(
        description="Event time to answer for, RFC 3339 with offset; now when absent.",
        examples=["2026-03-01T10:00:00Z"],
    ),
]


def _not_visible(error: PassportNotVisible) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND, {"reason": error.violation.reason, "message": error.violation.message}
    )


@router.get("/passports/{passport_id}/members", summary="The passports a pack holds at an event time")
async def members(
    passport_id: PassportIdPath, request: Request, principal: Annotated[Principal, READERS], at: AtQuery = None
) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    try:
        return await usecases.members_of(
            runtime.pool, runtime.platform_pool, principal, passport_id, (at or datetime.now(UTC)).astimezone(UTC)
        )
    except PassportNotVisible as error:
        raise _not_visible(error) from error


@router.get("/passports/{passport_id}/pack", summary="The pack a module or cell is in at an event time")
async def pack(
    passport_id: PassportIdPath, request: Request, principal: Annotated[Principal, READERS], at: AtQuery = None
) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    try:
        return await usecases.pack_of(
            runtime.pool, runtime.platform_pool, principal, passport_id, (at or datetime.now(UTC)).astimezone(UTC)
        )
    except PassportNotVisible as error:
        raise _not_visible(error) from error
