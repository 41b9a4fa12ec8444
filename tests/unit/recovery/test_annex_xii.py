"""Annex XII: recycling efficiency and material recovery rates, split by chemistry, against the targets."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

from contracts.recovery import RecoveredMaterial, RecoveryChemistry
from services.recovery.domain.annex_xii import (
    CSV_COLUMNS,
    BatchRecord,
    ChemistryInputs,
    annex_xii_rows,
    rows_to_csv,
    target_at,
)

M = RecoveredMaterial
C = RecoveryChemistry
D = Decimal


def record(batch_id: str = "TB-1", year: int = 2026, **kw: object) -> BatchRecord:
    defaults: dict[str, object] = {
        "recycler_id": "recycler-a",
        "batch_id": batch_id,
        "completed_at": datetime(year, 6, 1, tzinfo=UTC),
        "recycled_output_kg": D(700),
        "inputs": {
            C.nmc811: ChemistryInputs(D(750), {M.cobalt: D(10), M.nickel: D(70), M.lithium: D(10), M.copper: D(60)}),
            C.lfp: ChemistryInputs(D(250), {M.lithium: D(3), M.copper: D(20)}),
        },
        "refined_kg": {(C.nmc811, M.cobalt): D("9.5"), (C.nmc811, M.nickel): D(60)},
        "unrefined_kg": {M.lithium: D("6.5"), M.copper: D(76)},
    }
    defaults.update(kw)
    return BatchRecord(**defaults)  # type: ignore[arg-type]


def by_scope(rows: list[dict[str, object]], scope: str) -> list[dict[str, object]]:
    return [r for r in rows if r["scope"] == scope]


def test_efficiency_and_recovery_rates_per_batch_and_chemistry() -> None:
    rows = annex_xii_rows([record()])
    [batch_row] = by_scope(rows, "treatment_batch")
    assert batch_row["input_kg"] == D("1000.000")
    assert batch_row["recycling_efficiency"] == {  # type: ignore[comparison-overlap]
        "pct": D("70.00"),
        "target_pct": D(65),
        "deadline": "2025-12-31",
        "in_force": True,
        "met": True,
    }
    materials = batch_row["materials"]
    assert isinstance(materials, dict)
    assert materials["cobalt"]["recovery_rate_pct"] == D("95.00")
    assert materials["cobalt"]["status"] == "final"
    assert materials["cobalt"]["target"] == {"target_pct": D(90), "deadline": "2027-12-31", "in_force": False}
    assert materials["lithium"]["recovery_rate_pct"] == D("50.00")  # 6.5 unrefined of 13 declared
    assert materials["lithium"]["status"] == "provisional"
    chemistry = {r["chemistry"]: r for r in by_scope(rows, "chemistry")}
    # Recycled output split by input mass: 525 / 175; lithium still in lots split by declared lithium 10:3.
    assert chemistry["nmc811"]["recycled_output_kg"] == D("525.000")
    assert chemistry["lfp"]["materials"]["lithium"]["unrefined_kg"] == D("1.500")  # type: ignore[index]
    assert chemistry["lfp"]["materials"]["copper"]["recovered_kg"] == D("19.000")  # type: ignore[index]


def test_categories_are_reported_apart_and_targets_follow_the_period() -> None:
    lead = record(
        "TB-PB",
        year=2031,
        inputs={C.lead_acid: ChemistryInputs(D(1000), {M.lead: D(630)})},
        recycled_output_kg=D(790),
        refined_kg={(C.lead_acid, M.lead): D(600)},
        unrefined_kg={},
    )
    rows = annex_xii_rows([record(), lead])
    totals = {r["category_group"]: r for r in by_scope(rows, "total")}
    assert set(totals) == {"lithium_based", "lead_acid"}
    efficiency = totals["lead_acid"]["recycling_efficiency"]
    assert efficiency["target_pct"] == D(80)
    assert efficiency["met"] is False
    assert totals["lead_acid"]["materials"]["lead"]["target"]["target_pct"] == D(95)  # type: ignore[index]
    periods = sorted(r["period"] for r in by_scope(rows, "period"))  # type: ignore[type-var]
    assert periods == ["2026", "2031"]
    only_lfp = annex_xii_rows([record(), lead], chemistry=C.lfp)
    assert {r["category_group"] for r in only_lfp} == {"lithium_based"}
    assert by_scope(only_lfp, "total")[0]["input_kg"] == D("250.000")


def test_targets_in_force_by_the_end_of_their_year() -> None:
    schedule = ((date(2025, 12, 31), D(65)), (date(2030, 12, 31), D(70)))
    assert target_at(schedule, date(2024, 12, 31)) == {"target_pct": D(65), "deadline": "2025-12-31", "in_force": False}
    assert target_at(schedule, date(2025, 12, 31))["in_force"] is True
    assert target_at(schedule, date(2031, 12, 31))["target_pct"] == D(70)


def test_csv_has_a_header_and_one_line_per_row() -> None:
    rows = annex_xii_rows([record()])
    text = rows_to_csv(rows)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert list(parsed[0]) == CSV_COLUMNS
    assert len(parsed) == len(rows)
    assert parsed[0]["recycling_efficiency_pct"] == "70.00"
    assert parsed[0]["cobalt_recovery_rate_pct"] == "95.00"
    assert parsed[0]["recycling_efficiency_met"] == "true"
