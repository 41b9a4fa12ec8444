"""Exports as jobs (CSV, JSON, Battery Pass 1.2 JSON, Catena-X BatteryPass 6.1.0 JSON, signed PDF audit packs) and
the signing keys."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts.attributes import AccessTier
from services.common.access import PURPOSE_MAX_TEXT, ReadPurpose, reader_tier
from services.common.auth import Principal
from services.reporting.api.common import READERS, runtime_of, scope_tenant
from services.reporting.api.queries import StrictQueryRoute, export_filter_problems, problem_response
from services.reporting.domain.tiers import hidden_dimensions
from services.reporting.exports.jobs import ExportFormat, create_job, job_view
from services.reporting.signing import Signer, public_pem_of

router = APIRouter(prefix="/reporting/v1", tags=["exports"], route_class=StrictQueryRoute)


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: ExportFormat = Field(
        description="csv, json, batterypass-json, catenax-batterypass-6.1 (the Catena-X BatteryPass 6.1.0 aspect per "
        "passport with its conformance report; docs/exports/catenax-batterypass-6.1.md) or audit-pack-pdf.",
        examples=["csv"],
    )
    filters: dict[str, str | bool] = Field(
        default_factory=dict,
        description="Same names and values as the search filters (model, chemistry, batch, stage, ext.<field>, ...); "
        "an unknown name is refused (`unknown_filter`), as is a value outside an enumerated filter's values.",
        examples=[{"batch": "L2026-03"}],
    )
    passport_ids: list[str] = Field(
        default_factory=list, max_length=100_000, description="Export exactly these passports (instead of filters)."
    )
    tenant: str | None = Field(default=None, description="Tenant (regulators and operators only).")
    title: str | None = Field(default=None, max_length=200, description="Title of an audit pack.")
    purpose: ReadPurpose | None = Field(
        default=None,
        description="Why you export (regulators: optional, logged with each passport in the access log).",
        examples=["market_surveillance"],
    )
    purpose_text: str | None = Field(
        default=None, max_length=PURPOSE_MAX_TEXT, description="The purpose in your words (logged)."
    )


def _not_found(job_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND, {"reason": "export_not_found", "message": f"No export {job_id} is visible to you."}
    )


async def _job(request: Request, principal: Principal, job_id: str, columns: str = "*") -> Any:
    row = await runtime_of(request).pool.fetchrow(f"SELECT {columns} FROM export_jobs WHERE job_id = $1", job_id)
    if row is None or (principal.tenant is not None and row["tenant"] != principal.tenant):
        raise _not_found(job_id)
    if principal.tenant is None and principal.role.value not in {"regulator", "platform_operator"}:
        raise _not_found(job_id)
    return row


JOB_COLUMNS = (
    "job_id, tenant, format, status, progress_pct, processed, total, request, error, created_at, finished_at,"
    " file_name, summary"
)


@router.post(
    "/exports",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start an export job",
    description="The file holds what you may read: everything of your own tenant's passports (OEM keys, their "
    "auditors, the platform operator); the `authorities` tier for regulators, whose exports are logged per passport "
    "in the access log. The tenant change stream (Kafka) is owner-only: only the owning tenant's systems read it. "
    "Filters are held to what search accepts: a refused one (400, `unknown_filter` or `invalid_filter_value`, "
    "`field` = `filters.<name>`) creates no job.",
)
async def start_export(body: ExportRequest, request: Request, principal: Annotated[Principal, READERS]) -> JSONResponse:
    refused = export_filter_problems(body.filters)
    if refused:
        return problem_response(refused)
    tenant = scope_tenant(principal, body.tenant)
    tier = reader_tier(principal, tenant)
    if tier is AccessTier.public:  # not reachable with READERS and scope_tenant; fail closed if that changes
        raise HTTPException(status.HTTP_403_FORBIDDEN, {"reason": "role_not_allowed", "message": "Not for this key."})
    hidden = hidden_dimensions(list(body.filters), tier)
    if hidden:  # as search refuses them (FilterParams.resolve): an export is a search written to a file
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            {
                "reason": "dimension_not_permitted",
                "field": f"filters.{hidden[0]}",
                "message": f"{', '.join(hidden)}: data of the owner only; at the {tier.value} tier, filter on what "
                "that tier reads (model, chemistry, category, status, stage, ...).",
            },
        )
    unstated = {name for name in ("purpose", "purpose_text") if getattr(body, name) is None}
    payload = body.model_dump(mode="json", exclude={"tenant", *unstated})
    job_id = await create_job(
        runtime_of(request).pool,
        tenant=tenant,
        requested_by=principal.name,
        format=body.format.value,
        request=payload,
        tier=tier,
    )
    row = await _job(request, principal, job_id, JOB_COLUMNS)
    return JSONResponse(job_view(row), status_code=202, headers={"Location": f"/reporting/v1/exports/{job_id}"})


@router.get("/exports", summary="Your recent export jobs")
async def list_exports(
    request: Request,
    principal: Annotated[Principal, READERS],
    tenant: Annotated[str | None, Query(description="Tenant (regulators and operators only).")] = None,
) -> dict[str, Any]:
    tenant = scope_tenant(principal, tenant)
    rows = await runtime_of(request).pool.fetch(
        f"SELECT {JOB_COLUMNS} FROM export_jobs WHERE tenant = $1 ORDER BY created_at DESC LIMIT 50", tenant
    )
    return {"exports": [job_view(r) for r in rows]}


@router.get("/exports/{job_id}", summary="An export job: status and progress")
async def get_export(job_id: str, request: Request, principal: Annotated[Principal, READERS]) -> dict[str, Any]:
    return job_view(await _job(request, principal, job_id, JOB_COLUMNS))


@router.get("/exports/{job_id}/download", summary="The exported file", response_class=Response)
async def download_export(job_id: str, request: Request, principal: Annotated[Principal, READERS]) -> Response:
    row = await _job(request, principal, job_id, "tenant, status, content, file_name, media_type")
    if row["status"] != "done":
        raise HTTPException(
            status.HTTP_409_CONFLICT, {"reason": "export_not_ready", "message": f"Export {job_id} is {row['status']}."}
        )
    return Response(
        bytes(row["content"]),
        media_type=row["media_type"],
        headers={"Content-Disposition": f'attachment; filename="{row["file_name"]}"'},
    )


@router.get("/exports/{job_id}/signature", summary="Detached Ed25519 signature of an audit pack")
async def export_signature(job_id: str, request: Request, principal: Annotated[Principal, READERS]) -> JSONResponse:
    row = await _job(request, principal, job_id, "tenant, status, signature, file_name")
    if row["status"] != "done" or row["signature"] is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, {"reason": "no_signature", "message": f"Export {job_id} has no signature."}
        )
    return JSONResponse(
        row["signature"], headers={"Content-Disposition": f'attachment; filename="{row["file_name"]}.sig.json"'}
    )


@router.get("/signing-keys", summary="Public keys that sign audit packs (pin one; verify offline)")
async def signing_keys(request: Request, principal: Annotated[Principal, READERS]) -> dict[str, Any]:
    signer: Signer = request.app.state.signing.signer
    rows = await runtime_of(request).pool.fetch(
        "SELECT key_id, algorithm, public_key, created_at FROM signing_keys ORDER BY created_at"
    )
    return {
        "current": signer.key_id,
        "keys": [
            {
                "key_id": r["key_id"],
                "algorithm": r["algorithm"],
                "public_key": base64.b64encode(bytes(r["public_key"])).decode(),
                "public_key_pem": public_pem_of(bytes(r["public_key"])),
                "created_at": r["created_at"].isoformat(),
            }
            for r in rows
        ],
        "verify": "bpass verify-pack <pack>.pdf --signature <pack>.pdf.sig.json --public-key <key>.pem",
    }
