"""Per-tier views of the reporting read model (services/reporting/domain/tiers.py): one mapping, fail closed."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest

from bpass.examples import valid_static_data
from contracts.attributes import AccessTier, by_key, can_read
from contracts.passport_data import BatteryCategory, field_tier
from contracts.telemetry import TelemetryMetric
from services.reporting.domain import readmodel
from services.reporting.domain.public import public_view
from services.reporting.domain.tiers import (
    METRIC_LONGLIST_KEYS,
    STATE_TIERS,
    Section,
    returned_fields,
    state_for_tier,
    tier_of_path,
)
from services.reporting.exports.auditpack import build_pdf
from services.reporting.exports.formats import CsvWriter, JsonWriter
from tests.unit.reporting.factories import T0, batteries, custody_chain, minted

TIERS = list(AccessTier)


def full_state() -> dict[str, Any]:
    """A passport that has been through most of its life: every section the fold writes is present."""
    fact = minted(batteries(1)[0], "oem-a")
    state = readmodel.empty_state(fact.passport_id, "oem-a")
    readmodel.apply_minted(state, fact)
    state["static_data"] = valid_static_data(BatteryCategory.ev).model_dump(mode="json", exclude_none=True)
    state["extensions"] = {"line": "L3", "supplier_lot": "S-9"}
    for step in custody_chain(fact.passport_id, "oem-a", ["dispatch", "handover", "collection"]):
        readmodel.apply_custody(state, step)
    readmodel.apply_status(state, occurred_at=T0, stage="in_service", by="fleet", responsible_operator="op-1")
    readmodel.apply_in_service_data(
        state,
        {
            "state_of_health_pct": {"value": "91.5", "measured_at": T0.isoformat(), "source_system": "bms"},
            "full_cycles": {"value": "420", "measured_at": T0.isoformat(), "source_system": "bms"},
        },
    )
    readmodel.apply_recovery(
        state, {"attribution_id": "a1", "stage": "treatment", "materials": [{"material": "Ni", "recovered_kg": "3"}]}
    )
    readmodel.apply_amended(
        state, static_data=None, extensions=None, data_version=2, amended_at=T0 + timedelta(days=1), reason="fix"
    )
    readmodel.apply_links(state, predecessor_ids=["urn:uuid:00000000-0000-7000-8000-000000000001"])
    state["performance_snapshots"] = [{"at": T0.isoformat(), "trigger": "placed_on_market"}]
    state["version"] = 9
    state["updated_at"] = T0.isoformat()
    return state


def allowed(tier: AccessTier) -> set[str]:
    """Top-level keys of the mapping a reader at `tier` may see."""
    out = set()
    for key, rule in STATE_TIERS.items():
        floor = rule.floor if isinstance(rule, Section) else rule
        if can_read(tier, floor):
            out.add(key)
    return out


@pytest.mark.parametrize("tier", TIERS)
def test_each_tier_sees_exactly_its_allow_list(tier: AccessTier) -> None:
    state = full_state()
    view = state_for_tier(state, tier)
    if tier is AccessTier.owner:
        assert view == state
        return
    assert set(view) == allowed(tier) & set(state)
    for name in view.get("static_data", {}):
        assert can_read(tier, field_tier(name)), name
    hidden_static = set(state["static_data"]) - set(view.get("static_data", {}))
    assert all(not can_read(tier, field_tier(name)) for name in hidden_static)


def test_public_sees_only_public_fields() -> None:
    view = state_for_tier(full_state(), AccessTier.public)
    assert all(tier_of_path(key) is AccessTier.public for key in view)
    assert all(field_tier(name) is AccessTier.public for name in view["static_data"])
    for private in ("extensions", "product_family", "status", "in_service", "custody_timeline", "tenant", "recovery"):
        assert private not in view
    # the public QR page (domain/public.py) shows nothing the public tier does not allow
    page = public_view(full_state())
    assert set(page["static_data"]) <= set(view["static_data"])
    assert {k for k in page if k != "static_data"} <= set(view)


def test_legitimate_interest_gets_usage_data_but_no_owner_or_authority_fields() -> None:
    state = full_state()
    view = state_for_tier(state, AccessTier.legitimate_interest)
    assert view["in_service"]["latest"]["state_of_health_pct"]["value"] == "91.5"
    assert view["status"] == state["status"]
    assert "material_composition" in view["static_data"]  # longlist 33: legitimate interest
    assert "dismantling_documents" in view["static_data"]
    assert "test_reports_url" not in view["static_data"]  # longlist 18: authorities
    for hidden in ("extensions", "product_family", "amendments", "minted_by", "custody_timeline", "recovery"):
        assert hidden not in view
    assert view["predecessor_ids"] == state["predecessor_ids"]
    assert view["performance_snapshots"] == state["performance_snapshots"]


def test_authorities_get_test_reports_custody_and_recovery_not_owner_fields() -> None:
    view = state_for_tier(full_state(), AccessTier.authorities)
    assert "test_reports_url" in view["static_data"]
    assert view["custody_timeline"]
    assert view["recovery"]["attributions"]
    for hidden in ("extensions", "product_family", "amendments", "minted_by"):
        assert hidden not in view


@pytest.mark.parametrize("tier", [t for t in TIERS if t is not AccessTier.owner])
def test_unknown_keys_are_hidden_at_every_level(tier: AccessTier) -> None:
    state = full_state()
    state["new_section"] = {"x": 1}
    state["static_data"]["not_a_field"] = "secret"
    state["in_service"]["latest"]["new_metric"] = {"value": "1"}
    state["in_service"]["new_key"] = 1
    state["recovery"]["new_key"] = 1
    view = state_for_tier(state, tier)
    assert "new_section" not in view
    assert "not_a_field" not in view.get("static_data", {})
    assert "new_metric" not in view.get("in_service", {}).get("latest", {})
    assert "new_key" not in view.get("in_service", {})
    assert "new_key" not in view.get("recovery", {})
    assert state_for_tier(state, AccessTier.owner)["new_section"] == {"x": 1}


def test_the_input_state_is_not_changed() -> None:
    state = full_state()
    before = repr(state)
    state_for_tier(state, AccessTier.public)
    state_for_tier(state, AccessTier.legitimate_interest)
    assert repr(state) == before


def test_every_metric_maps_to_a_longlist_attribute() -> None:
    assert set(METRIC_LONGLIST_KEYS) == {m.value for m in TelemetryMetric}
    for key in METRIC_LONGLIST_KEYS.values():
        by_key(key)  # KeyError if the longlist has no such attribute
    assert tier_of_path("in_service.latest.state_of_health_pct") is AccessTier.legitimate_interest


def test_every_section_the_fold_writes_is_mapped() -> None:
    """A section added to the read model must be placed in a tier on purpose (else it stays owner-only)."""
    unmapped = set(full_state()) - set(STATE_TIERS)
    assert not unmapped, f"map these sections in services/reporting/domain/tiers.py: {sorted(unmapped)}"


def test_returned_fields_names_sections_and_static_fields() -> None:
    view = state_for_tier(full_state(), AccessTier.legitimate_interest)
    names = returned_fields(view)
    assert "in_service" in names
    assert "static_data" in names
    assert "static_data.dismantling_documents" in names
    assert names == sorted(names)


@pytest.mark.parametrize("tier", [AccessTier.legitimate_interest, AccessTier.authorities])
def test_export_formats_render_a_tiered_state_without_owner_fields(tier: AccessTier) -> None:
    view = state_for_tier(full_state(), tier)
    csv_writer = CsvWriter()
    csv_writer.add([view])
    header, row = csv.reader(io.StringIO(csv_writer.finish().decode()))
    cells = dict(zip(header, row, strict=True))
    assert cells["product_family"] == ""
    assert cells["extensions"] == "{}"
    for batterypass in (False, True):
        json_writer = JsonWriter({"tenant": "oem-a"}, batterypass=batterypass)
        json_writer.add([view])
        assert b"supplier_lot" not in json_writer.finish()
    pdf = build_pdf([view], tenant="oem-a", title="pack", generated_at=T0, key_id="k1")
    assert pdf.startswith(b"%PDF")
