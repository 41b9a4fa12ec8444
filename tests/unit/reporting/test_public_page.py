"""The one public passport page (services/reporting/public.py): the public cut, the end of a passport's life shown
first, escaping, and a page a phone reads."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from bpass.examples import valid_static_data
from contracts.attributes import AccessTier
from contracts.passport_data import BatteryCategory, field_tier
from services.reporting.domain import readmodel
from services.reporting.domain.public import public_view, restricted_fields
from services.reporting.public import lifecycle_status, render_html
from tests.unit.reporting.factories import T0, batteries, minted, passport_id

pytestmark = pytest.mark.unit


def state(**static_changes: Any) -> dict[str, Any]:
    fact = minted(batteries(1)[0], "oem-a")
    state = readmodel.empty_state(fact.passport_id, "oem-a")
    readmodel.apply_minted(state, fact)
    static = valid_static_data(BatteryCategory.ev).model_dump(mode="json", exclude_none=True)
    static.update(static_changes)
    state["static_data"] = static
    state["extensions"] = {"cost": 98765.4321}
    return state


def page(state: dict[str, Any]) -> str:
    return render_html(public_view(state), restricted_fields(state))


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.setdefault(tag, dict(attrs))


def test_the_view_is_the_public_cut_and_the_page_names_what_is_restricted() -> None:
    live = state()
    view = public_view(live)
    assert all(field_tier(name) is AccessTier.public for name in view["static_data"])
    for private in ("extensions", "tenant", "status", "stage", "custody_timeline", "product_family", "minted_by"):
        assert private not in view
    assert (view["ceased"], view["successor_ids"]) == (False, [])
    assert lifecycle_status(view) == "Active"
    restricted = restricted_fields(live)
    assert restricted["authorities"] == ["test_reports_url"]
    assert "material_composition" in restricted["legitimate_interest"]
    text = page(live)
    assert "Restricted information" in text
    assert "98765" not in text
    assert "has ceased" not in text


def test_a_recycled_passport_says_so_first() -> None:
    recycled = state()
    readmodel.apply_ceased(recycled, ceased_at=T0 + timedelta(days=400), reason="recycled")
    view = public_view(recycled)
    assert (view["ceased"], view["ceased_reason"]) == (True, "recycled")
    assert view["ceased_at"].startswith((T0 + timedelta(days=400)).date().isoformat())
    assert lifecycle_status(view) == "Ceased (recycled)"
    text = page(recycled)
    notice = text.index("This passport has ceased")
    assert notice < text.index("Identification")
    assert "role='alert'" in text[notice - 80 : notice]
    assert "Art. 77(8)" in text
    assert "(ceased)</title>" in text


def test_a_continued_passport_links_its_successors() -> None:
    superseded = state()
    successor = passport_id()
    readmodel.apply_links(superseded, successor_ids=[successor])
    view = public_view(superseded)
    assert view["successor_ids"] == [successor]
    assert lifecycle_status(view) == "Continued by a new passport"
    text = page(superseded)
    assert text.index("This passport has been continued") < text.index("Identification")
    assert f"<a href='/passport/{successor}' rel='successor-version'>" in text


def test_the_page_is_english_readable_on_a_phone_and_structured() -> None:
    text = page(state())
    parser = _Collect()
    parser.feed(text)
    assert parser.attrs["html"]["lang"] == "en"
    assert "width=device-width" in text
    assert {"main", "h1", "h2", "section", "dl", "dt", "dd"} <= set(parser.tags)
    assert "<script" not in text


def test_every_value_on_the_page_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    unsafe = state(battery_model=evil)
    unsafe["battery_identifier"] = "X<1>"
    unsafe["static_data"]["manufacturer"]["name"] = 'A "quoted" & <b>bold</b> name'
    text = page(unsafe)
    assert "<script>" not in text
    assert "<b>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "X&lt;1&gt;" in text


def test_links_are_only_made_of_http_urls() -> None:
    text = page(state(battery_model="javascript:alert(1)"))
    assert "href='javascript" not in text
    assert re.search(r"href='https://[^']+'", text)
