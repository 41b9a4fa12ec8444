"""The longlist as data: generated JSON matches the CSV, keys are unique, tiers and requirements are right."""

from __future__ import annotations

import csv
import importlib.util
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from contracts.attributes import (
    ATTRIBUTES,
    AccessTier,
    BatteryCategory,
    DataBehaviour,
    Granularity,
    Requirement,
    by_key,
    can_read,
    mandatory_keys,
    tier_of,
)
from tests.shared_inputs import require

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[3]


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_attributes", REPO_ROOT / "scripts" / "gen_attributes.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def csv_rows() -> list[dict[str, str]]:
    path: Path = require(
        gen.DEFAULT_CSV, "the Battery Pass data attribute longlist contracts/attributes.json is made from"
    )
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_regenerating_from_the_csv_gives_the_committed_json(csv_rows: list[dict[str, str]]) -> None:
    committed = (REPO_ROOT / "contracts" / "attributes.json").read_text(encoding="utf-8")
    assert gen.render(gen.build(gen.DEFAULT_CSV)) == committed


def test_every_row_of_the_csv_is_mapped_faithfully(csv_rows: list[dict[str, str]]) -> None:
    letters = {"x": Requirement.mandatory, "o": Requirement.voluntary, "": Requirement.not_applicable}
    columns = {
        BatteryCategory.ev: "EV",
        BatteryCategory.lmt: "LMT",
        BatteryCategory.industrial: "Other Industrial >2kWh",
        BatteryCategory.stationary: "Stationary >2kWh",
    }
    assert len(csv_rows) == 93
    for row, attribute in zip(csv_rows, ATTRIBUTES, strict=True):
        assert attribute.number == int(row["#"])
        assert attribute.name == " ".join(row["Attribute"].split())
        assert attribute.din_clause == row["DIN DKE Spec 99100 Chapter"].strip()
        for category, column in columns.items():
            assert attribute.requirement(category) is letters[row[column].strip()], (attribute.key, category)
        assert attribute.access_right == row["Access rights according to Battery Regulation"].strip()
        static = row["Data behavioural characteristic: static vs. dynamic"].strip() == "Static"
        assert attribute.is_static is static
        model = row["Granularity level I: Model vs individual battery"].strip() == "Battery model"
        assert (attribute.granularity is Granularity.model) is model


def test_all_raw_access_rights_are_mapped(csv_rows: list[dict[str, str]]) -> None:
    raw = {row["Access rights according to Battery Regulation"].strip() for row in csv_rows}
    assert raw == set(gen.ACCESS_TIERS)


def test_93_attributes_numbered_in_order_with_unique_snake_case_keys() -> None:
    assert [a.number for a in ATTRIBUTES] == list(range(1, 94))
    keys = [a.key for a in ATTRIBUTES]
    assert len(set(keys)) == 93
    assert by_key("battery_passport_identifier").number == 1
    assert by_key("rated_capacity").unit == "Ah"


def test_counts_per_tier() -> None:
    counts = Counter(a.access_tier for a in ATTRIBUTES)
    assert counts == {AccessTier.public: 60, AccessTier.legitimate_interest: 32, AccessTier.authorities: 1}
    assert tier_of("test_report_results") is AccessTier.authorities


def test_several_groups_map_to_the_most_restrictive_tier_that_admits_them_all() -> None:
    joint = [a for a in ATTRIBUTES if a.access_right == "persons with a legitimate interest and the Commission"]
    assert {a.key for a in joint} == {
        "cathode_anode_electrolyte_materials",
        "dismantling_information",
        "component_part_numbers",
        "spare_part_sources",
        "safety_measures",
    }
    assert {a.access_tier for a in joint} == {AccessTier.legitimate_interest}


def test_static_dynamic_and_granularity_counts() -> None:
    assert Counter(a.behaviour for a in ATTRIBUTES) == {DataBehaviour.static: 73, DataBehaviour.dynamic: 20}
    assert Counter(a.granularity for a in ATTRIBUTES) == {
        Granularity.model: 67,
        Granularity.individual_battery: 26,
    }


def test_mandatory_keys_per_category() -> None:
    ev_static = mandatory_keys(BatteryCategory.ev, static_only=True)
    assert "capacity_threshold_for_exhaustion" in ev_static
    assert "capacity_threshold_for_exhaustion" not in mandatory_keys(BatteryCategory.lmt, static_only=False)
    assert "state_of_certified_energy" in mandatory_keys(BatteryCategory.ev, static_only=False)
    assert "state_of_certified_energy" not in ev_static  # dynamic
    assert "self_discharge_rate_evolution" in mandatory_keys(BatteryCategory.stationary, static_only=False)
    assert "self_discharge_rate_evolution" not in mandatory_keys(BatteryCategory.industrial, static_only=False)
    for category in BatteryCategory:
        everything = mandatory_keys(category, static_only=False)
        static = mandatory_keys(category, static_only=True)
        assert set(static) <= set(everything)
        assert all(by_key(key).is_static for key in static)
        assert list(everything) == sorted(everything, key=lambda key: by_key(key).number)


def test_unknown_key_raises() -> None:
    with pytest.raises(KeyError, match="no_such_attribute"):
        by_key("no_such_attribute")


def test_tiers_are_nested() -> None:
    assert can_read(AccessTier.owner, AccessTier.authorities)
    assert can_read(AccessTier.authorities, AccessTier.legitimate_interest)
    assert can_read(AccessTier.legitimate_interest, AccessTier.public)
    assert not can_read(AccessTier.public, AccessTier.legitimate_interest)
    assert not can_read(AccessTier.legitimate_interest, AccessTier.authorities)


def test_generator_check_mode_reports_up_to_date(
    csv_rows: list[dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert gen.main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out
