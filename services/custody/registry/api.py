"""HTTP API of the handler registry: the platform operator registers, amends, verifies and suspends handlers;
every change is a `HandlerRegistryChanged` fact on `bpass.custody.handler-registry.v1`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Body, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from contracts import topics
from contracts.custody import (
    HandlerChange,
    HandlerDetails,
    HandlerRecord,
    HandlerRegistration,
    HandlerRegistryChanged,
    VerificationState,
)
from contracts.envelope import service_source
from contracts.errors import Violation
from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.problems import violations_response
from services.common.runtime import Runtime
from services.custody.domain.registry import IllegalRegistryChange, amend, change_state, register
from services.custody.http_errors import ERROR_RESPONSES, HandlerIdPath
from services.custody.registry import store

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


async def _publish(
    conn: DbConnection,
    runtime: Runtime,
    change: HandlerChange,
    record: HandlerRecord,
    by: Principal,
    reason: str | None,
) -> None:
    outbox = Outbox(service_source(runtime.name))
    fact = HandlerRegistryChanged(
        change=change, handler=record, changed_at=record.updated_at, changed_by=by.name, reason=reason
    )
    outbox.add(runtime.settings.topic(topics.CUSTODY_HANDLER_REGISTRY.name), fact, key=record.handler_id, subject=None)
    await outbox.flush(conn)


def _body(record: HandlerRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


@router.post("", status_code=201, summary="Register a handler (state pending until verified)")
async def register_handler(
    registration: HandlerRegistration, request: Request, principal: Annotated[Principal, OPERATOR]
) -> Any:
    runtime: Runtime = request.app.state.runtime
    record, violations = register(registration, datetime.now(UTC))
    if violations:
        return violations_response(violations)
    async with runtime.pool.acquire() as conn, conn.transaction():
        try:
            async with conn.transaction():
                created = await store.insert_handler(conn, record)
        except asyncpg.UniqueViolationError:
            return _gln_taken()
        if not created:
            existing = await store.get_handler(conn, record.handler_id)
            return JSONResponse(
                {
                    "reason": "handler_exists",
                    "message": f"Handler {record.handler_id} is already registered; amend it with PUT instead.",
                    "handler": _body(existing) if existing else None,
                },
                status_code=409,
            )
        await _publish(conn, runtime, HandlerChange.registered, record, principal, None)
    return _body(record)


def _gln_taken() -> JSONResponse:
    return violations_response(
        [
            Violation(
                field="identifiers",
                reason="gln_taken",
                message="A GLN of this handler or of its sites belongs to another registered handler.",
            )
        ],
        status_code=409,
    )


@router.put("/{handler_id}", summary="Amend a handler's details (sites, permits, identifiers)")
async def amend_handler(
    handler_id: HandlerIdPath, details: HandlerDetails, request: Request, principal: Annotated[Principal, OPERATOR]
) -> Any:
    runtime: Runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn, conn.transaction():
        record = await store.get_handler(conn, handler_id, lock=True)
        if record is None:
            raise _not_found(handler_id)
        amended, violations = amend(record, details, datetime.now(UTC))
        if violations:
            return violations_response(violations)
        try:
            async with conn.transaction():
                await store.update_handler(conn, amended)
        except asyncpg.UniqueViolationError:
            return _gln_taken()
        await _publish(conn, runtime, HandlerChange.amended, amended, principal, None)
    return _body(amended)


async def _change_state(
    handler_id: str, change: HandlerChange, body: StateChange | None, request: Request, principal: Principal
) -> Any:
    runtime: Runtime = request.app.state.runtime
    reason = body.reason if body else None
    async with runtime.pool.acquire() as conn, conn.transaction():
        record = await store.get_handler(conn, handler_id, lock=True)
        if record is None:
            raise _not_found(handler_id)
        try:
            changed = change_state(record, change, reason, datetime.now(UTC))
        except IllegalRegistryChange as illegal:
            return violations_response([illegal.violation], status_code=409)
        await store.update_handler(conn, changed)
        await _publish(conn, runtime, change, changed, principal, reason)
    return _body(changed)


@router.post("/{handler_id}/verify", summary="Verify a handler: its steps are accepted from now on")
async def verify_handler(
    handler_id: HandlerIdPath,
    request: Request,
    principal: Annotated[Principal, OPERATOR],
    body: Annotated[StateChange | None, Body()] = None,
) -> Any:
    return await _change_state(handler_id, HandlerChange.verified, body, request, principal)


@router.post("/{handler_id}/suspend", summary="Suspend a handler: its steps are refused (or flagged) from now on")
async def suspend_handler(
    handler_id: HandlerIdPath,
    request: Request,
    principal: Annotated[Principal, OPERATOR],
    body: Annotated[StateChange | None, Body()] = None,
) -> Any:
    return await _change_state(handler_id, HandlerChange.suspended, body, request, principal)


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
