"""A passport after minting, against the real stack: the public resolver, amendments, extension fields,
QR codes and label sheets."""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image

from bpass.examples import EXAMPLE_GTIN, valid_static_payload
from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.identity import PassportAmended
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_identity_minting import Identity, identity_service
from tests.support import eventually, verified_gtin_prefix
from tests.unit.identity.test_qr import printed_text

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(scope="module")
async def identity(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Identity]:
    async with identity_service(settings, tmp_path_factory.mktemp("identity-passports"), PORT_BASE + 22) as service:
        yield service


@pytest.fixture
async def owner(identity: Identity, tenant: tuple[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    await verified_gtin_prefix(identity.url, identity.settings.api_keys_file, tenant[0])
    async with httpx.AsyncClient(base_url=identity.url, timeout=30, headers={"X-API-Key": tenant[1]}) as http:
        yield http


@pytest.fixture
async def anyone(identity: Identity) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        yield http


def body(identifier: str, **extra: Any) -> dict[str, Any]:
    subject = {"kind": "battery", "battery_identifier": identifier}
    subject.update(extra.pop("subject", {}))
    return {"subject": subject, "category": "ev", "static_data": valid_static_payload(BatteryCategory.ev), **extra}


async def mint(owner: httpx.AsyncClient, identifier: str, **extra: Any) -> dict[str, Any]:
    response = await owner.post("/identity/v1/passports", json=body(identifier, **extra))
    assert response.status_code == 201, response.text
    minted: dict[str, Any] = response.json()
    return minted


# --- resolver -----------------------------------------------------------------------------------------------


async def test_the_qr_codes_uris_lead_to_the_passports_one_public_page(
    owner: httpx.AsyncClient, anyone: httpx.AsyncClient
) -> None:
    """Identity resolves the identifier and sends every client, browser or machine, to the page reporting renders
    (tests/integration/test_public_face.py reads it)."""
    serial = f"R/{uuid.uuid4().hex[:8]}"  # a '/' in the serial travels percent-encoded
    minted = await mint(owner, serial, subject={"gtin": EXAMPLE_GTIN, "batch_number": "L7"})
    path = minted["public_uri"].split("passport.example.test", 1)[1]
    assert path == f"/01/{EXAMPLE_GTIN}/10/L7/21/{serial.replace('/', '%2F')}"
    page = f"/passport/{minted['passport_id']}"

    for accept in ("application/json", BROWSER, None):
        response = await anyone.get(path, headers={"Accept": accept} if accept else {})
        assert response.status_code == 307, response.text
        assert response.headers["location"] == page
        assert response.headers["vary"] == "Accept"

    reordered = await anyone.get(f"/01/{EXAMPLE_GTIN[1:]}/21/{serial.replace('/', '%2F')}/10/L7")
    assert (reordered.status_code, reordered.headers["location"]) == (307, page)
    by_id = await anyone.get(f"/p/{minted['passport_id'][9:]}")
    assert (by_id.status_code, by_id.headers["location"]) == (307, page)
    wrong_batch = await anyone.get(f"/01/{EXAMPLE_GTIN}/10/L8/21/{serial.replace('/', '%2F')}")
    assert wrong_batch.status_code == 404


async def test_unknown_passports_get_a_clear_404(anyone: httpx.AsyncClient) -> None:
    unknown = "01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11"
    as_json = await anyone.get(f"/p/{unknown}")
    assert as_json.status_code == 404
    assert as_json.json()["reason"] == "passport_not_found"
    as_html = await anyone.get(f"/p/{unknown}", headers={"Accept": BROWSER})
    assert as_html.status_code == 404
    assert "Passport not found" in as_html.text
    assert (await anyone.get("/p/not-a-uuid")).status_code == 404
    assert (await anyone.get(f"/01/{EXAMPLE_GTIN}/21/NOBODY-{uuid.uuid4().hex[:6]}")).status_code == 404
    bad_link = await anyone.get("/01/09506000134353/21/X")
    assert bad_link.status_code == 400
    assert bad_link.json()["violations"][0]["reason"] == "gtin_check_digit"


# --- amendments ---------------------------------------------------------------------------------------------


async def test_an_amendment_is_a_new_version_with_who_when_why_and_a_fact(
    identity: Identity, owner: httpx.AsyncClient, tenant: tuple[str, str]
) -> None:
    minted = await mint(owner, f"AM-{uuid.uuid4().hex[:8]}")
    url = f"/identity/v1/passports/{minted['passport_id']}"
    read = await owner.get(url)
    assert read.headers["etag"] == '"1"'

    patch = {"reason": "Type approval test", "static_data": {"rated_capacity_ah": "230", "weight_kg": "515"}}
    amended = await owner.patch(url, json=patch, headers={"If-Match": '"1"'})
    assert amended.status_code == 200, amended.text
    assert amended.json()["version"] == 2
    assert amended.json()["changed_fields"] == ["weight_kg", "rated_capacity_ah"]
    assert amended.headers["etag"] == '"2"'

    stale = await owner.patch(
        url, json={"reason": "late", "static_data": {"weight_kg": "516"}}, headers={"If-Match": "1"}
    )
    assert stale.status_code == 412
    assert stale.json()["reason"] == "version_mismatch"
    assert stale.json()["current_version"] == 2

    invalid = await owner.patch(url, json={"reason": "x", "static_data": {"nominal_voltage_v": "500"}})
    assert invalid.status_code == 422
    assert {v["reason"] for v in invalid.json()["violations"]} == {"voltage_order"}

    versions = (await owner.get(f"{url}/versions")).json()
    assert [(v["version"], v["reason"], v["changed_fields"]) for v in versions] == [
        (1, "minted", []),
        (2, "Type approval test", ["weight_kg", "rated_capacity_ah"]),
    ]
    assert versions[1]["changed_by"].startswith(f"oem_admin:{tenant[0]}:")
    first = (await owner.get(f"{url}/versions/1")).json()
    assert first["static_data"]["weight_kg"] == "512.5"  # nothing overwritten

    stranger = new_key(identity.settings, Role.oem_admin, f"oem-{uuid.uuid4().hex[:10]}")
    foreign = await owner.patch(url, json=patch, headers={"X-API-Key": stranger})
    assert foreign.status_code == 404

    async def published() -> PassportAmended | None:
        for record in await identity.facts(topics.PASSPORT_AMENDED):
            if record.key == minted["passport_id"].encode():
                return PassportAmended.model_validate_json(record.value)
        return None

    fact = await eventually(published, what="the amended fact")
    assert (fact.version, fact.previous_version, fact.reason) == (2, 1, "Type approval test")
    assert fact.changed_fields == ["weight_kg", "rated_capacity_ah"]
    assert str(fact.static_data.rated_capacity_ah) == "230"
    assert fact.amended_by == versions[1]["changed_by"]


async def test_concurrent_amendments_are_applied_one_after_the_other(owner: httpx.AsyncClient) -> None:
    minted = await mint(owner, f"AMC-{uuid.uuid4().hex[:8]}")
    url = f"/identity/v1/passports/{minted['passport_id']}"
    responses = await asyncio.gather(
        *(
            owner.patch(url, json={"reason": f"r{i}", "static_data": {"warranty_period_months": 100 + i}})
            for i in range(5)
        )
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert sorted(r.json()["version"] for r in responses) == [2, 3, 4, 5, 6]
    versions = (await owner.get(f"{url}/versions")).json()
    assert [v["version"] for v in versions] == [1, 2, 3, 4, 5, 6]


# --- extension fields ---------------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "recycling_hotline": {"type": "string", "x-public": True},
        "cell_supplier_code": {"type": "string", "pattern": "^CS-[0-9]+$"},
    },
    "additionalProperties": False,
}


async def test_extension_fields_follow_the_familys_schema_and_name_the_public_ones(owner: httpx.AsyncClient) -> None:
    family = f"VX-{uuid.uuid4().hex[:6]}"
    url = f"/identity/v1/product-families/{family}/extension-schema"
    declared = await owner.put(url, json=SCHEMA)
    assert declared.status_code == 201, declared.text
    assert declared.json()["version"] == 1
    assert declared.json()["public_fields"] == ["recycling_hotline"]
    assert (await owner.put(url, json=SCHEMA)).status_code == 200  # the same schema is no new version
    refused = await owner.put(url, json={"type": "object", "properties": {"a": {"type": "strin"}}})
    assert refused.status_code == 422
    assert refused.json()["violations"][0]["reason"] == "extension_schema_invalid"

    values = {"recycling_hotline": "+49 30 123", "cell_supplier_code": "CS-17"}
    minted = await mint(owner, f"EXT-{uuid.uuid4().hex[:8]}", product_family=family, extensions=values)
    owner_view = (await owner.get(f"/identity/v1/passports/{minted['passport_id']}")).json()
    assert owner_view["extensions"] == values
    assert owner_view["extension_schema_version"] == 1

    wrong = await owner.post(
        "/identity/v1/passports",
        json=body(f"EXT-{uuid.uuid4().hex[:8]}", product_family=family, extensions={"cell_supplier_code": "17"}),
    )
    assert wrong.status_code == 422
    assert [(v["field"], v["reason"]) for v in wrong.json()["violations"]] == [
        ("extensions.cell_supplier_code", "extension_schema_violation")
    ]
    bulk = await owner.post(
        "/identity/v1/passports:bulk",
        json={
            "defaults": {"category": "ev", "static_data": valid_static_payload(BatteryCategory.ev)},
            "passports": [{"subject": {"kind": "battery", "battery_identifier": "E1"}, "extensions": {"x": 1}}],
        },
    )
    assert [(v["field"], v["reason"]) for v in bulk.json()["violations"]] == [
        ("passports.0.extensions", "extensions_without_schema")
    ]


# --- QR codes and labels ------------------------------------------------------------------------------------


def decode(png: bytes) -> list[str]:
    with Image.open(io.BytesIO(png)) as image:
        return [result.text for result in zxingcpp.read_barcodes(image)]


async def test_a_qr_png_fetched_over_http_decodes_to_the_public_uri(
    owner: httpx.AsyncClient, anyone: httpx.AsyncClient
) -> None:
    minted = await mint(owner, f"QR-{uuid.uuid4().hex[:8]}", subject={"gtin": EXAMPLE_GTIN})
    png = await owner.get(f"/identity/v1/passports/{minted['passport_id']}/qr.png")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert decode(png.content) == [minted["public_uri"]]
    public_png = await anyone.get(f"/p/{minted['passport_id'][9:]}/qr.png", params={"scale": 4})
    assert decode(public_png.content) == [minted["public_uri"]]
    svg = await owner.get(f"/identity/v1/passports/{minted['passport_id']}/qr.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in svg.content
    assert (await anyone.get(f"/identity/v1/passports/{minted['passport_id']}/qr.png")).status_code == 401


async def test_the_labels_of_a_batch_come_as_one_pdf_or_zip(owner: httpx.AsyncClient, settings: Settings) -> None:
    batch = f"L{uuid.uuid4().hex[:8]}"
    response = await owner.post(
        "/identity/v1/passports:bulk",
        json={
            "defaults": {"category": "ev", "static_data": valid_static_payload(BatteryCategory.ev)},
            "passports": [
                {"subject": {"kind": "battery", "battery_identifier": f"{batch}-{i:02d}", "batch_number": batch}}
                for i in range(14)
            ],
        },
    )
    assert response.status_code == 200, response.text
    pdf = await owner.post("/identity/v1/labels", json={"batch_number": batch}, headers={"Accept": "application/pdf"})
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["x-label-count"] == "14"
    assert len(re.findall(rb"/Type\s*/Page(?![a-z])", pdf.content)) == 2  # 12 labels per page
    # Each label prints its battery identifier, then its passport's public URI (no GTIN: <resolver>/p/<uuid>), in
    # identifier order, 12 on the first page and 2 on the second.
    minted = response.json()["passports"]
    assert [p["battery_identifier"] for p in minted] == [f"{batch}-{i:02d}" for i in range(14)]
    uris = [f"{settings.public_base_url}/p/{p['passport_id'].removeprefix('urn:uuid:')}" for p in minted]
    assert [p["public_uri"] for p in minted] == uris
    printed = [f"{batch}-{i:02d}{uri}" for i, uri in enumerate(uris)]
    assert printed_text(pdf.content) == ["".join(printed[:12]), "".join(printed[12:])]

    ids = [p["passport_id"] for p in minted[:3]]
    archive = await owner.post("/identity/v1/labels", json={"passport_ids": ids}, headers={"Accept": "application/zip"})
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        names = zipped.namelist()
        assert names == [f"{batch}-{i:02d}.png" for i in range(3)]
        assert [decode(zipped.read(name)) for name in names] == [[uri] for uri in uris[:3]]

    unknown = await owner.post("/identity/v1/labels", json={"passport_ids": [*ids, "urn:uuid:nope"]})
    assert unknown.status_code == 422
    assert json.loads(unknown.text)["violations"][0]["field"] == "passport_ids.3"
    assert (await owner.post("/identity/v1/labels", json={"batch_number": "NONE-SUCH"})).status_code == 404
    assert (await owner.post("/identity/v1/labels", json={})).status_code == 422
