"""A recycler's treatment batch: what is rejected, what is flagged, and the material attributed to each input.

Rejected (the batch is refused as a whole, every reason named):
- a passport reference that is unknown (on the topic the batch waits for its minting instead: `parking`),
  ambiguous, repeated in the batch or already recycled in another batch (a passport ceases once: no double
  counting);
- an input naming no reference or several, or an unidentified input without a chemistry;
- outputs above inputs: battery-origin outputs (mass − additives) more than the input mass, or, with
  declared losses, outputs + losses more than 1 % off the input mass (`mass_balance_gap`);
- a recycled output without a lot id, a lot id used twice, additives above the output's mass, an assay
  above 100 %, or no assay on a fraction recycled for its metals (`assay_missing`);
- recycled lots holding more of a material than the inputs declare plus the assay tolerance
  (`mass_balance_exceeded`, `mass_balance`): nothing is credited beyond what the batteries contained.

Flagged (accepted, the flag is kept and published): chemistry defaults used, chemistry mismatches, losses
computed rather than declared, a small balance difference, input mass far from the passport's weight,
recovered material above the declared content but within the assay tolerance, categories mixed in one batch.

Attribution: each recycled lot's content of a material (lot mass × assay, at 0.001 kg) is shared among the
batch's inputs pro rata their declared content of that material (profile × weighed mass), by
`allocation.allocate`; the lot is taken as a homogeneous mix of everything the batch treated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from contracts.errors import ValidationFailed, Violation
from contracts.recovery import (
    AllocationLevel,
    AllocationStep,
    ChemistryGroup,
    ContentBasis,
    DeclaredContent,
    OutputDestination,
    OutputFraction,
    RecoveredMaterial,
    RecoveryChemistry,
    RecoveryFlag,
    TreatmentBatchReported,
    TreatmentInput,
    WasteOrigin,
)
from services.recovery.domain.allocation import ZeroWeights, allocate, quantize_kg
from services.recovery.domain.composition import default_profile, passport_profile, resolve_chemistry
from services.recovery.domain.mass_balance import (
    DEFAULT_ASSAY_TOLERANCE_PCT,
    above_declared_flag,
    conservation_violation,
)
from services.recovery.domain.materials import CHEMISTRY_GROUP, ZERO
from services.recovery.domain.passports import InputReference, KnownPassport
from services.recovery.domain.treatment_rules import check_balance, check_inputs, check_outputs

WEIGHT_TOLERANCE = Decimal("0.10")  # input mass vs a single battery's declared weight


@dataclass(frozen=True)
class InputWeights:
    """What an input weighs in the attribution of its batch's lots."""

    index: int
    mass_kg: Decimal
    declared_kg: Mapping[RecoveredMaterial, Decimal]
    basis: Mapping[RecoveredMaterial, ContentBasis]


@dataclass(frozen=True)
class AssessedInput:
    index: int
    reference: str
    passport: KnownPassport | None
    chemistry: RecoveryChemistry
    group: ChemistryGroup
    origin: WasteOrigin
    mass_kg: Decimal
    contents: tuple[DeclaredContent, ...]
    sources: Mapping[RecoveredMaterial, tuple[str, ...]]
    flags: tuple[RecoveryFlag, ...]
    spec: TreatmentInput

    @property
    def weights(self) -> InputWeights:
        return InputWeights(
            self.index,
            self.mass_kg,
            {c.material: c.declared_kg for c in self.contents},
            {c.material: c.basis for c in self.contents},
        )


@dataclass(frozen=True)
class AssessedLot:
    output_index: int
    lot_id: str
    fraction: OutputFraction
    mass_kg: Decimal
    assay_pct: Mapping[RecoveredMaterial, Decimal]
    material_kg: Mapping[RecoveredMaterial, Decimal]


@dataclass(frozen=True)
class Share:
    """One input's share of one pool."""

    input_index: int
    material: RecoveredMaterial
    amount_kg: Decimal
    step: AllocationStep


@dataclass(frozen=True)
class LotShare:
    lot_id: str
    share: Share


@dataclass
class TreatmentAssessment:
    batch: TreatmentBatchReported
    inputs: list[AssessedInput]
    lots: list[AssessedLot]
    shares: list[LotShare]
    input_kg: Decimal
    recycled_output_kg: Decimal
    residues_kg: Decimal
    additives_kg: Decimal
    losses_kg: Decimal
    flags: list[RecoveryFlag] = field(default_factory=list)

    @property
    def recycling_efficiency_pct(self) -> Decimal:
        return (self.recycled_output_kg / self.input_kg * 100).quantize(Decimal("0.01"))


def apportion(pool_kg: Decimal, material: RecoveredMaterial, inputs: Sequence[InputWeights]) -> list[Share]:
    """Share a pool of a material among a batch's inputs pro rata their declared content of it.

    When no input declares any of it, pro rata input mass instead (basis `input_mass`).
    """
    weights = [i.declared_kg.get(material, ZERO) for i in inputs]
    bases = [i.basis.get(material, ContentBasis.chemistry_default) for i in inputs]
    try:
        amounts = allocate(pool_kg, weights)
    except ZeroWeights:
        weights = [i.mass_kg for i in inputs]
        bases = [ContentBasis.input_mass] * len(inputs)
        amounts = allocate(pool_kg, weights)
    total = sum(weights, ZERO)
    return [
        Share(
            i.index,
            material,
            amount,
            AllocationStep(
                level=AllocationLevel.lot_to_input,
                pool_kg=pool_kg,
                weight_kg=weight,
                total_weight_kg=total,
                allocated_kg=amount,
                basis=basis,
            ),
        )
        for i, weight, basis, amount in zip(inputs, weights, bases, amounts, strict=True)
        if weight > 0 or amount > 0
    ]


def _assess_input(index: int, spec: TreatmentInput, passport: KnownPassport | None) -> AssessedInput:
    at = f"inputs.{index}"
    flags: list[RecoveryFlag] = []
    if passport is not None:
        chemistry, chem_flags = resolve_chemistry(passport.static_data, spec.chemistry, at)
        assert chemistry is not None  # checked
        flags += chem_flags
        profile, profile_flags = passport_profile(passport.static_data, chemistry, at)
        flags += profile_flags
        weight = passport.static_data.get("weight_kg")
        if passport.kind == "battery" and weight is not None:
            declared_weight = Decimal(str(weight))
            if abs(spec.mass_kg - declared_weight) > declared_weight * WEIGHT_TOLERANCE:
                flags.append(
                    RecoveryFlag(
                        field=f"{at}.mass_kg",
                        reason="input_mass_differs_from_passport_weight",
                        message=f"Weighed {spec.mass_kg} kg; the passport declares {declared_weight} kg.",
                    )
                )
        reference = passport.passport_id
    else:
        assert spec.chemistry is not None  # checked
        chemistry = spec.chemistry
        profile = default_profile(chemistry)
        reference = spec.unidentified_reference or ""
    contents = tuple(
        DeclaredContent(
            material=material,
            kg_per_kg=content.kg_per_kg,
            declared_kg=quantize_kg(content.kg_per_kg * spec.mass_kg),
            basis=content.basis,
        )
        for material, content in sorted(profile.items())
    )
    return AssessedInput(
        index=index,
        reference=reference,
        passport=passport,
        chemistry=chemistry,
        group=CHEMISTRY_GROUP[chemistry],
        origin=spec.origin,
        mass_kg=spec.mass_kg,
        contents=contents,
        sources={material: content.sources for material, content in profile.items()},
        flags=tuple(flags),
        spec=spec,
    )


def assess_treatment_batch(
    batch: TreatmentBatchReported,
    references: Sequence[InputReference],
    *,
    assay_tolerance_pct: Decimal = DEFAULT_ASSAY_TOLERANCE_PCT,
) -> TreatmentAssessment:
    """Validate a treatment batch and attribute its recycled lots to its inputs; raises ValidationFailed.

    Conservation (`mass_balance`): per material, the recycled lots hold at most the inputs' declared content
    × (1 + `assay_tolerance_pct` %), else `mass_balance_exceeded` and nothing is attributed.
    """
    violations: list[Violation] = []
    if batch.completed_at < batch.started_at:
        violations.append(
            Violation(
                field="completed_at",
                reason="completed_before_started",
                message=f"Treatment completed ({batch.completed_at}) before it started ({batch.started_at}).",
            )
        )
    violations += check_inputs(batch, references)
    violations += check_outputs(batch)
    balance_violations, flags, losses_kg = check_balance(batch)
    violations += balance_violations
    if violations:
        raise ValidationFailed(violations)

    inputs = [
        _assess_input(i, spec, ref.passport) for i, (spec, ref) in enumerate(zip(batch.inputs, references, strict=True))
    ]
    lots = [
        AssessedLot(
            output_index=index,
            lot_id=output.lot_id,
            fraction=output.fraction,
            mass_kg=output.mass_kg,
            assay_pct=dict(output.assay_pct),
            material_kg={m: quantize_kg(output.mass_kg * pct / 100) for m, pct in sorted(output.assay_pct.items())},
        )
        for index, output in enumerate(batch.outputs)
        if output.destination is OutputDestination.recycling and output.lot_id is not None
    ]
    declared, claimed = _declared_and_claimed(inputs, lots)
    refused = [
        violation
        for material, claimed_kg in sorted(claimed.items())
        for violation in [
            conservation_violation(
                material,
                declared.get(material, ZERO),
                claimed_kg,
                assay_tolerance_pct,
                field=_largest_lot_field(lots, material),
                claimed_what="The recycled lots hold",
                declared_what="the inputs declare",
            )
        ]
        if violation is not None
    ]
    if refused:
        raise ValidationFailed(refused)
    weights = [i.weights for i in inputs]
    shares: list[LotShare] = []
    by_mass: set[RecoveredMaterial] = set()
    for lot in lots:
        for material, pool in lot.material_kg.items():
            if pool == 0:
                continue
            lot_shares = apportion(pool, material, weights)
            if any(s.step.basis is ContentBasis.input_mass for s in lot_shares):
                by_mass.add(material)
            shares += [LotShare(lot.lot_id, s) for s in lot_shares]
    flags += _batch_flags(inputs, by_mass)
    flags += above_declared_flag(claimed, declared, assay_tolerance_pct)
    recycled = sum(
        (o.mass_kg - o.additive_mass_kg for o in batch.outputs if o.destination is OutputDestination.recycling), ZERO
    )
    return TreatmentAssessment(
        batch=batch,
        inputs=inputs,
        lots=lots,
        shares=shares,
        input_kg=sum((i.mass_kg for i in batch.inputs), ZERO),
        recycled_output_kg=recycled,
        residues_kg=sum(
            (o.mass_kg - o.additive_mass_kg for o in batch.outputs if o.destination is not OutputDestination.recycling),
            ZERO,
        ),
        additives_kg=sum((o.additive_mass_kg for o in batch.outputs), ZERO),
        losses_kg=losses_kg,
        flags=flags,
    )


def _declared_and_claimed(
    inputs: Sequence[AssessedInput], lots: Sequence[AssessedLot]
) -> tuple[dict[RecoveredMaterial, Decimal], dict[RecoveredMaterial, Decimal]]:
    """Per material: the inputs' declared content, and what the recycled lots hold (each at 0.001 kg)."""
    declared: dict[RecoveredMaterial, Decimal] = {}
    for assessed in inputs:
        for content in assessed.contents:
            declared[content.material] = declared.get(content.material, ZERO) + content.declared_kg
    claimed: dict[RecoveredMaterial, Decimal] = {}
    for lot in lots:
        for material, kg in lot.material_kg.items():
            if kg > 0:
                claimed[material] = claimed.get(material, ZERO) + kg
    return declared, claimed


def _largest_lot_field(lots: Sequence[AssessedLot], material: RecoveredMaterial) -> str:
    """The assay of the lot holding the most of a material: where a recycler looks first."""
    lot = max(lots, key=lambda lot: (lot.material_kg.get(material, ZERO), -lot.output_index))
    return f"outputs.{lot.output_index}.assay_pct.{material.value}"


def _batch_flags(inputs: list[AssessedInput], by_mass: set[RecoveredMaterial]) -> list[RecoveryFlag]:
    flags: list[RecoveryFlag] = []
    groups = sorted({i.group.value for i in inputs})
    if len(groups) > 1:
        flags.append(
            RecoveryFlag(
                field="inputs",
                reason="mixed_categories",
                message=f"The batch mixes {', '.join(groups)} batteries; Annex XII figures split its outputs "
                "pro rata input mass.",
            )
        )
    for material in sorted(by_mass):
        flags.append(
            RecoveryFlag(
                field="outputs",
                reason="attributed_by_input_mass",
                message=f"No input declares {material.value}; the {material.value} recovered is attributed "
                "pro rata input mass.",
            )
        )
    return flags


def explain_treatment_share(lot: AssessedLot, share: Share, inputs_count: int) -> str:
    step = share.step
    pct = (step.weight_kg / step.total_weight_kg * 100).quantize(Decimal("0.01")) if step.total_weight_kg else ZERO
    weight_what = "input mass" if step.basis is ContentBasis.input_mass else f"declared {share.material.value}"
    return (
        f"Lot {lot.lot_id} ({lot.fraction.value}, {lot.mass_kg} kg × {lot.assay_pct.get(share.material)} % "
        f"{share.material.value}) holds {step.pool_kg} kg {share.material.value}. This input's {weight_what} "
        f"is {step.weight_kg} kg ({step.basis.value}), {pct} % of the {step.total_weight_kg} kg of the batch's "
        f"{inputs_count} input(s): {share.amount_kg} kg, by largest remainder at 0.001 kg."
    )
