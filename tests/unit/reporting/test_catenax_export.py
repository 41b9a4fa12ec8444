"""Catena-X BatteryPass 6.1.0 export: every passport of a generated population validated against the committed
schema (draft-04, `required` included) with only the documented gaps left, and each value we hold at its path."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft4Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

from contracts.attributes import AccessTier
from services.common.settings import REPO_ROOT
from services.reporting.domain import readmodel
from services.reporting.domain.catenax import NIL_PASSPORT, catenax_passport, to_catenax
from services.reporting.domain.catenax_context import collapse
from services.reporting.domain.conformance import schema_errors as real
from services.reporting.domain.tiers import state_for_tier
from services.reporting.exports import catenax as export
from services.reporting.exports.catenax import CatenaxWriter
from tests.unit.reporting.catenax_population import population
from tests.unit.reporting.factories import T0, batteries, minted

SCHEMA = REPO_ROOT / "contracts" / "external" / "catenax-batterypass-6.1.0" / "BatteryPass-6.1.0-schema.json"
DOC = REPO_ROOT / "docs" / "exports" / "catenax-batterypass-6.1.md"
POPULATION = 300


@cache
def validator() -> Draft4Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


@cache
def states() -> list[dict[str, Any]]:
    return list(population(POPULATION))


def _section(title: str) -> list[list[str]]:
    """The table rows (cells) of a `## title` section of the mapping document."""
    text = DOC.read_text(encoding="utf-8").split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return [
        [cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| `")
    ]


@cache
def documented_gaps() -> dict[str, set[str]]:
    """JSON pointer glob -> the reason codes the document allows for it."""
    return {row[0].strip("`"): {code.strip() for code in row[1].split(",")} for row in _section(
        "Required members the export may leave empty")}  # fmt: skip


def pointer_of(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        parts.append(error.message.split("'")[1])
    return "/" + "/".join(parts)


def allowed_codes(pointer: str) -> set[str] | None:
    """The codes documented for `pointer` (array indexes as `*`), or for the members of the object it names."""
    steps = re.sub(r"/\d+(?=/|$)", "/*", pointer).split("/")

    def names(row: str) -> bool:  # the row's member, or one inside the object `pointer` names (`*`: any step)
        parts = row.split("/")
        return len(steps) <= len(parts) and all(r in ("*", s) for s, r in zip(steps, parts, strict=False))

    rows = [codes for row, codes in documented_gaps().items() if names(row)]
    return set().union(*rows) if rows else None


def at(document: Any, pointer: str) -> Any:
    for part in pointer.strip("/").split("/"):
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


def test_every_exported_passport_of_a_population_is_valid_but_for_its_documented_and_explained_gaps() -> None:
    seen = {"readings": 0, "second_life": 0, "ceased": 0}
    for state in states():
        aspect, gaps = catenax_passport(state)
        required = set()
        for error in validator().iter_errors(aspect):
            pointer = pointer_of(error)
            assert error.validator == "required", (state["passport_id"], pointer, error.message)
            codes = allowed_codes(pointer)
            assert codes is not None, f"{pointer} is missing but the document does not list it"
            assert pointer in gaps, f"{pointer} is missing but the passport's report does not say why"
            given = {part.partition(":")[0] for part in gaps[pointer].split(" | ")}
            assert given <= codes, (pointer, gaps[pointer])
            required.add(pointer)
        assert set(gaps) == required  # the report names nothing the aspect has
        seen["readings"] += "dynamic" in aspect["performance"]
        seen["second_life"] += aspect["metadata"]["predecessor"] != NIL_PASSPORT
        seen["ceased"] += aspect["metadata"]["status"] == "expired"
    assert min(seen.values()) > 0, seen
    assert {s["category"] for s in states()} == {"ev", "lmt", "industrial", "stationary"}


@pytest.mark.parametrize("tier", [AccessTier.legitimate_interest, AccessTier.authorities, AccessTier.public])
def test_a_passport_read_at_a_lower_tier_is_valid_but_for_documented_and_explained_gaps(tier: AccessTier) -> None:
    for state in states()[:60]:
        aspect, gaps = catenax_passport(state_for_tier(state, tier))
        missing = {pointer_of(e): e.validator for e in validator().iter_errors(aspect)}
        assert set(missing.values()) <= {"required"}, missing
        assert set(missing) == set(gaps)
        for pointer, reason in gaps.items():
            assert {part.partition(":")[0] for part in reason.split(" | ")} <= (allowed_codes(pointer) or set())
    if tier is AccessTier.authorities:  # the test reports are for the authorities, not below
        assert "resultOfTestReport" in aspect["conformity"]
    if tier is AccessTier.legitimate_interest:
        assert gaps["/conformity/resultOfTestReport"].startswith("not_given:")


def test_the_mapping_document_names_every_member_of_the_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    rows = [re.escape(row[0].strip("`")).replace("<element>", "[^.]+") for row in _section("Mapping, field by field")]
    patterns = [re.compile(rf"^{row}(\.|\[\]|$)") for row in rows]

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        return node

    def leaves(node: dict[str, Any], path: str) -> list[str]:
        node = resolve(node)
        if node.get("type") == "array":
            return leaves(node["items"], path + "[]")
        if node.get("type") != "object":
            return [path]
        return [leaf for name, child in node["properties"].items() for leaf in leaves(child, f"{path}.{name}")]

    members = [leaf.lstrip(".") for leaf in leaves(schema, "")]
    assert len(members) > 200
    unnamed = [m for m in members if not any(p.match(m) for p in patterns)]
    assert not unnamed, unnamed


def test_the_writer_reports_each_passport_and_counts_the_strictly_valid_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = states()[:12]
    writer = CatenaxWriter({"tenant": "acme"})
    writer.add(chosen)
    document = json.loads(writer.finish())
    assert document["format"] == "catenax-batterypass-6.1"
    assert [p["passport_id"] for p in document["passports"]] == [s["passport_id"] for s in chosen]
    for entry, state in zip(document["passports"], chosen, strict=True):
        aspect, gaps = catenax_passport(state)
        assert entry["aspect"] == aspect
        report = entry["conformance"]
        assert report["valid_strict"] is False
        assert report["errors"] == []
        assert {m["field"]: m["reason"] for m in report["missing"]} == {f"BatteryPass{p}": r for p, r in gaps.items()}
    summary = document["summary"]
    assert (summary["passports"], summary["valid_strict"], summary["not_valid"]) == (12, 0, 12)
    assert summary["missing_required"]["BatteryPass/metadata/economicOperatorId"] == 12
    assert sum(summary["missing_required"].values()) == sum(
        len(p["conformance"]["missing"]) for p in document["passports"]
    )

    valid = chosen[5]["passport_id"]
    monkeypatch.setattr(export, "schema_errors", lambda path, doc, aspect: [] if doc["metadata"]["passportIdentifier"]
                        == valid else real(path, doc, aspect=aspect))  # fmt: skip
    writer = CatenaxWriter({"tenant": "acme"})
    writer.add(chosen)
    document = json.loads(writer.finish())
    assert [p["passport_id"] for p in document["passports"] if p["conformance"]["valid_strict"]] == [valid]
    assert (document["summary"]["valid_strict"], document["summary"]["not_valid"]) == (1, 11)


def ev_state() -> dict[str, Any]:
    battery = next(b for b in batteries(40, run="CXFLD1") if b.model.category.value == "ev")
    fact = minted(battery, "acme")
    state = readmodel.empty_state(fact.passport_id, "acme")
    readmodel.apply_minted(state, fact)
    return state


def with_static(**fields: Any) -> dict[str, Any]:
    state = ev_state()
    state["static_data"] = {**state["static_data"], **fields}
    return state


RATED = "/performance/rated"
URL = "https://oem.example/docs/x-{}.pdf"


@pytest.mark.parametrize(
    ("field", "value", "pointer", "expected"),
    [
        ("weight_kg", "123.4", "/characteristics/physicalDimension/weight", {"value": 123.4, "unit": "unit:kilogram"}),
        ("warranty_period_months", 42, "/characteristics/warranty", {"lifeValue": 42, "lifeUnit": "unit:month"}),
        ("manufacturing_date", "2024-02-29", "/operation/manufacturer/manufacturingDate", "2024-02-29"),
        ("battery_model", "VX-T 1", "/identification/identification/type/nameAtManufacturer", "VX-T 1"),
        ("rated_capacity_ah", "211.5", f"{RATED}/capacity/value", 211.5),
        ("capacity_threshold_for_exhaustion_pct", "65.5", f"{RATED}/capacity/thresholdExhaustion", 65.5),
        ("minimum_voltage_v", "271.5", f"{RATED}/voltage/min", 271.5),
        ("nominal_voltage_v", "361.5", f"{RATED}/voltage/nominal", 361.5),
        ("maximum_voltage_v", "404.5", f"{RATED}/voltage/max", 404.5),
        ("initial_round_trip_efficiency_pct", "93.5", f"{RATED}/roundTripEfficiency/initial", 93.5),
        ("round_trip_efficiency_at_50_pct_cycle_life_pct", "90.5", f"{RATED}/roundTripEfficiency/50PercentLife", 90.5),
        ("certified_usable_energy_kwh", "76.5", f"{RATED}/energy/value", 76.5),
        ("initial_internal_resistance_pack_ohm", "0.091", f"{RATED}/resistance/pack", 0.091),
        ("initial_internal_resistance_cell_ohm", "0.00081", f"{RATED}/resistance/cell", 0.00081),
        ("initial_internal_resistance_module_ohm", "0.0071", f"{RATED}/resistance/module", 0.0071),
        ("original_power_capability_w", "251000", f"{RATED}/power/value", 251000.0),
        ("power_capability_at_80_pct_soc_w", "249000", f"{RATED}/power/at80SoC", 249000.0),
        ("power_capability_at_20_pct_soc_w", "179000", f"{RATED}/power/at20SoC", 179000.0),
        ("idle_temperature_lower_c", "-25", f"{RATED}/temperature/lower", -25.0),
        ("idle_temperature_upper_c", "55.5", f"{RATED}/temperature/upper", 55.5),
        ("expected_lifetime_years", "11", f"{RATED}/lifetime/expectedYears", 11.0),
        ("expected_lifetime_cycles", 2100, f"{RATED}/lifetime/cycleLifeTesting/cycles", 2100),
        ("declaration_of_conformity_id", "DoC-T-1", "/conformity/declarationOfConformityId", "DoC-T-1"),
        ("declaration_of_conformity_url", URL.format(1), "/conformity/declarationOfConformity/0/content",
         URL.format(1)),
        ("test_reports_url", URL.format(2), "/conformity/resultOfTestReport/0/content", URL.format(2)),
        ("third_party_assurances_url", URL.format(3), "/conformity/thirdPartyAssurance/0/content", URL.format(3)),
        ("due_diligence_report_url", URL.format(4), "/conformity/dueDiligencePolicy/0/content", URL.format(4)),
        ("safety_instructions_url", URL.format(5), "/safety/safetyMeasures/0/content", URL.format(5)),
        ("labels_meaning_url", URL.format(6), "/safety/meaningOfLabels/0/content", URL.format(6)),
        ("separate_collection_info_url", URL.format(7), "/sustainability/documents/separateCollection/0/content",
         URL.format(7)),
        ("waste_prevention_info_url", URL.format(8), "/sustainability/documents/wastePrevention/0/content",
         URL.format(8)),
        ("carbon_footprint_kg_co2e_per_kwh", "50.5", "/sustainability/carbonFootprint/0/value", 50.5),
        ("carbon_footprint_performance_class", "C", "/sustainability/carbonFootprint/0/performanceClass", "C"),
        ("battery_chemistry", {"short_name": "NCA", "clear_name": "Lithium nickel cobalt aluminium oxide"},
         "/identification/chemistry", "Lithium nickel cobalt aluminium oxide (NCA)"),
        ("extinguishing_agents", ["Foam (class B)", "Sand"], "/safety/usableExtinguishAgent",
         [{"media": "Foam", "fireClass": "B"}, {"media": "Sand"}]),
        ("material_composition", [{"name": "Cobalt", "component": "anode", "cas_number": "7440-48-4",
                                   "mass_kg": "10.25", "critical_raw_material": True}], "/materials/composition/0",
         {"id": [{"type": "CAS", "id": "7440-48-4", "name": "Cobalt"}], "concentration": 2.0, "unit": "unit:percent",
          "critical": True, "location": "anode", "recycled": 14.0}),
        ("hazardous_substances", [{"name": "Test salt", "cas_number": "1-23-4", "hazard_classes": ["Acute Tox. 4"],
                                   "concentration_pct": "0.7", "location": "separator"}],
         "/materials/hazardous/other/0/materialIdentification", [{"type": "CAS", "id": "1-23-4", "name": "Test salt"}]),
    ],
)  # fmt: skip
def test_a_static_value_lands_at_its_path(field: str, value: Any, pointer: str, expected: Any) -> None:
    known = {
        "weight_kg": "512.5",
        "pre_consumer_recycled_cobalt_share_pct": "6",
        "post_consumer_recycled_cobalt_share_pct": "8",
    }
    state = with_static(**{**known, field: value})
    assert at(to_catenax(state), pointer) == expected


def test_recycled_content_is_pre_plus_post_consumer_share_per_element() -> None:
    shares = {"nickel": ("4.5", "3.25"), "lead": ("0", "1.5")}
    state = with_static(**{f"{kind}_consumer_recycled_{element}_share_pct": pair[n] for element, pair in shares.items()
                           for n, kind in enumerate(("pre", "post"))})  # fmt: skip
    aspect = to_catenax(state)
    assert at(aspect, "/materials/active/nickel/recycled") == 7.75
    assert at(aspect, "/materials/active/lead/recycled") == 1.5
    assert at(aspect, "/materials/hazardous/lead/recycled") == 1.5
    assert at(aspect, "/materials/active/nickel/location") == "cathode"


@pytest.mark.parametrize(
    ("metric", "pointer"),
    [
        ("state_of_charge_pct", "/stateOfCharge"),
        ("full_cycles", "/fullCycles"),
        ("power_fade_pct", "/power/fade"),
        ("capacity_fade_pct", "/capacity/fade"),
        ("capacity_throughput_ah", "/capacity/throughput"),
        ("remaining_capacity_ah", "/capacity/capacity"),
        ("internal_resistance_increase_pct", "/resistance/increase/pack"),
        ("state_of_certified_energy_pct", "/energy/soce"),
        ("remaining_energy_kwh", "/energy/remaining"),
        ("energy_throughput_kwh", "/energy/throughput"),
    ],
)
def test_the_latest_reading_lands_at_its_dynamic_path_with_its_time(metric: str, pointer: str) -> None:
    state = ev_state()
    old = {"value": "11.5", "measured_at": "2026-02-01T08:00:00+00:00", "source_system": "bms"}
    new = {"value": "55.25", "measured_at": "2026-03-01T10:00:00.5+01:00", "source_system": "bms"}
    readmodel.apply_in_service_data(state, {metric: old})
    readmodel.apply_in_service_data(state, {metric: new})
    aspect, gaps = catenax_passport(state)
    assert at(aspect, f"/performance/dynamic{pointer}") == {"value": 55.25, "time": "2026-03-01T09:00:00.500000Z"}
    assert "/performance/dynamic" not in gaps


def test_lifecycle_dates_links_status_and_category() -> None:
    state = ev_state()
    readmodel.apply_status(state, occurred_at=T0.replace(day=12, hour=23), stage="placed_on_market")
    readmodel.apply_status(state, occurred_at=T0.replace(month=2, day=3), stage="in_service")
    aspect = to_catenax(state)
    assert at(aspect, "/commercial/placedOnMarket") == "2026-01-12"
    assert at(aspect, "/operation/intoServiceDate") == "2026-02-03"
    assert at(aspect, "/commercial/purpose") == ["automotive"]
    assert at(aspect, "/identification/category") == "EV"
    assert at(aspect, "/metadata/predecessor") == NIL_PASSPORT
    assert at(aspect, "/metadata/passportIdentifier") == state["passport_id"]
    assert at(aspect, "/metadata/issueDate") == T0.date().isoformat()
    assert at(aspect, "/identification/identification/codes") == [{"key": "GTIN", "value": state["subject"]["gtin"]}]
    before = f"urn:uuid:{'1' * 8}-2222-7333-8444-{'5' * 12}"
    readmodel.apply_links(state, predecessor_ids=[before])
    readmodel.apply_ceased(state, ceased_at=T0.replace(month=5), reason="recycled")
    state["category"] = "stationary"
    aspect = to_catenax(state)
    assert (at(aspect, "/metadata/predecessor"), at(aspect, "/metadata/status")) == (before, "expired")
    assert (at(aspect, "/identification/category"), at(aspect, "/commercial/purpose")) == (
        "industrial", ["stationary energy storage"])  # fmt: skip


def test_a_required_member_not_held_is_left_out_and_said_why() -> None:
    state = ev_state()
    del state["static_data"]["weight_kg"]
    aspect, gaps = catenax_passport(state)
    assert "physicalDimension" not in aspect["characteristics"]
    assert gaps["/characteristics/physicalDimension"].startswith("not_given: static_data.weight_kg")
    assert gaps["/performance/rated/selfDischargingRate"].startswith("not_applicable:")  # EV: longlist n/a
    assert gaps["/performance/dynamic"].startswith("not_yet_known:")
    assert gaps["/metadata/economicOperatorId"].startswith("no_bpn:")
    assert "economicOperatorId" not in aspect["metadata"]


def test_members_of_an_object_left_out_altogether_are_named_by_that_object() -> None:
    gaps = {"/a/b": "kept: filled after all", "/a/c/d": "x: one", "/a/c/e": "y: two", "/f/g": "z: three"}
    assert collapse({"a": {"b": 1, "h": [0]}}, gaps) == {"/a/c": "x: one | y: two", "/f": "z: three"}
    assert collapse({"a": {"c": {"d": 0}}, "f": {}}, gaps) == {"/a/b": "kept: filled after all", "/a/c/e": "y: two",
                                                              "/f/g": "z: three"}  # fmt: skip
