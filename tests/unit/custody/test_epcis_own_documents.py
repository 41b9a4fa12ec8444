"""EPCIS documents the project wrote itself (tests/fixtures/epcis/): validated, mapped to custody steps and hashed
with nothing beside the repository."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.common.settings import REPO_ROOT
from services.custody.domain.epcis.event_hash import context_prefixes, event_hash
from services.custody.domain.epcis.mapping import (
    BizTransactionRef,
    CustodyKind,
    PartyOrLocation,
    observations_from_document,
)
from services.custody.domain.epcis.validation import validate_document

pytestmark = pytest.mark.unit

OWN = REPO_ROOT / "tests" / "fixtures" / "epcis"
JOURNEY = OWN / "battery-journey.jsonld"
BATTERY = "https://id.gs1.org/01/09506000134352/21/JOURNEY-0001"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_projects_own_documents_are_valid_epcis() -> None:
    documents = sorted(OWN.glob("*.jsonld"))
    assert JOURNEY in documents
    for path in documents:
        assert validate_document(load(path)) == [], path.name


def test_a_batterys_journey_maps_to_its_custody_steps() -> None:
    observations = observations_from_document(load(JOURNEY))
    assert [(o.kind, o.biz_step, o.disposition) for o in observations] == [
        (CustodyKind.COMMISSIONED, "commissioning", "active"),
        (CustodyKind.DISPATCH, "shipping", "in_transit"),
        (CustodyKind.RECEIPT, "receiving", "in_progress"),
        (CustodyKind.INSPECTED, "inspecting", "damaged"),
    ]
    assert all(o.epcs == (BATTERY,) for o in observations)
    assert observations[0].event_time == datetime(2026, 5, 4, 6, 0, tzinfo=UTC)  # +02:00 read as UTC
    assert observations[0].event_time_zone_offset == "+02:00"
    shipping = observations[1]
    assert shipping.sources == (PartyOrLocation(role="owning_party", id="https://id.gs1.org/417/9506000000008"),)
    assert shipping.destinations == (
        PartyOrLocation(role="owning_party", id="https://id.gs1.org/417/9506000000022"),
        PartyOrLocation(role="location", id="https://id.gs1.org/414/9506000000039"),
    )
    assert shipping.biz_transactions == (
        BizTransactionRef(type="desadv", id="https://oem.example.test/dispatch/DA-0001"),
    )
    assert observations[2].read_point == observations[2].biz_location == "https://id.gs1.org/414/9506000000039"


def test_each_event_has_its_own_hash_which_ignores_the_event_id_and_key_order() -> None:
    document = load(JOURNEY)
    prefixes = context_prefixes(document["@context"])
    events = document["epcisBody"]["eventList"]
    hashes = [o.event_hash for o in observations_from_document(document)]
    assert len(set(hashes)) == len(events)
    for event, expected in zip(events, hashes, strict=True):
        assert event_hash(event, prefixes) == expected
        reordered = dict(reversed(list(event.items())))
        reordered["eventID"] = "urn:uuid:0196a1b2-0000-7000-8000-0000000000ff"
        assert event_hash(reordered, prefixes) == expected
    # The extension property is part of what is hashed: changing it changes the commissioning event's hash.
    changed = {**events[0], "bpass:line": "cell-to-pack line 3"}
    assert event_hash(changed, prefixes) != hashes[0]


def test_a_broken_copy_of_an_own_document_is_refused_naming_the_field() -> None:
    document = load(JOURNEY)
    del document["epcisBody"]["eventList"][1]["eventTime"]
    violations = validate_document(document)
    assert ("epcisBody.eventList.1.eventTime", "missing_required_field") in {(v.field, v.reason) for v in violations}
