"""Annex XII figures: recycling efficiency and material recovery rates, against the Regulation's targets. No I/O.

Recycling efficiency (Annex XII Part B), computationally: the battery-origin mass (mass − declared additives)
of a batch's outputs whose destination is `recycling`, divided by the mass of the batteries that went in.
Residues (energy recovery, backfilling, disposal) and losses do not count. The boundary is the treatment batch
as reported: a fraction sent on to further recycling (black mass to a refiner) counts when it leaves.

Material recovery rate (Annex XII Part C) of a material: recovered ÷ declared content of the inputs, where
recovered = refined metal attributed to the batch (refiner reports) + the material still in recycled lots not
yet fed to a refiner (unfed lot mass × assay). While any of it is unrefined the figure is `provisional`; once
every lot carrying it is refined it is `final`.

A batch mixing chemistries contributes to each chemistry (and Annex XII category) pro rata: input mass and
recycled output by input mass, materials by declared content (the attribution weights). Every row is
compared with the target in force at the end of the calendar year of its latest batch (targets apply "by 31
December" of their year); before the first deadline the first target is shown with `in_force: false`.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from contracts.recovery import ChemistryGroup, RecoveredMaterial, RecoveryChemistry
from services.recovery.domain.materials import CHEMISTRY_GROUP, ZERO

M = RecoveredMaterial
G = ChemistryGroup

RECYCLING_EFFICIENCY_TARGETS: Mapping[ChemistryGroup, tuple[tuple[date, Decimal], ...]] = {
    G.lithium_based: ((date(2025, 12, 31), Decimal(65)), (date(2030, 12, 31), Decimal(70))),
    G.lead_acid: ((date(2025, 12, 31), Decimal(75)), (date(2030, 12, 31), Decimal(80))),
    G.nickel_cadmium: ((date(2025, 12, 31), Decimal(80)),),
    G.other: ((date(2025, 12, 31), Decimal(50)),),
}
_METAL_TARGETS = ((date(2027, 12, 31), Decimal(90)), (date(2031, 12, 31), Decimal(95)))
MATERIAL_RECOVERY_TARGETS: Mapping[RecoveredMaterial, tuple[tuple[date, Decimal], ...]] = {
    M.cobalt: _METAL_TARGETS,
    M.copper: _METAL_TARGETS,
    M.lead: _METAL_TARGETS,
    M.nickel: _METAL_TARGETS,
    M.lithium: ((date(2027, 12, 31), Decimal(50)), (date(2031, 12, 31), Decimal(80))),
}
CSV_MATERIALS = (M.cobalt, M.copper, M.lead, M.lithium, M.nickel)
KG = Decimal("0.001")
PCT = Decimal("0.01")


@dataclass(frozen=True)
class ChemistryInputs:
    mass_kg: Decimal
    declared_kg: Mapping[RecoveredMaterial, Decimal]


@dataclass(frozen=True)
class BatchRecord:
    """What the store knows of one accepted treatment batch, for Annex XII."""

    recycler_id: str
    batch_id: str
    completed_at: datetime
    recycled_output_kg: Decimal
    inputs: Mapping[RecoveryChemistry, ChemistryInputs]
    refined_kg: Mapping[tuple[RecoveryChemistry, RecoveredMaterial], Decimal]
    unrefined_kg: Mapping[RecoveredMaterial, Decimal]  # in recycled lots, not yet fed to a refiner


@dataclass(frozen=True)
class Contribution:
    """One chemistry's part of one batch."""

    recycler_id: str
    batch_id: str
    completed_at: datetime
    chemistry: RecoveryChemistry
    input_kg: Decimal
    recycled_output_kg: Decimal
    declared_kg: Mapping[RecoveredMaterial, Decimal]
    refined_kg: Mapping[RecoveredMaterial, Decimal]
    unrefined_kg: Mapping[RecoveredMaterial, Decimal]

    @property
    def group(self) -> ChemistryGroup:
        return CHEMISTRY_GROUP[self.chemistry]


def contributions(batch: BatchRecord) -> list[Contribution]:
    total_mass = sum((c.mass_kg for c in batch.inputs.values()), ZERO)
    declared_total = {
        m: sum((c.declared_kg.get(m, ZERO) for c in batch.inputs.values()), ZERO) for m in RecoveredMaterial
    }
    out = []
    for chemistry, inputs in sorted(batch.inputs.items()):
        mass_share = inputs.mass_kg / total_mass if total_mass else ZERO
        unrefined = {}
        for m in RecoveredMaterial:
            share = inputs.declared_kg.get(m, ZERO) / declared_total[m] if declared_total[m] else mass_share
            unrefined[m] = batch.unrefined_kg.get(m, ZERO) * share
        out.append(
            Contribution(
                recycler_id=batch.recycler_id,
                batch_id=batch.batch_id,
                completed_at=batch.completed_at,
                chemistry=chemistry,
                input_kg=inputs.mass_kg,
                recycled_output_kg=batch.recycled_output_kg * mass_share,
                declared_kg=dict(inputs.declared_kg),
                refined_kg={m: batch.refined_kg.get((chemistry, m), ZERO) for m in RecoveredMaterial},
                unrefined_kg=unrefined,
            )
        )
    return out


def target_at(schedule: Sequence[tuple[date, Decimal]], reference: date) -> dict[str, Any]:
    """The target in force at `reference`, or the first one ahead of it (in_force false)."""
    in_force = [(d, pct) for d, pct in schedule if d <= reference]
    deadline, pct = in_force[-1] if in_force else schedule[0]
    return {"target_pct": pct, "deadline": deadline.isoformat(), "in_force": bool(in_force)}


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    return (part / whole * 100).quantize(PCT) if whole else None


@dataclass
class _Totals:
    batches: set[tuple[str, str]] = field(default_factory=set)
    latest: datetime | None = None
    input_kg: Decimal = ZERO
    recycled_output_kg: Decimal = ZERO
    declared: dict[RecoveredMaterial, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    refined: dict[RecoveredMaterial, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    unrefined: dict[RecoveredMaterial, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))

    def add(self, c: Contribution) -> None:
        self.batches.add((c.recycler_id, c.batch_id))
        self.latest = c.completed_at if self.latest is None else max(self.latest, c.completed_at)
        self.input_kg += c.input_kg
        self.recycled_output_kg += c.recycled_output_kg
        for m in RecoveredMaterial:
            self.declared[m] += c.declared_kg.get(m, ZERO)
            self.refined[m] += c.refined_kg.get(m, ZERO)
            self.unrefined[m] += c.unrefined_kg.get(m, ZERO)


def _row(keys: dict[str, Any], group: ChemistryGroup, totals: _Totals) -> dict[str, Any]:
    assert totals.latest is not None
    reference = date(totals.latest.year, 12, 31)
    efficiency = _pct(totals.recycled_output_kg, totals.input_kg)
    re_target = target_at(RECYCLING_EFFICIENCY_TARGETS[group], reference)
    materials: dict[str, Any] = {}
    for m in RecoveredMaterial:
        recovered = totals.refined[m] + totals.unrefined[m]
        rate = _pct(recovered, totals.declared[m])
        entry: dict[str, Any] = {
            "input_kg": totals.declared[m].quantize(KG),
            "refined_kg": totals.refined[m].quantize(KG),
            "unrefined_kg": totals.unrefined[m].quantize(KG),
            "recovered_kg": recovered.quantize(KG),
            "recovery_rate_pct": rate,
            "status": "final" if totals.unrefined[m].quantize(KG) == 0 else "provisional",
        }
        if m in MATERIAL_RECOVERY_TARGETS:
            target = target_at(MATERIAL_RECOVERY_TARGETS[m], reference)
            entry["target"] = target
            entry["met"] = None if rate is None else rate >= target["target_pct"]
        materials[m.value] = entry
    return {
        **keys,
        "category_group": group.value,
        "batches": len(totals.batches),
        "input_kg": totals.input_kg.quantize(KG),
        "recycled_output_kg": totals.recycled_output_kg.quantize(KG),
        "recycling_efficiency": {
            "pct": efficiency,
            **re_target,
            "met": None if efficiency is None else efficiency >= re_target["target_pct"],
        },
        "materials": materials,
    }


def annex_xii_rows(
    batches: Iterable[BatchRecord],
    *,
    chemistry: RecoveryChemistry | None = None,
) -> list[dict[str, Any]]:
    """Rows per treatment batch, recycler, chemistry, period (calendar year) and in total, each per category."""
    parts = [c for b in batches for c in contributions(b) if chemistry is None or c.chemistry is chemistry]
    scopes: dict[tuple[str, tuple[tuple[str, Any], ...], ChemistryGroup], _Totals] = {}
    for c in parts:
        keys_by_scope = {
            "treatment_batch": (("recycler_id", c.recycler_id), ("batch_id", c.batch_id)),
            "recycler": (("recycler_id", c.recycler_id),),
            "chemistry": (("chemistry", c.chemistry.value),),
            "period": (("period", str(c.completed_at.year)),),
            "total": (),
        }
        for scope, keys in keys_by_scope.items():
            scopes.setdefault((scope, keys, c.group), _Totals()).add(c)
    order = ["treatment_batch", "recycler", "chemistry", "period", "total"]
    rows = [
        _row({"scope": scope, **dict(keys)}, group, totals)
        for (scope, keys, group), totals in sorted(
            scopes.items(), key=lambda item: (order.index(item[0][0]), item[0][1], item[0][2].value)
        )
    ]
    return rows


CSV_COLUMNS = [
    "scope",
    "recycler_id",
    "batch_id",
    "chemistry",
    "period",
    "category_group",
    "batches",
    "input_kg",
    "recycled_output_kg",
    "recycling_efficiency_pct",
    "recycling_efficiency_target_pct",
    "recycling_efficiency_deadline",
    "recycling_efficiency_target_in_force",
    "recycling_efficiency_met",
] + [
    f"{m.value}_{column}"
    for m in CSV_MATERIALS
    for column in (
        "input_kg",
        "recovered_kg",
        "refined_kg",
        "unrefined_kg",
        "recovery_rate_pct",
        "target_pct",
        "target_in_force",
        "met",
        "status",
    )
]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def rows_to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        efficiency = row["recycling_efficiency"]
        cells = [
            row["scope"],
            row.get("recycler_id"),
            row.get("batch_id"),
            row.get("chemistry"),
            row.get("period"),
            row["category_group"],
            row["batches"],
            row["input_kg"],
            row["recycled_output_kg"],
            efficiency["pct"],
            efficiency["target_pct"],
            efficiency["deadline"],
            efficiency["in_force"],
            efficiency["met"],
        ]
        for m in CSV_MATERIALS:
            entry = row["materials"][m.value]
            cells += [
                entry["input_kg"],
                entry["recovered_kg"],
                entry["refined_kg"],
                entry["unrefined_kg"],
                entry["recovery_rate_pct"],
                entry["target"]["target_pct"],
                entry["target"]["in_force"],
                entry["met"],
                entry["status"],
            ]
        writer.writerow([_cell(c) for c in cells])
    return buffer.getvalue()
