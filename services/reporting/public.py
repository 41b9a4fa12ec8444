"""The public passport: what a phone reaches by scanning a battery's QR code, and the one place it is rendered.

Identity's resolver answers the QR code's URI (`/p/<id>`, GS1 Digital Link `/01/<GTIN>/21/<serial>`) with a
`307` to `/passport/<passport id>` here; this page is the public tier of the read model (`domain/public.py`, cut by
`domain/tiers.py`): identification, the public static data, and, prominently, whether the passport has ceased
(recycled) or been continued by a new passport, with links to its successors. HTML to browsers, JSON to machines
(`Accept`, or `?format=`), served from Redis and dropped from it when the passport changes (`cache.py`).
"""

from __future__ import annotations

import re
from html import escape
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from contracts.attributes import AccessTier, by_key
from contracts.passport_data import longlist_key_of
from services.common.auth import public_surface
from services.common.negotiation import prefers_html
from services.common.problems import problem_response
from services.common.ratelimit import rate_limited
from services.reporting.api.common import runtime_of
from services.reporting.domain.public import public_view, restricted_fields
from services.reporting.store import passports as store
from services.reporting.store.cache import PassportCache

# Per client address (the connection's, or the one the gateway vouches for), like the identity resolver.
REQUESTS_PER_MINUTE = 600
router = APIRouter(
    tags=["public"],
    dependencies=[Depends(public_surface), rate_limited(REQUESTS_PER_MINUTE, "reporting-public")],
    responses={429: {"description": "Too many requests from this address (`rate_limited`); see Retry-After."}},
)
UUID = re.compile(r"^(urn:uuid:)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
CATEGORY_NAMES = {
    "ev": "Electric vehicle battery",
    "lmt": "Light means of transport battery",
    "industrial": "Industrial battery",
    "stationary": "Stationary battery energy storage",
}
KIND_NAMES = {"battery": "Battery", "pack": "Battery pack", "batch": "Production batch"}
TIER_READERS = {
    AccessTier.legitimate_interest.value: "persons with a legitimate interest (repairers, recyclers, second-life "
    "operators) and the authorities",
    AccessTier.authorities.value: "notified bodies, market surveillance authorities and the Commission",
    AccessTier.owner.value: "the manufacturer",
}
HEADERS = {"Cache-Control": "public, max-age=60", "Vary": "Accept", "Content-Language": "en"}

CSS = (
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:#111;background:#fff}"
    "header{background:#0b3d5c;color:#fff;padding:1rem}header h1{margin:0;font-size:1.3rem}"
    "header p{margin:.2rem 0 0;color:#e6f0f7}main{padding:1rem;max-width:46rem;margin:0 auto}"
    "section{border-top:1px solid #c9d3dc;padding:.4rem 0}h2{font-size:1.05rem;margin:.6rem 0}"
    "dl{display:grid;grid-template-columns:minmax(8rem,40%) 1fr;gap:.25rem .8rem;margin:0}"
    "dt{font-weight:600;color:#222}dd{margin:0;overflow-wrap:anywhere}a{color:#0b4f8a}"
    ".notice{border:2px solid;padding:.6rem .8rem;margin:0 0 1rem;font-size:1.05rem}"
    ".notice strong{display:block;font-size:1.2rem}"
    ".ceased{background:#fde8e8;border-color:#9b1c1c;color:#4a0d0d}"
    ".superseded{background:#fff4d6;border-color:#8a6d00;color:#3d2f00}"
    ".note{background:#f4f6f8;padding:.6rem}"
    "ul{margin:0;padding-left:1.1rem}footer{padding:1rem;color:#444;font-size:.85rem;text-align:center}"
    "@media (max-width:30rem){dl{grid-template-columns:1fr}dt{margin-top:.4rem}}"
)


def passport_path(passport_id: str) -> str:
    """The public page of a passport, on the gateway that serves this one."""
    return f"/passport/{passport_id}"


def _label(field: str) -> str:
    return by_key(longlist_key_of(field)).name


def _unit(field: str) -> str:
    unit = by_key(longlist_key_of(field)).unit
    return f" {unit}" if unit and not field.endswith("_url") else ""


def _value(value: Any) -> str:
    if isinstance(value, str) and value.startswith(("https://", "http://")):
        return f"<a href='{escape(value)}' rel='nofollow noopener'>{escape(value)}</a>"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dict):
        items = (f"<dt>{escape(k.replace('_', ' '))}</dt><dd>{_value(v)}</dd>" for k, v in value.items())
        return "<dl>" + "".join(items) + "</dl>"
    if isinstance(value, list):
        if not value:
            return "none"
        return "<ul>" + "".join(f"<li>{_value(v)}</li>" for v in value) + "</ul>"
    return escape(str(value))


def _successor_links(view: dict[str, Any]) -> str:
    links = (
        f"<li><a href='{escape(passport_path(pid))}' rel='successor-version'>{escape(pid)}</a></li>"
        for pid in view["successor_ids"]
    )
    return "<ul>" + "".join(links) + "</ul>"


def lifecycle_status(view: dict[str, Any]) -> str:
    """The passport's standing in one phrase: ceased, continued by another passport, or active."""
    if view["ceased"]:
        reason = view.get("ceased_reason") or "closed"
        return f"Ceased ({reason})"
    if view["successor_ids"]:
        return "Continued by a new passport"
    return "Active"


def _notice(view: dict[str, Any]) -> str:
    """The end of the passport's life, first thing on the page."""
    parts = []
    if view["ceased"]:
        reason = view.get("ceased_reason") or "closed"
        when = str(view.get("ceased_at") or "")[:10]
        parts.append(
            "<div class='notice ceased' role='alert'><strong>This passport has ceased</strong>"
            f"The battery was {escape(reason)}{f' on {escape(when)}' if when else ''}: its passport is closed "
            "(Regulation (EU) 2023/1542, Art. 77(8)). The information below is as last recorded.</div>"
        )
    if view["successor_ids"]:
        parts.append(
            "<div class='notice superseded' role='alert'><strong>This passport has been continued</strong>"
            "The battery was repurposed, remanufactured or prepared for re-use, and a new passport continues this "
            f"one (Art. 77(7)). Read the current passport:{_successor_links(view)}"
            "This passport is kept for its history.</div>"
        )
    return "".join(parts)


def render_html(view: dict[str, Any], restricted: dict[str, list[str]]) -> str:
    static: dict[str, Any] = view["static_data"]
    sections: dict[str, list[str]] = {}
    for field, value in static.items():
        category = by_key(longlist_key_of(field)).category
        unit = "" if isinstance(value, dict | list) else escape(_unit(field))
        sections.setdefault(category, []).append(f"<dt>{escape(_label(field))}</dt><dd>{_value(value)}{unit}</dd>")
    manufacturer = (static.get("manufacturer") or {}).get("name", "")
    model = static.get("battery_model") or ""
    kind = str(view.get("kind") or "")
    category = str(view.get("category") or "")
    identification = (
        f"<dt>Passport status</dt><dd>{escape(lifecycle_status(view))}</dd>"
        f"<dt>Battery identifier</dt><dd>{escape(str(view.get('battery_identifier')))}</dd>"
        f"<dt>Passport identifier</dt><dd>{escape(str(view['passport_id']))}</dd>"
        f"<dt>Kind</dt><dd>{escape(KIND_NAMES.get(kind, kind))}</dd>"
        f"<dt>Battery category</dt><dd>{escape(CATEGORY_NAMES.get(category, category))}</dd>"
        f"<dt>Passport URI</dt><dd>{_value(view.get('public_uri'))}</dd>"
    )
    if view["successor_ids"]:
        identification += f"<dt>Continued by</dt><dd>{_successor_links(view)}</dd>"
    body = "".join(
        f"<section><h2>{escape(name)}</h2><dl>{''.join(items)}</dl></section>" for name, items in sections.items()
    )
    if view["public_extensions"]:
        items = "".join(
            f"<dt>{escape(name.replace('_', ' ').capitalize())}</dt><dd>{_value(value)}</dd>"
            for name, value in view["public_extensions"].items()
        )
        body += f"<section><h2>More from the manufacturer</h2><dl>{items}</dl></section>"
    if restricted:
        lines = "".join(
            f"<li>{escape(', '.join(_label(n) for n in names))}: for {escape(TIER_READERS.get(tier, tier))}.</li>"
            for tier, names in restricted.items()
        )
        body += (
            "<section><h2>Restricted information</h2><p class='note'>This passport holds more data than is shown "
            "here, readable only by those entitled (Regulation (EU) 2023/1542, Art. 77(2)):</p>"
            f"<ul>{lines}</ul></section>"
        )
    title = f"Battery passport {view.get('battery_identifier')}"
    if view["ceased"]:
        title += " (ceased)"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title>"
        f"<style>{CSS}</style></head><body>"
        f"<header><h1>Battery passport</h1><p>{escape(str(model))} · {escape(str(manufacturer))}</p></header>"
        f"<main>{_notice(view)}<section><h2>Identification</h2><dl>{identification}</dl></section>{body}</main>"
        "<footer>Public information of the EU battery passport (Regulation (EU) 2023/1542, Annex XIII).</footer>"
        "</body></html>"
    )


def not_found_html(passport_id: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Passport not found</title><style>{CSS}</style></head><body>"
        "<header><h1>Battery passport</h1></header><main><h2>Passport not found</h2>"
        f"<p>No passport {escape(passport_id)} is known here.</p><p>Check that the link or QR code is complete; if it "
        "came from a battery label, contact its manufacturer. A passport minted a moment ago appears within "
        "seconds.</p></main></body></html>"
    )


def _not_found(passport_id: str, html: bool) -> Response:
    headers = {"Cache-Control": "no-store", "Vary": "Accept"}  # a passport just minted is here within seconds
    if html:
        page = not_found_html(passport_id)
        return Response(page, status_code=404, media_type="text/html; charset=utf-8", headers=headers)
    return problem_response(404, "passport_not_found", f"No passport {passport_id} is known here.", headers=headers)


@router.get(
    "/passport/{passport_id}",
    summary="The public passport (QR code target): public tier only, HTML or JSON",
    responses={
        200: {"content": {"text/html": {}, "application/json": {}}},
        404: {
            "description": "No such passport (`passport_not_found`).",
            "content": {"application/json": {}, "text/html": {}},
        },
    },
)
async def public_passport(
    passport_id: str,
    request: Request,
    format: Literal["json", "html"] | None = Query(
        None, description="Overrides `Accept`: HTML for browsers, JSON for machines (`*/*` and no Accept: JSON)."
    ),
) -> Response:
    html = format == "html" or (format is None and prefers_html(request.headers.get("accept")))
    if not UUID.match(passport_id):
        return _not_found(passport_id[:100], html)
    pid = f"urn:uuid:{passport_id.lower().removeprefix('urn:uuid:')}"
    variant = "html" if html else "json"
    media = "text/html; charset=utf-8" if html else "application/json"
    cache: PassportCache = request.app.state.passport_cache
    cached = await cache.get_public(pid, variant)
    if cached is not None:
        return Response(cached, media_type=media, headers={**HEADERS, "X-Cache": "hit"})
    row = await store.current(runtime_of(request).pool, pid)
    if row is None or not row["state"].get("minted"):
        return _not_found(pid, html)
    view = public_view(row["state"])
    body = render_html(view, restricted_fields(row["state"])).encode() if html else orjson.dumps(view)
    await cache.put_public(pid, variant, body, row["version"])
    return Response(body, media_type=media, headers={**HEADERS, "X-Cache": "miss"})
