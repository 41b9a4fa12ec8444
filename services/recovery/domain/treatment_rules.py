"""The rules a treatment batch must keep to be accepted (see `treatment` for what is rejected and flagged)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from contracts.errors import Violation
from contracts.recovery import (
    OutputDestination,
    OutputFraction,
    RecoveryFlag,
    TreatmentBatchReported,
    TreatmentInput,
)
from services.recovery.domain.composition import resolve_chemistry
from services.recovery.domain.materials import ZERO
from services.recovery.domain.passports import InputReference

BALANCE_TOLERANCE = Decimal("0.01")  # of the input mass
ASSAY_REQUIRED = frozenset(
    {
        OutputFraction.black_mass,
        OutputFraction.alloy,
        OutputFraction.matte,
        OutputFraction.copper,
        OutputFraction.aluminium,
        OutputFraction.lead_bullion,
        OutputFraction.lead_compounds,
    }
)


def _reference_of(spec: TreatmentInput) -> list[str]:
    return [r for r in (spec.passport_id, spec.battery_identifier, spec.unidentified_reference) if r is not None]


def check_inputs(batch: TreatmentBatchReported, references: Sequence[InputReference]) -> list[Violation]:
    violations: list[Violation] = []
    seen: dict[str, int] = {}
    for index, (spec, ref) in enumerate(zip(batch.inputs, references, strict=True)):
        at = f"inputs.{index}"
        given = _reference_of(spec)
        if len(given) != 1:
            violations.append(
                Violation(
                    field=at,
                    reason="input_reference_required" if not given else "several_input_references",
                    message="Give exactly one of passport_id, battery_identifier or unidentified_reference.",
                )
            )
            continue
        if ref.problem == "unknown_passport":
            violations.append(
                Violation(
                    field=f"{at}.{'passport_id' if spec.passport_id else 'battery_identifier'}",
                    reason="unknown_passport",
                    message=f"No passport {given[0]!r} is known to recovery; send the batch again once it is "
                    "minted, or report the material as unidentified.",
                )
            )
        elif ref.problem == "ambiguous_identifier":
            violations.append(
                Violation(
                    field=f"{at}.battery_identifier",
                    reason="ambiguous_identifier",
                    message=f"{given[0]!r} names passports of several tenants; send the passport id or the "
                    "Digital Link URI instead.",
                )
            )
        passport = ref.passport
        if passport is None:
            if spec.unidentified_reference is not None and spec.chemistry is None:
                violations.append(
                    Violation(
                        field=f"{at}.chemistry",
                        reason="chemistry_required",
                        message="An unidentified input needs its chemistry: recovery has no passport to read it.",
                    )
                )
            continue
        if passport.ceased_by is not None:
            violations.append(
                Violation(
                    field=at,
                    reason="passport_already_recycled",
                    message=f"Passport {passport.passport_id} was recycled in batch {passport.ceased_by} and "
                    "has ceased; a battery is treated once.",
                )
            )
        if passport.passport_id in seen:
            violations.append(
                Violation(
                    field=at,
                    reason="duplicate_input",
                    message=f"Passport {passport.passport_id} is already input {seen[passport.passport_id]}.",
                )
            )
        seen.setdefault(passport.passport_id, index)
        chemistry, _ = resolve_chemistry(passport.static_data, spec.chemistry, at)
        if chemistry is None:
            violations.append(
                Violation(
                    field=f"{at}.chemistry",
                    reason="chemistry_unknown",
                    message="Neither the passport nor the input names a chemistry recovery recognises; give "
                    "the input's chemistry.",
                )
            )
    return violations


def check_outputs(batch: TreatmentBatchReported) -> list[Violation]:
    violations: list[Violation] = []
    lots: dict[str, int] = {}
    for index, output in enumerate(batch.outputs):
        at = f"outputs.{index}"
        recycled = output.destination is OutputDestination.recycling
        if recycled and output.lot_id is None:
            violations.append(
                Violation(
                    field=f"{at}.lot_id",
                    reason="lot_id_required",
                    message="An output going to recycling needs a lot id for refiners to reference.",
                )
            )
        if output.lot_id is not None:
            if output.lot_id in lots:
                violations.append(
                    Violation(
                        field=f"{at}.lot_id",
                        reason="duplicate_lot",
                        message=f"Lot {output.lot_id} is already output {lots[output.lot_id]}.",
                    )
                )
            lots.setdefault(output.lot_id, index)
        if output.additive_mass_kg > output.mass_kg:
            violations.append(
                Violation(
                    field=f"{at}.additive_mass_kg",
                    reason="additive_exceeds_mass",
                    message=f"Additives ({output.additive_mass_kg} kg) cannot exceed the output's mass "
                    f"({output.mass_kg} kg).",
                )
            )
        assay_total = sum(output.assay_pct.values(), ZERO)
        if assay_total > 100:
            violations.append(
                Violation(
                    field=f"{at}.assay_pct",
                    reason="assay_over_100_pct",
                    message=f"The assayed contents add up to {assay_total} %.",
                )
            )
        if recycled and output.fraction in ASSAY_REQUIRED and not any(v > 0 for v in output.assay_pct.values()):
            violations.append(
                Violation(
                    field=f"{at}.assay_pct",
                    reason="assay_missing",
                    message=f"A {output.fraction.value} fraction sent to recycling needs its assay: without it "
                    "its recovered material cannot be attributed.",
                )
            )
    return violations


def check_balance(batch: TreatmentBatchReported) -> tuple[list[Violation], list[RecoveryFlag], Decimal]:
    input_kg = sum((i.mass_kg for i in batch.inputs), ZERO)
    output_kg = sum((o.mass_kg - o.additive_mass_kg for o in batch.outputs), ZERO)
    tolerance = input_kg * BALANCE_TOLERANCE
    violations: list[Violation] = []
    flags: list[RecoveryFlag] = []
    if output_kg > input_kg:
        violations.append(
            Violation(
                field="outputs",
                reason="outputs_exceed_inputs",
                message=f"Battery-origin outputs ({output_kg} kg, additives excluded) exceed the inputs "
                f"({input_kg} kg); declare additives in additive_mass_kg or correct the masses.",
            )
        )
        return violations, flags, ZERO
    if batch.losses_kg is None:
        losses = input_kg - output_kg
        if losses > 0:
            flags.append(
                RecoveryFlag(
                    field="losses_kg",
                    reason="losses_not_declared",
                    message=f"Losses were not declared; {losses} kg (inputs − outputs) is taken as lost.",
                )
            )
        return violations, flags, losses
    gap = input_kg - output_kg - batch.losses_kg
    if abs(gap) > tolerance:
        violations.append(
            Violation(
                field="losses_kg",
                reason="mass_balance_gap",
                message=f"Inputs ({input_kg} kg) − outputs ({output_kg} kg) − losses ({batch.losses_kg} kg) "
                f"leave {gap} kg unaccounted, more than 1 % of the inputs.",
            )
        )
    elif gap != 0:
        flags.append(
            RecoveryFlag(
                field="losses_kg",
                reason="mass_balance_difference",
                message=f"{gap} kg of the inputs is unaccounted (within the 1 % tolerance).",
            )
        )
    return violations, flags, batch.losses_kg
