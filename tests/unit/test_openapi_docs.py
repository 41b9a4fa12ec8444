"""Each service's OpenAPI document is usable from its docs page: every operation that needs an API key says so
(the `X-API-Key` header or the same key as a bearer token), the public pages, health and metrics do not, and every
request body comes with an example. The pages themselves name no CDN."""

from __future__ import annotations

import importlib
import json
from typing import Any

import httpx
import jsonschema
import pytest

from services.common.api_docs import KEYED, SECURITY_SCHEMES, request_examples_file
from services.common.runtime import Runtime
from services.common.settings import Settings
from tests.unit.test_openapi_problems import openapi_of

SERVICES = ["identity", "custody", "recovery", "reporting"]
PUBLIC_PREFIXES = ("/p/", "/01/", "/passport/")


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def has_example(document: dict[str, Any], operation: dict[str, Any]) -> bool:
    for media in operation["requestBody"]["content"].values():
        if media.get("example") is not None or media.get("examples"):
            return True
        schema = media.get("schema", {})
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        if schema.get("examples"):
            return True
    return False


@pytest.mark.parametrize("service", SERVICES)
def test_keyed_operations_declare_the_security_schemes(service: str) -> None:
    document = openapi_of(service)
    assert document["components"]["securitySchemes"] == SECURITY_SCHEMES
    keyed = [path for path, _, op in operations(document) if op.get("security") == KEYED]
    assert len(keyed) >= 5
    for path, method, operation in operations(document):
        where = f"{service} {method.upper()} {path}"
        public = path.startswith(PUBLIC_PREFIXES) or "/health/" in path or path.endswith("/metrics")
        if public:
            assert "security" not in operation, where
        else:
            assert operation.get("security") == KEYED, where
        names = {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}
        assert not names & {"x-api-key", "authorization"}, f"{where}: the scheme says it, not a parameter"


@pytest.mark.parametrize("service", SERVICES)
def test_every_request_body_has_an_example(service: str) -> None:
    document = openapi_of(service)
    bodies = [(path, method, op) for path, method, op in operations(document) if "requestBody" in op]
    assert bodies
    missing = [f"{method.upper()} {path}" for path, method, op in bodies if not has_example(document, op)]
    assert missing == []


@pytest.mark.parametrize("service", SERVICES)
def test_every_request_example_is_valid_against_its_schema(service: str) -> None:
    document = openapi_of(service)
    examples = json.loads(request_examples_file(service).read_text())
    assert examples
    for name, example in examples.items():
        method, _, path = name.partition(" ")
        media = document["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]
        assert media["example"] == example, name
        # The body's schema with the document around it, so that its `#/components/...` references resolve.
        schema = {"allOf": [media["schema"]], "components": document["components"], "paths": document["paths"]}
        errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(example)]
        assert errors == [], name


@pytest.mark.parametrize("page", ["docs", "redoc"])
async def test_the_docs_pages_load_their_assets_from_the_service(page: str) -> None:
    spec = importlib.import_module("services.custody.app").build_spec(Settings())
    app = Runtime(spec, Settings()).http_app()
    # No lifespan: the pages and their assets need no broker or database.
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with client:
        response = await client.get(f"/custody/{page}")
        html = response.text
        asset = "swagger-ui-bundle.js" if page == "docs" else "redoc.standalone.js"
        served = await client.get(f"/custody/docs-assets/{asset}")
    assert "http://" not in html
    assert "https://" not in html
    assert "/custody/docs-assets/" in html
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert served.status_code == 200
    assert len(served.content) > 100_000
