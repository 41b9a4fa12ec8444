"""The two tolerances of recovery, checked on the domain functions themselves, at, just inside and just outside
each boundary, in each direction separately (so that a check made one-directional fails a test of its own).

- The batch's mass balance (`treatment_rules.check_balance`, `mass_balance_gap`): inputs − outputs − declared
  losses may be off by 1 % of the input mass, whether mass is unaccounted for (outputs + losses below the input)
  or over-accounted (outputs + losses above it).
- The assay tolerance of conservation (`mass_balance.exceeds` / `conservation_violation`, `mass_balance_exceeded`):
  up to declared × 1.05 may be credited; it is one-directional on purpose (recovering less is losses, not an error).

The figures 1 % and 5 % are written out here, not read from the code: raising either must fail these tests.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from contracts.recovery import RecoveredMaterial, TreatmentBatchReported
from services.recovery.domain.mass_balance import DEFAULT_ASSAY_TOLERANCE_PCT, conservation_violation, exceeds
from services.recovery.domain.treatment_rules import check_balance
from tests.unit.recovery.builders import batch, default_outputs, scrap_input

KG = Decimal("0.001")
ONE_PERCENT = Decimal("0.01")
FIVE_PERCENT = Decimal(5)

# Input masses to the gram, so that 1 % of them falls between grams as often as on one.
input_masses = st.decimals(min_value="100", max_value="20000", places=3)
# Where within the tolerance a gap falls: 0 (balanced) to 1 (the boundary itself).
fractions = st.decimals(min_value="0", max_value="1", places=4)


def with_gap(mass_kg: Decimal, gap_kg: Decimal) -> TreatmentBatchReported:
    """A batch of one scrap input whose inputs − outputs − losses is exactly `gap_kg`."""
    outputs = default_outputs(mass_kg)
    out = sum((o.mass_kg - o.additive_mass_kg for o in outputs), Decimal(0))
    return batch([scrap_input(str(mass_kg))], outputs, losses_kg=str(mass_kg - out - gap_kg))


def balance_reasons(mass_kg: Decimal, gap_kg: Decimal) -> tuple[list[str], list[str]]:
    violations, flags, _ = check_balance(with_gap(mass_kg, gap_kg))
    return [v.reason for v in violations], [f.reason for f in flags if f.field == "losses_kg"]


def largest_gram_within(mass_kg: Decimal) -> Decimal:
    """The largest gap, to the gram, that is not more than 1 % of the input."""
    return (mass_kg * ONE_PERCENT).quantize(KG, rounding="ROUND_FLOOR")


# --- mass unaccounted for: outputs + losses below the input


@settings(max_examples=150)
@given(mass=input_masses)
@example(mass=Decimal("1962.5"))  # 19.625 kg: the boundary itself falls between two grams
@example(mass=Decimal("1000"))  # 10 kg: the boundary falls on a gram
def test_unaccounted_mass_up_to_one_percent_is_flagged_and_a_gram_beyond_is_refused(mass: Decimal) -> None:
    boundary = mass * ONE_PERCENT
    assert balance_reasons(mass, boundary) == ([], ["mass_balance_difference"])  # exactly at the boundary
    assert balance_reasons(mass, largest_gram_within(mass)) == ([], ["mass_balance_difference"])
    assert balance_reasons(mass, largest_gram_within(mass) + KG) == (["mass_balance_gap"], [])  # just outside
    assert balance_reasons(mass, boundary + KG) == (["mass_balance_gap"], [])


@settings(max_examples=100)
@given(mass=input_masses, within=fractions)
def test_unaccounted_mass_anywhere_within_one_percent_is_accepted(mass: Decimal, within: Decimal) -> None:
    gap = (mass * ONE_PERCENT * within).quantize(KG, rounding="ROUND_FLOOR")
    assert balance_reasons(mass, gap) == ([], ["mass_balance_difference"] if gap else [])


@settings(max_examples=100)
@given(mass=input_masses, beyond=st.decimals(min_value="0.001", max_value="10", places=3))
def test_unaccounted_mass_anywhere_beyond_one_percent_is_refused(mass: Decimal, beyond: Decimal) -> None:
    violations, flags = balance_reasons(mass, mass * ONE_PERCENT + beyond)
    assert (violations, flags) == (["mass_balance_gap"], [])


# --- mass over-accounted: outputs + losses above the input


@settings(max_examples=150)
@given(mass=input_masses)
@example(mass=Decimal("1962.5"))
@example(mass=Decimal("1000"))
def test_over_accounted_mass_up_to_one_percent_is_flagged_and_a_gram_beyond_is_refused(mass: Decimal) -> None:
    boundary = mass * ONE_PERCENT
    assert balance_reasons(mass, -boundary) == ([], ["mass_balance_difference"])
    assert balance_reasons(mass, -largest_gram_within(mass)) == ([], ["mass_balance_difference"])
    assert balance_reasons(mass, -(largest_gram_within(mass) + KG)) == (["mass_balance_gap"], [])
    assert balance_reasons(mass, -(boundary + KG)) == (["mass_balance_gap"], [])


@settings(max_examples=100)
@given(mass=input_masses, within=fractions)
def test_over_accounted_mass_anywhere_within_one_percent_is_accepted(mass: Decimal, within: Decimal) -> None:
    gap = (mass * ONE_PERCENT * within).quantize(KG, rounding="ROUND_FLOOR")
    assert balance_reasons(mass, -gap) == ([], ["mass_balance_difference"] if gap else [])


@settings(max_examples=100)
@given(mass=input_masses, beyond=st.decimals(min_value="0.001", max_value="10", places=3))
def test_over_accounted_mass_anywhere_beyond_one_percent_is_refused(mass: Decimal, beyond: Decimal) -> None:
    violations, flags = balance_reasons(mass, -(mass * ONE_PERCENT + beyond))
    assert (violations, flags) == (["mass_balance_gap"], [])


def test_the_refusal_names_the_gap_and_the_one_percent() -> None:
    violations, _, _ = check_balance(with_gap(Decimal("1000"), Decimal("-10.001")))
    [violation] = violations
    assert (violation.field, violation.reason) == ("losses_kg", "mass_balance_gap")
    assert "leave -10.001 kg unaccounted, more than 1 % of the inputs" in violation.message


# --- the assay tolerance of conservation: declared × 1.05, upwards only


declared_masses = st.decimals(min_value="0.001", max_value="5000", places=3)


def test_the_default_assay_tolerance_is_five_percent() -> None:
    assert DEFAULT_ASSAY_TOLERANCE_PCT == FIVE_PERCENT


@settings(max_examples=150)
@given(declared=declared_masses)
@example(declared=Decimal("7.035"))  # the integration test's cobalt: 7.38675 kg is the ceiling
def test_crediting_up_to_declared_plus_five_percent_is_within_and_a_gram_more_is_not(declared: Decimal) -> None:
    ceiling = declared * Decimal("1.05")
    assert not exceeds(declared, ceiling, DEFAULT_ASSAY_TOLERANCE_PCT)  # exactly at the boundary
    assert not exceeds(declared, ceiling.quantize(KG, rounding="ROUND_FLOOR"), DEFAULT_ASSAY_TOLERANCE_PCT)
    assert exceeds(declared, ceiling.quantize(KG, rounding="ROUND_FLOOR") + KG, DEFAULT_ASSAY_TOLERANCE_PCT)
    assert exceeds(declared, ceiling + KG, DEFAULT_ASSAY_TOLERANCE_PCT)
    violation = conservation_violation(
        RecoveredMaterial.cobalt,
        declared,
        ceiling + KG,
        DEFAULT_ASSAY_TOLERANCE_PCT,
        field="outputs.0.assay_pct.cobalt",
        claimed_what="The lots hold",
        declared_what="the inputs declare",
    )
    assert violation is not None
    assert violation.reason == "mass_balance_exceeded"
    assert "declared + 5 % assay tolerance" in violation.message


@settings(max_examples=150)
@given(declared=declared_masses, share=st.decimals(min_value="0", max_value="1", places=4))
def test_crediting_less_than_declared_is_never_refused_however_much_less(declared: Decimal, share: Decimal) -> None:
    """Below the declared content, by any amount (5 % below, 95 % below): losses, not a breach."""
    claimed = declared * share
    assert not exceeds(declared, claimed, DEFAULT_ASSAY_TOLERANCE_PCT)
    assert not exceeds(declared, declared * Decimal("0.95") - KG, DEFAULT_ASSAY_TOLERANCE_PCT)


@settings(max_examples=100)
@given(declared=declared_masses, tolerance=st.decimals(min_value="0", max_value="20", places=2))
def test_the_configured_tolerance_is_the_boundary(declared: Decimal, tolerance: Decimal) -> None:
    ceiling = declared * (1 + tolerance / 100)
    assert not exceeds(declared, ceiling, tolerance)
    assert exceeds(declared, ceiling + KG, tolerance)
