"""A refiner's report: what is rejected, and the refined metal attributed to lots and through them to inputs.

Rejected: an unknown lot, a lot fed twice in one report or beyond its mass across reports (`lot_overdrawn`:
a lot is refined once), a product lot id repeated, a metal content above 100 % or above the product's
stoichiometric maximum, a refined metal no lot fed carries (`assay_missing`), more of a metal produced than
fed (`outputs_exceed_inputs`: fed = fed mass × the lot's assay), more refined metal attributed to a treatment
batch, over all its refiner reports, than its inputs declared plus the assay tolerance (`mass_balance_exceeded`,
`mass_balance`: a lot recorded with an over-stated assay cannot credit more than the batteries carried).

Attribution, in two exact steps at 0.001 kg: a product's metal (mass × content) is shared among the lots fed
pro rata the metal each fed (basis `assay`); each lot's part is shared among its batch's inputs pro rata their
declared content (`treatment.apportion`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from contracts.errors import ValidationFailed, Violation
from contracts.recovery import (
    AllocationLevel,
    AllocationStep,
    ContentBasis,
    RecoveredMaterial,
    RefinedProduct,
    RefinerReportSubmitted,
)
from services.recovery.domain.allocation import allocate, quantize_kg
from services.recovery.domain.mass_balance import DEFAULT_ASSAY_TOLERANCE_PCT, conservation_violation
from services.recovery.domain.materials import PRODUCT_MAXIMUM_PCT, ZERO
from services.recovery.domain.treatment import InputWeights, Share, apportion

LotKey = tuple[str, str]  # (recycler id, lot id)
BatchKey = tuple[str, str]  # (recycler id, batch id)


@dataclass(frozen=True)
class KnownLot:
    recycler_id: str
    lot_id: str
    batch_id: str
    mass_kg: Decimal
    fed_kg: Decimal
    assay_pct: Mapping[RecoveredMaterial, Decimal]
    inputs: Sequence[InputWeights]

    @property
    def key(self) -> LotKey:
        return (self.recycler_id, self.lot_id)

    @property
    def batch_key(self) -> BatchKey:
        return (self.recycler_id, self.batch_id)

    def declared_kg(self, material: RecoveredMaterial) -> Decimal:
        """The declared content of its batch's inputs (every lot of a batch has the same inputs)."""
        return sum((i.declared_kg.get(material, ZERO) for i in self.inputs), ZERO)


@dataclass(frozen=True)
class Feed:
    index: int
    lot: KnownLot
    mass_kg: Decimal
    material_kg: Mapping[RecoveredMaterial, Decimal]


@dataclass(frozen=True)
class RefinedShare:
    product_index: int
    feed_index: int
    lot_step: AllocationStep
    share: Share


@dataclass
class RefinerAssessment:
    report: RefinerReportSubmitted
    feeds: list[Feed]
    product_metal_kg: list[dict[RecoveredMaterial, Decimal]]
    shares: list[RefinedShare]


def product_metal_kg(product: RefinedProduct) -> dict[RecoveredMaterial, Decimal]:
    return {m: quantize_kg(product.mass_kg * pct / 100) for m, pct in sorted(product.metal_content_pct.items())}


def _check_feeds(report: RefinerReportSubmitted, lots: Mapping[LotKey, KnownLot]) -> list[Violation]:
    violations: list[Violation] = []
    seen: dict[LotKey, int] = {}
    for index, feed in enumerate(report.inputs):
        at = f"inputs.{index}"
        key = (feed.recycler_id, feed.lot_id)
        lot = lots.get(key)
        if lot is None:
            violations.append(
                Violation(
                    field=f"{at}.lot_id",
                    reason="unknown_lot",
                    message=f"Recycler {feed.recycler_id} reported no recycled lot {feed.lot_id}.",
                )
            )
            continue
        if key in seen:
            violations.append(
                Violation(
                    field=f"{at}.lot_id",
                    reason="duplicate_input",
                    message=f"Lot {feed.lot_id} of {feed.recycler_id} is already input {seen[key]}.",
                )
            )
        seen.setdefault(key, index)
        remaining = lot.mass_kg - lot.fed_kg
        if feed.mass_kg > remaining:
            violations.append(
                Violation(
                    field=f"{at}.mass_kg",
                    reason="lot_overdrawn",
                    message=f"Lot {feed.lot_id} has {remaining} kg of its {lot.mass_kg} kg not yet refined; "
                    f"{feed.mass_kg} kg cannot be fed.",
                )
            )
    return violations


def _check_products(report: RefinerReportSubmitted) -> list[Violation]:
    violations: list[Violation] = []
    seen: dict[str, int] = {}
    for index, product in enumerate(report.products):
        at = f"products.{index}"
        if product.product_lot_id in seen:
            violations.append(
                Violation(
                    field=f"{at}.product_lot_id",
                    reason="duplicate_product_lot",
                    message=f"Product lot {product.product_lot_id} is already product {seen[product.product_lot_id]}.",
                )
            )
        seen.setdefault(product.product_lot_id, index)
        total = sum(product.metal_content_pct.values(), ZERO)
        if total > 100:
            violations.append(
                Violation(
                    field=f"{at}.metal_content_pct",
                    reason="metal_content_over_100_pct",
                    message=f"The metal contents add up to {total} %.",
                )
            )
        maximum = PRODUCT_MAXIMUM_PCT.get(product.product.value)
        if maximum is not None:
            metal, limit = maximum
            content = product.metal_content_pct.get(metal, ZERO)
            if content > limit:
                violations.append(
                    Violation(
                        field=f"{at}.metal_content_pct.{metal.value}",
                        reason="metal_content_above_stoichiometric",
                        message=f"{product.product.value} holds at most {limit.quantize(Decimal('0.01'))} % "
                        f"{metal.value} (anhydrous); {content} % was reported.",
                    )
                )
    return violations


def assess_refiner_report(
    report: RefinerReportSubmitted,
    lots: Mapping[LotKey, KnownLot],
    refined_before: Mapping[BatchKey, Mapping[RecoveredMaterial, Decimal]] | None = None,
    *,
    assay_tolerance_pct: Decimal = DEFAULT_ASSAY_TOLERANCE_PCT,
) -> RefinerAssessment:
    """Validate a refiner report and attribute its products to lots and inputs; raises ValidationFailed.

    `refined_before`: refined metal already attributed to each batch fed, by earlier reports.
    """
    violations: list[Violation] = []
    if report.period_end < report.period_start:
        violations.append(
            Violation(field="period_end", reason="period_end_before_start", message="The period ends before it starts.")
        )
    violations += _check_feeds(report, lots)
    violations += _check_products(report)
    if violations:
        raise ValidationFailed(violations)
    feeds = [
        Feed(
            index,
            lot,
            feed.mass_kg,
            {m: quantize_kg(feed.mass_kg * pct / 100) for m, pct in sorted(lot.assay_pct.items())},
        )
        for index, feed in enumerate(report.inputs)
        for lot in [lots[(feed.recycler_id, feed.lot_id)]]
    ]
    produced = [product_metal_kg(p) for p in report.products]
    for material in RecoveredMaterial:
        made = sum((p.get(material, ZERO) for p in produced), ZERO)
        fed = sum((f.material_kg.get(material, ZERO) for f in feeds), ZERO)
        if made > 0 and fed == 0:
            violations.append(
                Violation(
                    field="products",
                    reason="assay_missing",
                    message=f"{made} kg {material.value} was produced but no lot fed has a {material.value} assay.",
                )
            )
        elif made > fed:
            violations.append(
                Violation(
                    field="products",
                    reason="outputs_exceed_inputs",
                    message=f"{made} kg {material.value} was produced from lots holding {fed} kg.",
                )
            )
    if violations:
        raise ValidationFailed(violations)

    shares: list[RefinedShare] = []
    for product_index, metals in enumerate(produced):
        for material, pool in metals.items():
            if pool == 0:
                continue
            weights = [f.material_kg.get(material, ZERO) for f in feeds]
            total = sum(weights, ZERO)
            for feed, weight, lot_amount in zip(feeds, weights, allocate(pool, weights), strict=True):
                if lot_amount == 0:
                    continue
                lot_step = AllocationStep(
                    level=AllocationLevel.product_to_lot,
                    pool_kg=pool,
                    weight_kg=weight,
                    total_weight_kg=total,
                    allocated_kg=lot_amount,
                    basis=ContentBasis.assay,
                )
                shares += [
                    RefinedShare(product_index, feed.index, lot_step, share)
                    for share in apportion(lot_amount, material, feed.lot.inputs)
                ]
    refused = _conservation(feeds, shares, refined_before or {}, assay_tolerance_pct)
    if refused:
        raise ValidationFailed(refused)
    return RefinerAssessment(report=report, feeds=feeds, product_metal_kg=produced, shares=shares)


def _conservation(
    feeds: Sequence[Feed],
    shares: Sequence[RefinedShare],
    refined_before: Mapping[BatchKey, Mapping[RecoveredMaterial, Decimal]],
    tolerance_pct: Decimal,
) -> list[Violation]:
    """`mass_balance_exceeded` per batch and material whose refined metal, with this report's, passes its declared
    content × (1 + tolerance); named at the first feed of a lot of that batch."""
    added: dict[tuple[BatchKey, RecoveredMaterial], Decimal] = {}
    for refined in shares:
        key = (feeds[refined.feed_index].lot.batch_key, refined.share.material)
        added[key] = added.get(key, ZERO) + refined.share.amount_kg
    first_feed: dict[BatchKey, Feed] = {}
    for feed in feeds:
        first_feed.setdefault(feed.lot.batch_key, feed)
    violations = []
    for (batch, material), amount in sorted(added.items()):
        feed = first_feed[batch]
        before = refined_before.get(batch, {}).get(material, ZERO)
        found = conservation_violation(
            material,
            feed.lot.declared_kg(material),
            before + amount,
            tolerance_pct,
            field=f"inputs.{feed.index}.lot_id",
            claimed_what=f"Refined metal attributed to batch {batch[1]} of {batch[0]}"
            + (f", {before} kg of earlier reports included," if before else "")
            + " would reach",
            declared_what="its inputs declare",
        )
        if found is not None:
            violations.append(found)
    return violations


def explain_refined_share(report: RefinerReportSubmitted, feed: Feed, refined: RefinedShare) -> str:
    product = report.products[refined.product_index]
    lot_step, step = refined.lot_step, refined.share.step
    material = refined.share.material.value
    lot_pct = (lot_step.weight_kg / lot_step.total_weight_kg * 100).quantize(Decimal("0.01"))
    input_pct = (step.weight_kg / step.total_weight_kg * 100).quantize(Decimal("0.01")) if step.total_weight_kg else 0
    return (
        f"{report.refiner_id} produced {product.mass_kg} kg {product.product.value} (lot {product.product_lot_id}, "
        f"{product.metal_content_pct[refined.share.material]} % {material}) = {lot_step.pool_kg} kg {material}. "
        f"Lot {feed.lot.lot_id} of batch {feed.lot.batch_id} fed {lot_step.weight_kg} kg of the "
        f"{lot_step.total_weight_kg} kg {material} fed ({lot_pct} %): {lot_step.allocated_kg} kg. This input holds "
        f"{step.weight_kg} kg of the batch's {step.total_weight_kg} kg ({step.basis.value}, {input_pct} %): "
        f"{refined.share.amount_kg} kg, by largest remainder at 0.001 kg."
    )
