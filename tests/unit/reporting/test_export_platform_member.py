"""The `platform` member both exports write beside the aspects: what bpass holds that the published aspects have no
member for, outside the schemas, cut to the reader's tier exactly as the aspects are."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts.attributes import AccessTier, can_read
from contracts.passport_data import field_tier
from services.reporting.domain.batterypass import to_batterypass
from services.reporting.domain.batterypass_platform import NOTE, uncarried_static_data
from services.reporting.domain.tiers import state_for_tier, tier_of_path
from services.reporting.exports.catenax import catenax_entry
from services.reporting.exports.formats import JsonWriter
from tests.unit.reporting.catenax_population import population

LOWER_TIERS = (AccessTier.public, AccessTier.legitimate_interest, AccessTier.authorities)
EXPORTS = {"batterypass": to_batterypass, "catenax": catenax_entry}
# Fields each export's aspects have no member for, which the population holds.
UNCARRIED = {
    "batterypass": {"battery_model", "critical_raw_materials"},
    "catenax": {"manufacturer", "critical_raw_materials"},
}


def states() -> list[dict[str, Any]]:
    return list(population(40, run="PLATFORM"))


def leaves(value: Any, prefix: str) -> list[str]:
    if isinstance(value, dict):
        return [leaf for key, child in value.items() for leaf in leaves(child, f"{prefix}.{key}")]
    if isinstance(value, list) and value and all(isinstance(entry, dict) for entry in value):
        return [leaf for i, entry in enumerate(value) for leaf in leaves(entry, f"{prefix}.{i}")]
    return [prefix]


def contained(small: Any, big: Any) -> bool:
    """Every member of `small` is in `big` with the same value (lists of objects entry by entry)."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and contained(v, big[k]) for k, v in small.items())
    if isinstance(small, list) and isinstance(big, list) and all(isinstance(e, dict) for e in small):
        return len(small) == len(big) and all(contained(s, b) for s, b in zip(small, big, strict=True))
    return bool(small == big)


@pytest.mark.parametrize("export", EXPORTS)
@pytest.mark.parametrize("tier", LOWER_TIERS)
def test_a_lower_tier_sees_no_more_in_platform_than_its_tier_reads(export: str, tier: AccessTier) -> None:
    hidden = 0
    for state in states():
        owner = EXPORTS[export](state)["platform"]
        member = EXPORTS[export](state_for_tier(state, tier))["platform"]
        view = state_for_tier(state, tier)
        # Each static data field in it is one the tier reads, as the tier-cut state holds it.
        for name, value in member["static_data"].items():
            assert can_read(tier, field_tier(name)), (tier, name)
            assert contained(value, view["static_data"][name]), (tier, name)
        # The GTIN and batch are the subject's: shown only to who reads the subject.
        for name in ("gtin", "batch_number"):
            if name in member:
                assert can_read(tier, tier_of_path("subject")), (tier, name)
        assert member.get("battery_identifier") == view.get("battery_identifier")
        # Never more than the owner's member.
        assert contained(member["static_data"], owner["static_data"])
        hidden += len(leaves(owner, "")) - len(leaves(member, ""))
    if tier is AccessTier.public:  # the GTINs, batches and spare-part sources of the population are cut
        assert hidden > 0


@pytest.mark.parametrize("export", EXPORTS)
def test_the_member_holds_only_what_the_aspects_cannot_carry_and_is_labelled(export: str) -> None:
    seen = set()
    for state in states():
        member = EXPORTS[export](state)["platform"]
        assert member["note"] == NOTE
        assert member["battery_identifier"] == state["battery_identifier"]
        assert member.get("gtin") == state["subject"].get("gtin")
        seen |= set(member["static_data"])
        # Nothing the aspects carry whole: rated values, the weight, the chemistry...
        assert not {"weight_kg", "rated_capacity_ah", "battery_chemistry", "nominal_voltage_v"} & set(
            member["static_data"]
        )
    assert UNCARRIED[export] <= seen
    assert any(state["subject"].get("gtin") for state in states())


def test_a_path_of_one_member_of_each_entry_keeps_the_entries_in_order() -> None:
    static = {
        "hazardous_substances": [{"name": "a", "hazard_classes": ["Acute Tox. 4"]}, {"name": "b"}],
        "manufacturer": {"name": "Acme", "web_address": "https://acme.example"},
    }
    assert uncarried_static_data(static, ["hazardous_substances[].hazard_classes", "manufacturer.name"]) == {
        "hazardous_substances": [{"hazard_classes": ["Acute Tox. 4"]}, {}],
        "manufacturer": {"name": "Acme"},
    }
    assert uncarried_static_data(static, ["battery_model", "operator.name"]) == {}


def test_the_conformance_summary_is_the_aspects_alone() -> None:
    """The member is outside the aspects: the file's counts are those of the aspects as before."""
    sample = states()[:10]
    writer = JsonWriter({"tenant": "acme"}, batterypass=True)
    writer.add(sample)
    document = json.loads(writer.finish())
    for entry, state in zip(document["passports"], sample, strict=True):
        assert set(entry) == {"passport_id", "aspects", "conformance", "platform"}
        assert entry["aspects"] == json.loads(json.dumps(to_batterypass(state)["aspects"]))
    assert document["summary"]["passports"] == 10
