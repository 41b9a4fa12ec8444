"""Backward compatibility of a payload's JSON Schema against the released one (contracts/released/).

A change is compatible when every message valid under the released schema is still valid under the new one
and reads the same: no property removed or retyped, no new required property, no enum value removed, no
tighter bound. New optional properties and new enum values are fine. Breaking changes need a new `.v<N+1>`.
Each breaking change names the field (a `$.a.b` path) and the rule it breaks (one of `RULES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REMOVED_REQUIRED_FIELD = "removed required field"
REMOVED_FIELD = "removed optional field"
NARROWED_TYPE = "narrowed type"
NEWLY_REQUIRED = "made a field required"
REMOVED_ENUM_VALUE = "removed enum value"
TIGHTENED_BOUND = "tightened bound"
CLOSED_OBJECT = "forbade additional properties"
RULES = (
    REMOVED_REQUIRED_FIELD,
    REMOVED_FIELD,
    NARROWED_TYPE,
    NEWLY_REQUIRED,
    REMOVED_ENUM_VALUE,
    TIGHTENED_BOUND,
    CLOSED_OBJECT,
)


@dataclass(frozen=True)
class BreakingChange:
    field: str  # `$` for the payload itself, `$.a.b` for a property, `[]` for array items
    rule: str  # one of RULES
    detail: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule} ({self.detail})"


JsonSchema = dict[str, Any]
TIGHTENING = {
    "minimum": -1,
    "exclusiveMinimum": -1,
    "minLength": -1,
    "minItems": -1,
    "maximum": 1,
    "exclusiveMaximum": 1,
    "maxLength": 1,
    "maxItems": 1,
}


def breaking_changes(old: JsonSchema, new: JsonSchema) -> list[BreakingChange]:
    problems: list[BreakingChange] = []
    _compare(old, new, old.get("$defs", {}), new.get("$defs", {}), "$", problems, set())
    return problems


def _resolve(schema: JsonSchema, defs: dict[str, JsonSchema]) -> tuple[JsonSchema, str | None]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        return defs.get(name, {}), name
    return schema, None


def _types(schema: JsonSchema) -> set[str]:
    if "type" in schema:
        t = schema["type"]
        return set(t) if isinstance(t, list) else {t}
    variants = schema.get("anyOf") or schema.get("oneOf")
    if variants:
        out: set[str] = set()
        for v in variants:
            out |= _types(v) if "$ref" not in v else {f"ref:{v['$ref']}"}
        return out
    if "$ref" in schema:
        return {f"ref:{schema['$ref']}"}
    return set()


def _compare(
    old: JsonSchema,
    new: JsonSchema,
    old_defs: dict[str, JsonSchema],
    new_defs: dict[str, JsonSchema],
    path: str,
    problems: list[BreakingChange],
    seen: set[tuple[str | None, str | None]],
) -> None:
    old, old_name = _resolve(old, old_defs)
    new, new_name = _resolve(new, new_defs)
    if old_name is not None or new_name is not None:
        if (old_name, new_name) in seen:
            return
        seen.add((old_name, new_name))
    old_types, new_types = _types(old), _types(new)
    if old_types and new_types and not old_types <= new_types:
        problems.append(BreakingChange(path, NARROWED_TYPE, f"{sorted(old_types)} -> {sorted(new_types)}"))
    if "enum" in old and "enum" in new:
        removed = [v for v in old["enum"] if v not in new["enum"]]
        if removed:
            problems.append(BreakingChange(path, REMOVED_ENUM_VALUE, f"{removed} no longer allowed"))
    for bound, direction in TIGHTENING.items():
        if bound in new and (bound not in old or (new[bound] - old[bound]) * direction < 0):
            problems.append(BreakingChange(path, TIGHTENED_BOUND, f"{bound} {old.get(bound)} -> {new[bound]}"))
    if old.get("additionalProperties") is not False and new.get("additionalProperties") is False:
        problems.append(BreakingChange(path, CLOSED_OBJECT, "additionalProperties: false"))
    old_props: dict[str, JsonSchema] = old.get("properties", {})
    new_props: dict[str, JsonSchema] = new.get("properties", {})
    old_required = set(old.get("required", []))
    for name in old_props:
        if name not in new_props:
            rule = REMOVED_REQUIRED_FIELD if name in old_required else REMOVED_FIELD
            problems.append(BreakingChange(f"{path}.{name}", rule, "the property is gone"))
    newly_required = set(new.get("required", [])) - old_required
    for name in sorted(newly_required):
        known = "an existing property" if name in old_props else "a new property"
        problems.append(BreakingChange(f"{path}.{name}", NEWLY_REQUIRED, f"{known} is now required"))
    for name, old_prop in old_props.items():
        if name in new_props:
            _compare(old_prop, new_props[name], old_defs, new_defs, f"{path}.{name}", problems, seen)
    if "items" in old and "items" in new:
        _compare(old["items"], new["items"], old_defs, new_defs, f"{path}[]", problems, seen)
    for key in ("anyOf", "oneOf"):
        old_variants = [v for v in old.get(key, []) if "$ref" in v or "properties" in v]
        new_variants = [v for v in new.get(key, []) if "$ref" in v or "properties" in v]
        for ov, nv in zip(old_variants, new_variants, strict=False):
            _compare(ov, nv, old_defs, new_defs, f"{path}<{key}>", problems, seen)
