"""Import passports another platform exported: each passport of the document the domain mapped and checked
(domain/imports/) is minted in the caller's tenant through the mint use case (the same rules, GTIN-prefix ownership
and idempotency as a bulk mint); one passport's refusal does not refuse the others."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.errors import ValidationFailed, Violation
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.settings import Settings
from services.identity.domain import passports
from services.identity.domain.imports.formats import PreparedImport
from services.identity.store import passports as store
from services.identity.usecases import mint

MINTED = "minted"
ALREADY_PRESENT = "already_present"
REFUSED = "refused"
STATUSES = (MINTED, ALREADY_PRESENT, REFUSED)
# A passport refused inside the mint (another operator's GTIN + serial) is set aside and the rest minted again.
MINT_ROUNDS = 3
IMPORT_NOT_SETTLED = "import_not_settled"


@dataclass(frozen=True)
class ImportedResult:
    path: str
    battery_identifier: str | None
    status: str
    passport_id: str | None
    public_uri: str | None
    violations: list[Violation]
    not_imported: list[Violation]


async def import_passports(
    conn: DbConnection,
    outbox: Outbox,
    settings: Settings,
    *,
    tenant: str,
    minted_by: str,
    prepared: PreparedImport,
    now: datetime | None = None,
) -> list[ImportedResult]:
    """Mint the prepared passports that may be minted; one result per passport of the document, in its order."""
    now = now or datetime.now(UTC)
    prepared = prepared.copy()  # a retried unit of work starts again from what the rules decided
    items = list(prepared.items.values())
    validators = await mint.extension_validators(conn, tenant, items)
    extension_violations = passports.check_extensions(items, validators)
    if extension_violations:  # the import's defaults.extensions: every passport shares them
        raise ValidationFailed(extension_violations)
    existing = await store.existing_by_identifier(conn, tenant, [item.subject.battery_identifier for item in items])
    fresh = [item for item in items if item.subject.battery_identifier not in existing]
    prepared.refuse(await mint.gtin_ownership_violations(conn, tenant, fresh))
    minted: dict[str, mint.Minted] = {}
    for _ in range(MINT_ROUNDS):
        remaining = list(prepared.items.values())
        if not remaining:
            break
        try:
            async with conn.transaction():  # a savepoint: a refused round leaves nothing behind
                outcome = await mint.mint_items(
                    conn, outbox, settings, tenant=tenant, minted_by=minted_by, items=remaining, now=now
                )
        except ValidationFailed as failed:
            prepared.refuse(failed.violations)
            continue
        minted = {result.battery_identifier: result for result in outcome.results}
        break
    if prepared.items and not minted:
        raise ValidationFailed(
            [
                Violation(
                    field="document",
                    reason=IMPORT_NOT_SETTLED,
                    message="Concurrent mints kept refusing passports of this import; send it again.",
                )
            ]
        )
    results = []
    for index, imported in enumerate(prepared.imported):
        item = prepared.items.get(index)
        done = minted.get(item.subject.battery_identifier) if item is not None else None
        if done is None:
            results.append(
                ImportedResult(
                    imported.path,
                    imported.battery_identifier,
                    REFUSED,
                    None,
                    None,
                    prepared.refused.get(index, []),
                    imported.not_imported,
                )
            )
            continue
        results.append(
            ImportedResult(
                imported.path,
                done.battery_identifier,
                MINTED if done.created else ALREADY_PRESENT,
                done.passport_id,
                done.public_uri,
                [],
                imported.not_imported,
            )
        )
    return results
