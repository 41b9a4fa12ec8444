"""Reporting: project facts into the read model and publish each change to the owner's stream."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from contracts import topics
from contracts.custody import CustodyRecorded
from contracts.identity import PassportMinted
from contracts.reporting import PassportChanged
from services.common.consumer import Inbound, UnitOfWork
from services.reporting import domain
from services.reporting.cache import PassportCache


async def _project(
    uow: UnitOfWork,
    passport_id: str,
    tenant: str,
    change: str,
    apply: Callable[[dict[str, Any]], list[str]],
) -> str | None:
    row = await uow.conn.fetchrow(
        "SELECT version, state FROM passport_view WHERE passport_id = $1 FOR UPDATE", passport_id
    )
    state = row["state"] if row else domain.empty_state(passport_id, tenant)
    changed = apply(state)
    if not changed:
        return None
    version = (row["version"] + 1) if row else 1
    now = datetime.now(UTC)
    state["version"] = version
    state["updated_at"] = now.isoformat()
    await uow.conn.execute(
        """INSERT INTO passport_view (passport_id, tenant, version, state, updated_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (passport_id) DO UPDATE SET version = $3, state = $4, updated_at = $5""",
        passport_id,
        tenant,
        version,
        state,
        now,
    )
    await uow.conn.execute(
        "INSERT INTO passport_view_versions (passport_id, version, change, state, valid_from)"
        " VALUES ($1, $2, $3, $4, $5)",
        passport_id,
        version,
        change,
        state,
        now,
    )
    uow.outbox.add(
        uow.settings.topic(topics.tenant_passport_changes(tenant)),
        PassportChanged(
            passport_id=passport_id,
            tenant=tenant,
            version=version,
            change=change,
            changed_fields=changed,
            changed_at=now,
            state=state,
        ),
        key=passport_id,
        subject=passport_id,
    )
    return passport_id


class Projector:
    """Applies facts to the read model; holds the cache it invalidates."""

    def __init__(self, cache: PassportCache) -> None:
        self.cache = cache

    async def on_passport_minted(self, uow: UnitOfWork, items: list[Inbound[PassportMinted]]) -> None:
        touched = []
        for item in items:
            fact = item.payload
            touched.append(
                await _project(uow, fact.passport_id, fact.tenant, "minted", partial(domain.apply_minted, fact=fact))
            )
        self.cache.invalidate_after_commit(uow, [t for t in touched if t])

    async def on_custody_recorded(self, uow: UnitOfWork, items: list[Inbound[CustodyRecorded]]) -> None:
        touched = []
        for item in items:
            fact = item.payload
            touched.append(
                await _project(
                    uow,
                    fact.passport_id,
                    fact.tenant,
                    "custody_recorded",
                    partial(domain.apply_custody, fact=fact),
                )
            )
        self.cache.invalidate_after_commit(uow, [t for t in touched if t])
