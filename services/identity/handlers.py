"""Identity use cases: one function per command."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from contracts import topics
from contracts.errors import ValidationFailed, Violation
from contracts.identity import MintPassportsRequested, PassportMinted, PassportSpec
from services.common.auth import principal_from_source
from services.common.consumer import Inbound, UnitOfWork
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.settings import Settings
from services.identity import domain, store


class MintResult(BaseModel):
    battery_identifier: str = Field(description="The OEM's identifier, as sent.")
    passport_id: str = Field(description="Its passport (new, or the one it already had).")
    public_uri: str = Field(description="URI encoded in the QR code.")
    created: bool = Field(description="False when the tenant already had a passport for this identifier.")


@dataclass(frozen=True)
class MintOutcome:
    results: list[MintResult]

    @property
    def created(self) -> int:
        return sum(1 for r in self.results if r.created)


async def mint_passports(
    conn: DbConnection,
    outbox: Outbox,
    settings: Settings,
    *,
    tenant: str,
    minted_by: str,
    specs: list[PassportSpec],
    now: datetime | None = None,
) -> MintOutcome:
    """Mint what is new, inside the caller's transaction; the same (tenant, identifier) yields the same passport."""
    now = now or datetime.now(UTC)
    domain.check_specs(specs, now=now)
    planned = domain.plan_passports(
        specs, tenant=tenant, minted_by=minted_by, now=now, resolver_base=settings.public_base_url
    )
    created = await store.insert_passports(conn, planned)
    existing = {}
    if len(created) < len(planned):
        existing = await store.existing_by_identifier(
            conn, tenant, [p.battery_identifier for p in planned if p.passport_id not in created]
        )
    results = []
    for p in planned:
        if p.passport_id in created:
            outbox.add(
                settings.topic(topics.PASSPORT_MINTED.name),
                PassportMinted(
                    passport_id=p.passport_id,
                    tenant=tenant,
                    subject=p.spec.subject,
                    category=p.spec.category,
                    product_family=p.spec.product_family,
                    public_uri=p.public_uri,
                    static_data=p.spec.static_data,
                    extensions=p.spec.extensions,
                    version=1,
                    minted_at=now,
                    minted_by=minted_by,
                ),
                key=p.passport_id,
                subject=p.passport_id,
            )
            results.append(
                MintResult(
                    battery_identifier=p.battery_identifier,
                    passport_id=p.passport_id,
                    public_uri=p.public_uri,
                    created=True,
                )
            )
        else:
            row = existing[p.battery_identifier]
            results.append(
                MintResult(
                    battery_identifier=p.battery_identifier,
                    passport_id=row["passport_id"],
                    public_uri=row["public_uri"],
                    created=False,
                )
            )
    return MintOutcome(results)


async def on_mint_requests(uow: UnitOfWork, items: list[Inbound[MintPassportsRequested]]) -> None:
    """Mint requests from the topic: the tenant is the one named by the message source."""
    for item in uow.each(items):
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
        try:
            async with uow.conn.transaction():  # savepoint: a refused request leaves the others intact
                await mint_passports(
                    uow.conn,
                    uow.outbox,
                    uow.settings,
                    tenant=principal[1],
                    minted_by=item.envelope.source,
                    specs=list(item.payload.passports),
                    now=item.envelope.time,
                )
        except ValidationFailed as failed:
            uow.reject(item, failed.violations)
