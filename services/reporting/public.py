"""The public passport: what a phone reaches by scanning a battery's QR code, and the one place it is rendered.

Identity's resolver answers the QR code's URI (`/p/<id>`, GS1 Digital Link `/01/<GTIN>/21/<serial>`) with a
`307` to `/passport/<passport id>` here; this page is the public tier of the read model (`domain/public.py`, cut by
`domain/tiers.py`): identification, the public static data, and, prominently, whether the passport has ceased
(recycled) or been continued by a new passport, with links to its successors. HTML to browsers, JSON to machines
(`Accept`, or `?format=`), served from Redis and dropped from it when the passport changes (`cache.py`).

The HTML page is for a person holding the battery, on a phone first: what it is, whether it is dangerous and how to
return it on the first screen (`domain/public.py: essentials`), everything else in collapsible sections, in the
reader's language (`Accept-Language` or `?lang=`; English, German, French; `i18n/catalogue.toml`). Templates:
`templates/public/`; style: `static/public.css`, inlined; the separate-collection symbol: `static/public-*.svg`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from markupsafe import Markup

from contracts.attributes import by_key
from contracts.passport_data import FIELD_LONGLIST_KEYS, longlist_key_of
from services.common.auth import public_surface
from services.common.negotiation import prefers_html
from services.common.problems import problem_response
from services.common.ratelimit import rate_limited
from services.reporting.api.common import runtime_of
from services.reporting.domain.public import detail_sections, essentials, public_view, restricted_fields
from services.reporting.i18n import DEFAULT, LANGUAGES, NAMES, Words, negotiate, words
from services.reporting.store import passports as store
from services.reporting.store.cache import PassportCache
from services.reporting.templating import render

# Per client address (the connection's, or the one the gateway vouches for), like the identity resolver.
REQUESTS_PER_MINUTE = 600
router = APIRouter(
    tags=["public"],
    dependencies=[Depends(public_surface), rate_limited(REQUESTS_PER_MINUTE, "reporting-public")],
    responses={429: {"description": "Too many requests from this address (`rate_limited`); see Retry-After."}},
)
UUID = re.compile(r"^(urn:uuid:)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# HTML varies by Accept-Language too; JSON is the same in every language.
HTML_HEADERS = {"Cache-Control": "public, max-age=60", "Vary": "Accept, Accept-Language"}
JSON_HEADERS = {"Cache-Control": "public, max-age=60", "Vary": "Accept", "Content-Language": "en"}
STATIC = Path(__file__).resolve().parent / "static"
CSS = (STATIC / "public.css").read_text(encoding="utf-8")
ASSETS = {"separate-collection.svg": ("public-separate-collection.svg", "image/svg+xml")}
SYMBOL_SRC = "/passport/assets/separate-collection.svg"
DATE_FIELDS = frozenset({"manufacturing_date"})


def passport_path(passport_id: str) -> str:
    """The public page of a passport, on the gateway that serves this one."""
    return f"/passport/{passport_id}"


def link_text(url: str) -> str:
    """A web address as a person reads it: host and last path segment, no scheme."""
    parts = urlsplit(url)
    tail = parts.path.rstrip("/").rsplit("/", 1)[-1]
    return f"{parts.netloc}/…/{tail}" if tail and parts.path.count("/") > 1 else f"{parts.netloc}{parts.path}"


def _scalar(words: Words) -> Callable[[str, str, Any], str]:
    def scalar(key: str, group: str, value: Any) -> str:
        """One value in the reader's language: yes/no, dates, numbers with their unit, countries, categories."""
        if isinstance(value, bool):
            return words("ui", "yes" if value else "no")
        if group == "part" and key == "country_code":
            return words.country(value)
        if group != "field" or key not in FIELD_LONGLIST_KEYS:
            return str(value)
        if key in DATE_FIELDS:
            return words.date(value)
        if key == "battery_category":
            return words.label("battery_category", str(value))
        unit = by_key(longlist_key_of(key)).unit
        if isinstance(value, int) or (isinstance(value, str) and _is_number(value)):
            number = words.number(value)
            return f"{number} {unit}" if unit else number
        return str(value)

    return scalar


def _is_number(value: Any) -> bool:
    try:
        Decimal(str(value))
    except InvalidOperation:
        return False
    return True


def render_html(view: dict[str, Any], restricted: dict[str, list[str]], language: str = DEFAULT) -> str:
    """The public page of a passport's public view, in `language` (one of `i18n.LANGUAGES`)."""
    w = words(language)
    title = w("ui", "page_title", identifier=view.get("battery_identifier") or view["passport_id"])
    if view["ceased"]:
        title += f" {w('ui', 'title_ceased')}"
    return render(
        "public/passport.html",
        w=w,
        view=view,
        e=essentials(view),
        sections=detail_sections(view),
        restricted=restricted,
        title=title,
        css=Markup(CSS),  # the project's own file, not data  # noqa: S704
        languages=list(NAMES.items()),
        symbol_src=SYMBOL_SRC,
        passport_path=passport_path,
        link_text=link_text,
        scalar=_scalar(w),
    )


def render_all(view: dict[str, Any], restricted: dict[str, list[str]]) -> dict[str, str]:
    """The page in every language it speaks: what the cache keeps for a passport."""
    return {language: render_html(view, restricted, language) for language in LANGUAGES}


def not_found_html(passport_id: str, language: str = DEFAULT) -> str:
    return render(
        "public/not_found.html",
        w=words(language),
        passport_id=passport_id,
        css=Markup(CSS),  # noqa: S704
        languages=list(NAMES.items()),
    )


def _language(request: Request, lang: str | None) -> str:
    return lang or negotiate(request.headers.get("accept-language"))


def _not_found(passport_id: str, html: bool, language: str) -> Response:
    if html:  # a passport just minted is here within seconds
        headers = {"Cache-Control": "no-store", "Vary": "Accept, Accept-Language", "Content-Language": language}
        page = not_found_html(passport_id, language)
        return Response(page, status_code=404, media_type="text/html; charset=utf-8", headers=headers)
    headers = {"Cache-Control": "no-store", "Vary": "Accept"}
    return problem_response(404, "passport_not_found", f"No passport {passport_id} is known here.", headers=headers)


@router.get("/passport/assets/{name}", include_in_schema=False)
async def public_asset(name: str) -> Response:
    """The page's own images (the separate-collection symbol), drawn for this page."""
    if name not in ASSETS:
        return problem_response(404, "asset_not_found", f"No asset {name[:100]} is served here.")
    file, media = ASSETS[name]
    return Response((STATIC / file).read_bytes(), media_type=media, headers={"Cache-Control": "public, max-age=86400"})


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
    lang: Literal["en", "de", "fr"] | None = Query(
        None, description="Overrides `Accept-Language` for the HTML page (English, German, French; else English)."
    ),
) -> Response:
    html = format == "html" or (format is None and prefers_html(request.headers.get("accept")))
    language = _language(request, lang)
    if not UUID.match(passport_id):
        return _not_found(passport_id[:100], html, language)
    pid = f"urn:uuid:{passport_id.lower().removeprefix('urn:uuid:')}"
    cache: PassportCache = request.app.state.passport_cache
    variant = "html" if html else "json"
    cached = await cache.get_public(pid, variant)
    if cached is not None and (answer := _answer(cached, html, language, "hit")) is not None:
        return answer
    row = await store.current(runtime_of(request).pool, pid)
    if row is None or not row["state"].get("minted"):
        return _not_found(pid, html, language)
    view = public_view(row["state"])
    # One cache entry a passport and variant (the one the cache drops on change): HTML in every language at once.
    body = orjson.dumps(render_all(view, restricted_fields(row["state"]))) if html else orjson.dumps(view)
    await cache.put_public(pid, variant, body, row["version"])
    answer = _answer(body, html, language, "miss")
    assert answer is not None  # rendered just now, in every language
    return answer


def _answer(body: bytes, html: bool, language: str, cache_state: str) -> Response | None:
    """The response from a cache entry (or one just made); None when the entry is not of this version's shape."""
    if not html:
        return Response(body, media_type="application/json", headers={**JSON_HEADERS, "X-Cache": cache_state})
    try:
        pages = orjson.loads(body)
    except orjson.JSONDecodeError:  # an entry from before the page spoke several languages: render it again
        return None
    page = pages.get(language) if isinstance(pages, dict) else None
    if not isinstance(page, str):
        return None
    headers = {**HTML_HEADERS, "Content-Language": language, "X-Cache": cache_state}
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)
