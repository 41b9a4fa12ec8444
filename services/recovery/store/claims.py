"""Recycled-content claims and the availability of refined material to claim."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg

from contracts.recovery import RecoveredMaterial, WasteOrigin
from services.common.db import DbConnection
from services.recovery.domain.recycled_content import Availability, SourceKey
from services.recovery.store.common import Db, copy_rows


async def claim_by_key(conn: DbConnection, tenant: str, model: str, plant: str, year: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT claim_id, content_sha256, assessment FROM recycled_content_claims
           WHERE tenant = $1 AND battery_model = $2 AND manufacturing_plant = $3 AND year = $4""",
        tenant,
        model,
        plant,
        year,
    )


async def lock_products(conn: DbConnection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Product lots named by a claim, rows locked: concurrent claims on the same lots queue up."""
    rows = await conn.fetch(
        """SELECT id, refiner_id, product_lot_id FROM refined_products
           WHERE (refiner_id, product_lot_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
           ORDER BY id FOR UPDATE""",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["refiner_id"], r["product_lot_id"]): r["id"] for r in rows}


async def availability(conn: DbConnection, products: dict[tuple[str, str], int]) -> dict[SourceKey, Availability]:
    ids = list(products.values())
    attributed = await conn.fetch(
        """SELECT product, material, origin, sum(amount_kg) AS kg FROM attribution_lines
           WHERE stage = 'refining' AND product = ANY($1::bigint[]) GROUP BY 1, 2, 3""",
        ids,
    )
    claimed = await conn.fetch(
        """SELECT product, material, origin, sum(mass_kg) AS kg FROM claim_sources
           WHERE product = ANY($1::bigint[]) GROUP BY 1, 2, 3""",
        ids,
    )
    claimed_by = {(r["product"], r["material"], r["origin"]): r["kg"] for r in claimed}
    attributed_by = {(r["product"], r["material"], r["origin"]): r["kg"] for r in attributed}
    out: dict[SourceKey, Availability] = {}
    for (refiner_id, product_lot_id), product in products.items():
        for material in RecoveredMaterial:
            for origin in WasteOrigin:
                key = (product, material.value, origin.value)
                out[(refiner_id, product_lot_id, material, origin)] = Availability(
                    True, attributed_by.get(key, Decimal(0)), claimed_by.get(key, Decimal(0))
                )
    return out


async def insert_claim(conn: DbConnection, values: dict[str, Any], sources: list[tuple[Any, ...]]) -> None:
    await conn.execute(
        """INSERT INTO recycled_content_claims (claim_id, tenant, battery_model, manufacturing_plant, year,
               content_sha256, claimed_by, claim, assessment)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        values["claim_id"],
        values["tenant"],
        values["battery_model"],
        values["manufacturing_plant"],
        values["year"],
        values["content_sha256"],
        values["claimed_by"],
        values["claim"],
        values["assessment"],
    )
    await copy_rows(
        conn, "claim_sources", ["claim_id", "source_index", "product", "material", "origin", "mass_kg"], sources
    )


async def claims_of(db: Db, tenant: str | None, claim_id: str | None = None) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            """SELECT claim_id, tenant, assessment, created_at FROM recycled_content_claims
               WHERE ($1::text IS NULL OR tenant = $1) AND ($2::text IS NULL OR claim_id = $2)
               ORDER BY created_at, claim_id""",
            tenant,
            claim_id,
        )
    )
