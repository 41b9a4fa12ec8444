"""Importing a Catena-X BatteryPass 6.1 export: reporting's export entry (`catenax_entry`: aspect and conformance)
then identity's inverse mapping gives back the passport as minted, for every field the aspect carries; what it
cannot carry (companies named by BPN, recycled shares summed) comes from the import's defaults; refusals name the
place in the imported document."""

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
from services.identity.domain.imports.catenax import LOSSY, from_catenax
from services.identity.domain.imports.document import (
    ASSIGNED_BY_PLATFORM,
    BATTERY_IDENTIFIER_MISSING,
    DERIVED,
    DYNAMIC_DATA,
    EXPORT_NOTE,
    NO_PLACE_IN_MODEL,
    NOT_THE_DECLARED_FORMAT,
    mint_item,
)
from services.identity.domain.imports.formats import ImportFormat, prepare
from services.reporting.domain import readmodel
from services.reporting.domain.catenax import to_catenax
from services.reporting.exports.catenax import catenax_entry
from tests.unit.reporting.factories import batteries, minted

NOW = datetime.now(UTC)
# Static data fields the 6.1.0 aspect has no place for (companies and plants are named by BPN; recycled content
# only as the sum of both shares): reporting's export carries them in each entry's `platform` member, an import takes
# them from there (from its defaults for a third party's document).
NOT_CARRIED = {
    "operator",
    "manufacturing_place",
    "spare_part_sources",
    "absolute_carbon_footprint_t_co2e",
    "supply_chain_index",
    "renewable_content_share_pct",
    "maximum_permitted_power_w",
    "power_to_energy_ratio_w_per_wh",
    "cycle_life_reference_test",
    "cycle_life_test_c_rate",
    "critical_raw_materials",
    "battery_status",  # `original`: what no status exports too, read back as none
    *(
        f"{kind}_consumer_recycled_{m}_share_pct"
        for kind in ("pre", "post")
        for m in ("nickel", "cobalt", "lithium", "lead")
    ),
}
OUR_EXPORT_NOTES = {ASSIGNED_BY_PLATFORM, EXPORT_NOTE, DYNAMIC_DATA, DERIVED}


def facts() -> list[PassportMinted]:
    population = [minted(battery, "acme") for battery in batteries(80, run="CATENAX")]
    for category in BatteryCategory:
        example = minted(batteries(1, run=f"CX{category.value}")[0], "acme")
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
    return dict(json.loads(json.dumps(catenax_entry(state))))


@pytest.mark.parametrize("fact", facts(), ids=lambda fact: fact.subject.battery_identifier)
def test_the_export_imported_back_without_defaults_is_the_passport_as_minted(fact: PassportMinted) -> None:
    original = fact.static_data
    assert original is not None
    state = state_of(fact)
    imported = from_catenax(exported(state), "document")
    assert imported.violations == []
    assert {v.reason for v in imported.not_imported} <= OUR_EXPORT_NOTES, imported.not_imported
    # Nothing of the `platform` member is listed back: all of it was taken (its note is the exporter's).
    assert [v.field for v in imported.not_imported if ".platform" in v.field] == ["document.platform.note"]
    assert imported.subject == fact.subject.model_dump(exclude_none=True, exclude={"member_identifiers"})
    assert imported.category == fact.category.value
    assert imported.product_family == fact.product_family

    # Without `platform` the aspect alone carries every field but those it has no member for.
    alone = from_catenax(third_party(exported(state)), "document")
    carried = set(alone.static_data)
    given_fields = set(original.model_dump(exclude_none=True))
    assert given_fields - carried <= NOT_CARRIED | set(LOSSY), given_fields - carried
    # Alone, but for the manufacturer (only its web site is carried) and the hazard classes (not carried).
    partial = {"manufacturer", "hazardous_substances"}
    aspect_only = StaticPassportData.model_validate({k: v for k, v in alone.static_data.items() if k not in partial})
    for name in carried - set(LOSSY) - partial:
        assert getattr(aspect_only, name) == getattr(original, name), name

    # No defaults: the aspect and `platform` give the passport as minted, every field but those truly lost.
    item, refused = mint_item(imported, 0, None)
    assert refused == []
    assert item is not None
    assert passports.check_items([item], now=NOW) == []
    assert item.subject.gtin == fact.subject.gtin
    for name in StaticPassportData.model_fields:
        if name not in LOSSY:
            assert getattr(item.static_data, name) == getattr(original, name), name
    again = {**state, "static_data": item.static_data.model_dump(mode="json", exclude_none=True)}
    assert to_catenax(again) == to_catenax(state)


def third_party(entry: dict[str, Any]) -> dict[str, Any]:
    """Our entry as another platform writes it: the aspect alone, no `platform` member."""
    return {key: value for key, value in entry.items() if key != "platform"}


def test_a_third_party_document_needs_and_uses_the_defaults() -> None:
    fact = facts()[-1]
    original = fact.static_data
    assert original is not None
    entry = third_party(exported(state_of(fact)))
    refused = prepare(ImportFormat.catenax_batterypass_6_1, whole(entry), None, now=NOW).refused[0]
    assert "defaults.static_data.manufacturer.name" in {v.field for v in refused}
    prepared = prepare(ImportFormat.catenax_batterypass_6_1, whole(entry), MintDefaults(static_data=original), now=NOW)
    assert prepared.refused == {}
    for name in NOT_CARRIED | {"manufacturer", "hazardous_substances"}:
        assert getattr(prepared.items[0].static_data, name) == getattr(original, name), name


@given(
    total=st.decimals(min_value=Decimal("0.1"), max_value=Decimal("500"), places=1),
    share=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100"), places=2),
)
def test_a_life_cycle_stage_share_comes_back_from_the_exported_value(total: Decimal, share: Decimal) -> None:
    """The export multiplies in binary floating point: the share read back is one that exports the same value."""
    state = state_of(minted(batteries(1, run="CXSHARE")[0], "acme"))
    state["static_data"] = {
        "carbon_footprint_kg_co2e_per_kwh": str(total),
        "carbon_footprint_production_share_pct": str(share),
    }
    aspect = json.loads(json.dumps(to_catenax(state)))
    back = from_catenax({"aspect": aspect}, "document").static_data["carbon_footprint_production_share_pct"]
    again = {**state, "static_data": {**state["static_data"], "carbon_footprint_production_share_pct": str(back)}}
    assert to_catenax(again)["sustainability"] == aspect["sustainability"]
    # The share given, or (where the export rounds it away: 0.01 % of 0.1 kg) one it cannot tell from it, with no
    # more decimals.
    assert decimals(back) <= decimals(share)


def decimals(value: Decimal) -> int:
    return max(0, -int(value.normalize().as_tuple().exponent))


def whole(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"format": "catenax-batterypass-6.1", "tenant": "acme", "passports": list(entries)}


def test_a_stationary_battery_is_told_from_an_industrial_one_by_its_purpose() -> None:
    fact = facts()[-1]
    assert fact.category is BatteryCategory.stationary
    entry = exported(state_of(fact))
    assert entry["aspect"]["identification"]["category"] == "industrial"
    assert from_catenax(entry, "document").category == "stationary"
    entry["aspect"]["commercial"]["purpose"] = ["industrial"]
    assert from_catenax(entry, "document").category == "industrial"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"format": "batterypass-1.2", "passports": []}, "document.format"),
        ({"passport_id": "urn:uuid:x", "aspects": {}}, "document"),
    ],
)
def test_a_document_that_is_not_the_declared_format_is_refused_whole(document: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        prepare(ImportFormat.catenax_batterypass_6_1, document, None, now=NOW)
    assert [(v.field, v.reason) for v in refused.value.violations] == [(field, NOT_THE_DECLARED_FORMAT)]


def test_each_passport_is_refused_alone_naming_its_field_in_the_document() -> None:
    fact = facts()[-1]
    good = exported(state_of(fact))
    nameless = exported(state_of(fact))
    del nameless["aspect"]["identification"]["idDmc"]
    heavy = third_party(exported(state_of(fact)))  # another battery: not the one our `platform` member names
    heavy["aspect"]["identification"]["idDmc"] = "CX-HEAVY"
    heavy["aspect"]["characteristics"]["physicalDimension"]["weight"]["value"] = "heavy"
    heavy["aspect"]["identification"]["colour"] = "blue"
    older = exported(state_of(fact))
    older["aspect"]["specVersion"] = "urn:io.catenax.battery.battery_pass:5.0.0"
    prepared = prepare(
        ImportFormat.catenax_batterypass_6_1,
        whole(good, nameless, heavy, older),
        MintDefaults(static_data=fact.static_data),
        now=NOW,
    )
    assert list(prepared.items) == [0]
    refused = {index: [(v.field, v.reason) for v in found] for index, found in prepared.refused.items()}
    assert refused == {
        1: [("document.passports.1.aspect.identification.idDmc", BATTERY_IDENTIFIER_MISSING)],
        2: [
            (
                "document.passports.2.aspect.characteristics.physicalDimension.weight.value",
                "invalid_decimal_parsing",
            )
        ],
        3: [("document.passports.3.aspect.specVersion", NOT_THE_DECLARED_FORMAT)],
    }
    listed = {(v.field, v.reason) for v in prepared.imported[2].not_imported}
    assert ("document.passports.2.aspect.identification.colour", NO_PLACE_IN_MODEL) in listed
    assert ("document.passports.2.passport_id", ASSIGNED_BY_PLATFORM) in listed
    assert ("document.passports.2.aspect.metadata", ASSIGNED_BY_PLATFORM) in listed
