"""Composition root of the identity service."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.common.runtime import ServiceSpec, Subscription, serve
from services.common.settings import Settings
from services.identity import api, api_labels, handlers, resolver


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="identity",
        description="Mints and binds battery passports; owns identifiers and model-level passport data.",
        migrations=Path(__file__).parent / "migrations",
        rejected_topic=topics.IDENTITY_REJECTED,
        subscriptions=[
            Subscription(topics.MINT_REQUESTS, handlers.on_mint_requests, "Mint requests from OEM systems."),
        ],
        publishes=[topics.PASSPORT_MINTED, topics.PASSPORT_AMENDED, topics.IDENTITY_REJECTED],
        routers=[api.router, api.bulk_router, api_labels.router, resolver.router],
    )


def main() -> None:
    serve(build_spec)


if __name__ == "__main__":
    main()
