"""Recycled-content claims (Art. 8): reserve attributed material, assess, publish."""

from __future__ import annotations

from datetime import UTC, datetime

import uuid_utils

from contracts import topics
from contracts.recovery import (
    RecycledContentAssessed,
    RecycledContentClaim,
)
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.settings import Settings
from services.recovery import store
from services.recovery.domain.recycled_content import assess_claim
from services.recovery.usecases.common import content_digest, unique_as_violation


class ClaimConflict(Exception):
    """The tenant already has a different claim for this model, plant and year."""

    def __init__(self, claim_id: str) -> None:
        self.claim_id = claim_id
        super().__init__(claim_id)


async def claim_recycled_content(
    conn: DbConnection,
    outbox: Outbox,
    settings: Settings,
    *,
    tenant: str,
    claimed_by: str,
    claim: RecycledContentClaim,
    now: datetime | None = None,
) -> tuple[RecycledContentAssessed, bool]:
    """Check and record a claim; returns the assessment and whether it is new. Raises ValidationFailed or
    ClaimConflict."""
    now = now or datetime.now(UTC)
    digest = content_digest(claim)
    existing = await store.claim_by_key(conn, tenant, claim.battery_model, claim.manufacturing_plant, claim.year)
    if existing is not None:
        if existing["content_sha256"] != digest:
            raise ClaimConflict(existing["claim_id"])
        return RecycledContentAssessed.model_validate(existing["assessment"]), False
    products = await store.lock_products(conn, sorted({(s.refiner_id, s.product_lot_id) for s in claim.sources}))
    shares = assess_claim(claim, await store.availability(conn, products))
    assessed = RecycledContentAssessed(
        claim_id=f"urn:uuid:{uuid_utils.uuid7()}",
        tenant=tenant,
        battery_model=claim.battery_model,
        manufacturing_plant=claim.manufacturing_plant,
        year=claim.year,
        shares=shares,
        sources=list(claim.sources),
        assessed_at=now,
    )

    async def insert() -> None:
        await store.insert_claim(
            conn,
            {
                "claim_id": assessed.claim_id,
                "tenant": tenant,
                "battery_model": claim.battery_model,
                "manufacturing_plant": claim.manufacturing_plant,
                "year": claim.year,
                "content_sha256": digest,
                "claimed_by": claimed_by,
                "claim": claim.model_dump(mode="json"),
                "assessment": assessed.model_dump(mode="json"),
            },
            [
                (
                    assessed.claim_id,
                    index,
                    products[(s.refiner_id, s.product_lot_id)],
                    s.material.value,
                    s.origin.value,
                    s.mass_kg,
                )
                for index, s in enumerate(claim.sources)
            ],
        )

    await unique_as_violation(insert)
    outbox.add(settings.topic(topics.RECYCLED_CONTENT_ASSESSED.name), assessed, key=assessed.claim_id, subject=None)
    return assessed, True
