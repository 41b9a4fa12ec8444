"""The population's verdicts, held as assertions: a battery put into service whose BMS sends every reading is valid
but for the documented upstream defects and the members the longlist marks not applicable to its category (the
schemas require them of every battery; identity refuses static data that gives them), and every other passport's
remaining errors are members missing for a stated reason: not put into service yet, or not applicable to its
category. Errors are found again here with the committed schemas, not read from the export's own report."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from contracts.attributes import BatteryCategory, Requirement, by_key
from services.reporting.domain import batterypass_condition
from services.reporting.domain.batterypass import to_batterypass
from services.reporting.domain.batterypass_gaps import LONGLIST_KEYS, TEMPERATURE_KEYS
from services.reporting.domain.conformance import UPSTREAM_DEFECTS, SchemaError
from tests.unit.reporting.batterypass_population import found_errors, generated, profile_of

TEMPERATURE = "PerformanceAndDurability/batteryCondition/temperatureInformation"
DYNAMIC = ("PerformanceAndDurability/batteryCondition", "GeneralProductInformation/puttingIntoService")


@functools.cache
def not_applicable(category: str) -> frozenset[str]:
    """Members whose longlist attribute is not applicable to `category` (an object: when each of its members is)."""
    members = {
        member
        for member, key in LONGLIST_KEYS.items()
        if by_key(key).requirement(BatteryCategory(category)) is Requirement.not_applicable
    }
    if all(f"{TEMPERATURE}/{m}" in members for m in TEMPERATURE_KEYS):
        members.add(TEMPERATURE)
    return frozenset(members)


def remaining(exported: dict[str, Any]) -> list[tuple[str, str]]:
    """(member, rule) of each error a validator finds that no documented upstream defect covers."""
    return [
        (aspect + path, rule)
        for aspect, path, rule in found_errors(exported["aspects"])
        if not any(d.covers(SchemaError(aspect, path, rule, "")) for d in UPSTREAM_DEFECTS)
    ]


def unexcused(battery_states: list[tuple[Any, dict[str, Any]]]) -> list[tuple[str, str, str, str]]:
    """Errors left of each passport that are neither a not-applicable member nor, for a passport not yet in
    service, a member it cannot hold yet; each excused one must say why."""
    wrong = []
    for battery, state in battery_states:
        exported = to_batterypass(state)
        report = exported["conformance"]
        reasons = {m["field"]: m["reason"] for m in report["missing"]}
        served = bool(state["in_service"].get("put_into_service_at"))
        category = state["category"]
        left = remaining(exported)
        for member, rule in left:
            reason = reasons.get(member, "")
            if rule == "required" and member in not_applicable(category) and "not applicable" in reason:
                continue
            if rule == "required" and not served and member.startswith(DYNAMIC) and "not put into service" in reason:
                continue
            wrong.append((category, state["stage"], member, rule))
        excused = all(member in not_applicable(category) for member, _ in left)
        assert report["valid_except_upstream_defects_and_not_applicable"] is excused
        assert report["valid_except_upstream_defects"] is (left == [])
        if served and profile_of(battery) == "complete":
            assert excused, (category, left)
    return wrong


def test_every_passport_in_service_is_valid_but_for_upstream_defects_and_members_not_applicable_to_its_category() -> (
    None
):
    states = list(generated(200, run="BPVERD"))
    served = [(b, s) for b, s in states if s["in_service"].get("put_into_service_at")]
    complete = {s["category"] for b, s in served if profile_of(b) == "complete"}
    assert complete == {c.value for c in BatteryCategory}
    assert {s["stage"] for _, s in states} >= {"manufactured", "placed_on_market", "in_service", "collected"}
    assert unexcused(states) == []
    # what no passport can pass: members the schemas require that the longlist marks not applicable, per category
    applicable_everywhere = [
        c for c in BatteryCategory if not {m for m in not_applicable(c.value) if not m.startswith(DYNAMIC)}
    ]
    assert applicable_everywhere == []
    for _, state in served:
        assert to_batterypass(state)["conformance"]["valid_except_upstream_defects_and_not_applicable"]


@pytest.mark.parametrize(
    ("table", "index", "broken"),
    [
        ("TIMED", 7, ("remainingRoundTripEnergyEfficiency", "remainingRoundTripEfficiencyValue", "x")),
        ("UNTIMED", 2, ("roundTripEfficiencyFade", "round_trip_efficiency_pct")),
        ("BARE_OBJECTS", 0, ("evolutionOfSelfDischarge", "evolutionOfSelfDischargeValue", "x")),
        ("TEMPERATURE", 3, ("timeExtremeLowTempCharging", "time_charging_below_min_temperature_hours")),
    ],
)
def test_a_broken_condition_mapping_fails_the_verdicts(
    monkeypatch: pytest.MonkeyPatch, table: str, index: int, broken: tuple[Any, ...]
) -> None:
    entries = list(getattr(batterypass_condition, table))
    entries[index] = broken
    monkeypatch.setattr(batterypass_condition, table, tuple(entries))
    states = list(generated(40, run="BPBRK1"))
    served = [(b, s) for b, s in states if s["in_service"].get("put_into_service_at")]
    with pytest.raises(AssertionError):
        assert unexcused(served) == []
