"""Strict query strings (services/reporting/api/queries.py): what a route declares is what it accepts, enumerated
parameters only their values; export filters are held to the same names and values. No I/O: the refusal happens
before any dependency runs, so the reporting app answers it without a database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.routing import APIRoute
from hypothesis import given
from hypothesis import strategies as st

from contracts.attributes import BatteryCategory
from contracts.errors import ValidationFailed
from contracts.passport_data import BatteryKind
from services.common.runtime import Runtime
from services.reporting.api.queries import (
    FILTER_ENUMS,
    DeclaredQuery,
    PassportStatus,
    Stage,
    StrictQueryRoute,
    enum_values,
    export_filter_problems,
)
from services.reporting.app import build_spec
from services.reporting.domain.readmodel import STAGES, STATUSES
from services.reporting.exports.jobs import filters_from_request


class Colour(StrEnum):
    red = "red"
    blue = "blue"


class Filters:
    QUERY_PREFIXES = ("ext.",)

    def __init__(self, colour: Annotated[Colour | None, Query()] = None, size: str | None = None) -> None:
        self.colour = colour


def toy_app() -> FastAPI:
    router = APIRouter(route_class=StrictQueryRoute)

    @router.get("/things")
    async def things(filters: Annotated[Filters, Depends(Filters)], limit: int = 5) -> dict[str, Any]:
        return {"colour": filters.colour, "limit": limit}

    @router.get("/tags")
    async def tags(tag: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
        return {"tags": tag}

    app = FastAPI()
    app.include_router(router)
    return app


@pytest.fixture
async def toy() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=toy_app()), base_url="http://toy") as client:
        yield client


def test_the_filter_enums_are_the_read_model_and_contract_values() -> None:
    assert tuple(Stage) == STAGES
    assert tuple(PassportStatus) == STATUSES
    expected = {"stage": STAGES, "status": STATUSES, "category": tuple(BatteryCategory), "kind": tuple(BatteryKind)}
    assert expected == FILTER_ENUMS
    assert enum_values(Stage | None) == STAGES
    assert enum_values(str | None) is None


async def test_declared_parameters_and_values_pass(toy: httpx.AsyncClient) -> None:
    answer = await toy.get("/things", params={"colour": "red", "size": "L", "limit": 2, "ext.batch": "x"})
    assert answer.status_code == 200
    assert answer.json() == {"colour": "red", "limit": 2}
    assert (await toy.get("/tags", params=[("tag", "a"), ("tag", "b")])).json() == {"tags": ["a", "b"]}


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ({"colour": "green"}, "colour", "invalid_query_value"),
        ({"colour": ""}, "colour", "invalid_query_value"),
        ({"color": "red"}, "color", "unknown_query_parameter"),
        ({"sizee": ""}, "sizee", "unknown_query_parameter"),
        ([("size", "S"), ("size", "L")], "size", "repeated_query_parameter"),
        ([("ext.a", "1"), ("ext.a", "2")], "ext.a", "repeated_query_parameter"),
    ],
)
async def test_anything_else_is_a_400_problem_naming_the_parameter(
    toy: httpx.AsyncClient, params: Any, field: str, reason: str
) -> None:
    answer = await toy.get("/things", params=params)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert (body["status"], body["field"], body["reason"]) == (400, field, reason)
    assert body["violations"][0]["field"] == field
    if reason == "invalid_query_value":
        assert body["allowed"] == ["red", "blue"]


@given(st.text(min_size=1, max_size=20).filter(lambda s: s not in {"colour", "size", "limit"} and "ext." not in s))
def test_every_undeclared_name_is_refused(name: str) -> None:
    declared = DeclaredQuery(frozenset({"colour", "size", "limit"}), {"colour": ("red", "blue")}, ("ext.",))
    problems = declared.problems([(name, "x")])
    if name.startswith("ext."):
        assert problems == []
    else:
        assert [(p.field, p.reason) for p in problems] == [(name, "unknown_query_parameter")]


# Every GET route of the real reporting app that takes search filters, with one parameter it declares.
FILTERED_ROUTES = [
    "/reporting/v1/passports",
    "/reporting/v1/passports:count?group_by=stage",
    "/reporting/v1/reports/population",
    "/reporting/v1/reports/state-of-health",
]


@pytest.fixture
async def reporting_app() -> AsyncIterator[httpx.AsyncClient]:
    app = Runtime(build_spec()).http_app()  # not started: no broker, database or cache is touched
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://reporting") as client:
        yield client


@pytest.mark.parametrize("route", FILTERED_ROUTES)
@pytest.mark.parametrize(("name", "bad"), [("stage", "not_a_stage"), ("status", "bogus"), ("category", "spaceship")])
async def test_reporting_filters_refuse_values_outside_their_enum(
    reporting_app: httpx.AsyncClient, route: str, name: str, bad: str
) -> None:
    answer = await reporting_app.get(route, params={name: bad})
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert (body["field"], body["reason"], body["allowed"]) == (name, "invalid_filter_value", list(FILTER_ENUMS[name]))


def test_every_reporting_route_checks_its_query_and_documents_the_enums() -> None:
    spec = build_spec()
    routes = [r for router in spec.routers for r in router.routes if isinstance(r, APIRoute)]
    api = [r for r in routes if r.path.startswith("/reporting/v1/")]
    dashboard = [r for r in routes if r.path.startswith("/dashboard")]
    assert len(api) > 10
    assert len(dashboard) > 10
    assert [r.path for r in api + dashboard if not isinstance(r, StrictQueryRoute)] == []
    document = Runtime(spec).http_app().openapi()
    search = {p["name"]: p for p in document["paths"]["/reporting/v1/passports"]["get"]["parameters"]}
    schemas = document["components"]["schemas"]
    for name, values in FILTER_ENUMS.items():
        ref = search[name]["schema"]["anyOf"][0]["$ref"].rsplit("/", 1)[1]
        assert tuple(schemas[ref]["enum"]) == values
    refusal = document["paths"]["/reporting/v1/passports"]["get"]["responses"]["400"]["content"]
    assert set(refusal) == {"application/problem+json"}, "a refusal is problem+json, never plain JSON"
    assert refusal["application/problem+json"]["schema"]["title"] == "QueryRefusal", "the route's own problem"


@pytest.mark.parametrize(
    ("filters", "field", "reason"),
    [
        ({"colour": "red"}, "filters.colour", "unknown_filter"),
        ({"stagee": "in_service"}, "filters.stagee", "unknown_filter"),
        ({"stage": "not_a_stage"}, "filters.stage", "invalid_filter_value"),
        ({"status": "bogus"}, "filters.status", "invalid_filter_value"),
        ({"category": "spaceship"}, "filters.category", "invalid_filter_value"),
        ({"kind": "crate"}, "filters.kind", "invalid_filter_value"),
        ({"ceased": "maybe"}, "filters.ceased", "invalid_filter_value"),
        ({"model": True}, "filters.model", "invalid_filter_value"),
        ({"placed_from": "yesterday"}, "filters.placed_from", "invalid_filter_value"),
        ({"placed_to": "2026-01-01T00:00:00"}, "filters.placed_to", "invalid_filter_value"),
        ({"ext.": "x"}, "filters.ext.", "invalid_extension_filter"),
    ],
)
def test_export_filters_are_held_to_the_search_filters(filters: dict[str, Any], field: str, reason: str) -> None:
    assert [(p.field, p.reason) for p in export_filter_problems(filters)] == [(field, reason)]


def test_export_filters_search_accepts_pass() -> None:
    assert (
        export_filter_problems(
            {
                "batch": "L2026-03",
                "stage": "in_service",
                "status": "re-used",
                "category": "ev",
                "kind": "pack",
                "ceased": False,
                "placed_from": "2026-01-01T00:00:00+00:00",
                "ext.colour": "blue",
            }
        )
        == []
    )


def test_an_export_job_with_refused_filters_fails_rather_than_widens() -> None:
    with pytest.raises(ValidationFailed) as refused:
        filters_from_request("acme", {"format": "csv", "filters": {"colour": "red", "stage": "in_service"}})
    assert [(v.field, v.reason) for v in refused.value.violations] == [("filters.colour", "unknown_filter")]
    filters = filters_from_request("acme", {"format": "csv", "filters": {"stage": "in_service", "ext.colour": "red"}})
    assert (filters.equals, filters.extensions) == ({"stage": "in_service"}, {"colour": "red"})
