"""How a lot's material is shared among a treatment batch's inputs, and the sentence that explains one share to the
passport's reader: the pool, this input's weight and basis, its percentage of the batch, the amount."""

from __future__ import annotations

from decimal import Decimal

from contracts.recovery import AllocationLevel, AllocationStep, ContentBasis, OutputFraction, RecoveredMaterial
from services.recovery.domain.allocation import allocate
from services.recovery.domain.treatment import AssessedLot, InputWeights, Share, apportion, explain_treatment_share

M = RecoveredMaterial
LOT = AssessedLot(
    output_index=0,
    lot_id="BM-0042-A",
    fraction=OutputFraction.black_mass,
    mass_kg=Decimal("785.0"),
    assay_pct={M.cobalt: Decimal("2.0")},
    material_kg={M.cobalt: Decimal("15.700")},
)


def share(weight: str, total: str, basis: ContentBasis, amount: str) -> Share:
    step = AllocationStep(
        level=AllocationLevel.lot_to_input,
        pool_kg=Decimal("15.700"),
        weight_kg=Decimal(weight),
        total_weight_kg=Decimal(total),
        allocated_kg=Decimal(amount),
        basis=basis,
    )
    return Share(0, M.cobalt, Decimal(amount), step)


def test_a_share_by_declared_content_is_explained_with_its_percentage_of_the_batch() -> None:
    text = explain_treatment_share(LOT, share("4.613", "18.452", ContentBasis.passport_declared, "3.925"), 3)
    assert text == (
        "Lot BM-0042-A (black_mass, 785.0 kg × 2.0 % cobalt) holds 15.700 kg cobalt. This input's declared cobalt "
        "is 4.613 kg (passport_declared), 25.00 % of the 18.452 kg of the batch's 3 input(s): 3.925 kg, by largest "
        "remainder at 0.001 kg."
    )


def test_a_share_by_input_mass_says_so_and_a_weightless_batch_shows_zero_percent() -> None:
    by_mass = explain_treatment_share(LOT, share("500", "2000", ContentBasis.input_mass, "3.925"), 4)
    assert "This input's input mass is 500 kg (input_mass), 25.00 % of the 2000 kg of the batch's 4 input(s)" in by_mass
    weightless = explain_treatment_share(LOT, share("0", "0", ContentBasis.chemistry_default, "0"), 1)
    assert "is 0 kg (chemistry_default), 0 % of the 0 kg of the batch's 1 input(s): 0 kg" in weightless


def inputs(*declared: tuple[str, str | None, ContentBasis]) -> list[InputWeights]:
    return [
        InputWeights(
            index=i,
            mass_kg=Decimal(mass),
            declared_kg={M.cobalt: Decimal(kg)} if kg is not None else {},
            basis={M.cobalt: basis} if kg is not None else {},
        )
        for i, (mass, kg, basis) in enumerate(declared)
    ]


def test_a_pool_is_shared_pro_rata_declared_content_and_an_input_declaring_none_gets_none() -> None:
    shares = apportion(
        Decimal("10.000"),
        M.cobalt,
        inputs(
            ("500", "3", ContentBasis.passport_declared),
            ("500", "1", ContentBasis.chemistry_default),
            ("900", None, ContentBasis.passport_declared),
        ),
    )
    assert [(s.input_index, s.amount_kg, s.step.weight_kg, s.step.basis) for s in shares] == [
        (0, Decimal("7.500"), Decimal("3"), ContentBasis.passport_declared),
        (1, Decimal("2.500"), Decimal("1"), ContentBasis.chemistry_default),
    ]
    assert {(s.step.pool_kg, s.step.total_weight_kg, s.step.level) for s in shares} == {
        (Decimal("10.000"), Decimal("4"), AllocationLevel.lot_to_input)
    }
    assert [s.step.allocated_kg for s in shares] == [s.amount_kg for s in shares]


def test_when_no_input_declares_the_material_it_is_shared_pro_rata_input_mass() -> None:
    shares = apportion(
        Decimal("9.000"),
        M.cobalt,
        inputs(("100", None, ContentBasis.passport_declared), ("200", "0", ContentBasis.passport_declared)),
    )
    assert [(s.input_index, s.amount_kg, s.step.weight_kg, s.step.basis) for s in shares] == [
        (0, Decimal("3.000"), Decimal("100"), ContentBasis.input_mass),
        (1, Decimal("6.000"), Decimal("200"), ContentBasis.input_mass),
    ]
    assert {s.step.total_weight_kg for s in shares} == {Decimal("300")}


def test_the_quanta_left_over_go_to_the_largest_remainders_then_to_the_larger_weight() -> None:
    # 3 quanta pro rata 7:3 = 2.1 and 0.9: the floors give 2 and 0, the remainder 0.9 beats 0.1
    assert allocate(Decimal("0.003"), [Decimal(7), Decimal(3)]) == [Decimal("0.002"), Decimal("0.001")]
    # 2 quanta pro rata 1:3 = 0.5 and 1.5: equal remainders, the larger weight gets the quantum
    assert allocate(Decimal("0.002"), [Decimal(1), Decimal(3)]) == [Decimal("0.000"), Decimal("0.002")]
    nothing = allocate(Decimal("0.000"), [Decimal(0), Decimal(0)])
    assert [str(n) for n in nothing] == ["0.000", "0.000"]


def test_an_input_with_a_weight_keeps_its_line_even_when_its_share_rounds_to_nothing() -> None:
    shares = apportion(
        Decimal("0.001"),
        M.cobalt,
        inputs(("10", "0.5", ContentBasis.passport_declared), ("10", "1000", ContentBasis.passport_declared)),
    )
    assert [(s.input_index, s.amount_kg) for s in shares] == [(0, Decimal("0.000")), (1, Decimal("0.001"))]
