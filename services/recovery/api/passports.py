"""Routes of what recovery knows of a passport: its composition as minted, its status, its attribution."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.common.auth import Principal
from services.recovery import store
from services.recovery.api.common import ERROR_RESPONSES, OWNER_READERS, SEES_ALL, not_found, plain, runtime_of

router = APIRouter(prefix="/recovery/v1", tags=["recovery"], responses=ERROR_RESPONSES)

ATTRIBUTION_METHOD = (
    "Each recycled lot's content of a material (lot mass × assay) is shared among the batch's inputs pro rata "
    "their declared content of it (passport composition per kg × weighed mass; chemistry defaults where the "
    "passport is silent, basis chemistry_default). Refined metal (product mass × metal content) is shared among "
    "the lots fed pro rata the metal each fed, then among each lot's inputs the same way. Every step rounds by "
    "largest remainder at 0.001 kg, so the lines of a pool sum exactly to it."
)


@router.get("/passports/{passport_id}", summary="What recovery knows of a passport: composition and status")
async def known_passport(
    passport_id: str, request: Request, principal: Annotated[Principal, OWNER_READERS]
) -> JSONResponse:
    row = await store.known_passport(runtime_of(request).pool, passport_id)
    if row is None or (principal.role not in SEES_ALL and row["tenant"] != principal.tenant):
        raise not_found("passport", passport_id)
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
    async with store.snapshot(runtime_of(request).pool) as db:
        row = await store.passport_row(db, passport_id)
        if row is None or (principal.role not in SEES_ALL and row["tenant"] != principal.tenant):
            raise not_found("passport", passport_id)
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
