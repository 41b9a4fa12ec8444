"""GS1 keys in EPCIS: EPC URNs (TDS 2.0) and GS1 Digital Link URIs, normalised to one canonical form.

``to_digital_link`` returns the *constrained canonical* GS1 Digital Link URI that the CBV 2.0 event hash
requires (CBV 2.0 section 8.9, rules 17-18) and that the custody log uses as the identity of a thing,
place or party:

- EPC URIs (``urn:epc:id:...``), EPC class URIs (``urn:epc:class:lgtin:...``) and EPC pattern URIs
  (``urn:epc:idpat:...``) become ``https://id.gs1.org/<AI>/<key>[/<qualifier AI>/<value>]``;
- a Digital Link on any domain is moved to ``https://id.gs1.org``, its query string and fragment are
  dropped, short names (``gtin``, ``ser``, ...) become AIs, a GTIN is padded to 14 digits, and only the
  finest identification level is kept (CPV dropped; a lot is dropped when a serial is present).

Anything else (``urn:uuid:``, ``geo:``, ordinary web URLs, unsupported schemes such as ``gid``) gives
``None``: it is not a GS1 key and callers keep it verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

GS1_RESOLVER: Final = "https://id.gs1.org"

_URN_CHAR: Final = r"(?:%[0-9A-Fa-f]{2}|[-A-Za-z0-9!'()*+,.:;=_])"
"""One character of a GS1 AI encodable character set 82 value as written in an EPC URI."""

_DL_PERCENT_ENCODED: Final = {c: f"%{ord(c):02X}" for c in "!()*+,:"}
"""Characters legal in an EPC URI but percent-encoded in a GS1 Digital Link path segment."""

_SHORT_NAMES: Final = {
    "gtin": "01",
    "itip": "8006",
    "cpid": "8010",
    "gln": "414",
    "party": "417",
    "gsrnp": "8017",
    "gsrn": "8018",
    "gcn": "255",
    "sscc": "00",
    "gdti": "253",
    "ginc": "401",
    "gsin": "402",
    "grai": "8003",
    "giai": "8004",
    "cpv": "22",
    "lot": "10",
    "ser": "21",
}

_AI_VALUE: Final = r"(?:%[0-9A-Fa-f]{2}|[-!\"&'()*+,.0-9:;<=>?A-Z_a-z])"

_PRIMARY_KEYS: Final = {
    "00": re.compile(r"\d{18}"),
    "01": re.compile(r"\d{14}"),
    "253": re.compile(rf"\d{{13}}{_AI_VALUE}{{0,17}}"),
    "255": re.compile(r"\d{13}\d{0,12}"),
    "401": re.compile(rf"{_AI_VALUE}{{1,30}}"),
    "402": re.compile(r"\d{17}"),
    "414": re.compile(r"\d{13}"),
    "417": re.compile(r"\d{13}"),
    "8003": re.compile(rf"\d{{14}}{_AI_VALUE}{{0,16}}"),
    "8004": re.compile(rf"{_AI_VALUE}{{1,30}}"),
    "8006": re.compile(r"\d{18}"),
    "8010": re.compile(r"(?:%2[3Ff]|[-#/0-9A-Z]){1,30}"),
    "8017": re.compile(r"\d{18}"),
    "8018": re.compile(r"\d{18}"),
}
"""Primary-key AIs allowed in a constrained canonical Digital Link, with the syntax of their value."""

_QUALIFIERS: Final = {
    "01": ("21", "10", "235"),
    "8006": ("21", "10"),
    "414": ("254",),
    "8010": ("8011",),
}
"""Key qualifiers kept per primary key, finest first: only the first one present survives."""

_QUALIFIER_VALUES: Final = {
    "21": re.compile(rf"{_AI_VALUE}{{1,20}}"),
    "10": re.compile(rf"{_AI_VALUE}{{1,20}}"),
    "235": re.compile(rf"{_AI_VALUE}{{1,28}}"),
    "254": re.compile(rf"{_AI_VALUE}{{1,20}}"),
    "8011": re.compile(r"\d{1,12}"),
}


def gs1_check_digit(digits: str) -> str:
    """GS1 mod-10 check digit of a numeric key without its check digit (GTIN, GLN, SSCC, GDTI, ...)."""
    total = sum(int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(digits)))
    return str(-total % 10)


def _dl_segment(urn_component: str) -> str:
    return "".join(_DL_PERCENT_ENCODED.get(char, char) for char in urn_component)


def _with_check_digit(digits: str) -> str:
    return digits + gs1_check_digit(digits)


def _gtin(company_prefix: str, indicator_item_ref: str) -> str:
    return _with_check_digit(indicator_item_ref[:1] + company_prefix + indicator_item_ref[1:])


def _sgtin(cp: str, item: str, serial: str) -> str:
    return f"/01/{_gtin(cp, item)}/21/{_dl_segment(serial)}"


def _sscc(cp: str, serial_ref: str) -> str:
    return f"/00/{_with_check_digit(serial_ref[:1] + cp + serial_ref[1:])}"


def _sgln(cp: str, location_ref: str, extension: str) -> str:
    gln = _with_check_digit(cp + location_ref)
    return f"/414/{gln}" if extension == "0" else f"/414/{gln}/254/{_dl_segment(extension)}"


def _grai(cp: str, asset_type: str, serial: str = "") -> str:
    return f"/8003/{_with_check_digit('0' + cp + asset_type)}{_dl_segment(serial)}"


def _giai(cp: str, asset_ref: str) -> str:
    return f"/8004/{cp}{_dl_segment(asset_ref)}"


def _gsrn(cp: str, service_ref: str) -> str:
    return f"/8018/{_with_check_digit(cp + service_ref)}"


def _gsrnp(cp: str, service_ref: str) -> str:
    return f"/8017/{_with_check_digit(cp + service_ref)}"


def _gdti(cp: str, document_type: str, serial: str = "") -> str:
    return f"/253/{_with_check_digit(cp + document_type)}{_dl_segment(serial)}"


def _cpi(cp: str, component_ref: str, serial: str | None = None) -> str:
    cpid = f"/8010/{_dl_segment(cp + component_ref)}"
    return cpid if serial is None else f"{cpid}/8011/{serial}"


def _sgcn(cp: str, coupon_ref: str, serial: str = "") -> str:
    return f"/255/{_with_check_digit(cp + coupon_ref)}{serial}"


def _ginc(cp: str, consignment_ref: str) -> str:
    return f"/401/{cp}{_dl_segment(consignment_ref)}"


def _gsin(cp: str, shipper_ref: str) -> str:
    return f"/402/{_with_check_digit(cp + shipper_ref)}"


def _itip(cp: str, item: str, piece: str, total: str, serial: str | None = None) -> str:
    itip = f"/8006/{_gtin(cp, item)}{piece}{total}"
    return itip if serial is None else f"{itip}/21/{_dl_segment(serial)}"


def _upui(cp: str, item: str, tpx: str | None = None) -> str:
    gtin = f"/01/{_gtin(cp, item)}"
    return gtin if tpx is None else f"{gtin}/235/{_dl_segment(tpx)}"


def _pgln(cp: str, party_ref: str) -> str:
    return f"/417/{_with_check_digit(cp + party_ref)}"


def _lgtin(cp: str, item: str, lot: str) -> str:
    return f"/01/{_gtin(cp, item)}/10/{_dl_segment(lot)}"


def _gtin_class(cp: str, item: str) -> str:
    return f"/01/{_gtin(cp, item)}"


def _cp_and(total: int) -> str:
    """Company prefix (6-12 digits) and a numeric reference that together have ``total`` digits."""
    return "|".join(rf"(\d{{{n}}})\.(\d{{{total - n}}})" for n in range(6, 13))


def _cp_and_chars(max_total: int) -> str:
    """Company prefix and a character reference that together have at most ``max_total`` characters."""
    return "|".join(rf"(\d{{{n}}})\.({_URN_CHAR}{{1,{max_total - n}}})" for n in range(6, 13))


def _flatten(groups: tuple[str | None, ...]) -> list[str]:
    return [group for group in groups if group is not None]


_Builder = Callable[..., str]

_URN_FORMS: Final[list[tuple[re.Pattern[str], _Builder]]] = [
    (re.compile(rf"urn:epc:id:sgtin:(?:{_cp_and(13)})\.({_URN_CHAR}{{1,20}})"), _sgtin),
    (re.compile(rf"urn:epc:id:sscc:(?:{_cp_and(17)})"), _sscc),
    (re.compile(rf"urn:epc:id:sgln:(?:{_cp_and(12)})\.({_URN_CHAR}{{1,20}})"), _sgln),
    (re.compile(rf"urn:epc:id:grai:(?:{_cp_and(12)})\.({_URN_CHAR}{{1,16}})"), _grai),
    (re.compile(rf"urn:epc:id:giai:(?:{_cp_and_chars(30)})"), _giai),
    (re.compile(rf"urn:epc:id:gsrn:(?:{_cp_and(17)})"), _gsrn),
    (re.compile(rf"urn:epc:id:gsrnp:(?:{_cp_and(17)})"), _gsrnp),
    (re.compile(rf"urn:epc:id:gdti:(?:{_cp_and(12)})\.({_URN_CHAR}{{0,17}})"), _gdti),
    (re.compile(rf"urn:epc:id:cpi:(?:{_cp_and_chars(30)})\.(\d{{1,12}})"), _cpi),
    (re.compile(rf"urn:epc:id:sgcn:(?:{_cp_and(12)})\.(\d{{0,12}})"), _sgcn),
    (re.compile(rf"urn:epc:id:ginc:(?:{_cp_and_chars(30)})"), _ginc),
    (re.compile(rf"urn:epc:id:gsin:(?:{_cp_and(16)})"), _gsin),
    (re.compile(rf"urn:epc:id:itip:(?:{_cp_and(13)})\.(\d\d)\.(\d\d)\.({_URN_CHAR}{{1,20}})"), _itip),
    (re.compile(rf"urn:epc:id:upui:(?:{_cp_and(13)})\.({_URN_CHAR}{{1,28}})"), _upui),
    (re.compile(rf"urn:epc:id:pgln:(?:{_cp_and(12)})"), _pgln),
    (re.compile(rf"urn:epc:class:lgtin:(?:{_cp_and(13)})\.({_URN_CHAR}{{1,20}})"), _lgtin),
    (re.compile(rf"urn:epc:idpat:sgtin:(?:{_cp_and(13)})\.\*"), _gtin_class),
    (re.compile(rf"urn:epc:idpat:grai:(?:{_cp_and(12)})\.\*"), _grai),
    (re.compile(rf"urn:epc:idpat:gdti:(?:{_cp_and(12)})\.\*"), _gdti),
    (re.compile(rf"urn:epc:idpat:sgcn:(?:{_cp_and(12)})\.\*"), _sgcn),
    (re.compile(rf"urn:epc:idpat:cpi:(?:{_cp_and_chars(30)})\.\*"), _cpi),
    (re.compile(rf"urn:epc:idpat:itip:(?:{_cp_and(13)})\.(\d\d)\.(\d\d)\.\*"), _itip),
    (re.compile(rf"urn:epc:idpat:upui:(?:{_cp_and(13)})\.\*"), _upui),
]
"""EPC URI forms with a Digital Link equivalent; each regex captures the arguments of its builder."""


def _from_epc_urn(urn: str) -> str | None:
    for pattern, build in _URN_FORMS:
        match = pattern.fullmatch(urn)
        if match is not None:
            return GS1_RESOLVER + build(*_flatten(match.groups()))
    return None


_DL_PATH: Final = re.compile(r"https?://[^/?#]+(?P<path>/[^?#]*)(?:[?#].*)?", re.IGNORECASE)


def _key_pairs(path: str) -> list[tuple[str, str]] | None:
    """The (AI, value) pairs of a Digital Link path, from its primary key on; None when it has none."""
    segments = [_SHORT_NAMES.get(segment, segment) for segment in path.strip("/").split("/")]
    for start, segment in enumerate(segments[:-1]):
        if segment in _PRIMARY_KEYS and re.match(r"\d{4}", segments[start + 1]):
            tail = segments[start:]
            if len(tail) % 2:
                return None
            return list(zip(tail[::2], tail[1::2], strict=True))
    return None


def _pad_gtin(value: str) -> str:
    return value.zfill(14) if len(value) in (8, 12, 13) and value.isdigit() else value


def _canonical_digital_link(uri: str) -> str | None:
    match = _DL_PATH.fullmatch(uri)
    pairs = _key_pairs(match["path"]) if match else None
    if not pairs:
        return None
    (primary, key), qualifiers = pairs[0], dict(pairs[1:])
    if primary == "01":
        key = _pad_gtin(key)
    if not _PRIMARY_KEYS[primary].fullmatch(key):
        return None
    qualifiers.pop("22", None)
    allowed = _QUALIFIERS.get(primary, ())
    if any(ai not in allowed for ai in qualifiers):
        return None
    canonical = f"{GS1_RESOLVER}/{primary}/{key}"
    finest = next((ai for ai in allowed if ai in qualifiers), None)
    if finest is None:
        return canonical
    if not _QUALIFIER_VALUES[finest].fullmatch(qualifiers[finest]):
        return None
    return f"{canonical}/{finest}/{qualifiers[finest]}"


def to_digital_link(identifier: str) -> str | None:
    """The constrained canonical GS1 Digital Link URI of a GS1 key, or None if it is not one.

    >>> to_digital_link("urn:epc:id:sgtin:0614141.107346.2017")
    'https://id.gs1.org/01/10614141073464/21/2017'
    >>> to_digital_link("https://example.com/gtin/9521141012345/lot/A1/ser/7?17=290101")
    'https://id.gs1.org/01/09521141012345/21/7'
    """
    if identifier.startswith("urn:epc:"):
        return _from_epc_urn(identifier)
    if identifier[:4].lower() == "http":
        return _canonical_digital_link(identifier)
    return None
