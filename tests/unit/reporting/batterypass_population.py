"""A generated population of read-model states (mixed categories and stages, in-service readings for the batteries
put into service) and its Battery Pass 1.2 conformance, for the export tests and the before/after measurement.

A battery put into service has its BMS readings (bpass.simulate_readings, what the simulator sends) in one of two
profiles: `complete` (every metric of the readings contract) for even indexes, `applicable` (the metrics whose
longlist attribute is not marked not applicable to the category) for odd ones. Static data is the catalogue
model's (bpass.examples): every member identity accepts for the category.


    .venv/bin/python -m tests.unit.reporting.batterypass_population [passports]
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

from jsonschema import Draft4Validator  # type: ignore[import-untyped]

from bpass.simulate import GAP_RANGES, STEPS_FOR_STAGE, Battery, model_static
from bpass.simulate_readings import bms_readings
from contracts.attributes import BatteryCategory, Requirement, by_key
from contracts.telemetry import TelemetryMetric
from services.reporting.domain import readmodel
from services.reporting.domain.batterypass import ASPECTS, to_batterypass
from services.reporting.domain.conformance import BATTERYPASS_1_2, FORMATS, SchemaError, conformance, schema_errors
from services.reporting.domain.tiers import METRIC_LONGLIST_KEYS
from tests.unit.reporting.factories import T0, batteries, minted

# Stages a battery passes through, in order, with the custody step (index into GAP_RANGES) that reaches each.
STAGE_ORDER = ("placed_on_market", "in_service", "collected", "in_treatment")
READ_STAGES = ("in_service", "collected", "in_treatment", "recycled")
BMS = "sim-bms"


def reading(value: Decimal | str, at: Any, source: str = BMS) -> dict[str, Any]:
    return {"value": str(value), "measured_at": at.isoformat(), "source_system": source}


def profile_of(battery: Battery) -> str:
    """Which readings the battery's BMS sends once it is in service: `complete` or `applicable`."""
    return "complete" if battery.index % 2 == 0 else "applicable"


def applicable_metrics(category: BatteryCategory) -> frozenset[TelemetryMetric]:
    """The metrics whose longlist attribute is mandatory or voluntary for `category`."""
    return frozenset(
        m
        for m in TelemetryMetric
        if by_key(METRIC_LONGLIST_KEYS[m.value]).requirement(category) is not Requirement.not_applicable
    )


def readings_for(battery: Battery, put_into_service: Any) -> dict[str, dict[str, Any]]:
    """The latest reading per metric the battery's BMS sent, measured together some days after its putting into
    service: every metric, or those applicable to its category (`profile_of`)."""
    rng = random.Random(f"readings:{battery.identifier}")
    days = rng.randint(2, 300)
    at = put_into_service + timedelta(days=days)
    metrics = None if profile_of(battery) == "complete" else applicable_metrics(battery.model.category)
    values = bms_readings(model_static(battery.model), days / 365, rng, metrics)
    return {metric.value: reading(value, at) for metric, value in values.items()}


def state_of(battery: Battery, tenant: str = "acme") -> dict[str, Any]:
    """The read model of one battery as the projection leaves it at its target stage."""
    fact = minted(battery, tenant)
    state = readmodel.empty_state(fact.passport_id, tenant)
    readmodel.apply_minted(state, fact)
    at = T0
    steps = STEPS_FOR_STAGE[battery.target_stage]
    reached = [stage for n, stage in enumerate(STAGE_ORDER) if steps >= (3, 4, 5, 7)[n]]
    for n, stage in enumerate(reached):
        at = at + timedelta(days=battery.gaps[n + 2] if n + 2 < len(GAP_RANGES) else 1)
        waste = stage in ("collected", "in_treatment")
        readmodel.apply_status(state, occurred_at=at, stage=stage, status="waste" if waste else None, by="handler")
        if stage == "in_service":
            readmodel.apply_in_service_data(state, readings_for(battery, at))
    state["version"] = 1 + len(reached)
    return state


def generated(n: int, run: str = "BPPOP1") -> Iterator[tuple[Battery, dict[str, Any]]]:
    for battery in batteries(n, run=run):
        yield battery, state_of(battery)


def population(n: int, run: str = "BPPOP1") -> Iterator[dict[str, Any]]:
    for _, state in generated(n, run):
        yield state


def validators() -> dict[str, Draft4Validator]:
    """The committed schemas, read here on their own (not through the conformance module's inlined copies)."""
    out = {}
    for aspect in ASPECTS:
        schema = json.loads((BATTERYPASS_1_2 / f"{aspect}-schema.json").read_text(encoding="utf-8"))
        out[aspect] = Draft4Validator(schema, format_checker=FORMATS)
    return out


VALIDATORS = validators()


def found_errors(aspects: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(aspect, JSON pointer, rule) of each error; a required error points at the member it misses."""
    found = []
    for aspect, validator in VALIDATORS.items():
        for error in validator.iter_errors(aspects[aspect]):
            parts = [str(p) for p in error.absolute_path]
            if error.validator == "required":
                parts.append(error.message.split("'")[1])
            found.append((aspect, "".join(f"/{p}" for p in parts), str(error.validator)))
    return sorted(found)


def errors_of(exported: dict[str, Any]) -> list[SchemaError]:
    """The exported aspects' errors, found here again (not read from the export's own report)."""
    found: list[SchemaError] = []
    for aspect in ASPECTS:
        found += schema_errors(BATTERYPASS_1_2 / f"{aspect}-schema.json", exported["aspects"].get(aspect, {}))
    return found


def measure(n: int) -> dict[str, Any]:
    strict = except_defects = except_not_applicable = 0
    kinds: Counter[tuple[str, str, str]] = Counter()
    categories: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    groups: dict[str, Counter[str]] = {}
    total_errors = wrong_values = except_not_mandatory = missing_mandatory = 0
    for battery, state in generated(n):
        categories[str(state.get("category"))] += 1
        stages[str(state.get("stage"))] += 1
        exported = to_batterypass(state)
        errors = errors_of(exported)
        verdict = conformance(errors)
        strict += verdict["valid_strict"]
        except_defects += verdict["valid_except_upstream_defects"]
        report = exported["conformance"]
        except_not_applicable += report["valid_except_upstream_defects_and_not_applicable"]
        served = bool(state["in_service"].get("put_into_service_at"))
        group = f"{state.get('category')}/{'in service, ' + profile_of(battery) if served else 'not in service yet'}"
        counter = groups.setdefault(group, Counter())
        counter["passports"] += 1
        counter["valid_except_upstream_defects"] += verdict["valid_except_upstream_defects"]
        counter["valid_except_upstream_defects_and_not_applicable"] += report[
            "valid_except_upstream_defects_and_not_applicable"
        ]
        # members the export says the longlist makes mandatory for the passport's category
        reasons = {m["field"]: m["reason"] for m in report.get("missing", [])}
        others = [e for e in verdict["errors"] if "upstream_defect" not in e]
        wrong_values += sum(1 for e in others if e["rule"] != "required")
        mandatory = [e for e in others if ": mandatory" in reasons.get(e["aspect"] + e["path"], ": mandatory")]
        except_not_mandatory += not mandatory
        missing_mandatory += len(mandatory)
        total_errors += len(errors)
        kinds.update((e.aspect, "/".join(e.path.split("/")[:3]), e.rule) for e in errors)
    return {
        "passports": n,
        "categories": dict(categories),
        "stages": dict(stages),
        "valid_strict": strict,
        "valid_except_upstream_defects": except_defects,
        "valid_except_upstream_defects_and_not_applicable": except_not_applicable,
        "errors": total_errors,
        "errors_not_upstream_not_missing": wrong_values,
        "valid_except_upstream_defects_and_members_not_mandatory_for_the_category": except_not_mandatory,
        "missing_members_mandatory_for_the_category": missing_mandatory,
        "by_category_and_stage": {g: dict(c) for g, c in sorted(groups.items())},
        "error_kinds": kinds.most_common(),
    }


if __name__ == "__main__":
    result = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
    for key, value in result.items():
        if key == "by_category_and_stage":
            print("by category and stage: passports, valid except upstream defects, ... and not applicable members")
            for group, counts in value.items():
                print(f"  {group:36s} {' '.join(str(c) for c in counts.values())}")
        elif key == "error_kinds":
            print("error kinds (aspect, member, rule): passports")
            for kind, count in value:
                print(f"  {count:5d}  {kind}")
        else:
            print(f"{key}: {value}")
