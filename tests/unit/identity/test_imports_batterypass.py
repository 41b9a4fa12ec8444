"""Importing a Battery Pass 1.2 export: reporting's `to_batterypass` then identity's inverse mapping gives back the
static data as minted, for every field the export carries; what it cannot carry comes from the import's defaults;
a refusal names the place in the imported document and a stable reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpass.examples import valid_static_payload
from contracts.attributes import BatteryCategory
from contracts.errors import ValidationFailed
from contracts.identity import MintDefaults, PassportMinted
from contracts.passport_data import StaticPassportData
from services.identity.domain import passports
from services.identity.domain.imports.batterypass import LOSSY, from_batterypass, simplest_share
from services.identity.domain.imports.document import (
    ASSIGNED_BY_PLATFORM,
    BATTERY_IDENTIFIER_MISSING,
    DYNAMIC_DATA,
    EXPORT_NOTE,
    NO_PLACE_IN_MODEL,
    NOT_THE_DECLARED_FORMAT,
    mint_item,
)
from services.identity.domain.imports.formats import ImportFormat, prepare
from services.reporting.domain import readmodel
from services.reporting.domain.batterypass import to_batterypass
from tests.unit.reporting.factories import batteries, minted

NOW = datetime.now(UTC)
# Static data fields the Battery Pass 1.2 aspects have no member for (a cycle-life reference test only when it is a
# URI): reporting's export carries them in each passport's `platform` member, an import takes them from there.
NOT_IN_ASPECTS = {
    "battery_model",
    "declaration_of_conformity_id",
    "critical_raw_materials",
    "original_power_capability_w",
    "cycle_life_reference_test",
    "idle_temperature_lower_c",
    "battery_status",  # `original`: Original is what no status exports too, and is read back as none
}
# Fields the aspects carry without some of their members (a trade name, a facility identifier): `platform` has those.
IN_ASPECTS_IN_PART = {"manufacturer", "operator", "manufacturing_place"}
OUR_EXPORT_NOTES = {ASSIGNED_BY_PLATFORM, EXPORT_NOTE, DYNAMIC_DATA}


def facts() -> list[PassportMinted]:
    """A generated population (every catalogue model, GTINs, batches) and the example data of every category."""
    population = [minted(battery, "acme") for battery in batteries(120, run="IMPORT")]
    for category in BatteryCategory:
        example = minted(batteries(1, run=f"EX{category.value}")[0], "acme")
        population.append(
            example.model_copy(
                update={
                    "category": category,
                    "static_data": StaticPassportData.model_validate(valid_static_payload(category)),
                }
            )
        )
    return population


def state_of(fact: PassportMinted) -> dict[str, Any]:
    state = readmodel.empty_state(fact.passport_id, fact.tenant)
    readmodel.apply_minted(state, fact)
    return state


def exported(state: dict[str, Any]) -> dict[str, Any]:
    """One passport of the export as a partner reads it: through JSON."""
    return dict(json.loads(json.dumps(to_batterypass(state))))


@pytest.mark.parametrize("fact", facts(), ids=lambda fact: fact.subject.battery_identifier)
def test_the_export_imported_back_without_defaults_is_the_passport_as_minted(fact: PassportMinted) -> None:
    original = fact.static_data
    assert original is not None
    state = state_of(fact)
    imported = from_batterypass(exported(state), "document")
    assert imported.violations == []
    assert {v.reason for v in imported.not_imported} <= OUR_EXPORT_NOTES, imported.not_imported
    # Nothing of the `platform` member is listed back: all of it was taken (its note is the exporter's).
    assert [v.field for v in imported.not_imported if ".platform" in v.field] == ["document.platform.note"]
    # The battery: its serial from the aspects, its GTIN and batch from `platform`.
    assert imported.subject == {
        "kind": "battery",
        **fact.subject.model_dump(exclude_none=True, include={"battery_identifier", "gtin", "batch_number"}),
    }
    assert imported.category == fact.category.value

    # Without `platform` the aspects alone carry every field but those they have no member for.
    alone = from_batterypass({k: v for k, v in exported(state).items() if k != "platform"}, "document")
    given_fields = set(original.model_dump(exclude_none=True))
    assert given_fields - set(alone.static_data) <= NOT_IN_ASPECTS | set(LOSSY), given_fields - set(alone.static_data)
    aspects_only = StaticPassportData.model_validate(alone.static_data)
    for name in set(alone.static_data) - set(LOSSY) - IN_ASPECTS_IN_PART:
        assert getattr(aspects_only, name) == getattr(original, name), name

    # No defaults: the aspects and `platform` give the passport as minted, every field but those truly lost.
    item, refused = mint_item(imported, 0, None)
    assert refused == []
    assert item is not None
    assert passports.check_items([item], now=NOW) == []
    assert item.category == fact.category
    assert item.subject.gtin == fact.subject.gtin
    for name in StaticPassportData.model_fields:
        if name not in LOSSY:
            assert getattr(item.static_data, name) == getattr(original, name), name
    # The fields carried with a loss export the same again: nothing of what the partner read is lost.
    again = {**state, "static_data": item.static_data.model_dump(mode="json", exclude_none=True)}
    assert to_batterypass(again)["aspects"] == to_batterypass(state)["aspects"]


@pytest.mark.parametrize("status", ["original", None])
def test_a_status_original_and_no_status_both_come_back_as_minted(status: str | None) -> None:
    fact = facts()[-1]
    assert fact.static_data is not None
    static = StaticPassportData.model_validate(
        {**fact.static_data.model_dump(mode="json", exclude_none=True), "battery_status": status}
    )
    state = state_of(fact.model_copy(update={"static_data": static}))
    passport = exported(state)
    assert passport["aspects"]["GeneralProductInformation"]["batteryStatus"] == "Original"
    item, refused = mint_item(from_batterypass(passport, "document"), 0, None)
    assert refused == []
    assert item is not None
    assert item.static_data.battery_status == status


def third_party(passport: dict[str, Any]) -> dict[str, Any]:
    """Our export as another platform writes it: the aspects alone, no `platform` member."""
    return {key: value for key, value in passport.items() if key != "platform"}


def test_a_third_party_document_without_defaults_is_refused_naming_where_each_missing_field_goes() -> None:
    fact = facts()[-1]
    passport = third_party(exported(state_of(fact)))
    del passport["aspects"]["GeneralProductInformation"]["batteryMass"]
    prepared = prepare(ImportFormat.batterypass_1_2, whole(passport), None, now=NOW)
    fields = {v.field for v in prepared.refused[0] if v.reason == "required_for_category"}
    # The format has a place for the weight (the document lacks it), none for the model or the raw materials.
    assert "document.passports.0.aspects.GeneralProductInformation.batteryMass" in fields
    assert "defaults.static_data.battery_model" in fields
    assert "defaults.static_data.critical_raw_materials" in fields


def test_a_third_party_document_takes_what_the_aspects_lack_from_the_defaults() -> None:
    fact = facts()[-1]
    original = fact.static_data
    assert original is not None
    prepared = prepare(
        ImportFormat.batterypass_1_2,
        whole(third_party(exported(state_of(fact)))),
        MintDefaults(static_data=original),
        now=NOW,
    )
    assert prepared.refused == {}
    item = prepared.items[0]
    assert item.subject.gtin is None  # the aspects carry the serial only
    for name in NOT_IN_ASPECTS:
        assert getattr(item.static_data, name) == getattr(original, name), name
    assert item.static_data.manufacturer == original.manufacturer


def test_the_aspects_win_over_platform_and_a_platform_value_broken_is_refused_there() -> None:
    fact = facts()[-1]
    passport = exported(state_of(fact))
    general = passport["aspects"]["GeneralProductInformation"]
    general["productIdentifier"] = f"https://id.example/01/09506000134352/21/{general['productIdentifier']}"
    passport["platform"]["gtin"] = "09506000134369"
    passport["platform"]["static_data"]["weight_kg"] = "1"
    passport["platform"]["static_data"]["battery_model"] = ""
    prepared = prepare(ImportFormat.batterypass_1_2, whole(passport), None, now=NOW)
    imported = prepared.imported[0]
    assert imported.subject["gtin"] == "09506000134352"
    assert imported.static_data["weight_kg"] == Decimal(repr(general["batteryMass"]))
    listed = {(v.field, v.reason) for v in imported.not_imported}
    assert ("document.passports.0.platform.gtin", "given_by_aspects") in listed
    assert ("document.passports.0.platform.static_data.weight_kg", "given_by_aspects") in listed
    assert [v.field for v in prepared.refused[0]] == ["document.passports.0.platform.static_data.battery_model"]


def test_a_platform_member_of_another_battery_refuses_the_passport() -> None:
    passport = exported(state_of(facts()[-1]))
    passport["platform"]["battery_identifier"] = "SOMEONE-ELSES"
    prepared = prepare(ImportFormat.batterypass_1_2, whole(passport), None, now=NOW)
    assert [(v.field, v.reason) for v in prepared.refused[0]] == [
        ("document.passports.0.platform.battery_identifier", "platform_battery_mismatch")
    ]


@given(
    total=st.decimals(min_value=Decimal("0.1"), max_value=Decimal("500"), places=1),
    share=st.decimals(min_value=Decimal("0"), max_value=Decimal("100"), places=2),
)
def test_a_life_cycle_stage_share_comes_back_from_the_exported_kilograms(total: Decimal, share: Decimal) -> None:
    stage = Decimal(repr(float(round(total * share / 100, 4))))  # as the export writes it, read back from JSON
    back = simplest_share(stage, total)
    assert round(total * back / 100, 4) == stage
    # The fewest decimals that export the same: `42.5`, never `42.50` (a different static data document).
    decimals = -int(back.as_tuple().exponent)
    assert decimals <= 6
    if decimals > 0:
        coarser = (stage * 100 / total).quantize(Decimal(1).scaleb(1 - decimals))
        assert round(total * coarser / 100, 4) != stage


def test_a_gs1_digital_link_gives_gtin_and_serial_and_unknown_fields_are_listed() -> None:
    fact = facts()[0]
    passport = exported(state_of(fact))
    general = passport["aspects"]["GeneralProductInformation"]
    general["productIdentifier"] = "https://id.example/01/09506000134352/21/VX-9/10/L1"
    general["colour"] = "blue"
    passport["aspects"]["Circularity"]["recyclability"] = {"score": 3}
    imported = from_batterypass(passport, "document")
    assert imported.subject == {
        "kind": "battery",
        "battery_identifier": "VX-9",
        "gtin": "09506000134352",
        "batch_number": "L1",
    }
    listed = {(v.field, v.reason) for v in imported.not_imported}
    assert ("document.aspects.GeneralProductInformation.colour", NO_PLACE_IN_MODEL) in listed
    assert ("document.aspects.Circularity.recyclability", NO_PLACE_IN_MODEL) in listed
    assert ("document.passport_id", ASSIGNED_BY_PLATFORM) in listed


def whole(*passports_: dict[str, Any]) -> dict[str, Any]:
    return {"format": "batterypass-1.2", "tenant": "acme", "passports": list(passports_)}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"format": "bpass-passports/1", "passports": []}, "document.format"),
        ({"passport_id": "urn:uuid:x", "static_data": {}}, "document"),
        ({"format": "batterypass-1.2", "passports": {"a": 1}}, "document.passports"),
    ],
)
def test_a_document_that_is_not_the_declared_format_is_refused_whole(document: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        prepare(ImportFormat.batterypass_1_2, document, None, now=NOW)
    assert [(v.field, v.reason) for v in refused.value.violations] == [(field, NOT_THE_DECLARED_FORMAT)]


def test_each_passport_is_refused_alone_naming_its_field_in_the_document() -> None:
    fact = facts()[-1]
    good = exported(state_of(fact))
    nameless = exported(state_of(fact))
    del nameless["aspects"]["GeneralProductInformation"]["productIdentifier"]
    heavy = third_party(exported(state_of(fact)))  # another battery: not the one our `platform` member names
    heavy["aspects"]["GeneralProductInformation"]["productIdentifier"] = "VX-HEAVY"
    heavy["aspects"]["GeneralProductInformation"]["batteryMass"] = "heavy"
    foreign = {"passport_id": "urn:uuid:y", "aspect": {"typology": {}}}
    defaults = MintDefaults(static_data=fact.static_data)
    prepared = prepare(ImportFormat.batterypass_1_2, whole(good, nameless, heavy, foreign), defaults, now=NOW)
    assert list(prepared.items) == [0]
    refused = {index: [(v.field, v.reason) for v in found] for index, found in prepared.refused.items()}
    general = "aspects.GeneralProductInformation"
    assert refused == {
        1: [(f"document.passports.1.{general}.productIdentifier", BATTERY_IDENTIFIER_MISSING)],
        2: [(f"document.passports.2.{general}.batteryMass", "invalid_decimal_parsing")],
        3: [("document.passports.3.aspects", NOT_THE_DECLARED_FORMAT)],
    }
    assert [(v.field, v.reason) for v in prepared.not_imported] == [("document.tenant", EXPORT_NOTE)]


def test_a_mint_rule_broken_by_the_document_points_at_its_field() -> None:
    fact = facts()[-1]
    passport = exported(state_of(fact))
    passport["aspects"]["GeneralProductInformation"]["batteryStatus"] = "Waste"
    passport["aspects"]["PerformanceAndDurability"]["batteryTechicalProperties"]["minimumVoltage"] = 999
    prepared = prepare(ImportFormat.batterypass_1_2, passport, MintDefaults(static_data=fact.static_data), now=NOW)
    technical = "document.aspects.PerformanceAndDurability.batteryTechicalProperties"
    assert sorted((v.field, v.reason) for v in prepared.refused[0]) == [
        ("document.aspects.GeneralProductInformation.batteryStatus", "status_not_mintable"),
        (f"{technical}.nominalVoltage", "voltage_order"),
    ]
