"""Composition root of the recovery service."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.common.runtime import ServiceSpec, Subscription, serve
from services.common.settings import Settings
from services.recovery.api import annex_xii, claims, evidence, passports
from services.recovery.messaging import subscribers
from services.recovery.usecases.sweep import start_sweep


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="recovery",
        description="Material recovery evidence, refiner attribution, Annex XII figures and recycled content.",
        migrations=Path(__file__).parent / "migrations",
        rejected_topic=topics.RECOVERY_REJECTED,
        subscriptions=[
            Subscription(topics.PASSPORT_MINTED, subscribers.on_passport_minted, "Passports and their composition."),
            Subscription(
                topics.CUSTODY_HANDLER_REGISTRY,
                subscribers.on_handler_registry_changed,
                "The verified handler registry: who may report as a recycler or a refiner.",
            ),
            Subscription(
                topics.CUSTODY_RECORDED,
                subscribers.on_custody_recorded,
                "Custody steps: which recycler holds which passport (treatment batches report only those).",
            ),
            Subscription(
                topics.TREATMENT_BATCHES, subscribers.on_treatment_batches, "Treatment batches reported by recyclers."
            ),
            Subscription(topics.REFINER_REPORTS, subscribers.on_refiner_reports, "What refiners made from which lots."),
        ],
        publishes=[
            topics.RECOVERY_ATTRIBUTED,
            topics.PASSPORT_CEASED,
            topics.RECYCLED_CONTENT_ASSESSED,
            topics.RECOVERY_REJECTED,
        ],
        routers=[evidence.router, passports.router, annex_xii.router, claims.router],
        on_start=[start_sweep],
    )


def main() -> None:
    serve(build_spec)


if __name__ == "__main__":
    main()
