"""The public passport page behind the QR code: the public tier only, as accessible HTML (or JSON), served from
Redis and dropped from it when the passport changes. Identity's resolver (`/p/{id}`, `/01/.../21/...`) can
send browsers here (`303 → /passport/{passport id}`)."""

from __future__ import annotations

import re
from html import escape
from typing import Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import Response

from contracts.attributes import by_key
from contracts.passport_data import longlist_key_of
from services.common.auth import public_surface
from services.common.ratelimit import rate_limited
from services.reporting import store
from services.reporting.api.common import runtime_of
from services.reporting.cache import PassportCache
from services.reporting.domain.public import public_view

# Per client address (behind the gateway: its X-Forwarded-For), like the identity resolver.
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

CSS = (
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:#111;background:#fff}"
    "header{background:#0b3d5c;color:#fff;padding:1rem}header h1{margin:0;font-size:1.3rem}"
    "header p{margin:.2rem 0 0;color:#e6f0f7}main{padding:1rem;max-width:46rem;margin:0 auto}"
    "section{border-top:1px solid #c9d3dc;padding:.4rem 0}h2{font-size:1.05rem;margin:.6rem 0}"
    "dl{display:grid;grid-template-columns:minmax(8rem,40%) 1fr;gap:.25rem .8rem;margin:0}"
    "dt{font-weight:600;color:#222}dd{margin:0;overflow-wrap:anywhere}a{color:#0b4f8a}"
    ".notice{background:#fff4d6;border:1px solid #8a6d00;padding:.6rem;color:#3d2f00}"
    "ul{margin:0;padding-left:1.1rem}footer{padding:1rem;color:#444;font-size:.85rem;text-align:center}"
    "@media (max-width:30rem){dl{grid-template-columns:1fr}dt{margin-top:.4rem}}"
)


def _label(field: str) -> str:
    return by_key(longlist_key_of(field)).name


def _unit(field: str) -> str:
    unit = by_key(longlist_key_of(field)).unit
    return f" {unit}" if unit and not field.endswith("_url") else ""


def _value(value: Any) -> str:
    if isinstance(value, str) and value.startswith(("https://", "http://")):
        return f"<a href='{escape(value)}' rel='noopener'>{escape(value)}</a>"
    if isinstance(value, dict):
        return (
            "<dl>"
            + "".join(f"<dt>{escape(k.replace('_', ' '))}</dt><dd>{_value(v)}</dd>" for k, v in value.items())
            + "</dl>"
        )
    if isinstance(value, list):
        if not value:
            return "none"
        return "<ul>" + "".join(f"<li>{_value(v)}</li>" for v in value) + "</ul>"
    return escape(str(value))


def render_html(view: dict[str, Any]) -> str:
    static: dict[str, Any] = view["static_data"]
    sections: dict[str, list[str]] = {}
    for field, value in static.items():
        category = by_key(longlist_key_of(field)).category
        unit = "" if isinstance(value, dict | list) else escape(_unit(field))
        sections.setdefault(category, []).append(f"<dt>{escape(_label(field))}</dt><dd>{_value(value)}{unit}</dd>")
    manufacturer = (static.get("manufacturer") or {}).get("name", "")
    model = static.get("battery_model") or ""
    notice = ""
    if view["ceased"]:
        notice = (
            "<p class='notice' role='status'>This battery has been recycled: its passport has ceased "
            "(Regulation (EU) 2023/1542, Art. 77(8)). The information below is as last recorded.</p>"
        )
    body = "".join(
        f"<section><h2>{escape(name)}</h2><dl>{''.join(items)}</dl></section>" for name, items in sections.items()
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Battery passport {escape(str(view['battery_identifier']))}</title>"
        f"<style>{CSS}</style></head><body>"
        f"<header><h1>Battery passport</h1><p>{escape(str(model))} · {escape(str(manufacturer))}</p></header>"
        f"<main>{notice}<section><h2>Identification</h2><dl>"
        f"<dt>Battery identifier</dt><dd>{escape(str(view['battery_identifier']))}</dd>"
        f"<dt>Passport identifier</dt><dd>{escape(str(view['passport_id']))}</dd>"
        f"<dt>Battery category</dt><dd>{escape(CATEGORY_NAMES.get(str(view['category']), str(view['category'])))}</dd>"
        f"<dt>Passport URI</dt><dd>{_value(view['public_uri'])}</dd></dl></section>{body}</main>"
        "<footer>Public information of the EU battery passport (Regulation (EU) 2023/1542, Annex XIII).</footer>"
        "</body></html>"
    )


@router.get(
    "/passport/{passport_id}",
    summary="Public passport page (QR code target): public tier only, HTML or JSON",
    responses={200: {"content": {"text/html": {}, "application/json": {}}}},
)
async def public_passport(
    passport_id: str,
    request: Request,
    format: str | None = None,
) -> Response:
    if not UUID.match(passport_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, {"reason": "passport_not_found", "message": "No such passport."})
    pid = passport_id.lower() if passport_id.startswith("urn:uuid:") else f"urn:uuid:{passport_id.lower()}"
    wants_json = format == "json" or (format is None and "application/json" in request.headers.get("accept", ""))
    variant = "json" if wants_json else "html"
    media = "application/json" if wants_json else "text/html; charset=utf-8"
    cache: PassportCache = request.app.state.passport_cache
    cached = await cache.get_public(pid, variant)
    headers = {"Cache-Control": "public, max-age=60", "Vary": "Accept", "Content-Language": "en"}
    if cached is not None:
        return Response(cached, media_type=media, headers={**headers, "X-Cache": "hit"})
    row = await store.current(runtime_of(request).pool, pid)
    if row is None or not row["state"].get("minted"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, {"reason": "passport_not_found", "message": "No such passport."})
    view = public_view(row["state"])
    body = orjson.dumps(view) if wants_json else render_html(view).encode()
    await cache.put_public(pid, variant, body, row["version"])
    return Response(body, media_type=media, headers={**headers, "X-Cache": "miss"})
