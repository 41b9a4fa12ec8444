"""Exports: CSV and JSON writers, public tier, signed audit packs verified offline (Battery Pass 1.2 against its
schemas: test_batterypass_export.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bpass.verify_pack import load_pinned_keys, verify
from contracts.passport_data import StaticPassportData
from services.reporting.domain import readmodel
from services.reporting.domain.custody_chain import verify_chain
from services.reporting.domain.public import public_view
from services.reporting.exports.auditpack import build_pdf
from services.reporting.exports.formats import CSV_COLUMNS, CsvWriter, JsonWriter
from services.reporting.signing import load_or_create
from tests.unit.reporting.factories import T0, batteries, custody_chain, minted


def state_of(n: int = 0, *, custody: list[str] | None = None) -> dict[str, Any]:
    fact = minted(batteries(n + 1, run="UNIT01")[n], "acme")
    state = readmodel.empty_state(fact.passport_id, "acme")
    readmodel.apply_minted(state, fact)
    for step in custody_chain(fact.passport_id, "acme", custody or []):
        readmodel.apply_custody(state, step)
    state["version"] = 1 + len(custody or [])
    return state


def test_public_view_holds_only_public_tier_fields() -> None:
    state = state_of()
    view = public_view(state)
    assert "battery_status" not in view["static_data"]  # legitimate interest
    assert "material_composition" not in view["static_data"]
    assert "test_reports_url" not in view["static_data"]  # authorities
    assert "extensions" not in view
    assert "custody_timeline" not in view
    assert view["static_data"]["battery_model"] == state["static_data"]["battery_model"]
    StaticPassportData.model_validate(view["static_data"])


def test_custody_chain_linkage_is_verified_and_a_break_is_named() -> None:
    state = state_of(custody=["dispatch", "receipt", "collection"])
    assert verify_chain(state["custody_timeline"])["intact"]
    state["custody_timeline"][1]["previous_hash"] = "f" * 64
    check = verify_chain(state["custody_timeline"])
    assert not check["intact"]
    assert "entry 2" in check["problems"][0]


def test_csv_and_json_writers() -> None:
    states = [state_of(i) for i in range(3)]
    csv = CsvWriter()
    csv.add(states)
    lines = csv.finish().decode().splitlines()
    assert lines[0].split(",")[:3] == list(CSV_COLUMNS[:3])
    assert len(lines) == 4
    writer = JsonWriter({"tenant": "acme"}, batterypass=True)
    writer.add(states)
    doc = json.loads(writer.finish())
    assert doc["format"] == "batterypass-1.2"
    assert len(doc["passports"]) == 3


def test_audit_pack_is_signed_and_verifies_offline_and_tampering_is_caught(tmp_path: Path) -> None:
    signer = load_or_create(tmp_path / "key.pem")
    assert load_or_create(tmp_path / "key.pem").key_id == signer.key_id  # the same key at the next start
    states = [state_of(i, custody=["dispatch", "receipt"]) for i in range(2)]
    pdf = build_pdf(states, tenant="acme", title="Audit pack", generated_at=datetime(2026, 1, 1, tzinfo=UTC),
                    key_id=signer.key_id)  # fmt: skip
    assert pdf.startswith(b"%PDF")
    pack = tmp_path / "pack.pdf"
    pack.write_bytes(pdf)
    sig = tmp_path / "pack.pdf.sig.json"
    sig.write_text(json.dumps(signer.sign(pdf, "pack.pdf", T0)))
    pem = tmp_path / "pub.pem"
    pem.write_text(signer.public_pem())
    verdict = verify(pack, sig, load_pinned_keys(pem))
    assert verdict.ok
    assert verdict.pinned, verdict.lines
    pack.write_bytes(pdf.replace(b"Audit pack", b"Audit pock", 1))
    assert not verify(pack, sig, load_pinned_keys(pem)).ok
    other = load_or_create(tmp_path / "other.pem")
    pem.write_text(other.public_pem())
    pack.write_bytes(pdf)
    refused = verify(pack, sig, load_pinned_keys(pem))
    assert not refused.ok
    assert "not among the pinned keys" in refused.lines[-1]
