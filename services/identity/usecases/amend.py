"""Amend a passport: a new version of its data (nothing overwritten) and its `PassportAmended` fact, in the
caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.errors import ValidationFailed
from contracts.identity import AmendPassportRequest, PassportAmended
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.settings import Settings
from services.identity.domain import extensions, passports
from services.identity.domain.documents import document_of_json
from services.identity.domain.violations import fail_if
from services.identity.store import extension_schemas
from services.identity.store import passports as store


class PassportNotFound(Exception):
    """No passport with this id is visible to the caller."""


class VersionMismatch(Exception):
    """The caller's If-Match names another version than the current one."""

    def __init__(self, current: int) -> None:
        self.current = current
        super().__init__(f"current version is {current}")


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
