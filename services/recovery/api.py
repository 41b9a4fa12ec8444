"""Recovery HTTP routes: the same use cases as the inbound topics, plus attribution, Annex XII and claims reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse

from contracts.recovery import (
    RecoveryChemistry,
    RecycledContentAssessed,
    RecycledContentClaim,
    RefinerReportSubmitted,
    TreatmentBatchReported,
)
from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.runtime import Runtime
from services.recovery import handlers, store
from services.recovery.domain.annex_xii import (
    MATERIAL_RECOVERY_TARGETS,
    RECYCLING_EFFICIENCY_TARGETS,
    annex_xii_rows,
    rows_to_csv,
)

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body cannot be parsed as JSON."},
    401: {"description": "No API key, or an unknown, revoked or expired one."},
    403: {"description": "The key's role may not do this, or acts for another recycler."},
    404: {"description": "Not found, or not visible to the caller (another tenant's passport or claim)."},
    409: {"description": "Conflicts with an earlier claim for the same model, plant and year."},
    422: {"description": "Invalid or refused input: every violation names the field, a reason code and a sentence."},
}
router = APIRouter(prefix="/recovery/v1", tags=["recovery"], responses=ERROR_RESPONSES)

OWNER_READERS = require_roles(*OEM_ROLES, Role.auditor, Role.regulator, Role.platform_operator)
RECYCLERS = require_roles(Role.recycler)
REFINERS = require_roles(Role.refiner)
OEMS = require_roles(*OEM_ROLES)
REPORT_READERS = require_roles(Role.recycler, Role.auditor, Role.regulator, Role.platform_operator)
SEES_ALL = frozenset({Role.regulator, Role.platform_operator})
SOURCE = "urn:bpass:service:recovery"
T = TypeVar("T")
OutcomeT = TypeVar("OutcomeT", handlers.TreatmentBatchOutcome, handlers.RefinerReportOutcome)

ATTRIBUTION_METHOD = (
    "Each recycled lot's content of a material (lot mass × assay) is shared among the batch's inputs pro rata "
    "their declared content of it (passport composition per kg × weighed mass; chemistry defaults where the "
    "passport is silent, basis chemistry_default). Refined metal (product mass × metal content) is shared among "
    "the lots fed pro rata the metal each fed, then among each lot's inputs the same way. Every step rounds by "
    "largest remainder at 0.001 kg, so the lines of a pool sum exactly to it."
)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _tenant_of(principal: Principal) -> str:
    """The key's tenant: the OEM for OEM keys, the handler id for recycler and refiner keys."""
    if principal.tenant is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            {"reason": "no_tenant", "message": "This key names no tenant (for a recycler or refiner: its handler id)."},
        )
    return principal.tenant


def _not_found(kind: str, identifier: object) -> HTTPException:
    """404 `<kind>_not_found` (`passport_not_found`, `batch_not_found`, `claim_not_found`), as in every service."""
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        {"reason": f"{kind}_not_found", "message": f"No {kind} {identifier} is visible to you."},
    )


def plain(value: Any) -> Any:
    """JSON-ready, with masses and shares as exact decimal strings (never floats)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


async def _in_transaction(request: Request, work: Callable[[DbConnection, Outbox], Awaitable[T]]) -> T:
    return await _runtime(request).run_with_outbox(work)


async def _report(
    request: Request,
    response: Response,
    principal: Principal,
    submit: Callable[..., Awaitable[OutcomeT]],
    body: TreatmentBatchReported | RefinerReportSubmitted,
) -> OutcomeT:
    """One path for both HTTP reports: the same handler as the topic, 200 when nothing changed."""
    handler_id = _tenant_of(principal)
    outcome = await _in_transaction(
        request,
        lambda conn, outbox: submit(
            conn,
            outbox,
            _runtime(request).settings,
            report=body,
            handler_id=handler_id,
            reported_by=principal.name,
            via="http",
        ),
    )
    if outcome.status == "unchanged":
        response.status_code = status.HTTP_200_OK
    return outcome


@router.post(
    "/treatment-batches",
    response_model=handlers.TreatmentBatchOutcome,
    status_code=status.HTTP_201_CREATED,
    summary="Report a treatment batch (as on bpass.recovery.treatment-batches.v1)",
    responses={200: {"description": "The same batch was reported before; its outcome is returned."}},
)
async def report_treatment_batch(
    body: TreatmentBatchReported, request: Request, response: Response, principal: Annotated[Principal, RECYCLERS]
) -> handlers.TreatmentBatchOutcome:
    outcome = await _report(request, response, principal, handlers.report_treatment_batch, body)
    response.headers["Location"] = f"/recovery/v1/treatment-batches/{outcome.recycler_id}/{outcome.batch_id}"
    return outcome


@router.get(
    "/treatment-batches/{recycler_id}/{batch_id}",
    response_model=handlers.TreatmentBatchOutcome,
    summary="A treatment batch's outcome: balance, efficiency, declared contents, flags",
)
async def read_treatment_batch(
    recycler_id: str, batch_id: str, request: Request, principal: Annotated[Principal, REPORT_READERS]
) -> handlers.TreatmentBatchOutcome:
    if principal.role not in SEES_ALL and principal.tenant != recycler_id:
        raise _not_found("batch", batch_id)
    outcome = await store.batch_outcome(_runtime(request).pool, recycler_id, batch_id)
    if outcome is None:
        raise _not_found("batch", batch_id)
    return handlers.TreatmentBatchOutcome.model_validate(outcome)


@router.post(
    "/refiner-reports",
    response_model=handlers.RefinerReportOutcome,
    status_code=status.HTTP_201_CREATED,
    summary="Submit a refiner report (as on bpass.recovery.refiner-reports.v1)",
    responses={200: {"description": "The same report was submitted before; its outcome is returned."}},
)
async def submit_refiner_report(
    body: RefinerReportSubmitted, request: Request, response: Response, principal: Annotated[Principal, REFINERS]
) -> handlers.RefinerReportOutcome:
    return await _report(request, response, principal, handlers.submit_refiner_report, body)


@router.get("/passports/{passport_id}", summary="What recovery knows of a passport: composition and status")
async def known_passport(
    passport_id: str, request: Request, principal: Annotated[Principal, OWNER_READERS]
) -> JSONResponse:
    row = await _runtime(request).pool.fetchrow(
        """SELECT passport_id, tenant, battery_identifier, category, kind, static_data, minted_at, ceased_at
           FROM known_passports WHERE passport_id = $1""",
        passport_id,
    )
    if row is None or (principal.role not in SEES_ALL and row["tenant"] != principal.tenant):
        raise _not_found("passport", passport_id)
    body = dict(row)
    body["status"] = "ceased" if row["ceased_at"] else "active"
    return JSONResponse(plain(body))


@router.get(
    "/passports/{passport_id}/attribution",
    summary="Recovered material attributed to a passport, line by line, with the allocation steps",
)
async def attribution(
    passport_id: str, request: Request, principal: Annotated[Principal, OWNER_READERS]
) -> JSONResponse:
    # One snapshot: the lines, the cease and the batch are committed together, so they are read together.
    async with store.snapshot(_runtime(request).pool) as db:
        row = await store.passport_row(db, passport_id)
        if row is None or (principal.role not in SEES_ALL and row["tenant"] != principal.tenant):
            raise _not_found("passport", passport_id)
        lines = [r["line"] for r in await store.passport_lines(db, passport_id)]
        contents = (
            await store.passport_contents(db, row["batch"], row["input_index"]) if row["batch"] is not None else []
        )
    totals: dict[str, dict[str, Decimal]] = {}
    for line in lines:
        entry = totals.setdefault(line["material"], {"treatment": Decimal("0.000"), "refining": Decimal("0.000")})
        entry[line["stage"]] += Decimal(line["amount_kg"])
    treatment = None
    declared: list[dict[str, Any]] = []
    if row["batch"] is not None:
        treatment = {
            "recycler_id": row["recycler_id"],
            "batch_id": row["batch_id"],
            "completed_at": row["completed_at"],
            "processes": list(row["processes"]),
            "reported_by": row["reported_by"],
            "input_index": row["input_index"],
            "chemistry": row["chemistry"],
            "category_group": row["category_group"],
            "origin": row["origin"],
            "input_mass_kg": row["mass_kg"],
            "dwts_id": row["dwts_id"],
            "diwass_id": row["diwass_id"],
            "transport_document": row["transport_document"],
            "evidence": row["evidence"],
            "flags": row["flags"] + row["batch_flags"],
        }
        declared = [{**dict(c), "sources": row["sources"].get(c["material"], [])} for c in contents]
    return JSONResponse(
        plain(
            {
                "passport_id": passport_id,
                "tenant": row["tenant"],
                "battery_identifier": row["battery_identifier"],
                "status": "ceased" if row["ceased_at"] else "active",
                "ceased_at": row["ceased_at"],
                "treatment": treatment,
                "declared": declared,
                "totals_kg": dict(sorted(totals.items())),
                "lines": lines,
                "method": ATTRIBUTION_METHOD,
            }
        )
    )


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
        own = _tenant_of(principal)
        if recycler is not None and recycler != own:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                {"reason": "not_your_recycler", "message": f"This key reports for {own} only."},
            )
        recycler = own
    async with store.snapshot(_runtime(request).pool) as db:  # batches, lines and lots of one committed state
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


@router.post(
    "/recycled-content/claims",
    response_model=RecycledContentAssessed,
    status_code=status.HTTP_201_CREATED,
    summary="Claim recycled content for a battery model, plant and year (Art. 8)",
    responses={
        200: {"description": "The same claim was made before; its assessment is returned."},
        409: {"description": "A different claim exists for this model, plant and year."},
    },
)
async def claim_recycled_content(
    body: RecycledContentClaim, request: Request, response: Response, principal: Annotated[Principal, OEMS]
) -> RecycledContentAssessed:
    tenant = _tenant_of(principal)
    try:
        assessed, created = await _in_transaction(
            request,
            lambda conn, outbox: handlers.claim_recycled_content(
                conn, outbox, _runtime(request).settings, tenant=tenant, claimed_by=principal.name, claim=body
            ),
        )
    except handlers.ClaimConflict as conflict:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            {
                "reason": "claim_exists",
                "message": f"Claim {conflict.claim_id} already covers this model, plant and year.",
                "claim_id": conflict.claim_id,
            },
        ) from None
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/recovery/v1/recycled-content/claims/{assessed.claim_id}"
    return assessed


@router.get("/recycled-content/claims", summary="Your recycled-content claims and their assessments")
async def list_claims(request: Request, principal: Annotated[Principal, OWNER_READERS]) -> JSONResponse:
    tenant = None if principal.role in SEES_ALL else _tenant_of(principal)
    rows = await store.claims_of(_runtime(request).pool, tenant)
    return JSONResponse(plain({"claims": [r["assessment"] for r in rows]}))


@router.get("/recycled-content/claims/{claim_id}", summary="One recycled-content claim and its assessment")
async def read_claim(claim_id: str, request: Request, principal: Annotated[Principal, OWNER_READERS]) -> JSONResponse:
    tenant = None if principal.role in SEES_ALL else _tenant_of(principal)
    rows = await store.claims_of(_runtime(request).pool, tenant, claim_id)
    if not rows:
        raise _not_found("claim", claim_id)
    return JSONResponse(plain(rows[0]["assessment"]))
