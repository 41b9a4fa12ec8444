"""Each service's API docs, readable on a machine with no network: Swagger UI at `/<service>/docs` and ReDoc at
`/<service>/redoc`, their scripts and styles served by the service itself from the files the pinned
`fastapi-offline` package ships (no CDN, no web fonts, no remote favicon); and the OpenAPI document's
`securitySchemes` (the API key in `X-API-Key`, or the same key as a bearer token, services/common/auth.py),
required by every operation whose dependencies require a principal and offered to those that merely accept one,
so that "Authorize" in Swagger UI sends the key; and an example of each request body, which each service keeps
beside its routes in `services/<service>/api/request_examples.json` (`"<METHOD> <path>": <body>`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from services.common.auth import optional_principal, require_principal

API_KEY_SCHEME = "ApiKey"
BEARER_SCHEME = "Bearer"
SECURITY_SCHEMES: dict[str, Any] = {
    API_KEY_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key (created with `bpass keys create` or `POST /identity/v1/api-keys`).",
    },
    BEARER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "The same API key, sent as `Authorization: Bearer <key>`.",
    },
}
KEYED: list[dict[str, list[str]]] = [{API_KEY_SCHEME: []}, {BEARER_SCHEME: []}]
OPTIONALLY_KEYED: list[dict[str, list[str]]] = [*KEYED, {}]  # `{}`: anonymous callers are answered too
# The pages may load from and talk to their service only: the browser refuses anything else before it leaves (ReDoc's
# bundle still names a remote logo). Inline: Swagger UI's start-up script and both UIs' styles; blob: ReDoc's worker.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'"
)
HIDE_REDOCLY_LOGO = 'a[href*="redocly.com"] { display: none; }'
# The credentials' own header parameters, which the security schemes now describe (and Swagger UI fills in).
CREDENTIAL_HEADERS = frozenset({"x-api-key", "authorization"})
SERVICES_DIRECTORY = Path(__file__).resolve().parent.parent


def assets_directory() -> Path:
    """Swagger UI's and ReDoc's files (swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png)."""
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI, service: str) -> None:
    """Swagger UI at `/<service>/docs`, ReDoc at `/<service>/redoc`, both from `/<service>/docs-assets/`: every
    URL stays under the service's prefix, which the gateway routes to it."""
    assets = f"/{service}/docs-assets"
    openapi_url = app.openapi_url or f"/{service}/openapi.json"
    app.mount(assets, StaticFiles(directory=assets_directory()), name="docs-assets")

    @app.get(f"/{service}/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters={"persistAuthorization": True, "displayRequestDuration": True},
        )
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    @app.get(f"/{service}/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/favicon.png",
            with_google_fonts=False,
        )
        html = bytes(page.body).decode().replace("</style>", f"  {HIDE_REDOCLY_LOGO}\n    </style>", 1)
        return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_CSP})


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def operations(app: FastAPI) -> Iterator[Any]:
    """The app's documented routes as served, each with its dependencies, its routers' included (FastAPI 0.16x
    keeps included routers whole and combines their settings per route: `iter_route_contexts`)."""
    iterate = getattr(routing, "iter_route_contexts", None)
    for route in iterate(app.routes) if iterate is not None else app.routes:
        if getattr(route, "dependant", None) is not None and getattr(route, "include_in_schema", False):
            yield route


def security_of(dependant: Dependant) -> list[dict[str, list[str]]] | None:
    """What an operation asks of its caller, read from its dependencies: a key (`require_principal`, which
    `require_roles` depends on), optionally a key (`optional_principal` alone: the public resolver, which shows
    more to a keyed caller), or nothing."""
    calls = set(_calls(dependant))
    if require_principal in calls:
        return KEYED
    if optional_principal in calls:
        return OPTIONALLY_KEYED
    return None


def document_security(app: FastAPI, openapi: dict[str, Any]) -> dict[str, Any]:
    """Declare the security schemes and put each operation's requirement on it."""
    openapi.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    paths = openapi.get("paths", {})
    for route in operations(app):
        security = security_of(route.dependant)
        for method in route.methods:
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            if security is not None:
                operation["security"] = security
            parameters = [
                parameter
                for parameter in operation.get("parameters", [])
                if not (parameter.get("in") == "header" and parameter.get("name", "").lower() in CREDENTIAL_HEADERS)
            ]
            if parameters:
                operation["parameters"] = parameters
            else:
                operation.pop("parameters", None)
    return openapi


def request_examples_file(service: str) -> Path:
    return SERVICES_DIRECTORY / service / "api" / "request_examples.json"


def document_request_examples(service: str, openapi: dict[str, Any]) -> dict[str, Any]:
    """Put each request body's example on its operation (as `example` of its JSON media type), unless the
    route documents one itself. An example naming no operation with a body is an error: it went stale."""
    path = request_examples_file(service)
    examples: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    paths = openapi.get("paths", {})
    for name, example in examples.items():
        method, _, route = name.partition(" ")
        operation = paths.get(route, {}).get(method.lower(), {})
        media = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if media is None:
            raise ValueError(f"{path.name}: {name!r} is no operation of {service} with a JSON request body")
        if "example" not in media and "examples" not in media:
            media["example"] = example
    return openapi
