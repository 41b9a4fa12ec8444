"""Reads: a passport's attribution, a batch's outcome, the Annex XII figures."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from contracts.recovery import RecoveredMaterial, RecoveryChemistry
from services.recovery.domain.annex_xii import BatchRecord, ChemistryInputs
from services.recovery.store.common import Db, materials_of


async def known_passport(db: Db, passport_id: str) -> asyncpg.Record | None:
    """A passport as recovery stored it from its minted fact, with its cease (if recycled)."""
    return await db.fetchrow(
        """SELECT passport_id, tenant, battery_identifier, category, kind, static_data, minted_at, ceased_at
           FROM known_passports WHERE passport_id = $1""",
        passport_id,
    )


async def passport_row(db: Db, passport_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        """SELECT p.passport_id, p.tenant, p.battery_identifier, p.category, p.kind, p.ceased_at,
                  b.id AS batch, b.recycler_id, b.batch_id, b.completed_at, b.processes, b.reported_by,
                  b.evidence, b.flags AS batch_flags,
                  i.input_index, i.chemistry, i.category_group, i.origin, i.mass_kg, i.flags, i.sources,
                  i.dwts_id, i.diwass_id, i.transport_document
           FROM known_passports p
           LEFT JOIN treatment_inputs i ON i.passport_id = p.passport_id
           LEFT JOIN treatment_batches b ON b.id = i.batch
           WHERE p.passport_id = $1""",
        passport_id,
    )


async def passport_contents(db: Db, batch: int, input_index: int) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            """SELECT material, kg_per_kg, declared_kg, basis FROM input_contents
               WHERE batch = $1 AND input_index = $2 ORDER BY material""",
            batch,
            input_index,
        )
    )


async def passport_lines(db: Db, passport_id: str) -> list[asyncpg.Record]:
    return list(await db.fetch("SELECT line FROM attribution_lines WHERE passport_id = $1 ORDER BY id", passport_id))


async def batch_outcome(db: Db, recycler_id: str, batch_id: str) -> dict[str, Any] | None:
    outcome: dict[str, Any] | None = await db.fetchval(
        "SELECT outcome FROM treatment_batches WHERE recycler_id = $1 AND batch_id = $2", recycler_id, batch_id
    )
    return outcome


async def annex_xii_records(
    db: Db, *, recycler_id: str | None, completed_from: datetime | None, completed_before: datetime | None
) -> list[BatchRecord]:
    batches = await db.fetch(
        """SELECT id, recycler_id, batch_id, completed_at, recycled_output_kg FROM treatment_batches
           WHERE ($1::text IS NULL OR recycler_id = $1)
             AND ($2::timestamptz IS NULL OR completed_at >= $2)
             AND ($3::timestamptz IS NULL OR completed_at < $3)
           ORDER BY completed_at, id""",
        recycler_id,
        completed_from,
        completed_before,
    )
    ids = [b["id"] for b in batches]
    masses = await db.fetch(
        "SELECT batch, chemistry, sum(mass_kg) AS kg FROM treatment_inputs WHERE batch = ANY($1::bigint[]) "
        "GROUP BY 1, 2",
        ids,
    )
    declared = await db.fetch(
        """SELECT i.batch, i.chemistry, c.material, sum(c.declared_kg) AS kg
           FROM input_contents c JOIN treatment_inputs i USING (batch, input_index)
           WHERE i.batch = ANY($1::bigint[]) GROUP BY 1, 2, 3""",
        ids,
    )
    refined = await db.fetch(
        """SELECT l.batch, i.chemistry, l.material, sum(l.amount_kg) AS kg
           FROM attribution_lines l JOIN treatment_inputs i USING (batch, input_index)
           WHERE l.stage = 'refining' AND l.batch = ANY($1::bigint[]) GROUP BY 1, 2, 3""",
        ids,
    )
    lots = await db.fetch(
        "SELECT batch, mass_kg, fed_kg, assay_pct FROM recycler_lots WHERE batch = ANY($1::bigint[])", ids
    )
    declared_by: dict[tuple[int, str], dict[RecoveredMaterial, Decimal]] = {}
    for r in declared:
        declared_by.setdefault((r["batch"], r["chemistry"]), {})[RecoveredMaterial(r["material"])] = r["kg"]
    inputs: dict[int, dict[RecoveryChemistry, ChemistryInputs]] = {}
    for r in masses:
        inputs.setdefault(r["batch"], {})[RecoveryChemistry(r["chemistry"])] = ChemistryInputs(
            r["kg"], declared_by.get((r["batch"], r["chemistry"]), {})
        )
    refined_by: dict[int, dict[tuple[RecoveryChemistry, RecoveredMaterial], Decimal]] = {}
    for r in refined:
        refined_by.setdefault(r["batch"], {})[(RecoveryChemistry(r["chemistry"]), RecoveredMaterial(r["material"]))] = (
            r["kg"]
        )
    unrefined: dict[int, dict[RecoveredMaterial, Decimal]] = {}
    for r in lots:
        left = r["mass_kg"] - r["fed_kg"]
        bucket = unrefined.setdefault(r["batch"], {})
        for material, pct in materials_of(r["assay_pct"]).items():
            bucket[material] = bucket.get(material, Decimal(0)) + left * pct / 100
    return [
        BatchRecord(
            recycler_id=b["recycler_id"],
            batch_id=b["batch_id"],
            completed_at=b["completed_at"],
            recycled_output_kg=b["recycled_output_kg"],
            inputs=inputs.get(b["id"], {}),
            refined_kg=refined_by.get(b["id"], {}),
            unrefined_kg=unrefined.get(b["id"], {}),
        )
        for b in batches
    ]
