"""Use cases of the handler registry: register, amend, verify and suspend a handler; every change is a
`HandlerRegistryChanged` fact on `bpass.custody.handler-registry.v1`, written to the outbox with the change."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from contracts import topics
from contracts.custody import HandlerChange, HandlerDetails, HandlerRecord, HandlerRegistration, HandlerRegistryChanged
from contracts.errors import Violation
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.settings import Settings
from services.custody.domain.registry import IllegalRegistryChange, amend, change_state, register
from services.custody.registry import store


class RegistryRefused(Exception):
    """The change breaks a rule: every violation, and the status it answers with."""

    def __init__(self, violations: list[Violation], status_code: int = 422) -> None:
        super().__init__("; ".join(f"{v.field}: {v.reason}" for v in violations))
        self.violations = violations
        self.status_code = status_code


class HandlerExists(Exception):
    def __init__(self, handler_id: str, existing: HandlerRecord | None) -> None:
        super().__init__(handler_id)
        self.handler_id = handler_id
        self.existing = existing


class HandlerNotFound(Exception):
    pass


GLN_TAKEN = Violation(
    field="identifiers",
    reason="gln_taken",
    message="A GLN of this handler or of its sites belongs to another registered handler.",
)


def _publish(
    outbox: Outbox, settings: Settings, change: HandlerChange, record: HandlerRecord, by: str, reason: str | None
) -> None:
    fact = HandlerRegistryChanged(
        change=change, handler=record, changed_at=record.updated_at, changed_by=by, reason=reason
    )
    outbox.add(settings.topic(topics.CUSTODY_HANDLER_REGISTRY.name), fact, key=record.handler_id, subject=None)


async def register_handler(
    conn: DbConnection, outbox: Outbox, settings: Settings, registration: HandlerRegistration, *, by: str, now: datetime
) -> HandlerRecord:
    record, violations = register(registration, now)
    if violations:
        raise RegistryRefused(violations)
    try:
        async with conn.transaction():
            created = await store.insert_handler(conn, record)
    except asyncpg.UniqueViolationError:
        raise RegistryRefused([GLN_TAKEN], 409) from None
    if not created:
        raise HandlerExists(record.handler_id, await store.get_handler(conn, record.handler_id))
    _publish(outbox, settings, HandlerChange.registered, record, by, None)
    return record


async def amend_handler(
    conn: DbConnection,
    outbox: Outbox,
    settings: Settings,
    handler_id: str,
    details: HandlerDetails,
    *,
    by: str,
    now: datetime,
) -> HandlerRecord:
    record = await store.get_handler(conn, handler_id, lock=True)
    if record is None:
        raise HandlerNotFound(handler_id)
    amended, violations = amend(record, details, now)
    if violations:
        raise RegistryRefused(violations)
    try:
        async with conn.transaction():
            await store.update_handler(conn, amended)
    except asyncpg.UniqueViolationError:
        raise RegistryRefused([GLN_TAKEN], 409) from None
    _publish(outbox, settings, HandlerChange.amended, amended, by, None)
    return amended


async def change_handler_state(
    conn: DbConnection,
    outbox: Outbox,
    settings: Settings,
    handler_id: str,
    change: HandlerChange,
    reason: str | None,
    *,
    by: str,
    now: datetime,
) -> HandlerRecord:
    record = await store.get_handler(conn, handler_id, lock=True)
    if record is None:
        raise HandlerNotFound(handler_id)
    try:
        changed = change_state(record, change, reason, now)
    except IllegalRegistryChange as illegal:
        raise RegistryRefused([illegal.violation], 409) from None
    await store.update_handler(conn, changed)
    _publish(outbox, settings, change, changed, by, reason)
    return changed
