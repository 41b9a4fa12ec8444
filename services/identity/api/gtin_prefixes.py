"""HTTP API of GS1 company prefixes: a tenant's admin declares the prefixes it holds; the platform operator verifies
them (and only then does the tenant mint passports naming GTINs under them: domain/gtin_prefixes.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from contracts.errors import Violation
from contracts.topics import TENANT_NAME
from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.problems import violations_response
from services.identity.api.common import DEFAULT_BODY_LIMIT, ERROR_RESPONSES, limited_route, runtime_of, tenant_of
from services.identity.domain.gtin_prefixes import GTIN_PREFIX_OWNED_BY_ANOTHER, PREFIX_PATTERN
from services.identity.store import gtin_prefixes
from services.identity.usecases.declare_gtin_prefix import declare_gtin_prefix
from services.identity.usecases.revoke_gtin_prefix import revoke_gtin_prefix
from services.identity.usecases.verify_gtin_prefix import PrefixOwnedByAnother, verify_gtin_prefix

router = APIRouter(
    prefix="/identity/v1",
    tags=["GS1 company prefixes"],
    route_class=limited_route(DEFAULT_BODY_LIMIT),
    responses=ERROR_RESPONSES,
)

DECLARERS = require_roles(Role.oem_admin)
READERS = require_roles(*OEM_ROLES, Role.auditor, Role.platform_operator)
OPERATOR = require_roles(Role.platform_operator)
PrefixPath = Annotated[str, PathParam(pattern=PREFIX_PATTERN, description="GS1 company prefix.")]
TenantPath = Annotated[str, PathParam(pattern=TENANT_NAME.pattern, description="The tenant.")]


class PrefixDeclaration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: str = Field(
        pattern=PREFIX_PATTERN,
        description="GS1 company prefix (4-12 digits, as in the GTIN after its indicator digit).",
        examples=["9506000"],
    )


class PrefixVerification(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1000, description="What was checked (GS1 licence, ...).")
    shared: bool = Field(
        default=False,
        description="The prefix is licensed to more than one tenant on purpose (a brand owner and its contract "
        "manufacturer); without it, a prefix another tenant holds is refused.",
    )


@router.post("/gtin-prefixes", status_code=201, summary="Declare a GS1 company prefix of your tenant (to be verified)")
async def declare_prefix(
    declaration: PrefixDeclaration, request: Request, principal: Annotated[Principal, DECLARERS]
) -> dict[str, Any]:
    tenant = tenant_of(principal)
    async with runtime_of(request).pool.acquire() as conn, conn.transaction():
        row = await declare_gtin_prefix(conn, tenant=tenant, prefix=declaration.prefix, declared_by=principal.name)
    return _body(row)


@router.get("/gtin-prefixes", summary="GS1 company prefixes: your tenant's (the operator: any tenant's)")
async def list_prefixes(
    request: Request,
    principal: Annotated[Principal, READERS],
    tenant: Annotated[str | None, Query(description="Operator only: one tenant's prefixes.")] = None,
) -> dict[str, Any]:
    scope = tenant if principal.role is Role.platform_operator else tenant_of(principal)
    rows = await gtin_prefixes.listed(runtime_of(request).pool, scope)
    return {"prefixes": [_body(r) for r in rows]}


@router.post(
    "/tenants/{tenant}/gtin-prefixes/{prefix}/verify",
    summary="Verify a tenant's GS1 company prefix (platform operator only): its GTINs may be minted from now on",
    responses={409: {"description": "`gtin_prefix_owned_by_another`: another tenant holds it; say `shared`."}},
)
async def verify_prefix(
    tenant: TenantPath,
    prefix: PrefixPath,
    request: Request,
    principal: Annotated[Principal, OPERATOR],
    verification: PrefixVerification | None = None,
) -> Any:
    verification = verification or PrefixVerification()
    async with runtime_of(request).pool.acquire() as conn, conn.transaction():
        try:
            row = await verify_gtin_prefix(
                conn,
                tenant=tenant,
                prefix=prefix,
                verified_by=principal.name,
                reason=verification.reason,
                shared=verification.shared,
            )
        except PrefixOwnedByAnother as owned:
            return violations_response(
                [
                    Violation(
                        field="prefix",
                        reason=GTIN_PREFIX_OWNED_BY_ANOTHER,
                        message=f"Prefix {prefix} overlaps one verified for {', '.join(owned.others)}; verify it "
                        "as `shared` only if the GS1 licence holder lets both mint under it.",
                    )
                ],
                status_code=409,
            )
    return _body(row)


@router.post(
    "/tenants/{tenant}/gtin-prefixes/{prefix}/revoke",
    summary="Revoke a tenant's GS1 company prefix (platform operator only): no more passports under its GTINs",
    responses={404: {"description": "`gtin_prefix_not_found`: the tenant has no such prefix."}},
)
async def revoke_prefix(
    tenant: TenantPath,
    prefix: PrefixPath,
    request: Request,
    principal: Annotated[Principal, OPERATOR],
    verification: PrefixVerification | None = None,
) -> Any:
    reason = verification.reason if verification else None
    async with runtime_of(request).pool.acquire() as conn, conn.transaction():
        row = await revoke_gtin_prefix(conn, tenant=tenant, prefix=prefix, revoked_by=principal.name, reason=reason)
    if row is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            {"reason": "gtin_prefix_not_found", "message": f"Tenant {tenant} has no GS1 company prefix {prefix}."},
        )
    return _body(row)


def _body(row: Any) -> dict[str, Any]:
    return {
        "tenant": row["tenant"],
        "prefix": row["prefix"],
        "state": row["state"],
        "shared": row["shared"],
        "declared_at": row["declared_at"].isoformat(),
        "declared_by": row["declared_by"],
        "verified_at": row["verified_at"].isoformat() if row["verified_at"] else None,
        "verified_by": row["verified_by"],
        "reason": row["reason"],
    }
