"""The one error shape covers what no route expected: an unexpected exception answers problem+json 500 too."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from services.common.problems import PROBLEM_MEDIA_TYPE, install_error_handlers

pytestmark = pytest.mark.unit


def app_failing_with(secret: str) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(secret)

    return app


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return await client.get(path)


async def test_an_unexpected_failure_is_a_problem_without_the_exceptions_text() -> None:
    response = await get(app_failing_with("row of tenant oem-b"), "/boom")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = response.json()
    assert (body["type"], body["status"], body["reason"]) == ("urn:bpass:problem:internal_error", 500, "internal_error")
    assert body["title"] == "Internal Server Error"
    assert "oem-b" not in response.text
