"""SQL of identity's lifecycle tables: custody as custody's facts tell it, ceased passports, second-life links."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.common.db import DbConnection
from services.identity.domain.second_life import CustodyView, Predecessor, RecordedOperation

LOCK_CUSTODY_SQL = """
SELECT passport_id, tenant, custody_sequence, holder, in_transit, pending_to, custody_parties, in_treatment
FROM passport_lifecycle WHERE passport_id = ANY($1::text[]) ORDER BY passport_id FOR UPDATE
"""

UPSERT_CUSTODY_SQL = """
INSERT INTO passport_lifecycle AS l (passport_id, tenant, custody_sequence, holder, in_transit, pending_to,
                                     custody_parties, in_treatment, updated_at)
SELECT p, t, s, h, tr, pt, string_to_array(pa, E'\\x1f'), it, now()
FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::bool[], $6::text[], $7::text[], $8::bool[])
     AS x(p, t, s, h, tr, pt, pa, it)
ORDER BY p
ON CONFLICT (passport_id) DO UPDATE SET
    custody_sequence = EXCLUDED.custody_sequence, holder = EXCLUDED.holder, in_transit = EXCLUDED.in_transit,
    pending_to = EXCLUDED.pending_to, custody_parties = EXCLUDED.custody_parties,
    in_treatment = EXCLUDED.in_treatment, updated_at = now()
"""

CEASED_SQL = """
INSERT INTO passport_lifecycle AS l (passport_id, tenant, ceased_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) ORDER BY 1
ON CONFLICT (passport_id) DO UPDATE SET ceased_at = coalesce(l.ceased_at, EXCLUDED.ceased_at), updated_at = now()
"""

PREDECESSORS_SQL = """
SELECT p.passport_id, p.tenant, l.custody_sequence, l.holder, l.in_transit, l.pending_to, l.custody_parties,
       l.in_treatment, l.ceased_at
FROM passports p LEFT JOIN passport_lifecycle l ON l.passport_id = p.passport_id
WHERE p.passport_id = ANY($1::text[])
"""

SUPERSEDE_SQL = """
INSERT INTO passport_lifecycle AS l (passport_id, tenant, status, responsible_operator, successor_ids)
SELECT p, t, $3, $4, ARRAY[$5::text] FROM unnest($1::text[], $2::text[]) AS x(p, t) ORDER BY p
ON CONFLICT (passport_id) DO UPDATE SET
    status = EXCLUDED.status, responsible_operator = EXCLUDED.responsible_operator,
    successor_ids = CASE WHEN $5 = ANY(l.successor_ids) THEN l.successor_ids ELSE l.successor_ids || $5::text END,
    updated_at = now()
"""

# Party names are handler ids and tenants ([a-z0-9-]); the unit separator cannot occur in them.
PARTY_SEPARATOR = "\x1f"


async def lock_custody(conn: DbConnection, passport_ids: Sequence[str]) -> dict[str, CustodyView]:
    rows = await conn.fetch(LOCK_CUSTODY_SQL, sorted(set(passport_ids)))
    return {
        r["passport_id"]: CustodyView(
            tenant=r["tenant"],
            sequence=r["custody_sequence"],
            holder=r["holder"],
            in_transit=r["in_transit"],
            pending_to=r["pending_to"],
            parties=tuple(r["custody_parties"]),
            in_treatment=r["in_treatment"],
        )
        for r in rows
    }


async def store_custody(conn: DbConnection, views: dict[str, CustodyView]) -> None:
    if not views:
        return
    ids = sorted(views)
    await conn.execute(
        UPSERT_CUSTODY_SQL,
        ids,
        [views[p].tenant for p in ids],
        [views[p].sequence for p in ids],
        [views[p].holder for p in ids],
        [views[p].in_transit for p in ids],
        [views[p].pending_to for p in ids],
        [PARTY_SEPARATOR.join(views[p].parties) for p in ids],
        [views[p].in_treatment for p in ids],
    )


async def mark_ceased(conn: DbConnection, rows: Sequence[tuple[str, str, datetime]]) -> None:
    if rows:
        await conn.execute(CEASED_SQL, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


async def lock_second_life(
    conn: DbConnection, tenant: str, battery_identifier: str, predecessors: Sequence[str]
) -> None:
    """Serialise second-life operations of one new battery, then those naming the same predecessors (in id order:
    two operations sharing predecessors take their locks in one order)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('second-life/' || $1 || '/' || $2, 0))",
        tenant,
        battery_identifier,
    )
    await conn.execute(
        "SELECT count(pg_advisory_xact_lock(hashtextextended('second-life-predecessor/' || p, 0))) "
        "FROM (SELECT p FROM unnest($1::text[]) AS x(p) ORDER BY p) ordered",
        sorted(set(predecessors)),
    )


async def predecessors(conn: DbConnection, passport_ids: Sequence[str]) -> dict[str, Predecessor]:
    """The passports among `passport_ids` identity minted, with their custody and whether they ceased."""
    rows = await conn.fetch(PREDECESSORS_SQL, list(passport_ids))
    return {
        r["passport_id"]: Predecessor(
            passport_id=r["passport_id"],
            tenant=r["tenant"],
            custody=CustodyView(
                tenant=r["tenant"],
                sequence=r["custody_sequence"] or 0,
                holder=r["holder"],
                in_transit=bool(r["in_transit"]),
                pending_to=r["pending_to"],
                parties=tuple(r["custody_parties"] or ()),
                in_treatment=bool(r["in_treatment"]),
            ),
            ceased=r["ceased_at"] is not None,
        )
        for r in rows
    }


async def recorded_operation(conn: DbConnection, tenant: str, battery_identifier: str) -> RecordedOperation | None:
    row = await conn.fetchrow(
        "SELECT successor_id, operation, predecessor_ids FROM second_life_operations "
        "WHERE tenant = $1 AND battery_identifier = $2",
        tenant,
        battery_identifier,
    )
    if row is None:
        return None
    return RecordedOperation(row["successor_id"], row["operation"], tuple(row["predecessor_ids"]))


async def record_operation(
    conn: DbConnection,
    *,
    successor_id: str,
    tenant: str,
    battery_identifier: str,
    operation: str,
    predecessor_ids: Sequence[str],
    occurred_at: datetime,
    recorded_by: str,
    reason: str | None,
) -> None:
    await conn.execute(
        """INSERT INTO second_life_operations (successor_id, tenant, battery_identifier, operation, predecessor_ids,
                                               occurred_at, recorded_by, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        successor_id,
        tenant,
        battery_identifier,
        operation,
        list(predecessor_ids),
        occurred_at,
        recorded_by,
        reason,
    )


async def supersede(
    conn: DbConnection,
    owners: dict[str, str],
    *,
    status: str,
    responsible_operator: str,
    successor_id: str,
) -> None:
    """Predecessors (id -> owning tenant) take the new status, the new responsible operator and the successor."""
    ids = sorted(owners)
    await conn.execute(SUPERSEDE_SQL, ids, [owners[p] for p in ids], status, responsible_operator, successor_id)
