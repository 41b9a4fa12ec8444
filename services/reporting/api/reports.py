"""The standard reports, as JSON or CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from contracts.errors import ValidationFailed, Violation
from services.common.auth import Principal
from services.common.runtime import Runtime
from services.reporting.api.common import DIMENSION_NOT_PERMITTED_RESPONSE, FILTERS, READERS, FilterParams, runtime_of
from services.reporting.api.queries import StrictQueryRoute
from services.reporting.domain import lifecycle_reports, reports
from services.reporting.domain.query import Filters
from services.reporting.exports.formats import rows_to_csv
from services.reporting.store import passports as store

router = APIRouter(prefix="/reporting/v1", tags=["reports"], route_class=StrictQueryRoute)


class ReportName(StrEnum):
    population = "population"
    in_service = "in-service"
    end_of_life = "end-of-life"
    recovery_yields = "recovery-yields"
    recycled_content = "recycled-content"
    second_life = "second-life"
    state_of_health = "state-of-health"


# Filters the lifecycle reports answer from their counters (lifecycle_counts, soh_counts).
LIFECYCLE_FILTERS = ("model", "status")


class ReportFormat(StrEnum):
    json = "json"
    csv = "csv"


async def build_report(runtime: Runtime, name: str, filters: Filters) -> dict[str, Any]:
    """One standard report over the tenant's passports (cube dimensions filter the counters)."""
    db = runtime.pool
    now = datetime.now(UTC)
    described = filters.describe()
    if name == ReportName.population:
        return reports.population(filters.tenant, await store.cube(db, filters), now, described)
    if name == ReportName.in_service:
        cube = await store.cube(db, filters)
        return reports.in_service(filters.tenant, cube, await store.placed_by_month(db, filters), now, described)
    if name == ReportName.end_of_life:
        cube = await store.cube(db, filters)
        handlers, ceased = await store.end_of_life_handlers(db, filters)
        return reports.end_of_life(filters.tenant, cube, handlers, ceased, now, described)
    if name in (ReportName.second_life, ReportName.state_of_health):
        unsupported = sorted(set(filters.describe()) - set(LIFECYCLE_FILTERS))
        if unsupported:
            raise ValidationFailed(
                [
                    Violation(
                        field=field,
                        reason="unsupported_filter",
                        message=f"The {name} report filters on {' and '.join(LIFECYCLE_FILTERS)} only.",
                    )
                    for field in unsupported
                ]
            )
        if name == ReportName.second_life:
            rows = await store.lifecycle_rows(db, filters)
            return lifecycle_reports.second_life(filters.tenant, rows, now, described)
        histogram = await store.soh_histogram(db, filters, lifecycle_reports.month_index(now))
        return lifecycle_reports.state_of_health(filters.tenant, histogram, now, described)
    if name == ReportName.recovery_yields:
        return reports.recovery_yields(filters.tenant, await store.recovery_totals(db, filters), now, described)
    return reports.recycled_content(filters.tenant, await store.cube(db, filters), now, described)


@router.get("/reports", summary="The standard reports available")
async def list_reports(principal: Annotated[Principal, READERS]) -> dict[str, Any]:
    return {
        "reports": [
            {
                "name": name,
                "title": title,
                "json": f"/reporting/v1/reports/{name}",
                "csv": f"/reporting/v1/reports/{name}?format=csv",
            }
            for name, title in reports.REPORTS.items()
        ]
    }


@router.get(
    "/reports/{name}",
    summary="A standard report (JSON or CSV)",
    description="Population, in-service status, end-of-life status, recovery yields, recycled content by "
    "chemistry, second-life population (repurposed, re-used, remanufactured and waste passports by model and "
    "responsible operator, their predecessors, and superseded passports) or state of health by model and age (count, "
    "min, p50, mean, max and buckets of the latest state of health, by model and whole years since placed on the "
    "market). Filters on category, chemistry, model, product_family, plant, status and stage are answered from "
    "pre-aggregated counters (second-life and state-of-health: model and status only). CSV holds the report's "
    "`rows` table.",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}, **DIMENSION_NOT_PERMITTED_RESPONSE},
)
async def get_report(
    name: ReportName,
    request: Request,
    principal: Annotated[Principal, READERS],
    filters: Annotated[FilterParams, FILTERS],
    format: Annotated[ReportFormat, Query(description="json or csv.")] = ReportFormat.json,
) -> Response:
    resolved = filters.resolve(principal)
    report = await build_report(runtime_of(request), name.value, resolved)
    if format is ReportFormat.csv:
        return Response(
            rows_to_csv(report["rows"]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name.value}-{resolved.tenant}.csv"'},
        )
    return JSONResponse(report)
