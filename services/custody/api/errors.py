"""Error responses the custody routes document (problem+json: services/common/problems.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import asyncpg
from fastapi import Path, status
from fastapi.responses import JSONResponse

from contracts.errors import Violation
from services.common.problems import violations_response

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The request breaks a rule (EPCIS: the document breaks an EPCIS 2.0 rule)."},
    401: {"description": "No API key, or an unknown, revoked or expired one."},
    403: {"description": "The key's role may not do this."},
    404: {"description": "Not found, or not visible to the caller."},
    409: {"description": "Conflicts with the current state (already registered, already verified, ...)."},
    413: {"description": "Too large."},
    415: {"description": "Unsupported media type."},
    422: {"description": "Invalid input: every violation names the field, a reason code and a sentence."},
}


# Text PostgreSQL cannot store (NUL) or UTF-8 cannot encode (lone surrogates): the sender's fault, not a 500.
UNSTORABLE_TEXT: tuple[type[BaseException], ...] = (
    asyncpg.CharacterNotInRepertoireError,
    asyncpg.UntranslatableCharacterError,
    UnicodeEncodeError,
)


def unstorable_text() -> JSONResponse:
    return violations_response(
        [
            Violation(
                field="",
                reason="invalid_character",
                message="The body holds a NUL character or a lone surrogate, which cannot be stored.",
            )
        ]
    )


def refused_response(violations: Sequence[Violation]) -> JSONResponse:
    """403 problem+json: the caller may not write this step (write authority); every rule broken is named."""
    return violations_response(
        violations,
        status.HTTP_403_FORBIDDEN,
        title="The caller may not record this step.",
        type_="urn:bpass:problem:write_refused",
    )


PassportIdPath = Annotated[str, Path(pattern=r"^urn:uuid:[0-9a-fA-F-]{36}$", description="`urn:uuid:` passport id.")]
HandlerIdPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="Handler id.")]
TenantPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="Tenant name.")]
CaptureIdPath = Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{36}$", description="Capture job id.")]
