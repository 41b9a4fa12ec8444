"""Composition root of the reporting service."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from contracts import topics
from services.common.runtime import Runtime, ServiceSpec, Subscription, serve
from services.common.settings import Settings
from services.reporting import api
from services.reporting.cache import PassportCache
from services.reporting.handlers import Projector

home = APIRouter()


@home.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index() -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Battery passport platform</title></head>"
        "<body><main><h1>Battery passport platform</h1><p>APIs: "
        "<a href='/identity/docs'>identity</a>, <a href='/custody/docs'>custody</a>, "
        "<a href='/recovery/docs'>recovery</a>, <a href='/reporting/docs'>reporting</a>.</p></main></body></html>"
    )


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    cache = PassportCache()
    projector = Projector(cache)

    async def bind_cache(runtime: Runtime) -> None:
        cache.redis = runtime.redis

    spec = ServiceSpec(
        name="reporting",
        description="Passport read model, OEM reports and exports, and per-tenant passport change streams.",
        migrations=Path(__file__).parent / "migrations",
        rejected_topic=topics.REPORTING_REJECTED,
        subscriptions=[
            Subscription(topics.PASSPORT_MINTED, projector.on_passport_minted, "Minted passports."),
            Subscription(topics.CUSTODY_RECORDED, projector.on_custody_recorded, "Custody steps."),
        ],
        publishes=[topics.REPORTING_REJECTED],
        routers=[api.router, home],
        on_start=[bind_cache],
    )
    spec.state["passport_cache"] = cache
    return spec


def main() -> None:
    serve(build_spec)


if __name__ == "__main__":
    main()
