"""Mint passports: what is new for the tenant gets a passport and a `PassportMinted` fact, in the caller's
transaction; the same (tenant, battery identifier) again yields the passport it already has. Called by the HTTP
routes (one, bulk), the mint-request subscriber and the second-life use case."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts import topics
from contracts.envelope import service_source
from contracts.errors import Violation
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.settings import Settings
from services.identity.domain import extensions, gtin_prefixes, passports
from services.identity.domain.documents import StaticDocuments
from services.identity.domain.violations import fail_if
from services.identity.messaging import passport_minted
from services.identity.store import extension_schemas
from services.identity.store import passports as store
from services.identity.store.gtin_prefixes import verified_prefixes

GTIN_SERIAL_TAKEN = "gtin_serial_taken"
LZ4_FROM_PASSPORTS = 1000
SOURCE = service_source("identity")


@dataclass(frozen=True, slots=True)
class Minted:
    battery_identifier: str
    passport_id: str
    public_uri: str
    created: bool


class Laps:
    """Seconds spent per step of a large request, logged so that a slow bulk mint shows where it went."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = self.seconds.get(step, 0.0) + now - self._last
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{step} {seconds:.2f}s" for step, seconds in self.seconds.items())


@dataclass(frozen=True)
class MintOutcome:
    results: list[Minted]

    @property
    def created(self) -> int:
        return sum(1 for r in self.results if r.created)


async def extension_validators(
    conn: DbConnection, tenant: str, items: Sequence[passports.MintItem]
) -> dict[str, extensions.ExtensionValidator]:
    families = sorted({item.product_family for item in items if item.extensions and item.product_family})
    schemas = await extension_schemas.latest_extension_schemas(conn, tenant, families)
    return {
        family: extensions.ExtensionValidator(family, row["version"], row["json_schema"])
        for family, row in schemas.items()
    }


async def gtin_ownership_violations(
    conn: DbConnection, tenant: str, items: Sequence[passports.MintItem]
) -> list[Violation]:
    """Every item naming a GTIN outside the tenant's verified GS1 company prefixes (gtin_prefix_not_owned). The
    GTINs are valid (passports.check_items ran); a bulk request's items mostly share one, decided once."""
    named = [item for item in items if item.subject.gtin]
    if not named:
        return []
    prefixes = await verified_prefixes(conn, tenant)
    decided: dict[str, bool] = {}
    found = []
    for item in named:
        gtin14 = str(item.subject.gtin).zfill(14)
        ok = decided.get(gtin14)
        if ok is None:
            ok = decided[gtin14] = gtin_prefixes.owned(gtin14, prefixes)
        if not ok:
            found.append(gtin_prefixes.not_owned(f"{item.path}.subject.gtin".lstrip("."), gtin14))
    return found


async def mint_items(
    conn: DbConnection,
    outbox: Outbox,
    settings: Settings,
    *,
    tenant: str,
    minted_by: str,
    items: Sequence[passports.MintItem],
    now: datetime | None = None,
    laps: Laps | None = None,
) -> MintOutcome:
    """Mint what is new; the same (tenant, identifier) yields the same passport and no second fact."""
    now = now or datetime.now(UTC)
    laps = laps or Laps()
    violations = passports.check_items(items, now=now)
    validators = await extension_validators(conn, tenant, items)
    violations += passports.check_extensions(items, validators)
    fail_if(violations)
    planned = passports.plan_passports(
        items, tenant=tenant, minted_by=minted_by, now=now, resolver_base=settings.public_base_url
    )
    laps.lap("rules")
    if len(planned) >= LZ4_FROM_PASSPORTS and await store.lz4_available(conn):
        # Each minted fact carries its ~5 kB of static data; lz4 TOAST-compresses them ~3x faster than pglz.
        await store.compress_with_lz4(conn)
    documents = StaticDocuments()
    schema_versions = {family: validator.version for family, validator in validators.items()}
    existing = await store.existing_by_identifier(conn, tenant, [p.battery_identifier for p in planned])
    fresh = [p for p in planned if p.battery_identifier not in existing]
    # New passports only: a retried mint of one made before its prefix was revoked still answers with it.
    fail_if(await gtin_ownership_violations(conn, tenant, [p.item for p in fresh]))
    created = await store.insert_passports(conn, fresh, documents, schema_versions)
    laps.lap("store")
    if len(created) < len(fresh):  # minted meanwhile by a concurrent request, or another tenant's GTIN + serial
        existing.update(
            await store.existing_by_identifier(
                conn, tenant, [p.battery_identifier for p in fresh if p.passport_id not in created]
            )
        )
        taken = [
            Violation(
                field=f"{p.item.path}.subject.battery_identifier".lstrip("."),
                reason=GTIN_SERIAL_TAKEN,
                message=f"GTIN {p.item.subject.gtin} with serial {p.battery_identifier!r} already has a passport "
                "of another operator; a GTIN and serial name one battery. Check the GTIN.",
            )
            for p in fresh
            if p.passport_id not in created and p.battery_identifier not in existing
        ]
        fail_if(taken)  # the caller's transaction rolls back what was inserted
    new = [p for p in planned if p.passport_id in created]
    schemas = {family: validator.schema for family, validator in validators.items()}
    topic = settings.topic(topics.PASSPORT_MINTED.name)
    for fact in passport_minted.minted_rows(new, documents, topic=topic, source=SOURCE, extension_schemas=schemas):
        outbox.add_row(fact)
    laps.lap("facts")
    results = []
    for p in planned:
        if p.passport_id in created:
            results.append(Minted(p.battery_identifier, p.passport_id, p.public_uri, True))
        else:
            known = existing[p.battery_identifier]
            results.append(Minted(p.battery_identifier, known["passport_id"], known["public_uri"], False))
    return MintOutcome(results)
