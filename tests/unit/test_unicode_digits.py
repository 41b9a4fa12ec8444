"""Numbers read from text: characters `str.isdigit` calls digits but `int` refuses ("²", "³", "١") are refused as
input errors (400/422 with a reason), never a 500. Found by schemathesis with a cursor of "³²"."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from contracts.errors import ValidationFailed
from services.identity.api.common import parse_if_match
from services.reporting.api.access_log import _cursor


@pytest.mark.parametrize("text", ["³²", "²", "١٢", "12³"])
def test_an_access_log_cursor_of_other_digits_is_an_invalid_cursor(text: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _cursor(text)
    assert refused.value.violations[0].reason == "invalid_cursor"


def test_an_access_log_cursor_of_ascii_digits_reads() -> None:
    assert _cursor("1234") == 1234


@pytest.mark.parametrize("header", ["³", 'W/"²"', '"١"'])
def test_an_if_match_of_other_digits_is_a_bad_request(header: str) -> None:
    with pytest.raises(HTTPException) as refused:
        parse_if_match(header)
    assert refused.value.status_code == 400


def test_an_if_match_of_ascii_digits_names_the_version() -> None:
    assert parse_if_match('W/"3"') == 3
