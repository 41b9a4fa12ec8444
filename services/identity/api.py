"""Identity HTTP routes: minting and the owner's read of static data."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from contracts.identity import PassportSpec
from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.outbox import Outbox
from services.common.runtime import Runtime
from services.identity import handlers, store

router = APIRouter(prefix="/identity/v1", tags=["identity"])

MINTERS = require_roles(Role.oem_admin, Role.oem_user)
READERS = require_roles(*OEM_ROLES, Role.auditor, Role.regulator, Role.platform_operator)


class BulkMintRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    passports: list[PassportSpec] = Field(min_length=1, max_length=100_000, description="Passports to mint.")


class BulkMintResponse(BaseModel):
    minted: int = Field(description="Passports created by this request.")
    existing: int = Field(description="Identifiers that already had a passport (returned, not minted again).")
    passports: list[handlers.MintResult]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _tenant_of(principal: Principal) -> str:
    if principal.tenant is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, {"reason": "no_tenant", "message": "This key names no tenant."})
    return principal.tenant


async def _mint(request: Request, principal: Principal, specs: list[PassportSpec]) -> handlers.MintOutcome:
    runtime = _runtime(request)
    outbox = Outbox("urn:bpass:service:identity")
    async with runtime.pool.acquire() as conn, conn.transaction():
        outcome = await handlers.mint_passports(
            conn,
            outbox,
            runtime.settings,
            tenant=_tenant_of(principal),
            minted_by=principal.name,
            specs=specs,
        )
        await outbox.flush(conn)
    return outcome


@router.post(
    "/passports",
    response_model=handlers.MintResult,
    status_code=status.HTTP_201_CREATED,
    summary="Mint one passport (idempotent per battery identifier)",
    responses={200: {"description": "The tenant already had a passport for this identifier; it is returned."}},
)
async def mint_one(
    spec: PassportSpec, request: Request, response: Response, principal: Annotated[Principal, MINTERS]
) -> handlers.MintResult:
    outcome = await _mint(request, principal, [spec])
    result = outcome.results[0]
    if not result.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/identity/v1/passports/{result.passport_id}"
    return result


@router.post(
    "/passports:bulk",
    response_model=BulkMintResponse,
    summary="Mint up to 100,000 passports in one request (all or nothing; retrying mints nothing twice)",
)
async def mint_bulk(
    body: BulkMintRequest, request: Request, principal: Annotated[Principal, MINTERS]
) -> BulkMintResponse:
    outcome = await _mint(request, principal, list(body.passports))
    return BulkMintResponse(
        minted=outcome.created, existing=len(outcome.results) - outcome.created, passports=outcome.results
    )


@router.get("/passports/{passport_id}", summary="The owner's view of a passport's static data")
async def read_passport(passport_id: str, request: Request, principal: Annotated[Principal, READERS]) -> dict[str, Any]:
    tenant = None if principal.role in {Role.regulator, Role.platform_operator} else _tenant_of(principal)
    row = await store.get_passport(_runtime(request).pool, tenant, passport_id)
    if row is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            {"reason": "passport_not_found", "message": f"No passport {passport_id} is visible to you."},
        )
    return row
