"""The facts of others recovery keeps a copy of: each passport as minted (its declared composition, the basis of
mass-balance attribution), custody's handler registry (who may report as a recycler or a refiner) and who holds
each passport; a minting or custody fact decides the treatment batches parked waiting for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts.custody import CustodyRecorded, HandlerRegistryChanged
from contracts.identity import PassportMinted
from services.common.unit_of_work import UnitOfWork
from services.recovery import store
from services.recovery.usecases import parking


async def remember_passports(uow: UnitOfWork, resolved: Sequence[tuple[PassportMinted, Mapping[str, Any]]]) -> None:
    """Keep each minted passport; decide the batches parked waiting for it (by passport id, battery identifier or
    public URI)."""
    await store.remember_passports(uow.conn, resolved)
    minted = {r for f, _ in resolved for r in (f.passport_id, f.subject.battery_identifier, f.public_uri)}
    await parking.unpark(uow, minted=sorted(minted))


async def remember_registry_changes(uow: UnitOfWork, changes: Sequence[HandlerRegistryChanged]) -> None:
    await store.remember_registry_changes(uow.conn, changes)


async def record_custody(uow: UnitOfWork, recorded: Sequence[CustodyRecorded]) -> None:
    """Keep who holds each passport; decide the batches parked waiting for these passports' custody."""
    known = await store.record_custody(uow.conn, recorded)
    if known:
        await parking.unpark(uow, custody_known=known)
