"""The resolver's error pages, content negotiation and If-Match (the public passport page: reporting's
tests/unit/reporting/test_public_page.py)."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from contracts.errors import Violation
from services.common.negotiation import prefers_html
from services.identity.api import resolver_pages
from services.identity.api.common import parse_if_match

pytestmark = pytest.mark.unit


def test_not_found_and_invalid_link_pages_escape_their_text() -> None:
    assert "&lt;x&gt;" in resolver_pages.not_found_page("no <x>")
    page = resolver_pages.invalid_link_page([Violation(field="uri", reason="r", message="bad <gtin>")])
    assert "bad &lt;gtin&gt;" in page
    assert 'lang="en"' in page


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
