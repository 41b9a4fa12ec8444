"""HTTP plumbing of the identity routes: request size limits, content negotiation, common refusals, who reads
which tenant's passports, and the transaction (with its outbox) a write runs in."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import re
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from fastapi import HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from starlette.types import Message

from contracts.errors import ValidationFailed
from services.common.auth import OEM_ROLES, Principal, Role, require_roles
from services.common.runtime import Runtime
from services.identity.domain import identifiers
from services.identity.domain.violations import unstorable_text

log = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_BODY_LIMIT = 2 * MiB
# 100,000 passports with shared defaults take ~12 MB; each passport repeating its static data ~580 MB,
# which no gateway should pass (ours stops at 25 MB): such requests must use `defaults`.
BULK_BODY_LIMIT = 64 * MiB
MAX_VERSION = 2**31 - 1  # PostgreSQL integer

# A second-life operator (role repairer, tenant = its handler id) owns the passports it minted: it reads those
# (reader_tenant confines it to its own tenant), never another tenant's.
READERS = require_roles(*OEM_ROLES, Role.auditor, Role.repairer, Role.regulator, Role.platform_operator)

# Concurrent requests for overlapping batteries lock rows in one order, but a deadlock with an unrelated
# transaction stays possible: the whole request is retried, never half applied.
T = TypeVar("T")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed request (a body that is no JSON, a malformed If-Match header)."},
    401: {"description": "No API key, or an unknown, revoked or expired one."},
    403: {"description": "The key's role (or tenant-less key) may not do this."},
    404: {"description": "Not found, or not visible to the caller (another tenant's passport)."},
    413: {"description": "The body is too large (`request_too_large`)."},
    422: {"description": "Invalid input: every violation names the field, a reason code and a sentence."},
}


def too_large(limit: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        {
            "reason": "request_too_large",
            "message": f"The request body exceeds {limit // MiB} MiB. Split it, or give values shared by many "
            "passports once in `defaults`.",
        },
    )


# JSON escapes of what PostgreSQL cannot store in text or jsonb: NUL, and (possibly unpaired) surrogates.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def _check_text(body: bytes) -> None:
    if not _SUSPECT_ESCAPE.search(body):  # the usual case: nothing to look at closely
        return
    try:
        parsed = json.loads(body)
    except ValueError:
        return  # not JSON: the route's own parsing answers that
    problems = unstorable_text(parsed)
    if problems:
        raise ValidationFailed(problems)


def limited_route(limit: int) -> type[APIRoute]:
    """A route class refusing bodies over `limit` bytes with 413 (before reading them when the length is
    declared, as soon as the limit is passed when it is not), and text PostgreSQL cannot store with 422."""

    class LimitedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            endpoint = super().get_route_handler()

            async def limited(request: Request) -> Response:
                if request.method not in ("POST", "PUT", "PATCH"):
                    return await endpoint(request)
                declared = request.headers.get("content-length")
                if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
                    raise too_large(limit)
                chunks: list[bytes] = []
                received = 0
                while True:
                    message = await request.receive()
                    if message["type"] != "http.request":
                        break
                    chunk = message.get("body", b"")
                    received += len(chunk)
                    if received > limit:
                        raise too_large(limit)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
                body = b"".join(chunks)
                _check_text(body)
                replayed = False

                async def replay() -> Message:
                    nonlocal replayed
                    if replayed:
                        return await request.receive()
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}

                return await endpoint(Request(request.scope, replay))

            return limited

    return LimitedRoute


_gc_pauses = 0


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a bulk request builds its ~10 objects per passport: with a million
    young objects alive, the collector's passes cost a third of the CPU time. Reference counting still frees
    memory; collection resumes when the last bulk request ends."""
    global _gc_pauses
    if _gc_pauses == 0:
        gc.disable()
    _gc_pauses += 1
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0:
            gc.enable()


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def tenant_of(principal: Principal) -> str:
    if principal.tenant is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, {"reason": "no_tenant", "message": "This key names no tenant."})
    return principal.tenant


def passport_id_of(text: str) -> str:
    """The canonical passport id (`urn:uuid:…`) a path names; 404 when it names none."""
    try:
        return identifiers.format_passport_id(identifiers.parse_passport_id(text))
    except ValidationFailed:
        raise passport_not_found(text[:100]) from None


def passport_not_found(passport_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        {"reason": "passport_not_found", "message": f"No passport {passport_id} is visible to you."},
    )


def parse_if_match(value: str | None) -> int | None:
    """The version an `If-Match` header names (`3`, `"3"`, `W/"3"`); None for absent or `*`."""
    if value is None or value.strip() == "*":
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit()):  # "²" is a digit to str.isdigit, not to int()
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            {"reason": "invalid_if_match", "message": 'If-Match must name a passport version, e.g. If-Match: "3".'},
        )
    return int(text)


def etag(version: int) -> str:
    return f'"{version}"'


def reader_tenant(principal: Principal) -> str | None:
    """Regulators and the platform operator read every tenant's passports; everyone else only their own."""
    return None if principal.role in {Role.regulator, Role.platform_operator} else tenant_of(principal)
