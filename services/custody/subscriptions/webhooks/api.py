"""EPCIS 2.0 webhook subscriptions, GS1 REST binding: `POST /epcis/queries/{name}/subscriptions` (201,
`Location`), `GET /epcis/queries/{name}/subscriptions` (paged by `perPage` / `nextPageToken`, `Link` rel=next),
`GET` and `DELETE /epcis/queries/{name}/subscriptions/{subscriptionID}`, `OPTIONS` on both; and, a platform
extension, `GET .../subscriptions/{subscriptionID}/deliveries`: every delivery with every attempt.

A subscription belongs to the key that created it: another key (of the same company too) gets 404 as for an unknown
one. Stream subscriptions (`"stream": true`) get each captured batch as it is consumed; scheduled ones (`schedule`,
`reportIfEmpty`) get the events matched since their previous run at each instant of the schedule
(`subscriptions/scheduled.py`). A bad request answers the binding's `SubscriptionControlsException` naming the field.
The signature token is never answered back.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from services.common.auth import Principal
from services.common.problems import problem_response
from services.common.runtime import Runtime
from services.custody.api.errors import ERROR_RESPONSES
from services.custody.query import named
from services.custody.query.api import EPCIS_HEADERS, READERS
from services.custody.subscriptions.schedule import FIELDS as SCHEDULE_FIELDS
from services.custody.subscriptions.schedule import Schedule, ScheduleError, parse_schedule
from services.custody.subscriptions.webhooks import store
from services.custody.subscriptions.webhooks.delivery import wake
from services.custody.subscriptions.webhooks.destination import DestinationRefused, resolve
from services.custody.subscriptions.webhooks.usecases import (
    BackfillTooLarge,
    TooManySubscriptions,
    response_body,
    subscribe,
)

router = APIRouter(prefix="/epcis", tags=["EPCIS 2.0 subscriptions"], responses=ERROR_RESPONSES)

MAX_BODY_BYTES: Final = 16 * 1024
MAX_TOKEN_LENGTH: Final = 1024
DEFAULT_PAGE: Final = 30
MAX_PAGE: Final = 1000
FIELDS: Final = frozenset({"dest", "signatureToken", "stream", "schedule", "reportIfEmpty", "initialRecordTime"})
CONTROLS: Final = "epcisException:SubscriptionControlsException"

DELIVERY_DOCS: Final = """Each captured batch of events the query matches, as the subscriber's key sees them, is POSTed
to `dest` as an `EPCISQueryDocument` whose `queryResults` name the `subscriptionID` and `queryName`. With a
`signatureToken`, the request carries `GS1-Signature: t=<unix seconds>,hmac-sha256=<hex>`: the HMAC-SHA256, keyed by
the token's UTF-8 bytes, of `<t>.` followed by the exact body bytes; compare in constant time and refuse a `t` far
from your clock. A 2xx answer delivers; anything else (or no answer within the timeout) is retried with exponential
back-off and jitter, up to a maximum number of attempts or age, then the delivery is `failed`. A subscription's
deliveries go out one at a time, in capture order; `GET .../subscriptions/{subscriptionID}/deliveries` lists each
with every attempt. `dest` is https to a public address; redirects are not followed. `initialRecordTime` in the past
makes the events recorded since then the first deliveries. With a `schedule` instead of `stream` (the binding's
QuerySchedule: `second`, `minute`, `hour`, `dayOfMonth`, `month`, `dayOfWeek`, each a number, a range `[low-high]`, a
comma-separated list of them, `*`, or any of these with a step `/n`; UTC; `second` 0 when omitted; 1 is Monday), each
instant of the schedule sends one document with the events the query matched since the previous run (the first run:
since `initialRecordTime`, or since subscribing); nothing when there were none, or an empty document with
`"reportIfEmpty": true`. A run missed while the service was down is made once when it is back, carrying every event
since the run before."""
SUBSCRIPTION_SCHEMA: Final = {
    "type": "object",
    "required": ["dest"],
    "additionalProperties": False,
    "properties": {
        "dest": {"type": "string", "format": "uri", "maxLength": 2000, "description": "Where deliveries are POSTed."},
        "signatureToken": {"type": "string", "minLength": 1, "maxLength": MAX_TOKEN_LENGTH,
                           "description": "Your secret: the key of each delivery's GS1-Signature; never answered."},
        "stream": {"type": "boolean", "description": "Deliver each captured event the query matches (or a schedule)."},
        "schedule": {"type": "object", "additionalProperties": False, "minProperties": 1,
                     "properties": {f: {"type": "string", "maxLength": 200} for f in SCHEDULE_FIELDS},
                     "description": "When to run the query (UTC), instead of stream: e.g. {\"minute\": \"0,30\"}."},
        "reportIfEmpty": {"type": "boolean", "description": "A scheduled run that found nothing sends an empty "
                          "document (default false)."},
        "initialRecordTime": {"type": "string", "format": "date-time",
                              "description": "Deliver the events recorded since then first (default: now)."},
    },
}  # fmt: skip
SUBSCRIPTION_EXAMPLE: Final = {
    "dest": "https://client.example.com/queryCallback",
    "signatureToken": "13df38d8275b13f05704629e5f1cf3d45d6132d5",
    "stream": True,
}
QueryName = Annotated[str, Path(description="The named query's name.", max_length=200)]
SubscriptionId = Annotated[str, Path(description="The subscription's subscriptionID.", max_length=100)]


class Refused(Exception):
    def __init__(self, field: str, reason: str, message: str, status: int = 400, type_: str = CONTROLS) -> None:
        super().__init__(message)
        self.field, self.reason, self.message, self.status, self.type_ = field, reason, message, status, type_

    def response(self) -> JSONResponse:
        return problem_response(
            self.status,
            self.reason,
            self.message,
            field=self.field or None,
            title="Subscription refused." if self.type_ == CONTROLS else "Not found.",
            type_=self.type_,
            headers=EPCIS_HEADERS,
        )


def _no_such_name(name: str) -> JSONResponse:
    return Refused("", "query_not_found", f"No query named {name!r} is yours.", 404,
                   "epcisException:NoSuchNameException").response()  # fmt: skip


def _no_such_subscription(subscription_id: str) -> JSONResponse:
    return Refused("", "subscription_not_found", f"No subscription {subscription_id} of yours on this query.", 404,
                   "epcisException:NoSuchResourceException").response()  # fmt: skip


def _time(value: object, field: str) -> datetime:
    if not isinstance(value, str):
        raise Refused(field, "invalid_time", f"{field} is a date-time string (RFC 3339, with its offset).")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise Refused(field, "invalid_time", f"{field} is not an RFC 3339 date-time: {value!r}.") from exc
    if parsed.tzinfo is None:
        raise Refused(field, "invalid_time", f"{field} needs its UTC offset (for example 2026-01-01T00:00:00Z).")
    return parsed.astimezone(UTC)


def checked_request(body: object) -> tuple[str, str | None, datetime | None]:
    """dest, signatureToken and initialRecordTime of a subscription request, or Refused naming what is wrong."""
    if not isinstance(body, dict):
        raise Refused("", "invalid_subscription", 'The body is a JSON object {"dest": ..., "stream": true, ...}.')
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise Refused(unknown[0], "unknown_field", f"{unknown[0]} is not a field of a subscription "
                      f"({', '.join(sorted(FIELDS))}).")  # fmt: skip
    dest = body.get("dest")
    if not isinstance(dest, str) or not dest:
        raise Refused("dest", "dest_missing", "dest, the URL deliveries are POSTed to, is required.")
    token = body.get("signatureToken")
    if token is not None and (not isinstance(token, str) or not 1 <= len(token) <= MAX_TOKEN_LENGTH):
        raise Refused("signatureToken", "invalid_signature_token",
                      f"signatureToken is a string of 1 to {MAX_TOKEN_LENGTH} characters.")  # fmt: skip
    checked_controls(body)
    initial = _time(body["initialRecordTime"], "initialRecordTime") if "initialRecordTime" in body else None
    return dest, token, initial


def checked_controls(body: dict[str, Any]) -> tuple[Schedule | None, bool]:
    """A subscription's `stream` or `schedule` (one of them) and `reportIfEmpty` (schedules only), or Refused naming
    the field."""
    report = body.get("reportIfEmpty", False)
    if not isinstance(report, bool):
        raise Refused("reportIfEmpty", "invalid_report_if_empty", "reportIfEmpty is true or false.")
    if "schedule" not in body:
        if body.get("stream") is not True:
            raise Refused("stream", "stream_required", 'A subscription sets "stream": true (each captured event the '
                          'query matches) or a "schedule".')  # fmt: skip
        if report:
            raise Refused(
                "reportIfEmpty",
                "report_if_empty_needs_schedule",
                "reportIfEmpty applies to scheduled subscriptions; a stream reports only matching events.",
            )
        return None, False
    if body.get("stream", False) is not False:
        raise Refused("stream", "stream_and_schedule", 'A subscription has either "stream": true or a "schedule".')
    fields = body["schedule"]
    if not isinstance(fields, dict):
        raise Refused("schedule", "invalid_schedule", 'schedule is an object such as {"minute": "0", "hour": "2"}.')
    try:
        return parse_schedule(fields), report
    except ScheduleError as error:
        raise Refused(error.field, error.reason, error.message) from error


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.post(
    "/queries/{name}/subscriptions",
    summary="Subscribe a webhook to a named query (stream: each captured event the query matches, as you see it)",
    description=DELIVERY_DOCS,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SUBSCRIPTION_SCHEMA, "example": SUBSCRIPTION_EXAMPLE}},
        }
    },
    responses={201: {"description": "Subscribed; Location names the subscription"}, 400: {}, 404: {}},
)
async def create_subscription(name: QueryName, request: Request, principal: Annotated[Principal, READERS]) -> Response:
    runtime = _runtime(request)
    raw = await request.body()
    try:
        if len(raw) > MAX_BODY_BYTES:
            raise Refused("", "subscription_too_large", f"A subscription request is at most {MAX_BODY_BYTES} bytes.")
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise Refused("", "invalid_json", f"The body is not valid JSON: {exc}.") from exc
        dest, token, initial = checked_request(body)
        schedule, report_if_empty = checked_controls(body)
        query = await named.get(runtime.platform_pool, principal, name)
        if query is None:
            return _no_such_name(name)
        try:
            await resolve(dest, allow_local=runtime.settings.epcis_webhook_allow_local)
        except DestinationRefused as refused:
            raise Refused("dest", refused.reason, refused.message) from refused
        try:
            async with runtime.platform_pool.acquire() as conn, conn.transaction():
                subscription, backfilled = await subscribe(
                    conn,
                    query,
                    principal,
                    dest=dest,
                    signature_token=token,
                    initial_record_time=initial,
                    schedule=schedule,
                    report_if_empty=report_if_empty,
                )
        except BackfillTooLarge as error:
            raise Refused("initialRecordTime", "initial_record_time_too_early", str(error)) from error
        except TooManySubscriptions as error:
            raise Refused("", "too_many_subscriptions", str(error)) from error
    except Refused as refused:
        return refused.response()
    if backfilled:
        await wake()
    location = f"/epcis/queries/{quote(name, safe='')}/subscriptions/{subscription.subscription_id}"
    return JSONResponse(response_body(subscription), status_code=201, headers={**EPCIS_HEADERS, "Location": location})


def _paging(request: Request, page_size: int = DEFAULT_PAGE) -> tuple[int, int]:
    """perPage and the position after which the page starts (nextPageToken: an opaque integer cursor)."""
    size, after = page_size, 0
    for parameter, value in request.query_params.multi_items():
        if parameter == "perPage":
            if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
                raise Refused("perPage", "invalid_per_page", f"perPage is a whole number from 1 to {MAX_PAGE}.",
                              type_="epcisException:QueryParameterException")  # fmt: skip
            size = int(value)
        elif parameter == "nextPageToken":
            if not value.isdigit() or len(value) > 19:
                raise Refused("nextPageToken", "invalid_next_page_token",
                              "nextPageToken is not one this list answered.",
                              type_="epcisException:QueryParameterException")  # fmt: skip
            after = int(value)
        else:
            raise Refused(parameter, "unknown_parameter", f"{parameter} is not taken here (perPage, nextPageToken).",
                          type_="epcisException:QueryParameterException")  # fmt: skip
    return size, after


def _link(request: Request, token: str | None) -> dict[str, str]:
    if token is None:
        return {}
    kept = [(n, v) for n, v in request.query_params.multi_items() if n != "nextPageToken"] + [("nextPageToken", token)]
    return {"Link": f'<{request.url.path}?{urlencode(kept)}>; rel="next"', "GS1-Next-Page-Token": token}


@router.get("/queries/{name}/subscriptions", summary="Your subscriptions of a named query (paged)")
async def list_subscriptions(name: QueryName, request: Request, principal: Annotated[Principal, READERS]) -> Response:
    runtime = _runtime(request)
    try:
        size, after = _paging(request)
    except Refused as refused:
        return refused.response()
    query = await named.get(runtime.platform_pool, principal, name)
    if query is None:
        return _no_such_name(name)
    found = await store.list_owned(runtime.platform_pool, query.owner, name, principal, after, size + 1)
    token = str(found[size - 1].seq) if len(found) > size else None
    return JSONResponse([response_body(s) for s in found[:size]], headers={**EPCIS_HEADERS, **_link(request, token)})


async def _owned(request: Request, principal: Principal, name: str, subscription_id: str) -> store.WebhookSubscription:
    runtime = _runtime(request)
    try:
        key = uuid.UUID(subscription_id)
    except ValueError:
        key = None
    query = await named.get(runtime.platform_pool, principal, name)
    if query is None:
        raise Refused("", "query_not_found", f"No query named {name!r} is yours.", 404,
                      "epcisException:NoSuchNameException")  # fmt: skip
    found = await store.owned(runtime.platform_pool, query.owner, name, principal, key) if key else None
    if found is None:
        raise Refused("", "subscription_not_found", f"No subscription {subscription_id} of yours on this query.",
                      404, "epcisException:NoSuchResourceException")  # fmt: skip
    return found


@router.get("/queries/{name}/subscriptions/{subscription_id}", summary="One of your subscriptions", responses={404: {}})
async def get_subscription(
    name: QueryName, subscription_id: SubscriptionId, request: Request, principal: Annotated[Principal, READERS]
) -> Response:
    try:
        found = await _owned(request, principal, name, subscription_id)
    except Refused as refused:
        return refused.response()
    return JSONResponse(response_body(found), headers=EPCIS_HEADERS)


@router.delete(
    "/queries/{name}/subscriptions/{subscription_id}",
    summary="Unsubscribe (deliveries not yet made are dropped)",
    status_code=204,
    responses={204: {"description": "Unsubscribed"}, 404: {}},
)
async def delete_subscription(
    name: QueryName, subscription_id: SubscriptionId, request: Request, principal: Annotated[Principal, READERS]
) -> Response:
    runtime = _runtime(request)
    try:
        found = await _owned(request, principal, name, subscription_id)
    except Refused as refused:
        return refused.response()
    if not await store.delete(runtime.platform_pool, found.query_owner, name, principal, found.subscription_id):
        return _no_such_subscription(subscription_id)
    return Response(status_code=204, headers=EPCIS_HEADERS)


def _delivery(row: dict[str, Any]) -> dict[str, Any]:
    def stamp(value: datetime | None) -> str | None:
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z") if value else None

    return {
        "deliveryID": row["delivery_id"],
        "captureID": row["capture_id"],
        "recordTime": stamp(row["record_time"]),
        "eventCount": row["event_count"],
        "status": row["status"],
        "attempts": row["attempts"],
        "nextAttemptAt": stamp(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "createdAt": stamp(row["created_at"]),
        "finishedAt": stamp(row["finished_at"]),
        "lastError": row["last_error"],
        "attemptLog": row["attempt_log"],
    }


@router.get(
    "/queries/{name}/subscriptions/{subscription_id}/deliveries",
    summary="Platform extension: the subscription's deliveries in order, each with every attempt (time, duration, "
    "the receiver's status code or the error); paged",
    responses={404: {}},
)
async def list_deliveries(
    name: QueryName, subscription_id: SubscriptionId, request: Request, principal: Annotated[Principal, READERS]
) -> Response:
    runtime = _runtime(request)
    try:
        size, after = _paging(request, page_size=100)
        found = await _owned(request, principal, name, subscription_id)
    except Refused as refused:
        return refused.response()
    rows = await store.deliveries_of(runtime.platform_pool, found.subscription_id, after, size + 1)
    token = str(rows[size - 1]["delivery_id"]) if len(rows) > size else None
    body = {"subscriptionID": str(found.subscription_id), "deliveries": [_delivery(r) for r in rows[:size]]}
    return JSONResponse(body, headers={**EPCIS_HEADERS, **_link(request, token)})


@router.options("/queries/{name}/subscriptions", summary="EPCIS versions of a query's subscriptions", status_code=204)
async def options_subscriptions(name: QueryName, principal: Annotated[Principal, READERS]) -> Response:
    return Response(status_code=204, headers={**EPCIS_HEADERS, "Allow": "GET, POST, OPTIONS"})


@router.options(
    "/queries/{name}/subscriptions/{subscription_id}", summary="EPCIS versions of a subscription", status_code=204
)
async def options_subscription(
    name: QueryName, subscription_id: SubscriptionId, principal: Annotated[Principal, READERS]
) -> Response:
    return Response(status_code=204, headers={**EPCIS_HEADERS, "Allow": "GET, DELETE, OPTIONS"})
