"""EPCIS 2.0 capture interface, GS1 REST binding semantics: `POST /epcis/capture` -> 202 + capture id;
`GET /epcis/capture/{captureID}` reports the job (per event: index, eventHash, outcome or errors);
`GET /epcis/capture` lists the caller's jobs (an array of CaptureJob). Refusals are the binding's exceptions."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import uuid_utils
from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response

from contracts.errors import ValidationFailed, Violation
from services.common.auth import Principal, Role, require_roles
from services.common.db import DbConnection
from services.common.http_uow import Writes
from services.common.outbox import Outbox
from services.common.problems import problem_response, violations_response
from services.common.runtime import Runtime
from services.custody.api.errors import ERROR_RESPONSES, UNSTORABLE_TEXT, CaptureIdPath, unstorable_text
from services.custody.capture import store
from services.custody.capture.binding import EpcisRoute
from services.custody.capture.usecases import (
    CaptureResult,
    capture_and_publish,
    document_violations,
    job_body,
    job_summary,
    tenant_view,
)
from services.custody.domain.epcis.query import QueryParameterError
from services.custody.domain.epcis.xml import document_from_xml
from services.custody.ingest.api import HANDLER_ROLES, reporter_source
from services.custody.query import store as query_store
from services.custody.query.usecases import PAGE_CURSOR_REFUSED
from services.custody.query.value_lists import open_page, sign_page

JOB_LIST = "capture jobs"
DEFAULT_JOBS_PER_PAGE = 30
MAX_JOBS_PER_PAGE = 500
router = APIRouter(prefix="/epcis", tags=["EPCIS 2.0 capture"], responses=ERROR_RESPONSES, route_class=EpcisRoute)

CAPTURERS = require_roles(*HANDLER_ROLES, Role.platform_operator)
JOB_READERS = require_roles(*HANDLER_ROLES, Role.platform_operator, Role.auditor, Role.regulator)
JSON_MEDIA_TYPES = ("application/json", "application/ld+json")
XML_MEDIA_TYPES = ("application/xml", "text/xml")
MEDIA_TYPES = JSON_MEDIA_TYPES + XML_MEDIA_TYPES
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
MAX_EVENTS = 10_000


# The reason of an EPCIS exception that names no broken rule (those that do take the first rule's reason).
_EPCIS_REASONS = {
    "UnsupportedMediaType": "unsupported_media_type",
    "CaptureLimitExceededException": "request_too_large",
}


def _epcis_error(kind: str, title: str, status_code: int, violations: list[Violation] | None = None) -> JSONResponse:
    """problem+json whose `type` is the EPCIS 2.0 exception (`epcisException:<kind>`)."""
    if violations:
        return violations_response(violations, status_code, title=title, type_=f"epcisException:{kind}")
    return problem_response(
        status_code, _EPCIS_REASONS.get(kind, "epcis_refused"), title, title=title, type_=f"epcisException:{kind}"
    )


@router.post(
    "/capture",
    status_code=202,
    summary="Capture an EPCIS 2.0 document (JSON, JSON-LD, or XML: EPCIS 2.0, or 1.2 converted)",
    responses={202: {"description": "capture job created"}, 400: {}, 413: {}, 415: {}},
)
async def capture(
    request: Request,
    principal: Annotated[Principal, CAPTURERS],
    write: Writes,
    content_type: Annotated[str | None, Header()] = None,
    error_behaviour: Annotated[
        str | None,
        Header(
            alias="GS1-Capture-Error-Behaviour",
            description="`rollback` (default): all or nothing; `proceed`: apply the events that pass.",
        ),
    ] = None,
) -> JSONResponse:
    received_at = datetime.now(UTC)
    runtime: Runtime = request.app.state.runtime
    media_type = (content_type or "application/json").split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        return _epcis_error("UnsupportedMediaType", f"Send {' or '.join(MEDIA_TYPES)}, not {media_type}.", 415)
    behaviour = (error_behaviour or "rollback").strip().lower()
    if behaviour not in ("rollback", "proceed"):
        violation = Violation(
            field="headers.GS1-Capture-Error-Behaviour",
            reason="invalid_capture_error_behaviour",
            message="GS1-Capture-Error-Behaviour is rollback or proceed.",
        )
        return _epcis_error("ValidationException", "Unknown capture error behaviour.", 400, [violation])
    body = await request.body()
    if len(body) > MAX_DOCUMENT_BYTES:
        return _epcis_error("CaptureLimitExceededException", f"Documents are at most {MAX_DOCUMENT_BYTES} bytes.", 413)
    if media_type in XML_MEDIA_TYPES:
        try:  # read as the JSON form, validated and hashed as JSON documents are (a thread: large documents)
            document = await asyncio.to_thread(document_from_xml, body)
        except ValidationFailed as failed:
            return _epcis_error("ValidationException", "The document is not EPCIS XML.", 400, failed.violations)
    else:
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            violation = Violation(field="", reason="invalid_json", message=f"The body is not valid JSON: {exc}.")
            return _epcis_error("ValidationException", "The document is not JSON.", 400, [violation])
    violations = document_violations(document)
    if violations:
        return _epcis_error("ValidationException", "The document breaks EPCIS 2.0 rules.", 400, violations)
    events = document["epcisBody"]["eventList"]
    if len(events) > MAX_EVENTS:
        return _epcis_error("CaptureLimitExceededException", f"Documents hold at most {MAX_EVENTS} events.", 413)
    source = reporter_source(principal)
    capturer = principal.tenant if principal.role in HANDLER_ROLES else None
    capture_id = str(uuid_utils.uuid7())

    async def work(conn: DbConnection, outbox: Outbox) -> CaptureResult:
        return await capture_and_publish(
            conn,
            outbox,
            runtime.settings,
            document,
            capture_id=capture_id,
            capturer=capturer,
            source=source,
            principal=principal.name,
            channel="http",
            error_behaviour=behaviour,
            received_at=received_at,
        )

    try:
        result = await write.run(principal, work)
    except ValidationFailed as failed:
        return _epcis_error("ValidationException", "The document breaks EPCIS 2.0 rules.", 400, failed.violations)
    except UNSTORABLE_TEXT:
        return unstorable_text()
    return JSONResponse(
        {"captureID": capture_id, "success": result.success},
        status_code=202,
        headers={"Location": f"/epcis/capture/{capture_id}"},
    )


# Cross-tenant readers see every job; an auditor is bound to the tenant that granted it (tenant_view).
ALL_JOBS_READERS = frozenset({Role.platform_operator, Role.regulator})


def _not_visible(capture_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        {"reason": "capture_not_found", "message": f"No capture job {capture_id} is visible to you."},
    )


@router.get("/capture/{capture_id}", summary="A capture job: per event its index, eventHash and outcome or errors")
async def capture_job(
    capture_id: CaptureIdPath, request: Request, principal: Annotated[Principal, JOB_READERS]
) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    row = await store.get_job(runtime.pool, capture_id)
    if row is None:
        raise _not_visible(capture_id)
    if principal.role in ALL_JOBS_READERS or _captured_by(principal, row["capturer"]):
        return job_body(row)
    view = await tenant_view(runtime.pool, principal.tenant, job_body(row)) if principal.role is Role.auditor else None
    if view is None:
        raise _not_visible(capture_id)
    return view


def _captured_by(principal: Principal, capturer: str | None) -> bool:
    """A handler's keys all name the handler (their tenant): any of them reads what any of them captured."""
    return principal.role in HANDLER_ROLES and principal.tenant is not None and capturer == principal.tenant


@router.get(
    "/capture",
    summary="Your capture jobs, newest first (an array of CaptureJob; pages by nextPageToken, Link rel=next)",
    description="A handler lists the jobs it captured (over HTTP or the topic, with any of its keys); an auditor "
    "those that recorded steps of its tenant's passports; regulators and the platform operator every job. "
    "`perPage` jobs a page (30 when not given); the next page's URL is in the `Link` header (rel=next).",
    responses={400: {}},
)
async def capture_jobs(
    request: Request,
    principal: Annotated[Principal, JOB_READERS],
    per_page: Annotated[int | None, Query(alias="perPage", ge=1, le=MAX_JOBS_PER_PAGE)] = None,
    token: Annotated[str | None, Query(alias="nextPageToken", max_length=2000)] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_JOBS_PER_PAGE, deprecated=True)] = None,
) -> Response:
    runtime: Runtime = request.app.state.runtime
    size = per_page or limit or DEFAULT_JOBS_PER_PAGE
    key = await query_store.token_key(runtime.platform_pool)  # the page-token key is platform only
    try:
        position = open_page(key, JOB_LIST, principal, token) if token else None
        after = (datetime.fromisoformat(position[0]), position[1]) if position else None
    except (QueryParameterError, ValueError, IndexError):
        return problem_response(
            400,
            PAGE_CURSOR_REFUSED,
            "nextPageToken is not a token of your capture job list: follow the list's Link header.",
            field="query.nextPageToken",
            title="Query parameter refused.",
            type_="epcisException:QueryParameterException",
            extensions={"parameter": "nextPageToken"},
        )
    if principal.role in ALL_JOBS_READERS:
        rows = await store.list_jobs(runtime.pool, None, size + 1, after)
    elif principal.role is Role.auditor:
        rows = await store.list_tenant_jobs(runtime.pool, principal.tenant, size + 1, after) if principal.tenant else []
    else:
        rows = await store.list_jobs(runtime.pool, principal.tenant, size + 1, after) if principal.tenant else []
    headers: dict[str, str] = {}
    if len(rows) > size:
        last = rows[size - 1]
        next_token = sign_page(key, JOB_LIST, principal, [last["captured_at"].isoformat(), last["capture_id"]])
        kept = [(n, v) for n, v in request.query_params.multi_items() if n != "nextPageToken"]
        headers["Link"] = f'<{request.url.path}?{urlencode([*kept, ("nextPageToken", next_token)])}>; rel="next"'
        headers["GS1-Next-Page-Token"] = next_token
    return JSONResponse([job_summary(r) for r in rows[:size]], headers=headers)
