"""Identity use cases: one function per command, each inside the caller's transaction."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.envelope import service_source
from contracts.errors import ValidationFailed, Violation
from contracts.identity import AmendPassportRequest, MintPassportsRequested, PassportAmended
from services.common.auth import principal_from_source
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.settings import Settings
from services.common.unit_of_work import Inbound, UnitOfWork
from services.identity import facts
from services.identity.domain import extensions, gtin_prefixes, passports
from services.identity.domain.documents import StaticDocuments, document_of_json
from services.identity.domain.violations import fail_if, unstorable_text
from services.identity.store import extension_schemas
from services.identity.store import passports as store
from services.identity.store.gtin_prefixes import verified_prefixes

GTIN_SERIAL_TAKEN = "gtin_serial_taken"
LZ4_FROM_PASSPORTS = 1000
SOURCE = service_source("identity")


class MintResult(BaseModel):
    battery_identifier: str = Field(description="The OEM's identifier, as sent.")
    passport_id: str = Field(description="Its passport (new, or the one it already had).")
    public_uri: str = Field(description="URI encoded in the QR code.")
    created: bool = Field(description="False when the tenant already had a passport for this identifier.")


@dataclass(frozen=True, slots=True)
class Minted:
    battery_identifier: str
    passport_id: str
    public_uri: str
    created: bool

    def as_result(self) -> MintResult:
        return MintResult(
            battery_identifier=self.battery_identifier,
            passport_id=self.passport_id,
            public_uri=self.public_uri,
            created=self.created,
        )


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


class PassportNotFound(Exception):
    """No passport with this id is visible to the caller."""


class VersionMismatch(Exception):
    """The caller's If-Match names another version than the current one."""

    def __init__(self, current: int) -> None:
        self.current = current
        super().__init__(f"current version is {current}")


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
    for fact in facts.minted_rows(new, documents, topic=topic, source=SOURCE, extension_schemas=schemas):
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


async def on_mint_requests(uow: UnitOfWork, items: list[Inbound[MintPassportsRequested]]) -> None:
    """Mint requests from the topic: the tenant is the one named by the message source."""
    for item in items:
        principal = principal_from_source(item.envelope.source)
        if principal is None or principal[0] != "tenant":
            uow.reject(
                item,
                [
                    Violation(
                        field="headers.ce_source",
                        reason="source_not_a_tenant",
                        message="Mint requests must come from a tenant source: urn:bpass:tenant:<tenant>[:<system>].",
                    )
                ],
            )
            continue
        unstorable = unstorable_text(item.payload.model_dump(mode="json"))
        if unstorable:
            uow.reject(item, unstorable)
            continue
        try:
            async with uow.conn.transaction():  # savepoint: a refused request leaves the others intact
                await mint_items(
                    uow.conn,
                    uow.outbox,
                    uow.settings,
                    tenant=principal[1],
                    minted_by=item.envelope.source,
                    items=passports.items_from_specs(item.payload.passports),
                    now=item.envelope.time,
                )
        except ValidationFailed as failed:
            uow.reject(item, failed.violations)


# --- amendments ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AmendOutcome:
    passport_id: str
    version: int
    changed_fields: list[str]
    amended: bool
    changed_at: datetime
    changed_by: str
    reason: str


async def amend_passport(
    conn: DbConnection,
    outbox: Outbox,
    settings: Settings,
    *,
    tenant: str,
    passport_id: str,
    request: AmendPassportRequest,
    amended_by: str,
    if_match: int | None,
    now: datetime | None = None,
) -> AmendOutcome:
    """A new version of the passport's data (nothing overwritten), and its `PassportAmended` fact."""
    now = now or datetime.now(UTC)
    current = await store.lock_passport(conn, tenant, passport_id)  # serialises amendments of one passport
    if current is None:
        raise PassportNotFound(passport_id)
    version: int = current["current_version"]
    if if_match is not None and if_match != version:
        raise VersionMismatch(version)
    amendment = passports.amend(
        category=BatteryCategory(current["category"]),
        current_static=current["static_data"],
        current_extensions=current["extensions"],
        request=request,
        now=now,
    )
    schema_version: int | None = current["extension_schema_version"]
    family = current["product_family"]
    row = await extension_schemas.extension_schema(conn, tenant, family) if family and amendment.extensions else None
    if request.extensions and amendment.extensions:
        if row is None:
            raise ValidationFailed([extensions.without_schema(family, path="extensions")])
        validator = extensions.ExtensionValidator(family, row["version"], row["json_schema"])
        fail_if(validator.violations(amendment.extensions, path="extensions"))
        schema_version = row["version"]
    if not amendment.changed_fields:  # a retried or no-op amendment creates no version
        return AmendOutcome(
            passport_id, version, [], False, current["changed_at"], current["changed_by"], current["reason"]
        )
    new_version = version + 1
    await store.insert_version(
        conn,
        passport_id=passport_id,
        version=new_version,
        subject=current["subject"],
        document=document_of_json(amendment.static_json),
        extensions=amendment.extensions,
        changed_at=now,
        changed_by=amended_by,
        reason=request.reason,
        changed_fields=amendment.changed_fields,
        extension_schema_version=schema_version,
    )
    outbox.add(
        settings.topic(topics.PASSPORT_AMENDED.name),
        PassportAmended(
            passport_id=passport_id,
            tenant=tenant,
            version=new_version,
            previous_version=version,
            changed_fields=amendment.changed_fields,
            static_data=amendment.static_data,
            extensions=amendment.extensions,
            public_extensions=extensions.public_view(row["json_schema"], amendment.extensions) if row else {},
            amended_at=now,
            amended_by=amended_by,
            reason=request.reason,
        ),
        key=passport_id,
        subject=passport_id,
    )
    return AmendOutcome(passport_id, new_version, amendment.changed_fields, True, now, amended_by, request.reason)


# --- extension schemas --------------------------------------------------------------------------------------


async def declare_extension_schema(
    conn: DbConnection, *, tenant: str, family: str, schema: dict[str, Any], declared_by: str
) -> tuple[dict[str, Any], bool]:
    fail_if(extensions.check_schema(schema))
    return await extension_schemas.declare_extension_schema(
        conn,
        tenant=tenant,
        family=family,
        json_schema=schema,
        public_fields=extensions.public_paths(schema),
        declared_at=datetime.now(UTC),
        declared_by=declared_by,
    )
