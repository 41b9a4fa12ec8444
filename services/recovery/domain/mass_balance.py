"""Conservation: what recovery credits to passports never exceeds what they declared, plus an assay tolerance.

Per material, the recycled lots of a treatment batch (lot mass × assay) may hold at most the declared content of
the batch's inputs × (1 + tolerance); refined metal attributed to a batch, over all refiner reports, at most the
same. Beyond it the batch or report is refused (`mass_balance_exceeded`), never credited. Every input's share is
pro rata its declared content, so no input is credited more than its own declared content × (1 + tolerance)
(to the 0.001 kg of the largest-remainder share-out). A material no input declares cannot be credited at all.

The tolerance is for assay uncertainty: a black-mass assay (sampling a heterogeneous powder, then ICP-OES) is
typically good to a few percent relative, and a passport's composition is a model-level figure. Default 5 %,
`BPASS_RECOVERY_ASSAY_TOLERANCE_PCT`. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_FLOOR, Decimal

from contracts.errors import Violation
from contracts.recovery import RecoveredMaterial, RecoveryFlag
from services.recovery.domain.materials import ZERO

DEFAULT_ASSAY_TOLERANCE_PCT = Decimal("5")
REASON = "mass_balance_exceeded"


def ceiling_kg(declared_kg: Decimal, tolerance_pct: Decimal) -> Decimal:
    """The most that may be credited against `declared_kg`: declared × (1 + tolerance)."""
    return declared_kg * (1 + tolerance_pct / 100)


def exceeds(declared_kg: Decimal, claimed_kg: Decimal, tolerance_pct: Decimal) -> bool:
    """One direction only: recovering less than declared is normal (losses); more, beyond the tolerance, is not."""
    return claimed_kg > ceiling_kg(declared_kg, tolerance_pct)


def _pct(value: Decimal) -> str:
    return f"{value.normalize():f}"


def conservation_violation(
    material: RecoveredMaterial,
    declared_kg: Decimal,
    claimed_kg: Decimal,
    tolerance_pct: Decimal,
    *,
    field: str,
    claimed_what: str,
    declared_what: str,
) -> Violation | None:
    """`mass_balance_exceeded` naming the material, the declared and the claimed mass; None when within."""
    if not exceeds(declared_kg, claimed_kg, tolerance_pct):
        return None
    ceiling = ceiling_kg(declared_kg, tolerance_pct).quantize(Decimal("0.001"), rounding=ROUND_FLOOR)
    return Violation(
        field=field,
        reason=REASON,
        message=f"{claimed_what} {claimed_kg} kg {material.value}; {declared_what} {declared_kg} kg, so at most "
        f"{ceiling} kg (declared + {_pct(tolerance_pct)} % assay tolerance) can be credited to passports. "
        "Check the assay or the masses.",
    )


def above_declared_flag(
    claimed_kg: Mapping[RecoveredMaterial, Decimal],
    declared_kg: Mapping[RecoveredMaterial, Decimal],
    tolerance_pct: Decimal,
) -> list[RecoveryFlag]:
    """`recovered_above_declared` per material above the declared content but within the tolerance."""
    flags = []
    for material, claimed in sorted(claimed_kg.items()):
        declared = declared_kg.get(material, ZERO)
        if declared < claimed and not exceeds(declared, claimed, tolerance_pct):
            flags.append(
                RecoveryFlag(
                    field="outputs",
                    reason="recovered_above_declared",
                    message=f"The lots hold {claimed} kg {material.value}, more than the {declared} kg the inputs "
                    f"declare, within the {_pct(tolerance_pct)} % assay tolerance.",
                )
            )
    return flags
