"""A GTIN is owned by a tenant when one of its verified GS1 company prefixes starts the GTIN after the indicator."""

from __future__ import annotations

from bpass.examples import EXAMPLE_GTIN
from services.identity.domain.gtin_prefixes import company_part, owned


def test_the_company_prefix_follows_the_indicator_digit() -> None:
    assert company_part("09506000134352") == "9506000134352"
    assert owned(EXAMPLE_GTIN, ["9506000"])
    assert owned("14006381333938", ["4006381"])  # another packaging level (indicator 1), same company


def test_other_prefixes_and_no_prefixes_own_nothing() -> None:
    assert not owned(EXAMPLE_GTIN, [])
    assert not owned(EXAMPLE_GTIN, ["4006381", "95060002"])
    assert not owned(EXAMPLE_GTIN, ["09506000"])  # the indicator digit is not part of the prefix
