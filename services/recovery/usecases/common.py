"""Shared by the recovery use cases: content digests, refusals, concurrent unique keys."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Literal, TypeVar

import asyncpg
from pydantic import BaseModel

from contracts.errors import ValidationFailed, Violation
from contracts.recovery import (
    AttributionLine,
    RecoveredMaterial,
)
from services.recovery.domain.parking import Wait

Via = Literal["topic", "http"]


def content_digest(message: BaseModel) -> str:
    canonical = json.dumps(message.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class AwaitingReferences(Exception):
    """Nothing is wrong with the batch but references recovery has not seen yet (see `domain.parking`)."""

    def __init__(self, wait: Wait) -> None:
        self.wait = wait
        super().__init__(", ".join(wait.minting + wait.custody))


def violation(field: str, reason: str, message: str) -> ValidationFailed:
    return ValidationFailed([Violation(field=field, reason=reason, message=message)])


UNIQUE_REASONS = {
    "treatment_inputs_passport": ("inputs", "passport_already_recycled", "A passport of this batch was just recycled."),
    "treatment_batches_recycler_id_batch_id_key": ("batch_id", "batch_already_reported", "Reported concurrently."),
    "recycler_lots_recycler_id_lot_id_key": ("outputs", "lot_already_reported", "A lot id was just used."),
    "refiner_reports_refiner_id_report_id_key": ("report_id", "report_already_reported", "Reported concurrently."),
    "refined_products_refiner_id_product_lot_id_key": (
        "products",
        "product_lot_already_reported",
        "A product lot id was just used.",
    ),
    "recycled_content_claims_tenant_battery_model_manufacturing__key": (
        "battery_model",
        "claim_exists",
        "A claim for this model, plant and year was just made.",
    ),
}

T = TypeVar("T")


async def unique_as_violation(work: Callable[[], Awaitable[T]]) -> T:
    """A concurrent writer beat us to a unique key: answer as the rule it enforces."""
    try:
        return await work()
    except asyncpg.UniqueViolationError as exc:
        known = UNIQUE_REASONS.get(exc.constraint_name or "")
        if known is None:
            raise
        raise violation(*known) from exc


def totals_of(lines: list[AttributionLine]) -> dict[RecoveredMaterial, Decimal]:
    totals: dict[RecoveredMaterial, Decimal] = defaultdict(lambda: Decimal("0.000"))
    for line in lines:
        totals[line.material] += line.amount_kg
    return dict(sorted(totals.items()))
