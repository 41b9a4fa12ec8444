"""Stoichiometry, chemistry names and the default compositions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.recovery import ChemistryGroup, RecoveredMaterial, RecoveryChemistry
from services.recovery.domain.materials import (
    CHEMISTRY_DEFAULTS,
    CHEMISTRY_GROUP,
    PRODUCT_MAXIMUM_PCT,
    chemistry_from_name,
    material_fractions,
)

M = RecoveredMaterial


def test_stoichiometric_fractions_match_textbook_values() -> None:
    assert material_fractions("Lithium carbonate", "554-13-2", None) == {M.lithium: Decimal("0.187852")}
    lfp = material_fractions("Lithium iron phosphate", None, None)
    assert lfp is not None
    assert lfp[M.lithium].quantize(Decimal("0.001")) == Decimal("0.044")
    nmc811 = material_fractions("Lithium nickel manganese cobalt oxide", "346417-97-8", RecoveryChemistry.nmc811)
    assert nmc811 is not None
    assert nmc811[M.nickel].quantize(Decimal("0.001")) == Decimal("0.483")
    # CoSO4·7H2O is sold at ~21 % Co; anhydrous CoSO4 is the ceiling.
    assert PRODUCT_MAXIMUM_PCT["cobalt_sulphate"][1].quantize(Decimal("0.1")) == Decimal("38.0")


def test_names_and_cas_numbers_both_map() -> None:
    assert material_fractions("Natural graphite", None, None) == {M.graphite: Decimal(1)}
    assert material_fractions("  ALUMINUM ", None, None) == {M.aluminium: Decimal("1.000000")}
    assert material_fractions("whatever", "7440-02-0", None) == {M.nickel: Decimal("1.000000")}
    assert material_fractions("Ethylene carbonate", "96-49-1", None) is None
    # An NMC oxide without a known ratio cannot be read.
    assert material_fractions("Lithium nickel manganese cobalt oxide", None, RecoveryChemistry.lfp) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NMC811", RecoveryChemistry.nmc811),
        ("NCM 622", RecoveryChemistry.nmc622),
        ("nmc-532", RecoveryChemistry.nmc532),
        ("LFP", RecoveryChemistry.lfp),
        ("LiFePO4", RecoveryChemistry.lfp),
        ("Lead-acid", RecoveryChemistry.lead_acid),
        ("NiMH", RecoveryChemistry.nimh),
        ("NiCd", RecoveryChemistry.nicd),
        ("Sodium-ion", None),
        (None, None),
    ],
)
def test_chemistry_names(name: str | None, expected: RecoveryChemistry | None) -> None:
    assert chemistry_from_name(name) is expected


def test_defaults_are_physical_and_every_chemistry_has_a_group() -> None:
    for chemistry in RecoveryChemistry:
        profile = CHEMISTRY_DEFAULTS[chemistry]
        assert set(profile) == set(RecoveredMaterial)
        assert sum(profile.values()) <= 1
        assert chemistry in CHEMISTRY_GROUP
    lithium_based = [c for c, g in CHEMISTRY_GROUP.items() if g is ChemistryGroup.lithium_based]
    assert all(CHEMISTRY_DEFAULTS[c][M.lithium] > 0 for c in lithium_based)
    assert CHEMISTRY_DEFAULTS[RecoveryChemistry.lfp][M.cobalt] == 0
    assert CHEMISTRY_DEFAULTS[RecoveryChemistry.lead_acid][M.lead] == Decimal("0.63")
