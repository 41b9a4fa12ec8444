"""EPCIS 2.0 query interface, GS1 REST binding: `GET /epcis/events` (query language, paging by `nextPageToken`
and `Link` headers), `GET /epcis/events/{eventID}`, `GET /epcis` (discovery) and `OPTIONS` with the GS1-EPCIS-*
headers. Refusals are problem+json whose `type` is the EPCIS exception (`epcisException:<kind>`).

The event index is platform only (it has no tenant column): every reader's query runs on the platform pool, and
its reach is decided row by row in the same SQL (visibility, `query/usecases.py`), as for other cross-tenant reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.problems import problem_response
from services.common.runtime import Runtime
from services.custody.api.errors import ERROR_RESPONSES
from services.custody.domain.epcis.query import REPEATED_PARAMETER, QueryParameterError, parse_query
from services.custody.query.usecases import (
    HANDLER_ROLES,
    QueryTooLarge,
    event_by_id,
    query_context,
    run_query,
)

router = APIRouter(prefix="/epcis", tags=["EPCIS 2.0 queries"], responses=ERROR_RESPONSES)

READERS = require_roles(*HANDLER_ROLES, *OEM_ROLES, Role.auditor, Role.regulator, Role.platform_operator)
EPCIS_HEADERS: Final = {
    "GS1-EPCIS-Version": "2.0.0",
    "GS1-EPCIS-Min": "2.0.0",
    "GS1-EPCIS-Max": "2.0.0",
    "GS1-CBV-Version": "2.0.0",
    "GS1-CBV-Min": "2.0.0",
    "GS1-CBV-Max": "2.0.0",
    "GS1-Extensions": "",
}
QUERY_MEDIA_TYPE: Final = "application/json"
RESOURCES: Final = {
    "/epcis": "GET, OPTIONS",
    "/epcis/events": "GET, OPTIONS",
    "/epcis/events/{eventID}": "GET, OPTIONS",
    "/epcis/eventTypes/{eventType}/events": "GET",
    "/epcis/epcs/{epc}/events": "GET",
    "/epcis/bizSteps/{bizStep}/events": "GET",
    "/epcis/bizLocations/{bizLocation}/events": "GET",
    "/epcis/readPoints/{readPoint}/events": "GET",
    "/epcis/dispositions/{disposition}/events": "GET",
    "/epcis/capture": "GET, POST, OPTIONS",
    "/epcis/queries": "GET, POST, OPTIONS",
    "/epcis/queries/{queryName}": "GET, DELETE, OPTIONS",
    "/epcis/queries/{queryName}/events": "GET, OPTIONS",
}


def _headers(allow: str | None = None) -> dict[str, str]:
    return {**EPCIS_HEADERS, **({"Allow": allow} if allow else {})}


def _query_refused(error: QueryParameterError) -> JSONResponse:
    return problem_response(
        400,
        error.reason,
        error.message,
        field=f"query.{error.parameter}",
        title="Query parameter refused.",
        type_="epcisException:QueryParameterException",
        extensions={"parameter": error.parameter},
        headers=EPCIS_HEADERS,
    )


def _document(events: list[dict[str, Any]], context: list[Any]) -> dict[str, Any]:
    return {
        "@context": context,
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": events}}},
    }


async def _answer(request: Request, principal: Principal, fixed: tuple[str, str] | None = None) -> Response:
    """One page of the query in the query string (and `fixed`, the condition of a resource view's path)."""
    runtime: Runtime = request.app.state.runtime
    pairs = list(request.query_params.multi_items())
    try:
        if fixed is not None and any(name == fixed[0] for name, _ in pairs):
            raise QueryParameterError(
                fixed[0], REPEATED_PARAMETER, f"{fixed[0]} is given by the path; leave it out of the query string."
            )
        query = parse_query(pairs + ([fixed] if fixed else []))
        page = await run_query(runtime.platform_pool, query, principal)
    except QueryParameterError as error:
        return _query_refused(error)
    except QueryTooLarge as error:
        return problem_response(
            413,
            "query_too_large",
            str(error),
            field="query.maxEventCount",
            title="Query too large.",
            type_="epcisException:QueryTooLargeException",
            headers=EPCIS_HEADERS,
        )
    headers = _headers()
    if page.next_page_token is not None:
        kept = [(n, v) for n, v in pairs if n != "nextPageToken"] + [("nextPageToken", page.next_page_token)]
        headers["Link"] = f'<{request.url.path}?{urlencode(kept)}>; rel="next"'
        headers["GS1-Next-Page-Token"] = page.next_page_token
    return JSONResponse(_document(page.events, page.context), headers=headers, media_type=QUERY_MEDIA_TYPE)


@router.get(
    "/events",
    summary="Query captured EPCIS events (EPCIS 2.0 query language; pages by nextPageToken, Link rel=next)",
    responses={200: {"description": "an EPCISQueryDocument"}, 400: {}, 413: {}},
)
async def events(request: Request, principal: Annotated[Principal, READERS]) -> Response:
    return await _answer(request, principal)


# The binding's resource views: the events of one event type, EPC, business step, location, read point or
# disposition; the rest of the query language applies on top (paging included).
ViewValue = Annotated[str, Path(description="The resource's value (URL-encoded URI or term).", max_length=2000)]


@router.get("/eventTypes/{event_type}/events", summary="The events of one event type (query parameters apply)")
async def events_of_type(event_type: ViewValue, request: Request, principal: Annotated[Principal, READERS]) -> Response:
    return await _answer(request, principal, ("eventType", event_type))


@router.get("/epcs/{epc:path}/events", summary="The events naming an EPC anywhere (MATCH_anyEPC)")
async def events_of_epc(epc: ViewValue, request: Request, principal: Annotated[Principal, READERS]) -> Response:
    return await _answer(request, principal, ("MATCH_anyEPC", epc))


@router.get("/bizSteps/{biz_step:path}/events", summary="The events of one business step")
async def events_of_biz_step(
    biz_step: ViewValue, request: Request, principal: Annotated[Principal, READERS]
) -> Response:
    return await _answer(request, principal, ("EQ_bizStep", biz_step))


@router.get("/bizLocations/{location:path}/events", summary="The events at one business location")
async def events_at_location(
    location: ViewValue, request: Request, principal: Annotated[Principal, READERS]
) -> Response:
    return await _answer(request, principal, ("EQ_bizLocation", location))


@router.get("/readPoints/{read_point:path}/events", summary="The events of one read point")
async def events_at_read_point(
    read_point: ViewValue, request: Request, principal: Annotated[Principal, READERS]
) -> Response:
    return await _answer(request, principal, ("EQ_readPoint", read_point))


@router.get("/dispositions/{disposition:path}/events", summary="The events of one disposition")
async def events_of_disposition(
    disposition: ViewValue, request: Request, principal: Annotated[Principal, READERS]
) -> Response:
    return await _answer(request, principal, ("EQ_disposition", disposition))


@router.get(
    "/events/{event_id:path}",
    summary="One captured EPCIS event by its eventID, as an EPCISQueryDocument",
    responses={200: {"description": "an EPCISQueryDocument with the one event"}, 404: {}},
)
async def event(
    event_id: Annotated[str, Path(description="The event's eventID (URL-encoded).", max_length=2000)],
    request: Request,
    principal: Annotated[Principal, READERS],
) -> Response:
    runtime: Runtime = request.app.state.runtime
    row = await event_by_id(runtime.platform_pool, event_id, principal)
    if row is None:  # unknown and not visible answer alike: the existence of others' events never shows
        return problem_response(
            404,
            "event_not_found",
            f"No event {event_id} is visible to you.",
            title="No such event.",
            type_="epcisException:NoSuchResourceException",
            headers=EPCIS_HEADERS,
        )
    return JSONResponse(
        _document([row["event"]], query_context([row["context"]])), headers=_headers(), media_type=QUERY_MEDIA_TYPE
    )


@router.get("/", include_in_schema=False)  # the gateway routes /epcis/ (with the slash) to this service
@router.get("", summary="EPCIS 2.0 discovery: the resources of this EPCIS interface")
async def discovery(principal: Annotated[Principal, READERS]) -> Response:
    body = {"resources": [{"href": path, "methods": methods.split(", ")} for path, methods in RESOURCES.items()]}
    return JSONResponse(body, headers=_headers())


@router.options("/", include_in_schema=False)
@router.options("", summary="EPCIS and CBV versions and extensions this interface supports", status_code=204)
async def options_root(principal: Annotated[Principal, READERS]) -> Response:
    return Response(status_code=204, headers=_headers(RESOURCES["/epcis"]))


@router.options("/events", summary="EPCIS and CBV versions of the events resource", status_code=204)
async def options_events(principal: Annotated[Principal, READERS]) -> Response:
    return Response(status_code=204, headers=_headers(RESOURCES["/epcis/events"]))


@router.options("/events/{event_id:path}", summary="EPCIS and CBV versions of an event resource", status_code=204)
async def options_event(event_id: str, principal: Annotated[Principal, READERS]) -> Response:
    return Response(status_code=204, headers=_headers(RESOURCES["/epcis/events/{eventID}"]))
