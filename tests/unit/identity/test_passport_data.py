"""The static data contract: field → longlist mapping, documentation, types and ranges."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from bpass.examples import valid_static_payload
from contracts.attributes import ATTRIBUTES, AccessTier, BatteryCategory, Requirement, by_key, mandatory_keys
from contracts.errors import Violation
from contracts.passport_data import (
    FIELD_LONGLIST_KEYS,
    BatteryKind,
    EconomicOperator,
    MaterialEntry,
    PassportSubject,
    StaticPassportData,
    field_tier,
    fields_of_key,
    is_detail_field,
    longlist_key_of,
)
from services.identity.domain.static_data import MINT_EXEMPT
from services.identity.domain.violations import pydantic_violations

pytestmark = pytest.mark.unit

pure = settings(database=None, max_examples=200, deadline=None)


def _violations(payload: dict[str, Any], prefix: str = "") -> list[Violation]:
    with pytest.raises(ValidationError) as failed:
        StaticPassportData.model_validate(payload)
    return pydantic_violations(failed.value, prefix)


def _with(**changes: Any) -> dict[str, Any]:
    return {**valid_static_payload(BatteryCategory.ev), **changes}


# --- mapping to the longlist --------------------------------------------------------------------------------


def test_every_field_carries_a_static_longlist_attribute_except_the_status() -> None:
    for field, key in FIELD_LONGLIST_KEYS.items():
        attribute = by_key(key)
        assert attribute.is_static or field == "battery_status", field
        assert longlist_key_of(field) == key


def test_every_mandatory_static_attribute_has_a_field_unless_exempt_at_mint() -> None:
    for category in BatteryCategory:
        for key in mandatory_keys(category, static_only=True):
            assert key in MINT_EXEMPT or fields_of_key(key), (category, key)


def test_every_voluntary_static_attribute_can_be_given() -> None:
    voluntary = {a.key for a in ATTRIBUTES if a.is_static and Requirement.voluntary in a.requirements.values()}
    assert voluntary - set(FIELD_LONGLIST_KEYS.values()) == set()


def test_detail_fields_refine_an_attribute_that_has_a_core_field() -> None:
    details = [field for field in FIELD_LONGLIST_KEYS if is_detail_field(field)]
    assert set(details) == {
        "declaration_of_conformity_id",
        "power_capability_at_80_pct_soc_w",
        "power_capability_at_20_pct_soc_w",
        "initial_internal_resistance_module_ohm",
    }
    for field in details:
        assert fields_of_key(longlist_key_of(field)), field
        assert field in fields_of_key(longlist_key_of(field), include_details=True)


def test_field_tiers() -> None:
    assert field_tier("carbon_footprint_kg_co2e_per_kwh") is AccessTier.public
    assert field_tier("material_composition") is AccessTier.legitimate_interest
    assert field_tier("dismantling_documents") is AccessTier.legitimate_interest
    assert field_tier("test_reports_url") is AccessTier.authorities
    assert field_tier("expected_lifetime_years") is AccessTier.legitimate_interest


def _models() -> list[type[BaseModel]]:
    return [StaticPassportData, PassportSubject, EconomicOperator, MaterialEntry]


@pytest.mark.parametrize("model", _models())
def test_every_field_is_documented_with_an_example(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    definitions = {"": schema, **schema.get("$defs", {})}
    for name, definition in definitions.items():
        for field, spec in definition.get("properties", {}).items():
            assert spec.get("description"), f"{name}.{field}"
            assert spec.get("examples"), f"{name}.{field}"


def test_schema_names_the_longlist_key() -> None:
    properties = StaticPassportData.model_json_schema()["properties"]
    assert properties["weight_kg"]["longlist_key"] == "battery_mass"
    assert properties["power_capability_at_80_pct_soc_w"]["longlist_detail"] is True


def test_examples_in_the_schema_are_valid_values() -> None:
    for field, spec in StaticPassportData.model_json_schema()["properties"].items():
        for example in spec["examples"]:
            StaticPassportData.model_validate({field: example})


# --- types and ranges ---------------------------------------------------------------------------------------


def test_unknown_fields_are_rejected() -> None:
    [violation] = _violations(_with(weigth_kg="500"))
    assert (violation.field, violation.reason) == ("weigth_kg", "invalid_extra_forbidden")
    assert "spelling" in violation.message


def test_negative_material_mass_names_the_path() -> None:
    payload = _with()
    payload["material_composition"][2]["share_pct"] = None
    payload["material_composition"][2]["mass_kg"] = "-1"
    [violation] = _violations(payload, "passports.0.static_data.")
    assert violation.field == "passports.0.static_data.material_composition.2.mass_kg"
    assert violation.reason == "invalid_greater_than_equal"


def test_negative_weight() -> None:
    [violation] = _violations(_with(weight_kg="-512.5"))
    assert (violation.field, violation.reason) == ("weight_kg", "invalid_greater_than")
    assert "-512.5" in violation.message


def test_absurd_capacity() -> None:
    [violation] = _violations(_with(rated_capacity_ah=1e308))
    assert (violation.field, violation.reason) == ("rated_capacity_ah", "invalid_less_than_equal")


def test_impossible_date() -> None:
    [violation] = _violations(_with(manufacturing_date="2025-02-30"))
    assert violation.field == "manufacturing_date"
    assert violation.reason == "invalid_date_from_datetime_parsing"


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", float("nan"), float("inf")])
def test_not_a_number(value: object) -> None:
    [violation] = _violations(_with(nominal_voltage_v=value))
    assert (violation.field, violation.reason) == ("nominal_voltage_v", "invalid_finite_number")


def test_nan_in_json() -> None:
    with pytest.raises(ValidationError) as failed:
        StaticPassportData.model_validate_json('{"weight_kg": NaN, "rated_capacity_ah": 1e308}')
    assert {(v.field, v.reason) for v in pydantic_violations(failed.value)} == {
        ("weight_kg", "invalid_finite_number"),
        ("rated_capacity_ah", "invalid_less_than_equal"),
    }


def test_all_pydantic_errors_are_collected() -> None:
    violations = _violations(
        _with(
            weight_kg="-1",
            renewable_content_share_pct="101",
            idle_temperature_lower_c="-273",
            safety_instructions_url="ftp://voltaris.example/safety.pdf",
            manufacturer={"name": "Voltaris"},
        )
    )
    assert {v.field for v in violations} == {
        "weight_kg",
        "renewable_content_share_pct",
        "idle_temperature_lower_c",
        "safety_instructions_url",
        "manufacturer.postal_address",
    }
    missing = next(v for v in violations if v.field == "manufacturer.postal_address")
    assert missing.reason == "invalid_missing"


def test_cas_number_format() -> None:
    payload = _with()
    payload["material_composition"][0]["cas_number"] = "7440020"
    [violation] = _violations(payload)
    assert (violation.field, violation.reason) == (
        "material_composition.0.cas_number",
        "invalid_string_pattern_mismatch",
    )


@pure
@given(st.decimals(max_value=Decimal(0), allow_nan=False, allow_infinity=False))
def test_no_weight_at_or_below_zero_is_accepted(weight: Decimal) -> None:
    [violation] = _violations(_with(weight_kg=str(weight)))
    assert violation.field == "weight_kg"


@pure
@given(
    st.sampled_from(
        [
            "pre_consumer_recycled_cobalt_share_pct",
            "post_consumer_recycled_lithium_share_pct",
            "renewable_content_share_pct",
            "initial_round_trip_efficiency_pct",
            "carbon_footprint_production_share_pct",
        ]
    ),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
)
def test_shares_are_bounded_to_0_100(field: str, value: Decimal) -> None:
    payload = _with(**{field: str(value)})
    if Decimal(0) <= value <= Decimal(100):
        StaticPassportData.model_validate(payload)
    else:
        [violation] = _violations(payload)
        assert violation.field == field
        assert violation.reason in ("invalid_greater_than_equal", "invalid_less_than_equal")


# --- subject ------------------------------------------------------------------------------------------------


def test_subject_identifier_uses_the_gs1_charset() -> None:
    for bad in ["VX 0001", "VX#0001", "VX-€", "", "x" * 65]:
        with pytest.raises(ValidationError) as failed:
            PassportSubject(kind=BatteryKind.battery, battery_identifier=bad)
        [violation] = pydantic_violations(failed.value, "subject")
        assert violation.field == "subject.battery_identifier"
    PassportSubject(kind=BatteryKind.battery, battery_identifier="AZaz09!\"%&'()*+,-./:;<=>?_")


def test_subject_gtin_is_digits() -> None:
    with pytest.raises(ValidationError) as failed:
        PassportSubject(kind=BatteryKind.battery, battery_identifier="S1", gtin="9506-0001")
    assert [v.field for v in pydantic_violations(failed.value)] == ["gtin"]


def test_subject_member_limit() -> None:
    members = [f"C{i}" for i in range(10_001)]
    with pytest.raises(ValidationError) as failed:
        PassportSubject(kind=BatteryKind.pack, battery_identifier="P1", member_identifiers=members)
    [violation] = pydantic_violations(failed.value)
    assert (violation.field, violation.reason) == ("member_identifiers", "invalid_too_long")


def test_models_are_frozen() -> None:
    data = StaticPassportData.model_validate(valid_static_payload(BatteryCategory.lmt))
    with pytest.raises(ValidationError):
        data.weight_kg = Decimal(1)  # type: ignore[misc]
