"""EPCIS 2.0 named queries, GS1 REST binding: `POST /epcis/queries` (201, `Location`), `GET /epcis/queries` (paged
by `perPage` / `nextPageToken`, `Link` rel=next), `GET` and `DELETE /epcis/queries/{name}`, and
`GET /epcis/queries/{name}/events` (the query's events as the caller sees them, paged like `/epcis/events`; the
same path with a WebSocket upgrade subscribes: services/custody/subscriptions/stream.py).

Refusals are problem+json whose `type` is the binding's exception: a query parameter as `GET /epcis/events`
refuses it (`QueryParameterException`), a malformed definition `ValidationException`, a name taken
`ResourceAlreadyExistsException` (409), a name unknown to the caller `NoSuchNameException` (404; another owner's
query answers the same).
"""

from __future__ import annotations

import json
from typing import Annotated, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from services.common.auth import Principal
from services.common.problems import problem_response
from services.common.runtime import Runtime
from services.custody.api.errors import ERROR_RESPONSES
from services.custody.domain.epcis.query import INVALID_NUMBER, QueryParameterError
from services.custody.query import named
from services.custody.query.api import EPCIS_HEADERS, READERS, _query_refused, page_answer

router = APIRouter(prefix="/epcis", tags=["EPCIS 2.0 named queries"], responses=ERROR_RESPONSES)

MAX_DEFINITION_BYTES: Final = 64 * 1024
QueryName = Annotated[str, Path(description="The query's name.", max_length=200)]


def _invalid(field: str, reason: str, message: str) -> JSONResponse:
    return problem_response(
        400,
        reason,
        message,
        field=field,
        title="Query definition refused.",
        type_="epcisException:ValidationException",
        headers=EPCIS_HEADERS,
    )


def _no_such_name(name: str) -> JSONResponse:
    return problem_response(
        404,
        "query_not_found",
        f"No query named {name!r} is yours.",
        title="No such query.",
        type_="epcisException:NoSuchNameException",
        headers=EPCIS_HEADERS,
    )


@router.post(
    "/queries",
    summary="Create a named query (EPCIS query language; the query is checked as GET /epcis/events checks it)",
    status_code=201,
    responses={201: {"description": "Created; Location names the query"}, 400: {}, 409: {}},
)
async def create_query(request: Request, principal: Annotated[Principal, READERS]) -> Response:
    runtime: Runtime = request.app.state.runtime
    raw = await request.body()
    if len(raw) > MAX_DEFINITION_BYTES:
        return _invalid(
            "", "query_definition_too_large", f"A query definition is at most {MAX_DEFINITION_BYTES} bytes."
        )
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _invalid("", "invalid_json", f"The body is not valid JSON: {exc}.")
    try:
        created = await named.create(runtime.platform_pool, principal, body)
    except named.InvalidQueryDefinition as error:
        return _invalid(error.field, error.reason, error.message)
    except QueryParameterError as error:
        return _query_refused(error)
    except named.DuplicateQueryName as error:
        return problem_response(
            409,
            "query_name_taken",
            str(error),
            field="name",
            title="A query of this name exists.",
            type_="epcisException:ResourceAlreadyExistsException",
            headers=EPCIS_HEADERS,
        )
    location = f"/epcis/queries/{quote(created.name, safe='')}"
    return JSONResponse(created.body(), status_code=201, headers={**EPCIS_HEADERS, "Location": location})


@router.get("/queries", summary="The caller's named queries, by name (pages by nextPageToken, Link rel=next)")
async def list_queries(request: Request, principal: Annotated[Principal, READERS]) -> Response:
    runtime: Runtime = request.app.state.runtime
    pairs = list(request.query_params.multi_items())
    size, after = named.DEFAULT_LIST_PAGE, None
    try:
        for parameter, value in pairs:
            if parameter == "perPage":
                if not value.isdigit() or not 1 <= int(value) <= named.MAX_LIST_PAGE:
                    raise QueryParameterError(
                        parameter, INVALID_NUMBER, f"perPage is a whole number from 1 up to {named.MAX_LIST_PAGE}."
                    )
                size = int(value)
            elif parameter == "nextPageToken":
                after = named.decode_list_token(value)
            else:
                raise QueryParameterError(
                    parameter, "unknown_query_parameter", f"{parameter} is not a parameter of the query list."
                )
    except QueryParameterError as error:
        return _query_refused(error)
    found, token = await named.list_page(runtime.platform_pool, principal, after, size)
    headers = dict(EPCIS_HEADERS)
    if token is not None:
        kept = [(n, v) for n, v in pairs if n != "nextPageToken"] + [("nextPageToken", token)]
        headers["Link"] = f'<{request.url.path}?{urlencode(kept)}>; rel="next"'
        headers["GS1-Next-Page-Token"] = token
    return JSONResponse([q.body() for q in found], headers=headers)


@router.get("/queries/{name}", summary="A named query's definition", responses={404: {}})
async def get_query(name: QueryName, request: Request, principal: Annotated[Principal, READERS]) -> Response:
    runtime: Runtime = request.app.state.runtime
    found = await named.get(runtime.platform_pool, principal, name)
    if found is None:
        return _no_such_name(name)
    return JSONResponse(found.body(), headers=EPCIS_HEADERS)


@router.delete(
    "/queries/{name}",
    summary="Delete a named query (its subscriptions end with it)",
    status_code=204,
    responses={204: {"description": "Deleted"}, 404: {}},
)
async def delete_query(name: QueryName, request: Request, principal: Annotated[Principal, READERS]) -> Response:
    runtime: Runtime = request.app.state.runtime
    if not await named.delete(runtime.platform_pool, principal, name):
        return _no_such_name(name)
    return Response(status_code=204, headers=EPCIS_HEADERS)


@router.get(
    "/queries/{name}/events",
    summary="The named query's events as the caller sees them (pages by perPage / nextPageToken, Link rel=next); "
    "with a WebSocket upgrade (stream=true), a subscription",
    responses={200: {"description": "an EPCISQueryDocument"}, 400: {}, 404: {}, 413: {}},
)
async def query_events(name: QueryName, request: Request, principal: Annotated[Principal, READERS]) -> Response:
    runtime: Runtime = request.app.state.runtime
    found = await named.get(runtime.platform_pool, principal, name)
    if found is None:
        return _no_such_name(name)
    pairs = list(request.query_params.multi_items())
    return await page_answer(request, lambda: named.run(runtime.platform_pool, found, principal, pairs))


@router.options("/queries", summary="EPCIS and CBV versions of the queries resource", status_code=204)
async def options_queries(principal: Annotated[Principal, READERS]) -> Response:
    return Response(status_code=204, headers={**EPCIS_HEADERS, "Allow": "GET, POST, OPTIONS"})


@router.options("/queries/{name}", summary="EPCIS and CBV versions of a named query", status_code=204)
async def options_query(name: QueryName, principal: Annotated[Principal, READERS]) -> Response:
    return Response(status_code=204, headers={**EPCIS_HEADERS, "Allow": "GET, DELETE, OPTIONS"})


@router.options("/queries/{name}/events", summary="EPCIS and CBV versions of a named query's events", status_code=204)
async def options_query_events(name: QueryName, principal: Annotated[Principal, READERS]) -> Response:
    return Response(status_code=204, headers={**EPCIS_HEADERS, "Allow": "GET, OPTIONS"})
