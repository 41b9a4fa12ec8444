"""The public page's language (`Accept-Language`, RFC 9110 12.5.4 with RFC 4647 lookup) and its dates and numbers
for people (services/reporting/i18n)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from services.reporting.i18n import Words, accepted_ranges, negotiate, words

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("de", "de"),
        ("fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "fr"),
        ("de-CH", "de"),  # region falls back to its language
        ("de-Latn-CH", "de"),
        ("DE-ch", "de"),  # case-insensitive
        ("en;q=0.5, de;q=0.8, fr;q=0.7", "de"),  # weights, not order
        ("fr;q=0.8, de;q=0.8", "fr"),  # equal weights: the header's order
        ("it, de;q=0.3", "de"),  # the first one spoken
        ("it-IT, es;q=0.9", "en"),  # unknown: English
        ("pt", "en"),
        ("", "en"),
        (None, "en"),
        ("*", "en"),
        ("en;q=0, *", "de"),  # q=0 refuses English; * takes the next
        ("de;q=0, fr;q=0, en;q=0", "en"),  # everything refused: English all the same
        ("de;q=0, de-CH", "en"),  # refused language is not reached through a region either
        ("de;q=bogus, fr", "fr"),  # malformed members are skipped
        ("de;q=1.5, fr;q=0.1", "fr"),
        ("<script>, fr", "fr"),
        ("fr;q=0.001, de;q=0.0001", "fr"),  # more than three decimals is not a weight
        ("de-CH;q=0.9, fr;q=1", "fr"),
    ],
)
def test_negotiation(header: str | None, language: str) -> None:
    assert negotiate(header) == language


def test_accepted_ranges_are_ordered_by_weight_then_position() -> None:
    assert accepted_ranges("fr;q=0.5, de-CH, en;q=0.5, *;q=0.1") == [
        ("de-ch", 1.0),
        ("fr", 0.5),
        ("en", 0.5),
        ("*", 0.1),
    ]
    assert accepted_ranges("de;q=2, ;q=0.5, fr ; q=0.3") == [("fr", 0.3)]


def test_an_unsupported_language_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unsupported language 'it'"):
        Words("it")


@pytest.mark.parametrize(
    ("language", "day", "instant"),
    [
        ("en", "15 September 2025", "4 March 2026, 10:15 UTC"),
        ("de", "15. September 2025", "4. März 2026, 10:15 UTC"),
        ("fr", "15 septembre 2025", "4 mars 2026, 10:15 UTC"),
    ],
)
def test_dates_for_people(language: str, day: str, instant: str) -> None:
    w = words(language)
    assert w.date("2025-09-15") == day
    assert w.date(date(2025, 9, 15)) == day
    # An instant with microseconds, as the read model keeps it: to the minute, in UTC.
    assert w.instant("2026-03-04T10:15:03.123456+00:00") == instant
    assert w.instant(datetime(2026, 3, 4, 11, 15, 3, 9, tzinfo=timezone(timedelta(hours=1)))) == instant
    # The date of an instant is its date in UTC.
    assert w.date("2026-03-04T23:30:00-02:00") == w.date("2026-03-05")
    assert w.date(datetime(2026, 3, 4, 10, 15, tzinfo=UTC)) == w.date("2026-03-04")


def test_what_is_not_a_date_or_number_is_shown_as_given() -> None:
    w = words("de")
    assert w.date("soon") == "soon"
    assert w.instant("2026-03-04") == "4. März 2026"
    assert w.number("n/a") == "n/a"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", ["512.5", "250,000", "0.00075", "-20", "Germany"]),
        ("de", ["512,5", "250.000", "0,00075", "-20", "Deutschland"]),
        ("fr", ["512,5", "250\u202f000", "0,00075", "-20", "Allemagne"]),
    ],
)
def test_numbers_and_countries_in_the_readers_notation(language: str, expected: list[str]) -> None:
    w = words(language)
    assert [w.number("512.5"), w.number("250000"), w.number("0.00075"), w.number("-20"), w.country("de")] == expected
    assert w.country("XX") == "XX"
