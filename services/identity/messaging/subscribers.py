"""Identity's subscribers: each turns a batch of one topic's records into use-case calls."""

from __future__ import annotations

from contracts.custody import CustodyRecorded
from contracts.errors import ValidationFailed, Violation
from contracts.identity import MintPassportsRequested
from contracts.recovery import PassportCeased
from services.common.auth import principal_from_source
from services.common.unit_of_work import Inbound, UnitOfWork
from services.identity.domain import passports
from services.identity.domain.violations import unstorable_text
from services.identity.usecases import mint
from services.identity.usecases.record_custody import record_ceased, record_custody


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
                await mint.mint_items(
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


async def on_custody_recorded(uow: UnitOfWork, items: list[Inbound[CustodyRecorded]]) -> None:
    """Who holds each battery now: custody's log entries of the batch, in order."""
    await record_custody(uow.conn, [item.payload for item in items])


async def on_passport_ceased(uow: UnitOfWork, items: list[Inbound[PassportCeased]]) -> None:
    """Recycled batteries: their passports ceased."""
    await record_ceased(uow.conn, [item.payload for item in items])
