"""The one error body of every service (RFC 9457 problem details), and the exception handlers that produce it.

Every refusal answers `application/problem+json` with `type` (`urn:bpass:problem:<reason>`), `title`, `status`,
`detail` (what is wrong and what to do, in sentences), `reason` (a stable code clients branch on) and `field`
when one field is at fault. Refusals naming several broken rules list them all in `violations` (each `field`,
`reason`, `message`); the top-level `reason` and `field` are the first one's. Routes raise `HTTPException` with
a `{"reason", "message", "field"?}` detail (extra keys become extension members) or return `problem_response`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.errors import ValidationFailed, Violation

PROBLEM_MEDIA_TYPE = "application/problem+json"

# The reason of a refusal raised without one (a bare `HTTPException(404)`, Starlette's unknown route or method).
DEFAULT_REASONS: dict[int, str] = {
    400: "bad_request",
    401: "missing_api_key",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}


class Problem(BaseModel):
    """RFC 9457 problem details, as every service answers every refusal."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="`urn:bpass:problem:<reason>`.", examples=["urn:bpass:problem:passport_not_found"])
    title: str = Field(description="The HTTP status phrase (or the problem type's summary).", examples=["Not Found"])
    status: int = Field(description="The HTTP status code.", examples=[404])
    detail: str = Field(description="What is wrong and what to do, in sentences.")
    reason: str = Field(description="Stable machine-readable reason code.", examples=["passport_not_found"])
    field: str | None = Field(
        default=None, description="The field (dotted path) at fault, when one is.", examples=["purpose"]
    )
    violations: list[Violation] | None = Field(
        default=None, description="Every broken rule (`field`, `reason`, `message`), when the refusal names rules."
    )


# Kept as the name the routes' OpenAPI descriptions use.
ErrorResponse = Problem

# Every route can answer these; routes document their own 200s, 4xx specifics and 422 shapes on top.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body could not be parsed (not JSON, or a wrong content type)."},
    401: {"model": Problem, "description": "No API key, or an unknown, revoked or expired one."},
    403: {"model": Problem, "description": "The key's role or tenant may not do this."},
    404: {"model": Problem, "description": "Nothing with that id is visible to the caller."},
    409: {"model": Problem, "description": "Not possible in the resource's current state (e.g. not ready yet)."},
    413: {"model": Problem, "description": "The body is too large (`request_too_large`)."},
    429: {"model": Problem, "description": "Rate limit reached; retry after the Retry-After seconds."},
}


def default_reason(status_code: int) -> str:
    if status_code in DEFAULT_REASONS:
        return DEFAULT_REASONS[status_code]
    try:
        return HTTPStatus(status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def problem_body(
    status_code: int,
    reason: str,
    detail: str,
    *,
    field: str | None = None,
    title: str | None = None,
    type_: str | None = None,
    violations: Sequence[Violation] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The problem document: the members every refusal carries, then `field`, `violations` and extensions."""
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        phrase = "Error"
    body: dict[str, Any] = {
        "type": type_ or f"urn:bpass:problem:{reason}",
        "title": title or phrase,
        "status": status_code,
        "detail": detail,
        "reason": reason,
    }
    if field:
        body["field"] = field
    if violations is not None:
        body["violations"] = [v.model_dump() for v in violations]
    for name, value in (extensions or {}).items():
        body.setdefault(name, value)
    return body


def problem_response(
    status_code: int,
    reason: str,
    detail: str,
    *,
    field: str | None = None,
    title: str | None = None,
    type_: str | None = None,
    violations: Sequence[Violation] | None = None,
    extensions: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = problem_body(
        status_code,
        reason,
        detail,
        field=field,
        title=title,
        type_=type_,
        violations=violations,
        extensions=extensions,
    )
    return JSONResponse(body, status_code=status_code, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


def violations_body(
    violations: Sequence[Violation],
    status_code: int = 422,
    *,
    title: str | None = None,
    type_: str | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A refusal naming broken rules: `reason` and `field` of the first, every one in `violations`."""
    if not violations:
        violations = [Violation(field="", reason=default_reason(status_code), message="The request was refused.")]
    first = violations[0]
    return problem_body(
        status_code,
        first.reason,
        " ".join(v.message for v in violations),
        field=first.field,
        title=title,
        type_=type_,
        violations=violations,
        extensions=extensions,
    )


def violations_response(
    violations: Sequence[Violation],
    status_code: int = 422,
    *,
    title: str | None = None,
    type_: str | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body = violations_body(violations, status_code, title=title, type_=type_, extensions=extensions)
    return JSONResponse(body, status_code=status_code, media_type=PROBLEM_MEDIA_TYPE)


def http_exception_response(exc: StarletteHTTPException) -> Response:
    """The problem document of a raised `HTTPException` (its detail a sentence, or a reason/message/field dict)."""
    headers = dict(exc.headers or {})
    if exc.status_code < 400:  # a redirect raised as an exception (the dashboard's login): no body to shape
        return Response(status_code=exc.status_code, headers=headers)
    detail: Any = exc.detail
    if isinstance(detail, Mapping):
        extensions = {k: v for k, v in detail.items() if k not in {"reason", "message", "field", "detail"}}
        return problem_response(
            exc.status_code,
            str(detail.get("reason") or default_reason(exc.status_code)),
            str(detail.get("message") or detail.get("detail") or _phrase(exc.status_code)),
            field=detail.get("field") or None,
            extensions=extensions,
            headers=headers,
        )
    return problem_response(
        exc.status_code,
        default_reason(exc.status_code),
        str(detail) if detail else _phrase(exc.status_code),
        headers=headers,
    )


def _phrase(status_code: int) -> str:
    try:
        return f"{HTTPStatus(status_code).phrase}."
    except ValueError:
        return "Refused."


def request_violations(exc: RequestValidationError) -> list[Violation]:
    violations = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        if loc and loc[0] in {"body", "query", "path", "header"}:
            loc = loc[1:] if loc[0] == "body" else loc
        violations.append(
            Violation(
                field=".".join(loc), reason=f"invalid_{error.get('type', 'value')}", message=str(error.get("msg"))
            )
        )
    return violations


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Say in the OpenAPI document what every refusal really is: each 4xx/5xx response of each operation is
    `application/problem+json` with the Problem schema (or the operation's own problem schema, when it documents
    one), beside any other media type it may answer with (an HTML page for a browser); FastAPI's default 422
    schema (`HTTPValidationError`) is not what the services send, so it goes."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    if "Problem" not in schemas:
        schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    problem = {"$ref": "#/components/schemas/Problem"}
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            for code, response in (operation.get("responses") or {}).items():
                if not (str(code).isdigit() and int(code) >= 400):
                    continue
                content = response.setdefault("content", {})
                plain = content.pop("application/json", {})
                documented = content.get(PROBLEM_MEDIA_TYPE) or plain  # the route's own problem schema comes first
                schema = documented.get("schema")
                if schema is None or schema.get("$ref", "").endswith("/HTTPValidationError"):
                    schema = problem
                content[PROBLEM_MEDIA_TYPE] = {**documented, "schema": schema}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return openapi


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def on_http_exception(_: Request, exc: StarletteHTTPException) -> Response:
        return http_exception_response(exc)

    @app.exception_handler(RequestValidationError)
    async def on_request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return violations_response(request_violations(exc))

    @app.exception_handler(asyncpg.DataError)
    async def on_unstorable_value(_: Request, exc: asyncpg.DataError) -> JSONResponse:
        # Input that passed validation but that PostgreSQL cannot hold (NUL characters, out-of-range numbers).
        return violations_response(
            [Violation(field="", reason="unstorable_value", message=f"A value cannot be stored: {exc}. Fix and retry.")]
        )

    @app.exception_handler(ValidationFailed)
    async def on_validation_failed(_: Request, exc: ValidationFailed) -> JSONResponse:
        return violations_response(exc.violations)

    @app.exception_handler(Exception)
    async def on_unexpected(_: Request, exc: Exception) -> Response:
        # A bug or an outage behind the service: the same shape as every refusal, nothing of the exception's text
        # (it may hold others' data). The server logs the exception with its trace (it is raised again after this).
        detail = "The service failed to handle this request and logged why. Retry later; if it persists, report "
        detail += "the time and path of the request."
        return problem_response(500, "internal_error", detail)
