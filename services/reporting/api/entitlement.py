"""Read entitlement of value-chain operators: a legitimate-interest read (a handler key stating a purpose) needs a
registered, verified handler whose registry roles fit the purpose (services/common/access.py, PURPOSE_ROLES).
Refusals are 403 with `handler_not_registered`, `handler_not_verified`, `handler_suspended` or
`purpose_not_allowed_for_role`."""

from __future__ import annotations

from fastapi import HTTPException, Request, status

from services.common.access import LEGITIMATE_INTEREST_ROLES, ReadPurpose, read_entitlement_refusal
from services.common.auth import Principal
from services.common.runtime import Runtime
from services.reporting.store.handler_registry import registered_handler


async def require_read_entitlement(request: Request, principal: Principal, purpose: ReadPurpose | None) -> None:
    """Raise 403 when a value-chain operator states a purpose its registration does not entitle it to."""
    if principal.role not in LEGITIMATE_INTEREST_ROLES or purpose is None:
        return
    runtime: Runtime = request.app.state.runtime
    record = await registered_handler(runtime.pool, principal.tenant) if principal.tenant else None
    refusal = read_entitlement_refusal(
        principal, purpose, record.state if record else None, record.roles if record else frozenset()
    )
    if refusal is not None:
        reason, message = refusal
        raise HTTPException(status.HTTP_403_FORBIDDEN, {"reason": reason, "message": message, "field": "purpose"})
