"""Composition root of the identity service."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.common.runtime import ServiceSpec, Subscription, serve
from services.common.settings import Settings
from services.identity.api import (
    api_keys,
    extension_schemas,
    gtin_prefixes,
    imports,
    labels,
    passports,
    resolver,
    second_life,
)
from services.identity.messaging import subscribers


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="identity",
        description="Mints and binds battery passports; owns identifiers and model-level passport data.",
        migrations=Path(__file__).parent / "migrations",
        rejected_topic=topics.IDENTITY_REJECTED,
        subscriptions=[
            Subscription(topics.MINT_REQUESTS, subscribers.on_mint_requests, "Mint requests from OEM systems."),
            Subscription(
                topics.CUSTODY_RECORDED,
                subscribers.on_custody_recorded,
                "Custody log entries: who holds each battery (second-life operators must hold their predecessors).",
            ),
            Subscription(
                topics.PASSPORT_CEASED, subscribers.on_passport_ceased, "Recycled passports ceased: no second life."
            ),
        ],
        publishes=[
            topics.PASSPORT_MINTED,
            topics.PASSPORT_AMENDED,
            topics.PASSPORT_SUPERSEDED,
            topics.IDENTITY_REJECTED,
        ],
        routers=[
            passports.router,
            extension_schemas.router,
            passports.bulk_router,
            imports.router,
            second_life.router,
            labels.router,
            api_keys.router,
            gtin_prefixes.router,
            resolver.router,
        ],
    )


def main() -> None:
    serve(build_spec)


if __name__ == "__main__":
    main()
