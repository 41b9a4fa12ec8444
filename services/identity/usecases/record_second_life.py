"""Record a second-life operation (Art. 77(7)): mint the new battery's passport, linked to its predecessors, and
supersede them, each with a `PassportSuperseded` fact."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from contracts import topics
from contracts.identity import PassportSuperseded, SecondLifeRequest
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.settings import Settings
from services.identity.domain import passports, second_life
from services.identity.domain.violations import fail_if
from services.identity.store import lifecycle
from services.identity.store import passports as store
from services.identity.usecases.mint import Minted, mint_items


@dataclass(frozen=True)
class SecondLifeOutcome:
    minted: Minted
    operation: str
    status: str
    predecessor_ids: list[str]


async def record_second_life(
    conn: DbConnection,
    outbox: Outbox,
    settings: Settings,
    *,
    tenant: str,
    recorded_by: str,
    owner_admin: bool,
    request: SecondLifeRequest,
    now: datetime | None = None,
) -> SecondLifeOutcome:
    """Mint the new battery's passport under `tenant`, linked to its predecessors, and supersede them.

    One transaction with the outbox: the passport, its `PassportMinted` (with the predecessor ids), the
    operation, and per predecessor its new status and responsible operator with a `PassportSuperseded`. The
    same (tenant, battery identifier) again returns the passport made the first time, and publishes nothing.
    """
    now = now or datetime.now(UTC)
    checked = second_life.check_request(request, now=now)
    fail_if(checked.problems)
    identifier = request.subject.battery_identifier
    ids = checked.predecessor_ids
    await lifecycle.lock_second_life(conn, tenant, identifier, ids)
    existing = await store.existing_by_identifier(conn, tenant, [identifier])
    if identifier in existing:
        recorded = await lifecycle.recorded_operation(conn, tenant, identifier)
        second_life.check_retry(recorded, request, ids)
        row = existing[identifier]
        minted = Minted(identifier, row["passport_id"], row["public_uri"], False)
        assert recorded is not None
        return SecondLifeOutcome(minted, recorded.operation, checked.status.value, list(recorded.predecessor_ids))
    found = await lifecycle.predecessors(conn, ids)
    second_life.authorise(ids, found, caller_tenant=tenant, owner_admin=owner_admin)
    item = passports.MintItem(
        path="",
        subject=request.subject,
        category=request.category,
        product_family=request.product_family,
        static_data=request.static_data.model_copy(update={"battery_status": checked.status}),
        extensions=request.extensions,
        static_data_path="static_data",
        extensions_path="extensions",
        predecessor_ids=tuple(ids),
    )
    outcome = await mint_items(conn, outbox, settings, tenant=tenant, minted_by=recorded_by, items=[item], now=now)
    minted = outcome.results[0]
    await lifecycle.record_operation(
        conn,
        successor_id=minted.passport_id,
        tenant=tenant,
        battery_identifier=identifier,
        operation=request.operation.value,
        predecessor_ids=ids,
        occurred_at=checked.occurred_at,
        recorded_by=recorded_by,
        reason=request.reason,
    )
    owners = {pid: found[pid].tenant for pid in ids}
    await lifecycle.supersede(
        conn, owners, status=checked.status.value, responsible_operator=tenant, successor_id=minted.passport_id
    )
    topic = settings.topic(topics.PASSPORT_SUPERSEDED.name)
    for pid in ids:
        outbox.add(
            topic,
            PassportSuperseded(
                passport_id=pid,
                tenant=owners[pid],
                successor_id=minted.passport_id,
                successor_tenant=tenant,
                operation=request.operation,
                status=checked.status,
                responsible_operator=tenant,
                superseded_at=checked.occurred_at,
                superseded_by=recorded_by,
            ),
            key=pid,
            subject=pid,
        )
    return SecondLifeOutcome(minted, request.operation.value, checked.status.value, ids)
