"""Reading pack membership: the members of a pack and the pack of a module, at an event time (default now).

Who sees it: as the rest of custody, an OEM key (and an auditor its tenant granted) for the tenant's passports,
a handler key for the passports whose custody log names it (the batteries it held or was sent), authorities and
platform operators for every passport; any other reader gets `passport_not_found`, as for an unknown passport. A
member or pack of another tenant the reader may not see is listed by the identifier the events named, its passport
id withheld.

The passport asked about is read on the caller's connection (a tenant's is confined to its passports by row-level
security); the aggregation observations (platform only: they name no tenant) and the passports they name are read
on the platform's, and what of them is shown is decided here, by the rules above.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from contracts.errors import Violation
from services.common.auth import OEM_ROLES, Principal, Role
from services.common.db import DbConnection
from services.custody.membership import intervals as membership
from services.custody.membership import store
from services.custody.membership.intervals import Interval

ALL_PASSPORTS_ROLES: Final = frozenset({Role.platform_operator, Role.regulator})
TENANT_ROLES: Final = OEM_ROLES | {Role.auditor}
HANDLER_ROLES: Final = frozenset({Role.carrier, Role.collector, Role.recycler, Role.refiner, Role.repairer})


class PassportNotVisible(Exception):
    """The passport is unknown, or not the reader's to see (the two are answered alike)."""

    def __init__(self, passport_id: str) -> None:
        self.violation = Violation(
            field="passport_id", reason="passport_not_found", message=f"No passport {passport_id} is visible to you."
        )
        super().__init__(self.violation.message)


async def _visible(db: DbConnection | asyncpg.Pool, principal: Principal, passports: dict[str, str]) -> set[str]:
    """The passports (id -> tenant) `principal` may see."""
    if principal.role in ALL_PASSPORTS_ROLES:
        return set(passports)
    if principal.role in TENANT_ROLES and principal.tenant:
        return {pid for pid, tenant in passports.items() if tenant == principal.tenant}
    if principal.role in HANDLER_ROLES and principal.tenant:
        return await store.held_by_handler(db, list(passports), principal.tenant)
    return set()


@dataclass(frozen=True)
class _Subject:
    passport_id: str
    keys: list[str]


async def _subject(db: DbConnection | asyncpg.Pool, principal: Principal, passport_id: str) -> _Subject:
    row = await store.passport(db, passport_id)
    if row is None or passport_id not in await _visible(db, principal, {passport_id: row["tenant"]}):
        raise PassportNotVisible(passport_id)
    return _Subject(passport_id, store.keys_of(row))


async def _fold(
    platform: DbConnection | asyncpg.Pool, subject: _Subject, *, as_parent: bool
) -> tuple[list[Interval], dict[str, str]]:
    """The intervals of the observations that decide the subject's membership, every identifier folded onto the
    passport it names when it names exactly one; and the tenant of each passport named."""
    parents, children = (subject.keys, []) if as_parent else ([], subject.keys)
    observations = await store.relevant(platform, parents, children)
    keys = {o.parent for o in observations} | {o.child for o in observations if o.child}
    named = await store.passports_of_keys(platform, list(keys - set(subject.keys)))
    alias = {key: matches[0][0] for key, matches in named.items() if len(matches) == 1}
    alias.update({key: subject.passport_id for key in subject.keys})
    tenants = {pid: tenant for matches in named.values() if len(matches) == 1 for pid, tenant in matches}
    return membership.fold(observations, lambda key: alias.get(key, key)), tenants


def _stay(interval: Interval, other: str, visible: set[str], tenants: dict[str, str]) -> dict[str, Any]:
    """One stay of a child in a pack; `other` names the side that is not the subject."""
    known = other in tenants
    return {
        "passport_id": other if known and other in visible else None,
        "identifier": None if known else other,
        "added_at": interval.added_at.isoformat(),
        "added_by_event_hash": interval.added_by,
        "removed_at": interval.removed_at.isoformat() if interval.removed_at else None,
        "removed_by_event_hash": interval.removed_by,
        "moved": interval.moved,
        "last_confirmed_at": interval.last_confirmed_at.isoformat() if interval.last_confirmed_at else None,
    }


async def members_of(
    db: DbConnection | asyncpg.Pool,
    platform: DbConnection | asyncpg.Pool,
    principal: Principal,
    passport_id: str,
    at: datetime,
) -> dict[str, Any]:
    """The children the pack holds at `at`, and every stay any child ever had in it."""
    subject = await _subject(db, principal, passport_id)
    folded, tenants = await _fold(platform, subject, as_parent=True)
    stays = [i for i in folded if i.parent == passport_id]
    visible = await _visible(platform, principal, {c.child: tenants[c.child] for c in stays if c.child in tenants})
    return {
        "passport_id": passport_id,
        "at": at.isoformat(),
        "members": [_stay(i, i.child, visible, tenants) for i in membership.members_at(stays, passport_id, at)],
        "history": [_stay(i, i.child, visible, tenants) for i in stays],
    }


async def pack_of(
    db: DbConnection | asyncpg.Pool,
    platform: DbConnection | asyncpg.Pool,
    principal: Principal,
    passport_id: str,
    at: datetime,
) -> dict[str, Any]:
    """The pack the passport is in at `at` (None: none), and every pack it was ever in."""
    subject = await _subject(db, principal, passport_id)
    folded, tenants = await _fold(platform, subject, as_parent=False)
    stays = [i for i in folded if i.child == passport_id]
    visible = await _visible(platform, principal, {s.parent: tenants[s.parent] for s in stays if s.parent in tenants})
    current = membership.pack_at(stays, passport_id, at)
    return {
        "passport_id": passport_id,
        "at": at.isoformat(),
        "pack": _stay(current, current.parent, visible, tenants) if current else None,
        "history": [_stay(i, i.parent, visible, tenants) for i in stays],
    }
