"""The OEM dashboard: sign-in, population, lifecycle stages, the standard reports with charts. The passport and
batch lists are in lists.py, the single passport in passport_page.py, export jobs in export_pages.py. Signing in
keeps the API key server side (session.py); the cookie holds only a session id. The same roles, tenant scoping and
strict query strings as the read API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from services.common.auth import Keyring
from services.reporting.api.common import runtime_of
from services.reporting.api.reports import ReportName, build_report
from services.reporting.dashboard import lists
from services.reporting.dashboard.context import (
    ALLOWED,
    Ctx,
    DashboardQueryRoute,
    form_of,
    sessions_of,
    sessions_unavailable,
)
from services.reporting.dashboard.html import page
from services.reporting.dashboard.listing import Pager
from services.reporting.dashboard.session import COOKIE, clear_session_cookie, set_session_cookie
from services.reporting.domain.charts import chart
from services.reporting.domain.readmodel import STAGES
from services.reporting.domain.reports import REPORTS
from services.reporting.exports.formats import rows_to_csv
from services.reporting.store import passports as store

router = APIRouter(prefix="/dashboard", include_in_schema=False, route_class=DashboardQueryRoute)
router.include_router(lists.router)
STATIC = Path(__file__).resolve().parent.parent / "static"
STATIC_MEDIA = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
REPORT_PAGE = 100


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    path = STATIC / name
    media = STATIC_MEDIA.get(path.suffix)
    if media is None or not name.startswith("dashboard") or "/" in name or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    return Response(path.read_bytes(), media_type=media, headers={"Cache-Control": "max-age=300"})


@router.get("/login", response_class=HTMLResponse)
async def login_form(error: str | None = None) -> HTMLResponse:
    return page("login.html", title="Battery passport dashboard", error=bool(error), nav=None)


@router.post("/login")
async def login(request: Request) -> Response:
    keyring: Keyring = request.app.state.keyring
    api_key = (await form_of(request)).get("api_key", "")
    principal = keyring.authenticate(api_key.strip())
    if principal is None or principal.role not in ALLOWED:
        return RedirectResponse("/dashboard/login?error=1", status.HTTP_303_SEE_OTHER)
    sessions = sessions_of(request)
    try:
        await sessions.close(request.cookies.get(COOKIE))  # a new id at every sign-in (no session fixation)
        session_id = await sessions.open(api_key.strip())
    except aioredis.RedisError:
        raise sessions_unavailable() from None
    response = RedirectResponse("/dashboard", status.HTTP_303_SEE_OTHER)
    set_session_cookie(response, request, session_id)
    return response


@router.api_route("/logout", methods=["GET", "POST"])
async def logout(request: Request) -> Response:
    try:
        await sessions_of(request).close(request.cookies.get(COOKIE))
    except aioredis.RedisError:
        raise sessions_unavailable() from None
    response = RedirectResponse("/dashboard/login", status.HTTP_303_SEE_OTHER)
    clear_session_cookie(response, request)
    return response


def charts_of(report: dict[str, Any], name: str) -> list[Any]:
    return [chart(c, slug=f"{name}-{i}") for i, c in enumerate(report["charts"])]


@router.get("", response_class=HTMLResponse)
async def population(request: Request) -> HTMLResponse:
    ctx = await Ctx.of(request)
    report = await build_report(runtime_of(request), "population", ctx.filters())
    stages = report["by_stage"]
    cards = [
        ("passports", report["total"]),
        ("in service", stages.get("in_service", 0)),
        ("end of life", sum(stages.get(s, 0) for s in ("collected", "in_treatment", "recycled"))),
        ("chemistries", len(report["by_chemistry"])),
        ("models", len(report["by_model"])),
    ]
    models = sorted(report["by_model"].items(), key=lambda kv: (-kv[1], kv[0]))
    return ctx.page(
        "population.html", "Battery population", "population", cards=cards, charts=charts_of(report, "population"),
        models=models,
    )  # fmt: skip


@router.get("/stages", response_class=HTMLResponse)
async def stages(request: Request) -> HTMLResponse:
    ctx = await Ctx.of(request)
    groups, _ = await store.counts(ctx.pool, ctx.filters(), ["stage", "category"])
    by_stage: dict[str, int] = {}
    for g in groups:
        by_stage[g["stage"] or "(none)"] = by_stage.get(g["stage"] or "(none)", 0) + g["count"]
    ordered = [(s, by_stage.get(s, 0)) for s in STAGES]
    stage_chart = chart(
        {
            "title": "Passports by lifecycle stage",
            "unit": "passports",
            "series": [{"label": s, "value": n} for s, n in ordered],
        },
        slug="stages",
    )
    categories = sorted({g["category"] or "(none)" for g in groups})
    matrix = {(g["stage"], g["category"] or "(none)"): g["count"] for g in groups}
    rows = [(s, [matrix.get((s, c), 0) for c in categories], n) for s, n in ordered]
    return ctx.page(
        "stages.html", "Lifecycle stages", "stages", chart=stage_chart, categories=categories, rows=rows,
        total=sum(by_stage.values()),
    )  # fmt: skip


@router.get("/reports", response_class=HTMLResponse)
async def report_index(request: Request) -> HTMLResponse:
    ctx = await Ctx.of(request)
    return ctx.page("reports.html", "Reports", "reports", reports=list(REPORTS.items()))


# before the page: "/reports/population.csv" would otherwise match the page, as a report named "population.csv"
@router.get("/reports/{name}.{fmt}")
async def report_file(request: Request, name: ReportName, fmt: str) -> Response:
    ctx = await Ctx.of(request)
    if fmt not in ("csv", "json"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, {"reason": "unknown_format", "message": fmt})
    data = await build_report(runtime_of(request), name.value, ctx.filters())
    if fmt == "csv":
        return Response(
            rows_to_csv(data["rows"]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name.value}.csv"'},
        )
    return JSONResponse(data)


@router.get("/reports/{name}", response_class=HTMLResponse)
async def report(request: Request, name: ReportName, page: int = 1) -> HTMLResponse:
    ctx = await Ctx.of(request)
    data = await build_report(runtime_of(request), name.value, ctx.filters())
    rows = data["rows"]
    pager = Pager(total=len(rows), page=page, per_page=REPORT_PAGE)
    if page < 1 or (rows and page > pager.pages):
        raise HTTPException(status.HTTP_404_NOT_FOUND, {"reason": "no_such_page", "message": f"page {page}"})
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    shown = rows[(page - 1) * REPORT_PAGE : page * REPORT_PAGE]
    return ctx.page(
        "report.html", REPORTS[name.value], "reports", name=name.value, charts=charts_of(data, name.value),
        columns=columns, rows=[[r.get(c) for c in columns] for r in shown], pager=pager,
    )  # fmt: skip
