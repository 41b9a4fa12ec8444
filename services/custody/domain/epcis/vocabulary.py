"""CBV 2.0 standard vocabularies and JSON-LD prefixes, read once from the shipped GS1 EPCIS 2.0 context.

The context (``data/epcis-context-2.0.0.jsonld``, see ``data/PROVENANCE.md``) lists every bare term a JSON
EPCIS document may use in place of a CBV Web URI, scoped per field. Deriving the lists from it keeps one
source of truth: replacing the file with a newer official copy updates validation and hashing together.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Final

EPCIS_CONTEXT_URIS: Final = frozenset(
    {
        "https://ref.gs1.org/standards/epcis/epcis-context.jsonld",
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        "https://gs1.github.io/EPCIS/epcis-context.jsonld",
    }
)
"""The forms of the EPCIS 2.0 context URI a document may reference (current, versioned, pre-release)."""

CBV_URN_PREFIXES: Final = MappingProxyType(
    {
        "urn:epcglobal:cbv:bizstep:": "https://ref.gs1.org/cbv/BizStep-",
        "urn:epcglobal:cbv:disp:": "https://ref.gs1.org/cbv/Disp-",
        "urn:epcglobal:cbv:btt:": "https://ref.gs1.org/cbv/BTT-",
        "urn:epcglobal:cbv:sdt:": "https://ref.gs1.org/cbv/SDT-",
        "urn:epcglobal:cbv:er:": "https://ref.gs1.org/cbv/ER-",
    }
)
"""CBV 1.x URN prefixes and the CBV 2.0 Web URI prefix each one maps to."""


class Vocabulary(StrEnum):
    """A CBV / GS1 vocabulary whose terms JSON documents may write as bare strings."""

    BIZ_STEP = "bizStep"
    DISPOSITION = "disposition"
    BIZ_TRANSACTION_TYPE = "bizTransactionType"
    SOURCE_DESTINATION_TYPE = "sourceDestinationType"
    ERROR_REASON = "errorReason"
    MEASUREMENT_TYPE = "measurementType"
    SENSOR_ALERT = "sensorAlert"
    COMPONENT = "component"


_CONTEXT_FILE: Final = "epcis-context-2.0.0.jsonld"


def _load_context() -> dict[str, object]:
    text = resources.files(__package__).joinpath("data", _CONTEXT_FILE).read_text(encoding="utf-8")
    document = json.loads(text)
    context = document["@context"]
    if not isinstance(context, dict):
        raise TypeError(f"{_CONTEXT_FILE}: @context is not an object")
    return context


def _child(node: object, *keys: str) -> dict[str, object]:
    """Walk nested objects of the context; a scoped context given as a list is merged in order."""
    current = node
    for key in keys:
        if isinstance(current, list):
            merged: dict[str, object] = {}
            for part in current:
                if isinstance(part, dict):
                    merged.update(part)
            current = merged
        if not isinstance(current, dict) or key not in current:
            raise KeyError(f"{_CONTEXT_FILE}: no {'.'.join(keys)}")
        current = current[key]
    if isinstance(current, list):
        return _child(current)
    if not isinstance(current, dict):
        raise TypeError(f"{_CONTEXT_FILE}: {'.'.join(keys)} is not an object")
    return current


def _prefixes(context: Mapping[str, object]) -> dict[str, str]:
    return {
        key: value
        for key, value in context.items()
        if isinstance(value, str) and not key.startswith("@") and value.endswith(("/", ":", "#"))
    }


def _expand_curie(curie: str, prefixes: Mapping[str, str]) -> str:
    prefix, _, local = curie.partition(":")
    return prefixes[prefix] + local if prefix in prefixes else curie


def _terms(scoped: Mapping[str, object], prefixes: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(
        {
            term: _expand_curie(curie, prefixes)
            for term, curie in scoped.items()
            if isinstance(curie, str) and not term.startswith("@") and curie not in ("@id", "@type") and ":" in curie
        }
    )


def _build() -> tuple[Mapping[str, str], Mapping[Vocabulary, Mapping[str, str]]]:
    context = _load_context()
    prefixes = _prefixes(context)
    scoped: dict[Vocabulary, dict[str, object]] = {
        Vocabulary.BIZ_STEP: _child(context, "bizStep", "@context"),
        Vocabulary.DISPOSITION: _child(context, "disposition", "@context"),
        Vocabulary.BIZ_TRANSACTION_TYPE: _child(context, "bizTransactionList", "@context", "type", "@context"),
        Vocabulary.SOURCE_DESTINATION_TYPE: _child(context, "sourceList", "@context", "type", "@context"),
        Vocabulary.ERROR_REASON: _child(context, "errorDeclaration", "@context", "reason", "@context"),
        Vocabulary.MEASUREMENT_TYPE: _child(
            context, "sensorElementList", "@context", "sensorReport", "@context", "type", "@context"
        ),
        Vocabulary.SENSOR_ALERT: _child(
            context, "sensorElementList", "@context", "sensorReport", "@context", "exception", "@context"
        ),
        Vocabulary.COMPONENT: _child(
            context, "sensorElementList", "@context", "sensorReport", "@context", "component", "@context"
        ),
    }
    vocabularies = {name: _terms(terms, prefixes) for name, terms in scoped.items()}
    return MappingProxyType(prefixes), MappingProxyType(vocabularies)


STANDARD_PREFIXES, VOCABULARIES = _build()
"""``STANDARD_PREFIXES``: CURIE prefix -> namespace IRI defined by the EPCIS context (cbv, epcis, gs1, ...).
``VOCABULARIES``: vocabulary -> bare term -> full Web URI, e.g. ``BIZ_STEP["shipping"]``."""


def is_standard_term(vocabulary: Vocabulary, value: str) -> bool:
    return value in VOCABULARIES[vocabulary]


def bare_term(vocabulary: Vocabulary, value: str) -> str | None:
    """The bare term a value stands for, whether written bare, as CBV URN, Web URI or ``cbv:`` CURIE."""
    terms = VOCABULARIES[vocabulary]
    if value in terms:
        return value
    for urn_prefix, web_prefix in CBV_URN_PREFIXES.items():
        if value.startswith(urn_prefix):
            value = web_prefix + value[len(urn_prefix) :]
            break
    value = _expand_curie(value, STANDARD_PREFIXES) if not value.startswith("http") else value
    for term, uri in terms.items():
        if uri == value:
            return term
    return None
