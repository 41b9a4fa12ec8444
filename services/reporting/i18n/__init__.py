"""The public passport page in the reader's language: which language (`negotiate`, from `Accept-Language`), its
words (`catalogue.toml`: every label and sentence of the page, one entry a key, English the fallback) and its
dates, numbers and country names (CLDR, through Babel).

    words = Words("de")
    words("field", "battery_chemistry")          # "Chemie"
    words("ui", "ceased_on", date="4. März 2026")
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from pathlib import Path
from typing import Final

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_decimal

LANGUAGES: Final = ("en", "de", "fr")
"""What the page speaks, the fallback first."""
DEFAULT: Final = "en"
NAMES: Final = {"en": "English", "de": "Deutsch", "fr": "Français"}
"""Each language by its own name, as a language switch shows it."""
# English dates in the EU's style (15 September 2025), not the US one.
_LOCALES: Final = {"en": "en_GB", "de": "de_DE", "fr": "fr_FR"}

CATALOGUE_FILE = Path(__file__).with_name("catalogue.toml")
# group -> key -> language -> text
Catalogue = dict[str, dict[str, dict[str, str]]]

# RFC 9110 12.5.4: a language range (RFC 4647 basic: 1*8ALPHA *("-" 1*8alphanum), or "*"), optionally a weight.
_RANGE = re.compile(r"^(\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)$")
_WEIGHT = re.compile(r"^[qQ]=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")


def load_catalogue(path: Path = CATALOGUE_FILE) -> Catalogue:
    with path.open("rb") as file:
        raw = tomllib.load(file)
    return {group: {key: dict(texts) for key, texts in entries.items()} for group, entries in raw.items()}


CATALOGUE: Final = load_catalogue()


def accepted_ranges(header: str | None) -> list[tuple[str, float]]:
    """The language ranges of an `Accept-Language` header with their weights, most wanted first (ties keep the
    header's order). Malformed members are skipped, as a server may (RFC 9110 12.5.4)."""
    ranges: list[tuple[str, float, int]] = []
    for position, member in enumerate((header or "").split(",")):
        tag, *params = (part.strip() for part in member.split(";"))
        if not _RANGE.match(tag):
            continue
        weight = 1.0
        for param in params:
            matched = _WEIGHT.match(param)
            if matched is None:
                weight = -1.0  # a weight that is not one: the member is malformed
                break
            weight = float(matched.group(1))
        if weight >= 0:
            ranges.append((tag.lower(), weight, position))
    ranges.sort(key=lambda r: (-r[1], r[2]))
    return [(tag, weight) for tag, weight, _ in ranges]


def negotiate(header: str | None, supported: tuple[str, ...] = LANGUAGES) -> str:
    """The supported language the reader wants most: RFC 4647 lookup (`de-CH` falls back to `de`), `*` takes the
    first supported one not refused; q=0 refuses; English when nothing matches."""
    refused = {tag for tag, weight in accepted_ranges(header) if weight == 0}
    for tag, weight in accepted_ranges(header):
        if weight == 0:
            break
        if tag == "*":
            for language in supported:
                if language not in refused:
                    return language
            continue
        subtags = tag.split("-")
        while subtags:
            candidate = "-".join(subtags)
            if candidate in supported and candidate not in refused:
                return candidate
            subtags.pop()
    return DEFAULT


class Words:
    """The catalogue in one language, falling back to English key by key."""

    def __init__(self, language: str, catalogue: Catalogue = CATALOGUE) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unsupported language {language!r}: one of {', '.join(LANGUAGES)}")
        self.language = language
        self.catalogue = catalogue
        self.locale = Locale.parse(_LOCALES[language])

    def __call__(self, group: str, key: str, /, **params: object) -> str:
        texts = self.catalogue[group][key]
        text = texts.get(self.language) or texts[DEFAULT]
        return text.format(**params) if params else text

    def has(self, group: str, key: str) -> bool:
        return key in self.catalogue.get(group, {})

    def label(self, group: str, key: str) -> str:
        """The catalogue's label of `key`, or the key made readable (an OEM's extension field)."""
        if self.has(group, key):
            return self(group, key)
        return key.replace("_", " ").strip().capitalize()

    def date(self, value: object) -> str:
        """A calendar date (or the date of an instant) for people: `15 September 2025`, `15. September 2025`."""
        parsed = _parse_instant(value)
        if parsed is None:
            return str(value)
        day = parsed.astimezone(UTC).date() if isinstance(parsed, datetime) else parsed
        return format_date(day, "long", locale=self.locale)

    def instant(self, value: object) -> str:
        """An instant to the minute, in UTC: `4 March 2026, 10:15 UTC`; never microseconds."""
        parsed = _parse_instant(value)
        if not isinstance(parsed, datetime):
            return self.date(value)
        at = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        clock = format_time(at, "short", tzinfo=UTC, locale=self.locale)
        return f"{format_date(at.date(), 'long', locale=self.locale)}, {clock} UTC"

    def number(self, value: object) -> str:
        """A decimal in the language's notation (512,5 in German), none of its significant digits dropped."""
        return _number(str(value), self.language)

    def country(self, code: object) -> str:
        """An ISO 3166-1 alpha-2 code as the country's name, or the code when unknown."""
        return str(self.locale.territories.get(str(code).upper(), code))


def _parse_instant(value: object) -> date | datetime | None:
    if isinstance(value, datetime | date):
        return value
    text = str(value)
    try:
        return datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)
    except ValueError:
        return None


@lru_cache(maxsize=8192)  # a model's values recur on every passport of it; formatting them is a page's main cost
def _number(text: str, language: str) -> str:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    return format_decimal(number, locale=_LOCALES[language], decimal_quantization=False, group_separator=True)


@cache
def words(language: str) -> Words:
    return Words(language)
