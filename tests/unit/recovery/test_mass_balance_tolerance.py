"""Conservation at and around its tolerances, in both directions.

- Assay tolerance (`mass_balance_exceeded`, 5 %): a batch's lots may hold up to the declared content × 1.05 of a
  material, not 0.001 kg more; holding far less (under-recovery) is accepted. Refined metal attributed to a batch
  likewise, earlier reports included.
- Mass balance of the batch (`mass_balance_gap`, 1 % of the input): inputs − outputs − declared losses may be off
  by up to 1 % of the input either way, not 0.001 kg more either way.

The figures 5 % and 1 % are written out here on purpose: a change of either makes these tests fail.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from contracts.errors import ValidationFailed
from contracts.recovery import (
    OutputDestination,
    OutputFraction,
    RecoveredMaterial,
    RefinedProductKind,
    RefinerReportSubmitted,
    TreatmentBatchReported,
    TreatmentOutput,
)
from services.recovery.config import RecoverySettings
from services.recovery.domain.passports import InputReference
from services.recovery.domain.refining import KnownLot, assess_refiner_report
from services.recovery.domain.treatment import InputWeights, assess_treatment_batch
from tests.unit.recovery.builders import (
    RECYCLER,
    attempt,
    batch,
    default_outputs,
    passport,
    passport_input,
    refiner_report,
    refs,
)

M = RecoveredMaterial
KG = Decimal("0.001")
ASSAY_TOLERANCE = Decimal("1.05")  # the documented 5 %
BALANCE_TOLERANCE = Decimal("0.01")  # the documented 1 % of the input
COBALT_PER_KG = Decimal("0.009")  # the builder's NMC passport

input_masses = st.decimals(min_value="200", max_value="3000", places=1)


def floor_kg(value: Decimal) -> Decimal:
    return value.quantize(KG, rounding=ROUND_FLOOR)


def cobalt_lot(cobalt_kg: Decimal) -> TreatmentOutput:
    """A 100 kg black mass lot holding exactly `cobalt_kg` of cobalt (its assay in % is the kg)."""
    return TreatmentOutput(
        fraction=OutputFraction.black_mass,
        destination=OutputDestination.recycling,
        lot_id="BM-CO",
        mass_kg=Decimal(100),
        assay_pct={M.cobalt: cobalt_kg},
    )


def cobalt_batch(mass_kg: Decimal, cobalt_kg: Decimal) -> tuple[TreatmentBatchReported, list[InputReference]]:
    p = passport()
    return batch([passport_input(p, str(mass_kg))], [cobalt_lot(cobalt_kg)]), refs(p)


def test_the_default_tolerance_is_five_percent_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RecoverySettings().assay_tolerance_pct == Decimal(5)
    monkeypatch.setenv("BPASS_RECOVERY_ASSAY_TOLERANCE_PCT", "2.5")
    assert RecoverySettings().assay_tolerance_pct == Decimal("2.5")
    monkeypatch.setenv("BPASS_RECOVERY_ASSAY_TOLERANCE_PCT", "-1")
    with pytest.raises(ValueError, match="assay_tolerance_pct"):
        RecoverySettings()


@settings(max_examples=80, deadline=None)
@given(mass=input_masses)
@example(mass=Decimal("638.0"))  # declared 5.742 kg cobalt: 6.029 kg is the most that is credited
def test_lots_up_to_the_declared_content_plus_five_percent_are_accepted_and_not_a_gram_more(mass: Decimal) -> None:
    declared = (mass * COBALT_PER_KG).quantize(KG)
    ceiling = floor_kg(declared * ASSAY_TOLERANCE)

    at_ceiling = assess_treatment_batch(*cobalt_batch(mass, ceiling))
    credited = sum((s.share.amount_kg for s in at_ceiling.shares if s.share.material is M.cobalt), Decimal(0))
    assert credited == ceiling
    assert ("recovered_above_declared" in {f.reason for f in at_ceiling.flags}) is (ceiling > declared)

    with pytest.raises(ValidationFailed) as failed:
        assess_treatment_batch(*cobalt_batch(mass, ceiling + KG))
    [violation] = failed.value.violations
    assert (violation.field, violation.reason) == ("outputs.0.assay_pct.cobalt", "mass_balance_exceeded")
    assert f"{ceiling + KG} kg cobalt" in violation.message
    assert f"declare {declared} kg" in violation.message


@settings(max_examples=80, deadline=None)
@given(mass=input_masses, recovered=st.decimals(min_value="0.001", max_value="1", places=3))
def test_recovering_less_than_declared_is_accepted_however_much_less(mass: Decimal, recovered: Decimal) -> None:
    """One direction only: a lot holding 0.1 % to 100 % of the declared cobalt is credited as it is."""
    declared = (mass * COBALT_PER_KG).quantize(KG)
    claimed = max(KG, floor_kg(declared * recovered))
    assessment = assess_treatment_batch(*cobalt_batch(mass, claimed))
    assert sum(s.share.amount_kg for s in assessment.shares) == claimed
    assert "recovered_above_declared" not in {f.reason for f in assessment.flags}


@settings(max_examples=60, deadline=None)
@given(
    masses=st.lists(input_masses, min_size=1, max_size=3),
    scales=st.tuples(st.decimals("0.5", "1.6", places=3), st.decimals("0.5", "1.06", places=3)),
)
def test_accepted_exactly_when_every_material_is_within_and_no_input_is_credited_beyond_its_own(
    masses: list[Decimal], scales: tuple[Decimal, Decimal]
) -> None:
    """Several passports, every material of the default lots scaled: accepted iff each material's lots hold at most
    1.05 × what the inputs declare; then each input gets at most its own declared × 1.05 (+ 0.001 kg rounding)."""
    passports = [passport() for _ in masses]
    inputs = [passport_input(p, str(m)) for p, m in zip(passports, masses, strict=True)]
    total = sum(masses, Decimal(0))
    outputs = default_outputs(total)
    outputs = [
        o.model_copy(update={"assay_pct": {m: v * scale for m, v in o.assay_pct.items()}})
        for o, scale in zip(outputs, (*scales, Decimal(1)), strict=True)
    ]
    report = batch(inputs, outputs)
    probe = assess_treatment_batch(batch(inputs, outputs[-1:]), refs(*passports))  # residues only: declared content
    declared: dict[RecoveredMaterial, Decimal] = defaultdict(Decimal)
    for assessed in probe.inputs:
        for content in assessed.contents:
            declared[content.material] += content.declared_kg
    held: dict[RecoveredMaterial, Decimal] = defaultdict(Decimal)
    for o in outputs:
        for material, pct in o.assay_pct.items():
            held[material] += (o.mass_kg * pct / 100).quantize(KG)
    within = all(kg <= declared[m] * ASSAY_TOLERANCE for m, kg in held.items())

    assessment, refused = attempt(lambda: assess_treatment_batch(report, refs(*passports)))
    if not within:
        assert assessment is None
        assert refused == {"mass_balance_exceeded"}
        return
    assert assessment is not None, refused
    credited: dict[tuple[int, RecoveredMaterial], Decimal] = defaultdict(Decimal)
    for lot_share in assessment.shares:
        credited[(lot_share.share.input_index, lot_share.share.material)] += lot_share.share.amount_kg
    for assessed in assessment.inputs:
        for content in assessed.contents:
            assert credited[(assessed.index, content.material)] <= content.declared_kg * ASSAY_TOLERANCE + 2 * KG


# --- refining: a lot recorded before the rule (its assay over-stated) cannot credit more than its batch declared


def legacy_lot(declared_cobalt: Decimal) -> KnownLot:
    """A 100 kg lot at 50 % cobalt from a batch whose one input declared `declared_cobalt` kg."""
    weights = InputWeights(0, Decimal(500), {M.cobalt: declared_cobalt}, {})
    return KnownLot(RECYCLER, "BM-OLD", "TB-OLD", Decimal(100), Decimal(0), {M.cobalt: Decimal(50)}, [weights])


def cobalt_report(cobalt_kg: Decimal, number: int = 0) -> RefinerReportSubmitted:
    """Cobalt sulphate at 20 % cobalt holding exactly `cobalt_kg`, from the whole legacy lot."""
    return refiner_report(
        [("BM-OLD", "100")],
        [(f"CS-{number}", RefinedProductKind.cobalt_sulphate, str(cobalt_kg * 5), {"cobalt": "20"})],
        report_id=f"RR-{number}",
    )


@settings(max_examples=80, deadline=None)
@given(
    declared=st.decimals(min_value="1", max_value="40", places=3),
    before_share=st.decimals(min_value="0", max_value="1", places=2),
)
def test_refined_metal_of_a_batch_reaches_its_declared_content_plus_five_percent_and_not_a_gram_more(
    declared: Decimal, before_share: Decimal
) -> None:
    lot = legacy_lot(declared)
    lots = {lot.key: lot}
    ceiling = floor_kg(declared * ASSAY_TOLERANCE)
    before = floor_kg(ceiling * before_share)
    refined_before = {lot.batch_key: {M.cobalt: before}} if before else {}

    if ceiling > before:
        accepted = assess_refiner_report(cobalt_report(ceiling - before), lots, refined_before)
        assert sum(s.share.amount_kg for s in accepted.shares) == ceiling - before
    with pytest.raises(ValidationFailed) as failed:
        assess_refiner_report(cobalt_report(ceiling - before + KG), lots, refined_before)
    [violation] = failed.value.violations
    assert (violation.field, violation.reason) == ("inputs.0.lot_id", "mass_balance_exceeded")
    assert f"{ceiling + KG} kg cobalt" in violation.message


@settings(max_examples=40, deadline=None)
@given(declared=st.decimals(min_value="1", max_value="40", places=3), share=st.decimals("0.01", "1", places=2))
def test_refining_less_than_declared_is_accepted(declared: Decimal, share: Decimal) -> None:
    lot = legacy_lot(declared)
    claimed = max(KG, floor_kg(declared * share))
    refined = assess_refiner_report(cobalt_report(claimed), {lot.key: lot})
    assert sum(s.share.amount_kg for s in refined.shares) == claimed


# --- the batch's mass balance: 1 % of the input, either way


def balance_batch(mass: Decimal, gap: Decimal) -> tuple[TreatmentBatchReported, list[InputReference]]:
    """Inputs − outputs − losses = `gap` (positive: mass unaccounted; negative: more accounted than came in)."""
    p = passport()
    outputs = default_outputs(mass)
    out = sum((o.mass_kg for o in outputs), Decimal(0))
    losses = mass - out - gap
    return batch([passport_input(p, str(mass))], outputs, losses_kg=str(losses)), refs(p)


@settings(max_examples=80, deadline=None)
@given(mass=input_masses, sign=st.sampled_from([1, -1]))
def test_a_gap_of_one_percent_either_way_is_flagged_and_a_gram_more_refused(mass: Decimal, sign: int) -> None:
    tolerance = mass * BALANCE_TOLERANCE
    at_limit = assess_treatment_batch(*balance_batch(mass, sign * tolerance))
    assert [f.reason for f in at_limit.flags if f.field == "losses_kg"] == ["mass_balance_difference"]
    with pytest.raises(ValidationFailed) as failed:
        assess_treatment_batch(*balance_batch(mass, sign * (tolerance + KG)))
    assert {(v.field, v.reason) for v in failed.value.violations} == {("losses_kg", "mass_balance_gap")}


@settings(max_examples=40, deadline=None)
@given(mass=input_masses, sign=st.sampled_from([1, -1]), within=st.decimals("0", "1", places=3))
def test_a_gap_within_one_percent_either_way_is_accepted(mass: Decimal, sign: int, within: Decimal) -> None:
    gap = sign * (mass * BALANCE_TOLERANCE * within).quantize(KG, rounding=ROUND_FLOOR)
    assessment = assess_treatment_batch(*balance_batch(mass, gap))
    expected = ["mass_balance_difference"] if gap else []
    assert [f.reason for f in assessment.flags if f.field == "losses_kg"] == expected
