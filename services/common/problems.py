"""The error bodies every service answers with, and the FastAPI exception handlers that produce them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from contracts.errors import ValidationFailed, Violation


class ErrorDetail(BaseModel):
    reason: str = Field(description="Stable machine-readable reason code.", examples=["passport_not_found"])
    message: str = Field(description="What is wrong and what to do, in one sentence.")


class ErrorResponse(BaseModel):
    detail: ErrorDetail | str = Field(description="Reason code and sentence (or, for unparsable bodies, a sentence).")


# Every route can answer these; routes document their own 200s, 4xx specifics and 422 shapes on top.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body could not be parsed (not JSON, or a wrong content type)."},
    401: {"model": ErrorResponse, "description": "No API key, or an unknown, revoked or expired one."},
    403: {"model": ErrorResponse, "description": "The key's role or tenant may not do this."},
    404: {"model": ErrorResponse, "description": "Nothing with that id is visible to the caller."},
    409: {"model": ErrorResponse, "description": "Not possible in the resource's current state (e.g. not ready yet)."},
    429: {"model": ErrorResponse, "description": "Rate limit reached; retry after the Retry-After seconds."},
}


def violations_response(violations: Sequence[Violation], status_code: int = 422) -> JSONResponse:
    return JSONResponse(
        {
            "error": "validation_failed",
            "message": f"{len(violations)} rule(s) broken; fix the named fields and send again.",
            "violations": [v.model_dump() for v in violations],
        },
        status_code=status_code,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        violations = []
        for error in exc.errors():
            loc = [str(p) for p in error.get("loc", ())]
            if loc and loc[0] in {"body", "query", "path", "header"}:
                loc = loc[1:] if loc[0] == "body" else loc
            violations.append(
                Violation(
                    field=".".join(loc),
                    reason=f"invalid_{error.get('type', 'value')}",
                    message=str(error.get("msg")),
                )
            )
        return violations_response(violations)

    @app.exception_handler(asyncpg.DataError)
    async def on_unstorable_value(_: Request, exc: asyncpg.DataError) -> JSONResponse:
        # Input that passed validation but that PostgreSQL cannot hold (NUL characters, out-of-range numbers).
        return violations_response(
            [Violation(field="", reason="unstorable_value", message=f"A value cannot be stored: {exc}. Fix and retry.")]
        )

    @app.exception_handler(ValidationFailed)
    async def on_validation_failed(_: Request, exc: ValidationFailed) -> JSONResponse:
        return violations_response(exc.violations)
