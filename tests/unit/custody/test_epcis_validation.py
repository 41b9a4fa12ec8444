"""EPCIS 2.0 capture rules against third-party fixtures and hand-made edge cases."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.custody.domain.epcis.validation import validate_document
from tests.unit.custody.epcis_fixtures import INVALID, accepted_documents, load, require_fixtures

pytestmark = pytest.mark.unit

EXPECTED_REJECTIONS: dict[str, set[tuple[str, str]]] = {
    # Event 0 has no action; event 1 has neither eventTimeZoneOffset nor action.
    "Combination_of_events_with_missing_mandatory_fields.json": {
        ("epcisBody.eventList.0.action", "missing_required_field"),
        ("epcisBody.eventList.1.eventTimeZoneOffset", "missing_required_field"),
        ("epcisBody.eventList.1.action", "missing_required_field"),
    },
    "EPCISDocument_without_context.json": {("@context", "missing_context")},
    # action CREATE is not one of ADD, OBSERVE, DELETE.
    "ObjectEvent_with_invalid_action.json": {("epcisBody.eventList.0.action", "invalid_action")},
    # eventTime "22-07-2026" is not RFC 3339.
    "ObjectEvent_with_invalid_eventTime_format.json": {("epcisBody.eventList.0.eventTime", "invalid_event_time")},
    # "transforming" is a bare word but no CBV 2.0 bizStep; a custom step must be a URI.
    "ObjectEvent_with_non_standard_bizStep.json": {("epcisBody.eventList.0.bizStep", "non_standard_biz_step")},
    # quantity "twenty" is text, not a JSON number.
    "ObjectEvent_with_quantity_as_text.json": {("epcisBody.eventList.0.quantityList.0.quantity", "invalid_quantity")},
    # quantity elements are closed: {epcClass, quantity, uom} only.
    "ObjectEvent_with_unknown_field_in_quantityList.json": {
        ("epcisBody.eventList.0.quantityList.0.weight", "unknown_field")
    },
    "ObjectEvent_without_action_and_eventTime.json": {
        ("epcisBody.eventList.0.eventTime", "missing_required_field"),
        ("epcisBody.eventList.0.eventTimeZoneOffset", "missing_required_field"),
        ("epcisBody.eventList.0.action", "missing_required_field"),
    },
}

_SNAKE_CASE = re.compile(r"[a-z]+(?:_[a-z]+)*")


@pytest.mark.parametrize("path", accepted_documents(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_accepted_fixture_has_no_violation(path: Path) -> None:
    assert validate_document(load(path)) == []


def test_every_invalid_fixture_has_an_expected_reason() -> None:
    require_fixtures()
    assert sorted(path.name for path in INVALID.glob("*.json")) == sorted(EXPECTED_REJECTIONS)


@pytest.mark.parametrize("name", sorted(EXPECTED_REJECTIONS))
def test_invalid_fixture_is_rejected_for_its_reason(name: str) -> None:
    violations = validate_document(load(INVALID / name))

    assert {(violation.field, violation.reason) for violation in violations} == EXPECTED_REJECTIONS[name]
    for violation in violations:
        assert _SNAKE_CASE.fullmatch(violation.reason)
        assert violation.message.endswith(".")


def _document(**event_fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": "2026-07-22T06:45:00+02:00",
        "eventTimeZoneOffset": "+02:00",
        "action": "OBSERVE",
        "epcList": ["https://id.gs1.org/01/09521141012345/21/2017"],
    }
    event.update(event_fields)
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld", {"ext": "https://ext.example/"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-07-22T10:30:00Z",
        "epcisBody": {"eventList": [{key: value for key, value in event.items() if value is not None}]},
    }


def _reasons(doc: object) -> set[tuple[str, str]]:
    return {(violation.field, violation.reason) for violation in validate_document(doc)}


E0 = "epcisBody.eventList.0"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"type": "ShippingEvent"}, {(f"{E0}.type", "unknown_event_type")}),
        ({"eventTimeZoneOffset": "+2:00"}, {(f"{E0}.eventTimeZoneOffset", "invalid_time_zone_offset")}),
        ({"eventTimeZoneOffset": "+14:30"}, {(f"{E0}.eventTimeZoneOffset", "invalid_time_zone_offset")}),
        ({"eventTime": "2026-07-22T06:45:00"}, {(f"{E0}.eventTime", "invalid_event_time")}),
        ({"disposition": "lost"}, {(f"{E0}.disposition", "non_standard_disposition")}),
        ({"bizStep": 42}, {(f"{E0}.bizStep", "non_standard_biz_step")}),
        ({"epcList": ["battery 7"]}, {(f"{E0}.epcList.0", "invalid_uri")}),
        (
            {"epcList": ["urn:epc:id:sgtin:0614141.107346.1", "urn:epc:id:sgtin:0614141.107346.1"]},
            {(f"{E0}.epcList.1", "duplicate_identifier")},
        ),
        (
            {"quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": True}]},
            {(f"{E0}.quantityList.0.quantity", "invalid_quantity")},
        ),
        (
            {"quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "uom": "KGM"}]},
            {(f"{E0}.quantityList.0.uom", "uom_without_quantity")},
        ),
        (
            {"quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 2, "uom": "kg"}]},
            {(f"{E0}.quantityList.0.uom", "invalid_uom")},
        ),
        ({"epcList": None}, {(E0, "missing_what")}),
        ({"ilmd": {"ext:lot": "L1"}}, {(f"{E0}.ilmd", "ilmd_not_allowed")}),
        ({"readPoint": {}}, {(f"{E0}.readPoint.id", "missing_required_field")}),
        ({"readPoint": "urn:epc:id:sgln:0614141.07346.1234"}, {(f"{E0}.readPoint", "invalid_field_type")}),
        ({"colour": "red"}, {(f"{E0}.colour", "unknown_field")}),
        ({"childEPCs": ["urn:epc:id:sgtin:0614141.107346.1"]}, {(f"{E0}.childEPCs", "unknown_field")}),
        (
            {"sourceList": [{"type": "seller", "source": "urn:epc:id:pgln:4012345.00225"}]},
            {(f"{E0}.sourceList.0.type", "non_standard_source_destination_type")},
        ),
        (
            {"destinationList": [{"destination": "urn:epc:id:pgln:4012345.00225"}]},
            {(f"{E0}.destinationList.0.type", "missing_required_field")},
        ),
        (
            {"bizTransactionList": [{"type": "order", "bizTransaction": "urn:epc:id:gdti:0614141.00001.1"}]},
            {(f"{E0}.bizTransactionList.0.type", "non_standard_biz_transaction_type")},
        ),
        ({"persistentDisposition": {"set": []}}, {(f"{E0}.persistentDisposition.set", "empty_list")}),
        (
            {"errorDeclaration": {"reason": "typo"}},
            {
                (f"{E0}.errorDeclaration.declarationTime", "missing_required_field"),
                (f"{E0}.errorDeclaration.reason", "non_standard_error_reason"),
            },
        ),
        (
            {"sensorElementList": [{"sensorReport": [{"type": "Temperature", "value": "warm"}]}]},
            {(f"{E0}.sensorElementList.0.sensorReport.0.value", "invalid_number")},
        ),
        ({"sensorElementList": [{"sensorReport": []}]}, {(f"{E0}.sensorElementList.0.sensorReport", "empty_list")}),
        (
            {"sensorElementList": [{"sensorReport": [{"type": "Temperature", "exception": "HOT"}]}]},
            {(f"{E0}.sensorElementList.0.sensorReport.0.exception", "non_standard_sensor_alert")},
        ),
    ],
)
def test_event_rule(fields: dict[str, Any], expected: set[tuple[str, str]]) -> None:
    assert _reasons(_document(**fields)) == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"bizStep": "https://example.com/bizStep/inspecting"},
        {"bizStep": "urn:epcglobal:cbv:bizstep:shipping", "disposition": "urn:epcglobal:cbv:disp:in_transit"},
        {"bizStep": "collecting", "disposition": "in_progress"},
        {"ext:note": "handled with care", "_comment": "annotations are ignored"},
        {"readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234", "ext:dock": "7"}},
        {"epcList": [], "quantityList": [{"epcClass": "https://id.gs1.org/01/09521141012345", "quantity": 2.5}]},
        {"sensorElementList": [{"sensorReport": [{"type": "Temperature", "value": "94.2", "uom": "CEL"}]}]},
        {"action": "ADD", "ilmd": {"ext:lot": "L1"}},
    ],
)
def test_event_accepted(fields: dict[str, Any]) -> None:
    assert validate_document(_document(**fields)) == []


def test_transformation_event_takes_no_action() -> None:
    doc = _document(
        type="TransformationEvent",
        epcList=None,
        inputEPCList=["urn:epc:id:sgtin:4012345.011111.987"],
        outputEPCList=["urn:epc:id:sgtin:4012345.033333.AGHFG"],
    )
    assert _reasons(doc) == {(f"{E0}.action", "unknown_field")}
    del doc["epcisBody"]["eventList"][0]["action"]
    assert validate_document(doc) == []


def test_transaction_event_needs_business_transactions() -> None:
    assert _reasons(_document(type="TransactionEvent")) == {(f"{E0}.bizTransactionList", "missing_required_field")}


def test_association_event_needs_parent() -> None:
    doc = _document(type="AssociationEvent", epcList=None, childEPCs=["urn:epc:id:giai:4000001.12345"])
    assert _reasons(doc) == {(f"{E0}.parentID", "missing_required_field")}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda doc: doc.update({"@context": ["https://example.com/other.jsonld"]}),
            {("@context", "missing_epcis_context")},
        ),
        (lambda doc: doc.update({"@context": 7}), {("@context", "invalid_context")}),
        (lambda doc: doc.update({"type": "EPCISQueryDocument"}), {("type", "invalid_document_type")}),
        (lambda doc: doc.update({"schemaVersion": "1.2"}), {("schemaVersion", "invalid_schema_version")}),
        (lambda doc: doc.pop("creationDate"), {("creationDate", "missing_required_field")}),
        (lambda doc: doc.update({"creationDate": "yesterday"}), {("creationDate", "invalid_timestamp")}),
        (lambda doc: doc.update({"epcisBody": {}}), {("epcisBody.eventList", "missing_required_field")}),
        (lambda doc: doc.update({"epcisBody": {"eventList": {}}}), {("epcisBody.eventList", "invalid_field_type")}),
        (lambda doc: doc.update({"epcisBody": {"eventList": ["event"]}}), {(E0, "not_an_object")}),
        (lambda doc: doc.update({"signature": "x"}), {("signature", "unknown_field")}),
    ],
)
def test_document_rule(change: Any, expected: set[tuple[str, str]]) -> None:
    doc = copy.deepcopy(_document())
    change(doc)
    assert _reasons(doc) == expected


def test_a_non_object_is_rejected() -> None:
    assert _reasons([]) == {("", "not_an_object")}


_KEYS = st.sampled_from(
    [
        "type",
        "eventTime",
        "eventTimeZoneOffset",
        "action",
        "epcList",
        "quantityList",
        "readPoint",
        "bizStep",
        "sensorElementList",
        "sensorReport",
        "sourceList",
        "errorDeclaration",
        "persistentDisposition",
        "ilmd",
        "epcisBody",
        "eventList",
        "@context",
        "creationDate",
        "schemaVersion",
    ]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_KEYS | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, database=None)
@given(doc=_JSON, event=st.dictionaries(_KEYS, _JSON, max_size=8))
def test_validation_never_raises(doc: Any, event: dict[str, Any]) -> None:
    validate_document(doc)
    wrapped = {**_document(), "epcisBody": {"eventList": [{"type": "ObjectEvent", **event}]}}
    assert all(violation.message for violation in validate_document(wrapped))
