"""EPCIS events as custody observations: kinds, identifiers, parties, error declarations."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from contracts.errors import ValidationFailed
from services.custody.domain.epcis.event_hash import event_hash
from services.custody.domain.epcis.mapping import (
    BizTransactionRef,
    CustodyKind,
    PartyOrLocation,
    classify,
    observations_from_document,
    to_custody_observation,
)
from tests.unit.custody.epcis_fixtures import BATTERY, INVALID, VALID, accepted_documents, load

pytestmark = pytest.mark.unit

BATTERY_PASSPORT = "https://id.gs1.org/01/09521234000013/21/BAT2024-001"


@pytest.mark.parametrize(
    ("fixture", "kind", "biz_step", "disposition"),
    [
        ("commissioning.jsonld", CustodyKind.COMMISSIONED, "commissioning", "active"),
        ("shipping.jsonld", CustodyKind.DISPATCH, "shipping", "in_transit"),
        ("ownership-transfer.jsonld", CustodyKind.DISPATCH, "shipping", "in_transit"),
        ("state-of-health.jsonld", CustodyKind.INSPECTED, "inspecting", "active"),
        ("negative-event.jsonld", CustodyKind.INSPECTED, "inspecting", "damaged"),
    ],
)
def test_battery_lifecycle_events(fixture: str, kind: CustodyKind, biz_step: str, disposition: str) -> None:
    (observation,) = observations_from_document(load(BATTERY / fixture))

    assert (observation.kind, observation.biz_step, observation.disposition) == (kind, biz_step, disposition)
    assert observation.epcs == (BATTERY_PASSPORT,)
    assert observation.event_time.tzinfo is UTC


def test_shipping_names_parties_places_and_transactions() -> None:
    (observation,) = observations_from_document(load(BATTERY / "shipping.jsonld"))

    assert observation.event_id == "urn:uuid:550e8400-e29b-41d4-a716-446655440002"
    assert observation.event_time == datetime(2024, 3, 22, 9, 15, tzinfo=UTC)
    assert observation.read_point == observation.biz_location == "https://id.gs1.org/414/9521234000013"
    assert observation.sources == (
        PartyOrLocation(role="owning_party", id="https://id.gs1.org/417/9521234000006"),
        PartyOrLocation(role="location", id="https://id.gs1.org/414/9521234000013"),
    )
    assert observation.destinations == (
        PartyOrLocation(role="owning_party", id="https://id.gs1.org/417/4099999000005"),
    )
    assert observation.biz_transactions == (
        BizTransactionRef(type="desadv", id="https://ecocell-batteries.example.com/dispatch/DA-2024-00318"),
        BizTransactionRef(type="po", id="https://greengrid.example.com/orders/GG-PO-2024-7781"),
    )


def test_epc_urns_become_digital_links() -> None:
    document = load(VALID / "ObjectEvent_all_possible_fields.json")
    (observation,) = observations_from_document(document)

    assert observation.epcs == ("https://id.gs1.org/01/10614141073464/21/2018",)
    assert observation.read_point == "https://id.gs1.org/414/0012345111112/254/400"
    assert observation.biz_location == "https://id.gs1.org/414/0012345111112"
    assert observation.quantities[0].epc_class == "https://id.gs1.org/01/04012345123456/10/998877"
    assert (observation.quantities[0].quantity, observation.quantities[0].uom) == (Decimal("200"), "KGM")
    assert observation.kind is CustodyKind.RECEIPT
    assert observation.event_time_zone_offset == "-06:00"


def test_aggregation_and_transformation_identifiers() -> None:
    (aggregation,) = observations_from_document(load(VALID / "AggregationEvent.json"))
    assert aggregation.parent_id is not None
    assert aggregation.parent_id.startswith("https://id.gs1.org/00/")
    assert aggregation.identifiers[0] == aggregation.parent_id
    assert all(child.startswith("https://id.gs1.org/") for child in aggregation.child_epcs)

    erroneous, correction = observations_from_document(load(VALID / "TransformationEvent_with_error_declaration.json"))
    assert erroneous.action is None
    assert erroneous.input_epcs == ("https://id.gs1.org/01/04012345111118/21/987",)
    assert erroneous.output_epcs == ("https://id.gs1.org/01/04012345333336/21/AGHFG",)
    assert {quantity.role for quantity in erroneous.quantities} == {"input", "output"}
    assert erroneous.error_declaration is not None
    assert erroneous.error_declaration.reason == "incorrect_data"
    assert erroneous.error_declaration.corrective_event_ids == (correction.event_id,)
    assert erroneous.error_declaration.declared_at == datetime(2020, 1, 14, 23, 0, tzinfo=UTC)
    assert correction.error_declaration is None


def test_error_declaration_keeps_the_hash_of_the_declared_event() -> None:
    document = load(BATTERY / "negative-event.jsonld")
    event = document["epcisBody"]["eventList"][0]
    original = {key: value for key, value in event.items() if key != "errorDeclaration"}

    declared = to_custody_observation(event)
    assert declared.event_hash == to_custody_observation(original).event_hash == event_hash(original)
    assert declared.error_declaration is not None
    assert declared.error_declaration.reason == "urn:epcglobal:cbv:er:other"
    assert declared.error_declaration.corrective_event_ids == ()


@pytest.mark.parametrize(
    ("biz_step", "disposition", "kind"),
    [
        ("commissioning", None, CustodyKind.COMMISSIONED),
        ("shipping", "in_transit", CustodyKind.DISPATCH),
        ("departing", None, CustodyKind.DISPATCH),
        ("receiving", "in_progress", CustodyKind.RECEIPT),
        ("arriving", None, CustodyKind.RECEIPT),
        ("accepting", None, CustodyKind.RECEIPT),
        ("transporting", None, CustodyKind.IN_TRANSIT),
        ("retail_selling", "retail_sold", CustodyKind.PLACED_ON_MARKET),
        ("installing", "active", CustodyKind.IN_SERVICE),
        ("removing", None, CustodyKind.REMOVED_FROM_SERVICE),
        ("sensor_reporting", None, CustodyKind.INSPECTED),
        ("repairing", None, CustodyKind.REPAIRED),
        ("collecting", None, CustodyKind.COLLECTED),
        ("disassembling", None, CustodyKind.DISASSEMBLED),
        ("decommissioning", "inactive", CustodyKind.DECOMMISSIONED),
        ("destroying", "destroyed", CustodyKind.DESTROYED),
        ("inspecting", "recalled", CustodyKind.RECALLED),
        ("shipping", "stolen", CustodyKind.STOLEN),
        ("storing", "in_transit", CustodyKind.IN_TRANSIT),
        (None, "retail_sold", CustodyKind.PLACED_ON_MARKET),
        ("storing", "sellable_accessible", CustodyKind.OBSERVATION),
        ("https://example.com/bizStep/inspecting", None, CustodyKind.OBSERVATION),
        (None, None, CustodyKind.OBSERVATION),
    ],
)
def test_classify(biz_step: str | None, disposition: str | None, kind: CustodyKind) -> None:
    assert classify(biz_step, disposition) is kind


def test_custom_biz_step_uri_maps_when_the_deployment_says_so() -> None:
    (observation,) = observations_from_document(load(VALID / "ObjectEvent_with_custom_bizStep_uri.json"))
    assert observation.kind is CustodyKind.OBSERVATION
    assert observation.biz_step == "https://example.com/bizStep/inspecting"

    custom = {"https://example.com/bizStep/inspecting": CustodyKind.INSPECTED}
    (mapped,) = observations_from_document(
        load(VALID / "ObjectEvent_with_custom_bizStep_uri.json"), custom_biz_steps=custom
    )
    assert mapped.kind is CustodyKind.INSPECTED


@pytest.mark.parametrize(
    "biz_step",
    [
        "shipping",
        "urn:epcglobal:cbv:bizstep:shipping",
        "https://ref.gs1.org/cbv/BizStep-shipping",
        "cbv:BizStep-shipping",
    ],
)
def test_biz_step_in_any_notation(biz_step: str) -> None:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": "2026-07-22T06:45:00+02:00",
        "eventTimeZoneOffset": "+02:00",
        "action": "OBSERVE",
        "epcList": [BATTERY_PASSPORT],
        "bizStep": biz_step,
    }
    observation = to_custody_observation(event)
    assert (observation.kind, observation.biz_step) == (CustodyKind.DISPATCH, "shipping")
    assert observation.event_time == datetime(2026, 7, 22, 4, 45, tzinfo=UTC)


def test_every_accepted_fixture_event_maps() -> None:
    observations = [item for path in accepted_documents() for item in observations_from_document(load(path))]
    assert len(observations) == 55
    assert all(observation.event_hash.startswith("ni:///sha-256;") for observation in observations)


def test_invalid_document_raises_with_every_violation() -> None:
    with pytest.raises(ValidationFailed) as raised:
        observations_from_document(load(INVALID / "Combination_of_events_with_missing_mandatory_fields.json"))
    assert [violation.reason for violation in raised.value.violations] == ["missing_required_field"] * 3


def test_unparseable_event_time_is_a_violation_not_a_crash() -> None:
    with pytest.raises(ValidationFailed) as raised:
        to_custody_observation({"type": "ObjectEvent", "eventTime": "22-07-2026"})
    assert raised.value.violations[0].reason == "invalid_event_time"
