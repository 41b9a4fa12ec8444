"""Treatment batches: rejections with field and reason, flags, and attribution that conserves mass."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.attributes import BatteryCategory
from contracts.errors import ValidationFailed
from contracts.recovery import (
    ContentBasis,
    OutputDestination,
    OutputFraction,
    RecoveredMaterial,
    RecoveryChemistry,
    TreatmentInput,
    TreatmentOutput,
)
from services.recovery.domain.passports import InputReference
from services.recovery.domain.treatment import assess_treatment_batch, explain_treatment_share
from tests.unit.recovery.builders import attempt, batch, default_outputs, passport, passport_input, refs, scrap_input

M = RecoveredMaterial


def reasons(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {v.field: v.reason for v in exc.value.violations}


# Lots of a batch of the NMC passport (512.5 kg), the LFP one (1250 kg) and NMC scrap (200 kg), which declare
# Co 7.035, Ni 57.745, Li 17.936, Mn 6.871, graphite 215.725, Cu 139.125, Al 185.375 kg: about 90 % of each.
MIXED_BLACK_MASS = {M.cobalt: "0.8", M.nickel: "6.6", M.lithium: "2.0", M.manganese: "0.8", M.graphite: "25"}
MIXED_METALS = {M.copper: "26", M.aluminium: "36"}


def test_a_balanced_batch_is_attributed_to_its_inputs_and_sums_exactly() -> None:
    nmc, lfp = passport(), passport(BatteryCategory.industrial)
    inputs = [passport_input(nmc), passport_input(lfp, "1250"), scrap_input("200")]
    outputs = default_outputs(Decimal("1962.5"), black_mass_assay=MIXED_BLACK_MASS, metals_assay=MIXED_METALS)
    report = batch(inputs, outputs, losses_kg="490.7")
    assessment = assess_treatment_batch(report, refs(nmc, lfp, None))
    assert assessment.input_kg == Decimal("1962.5")
    assert assessment.recycled_output_kg == Decimal("1275.6")
    assert assessment.recycling_efficiency_pct == Decimal("65.00")
    assert assessment.losses_kg == Decimal("490.7")
    for lot in assessment.lots:
        for material, pool in lot.material_kg.items():
            lines = [s.share for s in assessment.shares if s.lot_id == lot.lot_id and s.share.material is material]
            assert sum(s.amount_kg for s in lines) == pool
    # LFP declares no cobalt: it gets none of the cobalt recovered.
    cobalt_to_lfp = [s for s in assessment.shares if s.share.input_index == 1 and s.share.material is M.cobalt]
    assert cobalt_to_lfp == []
    lots = {lot.lot_id: lot for lot in assessment.lots}
    share = assessment.shares[0]
    text = explain_treatment_share(lots[share.lot_id], share.share, 3)
    assert share.share.step.basis.value in text
    assert str(share.share.amount_kg) in text


def test_inputs_of_unknown_ambiguous_repeated_or_ceased_passports_are_rejected() -> None:
    known, gone = passport(), dataclasses.replace(passport(), ceased_by="recycler-x/TB-1")
    report = batch(
        [
            passport_input(known),
            passport_input(known),
            TreatmentInput(battery_identifier="VX-NOBODY", mass_kg=Decimal(500)),
            TreatmentInput(battery_identifier="VX-TWICE", mass_kg=Decimal(500)),
            passport_input(gone),
            TreatmentInput(mass_kg=Decimal(10)),
            TreatmentInput(unidentified_reference="SCRAP-1", mass_kg=Decimal(10)),
        ]
    )
    references = [
        InputReference(known),
        InputReference(known),
        InputReference(problem="unknown_passport"),
        InputReference(problem="ambiguous_identifier"),
        InputReference(gone),
        InputReference(),
        InputReference(),
    ]
    with pytest.raises(ValidationFailed) as failed:
        assess_treatment_batch(report, references)
    assert reasons(failed) == {
        "inputs.1": "duplicate_input",
        "inputs.2.battery_identifier": "unknown_passport",
        "inputs.3.battery_identifier": "ambiguous_identifier",
        "inputs.4": "passport_already_recycled",
        "inputs.5": "input_reference_required",
        "inputs.6.chemistry": "chemistry_required",
    }


def test_outputs_above_inputs_are_rejected() -> None:
    p = passport()
    too_much = TreatmentOutput(
        fraction=OutputFraction.black_mass,
        destination=OutputDestination.recycling,
        lot_id="BM-1",
        mass_kg=Decimal("600"),
        assay_pct={M.cobalt: Decimal("0.5")},
    )
    with pytest.raises(ValidationFailed) as failed:
        assess_treatment_batch(batch([passport_input(p)], [too_much]), refs(p))
    assert reasons(failed) == {"outputs": "outputs_exceed_inputs"}
    # Declared additives (flux, reagents) are not battery mass: then it balances.
    with_flux = too_much.model_copy(update={"additive_mass_kg": Decimal("100")})
    assessment = assess_treatment_batch(batch([passport_input(p)], [with_flux]), refs(p))
    assert assessment.recycled_output_kg == Decimal("500")


def test_declared_losses_must_close_the_balance_within_one_percent() -> None:
    p = passport()
    outputs = default_outputs(Decimal("512.5"))  # 205.0 + 128.1 + 51.2 = 384.3 kg; 128.2 kg unaccounted
    with pytest.raises(ValidationFailed) as failed:
        assess_treatment_batch(batch([passport_input(p)], outputs, losses_kg="100"), refs(p))
    assert reasons(failed) == {"losses_kg": "mass_balance_gap"}
    close = assess_treatment_batch(batch([passport_input(p)], outputs, losses_kg="125"), refs(p))
    assert [f.reason for f in close.flags if f.field == "losses_kg"] == ["mass_balance_difference"]
    computed = assess_treatment_batch(batch([passport_input(p)], outputs), refs(p))
    assert computed.losses_kg == Decimal("128.2")
    assert "losses_not_declared" in [f.reason for f in computed.flags]


def test_output_rules_name_the_field() -> None:
    p = passport()
    outputs = [
        TreatmentOutput(
            fraction=OutputFraction.black_mass, destination=OutputDestination.recycling, mass_kg=Decimal(1)
        ),
        TreatmentOutput(
            fraction=OutputFraction.black_mass, destination=OutputDestination.recycling, lot_id="A", mass_kg=Decimal(1)
        ),
        TreatmentOutput(
            fraction=OutputFraction.alloy,
            destination=OutputDestination.recycling,
            lot_id="A",
            mass_kg=Decimal(2),
            additive_mass_kg=Decimal(3),
            assay_pct={M.cobalt: Decimal(60), M.nickel: Decimal(50)},
        ),
    ]
    with pytest.raises(ValidationFailed) as failed:
        assess_treatment_batch(batch([passport_input(p)], outputs), refs(p))
    assert reasons(failed) == {
        "outputs.0.lot_id": "lot_id_required",
        "outputs.0.assay_pct": "assay_missing",
        "outputs.1.assay_pct": "assay_missing",
        "outputs.2.lot_id": "duplicate_lot",
        "outputs.2.additive_mass_kg": "additive_exceeds_mass",
        "outputs.2.assay_pct": "assay_over_100_pct",
    }


def test_flags_mixed_categories_mismatch_and_weight_but_credits_no_material_nobody_declares() -> None:
    nmc = passport()
    lead = TreatmentOutput(
        fraction=OutputFraction.lead_compounds,
        destination=OutputDestination.recycling,
        lot_id="PB-1",
        mass_kg=Decimal("100"),
        assay_pct={M.lead: Decimal(70)},
    )
    inputs = [passport_input(nmc, "300", chemistry=RecoveryChemistry.lfp), scrap_input("50", RecoveryChemistry.nimh)]
    # Neither input declares lead (nor does NMC or NiMH by default): no kilogram of it can be credited.
    with pytest.raises(ValidationFailed) as failed:
        assess_treatment_batch(batch(inputs, [lead]), refs(nmc, None))
    assert reasons(failed) == {"outputs.0.assay_pct.lead": "mass_balance_exceeded"}
    assert "70.000 kg lead" in failed.value.violations[0].message
    nickel = lead.model_copy(
        update={"fraction": OutputFraction.black_mass, "lot_id": "BM-1", "assay_pct": {M.nickel: Decimal(30)}}
    )
    assessment = assess_treatment_batch(batch(inputs, [nickel]), refs(nmc, None))
    input_flags = {f.reason for f in assessment.inputs[0].flags}
    assert {"chemistry_mismatch", "input_mass_differs_from_passport_weight", "chemistry_default"} <= input_flags
    batch_flags = {f.reason for f in assessment.flags}
    assert {"mixed_categories", "losses_not_declared"} <= batch_flags
    assert "attributed_by_input_mass" not in batch_flags
    # 30 kg nickel shared pro rata the declared nickel: 300 kg × 0.075 = 22.5 kg and 50 kg × 0.35 = 17.5 kg.
    assert [s.share.amount_kg for s in assessment.shares] == [Decimal("16.875"), Decimal("13.125")]
    assert {s.share.step.basis for s in assessment.shares} == {
        ContentBasis.passport_declared,
        ContentBasis.chemistry_default,
    }


def test_completion_before_start_is_rejected() -> None:
    p = passport()
    report = batch([passport_input(p)]).model_copy(update={"completed_at": batch([passport_input(p)]).started_at})
    assess_treatment_batch(report, refs(p))  # same instant is fine
    early = report.model_copy(update={"started_at": report.completed_at.replace(day=5)})
    with pytest.raises(ValidationFailed) as failed:
        assess_treatment_batch(early, refs(p))
    assert reasons(failed) == {"completed_at": "completed_before_started"}


# --- properties ------------------------------------------------------------------------------------------------

PASSPORTS = [passport(), passport(BatteryCategory.industrial), passport(BatteryCategory.lmt)]
masses = st.decimals(min_value="0.5", max_value="2000", places=1)
pct = st.decimals(min_value=0, max_value=25, places=2)


@st.composite
def batches(draw: st.DrawFn) -> tuple[object, list[InputReference]]:
    chosen = draw(st.lists(st.sampled_from(range(len(PASSPORTS))), min_size=0, max_size=3, unique=True))
    inputs = [passport_input(PASSPORTS[i], str(draw(masses))) for i in chosen]
    references = [InputReference(PASSPORTS[i]) for i in chosen]
    for _ in range(draw(st.integers(min_value=0 if chosen else 1, max_value=3))):
        inputs.append(scrap_input(str(draw(masses)), draw(st.sampled_from(list(RecoveryChemistry)))))
        references.append(InputReference())
    total = sum((i.mass_kg for i in inputs), Decimal(0))
    outputs = []
    for n in range(draw(st.integers(min_value=1, max_value=4))):
        assay = draw(st.dictionaries(st.sampled_from(list(RecoveredMaterial)), pct, min_size=1, max_size=4))
        outputs.append(
            TreatmentOutput(
                fraction=OutputFraction.black_mass,
                destination=OutputDestination.recycling,
                lot_id=f"L{n}",
                mass_kg=max(Decimal("0.1"), (total * draw(st.decimals(0, "0.24", places=3))).quantize(Decimal("0.1"))),
                assay_pct=assay,
            )
        )
    return batch(inputs, outputs), references


@settings(max_examples=150, deadline=None)
@given(case=batches())
def test_attribution_conserves_every_pool_exactly(case: tuple[object, list[InputReference]]) -> None:
    report, references = case
    assessment, refused = attempt(lambda: assess_treatment_batch(report, references))  # type: ignore[arg-type]
    if assessment is None:
        assert refused <= {"outputs_exceed_inputs", "assay_missing", "mass_balance_exceeded"}
        return
    pools = {(lot.lot_id, m): kg for lot in assessment.lots for m, kg in lot.material_kg.items()}
    attributed: dict[tuple[str, RecoveredMaterial], Decimal] = defaultdict(Decimal)
    for lot_share in assessment.shares:
        share = lot_share.share
        assert share.amount_kg >= 0
        assert share.amount_kg == share.step.allocated_kg
        assert 0 <= share.input_index < len(assessment.inputs)
        attributed[(lot_share.lot_id, share.material)] += share.amount_kg
    for key, pool in pools.items():
        assert attributed.get(key, Decimal(0)) == pool
    per_input = defaultdict(set)
    for lot_share in assessment.shares:
        per_input[(lot_share.lot_id, lot_share.share.material)].add(lot_share.share.input_index)
    for key, indexes in per_input.items():  # one line per input and pool: nothing counted twice
        assert len([s for s in assessment.shares if (s.lot_id, s.share.material) == key]) == len(indexes)


# Lots that any mix of PASSPORTS declares enough for (LFP declares no cobalt, nickel or manganese).
LEAN_BLACK_MASS = {M.lithium: "0.5", M.graphite: "10"}
LEAN_METALS = {M.copper: "20", M.aluminium: "15"}


@settings(max_examples=60, deadline=None)
@given(plan=st.lists(st.lists(st.sampled_from(range(len(PASSPORTS))), min_size=1, max_size=3), min_size=1, max_size=5))
def test_a_passport_is_attributed_in_one_batch_only(plan: list[list[int]]) -> None:
    """Batches arrive in sequence; the store marks passports of accepted batches as ceased."""
    ceased: dict[str, str] = {}
    attributed_in: dict[str, set[str]] = defaultdict(set)
    for number, chosen in enumerate(plan):
        passports = [PASSPORTS[i] for i in chosen]
        current = [dataclasses.replace(p, ceased_by=ceased.get(p.passport_id)) for p in passports]
        inputs = [passport_input(p) for p in current]
        total = sum((i.mass_kg for i in inputs), Decimal(0))
        outputs = default_outputs(total, black_mass_assay=LEAN_BLACK_MASS, metals_assay=LEAN_METALS)
        report = batch(inputs, outputs, batch_id=f"TB-{number}")
        assessment, refused = attempt(lambda: assess_treatment_batch(report, refs(*current)))  # noqa: B023
        if assessment is None:
            assert refused <= {"passport_already_recycled", "duplicate_input"}
            continue
        for assessed in assessment.inputs:
            assert assessed.passport is not None
            ceased[assessed.passport.passport_id] = report.batch_id
        for lot_share in assessment.shares:
            passport_id = assessment.inputs[lot_share.share.input_index].reference
            attributed_in[passport_id].add(report.batch_id)
    assert all(len(batch_ids) == 1 for batch_ids in attributed_in.values())
