"""The fast PassportMinted rows are what `Outbox.add(PassportMinted(...))` would write."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pydantic
import pytest

from bpass.examples import EXAMPLE_GTIN, valid_static_payload
from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.envelope import Envelope, parse_envelope
from contracts.identity import BulkMintRequest, PassportMinted
from contracts.passport_data import static_data_digest
from services.common.messaging import partition_for
from services.identity.domain import passports
from services.identity.domain.documents import StaticDocuments, document_of_json
from services.identity.messaging import passport_minted
from tests.examples import EXAMPLE_RESOLVER

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def planned(extensions: dict[str, object] | None = None) -> list[passports.NewPassport]:
    request = BulkMintRequest.model_validate(
        {
            "defaults": {
                "category": "ev",
                "product_family": "VX",
                "static_data": valid_static_payload(BatteryCategory.ev),
            },
            "passports": [
                {"subject": {"kind": "battery", "battery_identifier": "A", "gtin": EXAMPLE_GTIN, "batch_number": "L1"}},
                {
                    "subject": {"kind": "pack", "battery_identifier": "P", "member_identifiers": ["M1", "M2"]},
                    "static_data": {"weight_kg": "40"},
                    "extensions": extensions or {},
                },
            ],
        }
    )
    return passports.plan_passports(
        passports.items_from_bulk(request),
        tenant="acme",
        minted_by="oem_admin:acme:k",
        now=NOW,
        resolver_base=EXAMPLE_RESOLVER,
    )


def expected_fact(p: passports.NewPassport) -> PassportMinted:
    return PassportMinted(
        passport_id=p.passport_id,
        tenant=p.tenant,
        subject=p.item.subject,
        category=p.item.category,
        product_family=p.item.product_family,
        public_uri=p.public_uri,
        static_data=p.item.static_data,
        extensions=dict(p.item.extensions),
        version=1,
        minted_at=p.minted_at,
        minted_by=p.minted_by,
    )


def test_rows_carry_the_contract_payload_keyed_by_passport_id() -> None:
    passports = planned()
    documents = StaticDocuments()
    rows = passport_minted.minted_rows(
        passports, documents, topic="ns.bpass.identity.passport-minted.v2", source="urn:s"
    )
    assert len(rows) == 2
    for row, p in zip(rows, passports, strict=True):
        assert row.topic == "ns.bpass.identity.passport-minted.v2"
        assert row.key == p.passport_id.encode()
        assert PassportMinted.model_validate_json(row.payload) == expected_fact(p)
    assert len(documents.distinct()) == 2  # the shared document and the pack's own


def test_rows_carry_cloudevents_headers_with_a_unique_id_and_the_passport_as_subject() -> None:
    passports = planned()
    rows = passport_minted.minted_rows(passports, StaticDocuments(), topic="t", source="urn:bpass:service:identity")
    envelopes = [parse_envelope([(name, value.encode()) for name, value in row.headers]) for row in rows]
    assert all(isinstance(e, Envelope) for e in envelopes)
    first, second = envelopes
    assert isinstance(first, Envelope)
    assert isinstance(second, Envelope)
    assert first.type == PassportMinted.event_type
    assert first.source == "urn:bpass:service:identity"
    assert first.subject == passports[0].passport_id
    assert first.id != second.id
    assert first.time == NOW


def test_a_value_orjson_cannot_write_falls_back_to_pydantic() -> None:
    passports = planned(extensions={"huge": 2**70})
    rows = passport_minted.minted_rows(passports, StaticDocuments(), topic="t", source="urn:s")
    assert PassportMinted.model_validate_json(rows[1].payload).extensions == {"huge": 2**70}


def test_documents_are_content_addressed() -> None:
    a = document_of_json({"b": 1, "a": [1, 2]})
    b = document_of_json({"a": [1, 2], "b": 1})
    assert a.digest == b.digest
    assert a.digest.startswith("sha256:")
    assert document_of_json({"a": [2, 1], "b": 1}).digest != a.digest


def many(count: int) -> list[passports.NewPassport]:
    request = BulkMintRequest.model_validate(
        {
            "defaults": {"category": "ev", "static_data": valid_static_payload(BatteryCategory.ev)},
            "passports": [{"subject": {"kind": "battery", "battery_identifier": f"B{i:04d}"}} for i in range(count)],
        }
    )
    return passports.plan_passports(
        passports.items_from_bulk(request), tenant="acme", minted_by="k", now=NOW, resolver_base=EXAMPLE_RESOLVER
    )


def test_a_shared_document_travels_once_per_partition_and_every_fact_resolves_in_partition_order() -> None:
    passports = many(500)
    rows = passport_minted.minted_rows(passports, StaticDocuments(), topic="t", source="urn:s")
    digest = static_data_digest(passports[0].item.static_data)
    by_partition: dict[int, list[dict[str, object]]] = {}
    for row in rows:
        partition = partition_for(row.key, range(topics.PASSPORT_MINTED.partitions), ())
        by_partition.setdefault(partition, []).append(orjson.loads(row.payload))
    assert sorted(by_partition) == list(range(topics.PASSPORT_MINTED.partitions))
    for facts_here in by_partition.values():
        assert {f["static_data_digest"] for f in facts_here} == {digest}
        assert "static_data" in facts_here[0]
        assert not any("static_data" in f for f in facts_here[1:])
    carried = len(rows[0].payload)  # the first fact carries the document
    assert max(len(row.payload) for row in rows[1:] if b'"static_data"' not in row.payload) * 5 < carried
    # Every fact, carrying or not, is a valid contract payload.
    for row in rows:
        assert PassportMinted.model_validate_json(row.payload).static_data_digest == digest


def test_a_fact_whose_document_disagrees_with_its_digest_is_refused() -> None:
    p = planned()[0]
    good = expected_fact(p).model_dump(mode="json")
    assert good["static_data_digest"] == static_data_digest(p.item.static_data)
    with pytest.raises(pydantic.ValidationError, match="does not match"):
        PassportMinted.model_validate({**good, "static_data_digest": "sha256:" + "0" * 64})
    with pytest.raises(pydantic.ValidationError, match="static_data_digest"):
        PassportMinted.model_validate({**good, "static_data_digest": None, "static_data": None})
    naming_only = PassportMinted.model_validate({**good, "static_data": None})
    assert naming_only.static_data is None
    assert naming_only.static_data_digest == good["static_data_digest"]
