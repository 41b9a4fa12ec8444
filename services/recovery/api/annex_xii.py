"""Annex XII report: recycling efficiency and material recovery rates per batch, recycler, chemistry, period."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse

from contracts.recovery import RecoveryChemistry
from services.common.auth import Principal
from services.recovery import store
from services.recovery.api.common import ERROR_RESPONSES, REPORT_READERS, SEES_ALL, plain, runtime_of, tenant_of
from services.recovery.domain.annex_xii import (
    MATERIAL_RECOVERY_TARGETS,
    RECYCLING_EFFICIENCY_TARGETS,
    annex_xii_rows,
    rows_to_csv,
)

router = APIRouter(prefix="/recovery/v1", tags=["recovery"], responses=ERROR_RESPONSES)


@router.get(
    "/reports/annex-xii",
    summary="Annex XII: recycling efficiency and material recovery rates per batch, recycler, chemistry, period",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
async def annex_xii_report(
    request: Request,
    principal: Annotated[Principal, REPORT_READERS],
    recycler: Annotated[str | None, Query(description="Recycler (handler id); recyclers see their own.")] = None,
    chemistry: Annotated[RecoveryChemistry | None, Query(description="Only this chemistry's part.")] = None,
    period_from: Annotated[date | None, Query(description="Batches completed on or after (UTC).")] = None,
    period_to: Annotated[date | None, Query(description="Batches completed on or before (UTC).")] = None,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv.")] = "json",
) -> Response:
    if principal.role not in SEES_ALL:
        own = tenant_of(principal)
        if recycler is not None and recycler != own:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                {"reason": "not_your_recycler", "message": f"This key reports for {own} only."},
            )
        recycler = own
    async with store.snapshot(runtime_of(request).pool) as db:  # batches, lines and lots of one committed state
        records = await store.annex_xii_records(
            db,
            recycler_id=recycler,
            completed_from=datetime.combine(period_from, time(), UTC) if period_from else None,
            completed_before=datetime.combine(period_to + timedelta(days=1), time(), UTC) if period_to else None,
        )
    rows = annex_xii_rows(records, chemistry=chemistry)
    if format == "csv":
        return PlainTextResponse(
            rows_to_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="annex-xii.csv"'},
        )
    return JSONResponse(
        plain(
            {
                "generated_at": datetime.now(UTC),
                "filters": {
                    "recycler": recycler,
                    "chemistry": chemistry.value if chemistry else None,
                    "period_from": period_from,
                    "period_to": period_to,
                },
                "method": {
                    "recycling_efficiency": "Battery-origin mass of outputs going to recycling ÷ input mass "
                    "(Annex XII Part B); residues and losses do not count.",
                    "material_recovery_rate": "(refined metal attributed + material still in unrefined recycled "
                    "lots) ÷ declared content of the inputs (Annex XII Part C); provisional until every lot "
                    "carrying the material is refined.",
                    "targets": "Compared with the target in force at the end of the calendar year of the row's "
                    "latest batch.",
                },
                "targets": {
                    "recycling_efficiency_pct": {
                        g.value: [{"deadline": d, "target_pct": p} for d, p in s]
                        for g, s in RECYCLING_EFFICIENCY_TARGETS.items()
                    },
                    "material_recovery_pct": {
                        m.value: [{"deadline": d, "target_pct": p} for d, p in s]
                        for m, s in MATERIAL_RECOVERY_TARGETS.items()
                    },
                },
                "rows": rows,
            }
        )
    )
