"""Example payloads for the AsyncAPI documents, built from a payload's own JSON Schema and kept only when the payload
contract accepts them (the payload contract only: a service's own rules, e.g. identity's per-category static data,
may still refuse one). Deterministic (no clock, no randomness), so the committed documents change only when a
contract does."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

EXAMPLE_TIME = "2026-11-28T10:00:00Z"
EXAMPLE_ID = "7f0c7a52-5d5e-4d3b-9b6a-1c2d3e4f5a6b"
_FORMATS = {
    "date-time": EXAMPLE_TIME,
    "date": "2026-11-28",
    "uuid": EXAMPLE_ID,
    "uri": "https://partner.example/resource",
    "email": "ops@partner.example",
    "duration": "P1D",
}
# Strings a pattern accepts, tried in turn for a patterned field without an example of its own.
_PATTERN_CANDIDATES = (
    "09506000134352",
    "urn:bpass:tenant:acme",
    "acme",
    "DE",
    "EUR",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "1",
    "A",
)


def example_payload(model: type[BaseModel]) -> dict[str, Any] | None:
    """A payload `model` accepts, or None when the schema alone does not give one."""
    schema = model.model_json_schema(mode="validation")
    # The required members first (the smallest payload); when a cross-field rule wants one of the optional ones
    # too (custody targets: at least one identifier), every member.
    for every_member in (False, True):
        value = _Builder(schema.get("$defs", {}), every_member).build(schema, depth=0)
        try:
            model.model_validate(value)
        except ValidationError:
            continue
        return value if isinstance(value, dict) else None
    return None


class _Builder:
    def __init__(self, defs: dict[str, Any], every_member: bool) -> None:
        self.defs = defs
        self.every_member = every_member

    def build(self, schema: dict[str, Any], depth: int) -> Any:
        if depth > 12:
            return None
        if "$ref" in schema:
            return self.build(self.defs[schema["$ref"].rsplit("/", 1)[-1]], depth + 1)
        if schema.get("examples"):
            return schema["examples"][0]
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
                return self.build(options[0], depth + 1)
        if "allOf" in schema:
            return self.build(schema["allOf"][0], depth + 1)
        if "default" in schema and schema["default"] is not None:
            return schema["default"]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            return self._object(schema, depth)
        if kind == "array":
            item = self.build(schema.get("items", {}), depth + 1)
            return [item] * max(schema.get("minItems", 1), 1)
        if kind == "integer":
            return _number(schema, 1)
        if kind == "number":
            return _number(schema, 1.5)
        if kind == "boolean":
            return True
        if kind == "string":
            return _string(schema)
        return None

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        members = schema.get("properties", {})
        for name in members if self.every_member else schema.get("required", []):
            out[name] = self.build(members.get(name, {}), depth + 1)
        return out


def _number(schema: dict[str, Any], fallback: float) -> Any:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value = fallback if low is None else low + (1 if "exclusiveMinimum" in schema else 0)
    if high is not None and value > high:
        value = high
    return int(value) if schema.get("type") == "integer" else value


def _string(schema: dict[str, Any]) -> str:
    if schema.get("format") in _FORMATS:
        return _FORMATS[str(schema["format"])]
    pattern = schema.get("pattern")
    if pattern:
        for candidate in _PATTERN_CANDIDATES:
            if re.search(pattern, candidate):
                return candidate
    return "x" * max(int(schema.get("minLength", 0)), 3)
