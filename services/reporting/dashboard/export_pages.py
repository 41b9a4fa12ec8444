"""The dashboard's export jobs: start one, follow its progress, download its parts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from services.reporting.dashboard.context import (
    Ctx,
    DashboardQueryRoute,
    form_of,
)
from services.reporting.exports.jobs import create_job, job_view

router = APIRouter(prefix="/dashboard", include_in_schema=False, route_class=DashboardQueryRoute)


@router.post("/exports")
async def start_export(request: Request) -> Response:
    ctx = await Ctx.of(request)
    form = await form_of(request)
    format = form.get("format", "")
    batch = form.get("batch") or None
    if format not in {"csv", "json", "batterypass-json", "catenax-batterypass-6.1", "audit-pack-pdf"}:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, {"reason": "unknown_format", "message": format})
    job_id = await create_job(
        ctx.pool,
        tenant=ctx.tenant,
        requested_by=ctx.principal.name,
        format=format,
        request={
            "format": format,
            "filters": {"batch": batch} if batch else {},
            "passport_ids": [],
            "title": f"Audit pack of batch {batch}" if batch else None,
        },
    )
    return RedirectResponse(f"/dashboard/exports/{job_id}{ctx.tenant_q}", status.HTTP_303_SEE_OTHER)


async def _job_row(ctx: Ctx, job_id: str) -> Any:
    row = await ctx.pool.fetchrow(
        "SELECT job_id, tenant, format, status, progress_pct, processed, total, request, error, created_at,"
        " finished_at, file_name FROM export_jobs WHERE job_id = $1 AND tenant = $2",
        job_id,
        ctx.tenant,
    )
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, {"reason": "export_not_found", "message": job_id})
    return row


@router.get("/exports/{job_id}.json")
async def export_status(request: Request, job_id: str) -> dict[str, Any]:
    return job_view(await _job_row(await Ctx.of(request), job_id))


@router.get("/exports/{job_id}", response_class=HTMLResponse)
async def export_page(request: Request, job_id: str) -> HTMLResponse:
    ctx = await Ctx.of(request)
    job = job_view(await _job_row(ctx, job_id))
    return ctx.page("export.html", f"Export {job_id}", "batches", job=job, job_id=job_id)


@router.get("/exports/{job_id}/{part}")
async def export_file(request: Request, job_id: str, part: str) -> Response:
    ctx = await Ctx.of(request)
    row = await ctx.pool.fetchrow(
        "SELECT status, content, file_name, media_type, signature FROM export_jobs WHERE job_id = $1 AND tenant = $2",
        job_id,
        ctx.tenant,
    )
    if row is None or row["status"] != "done" or part not in {"download", "signature"}:
        raise HTTPException(status.HTTP_404_NOT_FOUND, {"reason": "export_not_found", "message": job_id})
    if part == "signature":
        return JSONResponse(
            row["signature"], headers={"Content-Disposition": f'attachment; filename="{row["file_name"]}.sig.json"'}
        )
    return Response(
        bytes(row["content"]),
        media_type=row["media_type"],
        headers={"Content-Disposition": f'attachment; filename="{row["file_name"]}"'},
    )
