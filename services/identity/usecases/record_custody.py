"""Record who holds each battery now (second-life operators must hold their predecessors), and which passports
ceased (recycled batteries have no second life), from custody's and recovery's facts."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.custody import CustodyRecorded
from contracts.recovery import PassportCeased
from services.common.db import DbConnection
from services.identity.domain import second_life
from services.identity.domain.second_life import CustodyView
from services.identity.store import lifecycle


async def record_custody(conn: DbConnection, facts: Sequence[CustodyRecorded]) -> None:
    """Custody's log entries folded in order (older or repeated ones change nothing)."""
    views = await lifecycle.lock_custody(conn, [fact.passport_id for fact in facts])
    changed: dict[str, CustodyView] = {}
    for fact in facts:
        view = views.get(fact.passport_id) or CustodyView(tenant=fact.tenant)
        after = second_life.fold_custody(view, fact)
        if after is not view:
            views[fact.passport_id] = changed[fact.passport_id] = after
    await lifecycle.store_custody(conn, changed)


async def record_ceased(conn: DbConnection, facts: Sequence[PassportCeased]) -> None:
    """Recycled batteries: their passports ceased (Art. 77(8)) and have no second life."""
    await lifecycle.mark_ceased(conn, [(fact.passport_id, fact.tenant, fact.ceased_at) for fact in facts])
