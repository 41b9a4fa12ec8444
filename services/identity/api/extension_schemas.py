"""HTTP routes of extension schemas: an OEM admin declares the JSON Schema of a product family's extension
fields; OEM keys read it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response, status

from contracts.errors import ValidationFailed, Violation
from contracts.identity import ExtensionSchema
from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.db import DbConnection
from services.common.http_uow import Writes
from services.common.outbox import Outbox
from services.identity.api.common import (
    DEFAULT_BODY_LIMIT,
    ERROR_RESPONSES,
    MAX_VERSION,
    limited_route,
    runtime_of,
    tenant_of,
)
from services.identity.store import extension_schemas
from services.identity.usecases import declare_extension_schema as schema_declaration

router = APIRouter(
    prefix="/identity/v1", tags=["identity"], route_class=limited_route(DEFAULT_BODY_LIMIT), responses=ERROR_RESPONSES
)

ADMINS = require_roles(Role.oem_admin)


def _schema_out(row: dict[str, Any]) -> ExtensionSchema:
    return ExtensionSchema(
        product_family=row["product_family"],
        version=row["version"],
        json_schema=row["json_schema"],
        public_fields=list(row["public_fields"]),
        declared_at=row["declared_at"],
        declared_by=row["declared_by"],
    )


@router.put(
    "/product-families/{family:path}/extension-schema",
    response_model=ExtensionSchema,
    summary="Declare the JSON Schema of a product family's OEM extension fields (a new version)",
    description='The body is a JSON Schema (draft 2020-12) of `"type": "object"`. Mark a property public with '
    '`"x-public": true`; every other extension value is private to your tenant. The same schema again is no '
    "new version (200); a different one is (201). Passports minted or amended afterwards are checked against it.",
    responses={201: {"description": "A new version was stored."}},
)
async def declare_extension_schema(
    family: str,
    json_schema: Annotated[dict[str, Any], Body(description="The JSON Schema.")],
    request: Request,
    response: Response,
    principal: Annotated[Principal, ADMINS],
    write: Writes,
) -> ExtensionSchema:
    _check_family(family)
    tenant = tenant_of(principal)

    async def work(conn: DbConnection, _: Outbox) -> tuple[dict[str, Any], bool]:
        return await schema_declaration.declare_extension_schema(
            conn, tenant=tenant, family=family, schema=json_schema, declared_by=principal.name
        )

    row, created = await write.run(principal, work)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _schema_out(row)


@router.get(
    "/product-families/{family:path}/extension-schema",
    response_model=ExtensionSchema,
    summary="The current (or a given version of the) extension schema of a product family",
)
async def read_extension_schema(
    family: str,
    request: Request,
    principal: Annotated[Principal, require_roles(*OEM_ROLES)],
    version: Annotated[
        int | None, Query(ge=1, le=MAX_VERSION, description="A former version; the current one if absent.")
    ] = None,
) -> ExtensionSchema:
    _check_family(family)
    row = await extension_schemas.extension_schema(runtime_of(request).pool, tenant_of(principal), family, version)
    if row is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            {"reason": "extension_schema_not_found", "message": f"Product family {family!r} has no extension schema."},
        )
    return _schema_out(row)


def _check_family(family: str) -> None:
    if not 1 <= len(family) <= 100 or not family.isprintable():
        raise ValidationFailed(
            [
                Violation(
                    field="family",
                    reason="invalid_product_family",
                    message="A product family name has 1 to 100 printable characters.",
                )
            ]
        )
