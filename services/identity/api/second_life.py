"""Second life over HTTP (Art. 77(7)): a repurposed, remanufactured or re-used battery gets its passport."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from contracts.identity import SecondLifeRequest
from services.common.auth import Principal, Role, require_roles
from services.common.db import DbConnection
from services.common.http_uow import Writes
from services.common.outbox import Outbox
from services.identity.api.common import (
    DEFAULT_BODY_LIMIT,
    ERROR_RESPONSES,
    limited_route,
    runtime_of,
    tenant_of,
)
from services.identity.domain.second_life import SecondLifeRefused
from services.identity.usecases import record_second_life

router = APIRouter(
    prefix="/identity/v1",
    tags=["second life"],
    route_class=limited_route(DEFAULT_BODY_LIMIT),
    responses=ERROR_RESPONSES,
)

# Second-life operators are handlers (role repairer, their key's tenant is their handler id); an OEM admin acts
# for its own tenant (its own batteries, or batteries in the custody of the handler its tenant is).
OPERATORS = require_roles(Role.repairer, Role.oem_admin)


class SecondLifeResult(BaseModel):
    passport_id: str = Field(description="The new battery's passport (new, or the one a retry made before).")
    battery_identifier: str = Field(description="The new battery's identifier, as sent.")
    public_uri: str = Field(description="URI encoded in the new battery's QR code.")
    created: bool = Field(description="False when this was a retry and the passport already existed.")
    operation: str = Field(description="repurposing, remanufacturing or preparing_for_re_use.")
    status: str = Field(description="Annex XIII 4(c) status of the new battery and, from now on, its predecessors.")
    predecessor_ids: list[str] = Field(description="The passports it was made from (`urn:uuid:`).")


@router.post(
    "/second-life",
    response_model=SecondLifeResult,
    status_code=status.HTTP_201_CREATED,
    summary="Mint the passport of a repurposed, remanufactured or re-used battery, linked to its predecessors",
    description="The new passport belongs to your tenant; each predecessor must be in your custody (custody's "
    "record: you hold it, nothing in transit) or be your own passport (OEM admin). The predecessors' status "
    "becomes that of the operation and responsibility for them moves to you; each gets a `PassportSuperseded` "
    "fact. The same battery identifier again answers 200 with the same passport.",
    responses={
        200: {"description": "A retry: the passport the same operation made before."},
        404: {"description": "`predecessor_not_found`: unknown, or another tenant's and never in your custody."},
        409: {
            "description": "`predecessor_not_in_custody`, `predecessor_ceased`, `predecessor_in_treatment`, "
            "`battery_identifier_taken`, `second_life_conflict`."
        },
    },
)
async def second_life(
    body: SecondLifeRequest,
    request: Request,
    response: Response,
    principal: Annotated[Principal, OPERATORS],
    write: Writes,
) -> SecondLifeResult:
    runtime = runtime_of(request)
    tenant = tenant_of(principal)

    async def work(conn: DbConnection, outbox: Outbox) -> record_second_life.SecondLifeOutcome:
        return await record_second_life.record_second_life(
            conn,
            outbox,
            runtime.settings,
            tenant=tenant,
            recorded_by=principal.name,
            owner_admin=principal.role is Role.oem_admin,
            request=body,
        )

    try:
        # Predecessors are other tenants' passports: the operation decides row by row what the caller may touch
        # (second_life.authorise), so it runs in the platform's scope, not confined to the caller's tenant.
        outcome = await write.run(principal, work, platform=True)
    except SecondLifeRefused as refused:
        first = refused.violations[0]
        raise HTTPException(
            refused.status_code,
            {
                "reason": first.reason,
                "field": first.field,
                "message": first.message,
                "violations": [v.model_dump() for v in refused.violations],
            },
        ) from None
    minted = outcome.minted
    if not minted.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/identity/v1/passports/{minted.passport_id}"
    return SecondLifeResult(
        passport_id=minted.passport_id,
        battery_identifier=minted.battery_identifier,
        public_uri=minted.public_uri,
        created=minted.created,
        operation=outcome.operation,
        status=outcome.status,
        predecessor_ids=outcome.predecessor_ids,
    )
