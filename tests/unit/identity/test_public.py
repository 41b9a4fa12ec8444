"""The public tier of a passport, its HTML page, content negotiation and If-Match."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi import HTTPException

from contracts.attributes import AccessTier, BatteryCategory
from contracts.errors import Violation
from contracts.passport_data import field_tier
from services.identity import public
from services.identity.domain import static_json
from services.identity.examples import valid_static_data
from services.identity.web import parse_if_match, prefers_html

pytestmark = pytest.mark.unit

SCHEMA = {"type": "object", "properties": {"hotline": {"type": "string", "x-public": True}, "cost": {}}}


def row(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "passport_id": "urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11",
        "tenant": "acme",
        "public_uri": "https://id.example/01/09506000134352/21/VX-1",
        "battery_identifier": "VX-1",
        "kind": "battery",
        "category": "ev",
        "gtin": "9506000134352",
        "batch_number": None,
        "current_version": 2,
        "minted_at": datetime(2026, 1, 1, tzinfo=UTC),
        "changed_at": datetime(2026, 2, 1, tzinfo=UTC),
        "static_data": static_json(valid_static_data(BatteryCategory.ev)),
        "extensions": {"hotline": "+49 30 1", "cost": 98765.4321},
        "product_family": "VX",
        "minted_by": "oem_admin:acme:key_1",
    }
    return {**base, **changes}


def test_public_view_holds_only_public_fields_and_names_the_restricted_ones() -> None:
    view = public.public_passport(row(), SCHEMA)
    assert view["static_data"]
    assert all(field_tier(name) is AccessTier.public for name in view["static_data"])
    assert "material_composition" not in view["static_data"]
    assert "test_reports_url" not in view["static_data"]
    assert view["restricted_fields"]["authorities"] == ["test_reports_url"]
    assert "material_composition" in view["restricted_fields"]["legitimate_interest"]
    assert view["extensions"] == {"hotline": "+49 30 1"}
    assert view["gtin"] == "09506000134352"
    assert "tenant" not in view
    assert "minted_by" not in view
    assert "product_family" not in view


def test_public_view_lists_fields_in_the_contracts_order() -> None:
    stored = dict(reversed(list(row()["static_data"].items())))
    view = public.public_passport(row(static_data=stored), None)
    assert list(view["static_data"])[:3] == ["manufacturer", "manufacturing_place", "manufacturing_date"]
    assert view["extensions"] == {}


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.setdefault(tag, dict(attrs))


def test_the_page_is_english_readable_on_a_phone_and_structured() -> None:
    page = public.passport_page(public.public_passport(row(), SCHEMA))
    parser = _Collect()
    parser.feed(page)
    assert parser.attrs["html"]["lang"] == "en"
    assert "width=device-width" in page
    assert {"main", "h1", "h2", "section", "dl", "dt", "dd"} <= set(parser.tags)
    assert "<script" not in page
    assert "Nominal voltage (V)" in page
    assert "Restricted information" in page
    assert "+49 30 1" in page
    assert "98765" not in page


def test_every_value_on_the_page_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    static = row()["static_data"]
    static["battery_model"] = evil
    static["manufacturer"]["name"] = 'A "quoted" & <b>bold</b> name'
    page = public.passport_page(public.public_passport(row(static_data=static, battery_identifier="X<1>"), None))
    assert "<script>" not in page
    assert "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "X&lt;1&gt;" in page


def test_links_are_only_made_of_http_urls() -> None:
    static = row()["static_data"]
    static["battery_model"] = "javascript:alert(1)"
    page = public.passport_page(public.public_passport(row(static_data=static), None))
    assert 'href="javascript' not in page
    assert re.search(r'href="https://voltaris\.example/docs/labels\.pdf"', page)


def test_not_found_and_invalid_link_pages_escape_their_text() -> None:
    assert "&lt;x&gt;" in public.not_found_page("no <x>")
    page = public.invalid_link_page([Violation(field="uri", reason="r", message="bad <gtin>")])
    assert "bad &lt;gtin&gt;" in page
    assert 'lang="en"' in page


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("nominal_voltage_v", "Nominal voltage (V)"),
        ("carbon_footprint_kg_co2e_per_kwh", "Carbon footprint (kg CO₂e/kWh)"),
        ("power_capability_at_80_pct_soc_w", "Power capability at 80 % SOC (W)"),
        ("idle_temperature_lower_c", "Idle temperature lower (°C)"),
        ("declaration_of_conformity_url", "Declaration of conformity"),
        ("warranty_period_months", "Warranty period (months)"),
        ("gtin", "GTIN"),
    ],
)
def test_labels(name: str, label: str) -> None:
    assert public.label(name) == label


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("application/ld+json", False),
        ("text/html", True),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),  # browsers
        ("application/json, text/html;q=0.5", False),
        ("text/html;q=0.5, application/json", False),
        ("text/*", True),
        ("text/html;q=0", False),
        ("application/json;q=0.1, text/html", True),
    ],
)
def test_content_negotiation(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html


@pytest.mark.parametrize(("value", "version"), [(None, None), ("*", None), ("3", 3), ('"3"', 3), ('W/"12"', 12)])
def test_if_match(value: str | None, version: int | None) -> None:
    assert parse_if_match(value) == version


def test_a_malformed_if_match_is_a_bad_request() -> None:
    with pytest.raises(HTTPException) as failed:
        parse_if_match('"v3"')
    assert failed.value.status_code == 400
