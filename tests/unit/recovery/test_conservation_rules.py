"""The conservation rule's own functions: the ceiling, the refusal it words for the publisher, and the flag for
material recovered above the declared content but within the assay tolerance."""

from __future__ import annotations

from decimal import Decimal

from contracts.recovery import RecoveredMaterial
from services.recovery.domain.mass_balance import (
    DEFAULT_ASSAY_TOLERANCE_PCT,
    above_declared_flag,
    ceiling_kg,
    conservation_violation,
    exceeds,
)

FIVE = Decimal("5")


def test_the_ceiling_is_the_declared_content_plus_the_tolerance_and_only_more_exceeds_it() -> None:
    assert DEFAULT_ASSAY_TOLERANCE_PCT == FIVE
    assert ceiling_kg(Decimal("20"), FIVE) == Decimal("21")
    assert not exceeds(Decimal("20"), Decimal("21"), FIVE)
    assert exceeds(Decimal("20"), Decimal("21.001"), FIVE)
    assert not exceeds(Decimal("20"), Decimal("0"), FIVE), "recovering less than declared is losses, not a breach"


def test_within_the_ceiling_there_is_no_violation() -> None:
    found = conservation_violation(
        RecoveredMaterial.cobalt,
        Decimal("20"),
        Decimal("21"),
        FIVE,
        field="outputs",
        claimed_what="The lots hold",
        declared_what="the inputs declare",
    )
    assert found is None


def test_the_refusal_names_the_field_the_material_both_masses_and_the_ceiling_rounded_down_to_the_gram() -> None:
    # 0.0019 kg × 1.05 = 0.001995 kg: a gram, floored (never rounded up beyond what may be credited)
    found = conservation_violation(
        RecoveredMaterial.lithium,
        Decimal("0.0019"),
        Decimal("0.5"),
        Decimal("2.50"),
        field="outputs[1].assay",
        claimed_what="The lots hold",
        declared_what="the inputs declare",
    )
    assert found is not None
    assert (found.field, found.reason) == ("outputs[1].assay", "mass_balance_exceeded")
    assert found.message == (
        "The lots hold 0.5 kg lithium; the inputs declare 0.0019 kg, so at most 0.001 kg (declared + 2.5 % assay "
        "tolerance) can be credited to passports. Check the assay or the masses."
    )


def test_material_above_the_declared_content_within_the_tolerance_is_flagged_per_material() -> None:
    flags = above_declared_flag(
        {
            RecoveredMaterial.nickel: Decimal("10.4"),  # above 10, within 10.5: flagged
            RecoveredMaterial.cobalt: Decimal("3"),  # exactly as declared: not flagged
            RecoveredMaterial.copper: Decimal("1"),  # below: not flagged
            RecoveredMaterial.lithium: Decimal("2.2"),  # beyond the tolerance: refused elsewhere, not flagged
        },
        {
            RecoveredMaterial.nickel: Decimal("10"),
            RecoveredMaterial.cobalt: Decimal("3"),
            RecoveredMaterial.copper: Decimal("2"),
            RecoveredMaterial.lithium: Decimal("2"),
        },
        FIVE,
    )
    assert [(f.field, f.reason) for f in flags] == [("outputs", "recovered_above_declared")]
    assert flags[0].message == (
        "The lots hold 10.4 kg nickel, more than the 10 kg the inputs declare, within the 5 % assay tolerance."
    )


def test_a_material_no_input_declares_is_never_flagged_as_within_the_tolerance() -> None:
    flags = above_declared_flag({RecoveredMaterial.graphite: Decimal("0.001")}, {}, FIVE)
    assert flags == [], "nothing declared: any amount is beyond the tolerance (refused), not a flag"


def test_flags_come_in_material_order() -> None:
    claimed = {RecoveredMaterial.nickel: Decimal("1.01"), RecoveredMaterial.cobalt: Decimal("1.01")}
    declared = {RecoveredMaterial.nickel: Decimal("1"), RecoveredMaterial.cobalt: Decimal("1")}
    flags = above_declared_flag(claimed, declared, FIVE)
    assert [f.message.split(" kg ")[1].split(",")[0] for f in flags] == ["cobalt", "nickel"]
