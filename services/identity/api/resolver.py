"""The public resolver: what a phone reaches by scanning a passport's QR code. No API key.

`/p/<uuid>` and GS1 Digital Link URIs `/01/<GTIN>[/10/<batch>]/21/<serial>` (either qualifier order,
percent-encoded values) name a passport; identity, which owns the identifiers, checks the link (GTIN check digit,
qualifiers) and answers `307` to the passport's one public page, `/passport/<passport id>`, which reporting renders
from the read model (with the passport's end of life: ceased, continued by a successor), as HTML or JSON by
`Accept` (the redirect keeps the request's headers). As a GS1-conformant resolver does, it redirects rather than
serves. A link that names no passport, or is not a passport link, is answered here (404, 400; HTML to browsers).
The QR code of a passport is public too (it is printed on the battery).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from contracts.errors import ValidationFailed
from services.common.auth import public_surface
from services.common.negotiation import prefers_html
from services.common.problems import problem_response, violations_response
from services.common.ratelimit import rate_limited
from services.identity.api import resolver_pages
from services.identity.api.common import DEFAULT_BODY_LIMIT, limited_route, runtime_of
from services.identity.domain import identifiers, qr
from services.identity.store import passports as store

# Per client address (the connection's, or the one the gateway vouches for); a phone scanning labels stays far below.
REQUESTS_PER_MINUTE = 600
router = APIRouter(
    tags=["resolver"],
    route_class=limited_route(DEFAULT_BODY_LIMIT),
    dependencies=[rate_limited(REQUESTS_PER_MINUTE, "identity-resolver"), Depends(public_surface)],
    responses={429: {"description": "Too many requests from this address (`rate_limited`); see Retry-After."}},
)

_EITHER: dict[str, dict[str, Any]] = {"application/json": {}, "text/html": {}}

_NEGOTIATED = {"Vary": "Accept", "Cache-Control": "public, max-age=60"}
# An identifier names the same passport for ever (minting is idempotent): the redirect may be kept a while.
_REDIRECT = {"Vary": "Accept", "Cache-Control": "public, max-age=300"}
_QR_CACHE = {"Cache-Control": "public, max-age=86400"}
_PUBLIC_RESPONSES: dict[int | str, dict[str, Any]] = {
    307: {"description": "The passport's public page: `Location: /passport/<passport id>` (HTML or JSON by Accept)."},
    404: {"description": "No such passport (`passport_not_found`).", "content": _EITHER},
}
_QR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such passport (`passport_not_found`).", "content": _EITHER},
}


def _not_found(request: Request, what: str) -> Response:
    message = f"No passport is known for {what}."
    if prefers_html(request.headers.get("accept")):
        return HTMLResponse(resolver_pages.not_found_page(message), status_code=404, headers=_NEGOTIATED)
    return problem_response(404, "passport_not_found", message, headers=_NEGOTIATED)


def public_page(passport_id: str) -> str:
    """Where the passport's public page is (reporting, behind the same gateway)."""
    return f"/passport/{passport_id}"


def _redirect(passport_id: str) -> Response:
    return RedirectResponse(public_page(passport_id), status_code=307, headers=_REDIRECT)


async def _by_platform_id(request: Request, passport_ref: str) -> dict[str, Any] | None:
    try:
        passport_id = identifiers.format_passport_id(identifiers.parse_passport_id(passport_ref))
    except ValidationFailed:
        return None
    return await store.get_passport(runtime_of(request).pool, None, passport_id)


@router.get(
    "/p/{passport_ref}",
    summary="The passport's QR code URI: 307 to its public page",
    response_class=Response,
    responses=_PUBLIC_RESPONSES,
)
async def resolve_platform_uri(passport_ref: str, request: Request) -> Response:
    row = await _by_platform_id(request, passport_ref)
    if row is None:
        return _not_found(request, f"/p/{passport_ref}")
    return _redirect(row["passport_id"])


@router.get(
    "/p/{passport_ref}/qr.svg",
    summary="The passport's QR code (SVG)",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **_QR_RESPONSES},
)
async def public_qr_svg(passport_ref: str, request: Request) -> Response:
    row = await _by_platform_id(request, passport_ref)
    if row is None:
        return _not_found(request, f"/p/{passport_ref}")
    return Response(qr.qr_svg(row["public_uri"]), media_type="image/svg+xml", headers=_QR_CACHE)


@router.get(
    "/p/{passport_ref}/qr.png",
    summary="The passport's QR code (PNG)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **_QR_RESPONSES},
)
async def public_qr_png(
    passport_ref: str,
    request: Request,
    scale: int = Query(8, ge=1, le=40, description="Pixels per module."),
) -> Response:
    row = await _by_platform_id(request, passport_ref)
    if row is None:
        return _not_found(request, f"/p/{passport_ref}")
    return Response(qr.qr_png(row["public_uri"], scale=scale), media_type="image/png", headers=_QR_CACHE)


@router.get(
    "/01/{digital_link_path:path}",
    summary="GS1 Digital Link resolver: /01/<GTIN>[/10/<batch>]/21/<serial>; 307 to the passport's public page",
    response_class=Response,
    responses={**_PUBLIC_RESPONSES, 400: {"description": "Not a GS1 Digital Link of a passport.", "content": _EITHER}},
)
async def resolve_digital_link(digital_link_path: str, request: Request) -> Response:
    # The raw path keeps percent-encoding: a serial may contain an encoded '/'.
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    path = raw_path.decode("latin-1")
    try:
        parts = identifiers.parse_digital_link(f"https://resolver{path}", field="uri")
    except ValidationFailed as failed:
        if prefers_html(request.headers.get("accept")):
            return HTMLResponse(
                resolver_pages.invalid_link_page(failed.violations), status_code=400, headers=_NEGOTIATED
            )
        return violations_response(failed.violations, status_code=400)
    row = await store.find_by_gtin_serial(runtime_of(request).pool, parts.gtin, parts.serial)
    if row is None or (parts.batch is not None and row["batch_number"] != parts.batch):
        return _not_found(request, f"GTIN {parts.gtin}, serial {parts.serial}")
    return _redirect(row["passport_id"])
