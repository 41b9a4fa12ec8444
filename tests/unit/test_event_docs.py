"""/docs/events without a running service: the page embeds the committed document and loads only local assets;
what it does not have is refused as problem+json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.common import event_docs


def client() -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(event_docs.router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://reporting")


async def test_the_page_embeds_the_document_and_loads_only_local_assets() -> None:
    async with client() as http:
        page = await http.get("/docs/events/recovery")
        assets = [await http.get(f"/docs/events/assets/{name}") for name in ("asyncapi-standalone.js", "asyncapi.css")]
    assert page.status_code == 200
    embedded = re.search(r"<script id='asyncapi-document' type='application/json'>(.*?)</script>", page.text, re.S)
    assert embedded is not None
    assert json.loads(embedded.group(1))["info"]["title"] == "bpass recovery"
    sources = re.findall(r"(?:src|href)='([^']+)'", page.text)
    assert sources
    assert all(s.startswith("/docs/events") for s in sources), sources
    assert [a.status_code for a in assets] == [200, 200]


def test_a_script_tag_in_the_document_cannot_close_the_embedding(monkeypatch: pytest.MonkeyPatch) -> None:
    evil = "</script><script>alert(1)</script>"
    monkeypatch.setattr(event_docs, "_document", lambda service: {"info": {"title": service, "description": evil}})
    page = event_docs.page("identity")
    assert evil not in page
    embedded = re.search(r"<script id='asyncapi-document' type='application/json'>(.*?)</script>", page, re.S)
    assert embedded is not None
    assert json.loads(embedded.group(1))["info"]["description"] == evil


async def test_unknown_services_assets_and_a_missing_installation_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    async with client() as http:
        await _refusals(http, monkeypatch)


async def _refusals(http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    for path, reason, field in (
        ("/docs/events/billing", "unknown_service", "path.service"),
        ("/docs/events/custody.json", "unknown_service", "path.service"),
        ("/docs/events/assets/index.js", "unknown_asset", "path.name"),
    ):
        refused = await http.get(path)
        assert refused.status_code == 404, path
        assert refused.headers["content-type"] == "application/problem+json"
        assert (refused.json()["reason"], refused.json()["field"]) == (reason, field)
    monkeypatch.setattr(event_docs, "DOCUMENTS", Path("/nonexistent"))
    for path in ("/docs/events", "/docs/events/custody", "/docs/events/custody.yaml"):
        assert (await http.get(path)).json()["reason"] == "event_docs_not_installed", path
