"""The passport read API for OEM systems: one passport, its versions, as-of reads, lookups, search, counts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as FastApiPath
from pydantic import BaseModel, Field

from contracts.attributes import AccessTier, can_read
from contracts.errors import ValidationFailed, Violation
from services.common.access import reader_tier
from services.common.auth import Principal
from services.reporting.api.access_log import record_read
from services.reporting.api.common import (
    DIMENSION_NOT_PERMITTED_RESPONSE,
    EXTENSION_FILTER_DOC,
    FILTERS,
    PURPOSE_REQUIRED_RESPONSE,
    READER,
    READERS,
    FilterParams,
    PassportReader,
    not_found,
    runtime_of,
    scope_tenant,
)
from services.reporting.api.queries import StrictQueryRoute
from services.reporting.domain import query
from services.reporting.domain.tiers import (
    DIMENSION_SOURCES,
    LOGGED_TIERS,
    returned_fields,
    state_for_tier,
    tier_of_path,
)
from services.reporting.store import passports as store
from services.reporting.store.cache import PassportCache

# Every route refuses query parameters it does not declare and enumerated values outside their enum (400).
router = APIRouter(prefix="/reporting/v1", tags=["passports"], route_class=StrictQueryRoute)


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
    version: int = Field(description="Read-model revision (the `version` of the state and of the change stream).")
    change: str = Field(description="The kind of fact that made it.", examples=["status_changed"])
    valid_from: datetime = Field(description="Event time: when what it shows happened.")
    recorded_at: datetime = Field(description="Record time: when the platform wrote it.")


class Versions(BaseModel):
    passport_id: str
    versions: list[VersionEntry]


class Lookup(BaseModel):
    passport_ids: list[str] = Field(description="Matching passports visible to you, newest first.")


@router.get(
    "/passports",
    response_model=SearchPage,
    summary="Search passports (filtered, keyset-paged)",
    responses=DIMENSION_NOT_PERMITTED_RESPONSE,
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
    tier = reader_tier(principal, resolved.tenant)
    if tier is not AccessTier.owner:
        items = [summary_for_tier(item, tier) for item in items]
    return {"items": items, "next_cursor": next_cursor, "filters": resolved.describe()}


# Where each summary field comes from in the read-model state: a reader sees it when it may read that part.
SUMMARY_SOURCES = {
    **{
        name: DIMENSION_SOURCES[name]
        for name in ("kind", "model", "product_family", "chemistry", "category", "batch", "plant", "status", "stage")
    },
    "battery_identifier": "battery_identifier",
    "public_uri": "public_uri",
    "placed_on_market_at": DIMENSION_SOURCES["placed_from"],
    "current_handler_id": DIMENSION_SOURCES["current_handler"],
    "minted_at": "minted_at",
    "extensions": "extensions",
}


def summary_for_tier(item: dict[str, Any], tier: AccessTier) -> dict[str, Any]:
    """A search result cut like the passport it summarises (hidden fields are null, extensions empty)."""
    out = dict(item)
    for name, path in SUMMARY_SOURCES.items():
        if name in out and not can_read(tier, tier_of_path(path)):
            out[name] = {} if name == "extensions" else None
    return out


@router.get(
    "/passports:count",
    response_model=Counts,
    summary="Count passports grouped by dimensions",
    responses=DIMENSION_NOT_PERMITTED_RESPONSE,
    description="Group by any of category, chemistry, model, product_family, plant, status, stage, batch, "
    "current_handler, kind, placed_on_market_month, ceased or `ext.<field>`; comma-separated. " + EXTENSION_FILTER_DOC,
)
async def count_passports(
    request: Request,
    principal: Annotated[Principal, READERS],
    filters: Annotated[FilterParams, FILTERS],
    group_by: Annotated[str, Query(description="Comma-separated dimensions.", examples=["chemistry,stage"])],
) -> dict[str, Any]:
    dims = query.validate_group_by([g.strip() for g in group_by.split(",") if g.strip()])
    resolved = filters.resolve(principal, dims)
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


TIER_DOC = (
    " What you get depends on who you are (Annex XIII, Art. 77(2); `X-Access-Tier` names the tier): the owning "
    "tenant's OEM keys, its auditors and the platform operator read everything (`owner`); regulators read the "
    "`authorities` tier; carriers, collectors, recyclers, refiners and repairers read the `legitimate_interest` tier "
    "and must state a `purpose`. Reads at those two tiers are logged (`GET /reporting/v1/access-log`)."
)


async def _answer(
    request: Request,
    response: Response,
    reader: PassportReader,
    *,
    passport_id: str,
    tenant: str,
    state: dict[str, Any],
    access: str,
) -> dict[str, Any]:
    """The state cut to the reader's tier; reads at a logged tier are logged before they are answered."""
    tier = reader.tier_for(tenant)
    if tier is None:
        raise not_found(passport_id)
    view = state_for_tier(state, tier)
    if tier in LOGGED_TIERS:
        await record_read(
            runtime_of(request).pool,
            reader,
            passport_id=passport_id,
            tenant=tenant,
            tier=tier,
            access=access,
            fields=returned_fields(view),
        )
    response.headers["X-Access-Tier"] = tier.value
    return view


VERSION_DOC = (
    " Two times: `as_of` is event time (what had happened by then: facts are folded in the order they happened, "
    "whenever they arrived), `known_at` is record time (what the platform had recorded by then); both together answer "
    '"what did we show on date K about date T". `version` counts the read model\'s revisions of the passport; '
    "`data_version` is identity's version of the static data (identity's ETag)."
)


@router.get(
    "/passports/{passport_id}",
    summary="A passport's read model, current or as of an instant",
    description="The passport's read model: its current version, or the version that shows it as it was at the "
    "event time `as_of`, as known at the record time `known_at`." + VERSION_DOC + TIER_DOC,
    responses=PURPOSE_REQUIRED_RESPONSE,
)
async def read_passport(
    passport_id: str,
    request: Request,
    response: Response,
    reader: Annotated[PassportReader, READER],
    as_of: Annotated[
        datetime | None, Query(description="Event time: the version showing the passport as it was then (RFC 3339).")
    ] = None,
    known_at: Annotated[
        datetime | None, Query(description="Record time: as the platform knew it then (RFC 3339); default now.")
    ] = None,
) -> dict[str, Any]:
    runtime = runtime_of(request)
    cache: PassportCache = request.app.state.passport_cache
    if as_of is not None or known_at is not None:
        row = await store.as_of(runtime.pool, passport_id, as_of, known_at)
        if row is None:
            raise not_found(passport_id)
        return await _answer(
            request, response, reader, passport_id=passport_id, tenant=row["tenant"], state=row["state"], access="as_of"
        )
    # The cache holds the whole (owner-tier) state; every reader's view is cut from it after the lookup.
    state: dict[str, Any] | None = await cache.get(passport_id)
    if state is not None:
        response.headers["X-Cache"] = "hit"
    else:
        row = await store.current(runtime.pool, passport_id)
        if row is None:
            raise not_found(passport_id)
        state = dict(row["state"])
        response.headers["X-Cache"] = "miss"
        if reader.tier_for(row["tenant"]) is not None:  # never let a refused read warm the cache
            await cache.put(passport_id, row["state"], row["version"])
    return await _answer(
        request, response, reader, passport_id=passport_id, tenant=state["tenant"], state=state, access="current"
    )


@router.get(
    "/passports/{passport_id}/versions",
    response_model=Versions,
    summary="Every version of a passport",
    description="The versions that make the passport's history, in event-time order: revision, what changed (the "
    "kind of fact), since when (event time) and when it was recorded. With `known_at`: as known then (versions a "
    "later, late-arriving fact superseded included)." + VERSION_DOC + TIER_DOC,
    responses=PURPOSE_REQUIRED_RESPONSE,
)
async def versions(
    passport_id: str,
    request: Request,
    response: Response,
    reader: Annotated[PassportReader, READER],
    known_at: Annotated[datetime | None, Query(description="Record time (RFC 3339); default now.")] = None,
) -> dict[str, Any]:
    runtime = runtime_of(request)
    row = await store.current(runtime.pool, passport_id)
    if row is None:
        raise not_found(passport_id)
    tier = reader.tier_for(row["tenant"])
    if tier is None:
        raise not_found(passport_id)
    rows = await store.versions(runtime.pool, passport_id, known_at)
    if tier in LOGGED_TIERS:
        await record_read(
            runtime.pool,
            reader,
            passport_id=passport_id,
            tenant=row["tenant"],
            tier=tier,
            access="versions",
            fields=["versions"],
        )
    response.headers["X-Access-Tier"] = tier.value
    return {"passport_id": passport_id, "versions": [dict(r) for r in rows]}


@router.get(
    "/passports/{passport_id}/versions/{version}",
    summary="One version of a passport's read model",
    description="The read model as it was at that revision (superseded revisions too)." + TIER_DOC,
    responses=PURPOSE_REQUIRED_RESPONSE,
)
async def one_version(
    passport_id: str,
    version: Annotated[int, FastApiPath(ge=1, le=2_147_483_647, description="Read-model version, from 1.")],
    request: Request,
    response: Response,
    reader: Annotated[PassportReader, READER],
) -> dict[str, Any]:
    row = await store.version_state(runtime_of(request).pool, passport_id, version=version)
    if row is None:
        raise not_found(passport_id)
    return await _answer(
        request, response, reader, passport_id=passport_id, tenant=row["tenant"], state=row["state"], access="version"
    )
