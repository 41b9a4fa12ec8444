"""The readings contract's Annex VII metrics in the Catena-X 6.1.0 aspect: each at its member with the time it was
read (the self-discharge rate as the bare number 6.1.0 holds), the times in extreme temperatures as the operating
environment's text entries; a reading not reported is a gap, not applicable where the longlist says so."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from contracts.attributes import BatteryCategory
from contracts.telemetry import METRIC_RANGES
from services.reporting.domain import readmodel
from services.reporting.domain.catenax import catenax_passport
from tests.unit.reporting.batterypass_population import reading
from tests.unit.reporting.factories import T0, batteries, minted

DYNAMIC = "/performance/dynamic"
# metric -> (value sent, its member in 6.1.0 as a path into `performance.dynamic`)
LANDS_AT = {
    "remaining_power_capability_at_80_pct_soc_w": ("41250.5", ("power", "remaining")),
    "remaining_round_trip_efficiency_pct": ("91.25", ("roundTripEfficiency", "remaining")),
    "round_trip_efficiency_fade_pct": ("3.5", ("roundTripEfficiency", "fade")),
}


def state_for(category: BatteryCategory, latest: dict[str, dict[str, Any]]) -> dict[str, Any]:
    fact = minted(batteries(1, run=f"CXREAD{category.value}")[0], "acme")
    fact = fact.model_copy(update={"category": category})
    state = readmodel.empty_state(fact.passport_id, fact.tenant)
    readmodel.apply_minted(state, fact)
    readmodel.apply_status(state, occurred_at=T0, stage="in_service", status=None, by="handler-x")
    readmodel.apply_in_service_data(state, latest)
    return state


def at(hours: int) -> Any:
    return T0 + timedelta(days=40, hours=hours)


def test_each_annex_vii_metric_lands_at_its_member_with_its_time() -> None:
    latest = {metric: reading(Decimal(value), at(i)) for i, (metric, (value, _)) in enumerate(LANDS_AT.items())}
    latest["self_discharge_rate_pct_per_month"] = reading(Decimal("2.75"), at(7))
    latest["remaining_power_capability_at_20_pct_soc_w"] = reading(Decimal("30000"), at(8))
    aspect, gaps = catenax_passport(state_for(BatteryCategory.lmt, latest))
    dynamic = aspect["performance"]["dynamic"]
    for i, (metric, (value, path)) in enumerate(LANDS_AT.items()):
        node = dynamic
        for key in path:
            node = node[key]
        assert node == {"value": float(value), "time": at(i).strftime("%Y-%m-%dT%H:%M:%SZ")}, metric
        assert f"{DYNAMIC}/{'/'.join(path)}" not in gaps
    assert dynamic["selfDischargingRate"] == 2.75  # a bare percentage: the member has no time
    assert f"{DYNAMIC}/selfDischargingRate" not in gaps
    # The reading at 20 % SoC has no member (6.1.0 holds one remaining power): nowhere in the aspect.
    assert "30000" not in str(aspect)


def test_the_times_in_extreme_temperatures_are_the_operating_environment() -> None:
    latest = {
        "time_above_max_temperature_h": reading(Decimal("12.5"), at(1)),
        "time_charging_above_max_temperature_h": reading(Decimal("4"), at(2)),
        "time_charging_below_min_temperature_h": reading(Decimal("0.5"), at(3)),
    }
    aspect, _ = catenax_passport(state_for(BatteryCategory.industrial, latest))
    entries = aspect["performance"]["dynamic"]["operatingEnvironment"]
    assert entries == [
        {
            "header": "Time spent above the upper temperature boundary",
            "content": f"12.5 h, measured at {at(1).strftime('%Y-%m-%dT%H:%M:%SZ')}",
            "contentType": "text/plain",
        },
        {
            "header": "Time spent charging above the upper temperature boundary",
            "content": f"4 h, measured at {at(2).strftime('%Y-%m-%dT%H:%M:%SZ')}",
            "contentType": "text/plain",
        },
        {
            "header": "Time spent charging below the lower temperature boundary",
            "content": f"0.5 h, measured at {at(3).strftime('%Y-%m-%dT%H:%M:%SZ')}",
            "contentType": "text/plain",
        },
    ]
    assert all(len(entry["header"]) <= 100 for entry in entries)


@pytest.mark.parametrize(
    ("category", "metric", "pointer", "code"),
    [
        (BatteryCategory.ev, "remaining_round_trip_efficiency_pct", "roundTripEfficiency/remaining", "not_applicable"),
        (BatteryCategory.ev, "self_discharge_rate_pct_per_month", "selfDischargingRate", "not_applicable"),
        (BatteryCategory.lmt, "remaining_round_trip_efficiency_pct", "roundTripEfficiency/remaining", "not_yet_known"),
        (BatteryCategory.lmt, "self_discharge_rate_pct_per_month", "selfDischargingRate", "not_yet_known"),
        (BatteryCategory.ev, "remaining_power_capability_at_80_pct_soc_w", "power/remaining", "not_yet_known"),
        (BatteryCategory.ev, "round_trip_efficiency_fade_pct", "roundTripEfficiency/fade", "not_yet_known"),
    ],
)
def test_a_reading_not_reported_is_a_gap_not_applicable_where_the_longlist_says_so(
    category: BatteryCategory, metric: str, pointer: str, code: str
) -> None:
    """Every other metric read: only this member is missing, with why."""
    latest = {m.value: reading(low, at(0)) for m, (low, _) in METRIC_RANGES.items() if m.value != metric}
    aspect, gaps = catenax_passport(state_for(category, latest))
    assert gaps[f"{DYNAMIC}/{pointer}"].partition(":")[0] == code
    assert "operatingEnvironment" in aspect["performance"]["dynamic"]
    without_any = catenax_passport(state_for(category, {"state_of_charge_pct": reading(Decimal(50), at(0))}))[0]
    assert "operatingEnvironment" not in without_any["performance"]["dynamic"]
