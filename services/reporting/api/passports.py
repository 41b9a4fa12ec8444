"""The passport read API for OEM systems: one passport, its versions, as-of reads, lookups, search, counts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as FastApiPath
from pydantic import BaseModel, Field

from contracts.errors import ValidationFailed, Violation
from services.common.auth import Principal
from services.reporting import store
from services.reporting.api.common import (
    EXTENSION_FILTER_DOC,
    FILTERS,
    READERS,
    FilterParams,
    not_found,
    runtime_of,
    scope_tenant,
    visible,
)
from services.reporting.cache import PassportCache
from services.reporting.domain import query

router = APIRouter(prefix="/reporting/v1", tags=["passports"])


class PassportSummary(BaseModel):
    passport_id: str = Field(description="`urn:uuid:` passport id.")
    tenant: str = Field(description="Owning tenant.")
    version: int = Field(description="Read-model version.")
    updated_at: str = Field(description="When the read model last changed.")
    battery_identifier: str | None = Field(description="The OEM's serial.")
    public_uri: str | None = Field(description="URI the QR code encodes.")
    kind: str | None = Field(description="battery, pack or batch.")
    model: str | None = Field(description="Battery model.")
    product_family: str | None = Field(description="OEM product family.")
    chemistry: str | None = Field(description="Chemistry short name.")
    category: str | None = Field(description="Battery category.")
    batch: str | None = Field(description="Production batch / lot.")
    plant: str | None = Field(description="Manufacturing plant.")
    status: str | None = Field(description="Annex XIII status.")
    stage: str | None = Field(description="Lifecycle stage.")
    placed_on_market_at: str | None = Field(description="When it was placed on the market.")
    current_handler_id: str | None = Field(description="Handler holding it now.")
    minted_at: str | None = Field(description="When it was minted.")
    ceased: bool = Field(description="Whether the passport has ceased (after recycling).")
    extensions: dict[str, Any] = Field(description="OEM extension fields.")


class SearchPage(BaseModel):
    items: list[PassportSummary] = Field(description="Passports of this page, by passport id.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
    filters: dict[str, Any] = Field(description="The filters applied.")


class CountGroup(BaseModel):
    model_config = {"extra": "allow"}
    count: int = Field(description="Passports in the group.")


class Counts(BaseModel):
    tenant: str
    group_by: list[str]
    filters: dict[str, Any]
    total: int = Field(description="Sum over the groups returned.")
    groups: list[dict[str, Any]] = Field(description="One object per group: the dimension values and `count`.")
    source: str = Field(description="`counters` (pre-aggregated) or `passports` (grouped scan).")


class VersionEntry(BaseModel):
    version: int
    change: str
    valid_from: datetime


class Versions(BaseModel):
    passport_id: str
    versions: list[VersionEntry]


class Lookup(BaseModel):
    passport_ids: list[str] = Field(description="Matching passports visible to you, newest first.")


@router.get(
    "/passports",
    response_model=SearchPage,
    summary="Search passports (filtered, keyset-paged)",
    description="Passports of your tenant matching every filter given, ordered by passport id. " + EXTENSION_FILTER_DOC,
)
async def search_passports(
    request: Request,
    principal: Annotated[Principal, READERS],
    filters: Annotated[FilterParams, FILTERS],
    limit: Annotated[int, Query(ge=1, le=query.MAX_PAGE, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> dict[str, Any]:
    resolved = filters.resolve(principal)
    after = query.decode_cursor(cursor) if cursor else None
    items, next_cursor = await store.search(runtime_of(request).pool, resolved, after, limit)
    return {"items": items, "next_cursor": next_cursor, "filters": resolved.describe()}


@router.get(
    "/passports:count",
    response_model=Counts,
    summary="Count passports grouped by dimensions",
    description="Group by any of category, chemistry, model, product_family, plant, status, stage, batch, "
    "current_handler, kind, placed_on_market_month, ceased or `ext.<field>`; comma-separated. " + EXTENSION_FILTER_DOC,
)
async def count_passports(
    request: Request,
    principal: Annotated[Principal, READERS],
    filters: Annotated[FilterParams, FILTERS],
    group_by: Annotated[str, Query(description="Comma-separated dimensions.", examples=["chemistry,stage"])],
) -> dict[str, Any]:
    resolved = filters.resolve(principal)
    dims = query.validate_group_by([g.strip() for g in group_by.split(",") if g.strip()])
    groups, from_cube = await store.counts(runtime_of(request).pool, resolved, dims)
    return {
        "tenant": resolved.tenant,
        "group_by": dims,
        "filters": resolved.describe(),
        "total": sum(g["count"] for g in groups),
        "groups": groups,
        "source": "counters" if from_cube else "passports",
    }


@router.get("/passports:lookup", response_model=Lookup, summary="Find passports by battery identifier or URI")
async def lookup_passports(
    request: Request,
    principal: Annotated[Principal, READERS],
    battery_identifier: Annotated[str | None, Query(description="The OEM's serial.")] = None,
    uri: Annotated[str | None, Query(description="GS1 Digital Link or `/p/<passport id>` URI.")] = None,
    tenant: Annotated[str | None, Query(description="Tenant (regulators and operators: optional).")] = None,
) -> dict[str, Any]:
    if (battery_identifier is None) == (uri is None):
        raise ValidationFailed(
            [Violation(field="battery_identifier", reason="one_of", message="Give battery_identifier or uri.")]
        )
    from services.reporting.api.common import CROSS_TENANT_ROLES

    scoped = tenant if principal.role in CROSS_TENANT_ROLES else scope_tenant(principal, tenant)
    ids = await store.lookup(runtime_of(request).pool, scoped, battery_identifier=battery_identifier, uri=uri)
    return {"passport_ids": ids}


@router.get("/passports/{passport_id}", summary="A passport's read model, current or as of an instant")
async def read_passport(
    passport_id: str,
    request: Request,
    response: Response,
    principal: Annotated[Principal, READERS],
    as_of: Annotated[datetime | None, Query(description="Return the version valid at this instant (RFC 3339).")] = None,
) -> dict[str, Any]:
    runtime = runtime_of(request)
    cache: PassportCache = request.app.state.passport_cache
    if as_of is not None:
        row = await store.as_of(runtime.pool, passport_id, as_of)
        if row is None or not visible(principal, row["tenant"]):
            raise not_found(passport_id)
        state: dict[str, Any] = row["state"]
        return state
    cached = await cache.get(passport_id)
    if cached is not None:
        response.headers["X-Cache"] = "hit"
        if not visible(principal, cached["tenant"]):
            raise not_found(passport_id)
        return cached
    row = await store.current(runtime.pool, passport_id)
    if row is None or not visible(principal, row["tenant"]):
        raise not_found(passport_id)
    response.headers["X-Cache"] = "miss"
    await cache.put(passport_id, row["state"])
    return dict(row["state"])


@router.get("/passports/{passport_id}/versions", response_model=Versions, summary="Every version of a passport")
async def versions(passport_id: str, request: Request, principal: Annotated[Principal, READERS]) -> dict[str, Any]:
    runtime = runtime_of(request)
    row = await store.current(runtime.pool, passport_id)
    if row is None or not visible(principal, row["tenant"]):
        raise not_found(passport_id)
    rows = await store.versions(runtime.pool, passport_id)
    return {"passport_id": passport_id, "versions": [dict(r) for r in rows]}


@router.get("/passports/{passport_id}/versions/{version}", summary="One version of a passport's read model")
async def one_version(
    passport_id: str,
    version: Annotated[int, FastApiPath(ge=1, le=2_147_483_647, description="Read-model version, from 1.")],
    request: Request,
    principal: Annotated[Principal, READERS],
) -> dict[str, Any]:
    row = await store.version_state(runtime_of(request).pool, passport_id, version=version)
    if row is None or not visible(principal, row["tenant"]):
        raise not_found(passport_id)
    state: dict[str, Any] = row["state"]
    return state
