"""Category-dependent mandatory fields, cross-field rules and subject rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpass.examples import valid_static_data, valid_static_payload
from contracts.attributes import BatteryCategory, by_key, mandatory_keys
from contracts.passport_data import BatteryKind, PassportSubject, StaticPassportData
from services.identity.domain.identifiers import GTIN_CHECK_DIGIT, GTIN_LENGTH
from services.identity.domain.static_data import (
    CARBON_FOOTPRINT_STAGE_TOTAL,
    CAS_CHECK_DIGIT,
    CATEGORY_MISMATCH,
    COMPOSITION_MASS_TOTAL,
    COMPOSITION_SHARE_TOTAL,
    DATE_IN_FUTURE,
    MASS_OR_SHARE_REQUIRED,
    MINT_EXEMPT,
    NOT_APPLICABLE_FOR_CATEGORY,
    RECYCLED_SHARE_TOTAL,
    REQUIRED_FOR_CATEGORY,
    STATUS_NOT_MINTABLE,
    TEMPERATURE_ORDER,
    VOLTAGE_ORDER,
    required_fields,
    validate_static_data,
)
from services.identity.domain.subject import (
    DUPLICATE_MEMBER,
    MEMBERS_NOT_ALLOWED,
    MEMBERS_REQUIRED,
    SELF_MEMBER,
    SERIAL_TOO_LONG_FOR_GS1,
    validate_subject,
)
from tests.examples import valid_subject

pytestmark = pytest.mark.unit

pure = settings(database=None, max_examples=200, deadline=None)
NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def _data(category: BatteryCategory, **changes: Any) -> StaticPassportData:
    return StaticPassportData.model_validate({**valid_static_payload(category), **changes})


def _found(category: BatteryCategory, data: StaticPassportData, prefix: str = "") -> set[tuple[str, str]]:
    return {(v.field, v.reason) for v in validate_static_data(category, data, now=NOW, path_prefix=prefix)}


# --- the examples -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("category", list(BatteryCategory))
def test_the_example_of_every_category_is_valid(category: BatteryCategory) -> None:
    assert validate_static_data(category, valid_static_data(category), now=NOW) == []


@pytest.mark.parametrize("kind", list(BatteryKind))
def test_the_example_subject_of_every_kind_is_valid(kind: BatteryKind) -> None:
    assert validate_subject(valid_subject(kind)) == []


# --- mandatory per category ---------------------------------------------------------------------------------


def test_ev_without_carbon_footprint_names_the_field() -> None:
    [violation] = validate_static_data(
        BatteryCategory.ev, _data(BatteryCategory.ev, carbon_footprint_kg_co2e_per_kwh=None), now=NOW
    )
    assert violation.field == "carbon_footprint_kg_co2e_per_kwh"
    assert violation.reason == REQUIRED_FOR_CATEGORY
    assert "EV" in violation.message
    assert "#19" in violation.message


def test_empty_data_lists_every_required_field_once() -> None:
    for category in BatteryCategory:
        violations = validate_static_data(category, StaticPassportData(), now=NOW, path_prefix="spec.static_data")
        assert {v.reason for v in violations} == {REQUIRED_FOR_CATEGORY}
        assert [v.field for v in violations] == [f"spec.static_data.{f}" for f in required_fields(category)]


def test_capacity_threshold_for_exhaustion_is_mandatory_for_ev_and_not_applicable_otherwise() -> None:
    # longlist #83: EV x, LMT / industrial / stationary blank
    ev = _data(BatteryCategory.ev, capacity_threshold_for_exhaustion_pct=None)
    assert _found(BatteryCategory.ev, ev) == {("capacity_threshold_for_exhaustion_pct", REQUIRED_FOR_CATEGORY)}
    lmt = _data(BatteryCategory.lmt, capacity_threshold_for_exhaustion_pct="70")
    assert _found(BatteryCategory.lmt, lmt) == {("capacity_threshold_for_exhaustion_pct", NOT_APPLICABLE_FOR_CATEGORY)}
    assert "capacity_threshold_for_exhaustion_pct" not in required_fields(BatteryCategory.stationary)


def test_initial_self_discharge_rate_applies_to_lmt_and_stationary_but_not_industrial() -> None:
    # longlist #71: EV blank, LMT o, industrial blank, stationary o
    rate = {"initial_self_discharge_rate_pct_per_month": "2.0"}
    assert _found(BatteryCategory.stationary, _data(BatteryCategory.stationary, **rate)) == set()
    assert _found(BatteryCategory.lmt, _data(BatteryCategory.lmt, **rate)) == set()
    assert _found(BatteryCategory.industrial, _data(BatteryCategory.industrial, **rate)) == {
        ("initial_self_discharge_rate_pct_per_month", NOT_APPLICABLE_FOR_CATEGORY)
    }
    # voluntary: leaving it out is fine
    omitted = _data(BatteryCategory.stationary, initial_self_discharge_rate_pct_per_month=None)
    assert _found(BatteryCategory.stationary, omitted) == set()


def test_certified_usable_energy_is_ev_only() -> None:
    # longlist #55: EV o, others blank
    energy = {"certified_usable_energy_kwh": "10"}
    assert _found(BatteryCategory.stationary, _data(BatteryCategory.stationary, **energy)) == {
        ("certified_usable_energy_kwh", NOT_APPLICABLE_FOR_CATEGORY)
    }
    assert _found(BatteryCategory.ev, _data(BatteryCategory.ev, certified_usable_energy_kwh=None)) == set()


def test_required_fields_differ_only_where_the_longlist_does() -> None:
    ev, lmt = set(required_fields(BatteryCategory.ev)), set(required_fields(BatteryCategory.lmt))
    assert ev - lmt == {"capacity_threshold_for_exhaustion_pct"}
    assert lmt == set(required_fields(BatteryCategory.industrial)) == set(required_fields(BatteryCategory.stationary))


def test_detail_fields_are_never_required() -> None:
    data = _data(BatteryCategory.ev, power_capability_at_80_pct_soc_w=None, declaration_of_conformity_id=None)
    assert _found(BatteryCategory.ev, data) == set()


def test_both_cell_and_pack_internal_resistance_are_required() -> None:
    data = _data(BatteryCategory.lmt, initial_internal_resistance_cell_ohm=None)
    assert _found(BatteryCategory.lmt, data) == {("initial_internal_resistance_cell_ohm", REQUIRED_FOR_CATEGORY)}


def test_exempt_attributes_are_mandatory_static_ones() -> None:
    every_static_mandatory = {key for c in BatteryCategory for key in mandatory_keys(c, static_only=True)}
    assert set(MINT_EXEMPT) <= every_static_mandatory
    assert by_key("battery_status").is_static is False  # dynamic: never required, not listed as exempt


def test_an_empty_list_states_none_and_counts_as_given() -> None:
    data = _data(BatteryCategory.ev, cadmium_and_lead_symbol_urls=[], hazardous_substances=[])
    assert _found(BatteryCategory.ev, data) == set()


def test_category_mismatch() -> None:
    assert _found(BatteryCategory.lmt, _data(BatteryCategory.lmt, battery_category="stationary")) == {
        ("battery_category", CATEGORY_MISMATCH)
    }
    assert _found(BatteryCategory.lmt, _data(BatteryCategory.lmt, battery_category=None)) == set()


def test_waste_cannot_be_minted() -> None:
    assert _found(BatteryCategory.ev, _data(BatteryCategory.ev, battery_status="waste")) == {
        ("battery_status", STATUS_NOT_MINTABLE)
    }


# --- cross-field rules --------------------------------------------------------------------------------------


def test_manufacturing_date_in_the_future() -> None:
    tomorrow = (NOW + timedelta(days=1)).date().isoformat()
    today = NOW.date().isoformat()
    assert _found(BatteryCategory.ev, _data(BatteryCategory.ev, manufacturing_date=tomorrow)) == {
        ("manufacturing_date", DATE_IN_FUTURE)
    }
    assert _found(BatteryCategory.ev, _data(BatteryCategory.ev, manufacturing_date=today)) == set()


def test_now_is_compared_as_a_utc_date() -> None:
    late_in_auckland = datetime(2026, 7, 1, 9, 0, tzinfo=timezone(timedelta(hours=13)))  # 2026-06-30 UTC
    data = _data(BatteryCategory.ev, manufacturing_date="2026-07-01")
    reasons = [v.reason for v in validate_static_data(BatteryCategory.ev, data, now=late_in_auckland)]
    assert reasons == [DATE_IN_FUTURE]


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_static_data(BatteryCategory.ev, valid_static_data(BatteryCategory.ev), now=datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("low", "nominal", "high", "expected"),
    [
        ("270", "360", "403", set()),
        ("360", "360", "360", set()),
        ("380", "360", "403", {("nominal_voltage_v", VOLTAGE_ORDER)}),
        ("270", "420", "403", {("nominal_voltage_v", VOLTAGE_ORDER)}),
        ("500", "360", "300", {("nominal_voltage_v", VOLTAGE_ORDER)}),
        (
            "410",
            None,
            "403",
            {("maximum_voltage_v", VOLTAGE_ORDER), ("nominal_voltage_v", REQUIRED_FOR_CATEGORY)},
        ),
    ],
)
def test_voltage_order(low: str, nominal: str | None, high: str, expected: set[tuple[str, str]]) -> None:
    data = _data(BatteryCategory.ev, minimum_voltage_v=low, nominal_voltage_v=nominal, maximum_voltage_v=high)
    assert _found(BatteryCategory.ev, data) == expected


@pure
@given(st.lists(st.decimals(min_value=0, max_value=2000, places=1), min_size=3, max_size=3))
def test_voltage_order_property(voltages: list[Decimal]) -> None:
    low, nominal, high = voltages
    data = _data(BatteryCategory.ev, minimum_voltage_v=low, nominal_voltage_v=nominal or 1, maximum_voltage_v=high or 1)
    ordered = data.minimum_voltage_v <= data.nominal_voltage_v <= data.maximum_voltage_v  # type: ignore[operator]
    assert (VOLTAGE_ORDER in {reason for _, reason in _found(BatteryCategory.ev, data)}) is not ordered


def test_idle_temperature_order() -> None:
    data = _data(BatteryCategory.stationary, idle_temperature_lower_c="45", idle_temperature_upper_c="-10")
    assert _found(BatteryCategory.stationary, data) == {("idle_temperature_upper_c", TEMPERATURE_ORDER)}


@pure
@given(
    st.sampled_from(["nickel", "cobalt", "lithium", "lead"]),
    st.decimals(min_value=0, max_value=100, places=2),
    st.decimals(min_value=0, max_value=100, places=2),
)
def test_pre_and_post_consumer_recycled_shares_fit_in_100(material: str, pre: Decimal, post: Decimal) -> None:
    data = _data(
        BatteryCategory.ev,
        **{
            f"pre_consumer_recycled_{material}_share_pct": pre,
            f"post_consumer_recycled_{material}_share_pct": post,
        },
    )
    found = _found(BatteryCategory.ev, data)
    expected = {(f"post_consumer_recycled_{material}_share_pct", RECYCLED_SHARE_TOTAL)} if pre + post > 100 else set()
    assert found == expected


def test_carbon_footprint_stage_shares() -> None:
    data = _data(BatteryCategory.ev, carbon_footprint_raw_material_share_pct="70")  # 70 + 30.5 + 2.5 + 5
    assert _found(BatteryCategory.ev, data) == {
        ("carbon_footprint_end_of_life_share_pct", CARBON_FOOTPRINT_STAGE_TOTAL)
    }
    rounding = _data(BatteryCategory.ev, carbon_footprint_raw_material_share_pct="62.05")  # 100.05: rounding
    assert _found(BatteryCategory.ev, rounding) == set()


def test_composition_shares_sum_to_at_most_100() -> None:
    payload = valid_static_payload(BatteryCategory.ev)
    payload["material_composition"][0]["share_pct"] = "90"
    data = StaticPassportData.model_validate(payload)
    assert _found(BatteryCategory.ev, data) == {("material_composition", COMPOSITION_SHARE_TOTAL)}


@pure
@given(st.lists(st.decimals(min_value=0, max_value=100, places=1), min_size=1, max_size=30))
def test_composition_share_property(shares: list[Decimal]) -> None:
    composition = [{"name": f"M{i}", "component": "cathode", "share_pct": s} for i, s in enumerate(shares)]
    data = _data(BatteryCategory.ev, material_composition=composition)
    found = COMPOSITION_SHARE_TOTAL in {reason for _, reason in _found(BatteryCategory.ev, data)}
    assert found is (sum(shares) > Decimal("100.1"))


def test_composition_masses_must_fit_in_the_battery() -> None:
    payload = valid_static_payload(BatteryCategory.industrial)  # LFP example gives masses, 48 % of 1250 kg
    payload["weight_kg"] = "500"
    data = StaticPassportData.model_validate(payload)
    assert _found(BatteryCategory.industrial, data) == {("material_composition", COMPOSITION_MASS_TOTAL)}


def test_material_needs_a_mass_or_a_share() -> None:
    payload = valid_static_payload(BatteryCategory.ev)
    payload["material_composition"][3]["share_pct"] = None
    data = StaticPassportData.model_validate(payload)
    assert _found(BatteryCategory.ev, data, "passports.7.static_data.") == {
        ("passports.7.static_data.material_composition.3", MASS_OR_SHARE_REQUIRED)
    }


def test_cas_check_digits() -> None:
    payload = valid_static_payload(BatteryCategory.ev)
    payload["material_composition"][0]["cas_number"] = "7440-02-1"
    payload["hazardous_substances"][0]["cas_number"] = "21324-40-4"
    data = StaticPassportData.model_validate(payload)
    assert _found(BatteryCategory.ev, data) == {
        ("material_composition.0.cas_number", CAS_CHECK_DIGIT),
        ("hazardous_substances.0.cas_number", CAS_CHECK_DIGIT),
    }


def test_every_violation_is_collected() -> None:
    data = _data(
        BatteryCategory.ev,
        carbon_footprint_kg_co2e_per_kwh=None,
        rated_capacity_ah=None,
        minimum_voltage_v="500",
        manufacturing_date="2027-01-01",
        initial_self_discharge_rate_pct_per_month="1",
        post_consumer_recycled_cobalt_share_pct="95",
    )
    assert _found(BatteryCategory.ev, data) == {
        ("carbon_footprint_kg_co2e_per_kwh", REQUIRED_FOR_CATEGORY),
        ("rated_capacity_ah", REQUIRED_FOR_CATEGORY),
        ("initial_self_discharge_rate_pct_per_month", NOT_APPLICABLE_FOR_CATEGORY),
        ("nominal_voltage_v", VOLTAGE_ORDER),
        ("manufacturing_date", DATE_IN_FUTURE),
        ("post_consumer_recycled_cobalt_share_pct", RECYCLED_SHARE_TOTAL),
    }


@pytest.mark.parametrize("prefix", ["passports.0.static_data", "passports.0.static_data."])
def test_path_prefix_with_or_without_trailing_dot(prefix: str) -> None:
    data = _data(BatteryCategory.ev, rated_capacity_ah=None)
    assert _found(BatteryCategory.ev, data, prefix) == {
        ("passports.0.static_data.rated_capacity_ah", REQUIRED_FOR_CATEGORY)
    }


# --- subject ------------------------------------------------------------------------------------------------


def _subject(**fields: Any) -> PassportSubject:
    return PassportSubject.model_validate({"kind": "battery", "battery_identifier": "VX-000001", **fields})


def _subject_found(subject: PassportSubject, prefix: str = "") -> set[tuple[str, str]]:
    return {(v.field, v.reason) for v in validate_subject(subject, path_prefix=prefix)}


def test_subject_gtin_check_digit_and_length() -> None:
    assert _subject_found(_subject(gtin="09506000134353"), "passports.2.subject.") == {
        ("passports.2.subject.gtin", GTIN_CHECK_DIGIT)
    }
    assert _subject_found(_subject(gtin="950600013435")) == {("gtin", GTIN_CHECK_DIGIT)}
    assert _subject_found(_subject(gtin="95060001343")) == {("gtin", GTIN_LENGTH)}
    assert _subject_found(_subject(gtin="4006381333931")) == set()
    assert _subject_found(_subject()) == set()


def test_subject_serial_must_fit_gs1_ai_21_when_a_gtin_is_given() -> None:
    long_serial = "VX-" + "0" * 18
    assert _subject_found(_subject(battery_identifier=long_serial, gtin="4006381333931")) == {
        ("battery_identifier", SERIAL_TOO_LONG_FOR_GS1)
    }
    assert _subject_found(_subject(battery_identifier=long_serial)) == set()


def test_subject_members_by_kind() -> None:
    assert _subject_found(_subject(member_identifiers=["C1"])) == {("member_identifiers", MEMBERS_NOT_ALLOWED)}
    assert _subject_found(_subject(kind="pack")) == {("member_identifiers", MEMBERS_REQUIRED)}
    assert _subject_found(_subject(kind="batch")) == {("member_identifiers", MEMBERS_REQUIRED)}
    assert _subject_found(_subject(kind="pack", member_identifiers=["M1", "M2"])) == set()


def test_subject_duplicate_and_self_members() -> None:
    subject = _subject(kind="pack", battery_identifier="P1", member_identifiers=["M1", "M2", "M1", "P1", "M1"])
    assert _subject_found(subject) == {
        ("member_identifiers.2", DUPLICATE_MEMBER),
        ("member_identifiers.3", SELF_MEMBER),
    }
