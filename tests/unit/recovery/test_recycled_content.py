"""Recycled-content claims: checked against attributed material, never double counted, shares vs minimums."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.errors import ValidationFailed
from contracts.recovery import RecoveredMaterial, RecycledContentClaim, RecycledContentSource, WasteOrigin
from services.recovery.domain.recycled_content import Availability, SourceKey, assess_claim, source_key
from tests.unit.recovery.builders import attempt

M = RecoveredMaterial
POST, PRE = WasteOrigin.post_consumer, WasteOrigin.pre_consumer
D = Decimal


def claim(sources: list[tuple[str, RecoveredMaterial, WasteOrigin, str]], **totals: str) -> RecycledContentClaim:
    return RecycledContentClaim(
        battery_model="VX-400 NMC811",
        manufacturing_plant="GLN 4006381000023",
        year=2031,
        content_totals_kg={M(k): D(v) for k, v in (totals or {"cobalt": "1000"}).items()},
        sources=[
            RecycledContentSource(refiner_id="refiner-nordic", product_lot_id=lot, material=m, origin=o, mass_kg=D(kg))
            for lot, m, o, kg in sources
        ],
    )


AVAILABLE = {
    source_key("refiner-nordic", "CS-1", M.cobalt, POST): Availability(True, D(150), D(0)),
    source_key("refiner-nordic", "CS-1", M.cobalt, PRE): Availability(True, D(30), D(0)),
    source_key("refiner-nordic", "LC-1", M.lithium, POST): Availability(True, D(40), D(0)),
    source_key("refiner-nordic", "CS-1", M.nickel, POST): Availability(True, D(0), D(0)),
}


def test_shares_split_by_origin_and_compared_with_both_minimums() -> None:
    shares = assess_claim(
        claim([("CS-1", M.cobalt, POST, "150"), ("CS-1", M.cobalt, PRE, "20"), ("LC-1", M.lithium, POST, "40")],
              cobalt="1000", lithium="500"),
        AVAILABLE,
    )  # fmt: skip
    cobalt, lithium = shares
    assert cobalt.material is M.cobalt
    assert cobalt.share_pct == D("17.00")
    assert (cobalt.pre_consumer_share_pct, cobalt.post_consumer_share_pct) == (D("2.00"), D("15.00"))
    assert [(m.target_set, m.minimum_pct, m.met) for m in cobalt.minimums] == [("2031", 16, True), ("2036", 26, False)]
    assert lithium.share_pct == D("8.00")
    assert [m.met for m in lithium.minimums] == [True, False]


def test_claims_beyond_what_is_attributed_and_unclaimed_are_rejected() -> None:
    already = {**AVAILABLE, source_key("refiner-nordic", "CS-1", M.cobalt, POST): Availability(True, D(150), D(100))}
    with pytest.raises(ValidationFailed) as failed:
        assess_claim(claim([("CS-1", M.cobalt, POST, "30"), ("CS-1", M.cobalt, POST, "30")]), already)
    [violation] = failed.value.violations
    assert (violation.field, violation.reason) == ("sources.1.mass_kg", "insufficient_recovered_material")
    assert "50 kg" in violation.message


def test_other_rules_name_their_field() -> None:
    with pytest.raises(ValidationFailed) as failed:
        assess_claim(
            claim(
                [("CS-9", M.cobalt, POST, "1"), ("CS-1", M.copper, POST, "1"), ("LC-1", M.lithium, POST, "1")],
                cobalt="100",
                manganese="5",
            ),
            AVAILABLE,
        )
    assert {(v.field, v.reason) for v in failed.value.violations} == {
        ("sources.0.product_lot_id", "unknown_product_lot"),
        ("sources.1.material", "material_not_covered"),
        ("content_totals_kg.lithium", "total_missing"),
        ("content_totals_kg.manganese", "material_not_covered"),
    }
    with pytest.raises(ValidationFailed) as failed:
        assess_claim(claim([("CS-1", M.cobalt, POST, "150")], cobalt="100"), AVAILABLE)
    assert [v.reason for v in failed.value.violations] == ["share_over_100_pct"]


@settings(max_examples=100, deadline=None)
@given(
    attempts=st.lists(
        st.tuples(st.sampled_from(["acme", "volta"]), st.sampled_from([POST, PRE]), st.integers(1, 80)),
        min_size=1,
        max_size=12,
    )
)
def test_no_kilogram_is_claimed_twice_across_claims_and_tenants(
    attempts: list[tuple[str, WasteOrigin, int]],
) -> None:
    """Claims arrive in sequence; accepted ones are reserved in a ledger, as the store does."""
    ledger: dict[SourceKey, Decimal] = defaultdict(Decimal)
    for _tenant, origin, kg in attempts:
        key = source_key("refiner-nordic", "CS-1", M.cobalt, origin)
        availability = {k: Availability(v.product_known, v.attributed_kg, ledger[k]) for k, v in AVAILABLE.items()}
        shares, refused = attempt(lambda: assess_claim(claim([("CS-1", M.cobalt, origin, str(kg))]), availability))  # noqa: B023
        if shares is None:
            assert refused == {"insufficient_recovered_material"}
            assert ledger[key] + kg > AVAILABLE[key].attributed_kg
            continue
        ledger[key] += kg
    for key, claimed in ledger.items():
        assert claimed <= AVAILABLE[key].attributed_kg
