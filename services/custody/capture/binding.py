"""The EPCIS 2.0 REST binding's refusals: every `/epcis/` route answers problem+json whose `type` is the binding's
exception (`epcisException:<Name>`), also when authentication or a visibility check refuses it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

from services.common.problems import default_reason, problem_response

# HTTP status -> the binding's exception for refusals raised without one (authentication, roles, visibility).
EXCEPTION_OF_STATUS = {
    401: "SecurityException",
    403: "SecurityException",
    404: "NoSuchResourceException",
}


def exception_type(name: str) -> str:
    return f"epcisException:{name}"


def epcis_problem(exc: HTTPException) -> Response:
    """The problem document of a raised `HTTPException`, typed as the binding's exception for its status."""
    detail: Any = exc.detail
    if isinstance(detail, Mapping):
        reason = str(detail.get("reason") or default_reason(exc.status_code))
        message = str(detail.get("message") or detail.get("detail") or reason)
        field = detail.get("field") or None
    else:
        reason, message, field = default_reason(exc.status_code), str(detail or exc.status_code), None
    name = EXCEPTION_OF_STATUS[exc.status_code]
    return problem_response(
        exc.status_code,
        reason,
        message,
        field=field,
        title=name,
        type_=exception_type(name),
        headers=dict(exc.headers or {}),
    )


class EpcisRoute(APIRoute):
    """A route of the binding: 401/403/404 raised by its dependencies or body become the binding's exceptions."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handle(request)
            except HTTPException as exc:
                if exc.status_code not in EXCEPTION_OF_STATUS:
                    raise
                return epcis_problem(exc)

        return route_handler
