"""EPCIS 2.0 query interface, GS1 REST binding: `GET /epcis/events` (query language, paging by `nextPageToken`
and `Link` headers), `GET /epcis/events/{eventID}`, `GET /epcis` (discovery) and `OPTIONS` with the GS1-EPCIS-*
headers. Refusals are problem+json whose `type` is the EPCIS exception (`epcisException:<kind>`).

The event index is platform only (it has no tenant column): every reader's query runs on the platform pool, and
its reach is decided row by row in the same SQL (visibility, `query/usecases.py`), as for other cross-tenant reads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.problems import problem_response
from services.common.runtime import Runtime
from services.custody.api.errors import ERROR_RESPONSES
from services.custody.domain.epcis.query import (
    DEFAULT_PER_PAGE,
    MAX_PER_PAGE,
    REPEATED_PARAMETER,
    UNKNOWN_PARAMETER,
    QueryParameterError,
    parse_query,
)
from services.custody.query.usecases import (
    EPCIS_CONTEXT,
    HANDLER_ROLES,
    QueryPage,
    QueryTooLarge,
    event_by_id,
    query_context,
    run_query,
)
from services.custody.query.value_lists import VALUE_LISTS, ValueList, list_values, value_exists

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
RESOURCES: Final[dict[str, str]] = {  # the value lists are added below, from VALUE_LISTS
    "/epcis": "GET, OPTIONS",
    "/epcis/events": "GET, OPTIONS",
    "/epcis/events/{eventID}": "GET, OPTIONS",
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

    async def page() -> QueryPage:
        if fixed is not None and any(name == fixed[0] for name, _ in pairs):
            raise QueryParameterError(
                fixed[0], REPEATED_PARAMETER, f"{fixed[0]} is given by the path; leave it out of the query string."
            )
        return await run_query(runtime.platform_pool, parse_query(pairs + ([fixed] if fixed else [])), principal)

    return await page_answer(request, page)


async def page_answer(request: Request, page_of: Callable[[], Awaitable[QueryPage]]) -> Response:
    """The EPCISQueryDocument of one page of a query (`page_of` runs it), the next page in `Link` and
    `GS1-Next-Page-Token`; a refused parameter or too large a result as the binding's exceptions."""
    try:
        page = await page_of()
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
        pairs = request.query_params.multi_items()
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


# The binding's value lists (`/epcis/<list>`), their members (`/epcis/<list>/{value}`: the sub-resources, for
# HATEOAS discovery) and each member's events (`/epcis/<list>/{value}/events`: the query parameter the list stands
# for, the rest of the query language on top, paging included), registered from one table (VALUE_LISTS).
ViewValue = Annotated[str, Path(description="The member (URL-encoded URI or term).", max_length=2000)]
PerPage = Annotated[
    str | None,
    Query(alias="perPage", description=f"Members per page, 1 to {MAX_PER_PAGE} ({DEFAULT_PER_PAGE} if none)."),
]
PageToken = Annotated[
    str | None, Query(alias="nextPageToken", max_length=4000, description="The token of the previous page's Link.")
]
MEMBER_NAMES: Final = {
    "eventTypes": "eventType",
    "epcs": "epc",
    "bizSteps": "bizStep",
    "bizLocations": "bizLocation",
    "readPoints": "readPoint",
    "dispositions": "disposition",
}
LIST_NAMES: Final = {
    "eventTypes": ("event type", "the five standard event types"),
    "epcs": ("EPC", "the identifiers (EPCs, parent IDs, input and output EPCs) of the events you see"),
    "bizSteps": ("business step", "the CBV standard business steps and the custom ones of the events you see"),
    "bizLocations": ("business location", "the business locations of the events you see"),
    "readPoints": ("read point", "the read points of the events you see"),
    "dispositions": ("disposition", "the CBV standard dispositions and the custom ones of the events you see"),
}


def _collection(members: list[str]) -> dict[str, Any]:
    return {"@context": EPCIS_CONTEXT, "type": "Collection", "member": members}


def _no_member(values: ValueList, value: str) -> JSONResponse:
    """An unknown member and one only others' events have answer alike."""
    return problem_response(
        404,
        "resource_not_found",
        f"No {LIST_NAMES[values.resource][0]} {value} is known to you.",
        title="No such resource.",
        type_="epcisException:NoSuchResourceException",
        headers=EPCIS_HEADERS,
    )


def _register_value_list(values: ValueList) -> None:
    name, holds = LIST_NAMES[values.resource]
    member_path = f"/epcis/{values.resource}/{{{MEMBER_NAMES[values.resource]}}}"  # as the binding names it

    async def value_list(
        request: Request, principal: Annotated[Principal, READERS], per_page: PerPage = None, token: PageToken = None
    ) -> Response:
        runtime: Runtime = request.app.state.runtime
        pairs = list(request.query_params.multi_items())
        try:
            for parameter, _ in pairs:
                if parameter not in ("perPage", "nextPageToken"):
                    raise QueryParameterError(
                        parameter, UNKNOWN_PARAMETER, f"{parameter} is not a parameter of the {values.resource} list."
                    )
            paging = parse_query(pairs)  # perPage and nextPageToken checked as for the events query
            page = await list_values(runtime.platform_pool, values, principal, paging.per_page, paging.next_page_token)
        except QueryParameterError as error:
            return _query_refused(error)
        headers = _headers()
        if page.next_page_token is not None:
            kept = [(n, v) for n, v in request.query_params.multi_items() if n != "nextPageToken"]
            headers["Link"] = (
                f'<{request.url.path}?{urlencode([*kept, ("nextPageToken", page.next_page_token)])}>; rel="next"'
            )
            headers["GS1-Next-Page-Token"] = page.next_page_token
        return JSONResponse(_collection(page.members), headers=headers)

    async def member(value: ViewValue, request: Request, principal: Annotated[Principal, READERS]) -> Response:
        runtime: Runtime = request.app.state.runtime
        try:
            known = await value_exists(runtime.platform_pool, values, principal, value)
        except QueryParameterError as error:
            return _query_refused(error)
        return JSONResponse(_collection(["events"]), headers=_headers()) if known else _no_member(values, value)

    async def member_events(value: ViewValue, request: Request, principal: Annotated[Principal, READERS]) -> Response:
        return await _answer(request, principal, (values.parameter, value))

    async def options(principal: Annotated[Principal, READERS]) -> Response:
        return Response(status_code=204, headers=_headers("GET, OPTIONS"))

    async def options_of_member(value: ViewValue, principal: Annotated[Principal, READERS]) -> Response:
        return Response(status_code=204, headers=_headers("GET, OPTIONS"))

    base = f"/{values.resource}"
    tail = "{value:path}" if values.resource != "eventTypes" else "{value}"
    routes: list[tuple[str, Callable[..., Awaitable[Response]], str, dict[int | str, dict[str, Any]]]] = [
        (base, value_list, f"The {name} list: {holds} (paged by nextPageToken, Link rel=next)", {400: {}}),
        # /events before the member itself: a member's path may hold slashes (a URI)
        (f"{base}/{tail}/events", member_events, f"The events of one {name} (query parameters apply)", {400: {}}),
        (f"{base}/{tail}", member, f'The sub-resources of one {name}: ["events"]', {400: {}, 404: {}}),
    ]
    for path, endpoint, summary, responses in routes:
        operation = f"{values.resource}_{endpoint.__name__}"
        endpoint.__name__ = operation
        router.add_api_route(
            path, endpoint, methods=["GET"], summary=summary, operation_id=operation, responses=responses
        )
        router.add_api_route(
            path,
            options if path == base else options_of_member,  # a member's path declares its parameter
            methods=["OPTIONS"],
            summary=f"EPCIS and CBV versions of {path}",
            operation_id=f"{operation}_options",
            status_code=204,
        )
    RESOURCES[f"/epcis/{values.resource}"] = "GET, OPTIONS"
    RESOURCES[member_path] = "GET, OPTIONS"
    RESOURCES[f"{member_path}/events"] = "GET, OPTIONS"


for _values in VALUE_LISTS.values():
    _register_value_list(_values)


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
    # The binding's Collection of top-level resources, and each resource's path and methods besides.
    top_level = sorted({path.split("/")[2] for path in RESOURCES if path.count("/") == 2})
    body = {
        "@context": EPCIS_CONTEXT,
        "type": "Collection",
        "member": top_level,
        "resources": [{"href": path, "methods": methods.split(", ")} for path, methods in RESOURCES.items()],
    }
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
