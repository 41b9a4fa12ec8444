"""EPCIS JSON documents written in the XML binding (EPCIS 2.0, or 1.2 with its extension wrappers), so that tests
capture the same events in both bindings. The writer follows the binding's element names; the reader under test
(services/custody/domain/epcis/xml.py) is not used here."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Final

from lxml import etree

from services.custody.domain.epcis.event_hash import context_prefixes
from services.custody.domain.epcis.vocabulary import STANDARD_PREFIXES

XSD_2_0: Final = Path(__file__).resolve().parents[3] / "contracts/external/epcis-2.0/2_0_0/EPCglobal-epcis-2_0.xsd"
EPCIS2: Final = "urn:epcglobal:epcis:xsd:2"
EPCIS1: Final = "urn:epcglobal:epcis:xsd:1"
_MEMBERS: Final = {
    "epcList": "epc",
    "childEPCs": "epc",
    "inputEPCList": "epc",
    "outputEPCList": "epc",
    "quantityList": "quantityElement",
    "childQuantityList": "quantityElement",
    "inputQuantityList": "quantityElement",
    "outputQuantityList": "quantityElement",
    "correctiveEventIDs": "correctiveEventID",
}
_TYPED: Final = {"bizTransactionList": "bizTransaction", "sourceList": "source", "destinationList": "destination"}
# EPCIS 1.2 keeps these inside <baseExtension> / <extension> of the event.
_BASE_EXTENSION_12: Final = ("eventID", "errorDeclaration")
_EXTENSION_12: Final = ("quantityList", "childQuantityList", "sourceList", "destinationList", "ilmd")


# Members of the binding's nested structures, in the order their XSD sequences want them.
_NESTED_ORDER: Final = (
    "id",
    "declarationTime",
    "reason",
    "correctiveEventIDs",
    "epcClass",
    "quantity",
    "uom",
    "unset",
    "set",
    "sensorMetadata",
    "sensorReport",
)


@cache
def field_order(kind: str) -> tuple[str, ...]:
    """The standard fields of an event type in the order of the EPCIS 2.0 XSD (its base type's fields first)."""
    xs = "{http://www.w3.org/2001/XMLSchema}"
    schema = etree.parse(str(XSD_2_0))
    names: list[str] = []
    for type_name in ("EPCISEventType", f"{kind}Type"):
        [complex_type] = schema.getroot().findall(f"{xs}complexType[@name='{type_name}']")
        names += [e.get("name", "") for e in complex_type.iter(f"{xs}element") if e.get("name")]
    return tuple(names)


def _ordered(members: dict[str, Any], order: tuple[str, ...]) -> list[tuple[str, Any]]:
    """Standard members in `order`, then the others (extensions) as they come."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(members.items(), key=lambda item: rank.get(item[0], len(order)))


def _lexical(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Writer:
    def __init__(self, prefixes: dict[str, str]) -> None:
        self.prefixes = prefixes

    def tag(self, key: str) -> str:
        if ":" in key and not key.startswith("http"):
            prefix, local = key.split(":", 1)
            return f"{{{self.prefixes[prefix]}}}{local}"
        return key

    def field(self, parent: etree._Element, key: str, value: Any) -> None:
        if value is None or key.startswith("_") or key in {"comment", "rdfs:comment", "@context"}:
            return
        if key in _MEMBERS:
            holder = etree.SubElement(parent, key)
            for member in value:
                if isinstance(member, dict):
                    element = etree.SubElement(holder, _MEMBERS[key])
                    for name, inner in _ordered(member, _NESTED_ORDER):
                        self.field(element, name, inner)
                else:
                    etree.SubElement(holder, _MEMBERS[key]).text = _lexical(member)
        elif key in _TYPED:
            holder = etree.SubElement(parent, key)
            for member in value:
                element = etree.SubElement(holder, _TYPED[key])
                if "type" in member:
                    element.set("type", member["type"])
                element.text = member[_TYPED[key]]
        elif key == "persistentDisposition":
            holder = etree.SubElement(parent, key)
            for name, terms in _ordered(value, _NESTED_ORDER):
                for term in terms:
                    etree.SubElement(holder, name).text = term
        elif key == "sensorElementList":
            holder = etree.SubElement(parent, key)
            for sensor in value:
                element = etree.SubElement(holder, "sensorElement")
                for name, inner in _ordered(sensor, _NESTED_ORDER):
                    if name == "sensorMetadata":
                        self.attributes(etree.SubElement(element, name), inner)
                    elif name == "sensorReport":
                        for report in inner:
                            self.attributes(etree.SubElement(element, name), report)
                    else:
                        self.field(element, name, inner)
        elif isinstance(value, list):
            for member in value:
                self.field(parent, key, member)
        elif isinstance(value, dict):
            element = etree.SubElement(parent, self.tag(key))
            for name, inner in _ordered(value, _NESTED_ORDER):
                self.field(element, name, inner)
        else:
            etree.SubElement(parent, self.tag(key)).text = _lexical(value)

    def attributes(self, element: etree._Element, members: dict[str, Any]) -> None:
        for name, value in members.items():
            if isinstance(value, dict | list):
                self.field(element, name, value)
            else:
                element.set(self.tag(name), _lexical(value))


def to_xml(document: dict[str, Any], *, version: str = "2.0") -> bytes:
    """The document in the XML binding (`version` 2.0, or 1.2: eventID and errorDeclaration in baseExtension,
    quantity/source/destination lists and ilmd in extension)."""
    prefixes = {**STANDARD_PREFIXES, **context_prefixes(document.get("@context"))}
    namespace = EPCIS2 if version == "2.0" else EPCIS1
    extension_prefixes = {p: ns for p, ns in prefixes.items() if ns.startswith(("http", "urn")) and p.isidentifier()}
    root = etree.Element(f"{{{namespace}}}EPCISDocument", nsmap={"epcis": namespace, **extension_prefixes})
    root.set("schemaVersion", version)
    if "creationDate" in document:
        root.set("creationDate", document["creationDate"])
    events = etree.SubElement(etree.SubElement(root, "EPCISBody"), "EventList")
    writer = _Writer(prefixes)
    for event in document["epcisBody"]["eventList"]:
        kind = event["type"]
        holder = etree.SubElement(events, "extension") if version == "1.2" and kind == "TransformationEvent" else events
        element = etree.SubElement(holder, kind)
        base = etree.SubElement(element, "baseExtension") if version == "1.2" else None
        extension = etree.SubElement(element, "extension") if version == "1.2" else None
        for key, value in _ordered(event, field_order(kind)):
            if key == "type":
                continue
            if base is not None and key in _BASE_EXTENSION_12:
                writer.field(base, key, value)
            elif extension is not None and key in _EXTENSION_12 and kind != "TransformationEvent":
                writer.field(extension, key, value)
            else:
                writer.field(element, key, value)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
