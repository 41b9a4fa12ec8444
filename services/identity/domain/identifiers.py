"""Identifiers of the identity service: passport ids, GTINs, GS1 Digital Link and platform URIs. No I/O.

- Passport id: UUIDv7, written `urn:uuid:<lowercase uuid>`.
- GTIN: GTIN-8/12/13/14, GS1 mod-10 check digit; normalised to 14 digits.
- Public URI: a GS1 Digital Link URI when the OEM gives a GTIN,
  `<resolver>/01/<GTIN-14>[/10/<batch>]/21/<serial>` (qualifiers in the order the GS1 Digital Link URI
  syntax prescribes: 22, 10, 21), else `<resolver>/p/<uuid>`. The QR code encodes that URI.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import uuid_utils

from contracts.errors import ValidationFailed, Violation
from contracts.passport_data import GS1_CHARSET_82, PassportSubject

PASSPORT_ID_FORMAT = "passport_id_format"
PASSPORT_ID_VERSION = "passport_id_version"
GTIN_NOT_DIGITS = "gtin_not_digits"
GTIN_LENGTH = "gtin_length"
GTIN_CHECK_DIGIT = "gtin_check_digit"
GS1_CHARSET = "gs1_charset"
GS1_LENGTH = "gs1_length"
RESOLVER_BASE_INVALID = "resolver_base_invalid"
DIGITAL_LINK_MALFORMED = "digital_link_malformed"
DIGITAL_LINK_UNSUPPORTED_KEY = "digital_link_unsupported_key"
DIGITAL_LINK_DUPLICATE_KEY = "digital_link_duplicate_key"
DIGITAL_LINK_SERIAL_MISSING = "digital_link_serial_missing"

URN_UUID_PREFIX = "urn:uuid:"
GTIN_LENGTHS = (8, 12, 13, 14)
AI_GTIN = "01"
AI_BATCH = "10"
AI_SERIAL = "21"
GS1_AI_VALUE_MAX_LENGTH = 20  # AI 10 and AI 21 are both X..20

_CANONICAL_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ASCII_DIGITS = re.compile(r"^[0-9]+$")
_UNRESERVED = re.compile(r"^[A-Za-z0-9._~-]*$")
_BASE_PATH = re.compile(r"^(/[A-Za-z0-9._~-]+)*/?$")


# --- passport ids -------------------------------------------------------------------------------------------


def new_passport_id() -> str:
    """A fresh passport id: a time-ordered UUIDv7 as `urn:uuid:…`."""
    return f"{URN_UUID_PREFIX}{str(uuid_utils.uuid7()).lower()}"


def format_passport_id(passport_id: uuid.UUID) -> str:
    return f"{URN_UUID_PREFIX}{passport_id}"


def parse_passport_id(text: str, *, field: str = "passport_id") -> uuid.UUID:
    """A passport id from `urn:uuid:<uuid>` or a bare canonical UUID; only UUIDv7 is a passport id."""
    bare = text[len(URN_UUID_PREFIX) :] if text[: len(URN_UUID_PREFIX)].lower() == URN_UUID_PREFIX else text
    if not _CANONICAL_UUID.match(bare):
        raise ValidationFailed(
            [
                Violation(
                    field=field,
                    reason=PASSPORT_ID_FORMAT,
                    message=f"{_shorten(text)!r} is not a passport id; write it as "
                    "urn:uuid:xxxxxxxx-xxxx-7xxx-xxxx-xxxxxxxxxxxx.",
                )
            ]
        )
    parsed = uuid.UUID(bare)
    if parsed.variant != uuid.RFC_4122 or parsed.version != 7:
        raise ValidationFailed(
            [
                Violation(
                    field=field,
                    reason=PASSPORT_ID_VERSION,
                    message=f"{text} is a UUID of version {parsed.version}, but passport ids are UUIDv7; "
                    "use the id the platform returned when minting.",
                )
            ]
        )
    return parsed


# --- GTIN ---------------------------------------------------------------------------------------------------


def gtin_check_digit(body: str) -> int:
    """GS1 mod-10 check digit of a GTIN without its last digit (weights 3,1,3,… from the right)."""
    if not _ASCII_DIGITS.match(body):
        raise ValueError(f"GTIN body must be ASCII digits, got {body!r}")
    total = sum(int(digit) * (3 if position % 2 == 0 else 1) for position, digit in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def validate_gtin(gtin: str, *, field: str = "gtin") -> list[Violation]:
    """Violations of a GTIN-8/12/13/14: digits only, one of the four lengths, right check digit."""
    problem = _gtin_problem(gtin)
    return [] if problem is None else [Violation(field=field, reason=problem[0], message=problem[1])]


@functools.lru_cache(maxsize=4096)
def _gtin_problem(gtin: str) -> tuple[str, str] | None:
    """(reason, message) of what is wrong with a GTIN, or None; cached: a bulk repeats one GTIN 100,000 times."""
    if not _ASCII_DIGITS.match(gtin):
        return GTIN_NOT_DIGITS, f"GTIN {_shorten(gtin)!r} must consist of the digits 0-9 only."
    if len(gtin) not in GTIN_LENGTHS:
        return GTIN_LENGTH, f"GTIN {_shorten(gtin)} has {len(gtin)} digits; give a GTIN-8, -12, -13 or -14."
    expected = gtin_check_digit(gtin[:-1])
    if int(gtin[-1]) != expected:
        return GTIN_CHECK_DIGIT, f"GTIN {gtin} has check digit {gtin[-1]}, expected {expected}."
    return None


def normalise_gtin(gtin: str, *, field: str = "gtin") -> str:
    """The GTIN as 14 digits (left-padded with zeros); ValidationFailed if it is not a valid GTIN."""
    violations = validate_gtin(gtin, field=field)
    if violations:
        raise ValidationFailed(violations)
    return gtin.zfill(14)


# --- GS1 Digital Link ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigitalLinkParts:
    """What a GS1 Digital Link URI of ours carries."""

    resolver_base: str
    gtin: str
    serial: str
    batch: str | None = None


def validate_gs1_value(value: str, *, field: str, what: str) -> list[Violation]:
    """Violations of an AI 10 / AI 21 value: 1..20 characters of the GS1 82-character set."""
    violations: list[Violation] = []
    if not 1 <= len(value) <= GS1_AI_VALUE_MAX_LENGTH:
        violations.append(
            Violation(
                field=field,
                reason=GS1_LENGTH,
                message=f"The {what} has {len(value)} characters; GS1 allows 1 to {GS1_AI_VALUE_MAX_LENGTH}.",
            )
        )
    bad = sorted(set(value) - GS1_CHARSET_82)
    if bad:
        violations.append(
            Violation(
                field=field,
                reason=GS1_CHARSET,
                message=f"The {what} contains {''.join(bad)!r}, outside the GS1 82-character set "
                "(letters, digits and !\"%&'()*+,-./:;<=>?_); remove or replace them.",
            )
        )
    return violations


def normalise_resolver_base(resolver_base: str, *, field: str = "resolver_base") -> str:
    """`scheme://host[:port][/path]` without a trailing slash, scheme and host lower-cased."""
    parts = urlsplit(resolver_base)
    host_ok = bool(parts.netloc) and "@" not in parts.netloc
    path_ok = bool(_BASE_PATH.match(parts.path)) and AI_GTIN not in parts.path.split("/")
    if parts.scheme.lower() not in ("http", "https") or not host_ok or not path_ok or parts.query or parts.fragment:
        raise ValidationFailed(
            [
                Violation(
                    field=field,
                    reason=RESOLVER_BASE_INVALID,
                    message=f"Resolver base {_shorten(resolver_base)!r} must be an http(s) URL with a host, "
                    "an optional plain path (no `01` segment) and no query or fragment, "
                    "e.g. https://id.example.com.",
                )
            ]
        )
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def _encode(value: str) -> str:
    # GS1 Digital Link: percent-encode everything but RFC 3986 unreserved characters.
    return value if _UNRESERVED.match(value) else quote(value, safe="")


def digital_link(resolver_base: str, gtin: str, serial: str, batch: str | None = None) -> str:
    """GS1 Digital Link `<resolver>/01/<GTIN-14>[/10/<batch>]/21/<serial>`; ValidationFailed if invalid."""
    violations = validate_gtin(gtin)
    violations += validate_gs1_value(serial, field="serial", what="serial")
    if batch is not None:
        violations += validate_gs1_value(batch, field="batch", what="batch number")
    try:
        base = normalise_resolver_base(resolver_base)
    except ValidationFailed as failed:
        violations += failed.violations
    if violations:
        raise ValidationFailed(violations)
    link = f"{base}/{AI_GTIN}/{gtin.zfill(14)}"
    if batch is not None:
        link += f"/{AI_BATCH}/{_encode(batch)}"
    return f"{link}/{AI_SERIAL}/{_encode(serial)}"


def parse_digital_link(uri: str, *, field: str = "uri") -> DigitalLinkParts:
    """Parts of a GS1 Digital Link URI with AIs 01, 21 and optionally 10 (in either order).

    Only numeric AI path keys are accepted (not `/gtin/`); query and fragment are ignored. Every problem
    found is reported in one ValidationFailed.
    """
    parts = urlsplit(uri)
    segments = parts.path.split("/")
    if segments and segments[-1] == "":
        segments.pop()  # tolerate one trailing slash
    start = next(
        (i for i, segment in enumerate(segments[:-1]) if segment == AI_GTIN and _ASCII_DIGITS.match(segments[i + 1])),
        None,
    )
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or start is None:
        raise ValidationFailed(
            [
                Violation(
                    field=field,
                    reason=DIGITAL_LINK_MALFORMED,
                    message=f"{_shorten(uri)!r} is not a GS1 Digital Link URI; expected "
                    "https://<resolver>/01/<GTIN>/21/<serial>.",
                )
            ]
        )
    violations: list[Violation] = []
    try:
        base = normalise_resolver_base(f"{parts.scheme}://{parts.netloc}{'/'.join(segments[:start])}", field=field)
    except ValidationFailed as failed:
        violations += failed.violations
        base = ""
    gtin = segments[start + 1]
    violations += validate_gtin(gtin, field=f"{field}.gtin")
    values: dict[str, str] = {}
    qualifiers = segments[start + 2 :]
    if len(qualifiers) % 2:
        violations.append(
            Violation(
                field=field,
                reason=DIGITAL_LINK_MALFORMED,
                message=f"The path of {_shorten(uri)!r} ends in a key without a value; give key/value pairs.",
            )
        )
    for key, raw in zip(qualifiers[::2], qualifiers[1::2], strict=False):
        if key not in (AI_BATCH, AI_SERIAL):
            violations.append(
                Violation(
                    field=field,
                    reason=DIGITAL_LINK_UNSUPPORTED_KEY,
                    message=f"Key {_shorten(key)!r} is not supported here; use 10 (batch) and 21 (serial).",
                )
            )
            continue
        if key in values:
            violations.append(
                Violation(
                    field=field,
                    reason=DIGITAL_LINK_DUPLICATE_KEY,
                    message=f"Key {key} appears twice; give it once.",
                )
            )
            continue
        name = "serial" if key == AI_SERIAL else "batch"
        try:
            value = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            violations.append(
                Violation(
                    field=f"{field}.{name}",
                    reason=GS1_CHARSET,
                    message=f"The {name} {_shorten(raw)!r} percent-encodes bytes that are not UTF-8.",
                )
            )
            continue
        values[key] = value
        violations += validate_gs1_value(value, field=f"{field}.{name}", what=name)
    if AI_SERIAL not in values and not any(v.field == f"{field}.serial" for v in violations):
        violations.append(
            Violation(
                field=field,
                reason=DIGITAL_LINK_SERIAL_MISSING,
                message="The URI carries no serial (key 21); a passport link must identify one battery.",
            )
        )
    if violations:
        raise ValidationFailed(violations)
    return DigitalLinkParts(
        resolver_base=base, gtin=gtin.zfill(14), serial=values[AI_SERIAL], batch=values.get(AI_BATCH)
    )


# --- platform URIs ------------------------------------------------------------------------------------------


def platform_uri(resolver_base: str, passport_id: uuid.UUID | str) -> str:
    """`<resolver>/p/<uuid>` (bare UUID in the path), the public URI when the OEM gives no GTIN."""
    parsed = passport_id if isinstance(passport_id, uuid.UUID) else parse_passport_id(passport_id)
    return f"{normalise_resolver_base(resolver_base)}/p/{parsed}"


def public_uri(
    resolver_base: str, passport_id: uuid.UUID | str, gtin: str | None, serial: str, batch: str | None = None
) -> str:
    """The URI the QR code carries: GS1 Digital Link when a GTIN is given, else the platform URI."""
    if gtin is not None:
        return digital_link(resolver_base, gtin, serial, batch)
    return platform_uri(resolver_base, passport_id)


def checked_public_uri(normalised_base: str, passport_id: str, subject: PassportSubject) -> str:
    """`public_uri` for a subject that passed `rules.validate_subject`, with a base from
    `normalise_resolver_base`: the same URI, without checking everything again (bulk minting)."""
    if subject.gtin is None:
        return f"{normalised_base}/p/{passport_id[len(URN_UUID_PREFIX) :]}"
    link = f"{normalised_base}/{AI_GTIN}/{subject.gtin.zfill(14)}"
    if subject.batch_number is not None:
        link += f"/{AI_BATCH}/{_encode(subject.batch_number)}"
    return f"{link}/{AI_SERIAL}/{_encode(subject.battery_identifier)}"


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
