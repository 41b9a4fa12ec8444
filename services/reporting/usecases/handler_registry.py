"""Keep reporting's copy of custody's handler registry: the newest version of each handler its facts carry.

It is read when a value-chain operator asks for the legitimate-interest tier (services/reporting/api/entitlement.py).
"""

from __future__ import annotations

from contracts.custody import HandlerRegistryChanged
from services.common.unit_of_work import Inbound, UnitOfWork
from services.reporting.store import handler_registry


async def on_registry_changed(uow: UnitOfWork, items: list[Inbound[HandlerRegistryChanged]]) -> None:
    newest: dict[str, HandlerRegistryChanged] = {}
    for item in items:
        fact = item.payload
        seen = newest.get(fact.handler.handler_id)
        if seen is None or seen.handler.version < fact.handler.version:
            newest[fact.handler.handler_id] = fact
    await handler_registry.upsert(uow.conn, [fact.handler for _, fact in sorted(newest.items())])
