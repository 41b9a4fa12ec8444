"""The HTTP application of a service: its lifespan (the runtime started and stopped with it), the middleware every
service shares, the health and metrics routes, then the service's own routers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common import metrics
from services.common.api_docs import document_request_examples, document_security, install_docs
from services.common.db import set_scope
from services.common.jsonpolicy import JsonPolicyMiddleware
from services.common.problems import COMMON_RESPONSES, document_problems, install_error_handlers

if TYPE_CHECKING:
    from services.common.runtime import Runtime


def http_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    service, spec = runtime.name, runtime.spec
    app = FastAPI(
        title=f"bpass {service}",
        description=spec.description,
        version="1",
        lifespan=lifespan,
        openapi_url=f"/{service}/openapi.json",
        docs_url=None,  # Swagger UI and ReDoc come from services/common/api_docs.py, without a CDN
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.runtime = runtime
    app.state.keyring = runtime.keyring
    for name, value in spec.state.items():
        setattr(app.state, name, value)
    install_error_handlers(app)
    app.add_middleware(JsonPolicyMiddleware)  # before any route decodes a body (services/common/jsonpolicy.py)

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        set_scope(None)  # nothing is visible until the route's principal says whose data it may touch
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.HTTP_SECONDS.labels(service, request.method, path, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response

    prefix = f"/{service}"

    @app.get(f"{prefix}/health/live", tags=["ops"], summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "live", "service": service}

    @app.get(f"{prefix}/health/ready", tags=["ops"], summary="Broker, database and cache reachable")
    async def ready() -> JSONResponse:
        checks = await runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks}, 200 if ok else 503)

    @app.get(f"{prefix}/metrics", tags=["ops"], summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics_endpoint() -> PlainTextResponse:
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    install_docs(app, service)
    for router in spec.routers:
        app.include_router(router, responses=COMMON_RESPONSES)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=runtime.tracer_provider)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = document_security(app, document_problems(generate()))
            app.openapi_schema = document_request_examples(service, document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
