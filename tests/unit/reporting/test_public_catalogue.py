"""The public page's one catalogue of words (services/reporting/i18n/catalogue.toml): every key in every language the
page speaks, the same placeholders in each, and a label for everything the page can show."""

from __future__ import annotations

import string
import typing
from pathlib import Path

import pydantic
import pytest

from contracts.attributes import ATTRIBUTES, AccessTier, BatteryCategory, by_key
from contracts.passport_data import BatteryKind, StaticPassportData, field_tier, longlist_key_of
from services.reporting.i18n import CATALOGUE, LANGUAGES, Words, load_catalogue

pytestmark = pytest.mark.unit


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_has_every_language_with_the_same_placeholders() -> None:
    assert LANGUAGES[0] == "en"  # the fallback
    missing, unequal = [], []
    for group, entries in CATALOGUE.items():
        for key, texts in entries.items():
            for language in LANGUAGES:
                if not (texts.get(language) or "").strip():
                    missing.append(f"{group}.{key}: {language}")
            if len({frozenset(placeholders(text)) for text in texts.values()}) > 1:
                unequal.append(f"{group}.{key}")
            assert set(texts) <= set(LANGUAGES), f"{group}.{key} has a language the page does not speak"
    assert not missing, f"untranslated: {missing}"
    assert not unequal, f"placeholders differ between languages: {unequal}"


def test_a_missing_translation_falls_back_to_english(tmp_path: Path) -> None:
    broken = tmp_path / "catalogue.toml"
    broken.write_text('[field]\nweight_kg = { en = "Weight", de = "Gewicht" }\n', encoding="utf-8")
    catalogue = load_catalogue(broken)
    assert "fr" not in catalogue["field"]["weight_kg"]
    # What a reader then sees: the English label, not an error; and the language it has where it has it.
    assert Words("fr", catalogue)("field", "weight_kg") == "Weight"
    assert Words("de", catalogue)("field", "weight_kg") == "Gewicht"


def _models(annotation: object) -> set[type[pydantic.BaseModel]]:
    found: set[type[pydantic.BaseModel]] = set()
    for argument in typing.get_args(annotation):
        found |= _models(argument)
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        found.add(annotation)
        for field in annotation.model_fields.values():
            found |= _models(field.annotation)
    return found


def test_everything_the_page_can_show_has_a_label() -> None:
    fields = CATALOGUE["field"]
    assert set(StaticPassportData.model_fields) <= set(fields), "every Annex XIII field, public or restricted"
    # The keys inside public fields' values (restricted fields are only named on the page, never shown).
    public_nested = {
        key
        for name, field in StaticPassportData.model_fields.items()
        if field_tier(name) is AccessTier.public
        for model in _models(field.annotation)
        for key in model.model_fields
    }
    assert public_nested <= set(CATALOGUE["part"]), public_nested - set(CATALOGUE["part"])
    categories = {attribute.category for attribute in ATTRIBUTES}
    used = {by_key(longlist_key_of(name)).category for name in StaticPassportData.model_fields}
    assert used <= set(CATALOGUE["section"]) <= categories | {"identification", "extensions", "restricted"}
    assert {c.value for c in BatteryCategory} <= set(CATALOGUE["battery_category"])
    assert {c.value for c in BatteryCategory} <= set(CATALOGUE["return"])
    assert {k.value for k in BatteryKind} <= set(CATALOGUE["kind"])
    assert {t.value for t in AccessTier if t is not AccessTier.public} <= set(CATALOGUE["tier"])


def test_the_languages_differ_where_they_should() -> None:
    """A label copied from English into another language is a missed translation, except names that are the same."""
    same = {
        (group, key, language)
        for group, entries in CATALOGUE.items()
        for key, texts in entries.items()
        for language in LANGUAGES[1:]
        if texts[language] == texts["en"]
    }
    allowed = {
        ("part", "name", "de"),  # Name
        ("part", "web_address", "de"),  # Website
        ("part", "concentration_pct", "fr"),  # Concentration (%)
        ("section", "identification", "fr"),  # Identification
        ("ui", "status", "de"),  # Status
    }
    assert same <= allowed, same - allowed
