"""Routes of recycled-content claims (Art. 8): an OEM's claim checked against what recovery attributed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse

from contracts.recovery import RecycledContentAssessed, RecycledContentClaim
from services.common.auth import Principal
from services.common.db import DbConnection
from services.common.http_uow import Writes
from services.common.outbox import Outbox
from services.recovery import store
from services.recovery.api.common import (
    ERROR_RESPONSES,
    OEMS,
    OWNER_READERS,
    SEES_ALL,
    not_found,
    plain,
    runtime_of,
    tenant_of,
)
from services.recovery.usecases import claims

router = APIRouter(prefix="/recovery/v1", tags=["recovery"], responses=ERROR_RESPONSES)


@router.post(
    "/recycled-content/claims",
    response_model=RecycledContentAssessed,
    status_code=status.HTTP_201_CREATED,
    summary="Claim recycled content for a battery model, plant and year (Art. 8)",
    responses={
        200: {"description": "The same claim was made before; its assessment is returned."},
        409: {"description": "A different claim exists for this model, plant and year."},
    },
)
async def claim_recycled_content(
    body: RecycledContentClaim, response: Response, principal: Annotated[Principal, OEMS], write: Writes
) -> RecycledContentAssessed:
    tenant = tenant_of(principal)

    async def work(conn: DbConnection, outbox: Outbox) -> tuple[RecycledContentAssessed, bool]:
        return await claims.claim_recycled_content(
            conn, outbox, write.runtime.settings, tenant=tenant, claimed_by=principal.name, claim=body
        )

    try:
        assessed, created = await write.run(principal, work)
    except claims.ClaimConflict as conflict:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            {
                "reason": "claim_exists",
                "message": f"Claim {conflict.claim_id} already covers this model, plant and year.",
                "claim_id": conflict.claim_id,
            },
        ) from None
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/recovery/v1/recycled-content/claims/{assessed.claim_id}"
    return assessed


@router.get("/recycled-content/claims", summary="Your recycled-content claims and their assessments")
async def list_claims(request: Request, principal: Annotated[Principal, OWNER_READERS]) -> JSONResponse:
    tenant = None if principal.role in SEES_ALL else tenant_of(principal)
    rows = await store.claims_of(runtime_of(request).pool, tenant)
    return JSONResponse(plain({"claims": [r["assessment"] for r in rows]}))


@router.get("/recycled-content/claims/{claim_id}", summary="One recycled-content claim and its assessment")
async def read_claim(claim_id: str, request: Request, principal: Annotated[Principal, OWNER_READERS]) -> JSONResponse:
    tenant = None if principal.role in SEES_ALL else tenant_of(principal)
    rows = await store.claims_of(runtime_of(request).pool, tenant, claim_id)
    if not rows:
        raise not_found("claim", claim_id)
    return JSONResponse(plain(rows[0]["assessment"]))
