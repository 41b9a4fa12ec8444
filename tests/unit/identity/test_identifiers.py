"""Passport ids, GTINs, GS1 Digital Link and platform URIs."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.errors import ValidationFailed
from contracts.passport_data import GS1_CHARSET_82
from services.identity.domain.identifiers import (
    DIGITAL_LINK_DUPLICATE_KEY,
    DIGITAL_LINK_MALFORMED,
    DIGITAL_LINK_SERIAL_MISSING,
    DIGITAL_LINK_UNSUPPORTED_KEY,
    GS1_CHARSET,
    GS1_LENGTH,
    GTIN_CHECK_DIGIT,
    GTIN_LENGTH,
    GTIN_NOT_DIGITS,
    PASSPORT_ID_FORMAT,
    PASSPORT_ID_VERSION,
    RESOLVER_BASE_INVALID,
    DigitalLinkParts,
    digital_link,
    format_passport_id,
    gtin_check_digit,
    new_passport_id,
    normalise_gtin,
    parse_digital_link,
    parse_passport_id,
    platform_uri,
    public_uri,
    validate_gtin,
)

pytestmark = pytest.mark.unit

pure = settings(database=None, max_examples=300, deadline=None)
BASE = "https://id.voltaris.example"
GTIN_14 = "09506000134352"


def _reasons(failed: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [violation.reason for violation in failed.value.violations]


# --- passport ids -------------------------------------------------------------------------------------------


def test_new_passport_id_is_a_lowercase_urn_of_a_uuid7() -> None:
    text = new_passport_id()
    assert text.startswith("urn:uuid:")
    assert text == text.lower()
    parsed = parse_passport_id(text)
    assert parsed.version == 7
    assert format_passport_id(parsed) == text


def test_new_passport_ids_are_unique_and_time_ordered() -> None:
    ids = [new_passport_id() for _ in range(200)]
    assert len(set(ids)) == 200
    assert [parse_passport_id(i).bytes[:6] for i in ids] == sorted(parse_passport_id(i).bytes[:6] for i in ids)


def test_parse_passport_id_accepts_urn_and_bare_form() -> None:
    text = new_passport_id()
    bare = text.removeprefix("urn:uuid:")
    assert parse_passport_id(bare) == parse_passport_id(text) == uuid.UUID(bare)
    assert parse_passport_id("URN:UUID:" + bare.upper()) == uuid.UUID(bare)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8", PASSPORT_ID_VERSION),  # v1
        (str(uuid.UUID(int=0x1234, version=4)), PASSPORT_ID_VERSION),
        ("urn:uuid:not-a-uuid", PASSPORT_ID_FORMAT),
        ("0192f1a1b2c37d4e8f90123456789abc", PASSPORT_ID_FORMAT),  # no hyphens
        ("{0192f1a1-b2c3-7d4e-8f90-123456789abc}", PASSPORT_ID_FORMAT),
        ("", PASSPORT_ID_FORMAT),
    ],
)
def test_parse_passport_id_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as failed:
        parse_passport_id(text, field="passports.3.passport_id")
    assert _reasons(failed) == [reason]
    assert failed.value.violations[0].field == "passports.3.passport_id"


def test_parse_passport_id_rejects_wrong_variant() -> None:
    with pytest.raises(ValidationFailed) as failed:
        parse_passport_id("0192f1a1-b2c3-7d4e-0f90-123456789abc")  # NCS variant
    assert _reasons(failed) == [PASSPORT_ID_VERSION]


# --- GTIN ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "gtin", ["4006381333931", "09506000134352", "96385074", "036000291452", "00012345600012", "5901234123457"]
)
def test_known_good_gtins(gtin: str) -> None:
    assert validate_gtin(gtin) == []
    assert gtin_check_digit(gtin[:-1]) == int(gtin[-1])
    assert normalise_gtin(gtin) == gtin.zfill(14)
    assert len(normalise_gtin(gtin)) == 14


def test_check_digit_message_names_both_digits() -> None:
    [violation] = validate_gtin("09506000134353", field="batteries.3.gtin")
    assert violation.field == "batteries.3.gtin"
    assert violation.reason == GTIN_CHECK_DIGIT
    assert violation.message == "GTIN 09506000134353 has check digit 3, expected 2."


@pytest.mark.parametrize(
    ("gtin", "reason"),
    [
        ("4006381333932", GTIN_CHECK_DIGIT),
        ("09506000134353", GTIN_CHECK_DIGIT),
        ("96385075", GTIN_CHECK_DIGIT),
        ("1234567", GTIN_LENGTH),
        ("12345678901", GTIN_LENGTH),
        ("123456789012345", GTIN_LENGTH),
        ("40063813339a1", GTIN_NOT_DIGITS),
        ("4006381 33931", GTIN_NOT_DIGITS),
        ("٤٠٠٦٣٨١٣٣٣٩٣١", GTIN_NOT_DIGITS),  # Arabic-Indic digits are digits, but not GTIN digits
        ("", GTIN_NOT_DIGITS),
    ],
)
def test_bad_gtins(gtin: str, reason: str) -> None:
    assert [v.reason for v in validate_gtin(gtin)] == [reason]
    with pytest.raises(ValidationFailed):
        normalise_gtin(gtin)


def test_check_digit_of_non_digits_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="ASCII digits"):
        gtin_check_digit("12a")


@st.composite
def gtins(draw: st.DrawFn) -> str:
    length = draw(st.sampled_from([8, 12, 13, 14]))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    return body + str(gtin_check_digit(body))


@pure
@given(gtins(), st.integers(min_value=1, max_value=9))
def test_any_gtin_with_its_check_digit_is_valid_and_any_other_digit_is_not(gtin: str, offset: int) -> None:
    assert validate_gtin(gtin) == []
    assert normalise_gtin(gtin).lstrip("0") == gtin.lstrip("0")
    wrong = gtin[:-1] + str((int(gtin[-1]) + offset) % 10)
    assert [v.reason for v in validate_gtin(wrong)] == [GTIN_CHECK_DIGIT]


@pure
@given(gtins(), st.integers(min_value=0, max_value=12), st.integers(min_value=1, max_value=9))
def test_a_single_digit_error_is_always_detected(gtin: str, position: int, offset: int) -> None:
    position %= len(gtin) - 1
    digits = list(gtin)
    digits[position] = str((int(digits[position]) + offset) % 10)
    assert validate_gtin("".join(digits)) != []


# --- GS1 Digital Link ---------------------------------------------------------------------------------------


def test_digital_link_without_batch() -> None:
    assert digital_link(BASE, GTIN_14, "VX-000001") == f"{BASE}/01/{GTIN_14}/21/VX-000001"


def test_digital_link_puts_batch_before_serial_and_pads_the_gtin() -> None:
    assert (
        digital_link(BASE + "/", "4006381333931", "VX-000001", "L2026-03")
        == f"{BASE}/01/04006381333931/10/L2026-03/21/VX-000001"
    )


def test_digital_link_percent_encodes_everything_but_unreserved_characters() -> None:
    link = digital_link(BASE, GTIN_14, 'A/B%C&D?E"_.-', "L!*'()")
    assert link == f"{BASE}/01/{GTIN_14}/10/L%21%2A%27%28%29/21/A%2FB%25C%26D%3FE%22_.-"


def test_digital_link_keeps_a_resolver_path_prefix_and_lowercases_the_host() -> None:
    link = digital_link("HTTPS://ID.Voltaris.example/dl/", GTIN_14, "S1")
    assert link == f"https://id.voltaris.example/dl/01/{GTIN_14}/21/S1"
    assert parse_digital_link(link) == DigitalLinkParts("https://id.voltaris.example/dl", GTIN_14, "S1", None)


def test_digital_link_reports_every_problem() -> None:
    with pytest.raises(ValidationFailed) as failed:
        digital_link("ftp://resolver", "09506000134353", "x" * 21, "bad batch")
    assert {(v.field, v.reason) for v in failed.value.violations} == {
        ("gtin", GTIN_CHECK_DIGIT),
        ("serial", GS1_LENGTH),
        ("batch", GS1_CHARSET),
        ("resolver_base", RESOLVER_BASE_INVALID),
    }


@pytest.mark.parametrize(
    "base",
    ["id.example.com", "https://", "https://user@id.example.com", "https://id.example.com/?q=1",
     "https://id.example.com/#x", "https://id.example.com/01", "https://id.example.com/a b"],
)  # fmt: skip
def test_bad_resolver_bases(base: str) -> None:
    with pytest.raises(ValidationFailed) as failed:
        digital_link(base, GTIN_14, "S1")
    assert _reasons(failed) == [RESOLVER_BASE_INVALID]


def test_parse_accepts_qualifiers_in_either_order_and_a_short_gtin() -> None:
    parsed = parse_digital_link(f"{BASE}/01/4006381333931/21/S%2F1/10/L1?linkType=all#x")
    assert parsed == DigitalLinkParts(BASE, "04006381333931", "S/1", "L1")


@pytest.mark.parametrize(
    ("uri", "reasons"),
    [
        (f"{BASE}/01/09506000134353/21/S1", [GTIN_CHECK_DIGIT]),
        (f"{BASE}/01/{GTIN_14}", [DIGITAL_LINK_SERIAL_MISSING]),
        (f"{BASE}/01/{GTIN_14}/10/L1", [DIGITAL_LINK_SERIAL_MISSING]),
        (f"{BASE}/01/{GTIN_14}/21", [DIGITAL_LINK_MALFORMED, DIGITAL_LINK_SERIAL_MISSING]),
        (f"{BASE}/01/{GTIN_14}/22/ABC/21/S1", [DIGITAL_LINK_UNSUPPORTED_KEY]),
        (f"{BASE}/01/{GTIN_14}/21/S1/21/S2", [DIGITAL_LINK_DUPLICATE_KEY]),
        (f"{BASE}/01/{GTIN_14}/21/S%C3%A9", [GS1_CHARSET]),
        (f"{BASE}/01/{GTIN_14}/21/S%FF", [GS1_CHARSET]),
        (f"{BASE}/01/{GTIN_14}/21/{'9' * 21}", [GS1_LENGTH]),
        (f"{BASE}/gtin/{GTIN_14}/ser/S1", [DIGITAL_LINK_MALFORMED]),
        (f"{BASE}/p/0192f1a1-b2c3-7d4e-8f90-123456789abc", [DIGITAL_LINK_MALFORMED]),
        (f"mailto:x/01/{GTIN_14}/21/S1", [DIGITAL_LINK_MALFORMED]),
    ],
)
def test_parse_rejects(uri: str, reasons: list[str]) -> None:
    with pytest.raises(ValidationFailed) as failed:
        parse_digital_link(uri)
    assert _reasons(failed) == reasons


gs1_values = st.text(alphabet=sorted(GS1_CHARSET_82), min_size=1, max_size=20)
resolver_bases = st.sampled_from([BASE, "http://localhost:8080", "https://resolver.example.org/gs1/dl"])


@pure
@given(resolver_bases, gtins(), gs1_values, st.none() | gs1_values)
def test_parse_of_build_round_trips(base: str, gtin: str, serial: str, batch: str | None) -> None:
    link = digital_link(base, gtin, serial, batch)
    assert parse_digital_link(link) == DigitalLinkParts(base, normalise_gtin(gtin), serial, batch)
    path = link.removeprefix(base)
    assert all(char.isalnum() or char in "/-._~%" for char in path)
    assert path.index("/10/") < path.index("/21/") if batch is not None else "/10/" not in path


# --- platform and public URIs -------------------------------------------------------------------------------


def test_platform_uri_has_the_bare_uuid() -> None:
    passport_id = new_passport_id()
    bare = passport_id.removeprefix("urn:uuid:")
    assert platform_uri(BASE + "/", passport_id) == f"{BASE}/p/{bare}"
    assert platform_uri(BASE, uuid.UUID(bare)) == f"{BASE}/p/{bare}"


def test_platform_uri_rejects_a_non_passport_id() -> None:
    with pytest.raises(ValidationFailed):
        platform_uri(BASE, str(uuid.uuid4()))


def test_public_uri_prefers_the_digital_link_when_a_gtin_is_given() -> None:
    passport_id = new_passport_id()
    assert public_uri(BASE, passport_id, GTIN_14, "S1", "L1") == f"{BASE}/01/{GTIN_14}/10/L1/21/S1"
    assert public_uri(BASE, passport_id, None, "S1", "L1") == platform_uri(BASE, passport_id)
