"""Composition root of the reporting service."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from contracts import topics
from services.common import event_docs
from services.common.runtime import Runtime, ServiceSpec, serve
from services.common.settings import Settings
from services.reporting import public, signing
from services.reporting.api import access_log as access_log_api
from services.reporting.api import exports as exports_api
from services.reporting.api import lineage as lineage_api
from services.reporting.api import passports as passports_api
from services.reporting.api import reports as reports_api
from services.reporting.dashboard import export_pages, passport_page
from services.reporting.dashboard import views as dashboard
from services.reporting.exports.jobs import ExportRunner
from services.reporting.messaging.streams import TenantTopics
from services.reporting.messaging.subscribers import FactSubscriber, subscriptions
from services.reporting.store.cache import PassportCache
from services.reporting.usecases.project import Projection

home = APIRouter()


@home.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index() -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Battery passport platform</title></head>"
        "<body><main><h1>Battery passport platform</h1><p><a href='/dashboard'>OEM dashboard</a></p><p>APIs: "
        "<a href='/identity/docs'>identity</a>, <a href='/custody/docs'>custody</a>, "
        "<a href='/recovery/docs'>recovery</a>, <a href='/reporting/docs'>reporting</a>.</p>"
        "<p><a href='/docs/events'>Kafka events (AsyncAPI)</a></p></main></body></html>"
    )


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    settings = settings or Settings()
    cache = PassportCache()
    tenant_topics = TenantTopics(settings)
    facts = FactSubscriber(Projection(cache, tenant_topics.ensure))
    signing_slot = signing.SignerSlot()

    async def bind_cache(runtime: Runtime) -> None:
        cache.redis = runtime.redis

    async def start_exports(runtime: Runtime) -> None:
        signer = signing_slot.load()
        await runtime.pool.execute(
            "INSERT INTO signing_keys (key_id, algorithm, public_key) VALUES ($1, 'Ed25519', $2)"
            " ON CONFLICT (key_id) DO NOTHING",
            signer.key_id,
            signer.public_raw,
        )
        runner = ExportRunner(runtime.pool, signer)
        runtime.background.append(asyncio.create_task(runner.run_forever(), name="reporting-exports"))

    spec = ServiceSpec(
        name="reporting",
        description="Passport read model, OEM dashboard, reports and exports, public passport pages, and "
        "per-tenant passport change streams (plus a compacted latest-state topic per tenant).",
        migrations=Path(__file__).parent / "migrations",
        rejected_topic=topics.REPORTING_REJECTED,
        subscriptions=subscriptions(facts),
        publishes=[topics.REPORTING_REJECTED],
        routers=[
            passports_api.router,
            reports_api.router,
            exports_api.router,
            access_log_api.router,
            lineage_api.router,
            dashboard.router,
            passport_page.router,
            export_pages.router,
            public.router,
            event_docs.router,
            home,
        ],
        on_start=[bind_cache, start_exports],
        one_consumer=True,  # a passport's facts of every topic in one transaction (facts are keyed by passport id)
        consumer_max_records=settings.projection_max_records,
    )
    spec.state["passport_cache"] = cache
    spec.state["signing"] = signing_slot
    return spec


def main() -> None:
    serve(build_spec)


if __name__ == "__main__":
    main()
