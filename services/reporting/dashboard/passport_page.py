"""The dashboard's single passport: every section of its data the reader's tier allows, its timeline in event-time
order, its custody chain's check, and its versions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse

from services.reporting.api.access_log import record_read
from services.reporting.api.common import PassportReader, visible
from services.reporting.dashboard.context import Ctx, DashboardQueryRoute
from services.reporting.dashboard.passport_view import sections, timeline
from services.reporting.domain.custody_chain import verify_chain
from services.reporting.domain.tiers import LOGGED_TIERS, returned_fields, state_for_tier
from services.reporting.store import passports as store

router = APIRouter(prefix="/dashboard", include_in_schema=False, route_class=DashboardQueryRoute)


@router.get("/passports/{passport_id}", response_class=HTMLResponse)
async def passport(
    request: Request, passport_id: str, as_of: Annotated[datetime | None, Query()] = None
) -> HTMLResponse:
    ctx = await Ctx.of(request)
    row = await store.current(ctx.pool, passport_id)
    reader = PassportReader(ctx.principal, None, None)
    tier = reader.tier_for(row["tenant"]) if row is not None and visible(ctx.principal, row["tenant"]) else None
    if row is None or tier is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, {"reason": "passport_not_found", "message": "Not found."})
    state: dict[str, Any] = row["state"]
    as_of_note: dict[str, Any] | None = None
    if as_of is not None:
        old = await store.as_of(ctx.pool, passport_id, as_of)
        as_of_note = {"at": as_of.isoformat(), "version": old["version"] if old else None}
        if old is not None:
            state = old["state"]
    # The same cut as the API: a regulator sees the authorities tier, and that read is logged like any other.
    state = state_for_tier(state, tier)
    if tier in LOGGED_TIERS:
        await record_read(
            ctx.pool,
            reader,
            passport_id=passport_id,
            tenant=row["tenant"],
            tier=tier,
            access="dashboard",
            fields=returned_fields(state),
        )
    static = state.get("static_data") or {}
    custody = state.get("custody_timeline") or []
    identity = [
        ("passport id", state.get("passport_id")),
        ("battery identifier", state.get("battery_identifier")),
        ("model", static.get("battery_model")),
        ("chemistry", (static.get("battery_chemistry") or {}).get("short_name")),
        ("category", state.get("category")),
        ("batch", (state.get("subject") or {}).get("batch_number")),
        ("held by", state.get("current_handler_id")),
        ("minted", state.get("minted_at")),
        ("ceased", state.get("ceased_at") or "no"),
    ]
    versions = await store.versions(ctx.pool, passport_id)
    return ctx.page(
        "passport.html",
        f"Passport {state.get('battery_identifier') or passport_id}",
        "passports",
        passport_id=passport_id,
        public_uri=state.get("public_uri"),
        tier=tier.value,
        as_of=as_of_note,
        cards=[
            ("stage", state.get("stage")),
            ("status", state.get("status")),
            ("version", state.get("version")),
            ("custody steps", len(custody)),
        ],
        identity=identity,
        predecessors=state.get("predecessor_ids") or [],
        successors=state.get("successor_ids") or [],
        check=verify_chain(custody),
        events=timeline(state),
        versions=versions,
        sections=sections(state),
    )
