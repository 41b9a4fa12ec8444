"""How the identity service reports what is wrong with a request: violations with a JSON path, a stable reason
and a sentence; pydantic's errors in that form; text PostgreSQL cannot store. No I/O."""

from __future__ import annotations

from typing import Any

import pydantic

from contracts.errors import ValidationFailed, Violation

TOO_MANY_VIOLATIONS = "too_many_violations"
INVALID_TEXT = "invalid_text"

# A request of 100,000 passports that are all wrong must not answer with 100,000 violations.
MAX_VIOLATIONS_REPORTED = 1000


def join_path(prefix: str, *parts: str | int) -> str:
    """Dotted JSON path; `prefix` may or may not end with a dot."""
    path = ".".join(str(part) for part in parts)
    if not prefix:
        return path
    return f"{prefix}{path}" if prefix.endswith(".") else f"{prefix}.{path}"


def fail_if(violations: list[Violation]) -> None:
    """Raise ValidationFailed with at most MAX_VIOLATIONS_REPORTED violations (and a note of the rest)."""
    if not violations:
        return
    if len(violations) > MAX_VIOLATIONS_REPORTED:
        rest = len(violations) - MAX_VIOLATIONS_REPORTED
        violations = [
            *violations[:MAX_VIOLATIONS_REPORTED],
            Violation(
                field="",
                reason=TOO_MANY_VIOLATIONS,
                message=f"{rest:,} more violations are not listed; fix these and send again.",
            ),
        ]
    raise ValidationFailed(violations)


def unstorable_text(value: Any, path: str = "") -> list[Violation]:
    """Strings (and keys) PostgreSQL would refuse: NUL characters and unpaired surrogates."""
    found: list[Violation] = []

    def bad(text: str) -> bool:
        if "\x00" in text:
            return True
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False

    def walk(node: Any, where: str) -> None:
        if len(found) >= 20:
            return
        if isinstance(node, str):
            if bad(node):
                found.append(
                    Violation(
                        field=where,
                        reason=INVALID_TEXT,
                        message="The text contains a NUL character or an unpaired surrogate, which cannot be "
                        "stored; remove it.",
                    )
                )
        elif isinstance(node, dict):
            for key, item in node.items():
                child = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and bad(key):
                    walk(key, where)
                walk(item, child)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{where}.{index}" if where else str(index))

    walk(value, path)
    return found


_FRIENDLY_MESSAGES = {
    "missing": "This field is required; supply it.",
    "extra_forbidden": "Unknown field; remove it or check its spelling.",
    "finite_number": "Give a finite number (not NaN or infinity).",
}


def pydantic_violations(exc: pydantic.ValidationError, path_prefix: str = "") -> list[Violation]:
    """Pydantic's errors as Violations: field = dotted loc, reason = `invalid_<pydantic error type>`."""
    violations: list[Violation] = []
    for error in exc.errors(include_url=False):
        loc = [part for part in error["loc"] if isinstance(part, int) or part]
        field = join_path(path_prefix, *loc) if loc else path_prefix.rstrip(".")
        message = _FRIENDLY_MESSAGES.get(error["type"])
        if message is None:
            shown = repr(error.get("input"))
            shown = shown if len(shown) <= 60 else f"{shown[:59]}…"
            message = f"{error['msg']} (got {shown}); correct the value."
        violations.append(Violation(field=field, reason=f"invalid_{error['type']}", message=message))
    return violations
