"""EPCIS XML documents (2.0, and 1.2 converted) as the JSON form that capture validates and hashes.

``document_from_xml(body) -> dict``: parses securely (no DTD, no entities, no network, no huge trees),
validates an EPCIS 2.0 document against GS1's XSD (``contracts/external/epcis-2.0``, read once; a 1.2
document is checked structurally, then by the JSON rules like every other), and maps the XML binding onto
the JSON binding field by field: lists of EPCs and quantities, business transactions, sources and
destinations, readPoint / bizLocation, errorDeclaration, persistentDisposition, sensor elements (attributes
as members, numbers as numbers), ilmd and user extensions (``prefix:localName``, the prefix declared in the
document's ``@context``). EPCIS 1.2's ``extension`` / ``baseExtension`` wrappers are unwrapped, which is
all that separates a 1.2 event from its 2.0 form. Values keep their lexical form (CBV URNs stay URNs): the
CBV 2.0 event hash canonicalises them, so an event hashes the same in either binding. Refusals raise
``ValidationFailed`` whose violations name the line and the rule.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import Any, Final

from lxml import etree

from contracts.errors import ValidationFailed, Violation

XSD_2_0: Final = (
    Path(__file__).resolve().parents[4] / "contracts" / "external" / "epcis-2.0" / "2_0_0" / "EPCglobal-epcis-2_0.xsd"
)
EPCIS_NAMESPACES: Final = {"urn:epcglobal:epcis:xsd:2": "2.0", "urn:epcglobal:epcis:xsd:1": "1.2"}
EPCIS_CONTEXT: Final = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
EVENT_TYPES: Final = frozenset(
    {"ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent"}
)
_EPC_LISTS: Final = frozenset({"epcList", "childEPCs", "inputEPCList", "outputEPCList"})
_QUANTITY_LISTS: Final = frozenset({"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"})
_TYPED_LISTS: Final = {"bizTransactionList": "bizTransaction", "sourceList": "source", "destinationList": "destination"}
_LOCATIONS: Final = frozenset({"readPoint", "bizLocation"})
_WRAPPERS: Final = frozenset({"extension", "baseExtension"})
# Sensor attributes whose JSON form is a number or a boolean (EPCIS 2.0 JSON schema, sensorReport / Metadata).
_NUMERIC_ATTRIBUTES: Final = frozenset(
    {"value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue", "uriValue_number"}
)
_BOOLEAN_ATTRIBUTES: Final = frozenset({"booleanValue"})


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


@cache
def _schema_2_0() -> etree.XMLSchema:
    """GS1's EPCIS 2.0 XSD (its imports are relative files: no network)."""
    return etree.XMLSchema(etree.parse(str(XSD_2_0), _parser()))


# A schema's error log is the schema's, not the call's: one validation at a time (capture parses in threads).
_SCHEMA_LOCK: Final = threading.Lock()


def _schema_violation(root: etree._Element) -> ValidationFailed | None:
    with _SCHEMA_LOCK:
        schema = _schema_2_0()
        if schema.validate(root):
            return None
        error = schema.error_log[0]
    return _refuse("xml_schema_violation", f"{error.message} (EPCIS 2.0 XSD).", error.line)


def _refuse(reason: str, message: str, line: int | None = None, field: str = "") -> ValidationFailed:
    where = f"line {line}: " if line else ""
    return ValidationFailed([Violation(field=field, reason=reason, message=f"{where}{message}")])


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


class _Converter:
    """One document's conversion; collects the extension namespaces its ``@context`` must declare."""

    def __init__(self) -> None:
        self.namespaces: dict[str, str] = {}

    def key(self, element: etree._Element) -> str:
        name = etree.QName(element)
        if not name.namespace or name.namespace in EPCIS_NAMESPACES:
            return name.localname
        return f"{self._prefix(name.namespace, element.prefix)}:{name.localname}"

    def _prefix(self, namespace: str, preferred: str | None) -> str:
        for prefix, known in self.namespaces.items():
            if known == namespace:
                return prefix
        prefix = preferred or f"ext{len(self.namespaces) + 1}"
        while prefix in self.namespaces:
            prefix = f"{prefix}_"
        self.namespaces[prefix] = namespace
        return prefix

    def attribute_key(self, name: str, element: etree._Element) -> str:
        qname = etree.QName(name)
        if not qname.namespace:
            return qname.localname
        preferred = next((p for p, ns in element.nsmap.items() if ns == qname.namespace and p), None)
        return f"{self._prefix(qname.namespace, preferred)}:{qname.localname}"

    def fields(self, element: etree._Element) -> list[etree._Element]:
        """Children, with EPCIS 1.2's ``extension`` / ``baseExtension`` wrappers unwrapped."""
        found: list[etree._Element] = []
        for child in element:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child)
            if name.localname in _WRAPPERS and (not name.namespace or name.namespace in EPCIS_NAMESPACES):
                found.extend(self.fields(child))
            else:
                found.append(child)
        return found

    def event(self, element: etree._Element) -> dict[str, Any]:
        event: dict[str, Any] = {"type": _local(element)}
        for child in self.fields(element):
            self.put(event, self.key(child), self.value(child))
        return event

    @staticmethod
    def put(target: dict[str, Any], key: str, value: Any) -> None:
        if key in target:  # a repeated extension element is a list
            earlier = target[key]
            target[key] = [*earlier, value] if isinstance(earlier, list) else [earlier, value]
        else:
            target[key] = value

    def value(self, element: etree._Element) -> Any:
        name = self.key(element)
        children = self.fields(element)
        if name in _EPC_LISTS:
            return [_text(c) for c in children]
        if name in _QUANTITY_LISTS:
            return [self.quantity(c) for c in children]
        if name in _TYPED_LISTS:
            member = _TYPED_LISTS[name]
            return [
                {**({"type": c.get("type")} if c.get("type") is not None else {}), member: _text(c)} for c in children
            ]
        if name == "correctiveEventIDs":
            return [_text(c) for c in children]
        if name == "persistentDisposition":
            result: dict[str, Any] = {}
            for child in children:
                result.setdefault(_local(child), []).append(_text(child))
            return result
        if name == "sensorElementList":
            return [self.sensor_element(c) for c in children]
        if name in _LOCATIONS or name in {"errorDeclaration", "ilmd"} or children:
            return self.structure(children)
        return _text(element)

    def structure(self, children: list[etree._Element]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for child in children:
            self.put(result, self.key(child), self.value(child))
        return result

    def quantity(self, element: etree._Element) -> dict[str, Any]:
        result = self.structure(self.fields(element))
        if "quantity" in result:
            result["quantity"] = _number(result["quantity"], element)
        return result

    def sensor_element(self, element: etree._Element) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for child in self.fields(element):
            key = self.key(child)
            if key == "sensorMetadata":
                result[key] = self.attributes(child)
            elif key == "sensorReport":
                result.setdefault(key, []).append(self.attributes(child))
            else:
                self.put(result, key, self.value(child))
        return result

    def attributes(self, element: etree._Element) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, text in element.attrib.items():
            key = self.attribute_key(str(name), element)
            if key in _NUMERIC_ATTRIBUTES:
                result[key] = _number(str(text), element)
            elif key in _BOOLEAN_ATTRIBUTES:
                result[key] = str(text).strip() in {"true", "1"}
            else:
                result[key] = str(text)
        for child in self.fields(element):  # extension elements inside a sensor report or metadata
            self.put(result, self.key(child), self.value(child))
        return result


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _number(text: Any, element: etree._Element) -> int | float:
    try:
        number = float(str(text))
    except ValueError:
        raise _refuse(
            "invalid_xml_number", f"<{_local(element)}> holds {text!r}, which is not a number.", element.sourceline
        ) from None
    return int(number) if number.is_integer() and "." not in str(text) and "e" not in str(text).lower() else number


def document_from_xml(body: bytes) -> dict[str, Any]:
    """The JSON form of an EPCIS 2.0 or 1.2 XML document; ``ValidationFailed`` naming the line and rule."""
    if b"<!DOCTYPE" in body.upper().replace(b"\x00", b""):
        raise _refuse(
            "xml_dtd_forbidden",
            "Documents may not carry a DOCTYPE (DTDs and entity declarations are refused: no XXE).",
            _line_of(body, b"<!DOCTYPE"),
        )
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        reason = "xml_entity_forbidden" if "entity" in str(exc.msg).lower() else "invalid_xml"
        raise _refuse(reason, f"column {exc.position[1]}: {exc.msg}.", exc.lineno) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # a guard: the check above refuses these first
        raise _refuse("xml_dtd_forbidden", "Documents may not carry a DOCTYPE.", 1)
    name = etree.QName(root)
    if name.localname != "EPCISDocument" or name.namespace not in EPCIS_NAMESPACES:
        raise _refuse(
            "xml_not_epcis_document",
            f"The root element is {{{name.namespace}}}{name.localname}, not epcis:EPCISDocument "
            "(urn:epcglobal:epcis:xsd:2, or :1 for EPCIS 1.2).",
            root.sourceline,
        )
    converter = _Converter()
    body_element = next((c for c in converter.fields(root) if _local(c) == "EPCISBody"), None)
    if body_element is None:
        raise _refuse("xml_missing_element", "The document has no EPCISBody.", root.sourceline, "epcisBody")
    event_list = next((c for c in converter.fields(body_element) if _local(c) == "EventList"), None)
    if event_list is None:
        raise _refuse(
            "xml_missing_element", "EPCISBody has no EventList.", body_element.sourceline, "epcisBody.eventList"
        )
    for index, element in enumerate(converter.fields(event_list)):
        kind = _local(element)
        if kind not in EVENT_TYPES:
            raise _refuse(
                "xml_unknown_event_type",
                f"<{kind}> is not an EPCIS event ({', '.join(sorted(EVENT_TYPES))}).",
                element.sourceline,
                f"epcisBody.eventList.{index}",
            )
    if name.namespace == "urn:epcglobal:epcis:xsd:2":
        violation = _schema_violation(root)
        if violation is not None:
            raise violation
    events = [converter.event(element) for element in converter.fields(event_list)]
    context: list[Any] = [EPCIS_CONTEXT]
    if converter.namespaces:
        context.append(dict(converter.namespaces))
    document: dict[str, Any] = {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": root.get("creationDate"),
        "epcisBody": {"eventList": events},
    }
    if document["creationDate"] is None:
        del document["creationDate"]
    return document


def _line_of(body: bytes, needle: bytes) -> int:
    at = body.upper().find(needle)
    return body.count(b"\n", 0, at) + 1 if at >= 0 else 1


__all__ = ["EPCIS_NAMESPACES", "document_from_xml"]
