"""Which search filters and grouping dimensions each tier may use (a filter reveals what it filters on)."""

from __future__ import annotations

import pytest

from contracts.attributes import AccessTier
from services.reporting.domain import query
from services.reporting.domain.tiers import DIMENSION_SOURCES, hidden_dimensions

pytestmark = pytest.mark.unit


def test_every_filter_and_grouping_of_the_api_has_a_source() -> None:
    assert set(query.TEXT_FILTERS) | set(query.GROUP_EXPRESSIONS) <= set(DIMENSION_SOURCES)


def test_the_owner_filters_on_anything() -> None:
    assert hidden_dimensions(["product_family", "ext.supplier_lot", "model", "no_such"], AccessTier.owner) == []


def test_authorities_may_not_filter_on_owner_only_data() -> None:
    names = ["model", "chemistry", "status", "current_handler", "placed_from", "product_family", "ext.supplier_lot"]
    assert hidden_dimensions(names, AccessTier.authorities) == ["product_family", "ext.supplier_lot"]


def test_unknown_dimensions_are_owner_only_and_lower_tiers_see_less() -> None:
    assert hidden_dimensions(["no_such"], AccessTier.authorities) == ["no_such"]
    assert "current_handler" in hidden_dimensions(["current_handler"], AccessTier.legitimate_interest)
    assert hidden_dimensions(["status", "stage"], AccessTier.public) == ["status", "stage"]
