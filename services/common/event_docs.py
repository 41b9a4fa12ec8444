"""`/docs/events`: the services' committed AsyncAPI documents (docs/asyncapi/) rendered in the browser by the AsyncAPI
React component's standalone bundle, served from the project's own node_modules (`make install`): no CDN, works
offline. Mounted by one service (reporting, which the gateway's catch-all location also serves)."""

from __future__ import annotations

import html
import json
from functools import cache
from typing import Any

import yaml
from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from services.common.problems import problem_response
from services.common.settings import REPO_ROOT

DOCUMENTS = REPO_ROOT / "docs" / "asyncapi"
SERVICES = ("identity", "custody", "recovery", "reporting")
RENDERER = REPO_ROOT / "node_modules" / "@asyncapi" / "react-component"
ASSETS = {
    "asyncapi-standalone.js": (RENDERER / "browser" / "standalone" / "index.js", "text/javascript"),
    "asyncapi.css": (RENDERER / "styles" / "default.min.css", "text/css"),
}

router = APIRouter(prefix="/docs/events", include_in_schema=False)


@cache
def _document(service: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCUMENTS / f"{service}.yaml").read_text(encoding="utf-8"))
    return loaded


def _not_here() -> Response:
    return problem_response(
        503,
        "event_docs_not_installed",
        f"The AsyncAPI documents are not in this installation ({DOCUMENTS}): run from a checkout of the repository.",
        field="path.service",
    )


def _unknown_service(service: str) -> Response:
    return problem_response(
        404,
        "unknown_service",
        f"No event documentation for {service[:80]!r}; services: {', '.join(SERVICES)}.",
        field="path.service",
    )


def page(service: str) -> str:
    """The HTML page of one service's document: the document embedded as JSON, rendered by the local bundle."""
    # `<` escaped so that no string in the document can close the script element.
    data = json.dumps(_document(service)).replace("<", "\\u003c")
    nav = " · ".join(
        f"<a href='/docs/events/{s}'{' aria-current=page' if s == service else ''}>{s}</a>" for s in SERVICES
    )
    config = {"show": {"sidebar": True}, "expand": {"messageExamples": True}}
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Events · bpass {html.escape(service)}</title>"
        "<link rel='stylesheet' href='/docs/events/assets/asyncapi.css'></head><body>"
        f"<nav style='padding:.5rem 1rem;font-family:system-ui'>Kafka events (AsyncAPI 3.0): {nav} · "
        f"<a href='/docs/events/{service}.yaml'>{service}.yaml</a></nav>"
        "<div id='asyncapi'></div>"
        f"<script id='asyncapi-document' type='application/json'>{data}</script>"
        "<script src='/docs/events/assets/asyncapi-standalone.js'></script>"
        "<script>AsyncApiStandalone.render({schema: JSON.parse(document.getElementById('asyncapi-document')"
        f".textContent), config: {json.dumps(config)}}}, document.getElementById('asyncapi'));</script>"
        "</body></html>"
    )


@router.get("", response_class=HTMLResponse)
async def events_index() -> Response:
    if not (DOCUMENTS / f"{SERVICES[0]}.yaml").is_file():
        return _not_here()
    return HTMLResponse(page(SERVICES[0]))


@router.get("/assets/{name}")
async def asset(name: str) -> Response:
    if name not in ASSETS:
        return problem_response(404, "unknown_asset", f"No asset {name[:80]!r}.", field="path.name")
    path, media = ASSETS[name]
    if not path.is_file():
        return problem_response(
            503,
            "renderer_not_installed",
            "The AsyncAPI renderer is not installed here: run `make install` (npm packages).",
            field="path.name",
        )
    return Response(path.read_bytes(), media_type=media, headers={"Cache-Control": "max-age=3600"})


@router.get("/{name}")
async def service_events(name: str) -> Response:
    service, _, suffix = name.partition(".")
    if service not in SERVICES or suffix not in ("", "yaml"):
        return _unknown_service(name)
    if not (DOCUMENTS / f"{service}.yaml").is_file():
        return _not_here()
    if suffix == "yaml":
        return Response((DOCUMENTS / f"{service}.yaml").read_bytes(), media_type="application/yaml; charset=utf-8")
    return HTMLResponse(page(service))
