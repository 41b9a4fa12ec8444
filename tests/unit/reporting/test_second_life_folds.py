"""Reporting folds of second life: the successor's predecessors, the predecessor's successor, status and
responsible operator; the lineage shows a predecessor at the legitimate-interest tier only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bpass.examples import valid_static_data
from contracts.attributes import AccessTier, BatteryCategory
from contracts.identity import PassportMinted, PassportSuperseded
from contracts.passport_data import BatteryKind, PassportSubject
from services.reporting.domain import readmodel, tiers
from services.reporting.domain.folds import minted_with_links, superseded

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def minted(passport_id: str, tenant: str, predecessors: list[str]) -> PassportMinted:
    return PassportMinted(
        passport_id=passport_id,
        tenant=tenant,
        subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=passport_id[-4:]),
        category=BatteryCategory.ev,
        public_uri=f"https://x.example/p/{passport_id}",
        static_data=valid_static_data(BatteryCategory.ev),
        extensions={"cell_supplier_code": "CS-17"},
        version=1,
        minted_at=NOW,
        minted_by="oem_admin:acme:k",
        predecessor_ids=predecessors,
    )


def test_successor_links_predecessor_status_and_responsibility() -> None:
    successor = readmodel.empty_state("urn:uuid:s", "grid")
    assert "predecessor_ids" in minted_with_links(successor, minted("urn:uuid:s", "grid", ["urn:uuid:a", "urn:uuid:b"]))
    assert successor["predecessor_ids"] == ["urn:uuid:a", "urn:uuid:b"]

    predecessor = readmodel.empty_state("urn:uuid:a", "acme")
    minted_with_links(predecessor, minted("urn:uuid:a", "acme", []))
    fact = PassportSuperseded(
        passport_id="urn:uuid:a",
        tenant="acme",
        successor_id="urn:uuid:s",
        successor_tenant="grid",
        operation="repurposing",  # type: ignore[arg-type]
        status="repurposed",  # type: ignore[arg-type]
        responsible_operator="grid",
        superseded_at=NOW,
        superseded_by="repairer:grid:k",
    )
    changed = superseded(predecessor, fact)
    assert {"successor_ids", "status", "responsible_operator", "status_history"} <= set(changed)
    assert predecessor["successor_ids"] == ["urn:uuid:s"]
    assert predecessor["status"] == "repurposed"
    assert predecessor["responsible_operator"] == "grid"
    assert predecessor["status_history"][-1]["by"] == "repairer:grid:k"
    assert superseded(predecessor, fact) == []  # the same fact again changes nothing

    view = tiers.state_for_tier(predecessor, AccessTier.legitimate_interest)
    assert "extensions" not in view
    assert "minted_by" not in view
    assert view["status"] == "repurposed"
    assert view["successor_ids"] == ["urn:uuid:s"]
