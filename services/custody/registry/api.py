"""HTTP API of the handler registry: the platform operator registers, amends, verifies and suspends handlers;
every change is a `HandlerRegistryChanged` fact on `bpass.custody.handler-registry.v1`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from contracts.custody import HandlerChange, HandlerDetails, HandlerRecord, HandlerRegistration, VerificationState
from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.db import DbConnection
from services.common.http_uow import HttpWrite, Writes
from services.common.outbox import Outbox
from services.common.problems import violations_response
from services.common.runtime import Runtime
from services.custody.api.errors import ERROR_RESPONSES, HandlerIdPath
from services.custody.registry import store, usecases

router = APIRouter(prefix="/custody/v1/handlers", tags=["handler registry"], responses=ERROR_RESPONSES)

OPERATOR = require_roles(Role.platform_operator)
HANDLER_ROLES = (Role.carrier, Role.collector, Role.recycler, Role.refiner, Role.repairer)
READERS = require_roles(*OEM_ROLES, *HANDLER_ROLES, Role.auditor, Role.regulator, Role.platform_operator)


class StateChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1000, description="Why (kept in the record and the fact).")


def _not_found(handler_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        {"reason": "handler_not_found", "message": f"No handler {handler_id} is registered."},
    )


def _body(record: HandlerRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


async def _write(principal: Principal, write: HttpWrite, change: Callable[..., Awaitable[HandlerRecord]]) -> Any:
    """Run a registry change as one write; its refusals as the responses they answer with."""

    async def work(conn: DbConnection, outbox: Outbox) -> HandlerRecord:
        return await change(conn, outbox, write.runtime.settings, by=principal.name, now=datetime.now(UTC))

    try:
        return _body(await write.run(principal, work))
    except usecases.RegistryRefused as refused:
        return violations_response(refused.violations, status_code=refused.status_code)
    except usecases.HandlerExists as exists:
        return JSONResponse(
            {
                "reason": "handler_exists",
                "message": f"Handler {exists.handler_id} is already registered; amend it with PUT instead.",
                "handler": _body(exists.existing) if exists.existing else None,
            },
            status_code=409,
        )
    except usecases.HandlerNotFound as missing:
        raise _not_found(str(missing)) from None


@router.post("", status_code=201, summary="Register a handler (state pending until verified)")
async def register_handler(
    registration: HandlerRegistration, principal: Annotated[Principal, OPERATOR], write: Writes
) -> Any:
    return await _write(principal, write, partial(usecases.register_handler, registration=registration))


@router.put("/{handler_id}", summary="Amend a handler's details (sites, permits, identifiers)")
async def amend_handler(
    handler_id: HandlerIdPath, details: HandlerDetails, principal: Annotated[Principal, OPERATOR], write: Writes
) -> Any:
    return await _write(principal, write, partial(usecases.amend_handler, handler_id=handler_id, details=details))


async def _change_state(
    handler_id: str, change: HandlerChange, body: StateChange | None, principal: Principal, write: HttpWrite
) -> Any:
    reason = body.reason if body else None
    return await _write(
        principal,
        write,
        partial(usecases.change_handler_state, handler_id=handler_id, change=change, reason=reason),
    )


@router.post("/{handler_id}/verify", summary="Verify a handler: its steps are accepted from now on")
async def verify_handler(
    handler_id: HandlerIdPath,
    principal: Annotated[Principal, OPERATOR],
    write: Writes,
    body: Annotated[StateChange | None, Body()] = None,
) -> Any:
    return await _change_state(handler_id, HandlerChange.verified, body, principal, write)


@router.post("/{handler_id}/suspend", summary="Suspend a handler: its steps are refused (or flagged) from now on")
async def suspend_handler(
    handler_id: HandlerIdPath,
    principal: Annotated[Principal, OPERATOR],
    write: Writes,
    body: Annotated[StateChange | None, Body()] = None,
) -> Any:
    return await _change_state(handler_id, HandlerChange.suspended, body, principal, write)


@router.get("/{handler_id}", summary="One handler")
async def get_handler(handler_id: HandlerIdPath, request: Request, principal: Annotated[Principal, READERS]) -> Any:
    runtime: Runtime = request.app.state.runtime
    record = await store.get_handler(runtime.pool, handler_id)
    if record is None:
        raise _not_found(handler_id)
    return _body(record)


@router.get("", summary="Handlers, by id")
async def list_handlers(
    request: Request,
    principal: Annotated[Principal, READERS],
    state: Annotated[VerificationState | None, Query(description="Only handlers in this state.")] = None,
    after: Annotated[str | None, Query(description="Page after this handler id.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    records = await store.list_handlers(runtime.pool, state.value if state else None, limit, after)
    return {
        "handlers": [_body(r) for r in records],
        "next_after": records[-1].handler_id if len(records) == limit else None,
    }
