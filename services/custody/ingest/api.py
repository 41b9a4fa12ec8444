"""HTTP for small senders (one custody event per request) and the tenant's custody violation policy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from contracts.custody import CustodyEventReported
from contracts.envelope import Envelope
from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.db import DbConnection
from services.common.http_uow import Writes
from services.common.outbox import Outbox
from services.common.problems import violations_response
from services.common.runtime import Runtime
from services.custody.api.errors import ERROR_RESPONSES, UNSTORABLE_TEXT, TenantPath, refused_response, unstorable_text
from services.custody.domain import authority
from services.custody.domain.steps import HANDLER_SOURCE_PREFIX, from_native
from services.custody.ingest.usecases import REJECTED, Outcome, record_step
from services.custody.registry import store as registry

router = APIRouter(prefix="/custody/v1", tags=["custody events"], responses=ERROR_RESPONSES)

HANDLER_ROLES = frozenset({Role.carrier, Role.collector, Role.recycler, Role.refiner, Role.repairer})
# OEM keys report as their tenant and regulators as an authority: what each may record is write authority's.
REPORTERS = require_roles(*HANDLER_ROLES, *OEM_ROLES, Role.regulator, Role.platform_operator)
POLICY_ADMINS = require_roles(Role.oem_admin, Role.platform_operator)
POLICY_READERS = require_roles(Role.oem_admin, Role.oem_user, Role.auditor, Role.platform_operator)

HTTP_CHANNEL = "http:/custody/v1/events"


def reporter_source(principal: Principal) -> str:
    """The CloudEvents source a request stands for: a handler key reports as that handler."""
    if principal.role in HANDLER_ROLES:
        if not principal.tenant:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                {
                    "reason": "handler_key_without_handler",
                    "message": "This key names no handler; create handler keys with --tenant <handler id>.",
                },
            )
        return f"{HANDLER_SOURCE_PREFIX}{principal.tenant}"
    if principal.role in OEM_ROLES and principal.tenant:
        return f"{authority.TENANT_SOURCE_PREFIX}{principal.tenant}"
    if principal.role is Role.regulator:
        return f"{authority.AUTHORITY_SOURCE_PREFIX}{principal.tenant or principal.key_id}"
    return f"urn:bpass:operator:{principal.key_id}"


@router.post(
    "/events",
    summary="Report one custody step (the HTTP twin of topic bpass.custody.events.v1)",
    responses={201: {"description": "recorded or flagged"}, 202: {"description": "parked"}, 422: {}},
)
async def report_event(
    event: CustodyEventReported,
    request: Request,
    principal: Annotated[Principal, REPORTERS],
    write: Writes,
    event_id: Annotated[
        str | None,
        Header(alias="X-Event-Id", max_length=200, description="Your id of the event; a resend with it is a no-op."),
    ] = None,
) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    source = reporter_source(principal)
    envelope = Envelope(id=event_id or str(uuid.uuid4()), source=source, type=event.event_type, time=datetime.now(UTC))
    step = from_native(event, envelope)

    async def work(conn: DbConnection, outbox: Outbox) -> Outcome | None:
        return await record_step(conn, outbox, runtime.settings, envelope, step, channel=HTTP_CHANNEL)

    try:
        # On the platform's rows whoever calls: write authority, not the caller's tenant, decides what a step touches.
        outcome = await write.run(principal, work, platform=True)
    except UNSTORABLE_TEXT:
        return unstorable_text()
    if outcome is None:
        return JSONResponse({"event_id": envelope.id, "outcome": "duplicate", "entries": []}, status_code=200)
    if outcome.status == REJECTED:
        if any(v.reason in authority.REASONS for v in outcome.violations):
            return refused_response(outcome.violations)
        return violations_response(outcome.violations)
    body: dict[str, Any] = {
        "event_id": envelope.id,
        "outcome": outcome.status,
        "entries": outcome.entries,
        "parked_references": outcome.parked_references,
        "flags": [v.model_dump() for v in outcome.violations],
    }
    return JSONResponse(body, status_code=202 if outcome.status == "parked" else 201)


class ViolationPolicy(StrEnum):
    reject = "reject"
    flag = "flag"


class TenantPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    custody_violation_policy: ViolationPolicy = Field(
        description="`reject` (the platform default): a step breaking a custody rule is refused. `flag`: it is "
        "recorded as flagged evidence (the reasons are in the entry and on the rejected topic).",
        examples=["flag"],
    )


def _own_tenant(principal: Principal, tenant: str) -> None:
    if principal.role is not Role.platform_operator and principal.tenant != tenant:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            {"reason": "tenant_not_found", "message": f"No tenant {tenant} is visible to you."},
        )


@router.get("/tenants/{tenant}/policy", summary="The tenant's custody violation policy")
async def get_policy(
    tenant: TenantPath, request: Request, principal: Annotated[Principal, POLICY_READERS]
) -> dict[str, Any]:
    _own_tenant(principal, tenant)
    runtime: Runtime = request.app.state.runtime
    row = await registry.get_policy(runtime.pool, tenant)
    return {
        "tenant": tenant,
        "custody_violation_policy": row["custody_violation_policy"] if row else ViolationPolicy.reject.value,
        "default": row is None,
        "updated_at": row["updated_at"].isoformat() if row else None,
        "updated_by": row["updated_by"] if row else None,
    }


@router.put("/tenants/{tenant}/policy", summary="Set the tenant's custody violation policy (OEM admin)")
async def put_policy(
    tenant: TenantPath,
    policy: TenantPolicy,
    request: Request,
    principal: Annotated[Principal, POLICY_ADMINS],
    write: Writes,
) -> dict[str, Any]:
    _own_tenant(principal, tenant)

    async def work(conn: DbConnection, outbox: Outbox) -> None:
        await registry.set_policy(conn, tenant, policy.custody_violation_policy.value, principal.name)

    await write.run(principal, work)
    return await get_policy(tenant, request, principal)
