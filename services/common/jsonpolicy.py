"""One JSON decoding policy for every untrusted body, HTTP and Kafka alike.

Python's and pydantic's decoders accept what the platform cannot handle afterwards: nesting deep enough to exhaust
the interpreter's recursion (a 500, and a worker lost behind nginx), integer literals longer than `int` converts
(4,300 digits), numbers that overflow a double, NUL characters and lone surrogates that PostgreSQL cannot store.
`check` refuses those before any decoder runs, with a stable reason code naming the rule:

| reason | rule | HTTP |
| --- | --- | --- |
| `request_too_large` | at most `MAX_BODY_BYTES` | 413 |
| `json_too_deep` | arrays/objects nested at most `MAX_DEPTH` deep | 400 |
| `number_too_long` | a number literal has at most `MAX_NUMBER_CHARS` characters | 400 |
| `unstorable_text` | (with `text=True`) no `\\u0000` and no lone surrogate in any string or key | 400 |

The HTTP middleware and the consumers apply the structural rules to every body. Text PostgreSQL cannot store is
refused by each service naming the field (identity `invalid_text`, custody `invalid_character`), which a body
within these limits can be walked for safely; `text=True` is for callers without such a check.
Everything else (plain syntax errors) is left to the caller's decoder and its usual `invalid_json` answer.
The checks are C-level passes over the bytes (translate, replace, find), so a large valid body costs little.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from contracts.errors import Violation
from services.common.problems import violations_body

MAX_DEPTH = 64
MAX_NUMBER_CHARS = 40
MAX_BODY_BYTES = 64 * 1024 * 1024

BODY_TOO_LARGE = "request_too_large"
JSON_TOO_DEEP = "json_too_deep"
NUMBER_TOO_LONG = "number_too_long"
UNSTORABLE_TEXT = "unstorable_text"

_NUL_OR_ESCAPE = re.compile(rb"\\(?:u0000|.)", re.DOTALL)
# Brackets of either kind as one kind (nesting depth is their sum); quotes kept to tell strings apart.
_BRACKETS_ONLY = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS_OR_QUOTES = bytes(b for b in range(256) if b not in b'[]{}"')
# Number characters as "0", everything else as " ": a long number literal is then a long run of "0".
_NUMBER_CHARS = bytes(ord("0") if chr(b) in "-+0123456789.eE" else ord(" ") for b in range(256))
_LONG_NUMBER = b"0" * (MAX_NUMBER_CHARS + 1)
# Surrogate escapes (paired or lone): only a full decode tells them apart.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class JsonPolicyViolation(ValueError):
    """A body the policy refuses: reason code, the field it concerns ("" for the body) and a sentence."""

    def __init__(self, reason: str, message: str, field: str = "") -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.field = field

    @property
    def status_code(self) -> int:
        return 413 if self.reason == BODY_TOO_LARGE else 400

    def violation(self) -> Violation:
        return Violation(field=self.field, reason=self.reason, message=self.message)


def _too_deep() -> JsonPolicyViolation:
    return JsonPolicyViolation(JSON_TOO_DEEP, f"Arrays and objects nest at most {MAX_DEPTH} deep.")


def _nesting_exceeds(brackets: bytes, limit: int) -> bool:
    """Whether brackets (all `[`/`]`) nest deeper than `limit`: each pass removes the innermost pairs (one level:
    `replace` does not look again at the pair a removal forms), so brackets within the limit are gone after
    `limit` passes."""
    for level in range(limit):
        if not brackets:
            return False
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):  # unbalanced ("]]][[["): what is still open nests on top of `level`
            return level + brackets.count(b"[") > limit
        brackets = shorter
    return b"[" in brackets


def _has_nul_escape(raw: bytes) -> bool:
    if b"\\u0000" not in raw:
        return False
    return any(m.group() == b"\\u0000" for m in _NUL_OR_ESCAPE.finditer(raw))


def _without_escaped_quotes(raw: bytes) -> bytes:
    """The body with its escaped backslashes and escaped quotes removed: every `"` left delimits a string.
    (Escapes pair left to right, so removing `\\\\` first and then `\\"` is exact.)"""
    if b"\\" not in raw:
        return raw
    return raw.replace(b"\\\\", b"").replace(b'\\"', b"")


def _outside_strings(text: bytes) -> bytes:
    """`text` (no escaped quotes) without the contents of its strings."""
    return b"".join(text.split(b'"')[0::2])


def _brackets_outside_strings(plain: bytes) -> bytes:
    """The brackets of a body (no escaped quotes) that are not inside a string, all as `[`/`]`. Quotes and
    brackets only are kept, then each `""` (a string without brackets, or two quotes adjacent once their contents
    are gone) is dropped: removing two quotes at once keeps every remaining bracket inside or outside a string,
    and leaves little to split."""
    kept = plain.translate(_BRACKETS_ONLY, _NOT_BRACKETS_OR_QUOTES).replace(b'""', b"")
    return _outside_strings(kept) if b'"' in kept else kept


def check(body: bytes | bytearray | memoryview | str, *, max_bytes: int = MAX_BODY_BYTES, text: bool = False) -> None:
    """Raise `JsonPolicyViolation` when the body breaks the policy; return quietly otherwise (also for bodies
    that are not JSON at all: the caller's decoder answers those)."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    if len(raw) > max_bytes:
        raise JsonPolicyViolation(BODY_TOO_LARGE, f"The body has {len(raw)} bytes; at most {max_bytes} are accepted.")
    plain = _without_escaped_quotes(raw)
    # A long run of number characters anywhere is rare: only then are strings (digits in text) told apart.
    if _LONG_NUMBER in raw.translate(_NUMBER_CHARS) and _LONG_NUMBER in _outside_strings(plain).translate(
        _NUMBER_CHARS
    ):
        raise JsonPolicyViolation(NUMBER_TOO_LONG, f"Number literals have at most {MAX_NUMBER_CHARS} characters.")
    if _nesting_exceeds(_brackets_outside_strings(plain), MAX_DEPTH):
        raise _too_deep()
    if not text:
        return
    if _has_nul_escape(raw):
        raise JsonPolicyViolation(UNSTORABLE_TEXT, "Strings may not contain the NUL character (\\u0000).")
    if raw.isascii() and not _SURROGATE_ESCAPE.search(raw):
        return
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        error = str(exc)
        if "surrogate" in error or "UTF-8" in error:
            raise JsonPolicyViolation(
                UNSTORABLE_TEXT, "Strings must be valid Unicode: a lone surrogate (\\ud800-\\udfff) cannot be stored."
            ) from None
        if "depth" in error or "recursion" in error:
            raise _too_deep() from None
        # Any other syntax error: the caller's decoder answers it as invalid JSON.


def violations(
    body: bytes | bytearray | memoryview | str, *, max_bytes: int = MAX_BODY_BYTES, text: bool = False
) -> list[Violation]:
    """The policy's refusal of a body as violations (empty when it passes)."""
    try:
        check(body, max_bytes=max_bytes, text=text)
    except JsonPolicyViolation as refused:
        return [refused.violation()]
    return []


def loads(body: bytes | bytearray | memoryview | str, *, max_bytes: int = MAX_BODY_BYTES, text: bool = True) -> object:
    """Check the body, then decode it with orjson (its syntax errors raise `orjson.JSONDecodeError`, a
    `ValueError`)."""
    check(body, max_bytes=max_bytes, text=text)
    return orjson.loads(body if not isinstance(body, memoryview) else bytes(body))


# --- HTTP: every JSON request body passes the policy before a route decodes it ---------------------------------

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _is_json(content_type: bytes | None) -> bool:
    """FastAPI decodes a body as JSON without a content type too."""
    if not content_type:
        return True
    media = content_type.split(b";")[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def problem_body(refused: JsonPolicyViolation) -> bytes:
    """RFC 9457 problem details, with the reason code and the violation as every other refusal carries them."""
    return orjson.dumps(
        violations_body([refused.violation()], refused.status_code, title="The body breaks the JSON policy.")
    )


# How far past the limit a body is still read (and dropped) so that its sender gets the 413.
DRAIN_BYTES = 16 * 1024 * 1024


class JsonPolicyMiddleware:
    """ASGI middleware: reads a JSON request body (stopping past `max_bytes`), answers 400/413 problem+json
    when it breaks the policy, and otherwise hands the same body on to the application."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in _WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        content_type = next((v for k, v in scope["headers"] if k == b"content-type"), None)
        if not _is_json(content_type):
            await self.app(scope, receive, send)
            return
        too_large = JsonPolicyViolation(BODY_TOO_LARGE, f"At most {self.max_bytes} bytes.")
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        if declared.isdigit() and int(declared) > self.max_bytes + DRAIN_BYTES:  # refused before a byte is read
            await self._refuse(send, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > self.max_bytes:
                # A body a little over the limit is read to its end (and dropped), so that its sender, still
                # writing, reads the refusal instead of a reset connection; beyond that the connection is closed.
                while more and size <= self.max_bytes + DRAIN_BYTES:
                    message = await receive()
                    if message["type"] != "http.request":
                        return
                    size += len(message.get("body", b""))
                    more = message.get("more_body", False)
                await self._refuse(send, too_large)
                return
            chunks.append(chunk)
        body = b"".join(chunks)
        try:
            check(body, max_bytes=self.max_bytes)
        except JsonPolicyViolation as refused:
            await self._refuse(send, refused)
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            message: dict[str, Any] = await receive()
            return message

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send: Any, refused: JsonPolicyViolation) -> None:
        payload = problem_body(refused)
        await send(
            {
                "type": "http.response.start",
                "status": refused.status_code,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
