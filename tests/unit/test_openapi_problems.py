"""Each service's OpenAPI says what its refusals are: every documented 4xx/5xx response is application/problem+json
with a problem schema, never the application/json FastAPI assumes nor its HTTPValidationError."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from services.common.runtime import Runtime
from services.common.settings import Settings


def openapi_of(service: str) -> dict[str, Any]:
    spec = importlib.import_module(f"services.{service}.app").build_spec(Settings())
    document = Runtime(spec, Settings()).http_app().openapi()
    return json.loads(json.dumps(document))  # as served


def error_responses(document: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (path, method, code, response)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for code, response in operation.get("responses", {}).items()
        if code.isdigit() and int(code) >= 400
    ]


@pytest.mark.parametrize("service", ["identity", "custody", "recovery", "reporting"])
def test_every_documented_refusal_is_problem_json(service: str) -> None:
    document = openapi_of(service)
    schemas = document["components"]["schemas"]
    refusals = error_responses(document)
    assert len(refusals) > 20, "every operation documents at least the common refusals"
    for path, method, code, response in refusals:
        where = f"{service} {method.upper()} {path} {code}"
        content = response.get("content", {})
        assert "application/json" not in content, where
        schema = content["application/problem+json"]["schema"]
        named = schemas[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema  # or the route's own
        assert {"type", "title", "status", "detail", "reason"} <= set(named["properties"]), where
    assert "HTTPValidationError" not in schemas
    assert "#/components/schemas/HTTPValidationError" not in json.dumps(document)


def test_a_route_that_also_answers_html_keeps_it_beside_the_problem() -> None:
    document = openapi_of("identity")
    refused = document["paths"]["/01/{digital_link_path}"]["get"]["responses"]["400"]["content"]
    assert set(refused) == {"application/problem+json", "text/html"}
