"""The OEM dashboard: population, passports (search), batches, single passport with its timeline, lifecycle
stages, the standard reports with charts, and export jobs. Signing in keeps the API key server side (session.py);
the cookie holds only a session id. The same roles, tenant scoping and strict query strings as the read API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import redis.asyncio as aioredis
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from services.common.auth import Keyring
from services.reporting.api.common import FILTERS, FilterParams, runtime_of
from services.reporting.api.queries import FILTER_ENUMS
from services.reporting.api.reports import ReportName, build_report
from services.reporting.dashboard.context import (
    ALLOWED,
    Ctx,
    DashboardQueryRoute,
    form_of,
    sessions_of,
    sessions_unavailable,
)
from services.reporting.dashboard.html import cards, e, link, passport_link, table
from services.reporting.dashboard.session import (
    COOKIE,
    clear_session_cookie,
    set_session_cookie,
)
from services.reporting.domain import query
from services.reporting.domain.charts import bar_chart
from services.reporting.domain.readmodel import STAGES
from services.reporting.domain.reports import REPORTS
from services.reporting.store import passports as store

router = APIRouter(prefix="/dashboard", include_in_schema=False, route_class=DashboardQueryRoute)
STATIC = Path(__file__).resolve().parent.parent / "static"


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    media = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
    if name not in media:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    return Response((STATIC / name).read_bytes(), media_type=media[name], headers={"Cache-Control": "max-age=300"})


@router.get("/login", response_class=HTMLResponse)
async def login_form(error: str | None = None) -> str:
    message = "<p class='bad' role='alert'>That key is unknown, revoked or expired.</p>" if error else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><title>Sign in · Battery passports</title>"
        "<link rel='stylesheet' href='/dashboard/static/dashboard.css'></head><body><main>"
        f"<h1>Battery passport dashboard</h1>{message}"
        "<form method='post' action='/dashboard/login' class='filters'>"
        "<label for='api_key'>API key<input id='api_key' name='api_key' type='password' required size='50' "
        "autocomplete='off'></label><button type='submit' id='sign-in'>Sign in</button></form>"
        "<p class='muted'>Use an OEM, auditor, regulator or operator key (for the demo: var/local/demo-keys.json).</p>"
        "</main></body></html>"
    )


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


def _charts(report: dict[str, Any], name: str) -> str:
    return (
        "<div class='charts'>"
        + "".join(bar_chart(c, slug=f"{name}-{i}") for i, c in enumerate(report["charts"]))
        + "</div>"
    )


@router.get("", response_class=HTMLResponse)
async def population(request: Request) -> HTMLResponse:
    ctx = await Ctx.of(request)
    report = await build_report(runtime_of(request), "population", ctx.filters())
    stages = report["by_stage"]
    body = cards(
        [
            ("passports", report["total"]),
            ("in service", stages.get("in_service", 0)),
            ("end of life", sum(stages.get(s, 0) for s in ("collected", "in_treatment", "recycled"))),
            ("chemistries", len(report["by_chemistry"])),
            ("models", len(report["by_model"])),
        ]
    )
    body += _charts(report, "population")
    models = sorted(report["by_model"].items(), key=lambda kv: -kv[1])[:15]
    body += "<h2>Models</h2>" + table(
        ["model", "passports"],
        [[link("/dashboard/passports", m, model=m, tenant=ctx.tenant_param), n] for m, n in models],
        raw_columns={0},
        test_id="models",
    )
    return ctx.render("Battery population", body, "population")


FILTER_FIELDS = ("model", "chemistry", "category", "batch", "plant", "status", "stage", "current_handler")


@router.get("/passports", response_class=HTMLResponse)
async def passports(
    request: Request, filter_params: Annotated[FilterParams, FILTERS], cursor: str | None = None
) -> HTMLResponse:
    ctx = await Ctx.of(request)
    filters = filter_params.resolve(ctx.principal)
    equals = filters.equals
    params = {k: equals.get(k) for k in FILTER_FIELDS}
    items, next_cursor = await store.search(ctx.pool, filters, query.decode_cursor(cursor) if cursor else None, 50)
    inputs = "".join(_filter_input(k, params[k]) for k in FILTER_FIELDS)
    hidden = f"<input type='hidden' name='tenant' value='{e(ctx.tenant)}'>" if ctx.cross else ""
    body = (
        f"<form class='filters' method='get' role='search'>{hidden}{inputs}<button type='submit'>Filter</button></form>"
    )
    rows = [
        [
            passport_link(i["passport_id"], i["battery_identifier"] or i["passport_id"], ctx.tenant_param),
            i["model"],
            i["chemistry"],
            i["category"],
            i["batch"],
            i["status"],
            i["stage"],
            i["current_handler_id"],
        ]
        for i in items
    ]
    body += f"<p class='muted' id='result-count'>{len(items)} passport(s) on this page</p>"
    body += table(
        ["battery", "model", "chemistry", "category", "batch", "status", "stage", "held by"],
        rows,
        raw_columns={0},
        test_id="passports",
    )
    if next_cursor:
        body += (
            "<p>"
            + link(
                "/dashboard/passports", "Next page →", cursor=next_cursor, tenant=ctx.tenant_param, **filters.describe()
            )
            + "</p>"
        )
    return ctx.render("Passports", body, "passports")


def _filter_input(name: str, value: str | None) -> str:
    """A text box, or for an enumerated filter a list of its values (so the form cannot ask what is refused)."""
    label = name.replace("_", " ")
    allowed = FILTER_ENUMS.get(name)
    if allowed is None:
        return f"<label for='f-{name}'>{label}<input id='f-{name}' name='{name}' value='{e(value or '')}'></label>"
    options = "".join(
        f"<option value='{e(v)}'{' selected' if v == value else ''}>{e(v) or 'any'}</option>" for v in ("", *allowed)
    )
    return f"<label for='f-{name}'>{label}<select id='f-{name}' name='{name}'>{options}</select></label>"


@router.get("/batches", response_class=HTMLResponse)
async def batches(request: Request) -> HTMLResponse:
    ctx = await Ctx.of(request)
    rows = await store.batches(ctx.pool, ctx.tenant)
    body = table(
        ["batch", "model", "chemistry", "passports", "end of life", "first minted"],
        [
            [
                link(f"/dashboard/batches/{quote(r['batch'], safe='')}", r["batch"], tenant=ctx.tenant_param),
                r["model"],
                r["chemistry"],
                r["passports"],
                r["end_of_life"],
                r["first_minted"].date().isoformat() if r["first_minted"] else "",
            ]
            for r in rows
        ],
        raw_columns={0},
        test_id="batches",
    )
    return ctx.render("Batches", body, "batches")


@router.get("/batches/{batch}", response_class=HTMLResponse)
async def batch(request: Request, batch: str) -> HTMLResponse:
    ctx = await Ctx.of(request)
    filters = ctx.filters(batch=batch)
    groups, _ = await store.counts(ctx.pool, filters, ["stage"])
    items, _ = await store.search(ctx.pool, filters, None, 200)
    by_stage = {g["stage"]: g["count"] for g in groups}
    ordered = [(s, by_stage.get(s, 0)) for s in STAGES if by_stage.get(s)]
    body = cards([("passports in batch", sum(by_stage.values())), *ordered])
    body += bar_chart(
        {
            "title": f"Batch {batch} by lifecycle stage",
            "unit": "passports",
            "series": [{"label": s, "value": n} for s, n in ordered],
        },
        slug="batch-stages",
    )
    body += (
        f"<form method='post' action='/dashboard/exports{ctx.tenant_q}'>"
        f"<input type='hidden' name='batch' value='{e(batch)}'>"
        "<label for='fmt'>Export this batch as </label><select id='fmt' name='format'>"
        "<option value='audit-pack-pdf'>signed PDF audit pack</option><option value='csv'>CSV</option>"
        "<option value='json'>JSON</option><option value='batterypass-json'>Battery Pass 1.2 JSON</option>"
        "<option value='catenax-batterypass-6.1'>Catena-X BatteryPass 6.1 JSON</option>"
        "</select> <button type='submit' id='export-batch'>Export</button></form>"
    )
    body += "<h2>Passports</h2>" + table(
        ["battery", "model", "stage", "status", "held by"],
        [
            [
                passport_link(i["passport_id"], i["battery_identifier"], ctx.tenant_param),
                i["model"],
                i["stage"],
                i["status"],
                i["current_handler_id"],
            ]
            for i in items
        ],
        raw_columns={0},
        test_id="batch-passports",
    )
    return ctx.render(f"Batch {batch}", body, "batches")


@router.get("/stages", response_class=HTMLResponse)
async def stages(request: Request) -> HTMLResponse:
    ctx = await Ctx.of(request)
    groups, _ = await store.counts(ctx.pool, ctx.filters(), ["stage", "category"])
    by_stage: dict[str, int] = {}
    for g in groups:
        by_stage[g["stage"] or "(none)"] = by_stage.get(g["stage"] or "(none)", 0) + g["count"]
    ordered = [(s, by_stage.get(s, 0)) for s in STAGES]
    body = bar_chart(
        {
            "title": "Passports by lifecycle stage",
            "unit": "passports",
            "series": [{"label": s, "value": n} for s, n in ordered],
        },
        slug="stages",
    )
    categories = sorted({g["category"] or "(none)" for g in groups})
    matrix = {(g["stage"], g["category"] or "(none)"): g["count"] for g in groups}
    body += "<h2>Stage by category</h2>" + table(
        ["stage", *categories, "all"],
        [
            [
                link("/dashboard/passports", s, stage=s, tenant=ctx.tenant_param),
                *[matrix.get((s, c), 0) for c in categories],
                n,
            ]
            for s, n in ordered
        ],
        raw_columns={0},
        test_id="stages",
    )
    return ctx.render("Lifecycle stages", body, "stages")


@router.get("/reports", response_class=HTMLResponse)
async def report_index(request: Request) -> HTMLResponse:
    ctx = await Ctx.of(request)
    body = (
        "<ul>"
        + "".join(
            f"<li>{link(f'/dashboard/reports/{name}', title, tenant=ctx.tenant_param)}</li>"
            for name, title in REPORTS.items()
        )
        + "</ul>"
    )
    return ctx.render("Reports", body, "reports")


@router.get("/reports/{name}", response_class=HTMLResponse)
async def report(request: Request, name: ReportName) -> HTMLResponse:
    ctx = await Ctx.of(request)
    data = await build_report(runtime_of(request), name.value, ctx.filters())
    rows = data["rows"]
    body = (
        f"<p>Download: <a href='/dashboard/reports/{name.value}.csv{ctx.tenant_q}'>CSV</a> · "
        f"<a href='/dashboard/reports/{name.value}.json{ctx.tenant_q}'>JSON</a> "
        f"<span class='muted'>(API: /reporting/v1/reports/{name.value}?format=csv)</span></p>"
    )
    body += _charts(data, name.value)
    body += "<h2>Table</h2>" + (
        table(list(rows[0]), [list(r.values()) for r in rows[:500]], test_id="report") if rows else "<p>No data.</p>"
    )
    return ctx.render(REPORTS[name.value], body, "reports")


@router.get("/reports/{name}.{fmt}")
async def report_file(request: Request, name: ReportName, fmt: str) -> Response:
    from services.reporting.domain.reports import to_csv

    ctx = await Ctx.of(request)
    data = await build_report(runtime_of(request), name.value, ctx.filters())
    if fmt == "csv":
        return Response(
            to_csv(data["rows"]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name.value}.csv"'},
        )
    return JSONResponse(data)
