"""Writes of the ledger: passports, treatment batches and their lots, refiner reports.

The row locks taken here (passports, lots) serialise writers that could otherwise count a thing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from contracts.identity import PassportMinted
from contracts.recovery import ContentBasis, RecoveredMaterial
from services.common.db import DbConnection
from services.recovery.domain.passports import KnownPassport
from services.recovery.domain.refining import KnownLot, LotKey
from services.recovery.domain.treatment import InputWeights, TreatmentAssessment
from services.recovery.store.common import copy_rows, materials_of


async def remember_passports(conn: DbConnection, minted: Sequence[tuple[PassportMinted, Mapping[str, Any]]]) -> None:
    """Keep each passport with its static data (each fact with the JSON form of the document it names)."""
    await conn.executemany(
        """INSERT INTO known_passports (passport_id, tenant, battery_identifier, category, static_data, minted_at,
                                        kind, public_uri)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (passport_id) DO NOTHING""",
        [
            (
                f.passport_id,
                f.tenant,
                f.subject.battery_identifier,
                f.category.value,
                document,
                f.minted_at,
                f.subject.kind.value,
                f.public_uri,
            )
            for f, document in minted
        ],
    )


def _passport(row: asyncpg.Record) -> KnownPassport:
    return KnownPassport(
        passport_id=row["passport_id"],
        tenant=row["tenant"],
        battery_identifier=row["battery_identifier"],
        kind=row["kind"],
        static_data=row["static_data"],
        ceased_by=f"{row['ceased_recycler']}/{row['ceased_batch_id']}" if row["ceased_batch"] is not None else None,
    )


async def lock_passports(conn: DbConnection, references: Iterable[str]) -> dict[str, list[KnownPassport]]:
    """Passports each reference names (passport id, battery identifier or public URI), rows locked in id order."""
    wanted = sorted(set(references))
    rows = await conn.fetch(
        """SELECT p.passport_id, p.tenant, p.battery_identifier, p.kind, p.static_data, p.public_uri,
                  p.ceased_batch, b.recycler_id AS ceased_recycler, b.batch_id AS ceased_batch_id
           FROM known_passports p LEFT JOIN treatment_batches b ON b.id = p.ceased_batch
           WHERE p.passport_id = ANY($1::text[]) OR p.battery_identifier = ANY($1::text[])
              OR p.public_uri = ANY($1::text[])
           ORDER BY p.passport_id
           FOR UPDATE OF p""",
        wanted,
    )
    found: dict[str, list[KnownPassport]] = {}
    for row in rows:
        passport = _passport(row)
        for key in {row["passport_id"], row["battery_identifier"], row["public_uri"]}:
            if key in wanted:
                found.setdefault(key, []).append(passport)
    return found


async def batch_digest(conn: DbConnection, recycler_id: str, batch_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, content_sha256, outcome FROM treatment_batches WHERE recycler_id = $1 AND batch_id = $2",
        recycler_id,
        batch_id,
    )


async def taken_lot_ids(conn: DbConnection, recycler_id: str, lot_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT lot_id FROM recycler_lots WHERE recycler_id = $1 AND lot_id = ANY($2::text[])", recycler_id, lot_ids
    )
    return {r["lot_id"] for r in rows}


async def insert_treatment(
    conn: DbConnection, values: dict[str, Any], assessment: TreatmentAssessment
) -> tuple[int, dict[str, int]]:
    """The batch row, its inputs, their declared contents and its recycled lots; returns (batch id, lot ids)."""
    batch = await _insert_batch(conn, values)
    await copy_rows(
        conn,
        "treatment_inputs",
        [
            "batch",
            "input_index",
            "passport_id",
            "tenant",
            "reference",
            "chemistry",
            "category_group",
            "origin",
            "mass_kg",
            "dwts_id",
            "diwass_id",
            "transport_document",
            "flags",
            "sources",
        ],
        [
            (
                batch,
                i.index,
                i.passport.passport_id if i.passport else None,
                i.passport.tenant if i.passport else None,
                i.reference,
                i.chemistry.value,
                i.group.value,
                i.origin.value,
                i.mass_kg,
                i.spec.dwts_id,
                i.spec.diwass_id,
                i.spec.transport_document,
                [f.model_dump(mode="json") for f in i.flags],
                {m.value: list(s) for m, s in i.sources.items()},
            )
            for i in assessment.inputs
        ],
    )
    await copy_rows(
        conn,
        "input_contents",
        ["batch", "input_index", "material", "kg_per_kg", "declared_kg", "basis"],
        [
            (batch, i.index, c.material.value, c.kg_per_kg, c.declared_kg, c.basis.value)
            for i in assessment.inputs
            for c in i.contents
        ],
    )
    if not assessment.lots:
        return batch, {}
    rows = await conn.fetch(
        """INSERT INTO recycler_lots (batch, recycler_id, lot_id, output_index, fraction, mass_kg, assay_pct,
                                      material_kg)
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::numeric[],
                                $7::jsonb[], $8::jsonb[])
           RETURNING id, lot_id""",
        [batch] * len(assessment.lots),
        [values["recycler_id"]] * len(assessment.lots),
        [lot.lot_id for lot in assessment.lots],
        [lot.output_index for lot in assessment.lots],
        [lot.fraction.value for lot in assessment.lots],
        [lot.mass_kg for lot in assessment.lots],
        [{m.value: str(v) for m, v in lot.assay_pct.items()} for lot in assessment.lots],
        [{m.value: str(v) for m, v in lot.material_kg.items()} for lot in assessment.lots],
    )
    return batch, {r["lot_id"]: r["id"] for r in rows}


async def _insert_batch(conn: DbConnection, values: dict[str, Any]) -> int:
    batch: int = await conn.fetchval(
        """INSERT INTO treatment_batches (recycler_id, batch_id, content_sha256, reported_by, reported_via, processes,
               started_at, completed_at, input_kg, recycled_output_kg, residues_kg, additives_kg, losses_kg, flags,
               evidence, report, outcome)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id""",
        values["recycler_id"],
        values["batch_id"],
        values["content_sha256"],
        values["reported_by"],
        values["reported_via"],
        values["processes"],
        values["started_at"],
        values["completed_at"],
        values["input_kg"],
        values["recycled_output_kg"],
        values["residues_kg"],
        values["additives_kg"],
        values["losses_kg"],
        values["flags"],
        values["evidence"],
        values["report"],
        values["outcome"],
    )
    return batch


async def cease_passports(conn: DbConnection, batch: int, ceased_at: datetime, passport_ids: list[str]) -> None:
    await conn.execute(
        "UPDATE known_passports SET ceased_at = $2, ceased_batch = $1 WHERE passport_id = ANY($3::text[])",
        batch,
        ceased_at,
        passport_ids,
    )


async def report_digest(conn: DbConnection, refiner_id: str, report_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, content_sha256, outcome FROM refiner_reports WHERE refiner_id = $1 AND report_id = $2",
        refiner_id,
        report_id,
    )


async def taken_product_lots(conn: DbConnection, refiner_id: str, lot_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT product_lot_id FROM refined_products WHERE refiner_id = $1 AND product_lot_id = ANY($2::text[])",
        refiner_id,
        lot_ids,
    )
    return {r["product_lot_id"] for r in rows}


async def lock_lots(
    conn: DbConnection, keys: Sequence[LotKey]
) -> tuple[dict[LotKey, KnownLot], dict[LotKey, asyncpg.Record]]:
    """The lots fed (rows locked), each with the attribution weights of its batch's inputs; and their rows."""
    rows = await conn.fetch(
        """SELECT l.id, l.batch, l.recycler_id, l.lot_id, l.mass_kg, l.fed_kg, l.assay_pct, b.batch_id
           FROM recycler_lots l JOIN treatment_batches b ON b.id = l.batch
           WHERE (l.recycler_id, l.lot_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
           ORDER BY l.id
           FOR UPDATE OF l""",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    weights = await batch_input_weights(conn, sorted({r["batch"] for r in rows}))
    lots = {
        (r["recycler_id"], r["lot_id"]): KnownLot(
            recycler_id=r["recycler_id"],
            lot_id=r["lot_id"],
            batch_id=r["batch_id"],
            mass_kg=r["mass_kg"],
            fed_kg=r["fed_kg"],
            assay_pct=materials_of(r["assay_pct"]),
            inputs=weights[r["batch"]],
        )
        for r in rows
    }
    return lots, {(r["recycler_id"], r["lot_id"]): r for r in rows}


async def lock_refined_by_batch(
    conn: DbConnection, batches: Sequence[int]
) -> dict[tuple[str, str], dict[RecoveredMaterial, Decimal]]:
    """Refined metal attributed so far to each batch, per material; the batch rows locked (in id order) so that
    two reports feeding lots of one batch check its mass balance one after the other.

    Two statements: under READ COMMITTED the sums are read after the lock is granted, so they include what the
    report that held it committed (one statement would read them as of its start, before the wait)."""
    wanted = sorted(set(batches))
    await conn.execute(
        "SELECT id FROM treatment_batches WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE", wanted
    )
    rows = await conn.fetch(
        """SELECT b.recycler_id, b.batch_id, a.material, sum(a.amount_kg) AS refined_kg
           FROM treatment_batches b JOIN attribution_lines a ON a.batch = b.id AND a.stage = 'refining'
           WHERE b.id = ANY($1::bigint[])
           GROUP BY b.recycler_id, b.batch_id, a.material""",
        wanted,
    )
    refined: dict[tuple[str, str], dict[RecoveredMaterial, Decimal]] = {}
    for r in rows:
        refined.setdefault((r["recycler_id"], r["batch_id"]), {})[RecoveredMaterial(r["material"])] = r["refined_kg"]
    return refined


async def batch_input_weights(conn: DbConnection, batches: Sequence[int]) -> dict[int, list[InputWeights]]:
    rows = await conn.fetch(
        """SELECT i.batch, i.input_index, i.mass_kg, c.material, c.declared_kg, c.basis
           FROM treatment_inputs i JOIN input_contents c USING (batch, input_index)
           WHERE i.batch = ANY($1::bigint[]) ORDER BY i.batch, i.input_index""",
        list(batches),
    )
    grouped: dict[tuple[int, int], tuple[Decimal, dict[RecoveredMaterial, Decimal], dict[RecoveredMaterial, Any]]] = {}
    for r in rows:
        entry = grouped.setdefault((r["batch"], r["input_index"]), (r["mass_kg"], {}, {}))
        entry[1][RecoveredMaterial(r["material"])] = r["declared_kg"]
        entry[2][RecoveredMaterial(r["material"])] = ContentBasis(r["basis"])
    out: dict[int, list[InputWeights]] = {b: [] for b in batches}
    for (batch, index), (mass, declared, basis) in grouped.items():
        out[batch].append(InputWeights(index, mass, declared, basis))
    return out


async def batch_inputs(conn: DbConnection, batches: Sequence[int]) -> dict[tuple[int, int], asyncpg.Record]:
    rows = await conn.fetch(
        """SELECT i.batch, i.input_index, i.passport_id, i.tenant, i.origin, p.battery_identifier
           FROM treatment_inputs i LEFT JOIN known_passports p USING (passport_id)
           WHERE i.batch = ANY($1::bigint[])""",
        list(batches),
    )
    return {(r["batch"], r["input_index"]): r for r in rows}


async def insert_report(conn: DbConnection, values: dict[str, Any]) -> int:
    report: int = await conn.fetchval(
        """INSERT INTO refiner_reports (refiner_id, report_id, content_sha256, reported_by, reported_via, period_start,
               period_end, evidence, report, outcome)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id""",
        values["refiner_id"],
        values["report_id"],
        values["content_sha256"],
        values["reported_by"],
        values["reported_via"],
        values["period_start"],
        values["period_end"],
        values["evidence"],
        values["report"],
        values["outcome"],
    )
    return report


async def insert_products(conn: DbConnection, records: list[tuple[Any, ...]]) -> dict[int, int]:
    """(report, refiner_id, product_lot_id, product_index, product, mass_kg, metal_content_pct, metal_kg)."""
    rows = await conn.fetch(
        """INSERT INTO refined_products (report, refiner_id, product_lot_id, product_index, product, mass_kg,
                                         metal_content_pct, metal_kg)
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::numeric[],
                                $7::jsonb[], $8::jsonb[])
           RETURNING id, product_index""",
        *[list(column) for column in zip(*records, strict=True)],
    )
    return {r["product_index"]: r["id"] for r in rows}


async def feed_lots(conn: DbConnection, fed: dict[int, Decimal]) -> None:
    await conn.executemany(
        "UPDATE recycler_lots SET fed_kg = fed_kg + $2 WHERE id = $1", [(lot, kg) for lot, kg in fed.items()]
    )
