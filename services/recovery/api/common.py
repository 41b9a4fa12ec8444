"""What every recovery route shares: the documented errors, who may call, whose rows a key sees, JSON of decimals."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import HTTPException, Request, status

from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.runtime import Runtime

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body cannot be parsed as JSON."},
    401: {"description": "No API key, or an unknown, revoked or expired one."},
    403: {"description": "The key's role may not do this, or acts for another recycler."},
    404: {"description": "Not found, or not visible to the caller (another tenant's passport or claim)."},
    409: {"description": "Conflicts with an earlier claim for the same model, plant and year."},
    422: {"description": "Invalid or refused input: every violation names the field, a reason code and a sentence."},
}
OWNER_READERS = require_roles(*OEM_ROLES, Role.auditor, Role.regulator, Role.platform_operator)
RECYCLERS = require_roles(Role.recycler)
REFINERS = require_roles(Role.refiner)
OEMS = require_roles(*OEM_ROLES)
REPORT_READERS = require_roles(Role.recycler, Role.auditor, Role.regulator, Role.platform_operator)
SEES_ALL = frozenset({Role.regulator, Role.platform_operator})


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def tenant_of(principal: Principal) -> str:
    """The key's tenant: the OEM for OEM keys, the handler id for recycler and refiner keys."""
    if principal.tenant is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            {"reason": "no_tenant", "message": "This key names no tenant (for a recycler or refiner: its handler id)."},
        )
    return principal.tenant


def not_found(kind: str, identifier: object) -> HTTPException:
    """404 `<kind>_not_found` (`passport_not_found`, `batch_not_found`, `claim_not_found`), as in every service."""
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        {"reason": f"{kind}_not_found", "message": f"No {kind} {identifier} is visible to you."},
    )


def plain(value: Any) -> Any:
    """JSON-ready, with masses and shares as exact decimal strings (never floats)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
