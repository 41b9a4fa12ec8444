"""Quantities every reader computes with as doubles: `"weight_kg": "1e-400"` passed `> 0` and read back as 0."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from bpass.examples import valid_static_data
from contracts.attributes import BatteryCategory
from services.identity.domain import static_data

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def reasons(**changes: object) -> list[tuple[str, str]]:
    data = valid_static_data(BatteryCategory.ev).model_copy(update=changes)
    found = static_data.validate_static_data(BatteryCategory.ev, data, now=NOW, path_prefix="static_data.")
    return [(v.field, v.reason) for v in found if v.reason == static_data.NUMBER_OUT_OF_RANGE]


def test_a_quantity_a_double_reads_as_zero_or_infinity_is_refused_naming_the_field() -> None:
    assert reasons(weight_kg=Decimal("1e-400")) == [("static_data.weight_kg", "number_out_of_range")]
    assert reasons(weight_kg=Decimal("1e400")) == [("static_data.weight_kg", "number_out_of_range")]


def test_ordinary_quantities_pass() -> None:
    assert reasons() == []
    assert reasons(weight_kg=Decimal("0.0003")) == []
