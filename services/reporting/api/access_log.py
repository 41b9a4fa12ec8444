"""The read log (Art. 77(2)): every read of a passport at the legitimate-interest or authorities tier is recorded
(who, when, which passport, which fields, why) before it is answered; the owning OEM and the authorities query it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from opentelemetry import trace
from pydantic import BaseModel, Field

from contracts.attributes import AccessTier
from contracts.errors import ValidationFailed, Violation
from services.common.access import ReadPurpose
from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.db import DbConnection
from services.reporting.api.common import PassportReader, runtime_of
from services.reporting.api.queries import StrictQueryRoute
from services.reporting.domain import query

router = APIRouter(prefix="/reporting/v1", tags=["access log"], route_class=StrictQueryRoute)

LOG_READERS = require_roles(*OEM_ROLES, Role.auditor, Role.regulator)

INSERT_SQL = """INSERT INTO access_log
    (reader, role, reader_tenant, passport_id, tenant, tier, access, fields, purpose, purpose_text, trace_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"""


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


async def record_read(
    db: Any,
    reader: PassportReader,
    *,
    passport_id: str,
    tenant: str,
    tier: AccessTier,
    access: str,
    fields: Sequence[str],
) -> None:
    """One row for one read; awaited before the response is sent, so an answered read is always logged.
    `db`: the pool or a connection (autocommit: the row is durable when this returns)."""
    principal = reader.principal
    await db.execute(
        INSERT_SQL,
        principal.name,
        principal.role.value,
        principal.tenant,
        passport_id,
        tenant,
        tier.value,
        access,
        list(fields),
        reader.purpose.value if reader.purpose is not None else None,
        reader.purpose_text,
        current_trace_id(),
    )


class AccessLogEntry(BaseModel):
    id: int = Field(description="Log row id; rows are returned newest first.")
    at: datetime = Field(description="When the read was answered (UTC).")
    reader: str = Field(description="The reading principal (`role:tenant:key id`).", examples=["recycler:-:key_1a2b"])
    role: str = Field(description="The reader's role.", examples=["recycler"])
    reader_tenant: str | None = Field(description="The reader's own tenant, when its key names one.")
    passport_id: str = Field(description="The passport read.")
    tenant: str = Field(description="The tenant owning the passport.")
    tier: str = Field(description="The tier the passport was read at.", examples=["legitimate_interest"])
    access: str = Field(description="Which read: current, as_of, version, versions.", examples=["current"])
    fields: list[str] = Field(
        description="What the reader got: top-level sections and `static_data.<field>` names.",
        examples=[["passport_id", "static_data", "static_data.dismantling_documents", "status"]],
    )
    purpose: str | None = Field(description="The purpose stated (a code).", examples=["recycling"])
    purpose_text: str | None = Field(description="The purpose in the reader's words.")
    trace_id: str | None = Field(description="Trace of the request that read.")


class AccessLogPage(BaseModel):
    items: list[AccessLogEntry] = Field(description="Rows of this page, newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


def _cursor(value: str | None) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:  # "²" is a digit to str.isdigit, not to int()
        raise ValidationFailed(
            [Violation(field="cursor", reason="invalid_cursor", message="Pass the next_cursor of the previous page.")]
        )
    return int(value)


def _log_tenant(principal: Principal, requested: str | None) -> str | None:
    """Whose reads the caller may see: an OEM's and its auditors' own; a regulator's all (or one tenant's)."""
    if principal.role is Role.regulator:
        return requested or None
    if principal.tenant is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, {"reason": "no_tenant", "message": "This key names no tenant."})
    if requested and requested != principal.tenant:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, {"reason": "tenant_not_found", "message": f"No tenant {requested} for you."}
        )
    return principal.tenant


@router.get(
    "/access-log",
    response_model=AccessLogPage,
    summary="Who read your passports outside your tenant, when, which fields and why",
    description="Reads of passports at the legitimate-interest tier (value-chain operators, with their stated "
    "purpose) and at the authorities tier (regulators). An OEM and its auditors see the reads of the OEM's own "
    "passports; a regulator sees every tenant's (or one, with `tenant`). Newest first, keyset-paged. The tenant "
    "change stream and exports by the owner are owner-tier and not logged here.",
)
async def access_log(
    request: Request,
    principal: Annotated[Principal, LOG_READERS],
    passport_id: Annotated[str | None, Query(max_length=200, description="Only reads of this passport.")] = None,
    reader: Annotated[str | None, Query(max_length=300, description="Only reads by this principal.")] = None,
    purpose: Annotated[ReadPurpose | None, Query(description="Only reads stating this purpose.")] = None,
    since: Annotated[datetime | None, Query(description="Reads at or after this instant (RFC 3339).")] = None,
    until: Annotated[datetime | None, Query(description="Reads before this instant (RFC 3339).")] = None,
    tenant: Annotated[str | None, Query(max_length=63, description="Owning tenant (regulators: optional).")] = None,
    limit: Annotated[int, Query(ge=1, le=query.MAX_PAGE, description="Page size.")] = 100,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> dict[str, Any]:
    scoped = _log_tenant(principal, tenant)
    rows = await fetch_page(
        runtime_of(request).pool,
        tenant=scoped,
        passport_id=passport_id,
        reader=reader,
        purpose=purpose.value if purpose is not None else None,
        since=since,
        until=until,
        before_id=_cursor(cursor),
        limit=limit,
    )
    items = [dict(r) for r in rows[:limit]]
    return {"items": items, "next_cursor": str(items[-1]["id"]) if len(rows) > limit else None}


async def fetch_page(
    db: DbConnection | Any,
    *,
    tenant: str | None,
    passport_id: str | None,
    reader: str | None,
    purpose: str | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> list[Any]:
    """Up to `limit` + 1 rows (one more tells whether a next page exists), newest first."""
    rows: list[Any] = await db.fetch(
        """SELECT id, at, reader, role, reader_tenant, passport_id, tenant, tier, access, fields, purpose,
                  purpose_text, trace_id
             FROM access_log
            WHERE ($1::text IS NULL OR tenant = $1)
              AND ($2::text IS NULL OR passport_id = $2)
              AND ($3::text IS NULL OR reader = $3)
              AND ($4::text IS NULL OR purpose = $4)
              AND ($5::timestamptz IS NULL OR at >= $5)
              AND ($6::timestamptz IS NULL OR at < $6)
              AND ($7::bigint IS NULL OR id < $7)
            ORDER BY id DESC
            LIMIT $8""",
        tenant,
        passport_id,
        reader,
        purpose,
        since,
        until,
        before_id,
        limit + 1,
    )
    return rows
