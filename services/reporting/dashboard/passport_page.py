"""The dashboard's single passport: its data at the caller's tier, its timeline and its custody chain's check."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse

from services.reporting.api.access_log import record_read
from services.reporting.api.common import PassportReader, visible
from services.reporting.dashboard.context import (
    Ctx,
    DashboardQueryRoute,
)
from services.reporting.dashboard.html import cards, e, link, table
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
    note = ""
    if as_of is not None:
        old = await store.as_of(ctx.pool, passport_id, as_of)
        if old is None:
            note = f"<p class='bad'>The passport did not exist yet at {e(as_of.isoformat())}.</p>"
        else:
            state = old["state"]
            note = f"<p class='muted' id='as-of'>As of {e(as_of.isoformat())}: version {e(old['version'])}.</p>"
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
    check = verify_chain(state.get("custody_timeline") or [])
    body = note + cards(
        [
            ("stage", state.get("stage")),
            ("status", state.get("status")),
            ("version", state.get("version")),
            ("custody steps", len(state.get("custody_timeline") or [])),
        ]
    )
    identity = [
        ["passport id", e(state.get("passport_id"))],
        ["battery identifier", e(state.get("battery_identifier"))],
        ["public page", f"<a href='/passport/{e(passport_id)}'>{e(state.get('public_uri'))}</a>"],
        ["model", e(static.get("battery_model"))],
        ["chemistry", e((static.get("battery_chemistry") or {}).get("short_name"))],
        ["category", e(state.get("category"))],
        ["batch", e((state.get("subject") or {}).get("batch_number"))],
        ["held by", e(state.get("current_handler_id"))],
        ["minted", e(state.get("minted_at"))],
        ["ceased", e(state.get("ceased_at") or "no")],
        ["predecessors", e(", ".join(state.get("predecessor_ids") or []) or "none")],
        ["successors", e(", ".join(state.get("successor_ids") or []) or "none")],
    ]
    body += "<h2>Identity</h2>" + table(["field", "value"], identity, raw_columns={1}, test_id="identity")
    events: list[tuple[str, str]] = [(str(state.get("minted_at")), f"Minted by {state.get('minted_by', '')}")]
    for step in state.get("custody_timeline") or []:
        parties = " → ".join(p for p in (step.get("from_handler_id"), step.get("to_handler_id")) if p)
        events.append(
            (step["occurred_at"], f"Custody #{step['sequence']}: {step['kind']} by {step['handler_id']} {parties}")
        )
    for h in state.get("status_history") or []:
        events.append(
            (
                h["occurred_at"],
                f"Status {h['status']}, stage {h['stage']}" + (f" ({h['reason']})" if h.get("reason") else ""),
            )
        )
    for a in (state.get("recovery") or {}).get("attributions") or []:
        materials = ", ".join(f"{m.get('material')} {m.get('recovered_kg')} kg" for m in a.get("materials", []))
        events.append((str(a.get("attributed_at") or ""), f"Recovery attributed: {materials}"))
    if state.get("ceased_at"):
        events.append((state["ceased_at"], "Passport ceased"))
    events.sort(key=lambda ev: ev[0])
    verdict = "<span class='ok'>intact</span>" if check["intact"] else "<span class='bad'>broken</span>"
    body += f"<h2>Timeline</h2><p>Custody chain linkage: {verdict} ({check['entries']} entries)</p>"
    body += (
        "<ol class='timeline' data-timeline>"
        + "".join(
            f"<li><time datetime='{e(when)}'>{e(when[:19].replace('T', ' '))}</time><br>{e(text)}</li>"
            for when, text in events
        )
        + "</ol>"
    )
    versions = await store.versions(ctx.pool, passport_id)
    body += "<h2>Versions</h2>" + table(
        ["version", "change", "valid from", ""],
        [
            [
                v["version"],
                v["change"],
                v["valid_from"].isoformat(),
                link(
                    f"/dashboard/passports/{passport_id}",
                    "view as of",
                    as_of=v["valid_from"].isoformat(),
                    tenant=ctx.tenant_param,
                ),
            ]
            for v in versions
        ],
        raw_columns={3},
        test_id="versions",
    )
    data_rows = [[k, v] for k, v in static.items() if not isinstance(v, dict | list)]
    body += "<h2>Passport data</h2>" + table(["attribute", "value"], data_rows, test_id="static-data")
    return ctx.render(f"Passport {state.get('battery_identifier') or passport_id}", body, "passports")
