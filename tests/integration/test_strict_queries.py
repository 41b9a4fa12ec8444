"""Queries never silently widen: against the real reporting service, every list, search, count, report and export
route refuses a parameter it does not declare and an enumerated value outside its enum (400 problem+json naming the
parameter), an export with an unknown filter creates no job, and the dashboard answers a 400 page."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from services.common.auth import Role
from services.common.settings import Settings
from services.reporting.api.queries import FILTER_ENUMS
from tests.conftest import new_key
from tests.integration.test_reporting_readmodel import seed, seed_projected
from tests.support import ServiceProcess, eventually

PATH_VALUES = {"passport_id": f"urn:uuid:{uuid.uuid4()}", "job_id": "exp_0", "version": "1"}


@pytest.fixture(scope="module")
async def world(reporting: ServiceProcess, settings: Settings) -> dict[str, Any]:
    """A tenant with a seeded population (one passport in service, one collected, ...) and the service's OpenAPI."""
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    key = new_key(settings, Role.oem_admin, tenant)
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=10, headers={"X-API-Key": key}) as http:
        rows = await seed(settings, tenant, http, n=6)
        await eventually(lambda: seed_projected(http, rows), what="the seeded population projected")
        document = (await http.get("/reporting/openapi.json")).json()
    return {"tenant": tenant, "key": key, "rows": rows, "openapi": document}


def _enum_of(document: dict[str, Any], schema: dict[str, Any]) -> list[str] | None:
    for option in [schema, *schema.get("anyOf", [])]:
        if "$ref" in option:
            option = document["components"]["schemas"][option["$ref"].rsplit("/", 1)[1]]
        if "enum" in option:
            return [str(v) for v in option["enum"]]
    return None


Case = tuple[str, str, dict[str, str], str, list[str] | None]


def matrix(document: dict[str, Any]) -> list[Case]:
    """(operation, url, params, reason, allowed) for every GET of /reporting/v1: an unknown parameter and a misspelt
    one, and each enumerated query parameter with a value outside its enum."""
    cases: list[Case] = []
    for path, operations in document["paths"].items():
        if not path.startswith("/reporting/v1/") or "get" not in operations:
            continue
        parameters = operations["get"].get("parameters", [])
        urls = [path]
        for p in (p for p in parameters if p["in"] == "path"):
            values = _enum_of(document, p["schema"]) or [PATH_VALUES[p["name"]]]
            urls = [u.replace("{" + p["name"] + "}", v) for u in urls for v in values]
        required = {p["name"]: "stage" for p in parameters if p["in"] == "query" and p.get("required")}
        for url in urls:
            cases.append((path, url, {**required, "colour": "red"}, "unknown_query_parameter", None))
            cases.append((path, url, {**required, "stagee": ""}, "unknown_query_parameter", None))
            for p in (p for p in parameters if p["in"] == "query"):
                allowed = _enum_of(document, p["schema"])
                if allowed is not None:
                    reason = "invalid_filter_value" if p["name"] in FILTER_ENUMS else "invalid_query_value"
                    cases.append((path, url, {**required, p["name"]: "not_a_value"}, reason, allowed))
    return cases


async def test_every_list_search_count_report_and_export_route_refuses_what_it_does_not_declare(
    reporting: ServiceProcess, world: dict[str, Any]
) -> None:
    cases = matrix(world["openapi"])
    operations = {path for path, *_ in cases}
    for expected in (
        "/reporting/v1/passports",
        "/reporting/v1/passports:count",
        "/reporting/v1/passports:lookup",
        "/reporting/v1/reports",
        "/reporting/v1/reports/{name}",
        "/reporting/v1/exports",
        "/reporting/v1/access-log",
    ):
        assert expected in operations
    # Each filter enum is exercised on search, counts and every report.
    enumerated = {(path, next(iter(p))) for path, _, p, reason, _ in cases if reason == "invalid_filter_value"}
    for route in ("/reporting/v1/passports", "/reporting/v1/reports/{name}"):
        assert {(route, name) for name in FILTER_ENUMS} <= enumerated
    failures = []
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=10, headers={"X-API-Key": world["key"]}) as http:
        for _, url, params, reason, allowed in cases:
            answer = await http.get(url, params=params)
            bad = next(name for name in params if name == "colour" or name == "stagee" or params[name] == "not_a_value")
            body = answer.json() if answer.headers.get("content-type") == "application/problem+json" else {}
            got = (answer.status_code, body.get("reason"), body.get("field"), body.get("allowed") if allowed else None)
            if got != (400, reason, bad, allowed):
                failures.append(f"{url} {params}: {answer.status_code} {answer.text[:200]}")
    assert not failures, f"{len(failures)} of {len(cases)} cases not refused:\n" + "\n".join(failures)
    assert len(cases) > 60


@pytest.mark.parametrize(
    ("url", "params", "field", "reason"),
    [
        ("/reporting/v1/passports", {"stage": "not_a_stage"}, "stage", "invalid_filter_value"),
        ("/reporting/v1/passports", {"status": "bogus"}, "status", "invalid_filter_value"),
        ("/reporting/v1/passports", {"category": "spaceship"}, "category", "invalid_filter_value"),
        ("/reporting/v1/passports", {"colour": "red"}, "colour", "unknown_query_parameter"),
        ("/reporting/v1/passports:count", {"group_by": "stage", "stagee": ""}, "stagee", "unknown_query_parameter"),
        ("/reporting/v1/reports/population", {"category": "spaceship"}, "category", "invalid_filter_value"),
    ],
)
async def test_the_reproduced_queries_are_refused_and_the_right_ones_answer(
    reporting: ServiceProcess, world: dict[str, Any], url: str, params: dict[str, str], field: str, reason: str
) -> None:
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=10, headers={"X-API-Key": world["key"]}) as http:
        refused = await http.get(url, params=params)
        assert refused.status_code == 400
        assert refused.headers["content-type"] == "application/problem+json"
        body = refused.json()
        assert (body["type"], body["status"], body["field"], body["reason"]) == (
            f"urn:bpass:problem:{reason}",
            400,
            field,
            reason,
        )
        assert field in body["detail"]
        if reason == "invalid_filter_value":
            assert body["allowed"] == list(FILTER_ENUMS[field])
        # A value the filter knows narrows the answer: one passport of the seeded six is in service.
        narrowed = await http.get("/reporting/v1/passports", params={"stage": "in_service"})
        assert narrowed.status_code == 200
        assert len(narrowed.json()["items"]) == 1


async def _jobs_of(settings: Settings, tenant: str) -> int:
    conn = await asyncpg.connect(settings.database_url, timeout=10)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM reporting.export_jobs WHERE tenant = $1", tenant)
        return count
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("filters", "field", "reason"),
    [
        ({"colour": "red"}, "filters.colour", "unknown_filter"),
        ({"stagee": "in_service"}, "filters.stagee", "unknown_filter"),
        ({"stage": "not_a_stage"}, "filters.stage", "invalid_filter_value"),
        ({"status": "bogus"}, "filters.status", "invalid_filter_value"),
        ({"category": "spaceship"}, "filters.category", "invalid_filter_value"),
    ],
)
async def test_an_export_with_a_refused_filter_creates_no_job(
    reporting: ServiceProcess,
    settings: Settings,
    world: dict[str, Any],
    filters: dict[str, str],
    field: str,
    reason: str,
) -> None:
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=10, headers={"X-API-Key": world["key"]}) as http:
        before = await _jobs_of(settings, world["tenant"])
        refused = await http.post("/reporting/v1/exports", json={"format": "csv", "filters": filters})
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert (refused.json()["field"], refused.json()["reason"]) == (field, reason)
        assert await _jobs_of(settings, world["tenant"]) == before
        # The same export with a filter search knows holds only what it matches.
        started = await http.post("/reporting/v1/exports", json={"format": "csv", "filters": {"stage": "in_service"}})
        assert started.status_code == 202
        job_id = started.json()["job_id"]

        async def finished() -> dict[str, Any] | None:
            job: dict[str, Any] = (await http.get(f"/reporting/v1/exports/{job_id}")).json()
            return job if job["status"] == "done" else None

        job = await eventually(finished, what="the filtered export")
        assert job["total"] == 1
        assert await _jobs_of(settings, world["tenant"]) == before + 1


async def test_dashboard_pages_answer_a_400_page(reporting: ServiceProcess, world: dict[str, Any]) -> None:
    headers = {"X-API-Key": world["key"], "Accept": "text/html"}
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=10, headers=headers) as http:
        for url, params, field, reason in [
            ("/dashboard/passports", {"stage": "not_a_stage"}, "stage", "invalid_filter_value"),
            ("/dashboard/passports", {"colour": "red"}, "colour", "unknown_query_parameter"),
            ("/dashboard/stages", {"stagee": "x"}, "stagee", "unknown_query_parameter"),
            ("/dashboard/reports/population", {"category": "ev"}, "category", "unknown_query_parameter"),
            ("/dashboard", {"tenant": world["tenant"], "foo": "1"}, "foo", "unknown_query_parameter"),
        ]:
            page = await http.get(url, params=params)
            assert page.status_code == 400, (url, params, page.status_code)
            assert page.headers["content-type"].startswith("text/html")
            assert f"data-reason='{reason}' data-field='{field}'" in page.text
        # The filter form sends its empty fields blank: they mean "any", not a refusal.
        blank = {"model": "", "chemistry": "", "category": "", "status": "", "stage": "in_service", "batch": ""}
        page = await http.get("/dashboard/passports", params=blank)
        assert page.status_code == 200
        assert 'data-total="1"' in page.text  # the one passport in service, of all
