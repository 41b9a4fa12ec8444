"""Conformance of a document to a vendored draft-04 schema: exact errors, documented upstream defects, reasons."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from services.reporting.domain.conformance import (
    BATTERYPASS_1_2,
    UPSTREAM_DEFECTS,
    SchemaError,
    conformance,
    schema_errors,
)

GPI = BATTERYPASS_1_2 / "GeneralProductInformation-schema.json"
SUPPLY = BATTERYPASS_1_2 / "SupplyChainDueDiligence-schema.json"
CIRCULARITY = BATTERYPASS_1_2 / "Circularity-schema.json"
CONTACT = {
    "contactName": "Voltaris Batteries GmbH",
    "postalAddress": {"addressCountry": "DE", "postalCode": "38440", "streetAddress": "Industriestraße 12"},
    "identifier": "GLN 4006381000016",
    "emailAddress": "passport@voltaris.example",
}
GENERAL: dict[str, Any] = {
    "productIdentifier": "VX-400-0001",
    "batteryPassportIdentifier": "urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11",
    "batteryCategory": "ev",
    "manufacturerInformation": CONTACT,
    "manufacturingDate": "2025-09-15T00:00:00Z",
    "batteryStatus": "Original",
    "batteryMass": 512.5,
    "manufacturingPlace": {"addressCountry": "DE", "postalCode": "38440", "streetAddress": "Werkstraße 1"},
    "operatorInformation": CONTACT,
    "puttingIntoService": "2026-01-12T09:00:00Z",
    "warrentyPeriod": "P96M",
}


def test_the_vendored_schemas_are_the_published_ones() -> None:
    listed = (BATTERYPASS_1_2 / "SOURCES.md").read_text(encoding="utf-8")
    schemas = sorted(BATTERYPASS_1_2.glob("*-schema.json"))
    assert len(schemas) == 7
    for schema in schemas:
        assert f"{hashlib.sha256(schema.read_bytes()).hexdigest()}  {schema.name}" in listed


def test_errors_are_exact_and_only_the_documented_defects_are_allowed() -> None:
    errors = schema_errors(GPI, GENERAL)
    assert [(e.aspect, e.path, e.rule) for e in errors] == [
        ("GeneralProductInformation", "/batteryPassportIdentifier", "pattern"),
        ("GeneralProductInformation", "/manufacturerInformation/emailAddress", "pattern"),
        ("GeneralProductInformation", "/operatorInformation/emailAddress", "pattern"),
        ("GeneralProductInformation", "/warrentyPeriod", "pattern"),
    ]
    report = conformance(errors)
    assert not report["valid_strict"]
    assert report["valid_except_upstream_defects"]
    assert {d["key"] for d in report["upstream_defects"]} == {d.key for d in UPSTREAM_DEFECTS}
    assert all(e["upstream_defect"] for e in report["errors"])
    assert report["missing"] == []


def test_a_missing_required_member_is_named_with_its_reason_and_is_no_upstream_defect() -> None:
    document = copy.deepcopy(GENERAL)
    del document["puttingIntoService"]
    del document["manufacturingPlace"]["postalCode"]
    errors = schema_errors(GPI, document)
    required = [e for e in errors if e.rule == "required"]
    assert [e.path for e in required] == ["/manufacturingPlace/postalCode", "/puttingIntoService"]
    reasons = {"GeneralProductInformation/puttingIntoService": "not yet put into service"}
    report = conformance(errors, missing_reasons=reasons)
    assert not report["valid_except_upstream_defects"]
    assert report["missing"] == [
        {
            "field": "GeneralProductInformation/manufacturingPlace/postalCode",
            "reason": "the platform holds no value for it",
        },
        {"field": "GeneralProductInformation/puttingIntoService", "reason": "not yet put into service"},
    ]
    # An ancestor's reason stands for its members.
    nested = conformance(errors, missing_reasons={"GeneralProductInformation/manufacturingPlace": "no plant given"})
    assert nested["missing"][0]["reason"] == "no plant given"


def test_formats_are_asserted() -> None:
    bad = {
        **GENERAL,
        "manufacturingDate": "2025-09-15",
        "manufacturerInformation": {**CONTACT, "webAddress": "voltaris"},
    }
    rules = {(e.path, e.rule) for e in schema_errors(GPI, bad)}
    assert ("/manufacturingDate", "format") in rules
    assert ("/manufacturerInformation/webAddress", "format") in rules
    good = {**GENERAL, "manufacturerInformation": {**CONTACT, "webAddress": "https://voltaris.example"}}
    assert not {e.rule for e in schema_errors(GPI, good)} & {"format"}
    assert not [e for e in schema_errors(SUPPLY, {"supplyChainDueDiligenceReport": "https://x.example/r.pdf",
                                                  "thirdPartyAussurances": "https://x.example/a.pdf",
                                                  "supplyChainIndicies": 1.0})]  # fmt: skip
    assert [e.rule for e in schema_errors(SUPPLY, {"supplyChainDueDiligenceReport": "not a uri",
                                                   "thirdPartyAussurances": "https://x.example/a.pdf",
                                                   "supplyChainIndicies": 1.0})] == ["format"]  # fmt: skip


def test_a_defect_covers_its_own_aspect_path_and_rule_only() -> None:
    email = next(d for d in UPSTREAM_DEFECTS if d.key.endswith("email-pattern"))
    assert email.covers(SchemaError("GeneralProductInformation", "/operatorInformation/emailAddress", "pattern", ""))
    assert not email.covers(SchemaError("GeneralProductInformation", "/operatorInformation/emailAddress", "type", ""))
    assert not email.covers(SchemaError("Circularity", "/sparePartSources/0/emailAddressOfSupplier", "pattern", ""))
    warranty = next(d for d in UPSTREAM_DEFECTS if d.key.endswith("warranty-gmonth"))
    assert not warranty.covers(SchemaError("GeneralProductInformation", "/warrentyPeriod", "required", ""))
    # Circularity's e-mail pattern is the correct one: a real address passes there.
    source = {
        "nameOfSupplier": "S",
        "addressOfSupplier": CONTACT["postalAddress"],
        "components": [],
        "supplierWebAddress": "https://parts.voltaris.example",
        "emailAddressOfSupplier": "parts@voltaris.example",
    }
    found = schema_errors(CIRCULARITY, {"sparePartSources": [source]})
    assert not [e for e in found if e.path.startswith("/sparePartSources")]
