"""OEM extension schemas: what a tenant may declare, what is public, how values are checked."""

from __future__ import annotations

from typing import Any

import pytest

from services.identity.domain import extensions

pytestmark = pytest.mark.unit

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "cell_supplier": {"type": "string"},
        "hotline": {"type": "string", "x-public": True},
        "service": {
            "type": "object",
            "properties": {
                "interval_months": {"type": "integer", "minimum": 1, "x-public": True},
                "contract_id": {"type": "string"},
            },
        },
        "recycling": {"type": "object", "x-public": True, "properties": {"partner": {"type": "string"}}},
    },
    "additionalProperties": False,
}


def reasons(schema: dict[str, Any]) -> set[tuple[str, str]]:
    return {(v.field, v.reason) for v in extensions.check_schema(schema)}


def test_a_valid_object_schema_passes() -> None:
    assert extensions.check_schema(SCHEMA) == []


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "objectx"}, {("type", extensions.EXTENSION_SCHEMA_INVALID)}),
        ({"type": "array"}, {("type", extensions.EXTENSION_SCHEMA_NOT_OBJECT)}),
        ({"properties": {}}, {("type", extensions.EXTENSION_SCHEMA_NOT_OBJECT)}),
        (
            {"type": "object", "properties": {"a": {"type": "string", "x-public": "yes"}}},
            {("properties.a.x-public", extensions.EXTENSION_PUBLIC_MARK_INVALID)},
        ),
        (
            {"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}},
            {("properties.a.$ref", extensions.EXTENSION_SCHEMA_REMOTE_REF)},
        ),
        (
            {"type": "object", "properties": {"a": {"minLength": -1}}},
            {("properties.a.minLength", extensions.EXTENSION_SCHEMA_INVALID)},
        ),
    ],
)
def test_schemas_that_are_refused(schema: dict[str, Any], expected: set[tuple[str, str]]) -> None:
    assert reasons(schema) == expected


def test_a_huge_schema_is_refused() -> None:
    schema = {"type": "object", "description": "x" * (extensions.MAX_SCHEMA_BYTES + 1)}
    assert reasons(schema) == {("", extensions.EXTENSION_SCHEMA_TOO_LARGE)}


def test_local_references_are_allowed() -> None:
    schema = {
        "type": "object",
        "$defs": {"code": {"type": "string", "pattern": "^[A-Z]+$"}},
        "properties": {"a": {"$ref": "#/$defs/code"}},
    }
    assert extensions.check_schema(schema) == []
    validator = extensions.ExtensionValidator("f", 1, schema)
    assert [v.field for v in validator.violations({"a": "abc"}, path="extensions")] == ["extensions.a"]


def test_public_paths_follow_nested_properties() -> None:
    assert extensions.public_paths(SCHEMA) == ["hotline", "service.interval_months", "recycling"]


def test_public_view_keeps_only_marked_values() -> None:
    values = {
        "cell_supplier": "S-17",
        "hotline": "+49 30 1234",
        "service": {"interval_months": 24, "contract_id": "C-9"},
        "recycling": {"partner": "ReCell", "note": "kept: the whole object is public"},
        "unknown": 1,
    }
    assert extensions.public_view(SCHEMA, values) == {
        "hotline": "+49 30 1234",
        "service": {"interval_months": 24},
        "recycling": {"partner": "ReCell", "note": "kept: the whole object is public"},
    }
    assert extensions.public_view(None, values) == {}


def test_violations_name_the_path_and_the_schema_version() -> None:
    validator = extensions.ExtensionValidator("VX", 3, SCHEMA)
    violations = validator.violations({"hotline": 5, "service": {"interval_months": 0}, "x": 1}, path="p.0.extensions")
    assert {(v.field, v.reason) for v in violations} == {
        ("p.0.extensions", extensions.EXTENSION_SCHEMA_VIOLATION),
        ("p.0.extensions.hotline", extensions.EXTENSION_SCHEMA_VIOLATION),
        ("p.0.extensions.service.interval_months", extensions.EXTENSION_SCHEMA_VIOLATION),
    }
    assert all("'VX', version 3" in v.message for v in violations)
    assert validator.violations({"hotline": "+49"}, path="e") == []


def test_equal_values_are_validated_once() -> None:
    validator = extensions.ExtensionValidator("VX", 1, SCHEMA)
    first = validator.violations({"hotline": 5}, path="a")
    second = validator.violations({"hotline": 5}, path="b")
    assert [v.field for v in first] == ["a.hotline"]
    assert [v.field for v in second] == ["b.hotline"]
    assert len(validator._seen) == 1


def test_an_undefined_reference_is_a_violation_not_a_crash() -> None:
    validator = extensions.ExtensionValidator("VX", 1, {"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}})
    [violation] = validator.violations({"a": 1}, path="e")
    assert violation.reason == extensions.EXTENSION_SCHEMA_VIOLATION
