"""A passport's declared material content, per kg of battery, from its minted static data. No I/O.

Per material: what the passport's `material_composition` declares (entries mapped to materials by CAS
number or name and stoichiometry, as a share of the battery mass, or as mass ÷ `weight_kg`), else the
chemistry default (flagged). The declared content of a treatment input is this profile × the mass the
recycler weighed: passport data are model-level, and a passport may stand for a pack or a batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from contracts.recovery import ContentBasis, RecoveredMaterial, RecoveryChemistry, RecoveryFlag
from services.recovery.domain.materials import (
    CHEMISTRY_DEFAULTS,
    FRACTION_QUANTUM,
    ZERO,
    chemistry_from_name,
    material_fractions,
)


@dataclass(frozen=True)
class MaterialContent:
    kg_per_kg: Decimal
    basis: ContentBasis
    sources: tuple[str, ...]


Profile = Mapping[RecoveredMaterial, MaterialContent]


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def passport_chemistry_name(static_data: Mapping[str, Any]) -> str | None:
    chemistry = static_data.get("battery_chemistry")
    if isinstance(chemistry, Mapping):
        name = chemistry.get("short_name")
        return str(name) if name else None
    return None


def resolve_chemistry(
    static_data: Mapping[str, Any] | None, declared: RecoveryChemistry | None, field: str
) -> tuple[RecoveryChemistry | None, list[RecoveryFlag]]:
    """The chemistry to treat an input as: the passport's, else the recycler's; differences are flagged."""
    flags: list[RecoveryFlag] = []
    name = passport_chemistry_name(static_data) if static_data is not None else None
    from_passport = chemistry_from_name(name)
    if from_passport is not None:
        if declared is not None and declared is not from_passport:
            flags.append(
                RecoveryFlag(
                    field=f"{field}.chemistry",
                    reason="chemistry_mismatch",
                    message=f"The recycler sorted it as {declared.value}, its passport says {name!r} "
                    f"({from_passport.value}); the passport's chemistry is used.",
                )
            )
        return from_passport, flags
    if static_data is not None and declared is not None:
        flags.append(
            RecoveryFlag(
                field=f"{field}.chemistry",
                reason="chemistry_from_treatment_input",
                message=f"The passport names no chemistry recovery recognises ({name!r}); the recycler's "
                f"{declared.value} is used.",
            )
        )
    return declared, flags


def default_profile(chemistry: RecoveryChemistry) -> dict[RecoveredMaterial, MaterialContent]:
    return {
        material: MaterialContent(
            value, ContentBasis.chemistry_default, (f"typical {chemistry.value} content {value} kg/kg",)
        )
        for material, value in CHEMISTRY_DEFAULTS[chemistry].items()
    }


def passport_profile(
    static_data: Mapping[str, Any], chemistry: RecoveryChemistry, field: str
) -> tuple[dict[RecoveredMaterial, MaterialContent], list[RecoveryFlag]]:
    """Per material kg/kg of battery: declared by the passport where it can be read, else the chemistry default."""
    flags: list[RecoveryFlag] = []
    weight_kg = _decimal(static_data.get("weight_kg"))
    declared: dict[RecoveredMaterial, Decimal] = {}
    sources: dict[RecoveredMaterial, list[str]] = {}
    weight_missing = False
    entries = static_data.get("material_composition") or []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            continue
        name = str(entry.get("name", ""))
        fractions = material_fractions(name, entry.get("cas_number"), chemistry)
        if not fractions:
            continue
        share_pct, mass_kg = _decimal(entry.get("share_pct")), _decimal(entry.get("mass_kg"))
        if share_pct is not None:
            per_kg, how = share_pct / 100, f"{share_pct} % of the battery"
        elif mass_kg is not None and weight_kg:
            per_kg, how = mass_kg / weight_kg, f"{mass_kg} kg of {weight_kg} kg"
        else:
            weight_missing = weight_missing or mass_kg is not None
            continue
        for material, fraction in fractions.items():
            declared[material] = declared.get(material, ZERO) + per_kg * fraction
            sources.setdefault(material, []).append(f"material_composition.{index} {name}: {how} × {fraction} kg/kg")
    if weight_missing:
        flags.append(
            RecoveryFlag(
                field=f"{field}.material_composition",
                reason="weight_missing",
                message="Composition masses cannot be read as shares without the passport's weight_kg; "
                "chemistry defaults are used for those materials.",
            )
        )
    profile = default_profile(chemistry)
    for material, value in declared.items():
        profile[material] = MaterialContent(
            value.quantize(FRACTION_QUANTUM), ContentBasis.passport_declared, tuple(sources[material])
        )
    defaulted = sorted(
        m.value for m, c in profile.items() if c.basis is ContentBasis.chemistry_default and c.kg_per_kg > 0
    )
    if defaulted:
        flags.append(
            RecoveryFlag(
                field=f"{field}.material_composition",
                reason="chemistry_default",
                message=f"The passport declares no {', '.join(defaulted)}; typical {chemistry.value} "
                "contents are used (basis chemistry_default).",
            )
        )
    total = sum((c.kg_per_kg for c in profile.values()), ZERO)
    if total > 1:
        flags.append(
            RecoveryFlag(
                field=f"{field}.material_composition",
                reason="declared_composition_over_100_pct",
                message=f"The tracked materials add up to {total * 100:.1f} % of the battery mass.",
            )
        )
    return profile, flags
