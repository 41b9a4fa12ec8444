"""Identity HTTP routes of OEMs: minting (one, bulk), reading, amending, versions."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import orjson
import pydantic
from fastapi import APIRouter, Header, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, Field, TypeAdapter

from contracts.identity import AmendPassportRequest, BulkMintRequest, PassportSpec
from services.common.auth import Principal, Role, require_roles
from services.common.db import DbConnection
from services.common.http_uow import Writes, http_write
from services.common.outbox import Outbox
from services.identity.api.common import (
    BULK_BODY_LIMIT,
    DEFAULT_BODY_LIMIT,
    ERROR_RESPONSES,
    MAX_VERSION,
    READERS,
    etag,
    gc_paused,
    limited_route,
    parse_if_match,
    passport_id_of,
    passport_not_found,
    reader_tenant,
    runtime_of,
    tenant_of,
)
from services.identity.domain import passports
from services.identity.domain.violations import fail_if, pydantic_violations
from services.identity.store import passports as store
from services.identity.usecases import amend, mint

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/identity/v1", tags=["identity"], route_class=limited_route(DEFAULT_BODY_LIMIT), responses=ERROR_RESPONSES
)
bulk_router = APIRouter(
    prefix="/identity/v1", tags=["identity"], route_class=limited_route(BULK_BODY_LIMIT), responses=ERROR_RESPONSES
)

MINTERS = require_roles(Role.oem_admin, Role.oem_user)
BULK_REQUEST = TypeAdapter(BulkMintRequest)
LOG_TIMINGS_FROM = 1000


class MintResult(BaseModel):
    battery_identifier: str = Field(description="The OEM's identifier, as sent.")
    passport_id: str = Field(description="Its passport (new, or the one it already had).")
    public_uri: str = Field(description="URI encoded in the QR code.")
    created: bool = Field(description="False when the tenant already had a passport for this identifier.")


class BulkMintResponse(BaseModel):
    minted: int = Field(description="Passports created by this request.")
    existing: int = Field(description="Identifiers that already had a passport (returned, not minted again).")
    passports: list[MintResult] = Field(description="One result per passport, in request order.")


class AmendResponse(BaseModel):
    passport_id: str = Field(description="The passport.")
    version: int = Field(description="Its current version (the new one, or the unchanged one).")
    amended: bool = Field(description="False when the patch changed nothing: no version, no fact.")
    changed_fields: list[str] = Field(description="Top-level fields the amendment changed.")
    changed_at: str = Field(description="When the current version was recorded.")
    changed_by: str = Field(description="Who recorded it.")
    reason: str = Field(description="Why.")


class VersionSummary(BaseModel):
    version: int
    changed_at: str
    changed_by: str
    reason: str
    changed_fields: list[str]
    extension_schema_version: int | None


async def _mint(
    request: Request, principal: Principal, items: list[passports.MintItem], laps: mint.Laps | None = None
) -> mint.MintOutcome:
    runtime = runtime_of(request)
    write = http_write(request)
    tenant = tenant_of(principal)
    laps = laps or mint.Laps()

    async def work(conn: DbConnection, outbox: Outbox) -> mint.MintOutcome:
        return await mint.mint_items(
            conn, outbox, runtime.settings, tenant=tenant, minted_by=principal.name, items=items, laps=laps
        )

    outcome = await write.run(principal, work)
    laps.lap("outbox+commit")
    return outcome


@router.post(
    "/passports",
    response_model=MintResult,
    status_code=status.HTTP_201_CREATED,
    summary="Mint one passport (idempotent per battery identifier)",
    responses={200: {"description": "The tenant already had a passport for this identifier; it is returned."}},
)
async def mint_one(
    spec: PassportSpec, request: Request, response: Response, principal: Annotated[Principal, MINTERS]
) -> MintResult:
    outcome = await _mint(request, principal, passports.items_from_specs([spec], path=None))
    result = outcome.results[0]
    if not result.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/identity/v1/passports/{result.passport_id}"
    return MintResult(
        battery_identifier=result.battery_identifier,
        passport_id=result.passport_id,
        public_uri=result.public_uri,
        created=result.created,
    )


_BULK_POINTER = "#/paths/~1identity~1v1~1passports:bulk/post/requestBody/content/application~1json/schema"


@bulk_router.post(
    "/passports:bulk",
    response_model=BulkMintResponse,
    summary="Mint up to 100,000 passports in one request (all or nothing; retrying mints nothing twice)",
    description="Give model-level values once in `defaults` (category, product family, static data, extension "
    "values) and per passport its subject and whatever differs. Body limit 64 MiB (413 beyond).",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": BulkMintRequest.model_json_schema(ref_template=_BULK_POINTER + "/$defs/{model}")
                }
            },
        }
    },
)
async def mint_bulk(request: Request, principal: Annotated[Principal, MINTERS]) -> Response:
    with gc_paused():
        return await _mint_bulk(request, principal)


async def _mint_bulk(request: Request, principal: Principal) -> Response:
    laps = mint.Laps()
    raw = await request.body()
    laps.lap("receive")
    # Validated from the raw bytes in one pass (pydantic-core), not json.loads + model validation.
    try:
        body = BULK_REQUEST.validate_json(raw)
    except pydantic.ValidationError as exc:
        fail_if(pydantic_violations(exc))
        raise  # unreachable: a ValidationError has errors
    items = passports.items_from_bulk(body)
    laps.lap("parse")
    outcome = await _mint(request, principal, items, laps)
    created = outcome.created
    payload = orjson.dumps(
        {
            "minted": created,
            "existing": len(outcome.results) - created,
            "passports": [
                {
                    "battery_identifier": r.battery_identifier,
                    "passport_id": r.passport_id,
                    "public_uri": r.public_uri,
                    "created": r.created,
                }
                for r in outcome.results
            ],
        }
    )
    laps.lap("respond")
    if len(items) >= LOG_TIMINGS_FROM:
        log.info("bulk mint of %d passports (%d new): %s", len(items), created, laps)
    return Response(payload, media_type="application/json")


@router.get("/passports/{passport_id}", summary="The owner's view of a passport's current static data")
async def read_passport(
    passport_id: str, request: Request, response: Response, principal: Annotated[Principal, READERS]
) -> dict[str, Any]:
    row = await store.get_passport(runtime_of(request).pool, reader_tenant(principal), passport_id_of(passport_id))
    if row is None:
        raise passport_not_found(passport_id)
    response.headers["ETag"] = etag(row["current_version"])
    return row


@router.patch(
    "/passports/{passport_id}",
    response_model=AmendResponse,
    summary="Amend a passport's static data (a new version; nothing is overwritten)",
    description="A JSON merge patch on the static data and/or the extension values, with the reason. Send "
    '`If-Match: "<version>"` to amend only that version (412 otherwise); without it, amendments of one '
    "passport are applied one after the other.",
    responses={
        404: {"description": "No such passport of your tenant."},
        412: {"description": "If-Match names another version than the current one."},
    },
)
async def amend_passport(
    passport_id: str,
    amendment: AmendPassportRequest,
    request: Request,
    response: Response,
    principal: Annotated[Principal, MINTERS],
    write: Writes,
    if_match: Annotated[str | None, Header(description='The version you amend, e.g. "3".')] = None,
) -> AmendResponse:
    runtime = runtime_of(request)
    tenant = tenant_of(principal)
    expected = parse_if_match(if_match)
    canonical = passport_id_of(passport_id)
    try:
        outcome = await write.run(
            principal,
            lambda conn, outbox: amend.amend_passport(
                conn,
                outbox,
                runtime.settings,
                tenant=tenant,
                passport_id=canonical,
                request=amendment,
                amended_by=principal.name,
                if_match=expected,
            ),
        )
    except amend.PassportNotFound:
        raise passport_not_found(passport_id) from None
    except amend.VersionMismatch as mismatch:
        raise HTTPException(
            status.HTTP_412_PRECONDITION_FAILED,
            {
                "reason": "version_mismatch",
                "message": f"The passport is at version {mismatch.current}, not {expected}; read it again, "
                "re-apply your change and send it with the current version.",
                "current_version": mismatch.current,
            },
            headers={"ETag": etag(mismatch.current)},
        ) from None
    response.headers["ETag"] = etag(outcome.version)
    return AmendResponse(
        passport_id=outcome.passport_id,
        version=outcome.version,
        amended=outcome.amended,
        changed_fields=outcome.changed_fields,
        changed_at=outcome.changed_at.isoformat(),
        changed_by=outcome.changed_by,
        reason=outcome.reason,
    )


@router.get(
    "/passports/{passport_id}/versions",
    response_model=list[VersionSummary],
    summary="Every version of a passport: who changed what, when and why",
)
async def list_versions(
    passport_id: str, request: Request, principal: Annotated[Principal, READERS]
) -> list[VersionSummary]:
    rows = await store.list_versions(runtime_of(request).pool, reader_tenant(principal), passport_id_of(passport_id))
    if rows is None:
        raise passport_not_found(passport_id)
    return [
        VersionSummary(
            version=r["version"],
            changed_at=r["changed_at"].isoformat(),
            changed_by=r["changed_by"],
            reason=r["reason"],
            changed_fields=list(r["changed_fields"]),
            extension_schema_version=r["extension_schema_version"],
        )
        for r in rows
    ]


@router.get("/passports/{passport_id}/versions/{version}", summary="The data of one version of a passport")
async def read_version(
    passport_id: str,
    version: Annotated[int, Path(ge=1, le=MAX_VERSION)],
    request: Request,
    principal: Annotated[Principal, READERS],
) -> dict[str, Any]:
    pool = runtime_of(request).pool
    row = await store.get_version(pool, reader_tenant(principal), passport_id_of(passport_id), version)
    if row is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            {"reason": "version_not_found", "message": f"Passport {passport_id} has no version {version} you can see."},
        )
    return row
