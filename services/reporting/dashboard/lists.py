"""The dashboard's lists: passports and batches of a filtered population, and one batch. Filters are the data's own
values (a value the data lacks is refused with a message), every list states its total, sorts by any column and
pages; the query string is the whole state, so a URL is a shareable view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from services.common.access import reader_tier
from services.reporting.api.queries import QueryProblem
from services.reporting.dashboard.context import Ctx, DashboardQueryRoute
from services.reporting.dashboard.html import refused_page
from services.reporting.dashboard.listing import (
    FilterChoices,
    Listing,
    ListingRefused,
    Pager,
    parse_listing,
)
from services.reporting.domain import query
from services.reporting.domain.charts import chart
from services.reporting.domain.readmodel import STAGES
from services.reporting.domain.tiers import hidden_dimensions

router = APIRouter(include_in_schema=False, route_class=DashboardQueryRoute)
Text = Annotated[str | None, Query()]
PASSPORT_COLUMNS = (
    ("battery", "battery"),
    ("model", "model"),
    ("chemistry", "chemistry"),
    ("category", "category"),
    ("batch", "batch"),
    ("plant", "plant"),
    ("status", "status"),
    ("stage", "stage"),
    ("placed_on_market", "placed on market"),
    ("held_by", "held by"),
)
BATCH_COLUMNS = (
    ("batch", "batch"),
    ("model", "model"),
    ("chemistry", "chemistry"),
    ("passports", "passports"),
    ("end_of_life", "end of life"),
    ("first_minted", "first minted"),
)


class ListingParams:
    """The query parameters of a dashboard list (declared here, so the strict query check knows them): the
    filters, `ext.<field>` filters, the placed-on-market month or range, sort, direction, page, page size."""

    QUERY_PREFIXES = (query.EXTENSION_PREFIX,)

    def __init__(
        self,
        request: Request,
        model: Text = None,
        chemistry: Text = None,
        category: Text = None,
        stage: Text = None,
        status: Text = None,
        plant: Text = None,
        batch: Text = None,
        placed_month: Text = None,
        placed_from: Text = None,
        placed_to: Text = None,
        sort: Text = None,
        dir: Text = None,
        page: Text = None,
        per_page: Text = None,
    ) -> None:
        self.given = dict(request.query_params)


async def _listing(
    ctx: Ctx, params: ListingParams, sorts: Sequence[str], default: str, descending: bool = False
) -> tuple[Listing, FilterChoices] | HTMLResponse:
    choices = await ctx.choices()
    try:
        listing = parse_listing(
            params.given, tenant=ctx.tenant, choices=choices, sorts=sorts, default_sort=default,
            default_descending=descending,
        )  # fmt: skip
    except ListingRefused as refused:
        if not any(p.reason == "unknown_filter_value" for p in refused.problems):
            return refused_page(refused.problems)
        choices = await ctx.choices(fresh=True)  # the kept choices may predate the value: look again
        try:
            listing = parse_listing(
                params.given, tenant=ctx.tenant, choices=choices, sorts=sorts, default_sort=default,
                default_descending=descending,
            )  # fmt: skip
        except ListingRefused as again:
            return refused_page(again.problems)
    tier = reader_tier(ctx.principal, ctx.tenant)
    hidden = hidden_dimensions(list(listing.filters.describe()), tier)
    if hidden:
        message = f"{', '.join(hidden)}: data of the owner only; filter on what the {tier.value} tier reads."
        return refused_page([QueryProblem(hidden[0], "dimension_not_permitted", message)], status_code=403)
    return listing, choices


def _past_end(pager: Pager) -> HTMLResponse | None:
    if pager.page > pager.pages:
        message = f"page {pager.page} is past the last page ({pager.pages}) of {pager.total:,} rows."
        return refused_page([QueryProblem("page", "page_out_of_range", message)])
    return None


def _keep(listing: Listing) -> dict[str, str]:
    """The list parameters a filter form carries over: the sort and the page size (a new filter starts at page 1)."""
    keep = {"sort": listing.sort, "dir": "desc" if listing.descending else "asc"}
    if listing.per_page != 50:
        keep["per_page"] = str(listing.per_page)
    return keep


@router.get("/passports", response_class=HTMLResponse)
async def passports(request: Request, params: Annotated[ListingParams, Depends()]) -> HTMLResponse:
    ctx = await Ctx.of(request)
    found = await _listing(ctx, params, [k for k, _ in PASSPORT_COLUMNS], "battery")
    if isinstance(found, HTMLResponse):
        return found
    listing, choices = found
    total_sql, total_params = query.total_sql(listing.filters)
    total = await ctx.pool.fetchval(total_sql, *total_params)
    pager = Pager(total, listing.page, listing.per_page)
    if (refusal := _past_end(pager)) is not None:
        return refusal
    sql, sql_params = query.page_sql(listing.filters, listing.sort, listing.descending, listing.offset, pager.per_page)
    items = [dict(r) for r in await ctx.pool.fetch(sql, *sql_params)]
    return ctx.page(
        "passports.html",
        "Passports",
        "passports",
        listing=listing,
        pager=pager,
        form=ctx.filter_form("/dashboard/passports", listing, choices, _keep(listing)),
        columns=PASSPORT_COLUMNS,
        items=items,
        batches_href=f"/dashboard/batches?{listing.filter_query()}",
    )


@router.get("/batches", response_class=HTMLResponse)
async def batches(request: Request, params: Annotated[ListingParams, Depends()]) -> HTMLResponse:
    ctx = await Ctx.of(request)
    found = await _listing(ctx, params, [k for k, _ in BATCH_COLUMNS], "batch", descending=True)
    if isinstance(found, HTMLResponse):
        return found
    listing, choices = found
    return await _batches_page(ctx, listing, choices)


async def _batches_page(ctx: Ctx, listing: Listing, choices: FilterChoices) -> HTMLResponse:
    sql, sql_params = query.batches_sql(
        listing.filters, listing.sort, listing.descending, listing.offset, listing.per_page
    )
    rows = [dict(r) for r in await ctx.pool.fetch(sql, *sql_params)]
    if rows:
        total = rows[0]["total_rows"]
    else:  # past the end, or nothing matches: how many batches there are, to say which
        count_sql, count_params = query.batches_total_sql(listing.filters)
        total = await ctx.pool.fetchval(count_sql, *count_params)
    pager = Pager(total, listing.page, listing.per_page)
    if (refusal := _past_end(pager)) is not None:
        return refusal
    passports_in_view = sum(r["passports"] for r in rows)
    filtered = bool(listing.filter_params)
    return ctx.page(
        "batches.html",
        "Batches",
        "batches",
        listing=listing,
        pager=pager,
        form=ctx.filter_form("/dashboard/batches", listing, choices, _keep(listing)),
        columns=BATCH_COLUMNS,
        rows=rows,
        filtered=filtered,
        passports_in_view=passports_in_view,
        batch_href=lambda batch: (
            f"/dashboard/batches/{quote(batch, safe='')}" + (f"?{listing.filter_query()}" if listing.params else "")
        ),
        passports_href=f"/dashboard/passports?{listing.filter_query()}",
    )


@router.get("/batches/{batch_name}", response_class=HTMLResponse)
async def batch(request: Request, batch_name: str, params: Annotated[ListingParams, Depends()]) -> HTMLResponse:
    ctx = await Ctx.of(request)
    batch = batch_name
    given = dict(params.given)
    if given.get("batch") not in (None, batch):
        return refused_page([QueryProblem("batch", "conflicting_filters", "The batch is the one in the path.")])
    params.given = {**given, "batch": batch}
    found = await _listing(ctx, params, [k for k, _ in PASSPORT_COLUMNS], "battery")
    if isinstance(found, HTMLResponse):
        return found
    listing, _ = found
    groups_sql, groups_params, _ = query.count_sql(listing.filters, ["stage"])
    by_stage = {g["stage"]: g["count"] for g in await ctx.pool.fetch(groups_sql, *groups_params)}
    ordered = [(s, by_stage.get(s, 0)) for s in STAGES if by_stage.get(s)]
    total = sum(by_stage.values())
    pager = Pager(total, listing.page, listing.per_page)
    if (refusal := _past_end(pager)) is not None:
        return refusal
    sql, sql_params = query.page_sql(listing.filters, listing.sort, listing.descending, listing.offset, pager.per_page)
    items = [dict(r) for r in await ctx.pool.fetch(sql, *sql_params)]
    stage_chart = chart(
        {
            "title": f"Batch {batch} by lifecycle stage",
            "unit": "passports",
            "series": [{"label": s, "value": n} for s, n in ordered],
        },
        slug="batch-stages",
    )
    others = {k: v for k, v in listing.filter_params.items() if k != "batch"}
    context: dict[str, Any] = {
        "batch": batch,
        "cards": [("matching passports in batch" if others else "passports in batch", total), *ordered],
        "chart": stage_chart,
        "listing": listing,
        "pager": pager,
        "path": f"/dashboard/batches/{quote(batch, safe='')}",
        "columns": PASSPORT_COLUMNS,
        "items": items,
        "narrowed": others,
    }
    return ctx.page("batch.html", f"Batch {batch}", "batches", **context)
