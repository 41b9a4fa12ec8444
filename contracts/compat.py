"""Backward compatibility of a payload's JSON Schema against the committed one.

A change is compatible when every message valid under the committed schema is still valid under the new one
and reads the same: no property removed or retyped, no new required property, no enum value removed, no
tighter bound. New optional properties and new enum values are fine. Breaking changes need a new `.v<N+1>`.
"""

from __future__ import annotations

from typing import Any

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


def breaking_changes(old: JsonSchema, new: JsonSchema) -> list[str]:
    problems: list[str] = []
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
    problems: list[str],
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
        problems.append(f"{path}: type changed from {sorted(old_types)} to {sorted(new_types)}")
    if "enum" in old and "enum" in new:
        removed = [v for v in old["enum"] if v not in new["enum"]]
        if removed:
            problems.append(f"{path}: enum values removed: {removed}")
    for bound, direction in TIGHTENING.items():
        if bound in new and (bound not in old or (new[bound] - old[bound]) * direction < 0):
            problems.append(f"{path}: {bound} tightened from {old.get(bound)} to {new[bound]}")
    if old.get("additionalProperties") is not False and new.get("additionalProperties") is False:
        problems.append(f"{path}: additional properties now forbidden")
    old_props: dict[str, JsonSchema] = old.get("properties", {})
    new_props: dict[str, JsonSchema] = new.get("properties", {})
    for name in old_props:
        if name not in new_props:
            problems.append(f"{path}.{name}: property removed")
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(newly_required):
        problems.append(f"{path}.{name}: became required")
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
