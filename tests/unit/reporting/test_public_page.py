"""The one public passport page (services/reporting/public.py): the public cut, what a person holding the battery needs
on the first screen (`essentials`), the rest in collapsible sections, the end of a passport's life shown first,
escaping, and a page a phone reads in the reader's language."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from bpass.examples import valid_static_data
from contracts.attributes import AccessTier
from contracts.passport_data import BatteryCategory, StaticPassportData, field_tier
from services.reporting.domain import readmodel
from services.reporting.domain.public import (
    ESSENTIAL_FIELDS,
    detail_sections,
    essentials,
    public_status,
    public_view,
    restricted_fields,
)
from services.reporting.public import link_text, render_all, render_html
from tests.unit.reporting.factories import T0, batteries, minted, passport_id

pytestmark = pytest.mark.unit


def state(**static_changes: Any) -> dict[str, Any]:
    fact = minted(batteries(1)[0], "oem-a")
    state = readmodel.empty_state(fact.passport_id, "oem-a")
    readmodel.apply_minted(state, fact)
    static = valid_static_data(BatteryCategory.ev).model_dump(mode="json", exclude_none=True)
    static.update(static_changes)
    state["static_data"] = {name: value for name, value in static.items() if value is not None}
    state["category"] = "ev"
    state["extensions"] = {"cost": 98765.4321}
    return state


def page(state: dict[str, Any], language: str = "en") -> str:
    return render_html(public_view(state), restricted_fields(state), language)


class _Collect(HTMLParser):
    """Tags, the first attributes of each tag, and the text inside each `data-essential` element."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: dict[str, dict[str, str | None]] = {}
        self.essential: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.setdefault(tag, dict(attrs))
        if tag in ("img", "meta", "link", "br"):
            return
        self._open.append((tag, dict(attrs).get("data-essential")))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, name in self._open:
            if name:
                self.essential[name] = self.essential.get(name, "") + data


def parsed(text: str) -> _Collect:
    parser = _Collect()
    parser.feed(text)
    return parser


def test_the_view_is_the_public_cut_and_the_page_names_what_is_restricted() -> None:
    live = state()
    view = public_view(live)
    assert all(field_tier(name) is AccessTier.public for name in view["static_data"])
    for private in ("extensions", "tenant", "status", "stage", "custody_timeline", "product_family", "minted_by"):
        assert private not in view
    assert (view["ceased"], view["successor_ids"]) == (False, [])
    assert public_status(view) == "active"
    restricted = restricted_fields(live)
    assert restricted["authorities"] == ["test_reports_url"]
    assert "material_composition" in restricted["legitimate_interest"]
    text = page(live)
    assert "Restricted information" in text
    assert "Test reports proving compliance" in text  # named, never shown
    for hidden in ("98765", "restricted/test-reports.pdf", "VX-BMU-0042", "Ethylene carbonate", "original"):
        assert hidden not in text, hidden


def test_the_first_screen_holds_what_a_person_holding_the_battery_needs() -> None:
    view = public_view(state())
    first = essentials(view)
    assert first["name"] == "VX-400 NMC811 82 kWh"
    assert first["manufacturer"] == "Voltaris"
    assert (first["category"], first["chemistry"], first["carbon_class"]) == ("ev", "NMC811", "B")
    assert first["capacity"] == [("rated_capacity_ah", "228"), ("certified_usable_energy_kwh", "77.0")]
    assert first["hazardous_substances"] == ["Lithium hexafluorophosphate"]
    assert first["hazard_impacts"][0] == "H301: Toxic if swallowed"
    assert first["extinguishing_agents"] == ["Water (class A)", "CO2"]
    assert [name for name, _ in first["return_links"]] == ["separate_collection_info_url", "end_of_life_info_url"]
    assert first["contact"]["web_address"] == "https://voltaris.example/"
    assert first["status"] == "active"

    marked = parsed(page(state())).essential
    assert marked["name"].strip() == "VX-400 NMC811 82 kWh"
    assert "Electric vehicle battery" in marked["category"]
    assert "NMC811" in marked["chemistry"]
    assert "228 Ah · 77 kWh" in marked["capacity"]
    assert "B" in marked["carbon-class"]
    assert "Lithium hexafluorophosphate" in marked["hazards"]
    assert "Water (class A), CO2" in marked["extinguishing"]
    assert "household waste" in marked["return"]
    assert "Passport active" in marked["status"]


def test_every_public_field_is_on_the_page_once_first_screen_or_collapsible_section() -> None:
    view = public_view(state())
    in_sections = [name for _, fields in detail_sections(view) for name, _ in fields]
    assert len(in_sections) == len(set(in_sections))
    assert set(in_sections) == set(view["static_data"]) - ESSENTIAL_FIELDS
    assert set(StaticPassportData.model_fields) >= ESSENTIAL_FIELDS
    assert all(field_tier(name) is AccessTier.public for name in ESSENTIAL_FIELDS)  # the first screen widens nothing
    text = page(state())
    assert text.count("<details") == len(detail_sections(view)) + 2  # identification, restricted
    first_section = text.index("<details")
    for marker in ('data-essential="status"', 'data-essential="hazards"', 'data-essential="return"'):
        assert text.index(marker) < first_section
    assert "<details open" not in text  # collapsed until the reader opens one


def test_missing_essentials_say_so_instead_of_breaking_the_page() -> None:
    sparse = state()
    for name in (
        "battery_model",
        "battery_chemistry",
        "rated_capacity_ah",
        "certified_usable_energy_kwh",
        "carbon_footprint_performance_class",
        "hazardous_substances",
        "hazardous_substance_impacts",
    ):
        sparse["static_data"].pop(name)
    first = essentials(public_view(sparse))
    assert (first["name"], first["chemistry"], first["capacity"], first["carbon_class"]) == (None, None, [], None)
    marked = parsed(page(sparse)).essential
    assert marked["name"].strip() == sparse["battery_identifier"]
    assert "not given" in marked["chemistry"]
    assert "not given" in marked["capacity"]
    assert "No hazardous substances declared." in marked["hazards"]


def test_the_separate_collection_symbol_is_an_image_with_a_text_alternative() -> None:
    text = page(state(), "fr")
    img = parsed(text).attrs["img"]
    assert img["src"] == "/passport/assets/separate-collection.svg"
    assert img["alt"] is not None
    assert "Poubelle sur roues barrée" in img["alt"]
    # The manufacturer's label file is a link with readable text, not a bare URL.
    assert ">voltaris.example/…/separate-collection.svg</a>" in text
    assert link_text("https://voltaris.example/docs/labels.pdf") == "voltaris.example/…/labels.pdf"
    assert link_text("https://voltaris.example/") == "voltaris.example/"


def test_a_recycled_passport_says_so_first_with_a_date_for_people() -> None:
    recycled = state()
    readmodel.apply_ceased(recycled, ceased_at=datetime(2026, 3, 4, 10, 15, 3, 123456, tzinfo=UTC), reason="recycled")
    view = public_view(recycled)
    assert (view["ceased"], view["ceased_reason"]) == (True, "recycled")
    assert public_status(view) == "recycled"
    text = page(recycled)
    notice = text.index("Recycled: this passport has ceased")
    assert notice < text.index("Identification")
    assert 'role="alert"' in text[notice - 200 : notice]
    assert "Closed on 4 March 2026." in text
    assert "Art. 77(8)" in text
    assert "(ceased)</title>" in text
    german = page(recycled, "de")
    assert "Recycelt: dieser Pass ist beendet" in german
    assert "Geschlossen am 4. März 2026." in german
    assert "Clos le 4 mars 2026." in page(recycled, "fr")
    for language in ("en", "de", "fr"):
        assert not re.search(r"\d\d:\d\d:\d\d\.\d", page(recycled, language))  # no microseconds, anywhere
        assert "2026-03-04" not in page(recycled, language)


def test_a_passport_ceased_for_another_reason_names_it() -> None:
    destroyed = state()
    readmodel.apply_ceased(destroyed, ceased_at=T0 + timedelta(days=3), reason="destroyed")
    assert public_status(public_view(destroyed)) == "ceased"
    assert "Ceased (destroyed): this passport is closed" in page(destroyed)


def test_a_continued_passport_links_its_successors() -> None:
    superseded = state()
    successor = passport_id()
    readmodel.apply_links(superseded, successor_ids=[successor])
    view = public_view(superseded)
    assert view["successor_ids"] == [successor]
    assert public_status(view) == "continued"
    assert essentials(view)["successor_ids"] == [successor]
    text = page(superseded)
    assert text.index("Continued by a new passport") < text.index("Identification")
    assert f'<a href="/passport/{successor}" rel="successor-version"' in text
    assert "Aktueller Pass" in page(superseded, "de")


def test_the_page_is_readable_on_a_phone_structured_and_in_the_readers_language() -> None:
    for language, label, section in (
        ("en", "Chemistry", "Performance and durability"),
        ("de", "Chemie", "Leistung und Haltbarkeit"),
        ("fr", "Chimie", "Performance et durabilité"),
    ):
        text = page(state(), language)
        parser = parsed(text)
        assert parser.attrs["html"]["lang"] == language
        assert f"<dt>{label}</dt>" in text
        assert f"<h2>{section}</h2>" in text
        assert "width=device-width" in text
        landmarks = {"header", "main", "footer", "nav", "h1", "h2", "section", "details", "summary", "dl"}
        assert landmarks <= set(parser.tags)
        assert "<script" not in text
    german = page(state(), "de")
    assert "<dd>15. September 2025</dd>" in german  # manufacturing date
    assert "<dd>512,5 kg</dd>" in german
    assert "<dt>Land</dt><dd>Deutschland</dd>" in german
    assert "<dd>15 septembre 2025</dd>" in page(state(), "fr")
    assert "<dd>15 September 2025</dd>" in page(state(), "en")


def test_render_all_renders_each_language_the_page_speaks() -> None:
    live = state()
    pages = render_all(public_view(live), restricted_fields(live))
    assert sorted(pages) == ["de", "en", "fr"]
    assert all(f"<html lang='{language}'>" in text for language, text in pages.items())


def test_every_value_on_the_page_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    unsafe = state(battery_model=evil, extinguishing_agents=["<b>foam</b>"])
    unsafe["battery_identifier"] = "X<1>"
    unsafe["static_data"]["manufacturer"]["name"] = 'A "quoted" & <b>bold</b> name'
    unsafe["public_extensions"] = {"hotline": "<img src=x onerror=alert(1)>"}
    unsafe["static_data"]["hazardous_substances"][0]["name"] = "<i>LiPF6</i>"
    for language in ("en", "de", "fr"):
        text = page(unsafe, language)
        assert "<script>" not in text
        assert "<b>" not in text
        assert "<img src=x" not in text
        assert "<i>" not in text
        assert "&lt;i&gt;LiPF6&lt;/i&gt;" in text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text
        assert "X&lt;1&gt;" in text


def test_links_are_only_made_of_http_urls() -> None:
    unsafe = state(
        battery_model="javascript:alert(1)",
        declaration_of_conformity_id="javascript:alert(2)",
        separate_collection_info_url="javascript:alert(3)",
    )
    unsafe["static_data"]["manufacturer"]["web_address"] = "javascript:alert(4)"
    unsafe["static_data"]["manufacturer"]["email"] = "javascript:alert(5)//@x"
    first = essentials(public_view(unsafe))
    assert [name for name, _ in first["return_links"]] == ["end_of_life_info_url"]
    assert first["contact"] == {}
    text = page(unsafe)
    assert 'href="javascript' not in text
    assert 'href="mailto:javascript' not in text
    assert re.search(r'href="https://[^"]+"', text)


def test_a_passport_with_little_public_data_still_has_a_page() -> None:
    bare = state()
    bare["static_data"] = {}
    for key in ("kind", "public_uri", "category"):
        bare.pop(key, None)
    for language in ("en", "de", "fr"):
        marked = parsed(page(bare, language)).essential
        assert set(marked) >= {"name", "status", "category", "chemistry", "capacity", "hazards", "return"}
    assert "not given" in parsed(page(bare)).essential["category"]
    assert "Do not put it in household waste" in parsed(page(bare)).essential["return"]
