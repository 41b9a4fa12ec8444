"""Refiner reports: rejections, and product metal attributed to lots and inputs in two exact steps."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.errors import ValidationFailed
from contracts.recovery import RecoveredMaterial, RefinedProductKind
from services.recovery.domain.refining import KnownLot, LotKey, assess_refiner_report, explain_refined_share
from services.recovery.domain.treatment import TreatmentAssessment, assess_treatment_batch
from tests.unit.recovery.builders import (
    RECYCLER,
    attempt,
    batch,
    passport,
    passport_input,
    refiner_report,
    refs,
    scrap_input,
)

M = RecoveredMaterial
K = RefinedProductKind


def treated() -> TreatmentAssessment:
    """The NMC passport (512.5 kg) and NMC811 scrap (1450 kg): lot BM-0042-A is 785 kg at 2.0 % Co, 16.5 % Ni."""
    nmc = passport()
    report = batch([passport_input(nmc), scrap_input("1450")])
    return assess_treatment_batch(report, refs(nmc, None))


def known_lots(assessment: TreatmentAssessment, fed: dict[str, Decimal] | None = None) -> dict[LotKey, KnownLot]:
    weights = [i.weights for i in assessment.inputs]
    return {
        (RECYCLER, lot.lot_id): KnownLot(
            RECYCLER,
            lot.lot_id,
            assessment.batch.batch_id,
            lot.mass_kg,
            (fed or {}).get(lot.lot_id, Decimal(0)),
            lot.assay_pct,
            weights,
        )
        for lot in assessment.lots
    }


def test_products_are_attributed_to_lots_then_inputs_and_sum_exactly() -> None:
    assessment = treated()
    lots = known_lots(assessment)
    report = refiner_report(
        [("BM-0042-A", "785.0")],
        [
            ("CS-1", K.cobalt_sulphate, "70", {"cobalt": "20.9"}),
            ("LC-1", K.lithium_carbonate, "50", {"lithium": "18.7"}),
        ],
    )
    refined = assess_refiner_report(report, lots)
    by_product: dict[tuple[int, RecoveredMaterial], Decimal] = defaultdict(Decimal)
    for share in refined.shares:
        by_product[(share.product_index, share.share.material)] += share.share.amount_kg
    assert by_product == {(0, M.cobalt): Decimal("14.630"), (1, M.lithium): Decimal("9.350")}
    text = explain_refined_share(report, refined.feeds[0], refined.shares[0])
    assert "CS-1" in text
    assert "BM-0042-A" in text
    assert "largest remainder" in text


def test_unknown_duplicate_and_overdrawn_lots_are_rejected() -> None:
    assessment = treated()
    lots = known_lots(assessment, fed={"BM-0042-A": Decimal("700")})
    report = refiner_report(
        [("BM-0042-A", "100"), ("BM-0042-A", "1"), ("BM-NOPE", "5")],
        [("CS-1", K.cobalt_sulphate, "1", {"cobalt": "20"})],
    )
    with pytest.raises(ValidationFailed) as failed:
        assess_refiner_report(report, lots)
    assert {(v.field, v.reason) for v in failed.value.violations} == {
        ("inputs.0.mass_kg", "lot_overdrawn"),
        ("inputs.1.lot_id", "duplicate_input"),
        ("inputs.2.lot_id", "unknown_lot"),
    }


def test_products_above_the_metal_fed_or_without_an_assay_are_rejected() -> None:
    lots = known_lots(treated())
    report = refiner_report(
        [("BM-0042-A", "100")],  # 2.000 kg cobalt, no copper
        [
            ("CS-1", K.cobalt_sulphate, "20", {"cobalt": "20.9"}),
            ("CU-1", K.copper_cathode, "1", {"copper": "99.99"}),
        ],
    )
    with pytest.raises(ValidationFailed) as failed:
        assess_refiner_report(report, lots)
    assert {v.reason for v in failed.value.violations} == {"outputs_exceed_inputs", "assay_missing"}


def test_product_rules() -> None:
    lots = known_lots(treated())
    report = refiner_report(
        [("BM-0042-A", "100")],
        [
            ("CS-1", K.cobalt_sulphate, "1", {"cobalt": "45"}),
            ("CS-1", K.mixed_hydroxide_precipitate, "1", {"cobalt": "60", "nickel": "50"}),
        ],
    )
    with pytest.raises(ValidationFailed) as failed:
        assess_refiner_report(report, lots)
    assert {(v.field, v.reason) for v in failed.value.violations} == {
        ("products.0.metal_content_pct.cobalt", "metal_content_above_stoichiometric"),
        ("products.1.product_lot_id", "duplicate_product_lot"),
        ("products.1.metal_content_pct", "metal_content_over_100_pct"),
    }


@settings(max_examples=100, deadline=None)
@given(
    fed=st.lists(st.decimals(min_value="0.1", max_value="392.5", places=1), min_size=1, max_size=2),
    yields=st.lists(st.decimals(min_value=0, max_value=1, places=3), min_size=4, max_size=4),
)
def test_refined_metal_is_conserved_through_both_steps_and_lots_are_never_overdrawn(
    fed: list[Decimal], yields: list[Decimal]
) -> None:
    assessment = treated()
    lots = known_lots(assessment)
    lot = lots[(RECYCLER, "BM-0042-A")]
    consumed = Decimal(0)
    for number, mass in enumerate(fed):
        current = {**lots, lot.key: dataclasses.replace(lot, fed_kg=consumed)}
        fed_cobalt = (mass * Decimal("0.020")).quantize(Decimal("0.001"))
        fed_nickel = (mass * Decimal("0.165")).quantize(Decimal("0.001"))
        cobalt_pct = Decimal("20.9")
        product_mass = (fed_cobalt * yields[0] / cobalt_pct * 100).quantize(Decimal("0.1"), rounding="ROUND_DOWN")
        products = [("NS", K.nickel_sulphate, str(max(Decimal("0.1"), fed_nickel * 4 * yields[1])), {"nickel": "22.3"})]
        if product_mass > 0:
            products.append(("CS", K.cobalt_sulphate, str(product_mass), {"cobalt": str(cobalt_pct)}))
        report = refiner_report([("BM-0042-A", str(mass))], products, report_id=f"RR-{number}")
        try:
            refined = assess_refiner_report(report, current)
        except ValidationFailed as failed:
            reasons = {v.reason for v in failed.violations}
            assert reasons <= {"lot_overdrawn", "outputs_exceed_inputs"}
            if "lot_overdrawn" in reasons:
                assert consumed + mass > lot.mass_kg
            continue
        consumed += mass
        assert consumed <= lot.mass_kg
        totals: dict[tuple[int, RecoveredMaterial], Decimal] = defaultdict(Decimal)
        for share in refined.shares:
            assert share.share.amount_kg >= 0
            totals[(share.product_index, share.share.material)] += share.share.amount_kg
        for index, metals in enumerate(refined.product_metal_kg):
            for material, kg in metals.items():
                assert totals.get((index, material), Decimal(0)) == kg


@settings(max_examples=60, deadline=None)
@given(
    masses=st.tuples(st.decimals("0.1", "785", places=1), st.decimals("0.1", "320", places=1)),
    yield_=st.decimals("0.01", "1", places=2),
)
def test_a_product_refined_from_two_batches_is_conserved_at_both_steps(
    masses: tuple[Decimal, Decimal], yield_: Decimal
) -> None:
    first = treated()
    p = passport()
    second = assess_treatment_batch(
        batch([passport_input(p, "700"), scrap_input("100")], batch_id="TB-2", outputs=None), refs(p, None)
    )
    lots = {**known_lots(first)}
    for key, lot in known_lots(second).items():
        lots[(RECYCLER, f"2-{key[1]}")] = dataclasses.replace(lot, lot_id=f"2-{key[1]}")
    fed_nickel = sum(((m * Decimal("0.165")).quantize(Decimal("0.001")) for m in masses), Decimal(0))
    product_mass = max(Decimal("0.1"), (fed_nickel * yield_ / Decimal("0.223")).quantize(Decimal("0.1"), "ROUND_DOWN"))
    report = refiner_report(
        [("BM-0042-A", str(masses[0])), ("2-BM-0042-A", str(masses[1]))],
        [("NS-1", K.nickel_sulphate, str(product_mass), {"nickel": "22.3"})],
    )
    refined, refused = attempt(lambda: assess_refiner_report(report, lots))
    if refined is None:
        assert refused == {"outputs_exceed_inputs"}
        return
    pool = refined.product_metal_kg[0][M.nickel]
    per_lot: dict[int, Decimal] = defaultdict(Decimal)
    lot_steps: dict[int, Decimal] = {}
    for share in refined.shares:
        per_lot[share.feed_index] += share.share.amount_kg
        lot_steps[share.feed_index] = share.lot_step.allocated_kg
        assert share.lot_step.pool_kg == pool
    assert per_lot == lot_steps  # each lot's part is shared out exactly among its batch's inputs
    assert sum(lot_steps.values()) == pool  # and the lots' parts make up the product's nickel
