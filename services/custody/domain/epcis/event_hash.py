"""CBV 2.0 EPCIS event hash: ``ni:///sha-256;<hex>?ver=CBV2.0``, the representation-independent event id.

The pre-hash string follows CBV 2.0 section 8.9 as implemented by the GS1 reference implementation
(RalphTro/epcis-event-hash-generator), whose test vectors this module reproduces exactly:

1. ``eventType=<type>``, then the standard fields in canonical order: eventTime, eventTimeZoneOffset,
   certificationInfo, parentID, epcList, inputEPCList, childEPCs, quantityList, childQuantityList,
   inputQuantityList, outputEPCList, outputQuantityList, action, transformationID, bizStep, disposition,
   persistentDisposition, readPoint, bizLocation, sensorElementList; each ``key=value``, structures as
   ``key`` followed by their children, no separators.
2. Then every other field, each rendered the same way and the fragments sorted as strings: the business
   transaction, source and destination lists (each entry ``type=...`` then its identifier), ``ilmd`` and
   user extensions. (Sorting is why ``destinationList`` precedes ``sourceList`` in the vectors.)
3. Excluded: ``eventID``, ``recordTime``, ``errorDeclaration`` (declaring an error keeps the hash),
   ``@context``, comments (``comment``, ``rdfs:comment``) and ``_`` annotation keys; JSON ``null``.
4. List members (EPCs, quantity elements, sensor elements and reports, list-valued extensions) and the
   fields inside an extension object are sorted, so key order and list order never change the hash.
   Extensions inside readPoint, bizLocation, sensorElement, sensorMetadata and sensorReport follow the
   standard fields of their parent. An extension key ending in ``List`` is written once, its members
   under the key without ``List`` (as the reference implementation's XML model does).
5. Values: timestamps (eventTime, time, startTime, endTime) in UTC at milliseconds with ``Z``; bare CBV
   terms and GS1 Web Vocabulary terms expanded to their URIs (``https://ref.gs1.org/cbv/BizStep-...``,
   ``Disp-``, ``BTT-``, ``SDT-``, ``Comp-``, ``https://gs1.org/voc/Temperature``); CBV 1.x URNs
   (``urn:epcglobal:cbv:bizstep:...``) to the same Web URIs; CURIEs expanded with the document's and the
   EPCIS context's prefixes; numbers without trailing zeros; GS1 keys as constrained canonical Digital
   Links (``services.custody.domain.epcis.identifiers``). Extension keys become ``{namespace}localName``.

Where the reference implementation is inconsistent we choose the consistent rule, and say so:
booleans are ``true``/``false`` (the JSON and XML lexical form; the Python prototype writes ``True``),
bare CBV terms are expanded only in the fields whose vocabulary they belong to, CURIE prefixes of the
EPCIS context itself (``gs1:``, ``cbv:``) are expanded as the algorithm requires, numeric strings of
more than 15 significant digits are kept verbatim (a binary double would corrupt them), and a timestamp
without offset is read as UTC. Contexts we do not ship are opaque: their prefixes stay unexpanded.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from services.custody.domain.epcis.identifiers import to_digital_link
from services.custody.domain.epcis.timestamps import canonical_utc_millis
from services.custody.domain.epcis.vocabulary import CBV_URN_PREFIXES, STANDARD_PREFIXES, VOCABULARIES, Vocabulary

HASH_VERSION: Final = "CBV2.0"

_EXCLUDED_EVENT_FIELDS: Final = frozenset({"type", "eventID", "recordTime", "errorDeclaration"})
_COMMENT_KEYS: Final = frozenset({"@context", "comment", "rdfs:comment"})
_DECIMAL: Final = re.compile(r"[+-]?(?:(?P<int>\d+)(?:\.(?P<frac>\d*))?|\.(?P<only_frac>\d+))(?:[eE][+-]?\d+)?")
_MAX_EXACT_DIGITS: Final = 15
"""Significant decimal digits that survive a round trip through an IEEE 754 double."""


def context_prefixes(context: object) -> dict[str, str]:
    """CURIE prefixes (and terms) an ``@context`` defines inline; remote context URIs are opaque.

    >>> context_prefixes(["https://ref.gs1.org/standards/epcis/epcis-context.jsonld", {"ex": "https://ex.com/"}])
    {'ex': 'https://ex.com/'}
    """
    entries = context if isinstance(context, list) else [context]
    prefixes: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        for key, value in entry.items():
            iri = value.get("@id") if isinstance(value, dict) else value
            if isinstance(iri, str) and not key.startswith("@"):
                prefixes[key] = iri
    return prefixes


def _format_float(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


def _canonical_number(text: str) -> str | None:
    """A decimal string without trailing zeros or leading ``+``, as a double prints it; None if not one."""
    match = _DECIMAL.fullmatch(text)
    if match is None:
        return None
    digits = (match["int"] or "") + (match["frac"] or match["only_frac"] or "")
    number = float(text)
    if len(digits.strip("0")) > _MAX_EXACT_DIGITS or not math.isfinite(number):
        return None
    return _format_float(number)


def _scalar_text(value: object) -> str | None:
    """The lexical form of a JSON scalar, stripped; None for null and for structures."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, str):
        return value.strip()
    return None


def _is_comment(key: str) -> bool:
    return key in _COMMENT_KEYS or key.startswith("_")


@dataclass(frozen=True)
class _Canonicaliser:
    """Key and value normalisation under one set of CURIE prefixes."""

    prefixes: Mapping[str, str]

    def _expand_curie(self, text: str) -> str | None:
        prefix, colon, local = text.partition(":")
        if colon and prefix in self.prefixes and not local.startswith("//"):
            return self.prefixes[prefix] + local
        return None

    def key(self, key: str) -> str:
        """``ex:field`` or ``https://ns.example.com/ex/field`` -> ``{https://ns.example.com/ex/}field``."""
        prefix, colon, local = key.partition(":")
        if colon and prefix in self.prefixes and not local.startswith("//"):
            return "{" + self.prefixes[prefix] + "}" + local
        if "://" in key:
            split = max(key.rfind("/"), key.rfind("#")) + 1
            if key.find("://") + 3 < split < len(key):
                return "{" + key[:split] + "}" + key[split:]
        return key

    def value(self, text: str, vocabulary: Vocabulary | None = None) -> str:
        if vocabulary is not None and text in VOCABULARIES[vocabulary]:
            return VOCABULARIES[vocabulary][text]
        for urn_prefix, web_prefix in CBV_URN_PREFIXES.items():
            if text.startswith(urn_prefix):
                return web_prefix + text[len(urn_prefix) :]
        text = self._expand_curie(text) or text
        number = _canonical_number(text)
        if number is not None:
            return number
        return to_digital_link(text) or text


_Render = Callable[[str, object, _Canonicaliser], str]
"""Renders one field (name, JSON value) to its pre-hash fragment; "" when it contributes nothing."""


def _members(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]


def _scalar(vocabulary: Vocabulary | None = None, *, timestamp: bool = False) -> _Render:
    def render(name: str, value: object, canon: _Canonicaliser) -> str:
        fragments = []
        for member in _members(value):
            text = _scalar_text(member)
            if not text:
                continue
            canonical = (canonical_utc_millis(text) or text) if timestamp else canon.value(text, vocabulary)
            fragments.append(f"{name}={canonical}")
        return "".join(sorted(fragments))

    return render


def _epc_list(name: str, value: object, canon: _Canonicaliser) -> str:
    members = _scalar()("epc", value, canon)
    return name + members if members else ""


def _nested(spec: Sequence[tuple[str, _Render]], label: str | None = None) -> _Render:
    """A structure: ``label`` (default: the field name), standard children in order, then extensions."""

    def render(name: str, value: object, canon: _Canonicaliser) -> str:
        fragments = sorted(_ordered(member, spec, canon, label or name) for member in _members(value))
        return "".join(fragment for fragment in fragments if fragment)

    return render


def _list_of(element: str, spec: Sequence[tuple[str, _Render]]) -> _Render:
    """``name`` once, then each member as ``element`` + its children, members sorted."""

    def render(name: str, value: object, canon: _Canonicaliser) -> str:
        members = _nested(spec, element)(element, value, canon)
        return name + members if members else ""

    return render


def _ordered(obj: object, spec: Sequence[tuple[str, _Render]], canon: _Canonicaliser, label: str) -> str:
    if not isinstance(obj, dict):
        return ""
    standard = "".join(render(key, obj[key], canon) for key, render in spec if key in obj)
    known = {key for key, _ in spec}
    extensions = sorted(
        fragment
        for key, item in obj.items()
        if key not in known and not _is_comment(key)
        for fragment in _extension(canon.key(key), item, canon)
    )
    body = standard + "".join(extensions)
    return label + body if body else ""


def _extension(name: str, value: object, canon: _Canonicaliser) -> list[str]:
    """Fragments of an extension (or ilmd) field; a list gives one fragment per member."""
    if value is None:
        return []
    if name.endswith("List") and len(name) > 4:
        members = sorted(f for member in _members(value) for f in _extension(name[:-4], member, canon))
        return [name + "".join(members)] if members else []
    if isinstance(value, list):
        return [fragment for member in value for fragment in _extension(name, member, canon)]
    if isinstance(value, dict):
        return [name + _extension_children(value, canon)]
    text = _scalar_text(value)
    return [f"{name}={canon.value(text)}" if text else name]


def _extension_children(obj: Mapping[str, object], canon: _Canonicaliser) -> str:
    fragments = (
        fragment
        for key, item in obj.items()
        if not _is_comment(key)
        for fragment in _extension(canon.key(key), item, canon)
    )
    return "".join(sorted(fragments))


def _typed_link(link: str, vocabulary: Vocabulary) -> _Render:
    """bizTransactionList / sourceList / destinationList: each entry ``type=...`` then its identifier."""
    spec = [("type", _scalar(vocabulary)), (link, _scalar())]
    return _list_of("", spec)


_QUANTITY: Final = _list_of("quantityElement", [("epcClass", _scalar()), ("quantity", _scalar()), ("uom", _scalar())])
_LOCATION: Final = _nested([("id", _scalar())])
_SENSOR_METADATA: Final = _nested(
    [
        ("time", _scalar(timestamp=True)),
        ("startTime", _scalar(timestamp=True)),
        ("endTime", _scalar(timestamp=True)),
        ("deviceID", _scalar()),
        ("deviceMetadata", _scalar()),
        ("rawData", _scalar()),
        ("dataProcessingMethod", _scalar()),
        ("bizRules", _scalar()),
    ]
)
_SENSOR_REPORT: Final = _nested(
    [
        ("type", _scalar(Vocabulary.MEASUREMENT_TYPE)),
        ("exception", _scalar(Vocabulary.SENSOR_ALERT)),
        ("deviceID", _scalar()),
        ("deviceMetadata", _scalar()),
        ("rawData", _scalar()),
        ("dataProcessingMethod", _scalar()),
        ("time", _scalar(timestamp=True)),
        ("microorganism", _scalar()),
        ("chemicalSubstance", _scalar()),
        ("value", _scalar()),
        ("component", _scalar(Vocabulary.COMPONENT)),
        ("stringValue", _scalar()),
        ("booleanValue", _scalar()),
        ("hexBinaryValue", _scalar()),
        ("uriValue", _scalar()),
        ("minValue", _scalar()),
        ("maxValue", _scalar()),
        ("meanValue", _scalar()),
        ("sDev", _scalar()),
        ("percRank", _scalar()),
        ("percValue", _scalar()),
        ("uom", _scalar()),
        ("coordinateReferenceSystem", _scalar()),
    ]
)

_CANONICAL_ORDER: Final[Sequence[tuple[str, _Render]]] = (
    ("eventTime", _scalar(timestamp=True)),
    ("eventTimeZoneOffset", _scalar()),
    ("certificationInfo", _scalar()),
    ("parentID", _scalar()),
    ("epcList", _epc_list),
    ("inputEPCList", _epc_list),
    ("childEPCs", _epc_list),
    ("quantityList", _QUANTITY),
    ("childQuantityList", _QUANTITY),
    ("inputQuantityList", _QUANTITY),
    ("outputEPCList", _epc_list),
    ("outputQuantityList", _QUANTITY),
    ("action", _scalar()),
    ("transformationID", _scalar()),
    ("bizStep", _scalar(Vocabulary.BIZ_STEP)),
    ("disposition", _scalar(Vocabulary.DISPOSITION)),
    (
        "persistentDisposition",
        _nested([("set", _scalar(Vocabulary.DISPOSITION)), ("unset", _scalar(Vocabulary.DISPOSITION))]),
    ),
    ("readPoint", _LOCATION),
    ("bizLocation", _LOCATION),
    (
        "sensorElementList",
        _list_of("sensorElement", [("sensorMetadata", _SENSOR_METADATA), ("sensorReport", _SENSOR_REPORT)]),
    ),
)
"""Standard fields in CBV 2.0 canonical order, each with its renderer."""

_SORTED_WITH_EXTENSIONS: Final[Mapping[str, _Render]] = {
    "bizTransactionList": _typed_link("bizTransaction", Vocabulary.BIZ_TRANSACTION_TYPE),
    "sourceList": _typed_link("source", Vocabulary.SOURCE_DESTINATION_TYPE),
    "destinationList": _typed_link("destination", Vocabulary.SOURCE_DESTINATION_TYPE),
}
"""Standard fields that the reference implementation sorts together with ilmd and user extensions."""


def prehash_string(event: Mapping[str, object], context: Mapping[str, str] | None = None) -> str:
    """The canonical CBV 2.0 pre-hash string of one EPCIS event.

    ``context`` maps CURIE prefixes to namespaces, as ``context_prefixes(document["@context"])`` gives;
    the EPCIS context's own prefixes and an ``@context`` inside the event are always applied.
    """
    canon = _Canonicaliser({**STANDARD_PREFIXES, **(context or {}), **context_prefixes(event.get("@context"))})
    standard = "".join(render(key, event[key], canon) for key, render in _CANONICAL_ORDER if key in event)
    ordered = {key for key, _ in _CANONICAL_ORDER}
    rest: list[str] = []
    for key, value in event.items():
        if key in ordered or key in _EXCLUDED_EVENT_FIELDS or _is_comment(key):
            continue
        if key in _SORTED_WITH_EXTENSIONS:
            rest.append(_SORTED_WITH_EXTENSIONS[key](key, value, canon))
        else:
            rest.extend(_extension(canon.key(key), value, canon))
    return f"eventType={event.get('type', '')}" + standard + "".join(sorted(fragment for fragment in rest if fragment))


def event_hash(event: Mapping[str, object], context: Mapping[str, str] | None = None) -> str:
    """``ni:///sha-256;<hex>?ver=CBV2.0`` of an EPCIS event (RFC 6920 named information)."""
    digest = hashlib.sha256(prehash_string(event, context).encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver={HASH_VERSION}"
