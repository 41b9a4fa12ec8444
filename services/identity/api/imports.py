"""Identity HTTP route of OEMs importing passports another platform exported (Battery Pass 1.2 aspects, Catena-X
BatteryPass 6.1 aspects): each passport minted in the caller's tenant as a bulk mint would, with a result per passport
and what was not imported."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import pydantic
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from contracts.errors import Violation
from contracts.identity import MintDefaults
from services.common.auth import Principal, Role, require_roles
from services.common.db import DbConnection
from services.common.http_uow import Writes
from services.common.outbox import Outbox
from services.identity.api.common import (
    BULK_BODY_LIMIT,
    ERROR_RESPONSES,
    gc_paused,
    limited_route,
    runtime_of,
    tenant_of,
)
from services.identity.domain.imports.formats import ImportFormat, prepare
from services.identity.domain.violations import fail_if, pydantic_violations
from services.identity.usecases import imports

router = APIRouter(
    prefix="/identity/v1", tags=["identity"], route_class=limited_route(BULK_BODY_LIMIT), responses=ERROR_RESPONSES
)
MINTERS = require_roles(Role.oem_admin, Role.oem_user)

EXAMPLE = {
    "format": "batterypass-1.2",
    "defaults": {"static_data": {"battery_model": "VX-400 NMC811 82 kWh", "critical_raw_materials": ["Cobalt"]}},
    "document": {
        "format": "batterypass-1.2",
        "passports": [
            {
                "passport_id": "urn:uuid:0190d6a4-1d1c-7c3e-9f5e-4a1b2c3d4e5f",
                "aspects": {
                    "GeneralProductInformation": {
                        "productIdentifier": "https://id.voltaris.example/01/09506000134352/21/VX400-000123",
                        "batteryCategory": "ev",
                        "batteryMass": 512.5,
                        "manufacturingDate": "2026-03-02T00:00:00Z",
                    },
                    "CarbonFootprintForBatteries": {"batteryCarbonFootprint": 61.3},
                },
            }
        ],
    },
}


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: ImportFormat = Field(description="The format the document is in.", examples=["batterypass-1.2"])
    document: dict[str, Any] = Field(
        description="A whole export document as reporting writes it (`{format, ..., passports: [...]}`), or one "
        "passport of it (Catena-X: one entry `{aspect}` or a bare aspect)."
    )
    defaults: MintDefaults | None = Field(
        default=None,
        description="What the format has no place for (battery model, critical raw materials, ...) or the "
        "document lacks: category, product family, static data, extension values. A value the document gives "
        "wins (its aspects, then the `platform` member bpass exports beside them); objects are filled key by key. "
        "Not needed for a document bpass exported: its `platform` member carries what the aspects cannot.",
    )


class ImportedPassportResult(BaseModel):
    field: str = Field(description="The passport in the request (`document.passports.3`).")
    battery_identifier: str | None = Field(description="Its battery identifier, when the document gives one.")
    status: str = Field(description="`minted`, `already_present` (the tenant's passport, returned) or `refused`.")
    passport_id: str | None = Field(description="Its passport on this platform (minted or already present).")
    public_uri: str | None = Field(description="URI encoded in its QR code.")
    violations: list[Violation] = Field(description="Why it was refused: each `field` is a path in the request.")
    not_imported: list[Violation] = Field(description="Fields of the passport with no place here, and why.")


class ImportTotals(BaseModel):
    passports: int
    minted: int
    already_present: int
    refused: int


class ImportResponse(BaseModel):
    format: ImportFormat
    totals: ImportTotals
    not_imported: list[Violation] = Field(description="Fields of the document itself (its header) not imported.")
    passports: list[ImportedPassportResult] = Field(description="One result per passport, in document order.")


IMPORT_REQUEST = TypeAdapter(ImportRequest)
_POINTER = "#/paths/~1identity~1v1~1passports:import/post/requestBody/content/application~1json/schema"


@router.post(
    "/passports:import",
    response_model=ImportResponse,
    summary="Import passports exported by another platform (Battery Pass 1.2, Catena-X BatteryPass 6.1) as mints",
    description="Each passport of the document is mapped back to a mint request (battery identifier, category, "
    "static data) and minted in your tenant like a bulk mint: the same rules, the same GS1 company prefix "
    "ownership, the same idempotency (an identifier your tenant already has answers `already_present` with its "
    "passport). One passport's refusal does not refuse the others: each result says `minted`, `already_present` or "
    "`refused` with its violations, whose `field` is the path in the request (`document.passports.0.aspects.…`). "
    "Fields the format carries but this platform has no place for are listed in `not_imported`, never dropped. "
    "A Battery Pass product identifier that is a GS1 Digital Link URI gives the GTIN and serial; a Catena-X aspect "
    "gives them as idDmc and codes. What a format has no place for (the battery model in Battery Pass 1.2, the "
    "manufacturer's name and address in Catena-X...) is read from each passport's `platform` member, which bpass "
    "exports beside the aspects (GTIN, batch, static data; the aspects win where both give a field), and is given "
    "in `defaults` for a document without it (another platform's). The document as a whole not "
    "being the declared format answers 422. Body limit 64 MiB, at most 100,000 passports.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": ImportRequest.model_json_schema(ref_template=_POINTER + "/$defs/{model}"),
                    "example": EXAMPLE,
                }
            },
        }
    },
)
async def import_passports(request: Request, principal: Annotated[Principal, MINTERS], write: Writes) -> Response:
    with gc_paused():
        raw = await request.body()
        try:
            body = IMPORT_REQUEST.validate_json(raw)
        except pydantic.ValidationError as exc:
            fail_if(pydantic_violations(exc))
            raise  # unreachable: a ValidationError has errors
        prepared = prepare(body.format, body.document, body.defaults, now=datetime.now(UTC))
        settings = runtime_of(request).settings
        tenant = tenant_of(principal)

        async def work(conn: DbConnection, outbox: Outbox) -> list[imports.ImportedResult]:
            return await imports.import_passports(
                conn, outbox, settings, tenant=tenant, minted_by=principal.name, prepared=prepared
            )

        results = await write.run(principal, work)
        counts = {status: sum(1 for r in results if r.status == status) for status in imports.STATUSES}
        payload = {
            "format": body.format.value,
            "totals": {"passports": len(results), **counts},
            "not_imported": [v.model_dump() for v in prepared.not_imported],
            "passports": [
                {
                    "field": r.path,
                    "battery_identifier": r.battery_identifier,
                    "status": r.status,
                    "passport_id": r.passport_id,
                    "public_uri": r.public_uri,
                    "violations": [v.model_dump() for v in r.violations],
                    "not_imported": [v.model_dump() for v in r.not_imported],
                }
                for r in results
            ],
        }
        return Response(orjson.dumps(payload), media_type="application/json")
