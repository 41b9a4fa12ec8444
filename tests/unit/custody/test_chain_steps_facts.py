"""The hash chain and its head anchor, normalised steps and references, the directly encoded custody fact,
and EPCIS observations as custody steps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from contracts.custody import CustodyEventKind, CustodyEventReported, CustodyRecorded, CustodyTargets
from contracts.envelope import Envelope, parse_envelope
from services.common.outbox import build_row
from services.custody.domain.chain import GENESIS_HASH, LogEntry, verify_chain
from services.custody.domain.epcis import to_custody_observation
from services.custody.domain.observations import gln_of, to_step
from services.custody.domain.steps import (
    CustodyStep,
    from_native,
    gs1_path,
    parking_key,
    source_violations,
    text_violations,
)
from services.custody.messaging.facts import fast_row, recorded

pytestmark = pytest.mark.unit


def chain(length: int, content: dict[str, Any] | None = None) -> list[tuple[LogEntry, str]]:
    entries, previous = [], GENESIS_HASH
    for sequence in range(1, length + 1):
        entry = LogEntry(
            passport_id="urn:uuid:1",
            sequence=sequence,
            kind="dispatch",
            occurred_at=datetime(2026, 3, sequence, tzinfo=UTC),
            handler_id="h",
            from_handler_id=None,
            to_handler_id=None,
            source_event_id=f"e{sequence}",
            source="urn:bpass:handler:h",
            content=content or {"n": sequence, "text": "é\u2028\x01"},
            previous_hash=previous,
        )
        entries.append((entry, entry.entry_hash))
        previous = entry.entry_hash
    return entries


def test_canonical_bytes_are_those_of_the_standard_json_encoder() -> None:
    entry, _ = chain(1, {"z": [1, 2.5, None, True], "a": {"y": "ü", "b": 1e16}})[0]
    body = json.loads(entry.canonical())
    assert entry.canonical() == json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_verify_finds_gaps_alterations_and_missing_heads() -> None:
    entries = chain(3)
    head = (3, entries[-1][1])
    assert verify_chain(entries, head) is None
    altered = [entries[0], (entries[1][0], "f" * 64), entries[2]]
    broken = verify_chain(altered, head)
    assert broken is not None
    assert (broken.sequence, broken.reason) == (2, "content_altered")
    gap = verify_chain([entries[0], entries[2]], head)
    assert gap is not None
    assert (gap.sequence, gap.reason) == (2, "entry_missing")
    truncated = verify_chain(entries[:2], head)
    assert truncated is not None
    assert (truncated.sequence, truncated.reason) == (3, "entry_missing")
    assert verify_chain(entries[:2]) is None  # without the anchor, a cut tail is invisible: why the head exists
    unanchored = verify_chain(entries, (2, entries[1][1]))
    assert unanchored is not None
    assert unanchored.reason == "entry_unanchored"
    swapped_head = verify_chain(entries, (3, "0" * 64))
    assert swapped_head is not None
    assert swapped_head.reason == "head_mismatch"


def test_references_of_digital_links_on_any_domain_share_one_key() -> None:
    assert gs1_path("https://id.gs1.org/01/09521234000013/21/BAT%2D1") == "01/09521234000013/21/BAT-1"
    assert gs1_path("https://resolver.example/01/9521234000013/10/L1?x=1") == "01/09521234000013/10/L1"
    assert gs1_path("BAT-1") is None
    assert parking_key("https://a.example/01/09521234000013/21/S1") == "gs1:01/09521234000013/21/S1"
    assert parking_key("BAT-1") == "BAT-1"


def native(**changes: Any) -> CustodyEventReported:
    fields: dict[str, Any] = {
        "kind": CustodyEventKind.handover,
        "occurred_at": "2026-03-01T10:00:00+01:00",
        "handler_id": "h1",
        "from_handler_id": "h1",
        "to_handler_id": "h2",
        "targets": CustodyTargets(passport_ids=["urn:uuid:1"], battery_identifiers=["B-1"], batch_numbers=["L1"]),
        "ewc_code": "16 06 01*",
        "operation": "R13",
    }
    return CustodyEventReported.model_validate({**fields, **changes})


def envelope(source: str = "urn:bpass:handler:h1") -> Envelope:
    return Envelope(id="e1", source=source, type=CustodyEventReported.event_type, time=datetime.now(UTC))


def test_a_native_event_becomes_a_step_and_survives_parking() -> None:
    step = from_native(native(), envelope(), {"topic": "t", "offset": 3})
    assert step.references == ("urn:uuid:1", "B-1", "batch:L1")
    assert step.occurred_at == datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert step.hard_violations == []
    assert CustodyStep.from_json(json.loads(json.dumps(step.to_json()))) == step
    assert source_violations("urn:bpass:handler:h2", "h1")[0].reason == "source_not_handler"
    # An OEM or an authority reports under its own name, never as a handler.
    assert source_violations("urn:bpass:tenant:acme:mes", "acme") == []
    assert source_violations("urn:bpass:tenant:acme", "h1")[0].reason == "source_not_handler"
    assert source_violations("urn:bpass:authority:msa-de", "h1")[0].reason == "source_not_handler"
    assert source_violations("urn:bpass:service:test", "h1") == []
    declared = from_native(native(kind=CustodyEventKind.error_declaration), envelope())
    assert [v.reason for v in declared.hard_violations] == ["kind_not_reportable"]


def test_the_fast_custody_fact_is_the_contract_and_the_envelope_build_row_writes() -> None:
    data = {
        "passport_id": "urn:uuid:1",
        "tenant": "acme",
        "sequence": 2,
        "kind": "dispatch",
        "occurred_at": "2026-03-01T09:00:00Z",
        "handler_id": "h1",
        "from_handler_id": None,
        "to_handler_id": None,
        "source_event_id": "e1",
        "entry_hash": "a" * 64,
        "previous_hash": "b" * 64,
        "site_id": None,
        "ewc_code": None,
        "operation": None,
        "flags": [{"field": "kind", "reason": "in_transit", "message": "m"}],
        "epcis_event_hash": None,
        "corrects_sequence": None,
    }
    row = fast_row(
        "ns.topic", recorded(data, "urn:uuid:1"), source="urn:bpass:service:custody", ce_time="2026-03-01T09:00:01Z"
    )
    fact = CustodyRecorded.model_validate_json(row.payload)
    assert fact.model_dump(mode="json") == {**data, "flags": data["flags"]}
    assert orjson.loads(row.payload) == data
    parsed = parse_envelope([(name, value.encode()) for name, value in row.headers])
    assert isinstance(parsed, Envelope)
    assert (parsed.type, parsed.source, parsed.subject) == (
        CustodyRecorded.event_type,
        "urn:bpass:service:custody",
        "urn:uuid:1",
    )
    reference = build_row("ns.topic", fact, source="urn:bpass:service:custody", key="urn:uuid:1", subject="urn:uuid:1")
    assert [name for name, _ in row.headers] == [name for name, _ in reference.headers]
    assert row.key == reference.key


SHIPPING = {
    "type": "ObjectEvent",
    "eventTime": "2026-03-01T10:00:00.000Z",
    "eventTimeZoneOffset": "+01:00",
    "action": "OBSERVE",
    "bizStep": "shipping",
    "disposition": "in_transit",
    "epcList": ["urn:epc:id:sgtin:9521234.000001.S1"],
    "bizLocation": {"id": "urn:epc:id:sgln:9521234.00001.0"},
    "sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:9521234.00000"}],
    "destinationList": [{"type": "possessing_party", "destination": "https://id.gs1.org/417/4099999000005"}],
    "quantityList": [{"epcClass": "urn:epc:class:lgtin:9521234.000001.L1", "quantity": 2}],
}


def test_an_epcis_event_becomes_a_step_between_registered_parties() -> None:
    observation = to_custody_observation(SHIPPING)
    handlers = {"9521234000006": ("oem-logistics", None), "4099999000005": ("carrier-x", None)}
    handlers["9521234000013"] = ("oem-logistics", "dc-1")
    by_capturer = to_step(observation, 0, capturer="carrier-x", source="s", capture_id="c", handlers=handlers)
    assert (by_capturer.kind, by_capturer.handler_id) == ("dispatch", "carrier-x")
    assert (by_capturer.from_handler_id, by_capturer.to_handler_id) == ("oem-logistics", "carrier-x")
    assert by_capturer.references == (
        "https://id.gs1.org/01/09521234000013/21/S1",
        "https://id.gs1.org/01/09521234000013/10/L1",
    )
    assert by_capturer.epcis_event_hash == observation.event_hash
    by_operator = to_step(observation, 0, capturer=None, source="s", capture_id="c", handlers=handlers)
    assert (by_operator.handler_id, by_operator.site_id) == ("oem-logistics", "dc-1")
    nobody = to_step(observation, 3, capturer=None, source="s", capture_id="c", handlers={})
    assert nobody.hard_violations[0].reason == "handler_unknown"
    assert nobody.hard_violations[0].field == "epcisBody.eventList.3"
    assert gln_of("https://id.gs1.org/414/9521234000013/254/1") == "9521234000013"


def test_text_postgresql_cannot_store_is_refused_naming_its_field() -> None:
    def fields(content: dict[str, Any]) -> list[tuple[str, str]]:
        return [(v.field, v.reason) for v in text_violations(content)]

    assert fields({"transport_document": "CMR-\x001"}) == [("transport_document", "invalid_character")]
    assert fields({"targets": {"battery_identifiers": ["ok", "\ud800"]}}) == [
        ("targets.battery_identifiers.1", "invalid_character")
    ]
    # Look-alikes are stored as they are: a backslash followed by u0000, integers beyond 64 bits.
    assert fields({"note": "\\u0000", "big": 2**70}) == []
    step = from_native(native(transport_document="CMR-\x001"), envelope())
    assert [(v.field, v.reason) for v in step.hard_violations] == [("transport_document", "invalid_character")]
