"""OEM extension fields: a tenant's JSON Schema (draft 2020-12) per product family. No I/O.

A schema describes the `extensions` object of a family's passports. It must be a valid draft 2020-12 schema
of `type: object`. A property carrying the custom keyword `"x-public": true` is public (shown on the public
passport, with everything inside it); every other extension value is private to the owning tenant. Public
marks are found through `properties` of nested objects (not through `$ref`, combinators or patterns: a
property reached only that way stays private). Remote `$ref`s are never fetched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]
from jsonschema_specifications import REGISTRY as METASCHEMAS  # type: ignore[import-untyped]
from referencing.exceptions import Unresolvable

from contracts.errors import Violation

EXTENSION_SCHEMA_INVALID = "extension_schema_invalid"
EXTENSION_SCHEMA_NOT_OBJECT = "extension_schema_not_object"
EXTENSION_SCHEMA_TOO_LARGE = "extension_schema_too_large"
EXTENSION_PUBLIC_MARK_INVALID = "extension_public_mark_invalid"
EXTENSION_SCHEMA_REMOTE_REF = "extension_schema_remote_ref"
EXTENSION_SCHEMA_VIOLATION = "extension_schema_violation"
EXTENSIONS_WITHOUT_SCHEMA = "extensions_without_schema"

PUBLIC_KEYWORD = "x-public"
MAX_SCHEMA_BYTES = 256 * 1024
MAX_VIOLATIONS_PER_VALUE = 20


def _at(path: str, *parts: object) -> str:
    return ".".join([path, *(str(part) for part in parts)]) if path else ".".join(str(part) for part in parts)


def check_schema(schema: Mapping[str, Any], *, field: str = "") -> list[Violation]:
    """Violations of a declared extension schema: valid draft 2020-12, an object schema, sane size, marks."""
    size = len(json.dumps(schema))
    if size > MAX_SCHEMA_BYTES:
        return [
            Violation(
                field=field,
                reason=EXTENSION_SCHEMA_TOO_LARGE,
                message=f"The schema has {size:,} bytes; at most {MAX_SCHEMA_BYTES:,} are accepted.",
            )
        ]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [
            Violation(
                field=_at(field, *exc.absolute_path),
                reason=EXTENSION_SCHEMA_INVALID,
                message=f"Not a valid JSON Schema (draft 2020-12): {exc.message}.",
            )
        ]
    violations: list[Violation] = []
    if schema.get("type") != "object":
        violations.append(
            Violation(
                field=_at(field, "type"),
                reason=EXTENSION_SCHEMA_NOT_OBJECT,
                message='Extension values are a JSON object: the schema must say "type": "object".',
            )
        )
    violations += _check_marks(schema, field)
    violations += _check_refs(schema, field)
    return violations


def _check_refs(node: Any, path: str) -> list[Violation]:
    """Only references inside the schema (`#...`): the service never fetches a schema from elsewhere."""
    violations: list[Violation] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str) and not value.startswith("#"):
                violations.append(
                    Violation(
                        field=_at(path, key),
                        reason=EXTENSION_SCHEMA_REMOTE_REF,
                        message=f"{key} {value!r} points outside the schema; put the definition under $defs "
                        "and refer to it as #/$defs/<name>.",
                    )
                )
            else:
                violations += _check_refs(value, _at(path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            violations += _check_refs(value, _at(path, index))
    return violations


def _check_marks(schema: Mapping[str, Any], path: str) -> list[Violation]:
    violations: list[Violation] = []
    if PUBLIC_KEYWORD in schema and not isinstance(schema[PUBLIC_KEYWORD], bool):
        violations.append(
            Violation(
                field=_at(path, PUBLIC_KEYWORD),
                reason=EXTENSION_PUBLIC_MARK_INVALID,
                message=f'"{PUBLIC_KEYWORD}" must be true or false.',
            )
        )
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        for name, sub in properties.items():
            if isinstance(sub, Mapping):
                violations += _check_marks(sub, _at(path, "properties", name))
    return violations


def public_paths(schema: Mapping[str, Any]) -> list[str]:
    """Dotted paths of the properties marked public (a marked object is public as a whole)."""
    found: list[str] = []

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        properties = node.get("properties")
        if not isinstance(properties, Mapping):
            return
        for name, sub in properties.items():
            if not isinstance(sub, Mapping):
                continue
            path = f"{prefix}{name}"
            if sub.get(PUBLIC_KEYWORD) is True:
                found.append(path)
            else:
                walk(sub, f"{path}.")

    walk(schema, "")
    return found


def public_view(schema: Mapping[str, Any] | None, values: Mapping[str, Any]) -> dict[str, Any]:
    """Only the extension values the schema marks public; nothing when there is no schema."""
    if schema is None:
        return {}

    def pick(node: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        properties = node.get("properties")
        if not isinstance(properties, Mapping):
            return out
        for name, sub in properties.items():
            if name not in data or not isinstance(sub, Mapping):
                continue
            if sub.get(PUBLIC_KEYWORD) is True:
                out[name] = data[name]
            elif isinstance(data[name], Mapping):
                nested = pick(sub, data[name])
                if nested:
                    out[name] = nested
        return out

    return pick(schema, values)


@dataclass
class ExtensionValidator:
    """A family's schema, compiled once per request and applied to every passport of that family."""

    product_family: str
    version: int
    schema: Mapping[str, Any]
    _validator: Draft202012Validator = field(init=False, repr=False)
    _seen: dict[bytes, list[tuple[str, str]]] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # The metaschemas only: a registry without a retriever never fetches remote references.
        self._validator = Draft202012Validator(
            self.schema, format_checker=Draft202012Validator.FORMAT_CHECKER, registry=METASCHEMAS
        )

    def violations(self, values: Mapping[str, Any], *, path: str) -> list[Violation]:
        """Every way `values` breaks the schema, as `<path>.<json path>` / `extension_schema_violation`."""
        # Many passports share their extension values (bulk defaults): validate each distinct value once.
        key = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str).encode()
        found = self._seen.get(key)
        if found is None:
            found = []
            try:
                errors = sorted(self._validator.iter_errors(values), key=lambda e: [str(p) for p in e.absolute_path])
            except Unresolvable as exc:
                errors = []
                found.append(("", f"the schema has a reference it does not define ({exc})"))
            for error in errors[:MAX_VIOLATIONS_PER_VALUE]:
                where = ".".join(str(part) for part in error.absolute_path)
                found.append((where, error.message))
            self._seen[key] = found
        return [
            Violation(
                field=f"{path}.{where}" if where else path,
                reason=EXTENSION_SCHEMA_VIOLATION,
                message=f"{message} (extension schema of {self.product_family!r}, version {self.version}).",
            )
            for where, message in found
        ]


def without_schema(product_family: str | None, *, path: str) -> Violation:
    family = f"product family {product_family!r}" if product_family else "a passport without product_family"
    return Violation(
        field=path,
        reason=EXTENSIONS_WITHOUT_SCHEMA,
        message=f"Extension values need a declared extension schema, and {family} has none; declare one with "
        "PUT /identity/v1/product-families/{family}/extension-schema, or leave extensions empty.",
    )
