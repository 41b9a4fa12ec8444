"""The Battery Pass 1.2 export read with the committed schemas: every error of a generated population is a
documented upstream defect or a missing member the export explains; in-service readings become batteryCondition;
the per-passport report is exact; the file's summary counts what a validator finds in it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bpass.examples import valid_static_data
from contracts.attributes import BatteryCategory
from contracts.identity import PassportMinted
from contracts.passport_data import BatteryKind
from services.reporting.domain import batterypass, readmodel
from services.reporting.domain.batterypass import ASPECTS, to_batterypass
from services.reporting.domain.conformance import (
    UPSTREAM_DEFECTS,
    SchemaError,
    conformance,
)
from services.reporting.exports import formats
from services.reporting.exports.formats import JsonWriter
from tests.examples import valid_subject
from tests.unit.reporting.batterypass_population import found_errors, population, reading
from tests.unit.reporting.factories import T0, passport_id

DEFAULT_REASON = "the platform holds no value for it"


def example_states() -> list[dict[str, Any]]:
    """Each category's example static data (bpass/examples.py) on a battery and on a pack, just minted."""
    states = []
    for n, category in enumerate(BatteryCategory):
        for kind in (BatteryKind.battery, BatteryKind.pack):
            pid = passport_id()
            fact = PassportMinted.model_validate(
                {
                    "passport_id": pid,
                    "tenant": "acme",
                    "subject": valid_subject(kind, battery_identifier=f"EX-{n}-{kind.value}"),
                    "category": category,
                    "product_family": "example",
                    "public_uri": f"https://passport.example.test/p/{pid}",
                    "static_data": valid_static_data(category),
                    "extensions": {},
                    "version": 1,
                    "minted_at": T0,
                    "minted_by": "oem_admin:test:key",
                }
            )
            state = readmodel.empty_state(pid, "acme")
            readmodel.apply_minted(state, fact)
            states.append(state)
    return states


def test_every_error_of_a_generated_population_is_an_upstream_defect_or_an_explained_missing_member() -> None:
    states = [*example_states(), *population(240)]
    assert {s["category"] for s in states} == {c.value for c in BatteryCategory}
    assert {s["stage"] for s in states} >= {"manufactured", "placed_on_market", "in_service", "collected"}
    unexplained = []
    for state in states:
        exported = to_batterypass(state)
        report = exported["conformance"]
        errors = found_errors(exported["aspects"])
        # the report holds exactly the errors a validator finds
        assert [(e["aspect"], e["path"], e["rule"]) for e in report["errors"]] == errors
        reasons = {m["field"]: m["reason"] for m in report["missing"]}
        for aspect, path, rule in errors:
            error = SchemaError(aspect, path, rule, "")
            if any(d.covers(error) for d in UPSTREAM_DEFECTS):
                continue
            if rule == "required" and reasons.get(aspect + path, DEFAULT_REASON) != DEFAULT_REASON:
                continue
            unexplained.append((state["category"], state["stage"], aspect, path, rule))
        assert report["valid_strict"] is (errors == [])
    assert unexplained == []


def test_a_passport_in_service_exports_its_readings_with_their_times_as_battery_condition() -> None:
    state = example_states()[0]
    at = datetime(2026, 5, 2, 8, 30, tzinfo=UTC)
    readmodel.apply_status(state, occurred_at=at, stage="in_service", by="dealer")
    given = {
        "state_of_certified_energy_pct": ("93.4", at + timedelta(days=30)),
        "remaining_capacity_ah": ("210.5", at + timedelta(days=31)),
        "capacity_fade_pct": ("4.2", at + timedelta(days=32)),
        "full_cycles": ("311", at + timedelta(days=33)),
        "state_of_charge_pct": ("64", at + timedelta(days=34)),
        "energy_throughput_kwh": ("23950", at + timedelta(days=35)),
        "deep_discharge_events": ("2", at + timedelta(days=36)),
        "accident_events": ("0", at + timedelta(days=37)),
        "time_above_max_temperature_h": ("1.5", at + timedelta(days=38)),
        "time_below_min_temperature_h": ("0.25", at + timedelta(days=39)),
        "internal_resistance_increase_pct": ("6.1", at + timedelta(days=40)),
    }
    readmodel.apply_in_service_data(state, {m: reading(v, t) for m, (v, t) in given.items()})
    exported = to_batterypass(state)
    general = exported["aspects"]["GeneralProductInformation"]
    condition = exported["aspects"]["PerformanceAndDurability"]["batteryCondition"]

    def z(name: str) -> str:
        return given[name][1].isoformat().replace("+00:00", "Z")

    assert general["puttingIntoService"] == "2026-05-02T08:30:00Z"
    assert condition["stateOfCertifiedEnergy"] == {
        "stateOfCertifiedEnergyValue": 93.4,
        "lastUpdate": z("state_of_certified_energy_pct"),
    }
    assert condition["remainingCapacity"] == {"remainingCapacityValue": 210.5, "lastUpdate": z("remaining_capacity_ah")}
    assert condition["capacityFade"] == {"capacityFadeValue": 4.2, "lastUpdate": z("capacity_fade_pct")}
    assert condition["numberOfFullCycles"] == {"numberOfFullCyclesValue": 311.0, "lastUpdate": z("full_cycles")}
    assert condition["stateOfCharge"] == {"stateOfChargeValue": 64.0, "lastUpdate": z("state_of_charge_pct")}
    assert condition["energyThroughput"] == 23950.0
    assert condition["negativeEvents"] == [
        {"negativeEvent": "deep discharge events: 2", "lastUpdate": z("deep_discharge_events")}
    ]  # no accident: a count of zero is no event
    assert condition["temperatureInformation"] == {
        "timeExtremeHighTemp": 90.0,  # minutes, the longlist's unit
        "timeExtremeLowTemp": 15.0,
        "lastUpdate": z("time_below_min_temperature_h"),
    }
    increase = {"internalResistanceIncreaseValue": 6.1, "lastUpdate": z("internal_resistance_increase_pct")}
    assert condition["internalResistanceIncrease"] == [{**increase, "batteryComponent": "pack"}]
    assert condition["roundTripEfficiencyat50PerCentCycleLife"] == 92.0  # static data, filed under condition
    wrong = [e for e in found_errors(exported["aspects"]) if e[2] != "required"]
    assert wrong
    assert all(e[0] == "GeneralProductInformation" for e in wrong)  # the upstream defects only
    missing = {m["field"] for m in exported["conformance"]["missing"]}
    assert "PerformanceAndDurability/batteryCondition/stateOfCertifiedEnergy" not in missing
    assert "PerformanceAndDurability/batteryCondition/powerFade" in missing  # not read: left out, not zero
    assert "GeneralProductInformation/puttingIntoService" not in missing


def test_the_annex_vii_readings_become_their_condition_members_with_their_times() -> None:
    state = example_states()[6]  # stationary: the longlist asks for every one of them
    at = datetime(2026, 5, 2, 8, 30, tzinfo=UTC)
    readmodel.apply_status(state, occurred_at=at, stage="in_service", by="installer")
    given = {
        "remaining_power_capability_at_80_pct_soc_w": ("4650", at + timedelta(days=30)),
        "remaining_power_capability_at_20_pct_soc_w": ("3900.5", at + timedelta(days=31)),
        "remaining_round_trip_efficiency_pct": ("93.1", at + timedelta(days=32)),
        "round_trip_efficiency_fade_pct": ("2.1", at + timedelta(days=33)),
        "self_discharge_rate_pct_per_month": ("1.8", at + timedelta(days=34)),
        "self_discharge_rate_evolution_pct": ("20", at + timedelta(days=35)),
        "time_above_max_temperature_h": ("1.5", at + timedelta(days=36)),
        "time_below_min_temperature_h": ("0", at + timedelta(days=37)),
        "time_charging_above_max_temperature_h": ("0.5", at + timedelta(days=38)),
        "time_charging_below_min_temperature_h": ("0.1", at + timedelta(days=39)),
    }
    readmodel.apply_in_service_data(state, {m: reading(v, t) for m, (v, t) in given.items()})
    exported = to_batterypass(state)
    condition = exported["aspects"]["PerformanceAndDurability"]["batteryCondition"]

    def z(name: str) -> str:
        return given[name][1].isoformat().replace("+00:00", "Z")

    high, low = "remaining_power_capability_at_80_pct_soc_w", "remaining_power_capability_at_20_pct_soc_w"
    assert condition["remainingPowerCapability"] == [
        {
            "remainingPowerCapabilityValue": {"atSoC": 80.0, "powerCapabilityAt": 4650.0, "rPCLastUpdated": z(high)},
            "lastUpdate": z(high),
        },
        {
            "remainingPowerCapabilityValue": {"atSoC": 20.0, "powerCapabilityAt": 3900.5, "rPCLastUpdated": z(low)},
            "lastUpdate": z(low),
        },
    ]
    assert condition["remainingRoundTripEnergyEfficiency"] == {
        "remainingRoundTripEnergyEfficiencyValue": 93.1,
        "lastUpdate": z("remaining_round_trip_efficiency_pct"),
    }
    assert condition["roundTripEfficiencyFade"] == 2.1
    assert condition["currentSelfDischargingRate"] == {
        "currentSelfDischargingRateEntity": 1.8,
        "lastUpdate": z("self_discharge_rate_pct_per_month"),
    }
    assert condition["evolutionOfSelfDischarge"] == {"evolutionOfSelfDischargeEntityValue": 20.0}
    assert condition["temperatureInformation"] == {
        "timeExtremeHighTemp": 90.0,
        "timeExtremeLowTemp": 0.0,
        "timeExtremeHighTempCharging": 30.0,  # minutes, the longlist's unit
        "timeExtremeLowTempCharging": 6.0,
        "lastUpdate": z("time_charging_below_min_temperature_h"),
    }
    errors = found_errors(exported["aspects"])
    exported_members = {"remainingPowerCapability", "remainingRoundTripEnergyEfficiency", "roundTripEfficiencyFade"}
    exported_members |= {"currentSelfDischargingRate", "evolutionOfSelfDischarge", "temperatureInformation"}
    assert not [e for e in errors if e[1].split("/")[2:3] and e[1].split("/")[2] in exported_members]


def test_a_passport_not_in_service_leaves_putting_into_service_and_readings_out_and_says_why() -> None:
    state = example_states()[2]  # lmt: the longlist asks for the date of putting into service
    exported = to_batterypass(state)
    general = exported["aspects"]["GeneralProductInformation"]
    condition = exported["aspects"]["PerformanceAndDurability"]["batteryCondition"]
    assert "puttingIntoService" not in general
    assert set(condition) == {"roundTripEfficiencyat50PerCentCycleLife"}
    reasons = {m["field"]: m["reason"] for m in exported["conformance"]["missing"]}
    assert reasons["GeneralProductInformation/puttingIntoService"].startswith("not put into service yet (stage manuf")
    assert "longlist v1.2 for lmt: mandatory" in reasons["GeneralProductInformation/puttingIntoService"]
    assert reasons["PerformanceAndDurability/batteryCondition/stateOfCharge"] == (
        "not put into service yet (stage manufactured): no in-service readings; longlist v1.2 for lmt: mandatory"
    )
    properties = exported["aspects"]["PerformanceAndDurability"]["batteryTechicalProperties"]
    assert properties["initialSelfDischarge"] == 2.0  # held for LMT, exported


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (lambda gpi: gpi.pop("batteryMass"), ("GeneralProductInformation", "/batteryMass", "required")),
        (lambda gpi: gpi.update(batteryMass="512.5"), ("GeneralProductInformation", "/batteryMass", "type")),
        (lambda gpi: gpi.update(batteryCategory="EV"), ("GeneralProductInformation", "/batteryCategory", "enum")),
        (
            lambda gpi: gpi.update(manufacturingDate="2025-09-15"),
            ("GeneralProductInformation", "/manufacturingDate", "format"),
        ),
    ],
)
def test_the_report_names_exactly_the_field_a_broken_mapping_gets_wrong(
    monkeypatch: pytest.MonkeyPatch, break_it: Any, expected: tuple[str, str, str]
) -> None:
    state = example_states()[0]
    before = to_batterypass(state)["conformance"]
    mapped = batterypass.general_product_information

    def broken(state: dict[str, Any], static: dict[str, Any]) -> dict[str, Any]:
        payload = mapped(state, static)
        break_it(payload)
        return payload

    monkeypatch.setattr(batterypass, "general_product_information", broken)
    after = to_batterypass(state)["conformance"]
    added = [e for e in after["errors"] if e not in before["errors"]]
    assert [(e["aspect"], e["path"], e["rule"]) for e in added] == [expected]
    assert "upstream_defect" not in added[0]
    if expected[2] == "required":  # named among the missing too, with what the passport holds for it
        missing = {m["field"]: m["reason"] for m in after["missing"]}
        assert missing["GeneralProductInformation/batteryMass"].startswith("weight_kg is held but has no place here")


def test_the_only_wrong_values_of_the_complete_examples_are_the_documented_defects() -> None:
    """Every category's complete example: what is exported is right but for the published schemas' own defects;
    every other error is a missing member."""
    for state in example_states():
        errors = found_errors(to_batterypass(state)["aspects"])
        assert {(a, p) for a, p, r in errors if r != "required"} == {
            ("GeneralProductInformation", "/batteryPassportIdentifier"),
            ("GeneralProductInformation", "/manufacturerInformation/emailAddress"),
            ("GeneralProductInformation", "/operatorInformation/emailAddress"),
            ("GeneralProductInformation", "/warrentyPeriod"),
        }


def test_the_file_summary_counts_what_a_validator_finds_in_the_file() -> None:
    states = [*example_states(), *population(60, run="BPSUM1")]
    writer = JsonWriter({"tenant": "acme"}, batterypass=True)
    writer.add(states[:30])
    writer.add(states[30:])
    document = json.loads(writer.finish())
    assert list(document)[-2:] == ["passports", "summary"]
    assert "validate against" not in document["note"]
    assert set(document["schemas"]) == set(ASPECTS)
    strict = except_defects = 0
    for passport in document["passports"]:
        errors = found_errors(passport["aspects"])
        strict += not errors
        covered = [e for e in errors if any(d.covers(SchemaError(*e, "")) for d in UPSTREAM_DEFECTS)]
        except_defects += len(covered) == len(errors)
    summary = document["summary"]
    assert summary["passports"] == len(states) == len(document["passports"])
    assert (summary["valid_strict"], summary["valid_except_upstream_defects"]) == (strict, except_defects)
    assert summary == writer.summary()
    assert summary["upstream_defects"]["batterypass-1.2/urn-uuid"] == len(states)
    assert summary["missing_required"]["GeneralProductInformation/puttingIntoService"] == sum(
        1 for s in states if not s["in_service"].get("put_into_service_at")
    )


def test_the_writer_counts_each_verdict_as_it_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    """No generated passport is valid even except upstream defects (required members the platform never holds), so
    the counting itself is shown on reports made of chosen errors: one valid strictly, two valid except defects."""
    defect = SchemaError("GeneralProductInformation", "/batteryPassportIdentifier", "pattern", "urn:uuid")
    missing = SchemaError("GeneralProductInformation", "/batteryMass", "required", "batteryMass")
    verdicts = {"a": [], "b": [defect], "c": [defect], "d": [defect, missing], "e": [missing]}

    def exported(state: dict[str, Any]) -> dict[str, Any]:
        report = conformance(verdicts[state["passport_id"]], missing_reasons={})
        return {"passport_id": state["passport_id"], "aspects": {}, "conformance": report}

    monkeypatch.setattr(formats, "to_batterypass", exported)
    writer = JsonWriter({"tenant": "acme"}, batterypass=True)
    writer.add([{"passport_id": pid} for pid in "abc"])
    writer.add([{"passport_id": pid} for pid in "de"])
    summary = json.loads(writer.finish())["summary"]
    assert (summary["passports"], summary["valid_strict"], summary["valid_except_upstream_defects"]) == (5, 1, 3)
    assert summary["upstream_defects"] == {"batterypass-1.2/urn-uuid": 3}
    assert summary["missing_required"] == {"GeneralProductInformation/batteryMass": 2}


def test_a_member_missing_from_a_partly_read_object_is_named_with_its_own_metric() -> None:
    state = example_states()[4]  # industrial: the longlist asks for temperature information
    readmodel.apply_status(state, occurred_at=T0, stage="in_service", by="dealer")
    readmodel.apply_in_service_data(state, {"time_above_max_temperature_h": reading("2", T0 + timedelta(days=3))})
    exported = to_batterypass(state)
    temperature = exported["aspects"]["PerformanceAndDurability"]["batteryCondition"]["temperatureInformation"]
    assert temperature == {"timeExtremeHighTemp": 120.0, "lastUpdate": "2026-01-13T09:00:00Z"}
    reasons = {m["field"]: m["reason"] for m in exported["conformance"]["missing"]}
    low = reasons["PerformanceAndDurability/batteryCondition/temperatureInformation/timeExtremeLowTemp"]
    assert low == "no time_below_min_temperature_h reading received; longlist v1.2 for industrial: mandatory"
    charging = reasons["PerformanceAndDurability/batteryCondition/temperatureInformation/timeExtremeHighTempCharging"]
    assert charging == (
        "no time_charging_above_max_temperature_h reading received; longlist v1.2 for industrial: mandatory"
    )
