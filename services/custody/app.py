"""Composition root of the custody service."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.common.runtime import ServiceSpec, Subscription, serve
from services.common.settings import Settings
from services.custody import api, handlers


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="custody",
        description="Verified handler registry and the hash-chained chain of custody of every passport.",
        migrations=Path(__file__).parent / "migrations",
        rejected_topic=topics.CUSTODY_REJECTED,
        subscriptions=[
            Subscription(topics.PASSPORT_MINTED, handlers.on_passport_minted, "Passports custody must know of."),
            Subscription(topics.CUSTODY_EVENTS, handlers.on_custody_events, "Custody steps reported by partners."),
        ],
        publishes=[topics.CUSTODY_RECORDED, topics.CUSTODY_REJECTED],
        routers=[api.router],
    )


def main() -> None:
    serve(build_spec)


if __name__ == "__main__":
    main()
