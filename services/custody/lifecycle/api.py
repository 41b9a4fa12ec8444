"""HTTP: the owner or the holder declares a battery waste; responsibility moves, the passport stays (Art. 77(7))."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse

from contracts.custody import WasteDeclarationRequest
from services.common.auth import Principal, Role, require_roles
from services.common.db import DbConnection
from services.common.http_uow import Writes
from services.common.outbox import Outbox
from services.common.problems import violations_response
from services.common.runtime import Runtime
from services.custody.api.errors import ERROR_RESPONSES, PassportIdPath
from services.custody.domain import waste_declarations as rules
from services.custody.ingest.api import HANDLER_ROLES
from services.custody.lifecycle import usecases

router = APIRouter(prefix="/custody/v1", tags=["lifecycle"], responses=ERROR_RESPONSES)

DECLARERS = require_roles(Role.oem_admin, *HANDLER_ROLES)


def _refused(refused: rules.DeclarationRefused) -> HTTPException:
    first = refused.violations[0]
    return HTTPException(
        refused.status_code,
        {
            "reason": first.reason,
            "field": first.field,
            "message": first.message,
            "violations": [v.model_dump() for v in refused.violations],
        },
    )


@router.post(
    "/passports/{passport_id}/waste-declaration",
    status_code=status.HTTP_201_CREATED,
    summary="Declare a battery waste: its status becomes waste and responsibility moves (no new passport)",
    description="By the OEM admin of the owning tenant, or by the handler holding the battery. The declaration is "
    "appended to the passport's custody log (an `observation` entry in the hash chain) and published as "
    "`PassportStatusChanged` (status `waste`, `responsible_operator`, `responsibility_basis` "
    "`waste_declaration`). A waste operator named as responsible must be a verified handler; a producer must be "
    "the passport's owner.",
    responses={
        201: {"description": "Recorded."},
        403: {"description": "`not_custodian`: a handler that does not hold the battery."},
        409: {"description": "`already_waste`."},
    },
)
async def declare_waste(
    passport_id: PassportIdPath,
    body: WasteDeclarationRequest,
    request: Request,
    principal: Annotated[Principal, DECLARERS],
    write: Writes,
) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    now = datetime.now(UTC)
    caller = usecases.Caller(
        name=principal.name,
        tenant=principal.tenant,
        owner_admin=principal.role is Role.oem_admin,
        handler=principal.role in HANDLER_ROLES,
    )

    async def work(conn: DbConnection, outbox: Outbox) -> dict[str, Any]:
        return await usecases.declare_waste(
            conn, outbox, runtime.settings, passport_id=passport_id, body=body, caller=caller, now=now
        )

    try:
        # A custody step appended to the chain meanwhile takes the sequence: the write runs again and reads anew.
        result = await write.run(principal, work)
    except rules.DeclarationRefused as refused:
        if refused.status_code == 422:
            return violations_response(refused.violations)
        raise _refused(refused) from None
    return JSONResponse(result, status_code=status.HTTP_201_CREATED)
