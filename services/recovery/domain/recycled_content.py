"""Recycled content (Art. 8): check a claim against attributed recovered material, compute the shares. No I/O.

A claim names refined product lots, a material and an origin per source. What can be claimed of a product lot
is what recovery attributed to it (refining-stage attribution, by the origin of the inputs it came from), less
what any claim of any tenant already holds: a kilogram is claimed once. Shares: cobalt, lithium and nickel of
the active material, lead of the battery — the denominators are the OEM's totals for the model, plant and
year — split into pre- and post-consumer, compared with the Art. 8(2) minimums (from 18 August 2031) and the
Art. 8(3) minimums (from 18 August 2036).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from contracts.errors import ValidationFailed, Violation
from contracts.recovery import (
    MinimumComparison,
    RecoveredMaterial,
    RecycledContentClaim,
    RecycledContentShare,
    WasteOrigin,
)
from services.recovery.domain.materials import ZERO

M = RecoveredMaterial
COVERED = (M.cobalt, M.lithium, M.nickel, M.lead)
MINIMUMS: tuple[tuple[str, date, Mapping[RecoveredMaterial, Decimal]], ...] = (
    (
        "2031",
        date(2031, 8, 18),
        {M.cobalt: Decimal(16), M.lithium: Decimal(6), M.nickel: Decimal(6), M.lead: Decimal(85)},
    ),
    (
        "2036",
        date(2036, 8, 18),
        {M.cobalt: Decimal(26), M.lithium: Decimal(12), M.nickel: Decimal(15), M.lead: Decimal(85)},
    ),
)
PCT = Decimal("0.01")

SourceKey = tuple[str, str, RecoveredMaterial, WasteOrigin]  # refiner, product lot, material, origin


@dataclass(frozen=True)
class Availability:
    product_known: bool
    attributed_kg: Decimal  # refined material of that origin attributed to the product lot
    claimed_kg: Decimal  # already held by accepted claims (every tenant)


def source_key(refiner_id: str, product_lot_id: str, material: RecoveredMaterial, origin: WasteOrigin) -> SourceKey:
    return (refiner_id, product_lot_id, material, origin)


def assess_claim(
    claim: RecycledContentClaim, availability: Mapping[SourceKey, Availability]
) -> list[RecycledContentShare]:
    """Validate a claim against what is available; raises ValidationFailed; returns the shares per material."""
    violations: list[Violation] = []
    for material in claim.content_totals_kg:
        if material not in COVERED:
            violations.append(
                Violation(
                    field=f"content_totals_kg.{material.value}",
                    reason="material_not_covered",
                    message="Art. 8 covers cobalt, lithium and nickel of the active material and lead.",
                )
            )
    requested: dict[SourceKey, Decimal] = {}
    for index, source in enumerate(claim.sources):
        at = f"sources.{index}"
        if source.material not in COVERED:
            violations.append(
                Violation(
                    field=f"{at}.material",
                    reason="material_not_covered",
                    message="Art. 8 covers cobalt, lithium and nickel of the active material and lead.",
                )
            )
            continue
        if source.material not in claim.content_totals_kg:
            violations.append(
                Violation(
                    field=f"content_totals_kg.{source.material.value}",
                    reason="total_missing",
                    message=f"Give the total {source.material.value} of the model, plant and year to compute "
                    "its share.",
                )
            )
        key = source_key(source.refiner_id, source.product_lot_id, source.material, source.origin)
        available = availability.get(key, Availability(False, ZERO, ZERO))
        if not available.product_known:
            violations.append(
                Violation(
                    field=f"{at}.product_lot_id",
                    reason="unknown_product_lot",
                    message=f"Refiner {source.refiner_id} reported no product lot {source.product_lot_id}.",
                )
            )
            continue
        requested[key] = requested.get(key, ZERO) + source.mass_kg
        free = available.attributed_kg - available.claimed_kg
        if requested[key] > free:
            violations.append(
                Violation(
                    field=f"{at}.mass_kg",
                    reason="insufficient_recovered_material",
                    message=f"Product lot {source.product_lot_id} has {free} kg of {source.origin.value} "
                    f"{source.material.value} attributed and not yet claimed (of {available.attributed_kg} kg); "
                    f"{requested[key]} kg was claimed.",
                )
            )
    if violations:
        raise ValidationFailed(violations)
    shares = []
    for material, total in sorted(claim.content_totals_kg.items()):
        by_origin = {
            origin: sum((s.mass_kg for s in claim.sources if s.material is material and s.origin is origin), ZERO)
            for origin in WasteOrigin
        }
        claimed = sum(by_origin.values(), ZERO)
        if claimed > total:
            violations.append(
                Violation(
                    field=f"content_totals_kg.{material.value}",
                    reason="share_over_100_pct",
                    message=f"{claimed} kg recycled {material.value} is claimed of a total of {total} kg.",
                )
            )
            continue
        share = (claimed / total * 100).quantize(PCT)
        shares.append(
            RecycledContentShare(
                material=material,
                total_kg=total,
                pre_consumer_kg=by_origin[WasteOrigin.pre_consumer],
                post_consumer_kg=by_origin[WasteOrigin.post_consumer],
                share_pct=share,
                pre_consumer_share_pct=(by_origin[WasteOrigin.pre_consumer] / total * 100).quantize(PCT),
                post_consumer_share_pct=(by_origin[WasteOrigin.post_consumer] / total * 100).quantize(PCT),
                minimums=[
                    MinimumComparison(
                        target_set=name,
                        applies_from=applies_from,
                        minimum_pct=minimums[material],
                        met=share >= minimums[material],
                    )
                    for name, applies_from, minimums in MINIMUMS
                ],
            )
        )
    if violations:
        raise ValidationFailed(violations)
    return shares
