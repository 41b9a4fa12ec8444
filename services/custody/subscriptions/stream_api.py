"""The WebSocket route of EPCIS query subscriptions (REST binding): `GET /epcis/queries/{name}/events` with
`Upgrade: websocket`. The handshake is checked like the HTTP routes (API key in `X-API-Key`, the readers' roles, the
caller's own named query) and refused with the binding's problem+json before any upgrade: 401/403
`SecurityException`, 404 `NoSuchNameException` (another party's query as an unknown one), 400
`SubscriptionControlsException` (neither `stream=true` nor a schedule, both, a schedule field that is not valid, a
bad `initialRecordTime` / `reportIfEmpty`) or
`QueryParameterException` (a query parameter in the subscription's query string). Delivery: `stream.StreamHub`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from fastapi import APIRouter, WebSocket

from services.common.auth import OEM_ROLES, Principal, Role
from services.common.problems import problem_response
from services.common.runtime import Runtime
from services.custody.domain.epcis.query import QueryParameterError, parse_query
from services.custody.domain.epcis.timestamps import parse_timestamp
from services.custody.query import named
from services.custody.query.api import EPCIS_HEADERS
from services.custody.query.usecases import HANDLER_ROLES
from services.custody.subscriptions.schedule import Schedule, ScheduleError, parse_schedule
from services.custody.subscriptions.stream import StreamHub, StreamSubscription

router = APIRouter(prefix="/epcis", tags=["EPCIS 2.0 named queries"])

SUBSCRIBER_ROLES: Final = frozenset({*HANDLER_ROLES, *OEM_ROLES, Role.auditor, Role.regulator, Role.platform_operator})
SCHEDULE_PARAMETERS: Final = frozenset({"second", "minute", "hour", "dayOfMonth", "month", "dayOfWeek"})
SUBSCRIPTION_PARAMETERS: Final = frozenset({"stream", "initialRecordTime", "reportIfEmpty"})


class SubscriptionRefused(Exception):
    def __init__(self, status: int, kind: str, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.reason, self.message, self.field = status, kind, reason, message, field


def _given(pairs: list[tuple[str, str]]) -> dict[str, str]:
    given: dict[str, str] = {}
    for parameter, value in pairs:
        if parameter not in SUBSCRIPTION_PARAMETERS and parameter not in SCHEDULE_PARAMETERS:
            raise SubscriptionRefused(
                400, "QueryParameterException", "parameter_not_for_subscription",
                f"{parameter} is not a subscription parameter (stream, initialRecordTime, reportIfEmpty, or a "
                "schedule's second, minute, hour, dayOfMonth, month, dayOfWeek).", parameter,
            )  # fmt: skip
        if parameter in given:
            raise SubscriptionRefused(
                400, "SubscriptionControlsException", "repeated_query_parameter", f"{parameter} is given twice.",
                parameter,
            )  # fmt: skip
        given[parameter] = value
    return given


def _schedule(pairs: list[tuple[str, str]]) -> Schedule | None:
    """The schedule of a subscription's query string (None: a stream), checked."""
    given = _given(pairs)
    fields = {p: v for p, v in given.items() if p in SCHEDULE_PARAMETERS}
    if not fields:
        return None
    try:
        return parse_schedule(fields)
    except ScheduleError as error:
        raise SubscriptionRefused(
            400, "SubscriptionControlsException", error.reason, error.message, error.field.removeprefix("schedule.")
        ) from error


def _controls(pairs: list[tuple[str, str]]) -> tuple[datetime | None, bool]:
    """initialRecordTime and reportIfEmpty of a subscription's query string (stream=true or a schedule), checked."""
    given = _given(pairs)
    scheduled = any(p in SCHEDULE_PARAMETERS for p in given)
    if scheduled and "stream" in given:
        raise SubscriptionRefused(
            400, "SubscriptionControlsException", "stream_and_schedule",
            "A subscription has either stream=true or a schedule (second, minute, ...).", "stream",
        )  # fmt: skip
    if not scheduled and given.get("stream") != "true":
        raise SubscriptionRefused(
            400, "SubscriptionControlsException", "stream_required",
            "A WebSocket subscription streams (stream=true) or runs on a schedule (second, minute, ...).", "stream",
        )  # fmt: skip
    initial = None
    if "initialRecordTime" in given:
        initial = parse_timestamp(given["initialRecordTime"])
        if initial is None:
            raise SubscriptionRefused(
                400, "SubscriptionControlsException", "invalid_query_time",
                "initialRecordTime is an ISO 8601 date-time with a time zone.", "initialRecordTime",
            )  # fmt: skip
    report = given.get("reportIfEmpty", "false")  # a stream's: an empty document when its first read finds nothing
    if report not in ("true", "false"):
        raise SubscriptionRefused(
            400, "SubscriptionControlsException", "invalid_query_parameter_value",
            "reportIfEmpty is true or false.", "reportIfEmpty",
        )  # fmt: skip
    return initial, report == "true"


async def _refuse(websocket: WebSocket, refusal: SubscriptionRefused) -> None:
    """Answer the handshake with the problem (HTTP), or close it with 1008 where the server cannot."""
    response = problem_response(
        refusal.status,
        refusal.reason,
        refusal.message,
        field=refusal.field,
        title="Subscription refused.",
        type_=f"epcisException:{refusal.kind}",
        headers=EPCIS_HEADERS,
    )
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(response)
    else:
        await websocket.close(1008, f"{refusal.reason}: {refusal.message}"[:120])


def _principal(websocket: WebSocket, runtime: Runtime) -> Principal:
    key = websocket.headers.get("x-api-key")
    authorization = websocket.headers.get("authorization", "")
    if key is None and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    principal = runtime.keyring.authenticate(key) if key else None
    if principal is None:
        raise SubscriptionRefused(
            401, "SecurityException", "invalid_api_key" if key else "missing_api_key",
            "Send a valid API key in the X-API-Key header.",
        )  # fmt: skip
    if principal.role not in SUBSCRIBER_ROLES:
        raise SubscriptionRefused(
            403, "SecurityException", "role_not_allowed", f"Role {principal.role.value} may not subscribe."
        )
    return principal


@router.websocket("/queries/{name}/events")
async def subscribe(websocket: WebSocket, name: str) -> None:
    """A named query's subscription over WebSocket (stream=true, or a schedule: second, minute, hour, dayOfMonth,
    month, dayOfWeek; initialRecordTime, reportIfEmpty)."""
    runtime: Runtime = websocket.app.state.runtime
    hub: StreamHub = websocket.app.state.epcis_streams
    try:
        principal = _principal(websocket, runtime)
        found = await named.get(runtime.platform_pool, principal, name)
        if found is None:
            raise SubscriptionRefused(
                404, "NoSuchNameException", "query_not_found", f"No query named {name!r} is yours."
            )
        pairs = list(websocket.query_params.multi_items())
        initial, report_if_empty = _controls(pairs)
        schedule = _schedule(pairs)
        try:
            event_query = parse_query(found.parameters)
        except QueryParameterError as error:  # stored before the query language changed
            raise SubscriptionRefused(
                400, "QueryParameterException", error.reason, error.message, f"query.{error.parameter}"
            ) from error
    except SubscriptionRefused as refusal:
        await _refuse(websocket, refusal)
        return
    headers = [(k.lower().encode(), v.encode()) for k, v in EPCIS_HEADERS.items()]
    if initial is not None:
        headers.append((b"gs1-query-min-record-time", initial.isoformat().encode()))
    await websocket.accept(headers=headers)
    await hub.serve(
        StreamSubscription(
            websocket,
            principal,
            found,
            event_query,
            initial,
            report_if_empty,
            runtime.settings.epcis_stream_queue_facts,
            schedule,
        )
    )


__all__ = ["SubscriptionRefused", "router", "subscribe"]
