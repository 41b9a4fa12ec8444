"""A passport's declared content per kg of battery: passport data first, chemistry defaults flagged."""

from __future__ import annotations

from decimal import Decimal

from bpass.examples import valid_static_payload
from contracts.attributes import BatteryCategory
from contracts.recovery import ContentBasis, RecoveredMaterial, RecoveryChemistry
from services.recovery.domain.composition import passport_profile, resolve_chemistry

M = RecoveredMaterial


def test_nmc_passport_shares_are_read_and_missing_materials_defaulted() -> None:
    static = valid_static_payload(BatteryCategory.ev)
    profile, flags = passport_profile(static, RecoveryChemistry.nmc811, "inputs.0")
    assert profile[M.nickel].kg_per_kg == Decimal("0.075000")
    assert profile[M.nickel].basis is ContentBasis.passport_declared
    # 3.1 % lithium carbonate × 18.7852 % lithium
    assert profile[M.lithium].kg_per_kg == Decimal("0.005823")
    assert "material_composition.3 Lithium carbonate" in profile[M.lithium].sources[0]
    assert profile[M.copper].basis is ContentBasis.chemistry_default
    assert [f.reason for f in flags] == ["chemistry_default"]
    assert "aluminium, copper" in flags[0].message


def test_lfp_passport_masses_are_divided_by_its_weight() -> None:
    static = valid_static_payload(BatteryCategory.industrial)  # 1250 kg, masses in kg
    profile, flags = passport_profile(static, RecoveryChemistry.lfp, "inputs.0")
    assert profile[M.copper].kg_per_kg == Decimal("0.060000")
    assert profile[M.graphite].kg_per_kg == Decimal("0.110000")
    assert profile[M.cobalt].basis is ContentBasis.chemistry_default
    assert profile[M.cobalt].kg_per_kg == 0
    assert flags == []  # nothing non-zero defaulted


def test_masses_without_a_weight_fall_back_to_defaults_and_say_so() -> None:
    static = valid_static_payload(BatteryCategory.industrial)
    del static["weight_kg"]
    profile, flags = passport_profile(static, RecoveryChemistry.lfp, "inputs.2")
    assert profile[M.copper].basis is ContentBasis.chemistry_default
    assert {f.reason for f in flags} == {"weight_missing", "chemistry_default"}
    assert flags[0].field == "inputs.2.material_composition"


def test_passport_chemistry_wins_over_the_recyclers_and_the_difference_is_flagged() -> None:
    static = valid_static_payload(BatteryCategory.ev)
    chemistry, flags = resolve_chemistry(static, RecoveryChemistry.lfp, "inputs.1")
    assert chemistry is RecoveryChemistry.nmc811
    assert [(f.field, f.reason) for f in flags] == [("inputs.1.chemistry", "chemistry_mismatch")]
    static["battery_chemistry"] = {"short_name": "Na-ion", "clear_name": "Sodium ion"}
    chemistry, flags = resolve_chemistry(static, RecoveryChemistry.other, "inputs.1")
    assert chemistry is RecoveryChemistry.other
    assert flags[0].reason == "chemistry_from_treatment_input"
    assert resolve_chemistry(static, None, "inputs.1") == (None, [])
