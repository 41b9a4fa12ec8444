"""Reporting HTTP routes: the passport read API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.runtime import Runtime
from services.reporting.cache import PassportCache

router = APIRouter(prefix="/reporting/v1", tags=["reporting"])

READERS = require_roles(*OEM_ROLES, Role.auditor, Role.regulator, Role.platform_operator)


def _not_found(passport_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        {"reason": "passport_not_found", "message": f"No passport {passport_id} is visible to you."},
    )


def _visible(principal: Principal, tenant: str) -> bool:
    return principal.role in {Role.regulator, Role.platform_operator} or principal.tenant == tenant


@router.get("/passports/{passport_id}", summary="A passport's read model, current or as of an instant")
async def read_passport(
    passport_id: str,
    request: Request,
    response: Response,
    principal: Annotated[Principal, READERS],
    as_of: Annotated[datetime | None, Query(description="Return the version valid at this instant (RFC 3339).")] = None,
) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    cache: PassportCache = request.app.state.passport_cache
    if as_of is not None:
        row = await runtime.pool.fetchrow(
            """SELECT v.state, v.version, v.valid_from, p.tenant FROM passport_view_versions v
               JOIN passport_view p USING (passport_id)
               WHERE v.passport_id = $1 AND v.valid_from <= $2 ORDER BY v.version DESC LIMIT 1""",
            passport_id,
            as_of,
        )
        if row is None or not _visible(principal, row["tenant"]):
            raise _not_found(passport_id)
        state: dict[str, Any] = row["state"]
        return state
    cached = await cache.get(passport_id)
    if cached is not None:
        response.headers["X-Cache"] = "hit"
        if not _visible(principal, cached["tenant"]):
            raise _not_found(passport_id)
        return cached
    row = await runtime.pool.fetchrow("SELECT tenant, state FROM passport_view WHERE passport_id = $1", passport_id)
    if row is None or not _visible(principal, row["tenant"]):
        raise _not_found(passport_id)
    response.headers["X-Cache"] = "miss"
    await cache.put(passport_id, row["state"])
    return dict(row["state"])


@router.get("/passports/{passport_id}/versions", summary="Every version of a passport's read model")
async def versions(passport_id: str, request: Request, principal: Annotated[Principal, READERS]) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    tenant = await runtime.pool.fetchval("SELECT tenant FROM passport_view WHERE passport_id = $1", passport_id)
    if tenant is None or not _visible(principal, tenant):
        raise _not_found(passport_id)
    rows = await runtime.pool.fetch(
        "SELECT version, change, valid_from FROM passport_view_versions WHERE passport_id = $1 ORDER BY version",
        passport_id,
    )
    return {"passport_id": passport_id, "versions": [dict(r) for r in rows]}
