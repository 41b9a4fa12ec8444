"""Composition root of the custody service."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.common.runtime import ServiceSpec, Subscription, serve
from services.common.settings import Settings
from services.custody.api import custody_log
from services.custody.capture import api as capture_api
from services.custody.capture import messaging as capture_messaging
from services.custody.ingest import api as ingest_api
from services.custody.ingest import messaging as ingest
from services.custody.lifecycle import api as lifecycle_api
from services.custody.membership import api as membership_api
from services.custody.query import api as query_api
from services.custody.query import named_api
from services.custody.registry import api as registry_api
from services.custody.subscriptions import scheduled as epcis_scheduled
from services.custody.subscriptions import stream as epcis_streams
from services.custody.subscriptions import stream_api as epcis_stream_api
from services.custody.subscriptions.webhooks import api as webhooks_api
from services.custody.subscriptions.webhooks import delivery as webhook_delivery
from services.custody.subscriptions.webhooks import messaging as webhooks
from services.custody.telemetry import messaging as telemetry_messaging


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    streams = epcis_streams.StreamHub()  # this instance's EPCIS WebSocket subscriptions
    return ServiceSpec(
        name="custody",
        description="Verified handler registry, EPCIS 2.0 capture, and the hash-chained chain of custody of every "
        "passport.",
        migrations=Path(__file__).parent / "migrations",
        rejected_topic=topics.CUSTODY_REJECTED,
        subscriptions=[
            Subscription(topics.PASSPORT_MINTED, ingest.on_passport_minted, "Passports custody must know of."),
            Subscription(topics.CUSTODY_EVENTS, ingest.on_custody_events, "Custody steps reported by partners."),
            Subscription(
                topics.CUSTODY_EPCIS_DOCUMENTS,
                capture_messaging.on_epcis_documents,
                "EPCIS 2.0 documents captured by partners.",
            ),
            Subscription(topics.TELEMETRY, telemetry_messaging.on_telemetry, "In-service data from BMS and fleets."),
            Subscription(
                topics.CUSTODY_EPCIS_EVENTS_CAPTURED,
                webhooks.on_events_captured,
                "Captured EPCIS events, fanned out to the webhook subscriptions of named queries.",
            ),
        ],
        publishes=[
            topics.CUSTODY_RECORDED,
            topics.CUSTODY_REJECTED,
            topics.CUSTODY_HANDLER_REGISTRY,
            topics.CUSTODY_PASSPORT_STATUS,
            topics.IN_SERVICE_DATA,
            topics.CUSTODY_EPCIS_EVENTS_CAPTURED,
        ],
        fanout_reads=[topics.CUSTODY_EPCIS_EVENTS_CAPTURED],
        routers=[
            custody_log.router,
            registry_api.router,
            ingest_api.router,
            capture_api.router,
            query_api.router,
            webhooks_api.router,
            named_api.router,
            epcis_stream_api.router,
            lifecycle_api.router,
            membership_api.router,
        ],
        on_start=[webhook_delivery.start_worker, epcis_scheduled.start_runner, streams.start],
        state={"epcis_streams": streams},
    )


def main() -> None:
    serve(build_spec)


if __name__ == "__main__":
    main()
