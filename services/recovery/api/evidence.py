"""Routes of the evidence recyclers and refiners report: the same use cases as the inbound topics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Request, Response, status

from contracts.recovery import RefinerReportSubmitted, TreatmentBatchReported
from services.common.auth import Principal
from services.common.db import DbConnection
from services.common.http_uow import HttpWrite, Writes
from services.common.outbox import Outbox
from services.recovery import store
from services.recovery.api.common import (
    ERROR_RESPONSES,
    RECYCLERS,
    REFINERS,
    REPORT_READERS,
    SEES_ALL,
    not_found,
    runtime_of,
    tenant_of,
)
from services.recovery.usecases import refining, treatment
from services.recovery.usecases.outcomes import RefinerReportOutcome, TreatmentBatchOutcome

router = APIRouter(prefix="/recovery/v1", tags=["recovery"], responses=ERROR_RESPONSES)
OutcomeT = TypeVar("OutcomeT", TreatmentBatchOutcome, RefinerReportOutcome)


async def _report(
    write: HttpWrite,
    response: Response,
    principal: Principal,
    submit: Callable[..., Awaitable[OutcomeT]],
    body: TreatmentBatchReported | RefinerReportSubmitted,
) -> OutcomeT:
    """One path for both HTTP reports: the same use case as the topic, 200 when nothing changed."""
    handler_id = tenant_of(principal)

    async def work(conn: DbConnection, outbox: Outbox) -> OutcomeT:
        return await submit(
            conn,
            outbox,
            write.runtime.settings,
            report=body,
            handler_id=handler_id,
            reported_by=principal.name,
            via="http",
        )

    outcome = await write.run(principal, work)
    if outcome.status == "unchanged":
        response.status_code = status.HTTP_200_OK
    return outcome


@router.post(
    "/treatment-batches",
    response_model=TreatmentBatchOutcome,
    status_code=status.HTTP_201_CREATED,
    summary="Report a treatment batch (as on bpass.recovery.treatment-batches.v1)",
    responses={200: {"description": "The same batch was reported before; its outcome is returned."}},
)
async def report_treatment_batch(
    body: TreatmentBatchReported,
    response: Response,
    principal: Annotated[Principal, RECYCLERS],
    write: Writes,
) -> TreatmentBatchOutcome:
    outcome = await _report(write, response, principal, treatment.report_treatment_batch, body)
    response.headers["Location"] = f"/recovery/v1/treatment-batches/{outcome.recycler_id}/{outcome.batch_id}"
    return outcome


@router.get(
    "/treatment-batches/{recycler_id}/{batch_id}",
    response_model=TreatmentBatchOutcome,
    summary="A treatment batch's outcome: balance, efficiency, declared contents, flags",
)
async def read_treatment_batch(
    recycler_id: str, batch_id: str, request: Request, principal: Annotated[Principal, REPORT_READERS]
) -> TreatmentBatchOutcome:
    if principal.role not in SEES_ALL and principal.tenant != recycler_id:
        raise not_found("batch", batch_id)
    outcome = await store.batch_outcome(runtime_of(request).pool, recycler_id, batch_id)
    if outcome is None:
        raise not_found("batch", batch_id)
    return TreatmentBatchOutcome.model_validate(outcome)


@router.post(
    "/refiner-reports",
    response_model=RefinerReportOutcome,
    status_code=status.HTTP_201_CREATED,
    summary="Submit a refiner report (as on bpass.recovery.refiner-reports.v1)",
    responses={200: {"description": "The same report was submitted before; its outcome is returned."}},
)
async def submit_refiner_report(
    body: RefinerReportSubmitted,
    response: Response,
    principal: Annotated[Principal, REFINERS],
    write: Writes,
) -> RefinerReportOutcome:
    return await _report(write, response, principal, refining.submit_refiner_report, body)
