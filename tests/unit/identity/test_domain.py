"""Bulk requests with defaults, the rules run once per shared document, plans, merge patches and amendments."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpass.examples import EXAMPLE_GTIN, valid_static_data, valid_static_payload
from contracts.attributes import BatteryCategory
from contracts.errors import ValidationFailed
from contracts.identity import AmendPassportRequest, BulkMintRequest, PassportSpec
from contracts.passport_data import GS1_CHARSET_82, BatteryKind, PassportSubject, StaticPassportData
from services.identity.domain import extensions, passports
from services.identity.domain.identifiers import GTIN_CHECK_DIGIT, gtin_check_digit, normalise_resolver_base, public_uri
from services.identity.domain.static_data import REQUIRED_FOR_CATEGORY, VOLTAGE_ORDER
from services.identity.domain.violations import (
    INVALID_TEXT,
    MAX_VIOLATIONS_REPORTED,
    TOO_MANY_VIOLATIONS,
    fail_if,
    unstorable_text,
)
from tests.examples import EXAMPLE_RESOLVER

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
pure = settings(database=None, max_examples=200, deadline=None)


def subject(identifier: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "battery", "battery_identifier": identifier, **extra}


def bulk(passports: list[dict[str, Any]], defaults: dict[str, Any] | None = None) -> BulkMintRequest:
    body: dict[str, Any] = {"passports": passports}
    if defaults is not None:
        body["defaults"] = defaults
    return BulkMintRequest.model_validate(body)


def ev_defaults(**extra: Any) -> dict[str, Any]:
    return {"category": "ev", "static_data": valid_static_payload(BatteryCategory.ev), **extra}


def fields(failed: pytest.ExceptionInfo[ValidationFailed]) -> set[tuple[str, str]]:
    return {(v.field, v.reason) for v in failed.value.violations}


# --- defaults -----------------------------------------------------------------------------------------------


def test_items_take_category_family_and_static_data_from_the_defaults() -> None:
    request = bulk([{"subject": subject("A")}, {"subject": subject("B")}], ev_defaults(product_family="VX-400"))
    items = passports.items_from_bulk(request)
    assert [i.category for i in items] == [BatteryCategory.ev, BatteryCategory.ev]
    assert [i.product_family for i in items] == ["VX-400", "VX-400"]
    assert items[0].static_data is items[1].static_data  # one shared object: its rules run once
    assert items[0].static_data_path == "defaults.static_data"
    assert items[1].path == "passports.1"


def test_a_passports_own_fields_replace_the_defaults_field_by_field_and_null_removes() -> None:
    own = {"weight_kg": "500", "warranty_period_months": None}
    request = bulk([{"subject": subject("A"), "static_data": own}, {"subject": subject("B")}], ev_defaults())
    first, second = passports.items_from_bulk(request)
    assert first.static_data.weight_kg == Decimal("500")
    assert first.static_data.warranty_period_months is None
    assert first.static_data.battery_model == valid_static_data(BatteryCategory.ev).battery_model
    assert first.static_data_path == "passports.0.static_data"
    assert second.static_data.weight_kg == Decimal("512.5")


def test_extension_keys_merge_over_the_defaults() -> None:
    request = bulk(
        [{"subject": subject("A"), "extensions": {"b": 2, "c": 3}}, {"subject": subject("B")}],
        ev_defaults(extensions={"a": 1, "b": 1}),
    )
    first, second = passports.items_from_bulk(request)
    assert dict(first.extensions) == {"a": 1, "b": 2, "c": 3}
    assert first.extensions_path == "passports.0.extensions"
    assert dict(second.extensions) == {"a": 1, "b": 1}
    assert second.extensions_path == "defaults.extensions"


def test_a_passport_without_category_or_static_data_is_refused_with_its_path() -> None:
    with pytest.raises(ValidationFailed) as failed:
        passports.items_from_bulk(bulk([{"subject": subject("A")}, {"subject": subject("B"), "category": "lmt"}]))
    assert fields(failed) == {
        ("passports.0.category", passports.CATEGORY_REQUIRED),
        ("passports.0.static_data", passports.STATIC_DATA_REQUIRED),
        ("passports.1.static_data", passports.STATIC_DATA_REQUIRED),
    }


def test_complete_passports_without_defaults_are_accepted_as_before() -> None:
    spec = PassportSpec(
        subject=PassportSubject(kind=BatteryKind.battery, battery_identifier="A"),
        category=BatteryCategory.lmt,
        static_data=valid_static_data(BatteryCategory.lmt),
    )
    request = BulkMintRequest.model_validate({"passports": [spec.model_dump(mode="json")]})
    [item] = passports.items_from_bulk(request)
    assert item.static_data == spec.static_data
    assert passports.check_items([item], now=NOW) == []


# --- rules --------------------------------------------------------------------------------------------------


def test_a_rule_broken_by_shared_static_data_is_reported_once_at_the_defaults() -> None:
    static = valid_static_payload(BatteryCategory.ev)
    del static["rated_capacity_ah"]
    request = bulk([{"subject": subject(f"B{i}")} for i in range(50)], {"category": "ev", "static_data": static})
    violations = passports.check_items(passports.items_from_bulk(request), now=NOW)
    assert [(v.field, v.reason) for v in violations] == [
        ("defaults.static_data.rated_capacity_ah", REQUIRED_FOR_CATEGORY)
    ]


def test_shared_static_data_is_checked_per_category_it_is_used_with() -> None:
    request = bulk(
        [{"subject": subject("A")}, {"subject": subject("B"), "category": "stationary"}],
        {"category": "ev", "static_data": valid_static_payload(BatteryCategory.ev)},
    )
    violations = passports.check_items(passports.items_from_bulk(request), now=NOW)
    assert violations
    assert all(v.field.startswith("defaults.static_data.") for v in violations)


def test_an_overriding_passport_is_checked_at_its_own_path() -> None:
    request = bulk([{"subject": subject("A"), "static_data": {"minimum_voltage_v": "999"}}], ev_defaults())
    violations = passports.check_items(passports.items_from_bulk(request), now=NOW)
    assert {(v.field, v.reason) for v in violations} == {("passports.0.static_data.nominal_voltage_v", VOLTAGE_ORDER)}


def test_subject_rules_and_duplicates_name_the_passport() -> None:
    request = bulk(
        [
            {"subject": subject("A", gtin="09506000134353")},
            {"subject": subject("B")},
            {"subject": subject("A")},
        ],
        ev_defaults(),
    )
    violations = passports.check_items(passports.items_from_bulk(request), now=NOW)
    assert {(v.field, v.reason) for v in violations} == {
        ("passports.0.subject.gtin", GTIN_CHECK_DIGIT),
        ("passports.2.subject.battery_identifier", passports.DUPLICATE_IN_REQUEST),
    }


def test_a_single_mint_names_fields_from_the_root_of_its_body() -> None:
    spec = PassportSpec(
        subject=PassportSubject(kind=BatteryKind.battery, battery_identifier="A", gtin="09506000134353"),
        category=BatteryCategory.ev,
        static_data=valid_static_data(BatteryCategory.lmt),
    )
    violations = passports.check_items(passports.items_from_specs([spec], path=None), now=NOW)
    assert ("subject.gtin", GTIN_CHECK_DIGIT) in {(v.field, v.reason) for v in violations}
    assert all(v.field.startswith(("subject.", "static_data.")) for v in violations)


def test_fail_if_caps_the_number_of_violations() -> None:
    request = bulk(
        [{"subject": subject(f"B{i}", gtin="09506000134353")} for i in range(MAX_VIOLATIONS_REPORTED + 5)],
        ev_defaults(),
    )
    with pytest.raises(ValidationFailed) as failed:
        fail_if(passports.check_items(passports.items_from_bulk(request), now=NOW))
    assert len(failed.value.violations) == MAX_VIOLATIONS_REPORTED + 1
    assert failed.value.violations[-1].reason == TOO_MANY_VIOLATIONS
    assert "5 more" in failed.value.violations[-1].message


# --- extensions ---------------------------------------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"hotline": {"type": "string"}}, "additionalProperties": False}


def test_extensions_without_a_schema_are_refused_once_for_shared_values() -> None:
    request = bulk([{"subject": subject(f"B{i}")} for i in range(3)], ev_defaults(extensions={"a": 1}))
    violations = passports.check_extensions(passports.items_from_bulk(request), {})
    assert [(v.field, v.reason) for v in violations] == [("defaults.extensions", extensions.EXTENSIONS_WITHOUT_SCHEMA)]


def test_extension_values_are_checked_against_their_familys_schema() -> None:
    request = bulk(
        [
            {"subject": subject("A"), "extensions": {"hotline": 5}},
            {"subject": subject("B"), "extensions": {"hotline": "+49"}},
            {"subject": subject("C")},
        ],
        ev_defaults(product_family="VX"),
    )
    validators = {"VX": extensions.ExtensionValidator("VX", 2, SCHEMA)}
    violations = passports.check_extensions(passports.items_from_bulk(request), validators)
    assert [(v.field, v.reason) for v in violations] == [
        ("passports.0.extensions.hotline", extensions.EXTENSION_SCHEMA_VIOLATION)
    ]
    assert "version 2" in violations[0].message


# --- plans --------------------------------------------------------------------------------------------------


def test_plan_gives_each_passport_a_new_id_and_its_public_uri() -> None:
    request = bulk(
        [{"subject": subject("A", gtin=EXAMPLE_GTIN, batch_number="L/1")}, {"subject": subject("B")}], ev_defaults()
    )
    first, second = passports.plan_passports(
        passports.items_from_bulk(request), tenant="t", minted_by="m", now=NOW, resolver_base=EXAMPLE_RESOLVER + "/"
    )
    assert first.passport_id != second.passport_id
    assert first.public_uri == f"{EXAMPLE_RESOLVER}/01/{EXAMPLE_GTIN}/10/L%2F1/21/A"
    assert second.public_uri == f"{EXAMPLE_RESOLVER}/p/{second.passport_id[9:]}"


gs1_values = st.text(alphabet=sorted(GS1_CHARSET_82), min_size=1, max_size=20)


@st.composite
def gtins(draw: st.DrawFn) -> str:
    length = draw(st.sampled_from([8, 12, 13, 14]))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    return body + str(gtin_check_digit(body))


@pure
@given(st.none() | gtins(), gs1_values, st.none() | gs1_values)
def test_the_bulk_uri_builder_equals_the_checked_one(gtin: str | None, serial: str, batch: str | None) -> None:
    item = PassportSubject(kind=BatteryKind.battery, battery_identifier=serial, gtin=gtin, batch_number=batch)
    [planned] = passports.plan_passports(
        [
            passports.MintItem(
                "", item, BatteryCategory.ev, None, valid_static_data(BatteryCategory.ev), {}, "static_data", "e"
            )
        ],
        tenant="t",
        minted_by="m",
        now=NOW,
        resolver_base=EXAMPLE_RESOLVER,
    )
    expected = public_uri(normalise_resolver_base(EXAMPLE_RESOLVER), planned.passport_id, gtin, serial, batch)
    assert planned.public_uri == expected


# --- merge patch and amendments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [  # RFC 7396, appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc_7396(target: Any, patch: Any, result: Any) -> None:
    assert passports.merge_patch(target, patch) == result


def current_ev() -> dict[str, Any]:
    return passports.static_json(valid_static_data(BatteryCategory.ev))


def test_an_amendment_lists_the_fields_it_changes() -> None:
    amendment = passports.amend(
        category=BatteryCategory.ev,
        current_static=current_ev(),
        current_extensions={"a": 1},
        request=AmendPassportRequest(
            reason="type approval",
            static_data={"rated_capacity_ah": 230, "supply_chain_index": "0.5"},
            extensions={"a": 2},
        ),
        now=NOW,
    )
    assert amendment.changed_fields == ["supply_chain_index", "rated_capacity_ah", "extensions.a"]  # field order
    assert amendment.static_json["rated_capacity_ah"] == "230"
    assert amendment.extensions == {"a": 2}


def test_an_amendment_that_changes_nothing_lists_nothing() -> None:
    amendment = passports.amend(
        category=BatteryCategory.ev,
        current_static=current_ev(),
        current_extensions={},
        request=AmendPassportRequest(reason="again", static_data={"weight_kg": "512.50"}),
        now=NOW,
    )
    assert amendment.changed_fields == []


def test_an_amendment_is_checked_with_the_mint_rules() -> None:
    with pytest.raises(ValidationFailed) as failed:
        passports.amend(
            category=BatteryCategory.ev,
            current_static=current_ev(),
            current_extensions={},
            request=AmendPassportRequest(reason="x", static_data={"rated_capacity_ah": None, "weight_kg": -1}),
            now=NOW,
        )
    assert fields(failed) == {("static_data.weight_kg", "invalid_greater_than")}
    with pytest.raises(ValidationFailed) as failed:
        passports.amend(
            category=BatteryCategory.ev,
            current_static=current_ev(),
            current_extensions={},
            request=AmendPassportRequest(reason="x", static_data={"rated_capacity_ah": None}),
            now=NOW,
        )
    assert fields(failed) == {("static_data.rated_capacity_ah", REQUIRED_FOR_CATEGORY)}


def test_an_empty_amendment_is_refused() -> None:
    with pytest.raises(ValidationFailed) as failed:
        passports.amend(
            category=BatteryCategory.ev,
            current_static=current_ev(),
            current_extensions={},
            request=AmendPassportRequest(reason="nothing"),
            now=NOW,
        )
    assert fields(failed) == {("", passports.AMENDMENT_EMPTY)}


_EV = valid_static_payload(BatteryCategory.ev)
_LMT = valid_static_payload(BatteryCategory.lmt)


@pure
@given(st.sets(st.sampled_from(sorted(set(_EV) | set(_LMT)))), st.sets(st.sampled_from(sorted(_EV))))
def test_a_passports_own_static_data_is_the_defaults_updated_with_it(overridden: set[str], removed: set[str]) -> None:
    own: dict[str, Any] = {name: _LMT.get(name) for name in overridden}
    own.update({name: None for name in removed - overridden})
    [item] = passports.items_from_bulk(bulk([{"subject": subject("A"), "static_data": own}], ev_defaults()))
    merged = {**_EV, **own}
    assert item.static_data == StaticPassportData.model_validate(merged)


def test_equal_static_data_of_complete_passports_is_checked_once_and_reported_at_each() -> None:
    specs = [
        PassportSpec(
            subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=f"B{i}"),
            category=BatteryCategory.ev,
            static_data=valid_static_data(BatteryCategory.ev).model_copy(update={"rated_capacity_ah": None}),
        )
        for i in range(3)
    ]
    items = passports.items_from_specs(specs)
    assert [(v.field, v.reason) for v in passports.check_items(items, now=NOW)] == [
        (f"passports.{i}.static_data.rated_capacity_ah", REQUIRED_FOR_CATEGORY) for i in range(3)
    ]
    assert items[0].static_data is items[1].static_data is items[2].static_data


def test_text_postgresql_cannot_store_is_found_with_its_path() -> None:
    value = {"a": "fine", "b": ["ok", "nul\x00"], "c": {"d": "\udb13"}, "e\x00": 1}
    assert [(v.field, v.reason) for v in unstorable_text(value)] == [
        ("b.1", INVALID_TEXT),
        ("c.d", INVALID_TEXT),
        ("", INVALID_TEXT),
    ]
    assert unstorable_text({"emoji": "\U0001f600", "umlaut": "Straße"}) == []
