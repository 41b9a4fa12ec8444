"""QR codes and printable labels of an OEM's passports, rendered on demand (never at mint)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.errors import ValidationFailed, Violation
from services.common.auth import OEM_ROLES, Principal, require_roles
from services.identity.api.common import (
    DEFAULT_BODY_LIMIT,
    ERROR_RESPONSES,
    READERS,
    limited_route,
    passport_id_of,
    passport_not_found,
    reader_tenant,
    runtime_of,
    tenant_of,
)
from services.identity.domain import identifiers, qr
from services.identity.store import passports as store

router = APIRouter(
    prefix="/identity/v1",
    tags=["labels"],
    route_class=limited_route(DEFAULT_BODY_LIMIT),
    responses={**ERROR_RESPONSES, 406: {"description": "Labels come as application/pdf or application/zip."}},
)

MAX_LABELS = 5000
PDF, ZIP = "application/pdf", "application/zip"


@router.get(
    "/passports/{passport_id}/qr.svg",
    summary="QR code (SVG) of the passport's public URI",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
async def qr_svg(passport_id: str, request: Request, principal: Annotated[Principal, READERS]) -> Response:
    uri = await _public_uri(request, principal, passport_id)
    return Response(qr.qr_svg(uri), media_type="image/svg+xml")


@router.get(
    "/passports/{passport_id}/qr.png",
    summary="QR code (PNG) of the passport's public URI",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
async def qr_png(
    passport_id: str,
    request: Request,
    principal: Annotated[Principal, READERS],
    scale: Annotated[int, Query(ge=1, le=40, description="Pixels per module.")] = 8,
) -> Response:
    uri = await _public_uri(request, principal, passport_id)
    return Response(qr.qr_png(uri, scale=scale), media_type="image/png")


async def _public_uri(request: Request, principal: Principal, passport_id: str) -> str:
    row = await store.get_passport(runtime_of(request).pool, reader_tenant(principal), passport_id_of(passport_id))
    if row is None:
        raise passport_not_found(passport_id)
    uri: str = row["public_uri"]
    return uri


def _canonical(passport_id: str) -> str:
    """`urn:uuid:<lowercase>` for a passport id, or "" (matching nothing) for anything else."""
    try:
        return identifiers.format_passport_id(identifiers.parse_passport_id(passport_id))
    except ValidationFailed:
        return ""


class LabelsRequest(BaseModel):
    """Which passports to print: a list of ids, or every passport of a batch and/or product family."""

    model_config = ConfigDict(extra="forbid")

    passport_ids: list[str] | None = Field(
        default=None, min_length=1, max_length=MAX_LABELS, description="Passport ids, printed in this order."
    )
    batch_number: str | None = Field(
        default=None, min_length=1, max_length=20, description="Every passport of this batch (GS1 AI 10)."
    )
    product_family: str | None = Field(
        default=None, min_length=1, max_length=100, description="Every passport of this product family."
    )

    @model_validator(mode="after")
    def _one_selection(self) -> LabelsRequest:
        by_ids = self.passport_ids is not None
        by_filter = self.batch_number is not None or self.product_family is not None
        if by_ids == by_filter:
            raise ValueError("give either passport_ids, or batch_number and/or product_family")
        return self


def _format(accept: str | None) -> str:
    wanted = (accept or PDF).lower()
    if ZIP in wanted and PDF not in wanted:
        return ZIP
    if PDF in wanted or "*/*" in wanted or "application/*" in wanted:
        return PDF
    raise HTTPException(
        status.HTTP_406_NOT_ACCEPTABLE,
        {"reason": "format_not_available", "message": f"Labels come as {PDF} (one sheet) or {ZIP} (PNG per label)."},
    )


@router.post(
    "/labels",
    summary="Labels of many passports as one download: a PDF (12 per A4 page) or a ZIP of PNGs",
    description=f"At most {MAX_LABELS} labels per request. `Accept: {PDF}` (default) or `Accept: {ZIP}`.",
    response_class=Response,
    responses={200: {"content": {PDF: {}, ZIP: {}}}},
)
async def labels(
    selection: LabelsRequest,
    request: Request,
    principal: Annotated[Principal, require_roles(*OEM_ROLES)],
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    media_type = _format(accept)
    tenant = tenant_of(principal)
    pool = runtime_of(request).pool
    found: list[tuple[str, str]]
    if selection.passport_ids is not None:
        by_id = await store.labels_by_ids(pool, tenant, [_canonical(i) for i in selection.passport_ids])
        missing = [
            Violation(
                field=f"passport_ids.{index}",
                reason="passport_not_found",
                message=f"No passport {passport_id} is visible to you.",
            )
            for index, passport_id in enumerate(selection.passport_ids)
            if _canonical(passport_id) not in by_id
        ]
        if missing:
            raise ValidationFailed(missing[:100])
        found = [by_id[_canonical(passport_id)] for passport_id in selection.passport_ids]
    else:
        found = await store.labels_by_batch(
            pool, tenant, selection.batch_number, selection.product_family, MAX_LABELS + 1
        )
        if len(found) > MAX_LABELS:
            raise ValidationFailed(
                [
                    Violation(
                        field="",
                        reason="too_many_labels",
                        message=f"More than {MAX_LABELS} passports match; narrow the selection or list ids.",
                    )
                ]
            )
        if not found:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                {"reason": "no_passports_match", "message": "None of your passports matches this selection."},
            )
    sheet = [qr.Label(identifier, uri) for identifier, uri in found]
    # Rendering thousands of labels takes seconds of CPU: off the event loop, so other requests proceed.
    render: Any = qr.labels_pdf if media_type == PDF else qr.labels_zip
    content: bytes = await asyncio.to_thread(render, sheet)
    filename = "passport-labels.pdf" if media_type == PDF else "passport-labels.zip"
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Label-Count": str(len(sheet))},
    )
