"""One public face: the QR code's URIs (`/01/<GTIN>/21/<serial>`, `/p/<id>`) and `/passport/<id>` show the same page,
rendered by reporting from the read model, through the local gateway's routing; a recycled battery shows as ceased
and a continued one links its successor, in HTML and in JSON; the page speaks the reader's language
(`Accept-Language`); the cached page is dropped when the passport changes."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from bpass.examples import EXAMPLE_GTIN, valid_static_payload
from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.identity import PassportSuperseded, SecondLifeOperation
from contracts.passport_data import BatteryStatus
from services.common.auth import Keyring, Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, TEST_PORTS, new_key
from tests.integration.gateway_support import local_gateway
from tests.integration.recovery_support import recycler_holding
from tests.integration.test_recovery_flow import mint as mint_industrial
from tests.integration.test_recovery_flow import treatment_batch
from tests.support import ServiceProcess, eventually, send_fact, verified_gtin_prefix

GATEWAY_PORT = PORT_BASE + 42
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(scope="module")
async def gateway(platform: dict[str, ServiceProcess], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with local_gateway(tmp_path_factory.mktemp("gateway"), GATEWAY_PORT, TEST_PORTS) as url:
        yield url


@pytest.fixture
async def anyone(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    """A reader without a key, through the gateway, following redirects as browsers and `curl -L` do."""
    async with httpx.AsyncClient(base_url=gateway, timeout=10, follow_redirects=True) as http:
        yield http


async def mint_with_gtin(platform: dict[str, ServiceProcess], oem_key: str, **extra: Any) -> dict[str, Any]:
    keys_file = Path(platform["identity"].env["BPASS_API_KEYS_FILE"])
    owner = Keyring(keys_file).authenticate(oem_key)
    assert owner is not None
    assert owner.tenant is not None
    await verified_gtin_prefix(platform["identity"].base_url, keys_file, owner.tenant)
    body = {
        "subject": {"kind": "battery", "battery_identifier": f"PF-{uuid.uuid4().hex[:10]}", "gtin": EXAMPLE_GTIN},
        "category": "ev",
        "static_data": valid_static_payload(BatteryCategory.ev),
        **extra,
    }
    async with httpx.AsyncClient(base_url=platform["identity"].base_url, timeout=10) as http:
        response = await http.post("/identity/v1/passports", json=body, headers={"X-API-Key": oem_key})
    assert response.status_code == 201, response.text
    minted: dict[str, Any] = response.json()
    return minted


def urls_of(minted: dict[str, Any]) -> list[str]:
    """The three public URLs of a passport, as paths on the gateway."""
    return [
        minted["public_uri"].split("passport.example.test", 1)[1],
        f"/p/{minted['passport_id'].removeprefix('urn:uuid:')}",
        f"/passport/{minted['passport_id']}",
    ]


async def as_json(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await http.get(url, headers={"Accept": "application/json"})
    assert response.status_code == 200, (url, response.text)
    assert response.headers["content-type"].startswith("application/json")
    view: dict[str, Any] = response.json()
    return view


async def as_html(http: httpx.AsyncClient, url: str, language: str = "en-GB,en;q=0.9") -> httpx.Response:
    response = await http.get(url, headers={"Accept": BROWSER, "Accept-Language": language})
    assert response.status_code == 200, (url, response.text)
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["vary"] == "Accept, Accept-Language"
    return response


async def projected(http: httpx.AsyncClient, passport_id: str, check: str) -> dict[str, Any]:
    """The public JSON once reporting's read model shows `check` (a key that must be truthy)."""

    async def shown() -> dict[str, Any] | None:
        response = await http.get(f"/passport/{passport_id}", params={"format": "json"})
        return response.json() if response.status_code == 200 and response.json().get(check) else None

    return await eventually(shown, timeout=60, what=f"the public page of {passport_id} to show {check}")


async def test_every_public_url_of_a_live_passport_is_the_same_page(
    platform: dict[str, ServiceProcess], tenant: tuple[str, str], anyone: httpx.AsyncClient
) -> None:
    minted = await mint_with_gtin(platform, tenant[1])
    await projected(anyone, minted["passport_id"], "passport_id")
    views = [await as_json(anyone, url) for url in urls_of(minted)]
    assert views[0] == views[1] == views[2]
    view = views[0]
    assert view["passport_id"] == minted["passport_id"]
    assert view["public_uri"] == minted["public_uri"]
    assert (view["ceased"], view["successor_ids"]) == (False, [])
    assert view["static_data"]["nominal_voltage_v"] == "360"
    assert "material_composition" not in view["static_data"]  # legitimate interest only
    for private in ("tenant", "minted_by", "extensions", "status", "custody_timeline"):
        assert private not in view
    for url in urls_of(minted):
        page = (await as_html(anyone, url)).text
        assert "<html lang='en'>" in page
        assert "VX-400 NMC811 82 kWh" in page
        assert 'data-status="active"' in page
        assert "has ceased" not in page
    # Machines that send */* or nothing get JSON.
    assert (await anyone.get(urls_of(minted)[0])).headers["content-type"].startswith("application/json")
    # Straight to the services (no gateway): identity answers the QR code's URI with the page's address.
    async with httpx.AsyncClient(base_url=platform["identity"].base_url, timeout=10) as identity:
        redirect = await identity.get(urls_of(minted)[0])
    assert (redirect.status_code, redirect.headers["location"]) == (307, urls_of(minted)[2])
    unknown = await anyone.get(f"/passport/{uuid.uuid4()}", headers={"Accept": BROWSER})
    assert unknown.status_code == 404
    assert "Passport not found" in unknown.text
    missing = await anyone.get(f"/passport/{uuid.uuid4()}")
    assert (missing.status_code, missing.json()["reason"]) == (404, "passport_not_found")


async def test_a_recycled_battery_shows_as_ceased_on_every_url(
    platform: dict[str, ServiceProcess],
    settings: Settings,
    tenant: tuple[str, str],
    db: asyncpg.Connection,
    anyone: httpx.AsyncClient,
) -> None:
    oem_key = tenant[1]
    nmc = await mint_with_gtin(platform, oem_key)
    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": oem_key}) as http:
        lfp, lfp_identifier = await mint_industrial(http, platform["identity"], BatteryCategory.industrial)
    await projected(anyone, nmc["passport_id"], "passport_id")
    before = await as_html(anyone, urls_of(nmc)[2])  # cached now: the recycling must drop it
    assert "has ceased" not in before.text

    tag = uuid.uuid4().hex[:8]
    recycler = f"recycler-{tag}"
    async with httpx.AsyncClient(base_url=platform["recovery"].base_url, timeout=10) as recovery:
        oem = {"X-API-Key": oem_key}
        for passport_id in (nmc["passport_id"], lfp):
            await eventually(
                lambda p=passport_id: _ok(recovery.get(f"/recovery/v1/passports/{p}", headers=oem)),  # type: ignore[misc]
                what="recovery to know the passport",
            )
        await recycler_holding(settings, platform, db, recycler, [nmc["passport_id"], lfp])
        batch = json.loads(treatment_batch(recycler, f"TB-{tag}", nmc["passport_id"], lfp_identifier).model_dump_json())
        headers = {"X-API-Key": new_key(settings, Role.recycler, recycler)}
        created = await recovery.post("/recovery/v1/treatment-batches", json=batch, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["passports_ceased"] == 2

    await projected(anyone, nmc["passport_id"], "ceased")
    for url in urls_of(nmc):
        view = await as_json(anyone, url)
        assert (view["ceased"], view["ceased_reason"]) == (True, "recycled"), url
        assert view["ceased_at"].startswith("2026-03-04"), url
        page = (await as_html(anyone, url)).text
        assert "Recycled: this passport has ceased" in page, url
        assert 'data-status="recycled"' in page, url
        assert "Closed on 4 March 2026." in page, url
        assert page.index("this passport has ceased") < page.index("Identification"), url
        german = (await as_html(anyone, url, "de-DE,de;q=0.9")).text
        assert "Recycelt: dieser Pass ist beendet" in german, url
        assert "Geschlossen am 4. März 2026." in german, url


async def test_a_continued_passport_links_its_successor(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str], anyone: httpx.AsyncClient
) -> None:
    """Identity's supersession fact (as `POST /identity/v1/second-life` publishes it; tests/integration/
    test_second_life.py drives that use case) reaches the public page of the predecessor."""
    tenant_name, oem_key = tenant
    predecessor = await mint_with_gtin(platform, oem_key)
    successor = (await mint_with_gtin(platform, oem_key))["passport_id"]
    await projected(anyone, predecessor["passport_id"], "passport_id")
    before = await as_html(anyone, urls_of(predecessor)[2])  # cached now: the supersession must drop it
    assert "Continued by a new passport" not in before.text

    fact = PassportSuperseded(
        passport_id=predecessor["passport_id"],
        tenant=tenant_name,
        successor_id=successor,
        successor_tenant="gridstack-energy",
        operation=SecondLifeOperation.repurposing,
        status=BatteryStatus.repurposed,
        responsible_operator="gridstack-energy",
        superseded_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
        superseded_by="repairer:gridstack-energy:key_1",
    )
    await send_fact(settings, topics.PASSPORT_SUPERSEDED, fact, predecessor["passport_id"])

    await projected(anyone, predecessor["passport_id"], "successor_ids")
    for url in urls_of(predecessor):
        view = await as_json(anyone, url)
        assert view["successor_ids"] == [successor], url
        assert view["ceased"] is False
        assert "status" not in view  # the Annex XIII status itself stays legitimate interest
        page = (await as_html(anyone, url)).text
        assert "Continued by a new passport" in page, url
        assert 'data-status="continued"' in page, url
        assert f'<a href="/passport/{successor}" rel="successor-version"' in page, url
    # The link leads to the successor's own page.
    await projected(anyone, successor, "passport_id")
    assert (await as_json(anyone, f"/passport/{successor}"))["passport_id"] == successor


async def test_the_page_is_cached_and_dropped_when_the_passport_changes(
    platform: dict[str, ServiceProcess], tenant: tuple[str, str], anyone: httpx.AsyncClient
) -> None:
    minted = await mint_with_gtin(platform, tenant[1])
    await projected(anyone, minted["passport_id"], "passport_id")
    page = urls_of(minted)[2]
    first = await as_html(anyone, page)
    second = await as_html(anyone, page)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert (await anyone.get(page, params={"format": "json"})).headers["x-cache"] in ("miss", "hit")
    assert (await anyone.get(page, params={"format": "json"})).headers["x-cache"] == "hit"

    patch = {"reason": "Type approval test", "static_data": {"rated_capacity_ah": "230"}}
    async with httpx.AsyncClient(base_url=platform["identity"].base_url, timeout=10) as identity:
        amended = await identity.patch(
            f"/identity/v1/passports/{minted['passport_id']}", json=patch, headers={"X-API-Key": tenant[1]}
        )
    assert amended.status_code == 200, amended.text

    async def changed() -> dict[str, Any] | None:
        view = await as_json(anyone, urls_of(minted)[1])  # through the QR code's URI
        return view if view["static_data"]["rated_capacity_ah"] == "230" else None

    await eventually(changed, timeout=60, what="the public page to show the amendment")
    fresh = await as_html(anyone, urls_of(minted)[0])
    assert fresh.headers["x-cache"] == "miss"
    assert "230 Ah · 77 kWh" in fresh.text
    assert "230 Ah" not in first.text
    # The one entry the change dropped held every language.
    french = await as_html(anyone, urls_of(minted)[2], "fr")
    assert (french.headers["x-cache"], french.headers["content-language"]) == ("hit", "fr")
    assert "230 Ah · 77 kWh" in french.text


async def _ok(request: Any) -> bool:
    response: httpx.Response = await request
    return response.status_code == 200


async def test_extension_values_the_schema_marks_public_are_shown_and_no_others(
    platform: dict[str, ServiceProcess], tenant: tuple[str, str], anyone: httpx.AsyncClient
) -> None:
    family = f"VX-{uuid.uuid4().hex[:6]}"
    schema = {
        "type": "object",
        "properties": {
            "recycling_hotline": {"type": "string", "x-public": True},
            "cell_supplier_code": {"type": "string"},
        },
        "additionalProperties": False,
    }
    owner = {"X-API-Key": tenant[1]}
    async with httpx.AsyncClient(base_url=platform["identity"].base_url, timeout=10, headers=owner) as identity:
        declared = await identity.put(f"/identity/v1/product-families/{family}/extension-schema", json=schema)
        assert declared.status_code == 201, declared.text
        values = {"recycling_hotline": "+49 30 123", "cell_supplier_code": "CS-17"}
        minted = await mint_with_gtin(platform, tenant[1], product_family=family, extensions=values)
        await projected(anyone, minted["passport_id"], "public_extensions")
        for url in urls_of(minted):
            view = await as_json(anyone, url)
            assert view["public_extensions"] == {"recycling_hotline": "+49 30 123"}, url
            assert "extensions" not in view
            page = (await as_html(anyone, url)).text
            assert "<dt>Recycling hotline</dt><dd>+49 30 123</dd>" in page, url
            assert "CS-17" not in page, url

        patch = {"reason": "New hotline", "extensions": {"recycling_hotline": "+49 30 999"}}
        amended = await identity.patch(f"/identity/v1/passports/{minted['passport_id']}", json=patch)
        assert amended.status_code == 200, amended.text

    async def changed() -> dict[str, Any] | None:
        view = await as_json(anyone, urls_of(minted)[0])
        return view if view["public_extensions"] == {"recycling_hotline": "+49 30 999"} else None

    await eventually(changed, timeout=60, what="the public page to show the amended public extension value")
    assert "CS-17" not in (await as_html(anyone, urls_of(minted)[1])).text


async def test_the_page_speaks_the_readers_language(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str], anyone: httpx.AsyncClient
) -> None:
    minted = await mint_with_gtin(platform, tenant[1])
    await projected(anyone, minted["passport_id"], "passport_id")
    qr, short, page = urls_of(minted)
    for header, language, words in (
        ("de-CH,de;q=0.9,en;q=0.5", "de", ("Batteriekategorie", "Gefahren", "So geben Sie sie zurück", "Nennspannung")),
        ("en;q=0.3, fr;q=0.8", "fr", ("Catégorie de batterie", "Dangers", "Comment la rapporter", "Tension nominale")),
        ("it-IT,it;q=0.9", "en", ("Battery category", "Hazards", "How to return it", "Nominal voltage")),
        ("", "en", ("Battery category",)),
    ):
        for url in (qr, short, page):  # the QR code's URIs redirect, and the language survives the redirect
            response = await as_html(anyone, url, header)
            assert response.headers["content-language"] == language, (url, header)
            assert f"<html lang='{language}'>" in response.text, (url, header)
            for word in words:
                assert word in response.text, (url, header, word)
    german = (await as_html(anyone, page, "de")).text
    assert "<dd>15. September 2025</dd>" in german
    assert "<dt>Land</dt><dd>Deutschland</dd>" in german
    # A link on the page picks the language whatever the browser sends.
    chosen = await anyone.get(page, params={"lang": "fr"}, headers={"Accept": BROWSER, "Accept-Language": "de"})
    assert (chosen.status_code, chosen.headers["content-language"]) == (200, "fr")
    assert '<a href="?lang=de" hreflang="de" lang="de">Deutsch</a>' in chosen.text
    refused = await anyone.get(page, params={"lang": "xx"}, headers={"Accept": BROWSER})
    assert refused.status_code == 422
    violations = refused.json()["violations"]
    assert [(v["field"], v["reason"]) for v in violations] == [("query.lang", "invalid_literal_error")]
    # Machines get the same JSON in every language.
    json_de = await anyone.get(page, headers={"Accept": "application/json", "Accept-Language": "de"})
    json_fr = await anyone.get(page, headers={"Accept": "application/json", "Accept-Language": "fr"})
    assert json_de.json() == json_fr.json()
    assert json_de.headers["vary"] == "Accept"
    # The page of a passport that is not (yet) known speaks the language too.
    unknown = await anyone.get(f"/passport/{uuid.uuid4()}", headers={"Accept": BROWSER, "Accept-Language": "fr"})
    assert (unknown.status_code, unknown.headers["content-language"]) == (404, "fr")
    assert "Passeport introuvable" in unknown.text

    # An entry cached before the page spoke several languages (the page itself) is rendered again, not served.
    redis = aioredis.from_url(settings.redis_url)
    try:
        key = f"bpass:reporting:public:{minted['passport_id']}:html"
        await redis.set(key, b"<!doctype html><html lang='en'><p>old page</p></html>", ex=60)
        again = await as_html(anyone, page, "de")
        assert again.headers["x-cache"] == "miss"
        assert "old page" not in again.text
        assert "<html lang='de'>" in again.text
        assert (await as_html(anyone, page, "fr")).headers["x-cache"] == "hit"
    finally:
        await redis.aclose()


async def test_the_separate_collection_symbol_is_served_as_an_image(anyone: httpx.AsyncClient) -> None:
    symbol = await anyone.get("/passport/assets/separate-collection.svg")
    assert symbol.status_code == 200
    assert symbol.headers["content-type"] == "image/svg+xml"
    assert symbol.text.startswith("<svg")
    assert "<title" in symbol.text
    assert len(symbol.content) < 2048
    missing = await anyone.get("/passport/assets/public.css")
    assert (missing.status_code, missing.json()["reason"]) == (404, "asset_not_found")
