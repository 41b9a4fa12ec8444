"""A validated EPCIS 2.0 event as a custody observation: what happened to which battery, where, between whom.

``kind`` comes from the CBV 2.0 business step; a few dispositions override it because they report a state
the custody log must never hide (destroyed, recalled, stolen), and when the business step says nothing
we know, the disposition may still tell:

| bizStep (CBV 2.0, bare, URN or Web URI) | kind |
| --- | --- |
| commissioning | ``commissioned`` |
| shipping, departing | ``dispatch`` |
| receiving, arriving, accepting | ``receipt`` |
| transporting | ``in_transit`` |
| retail_selling | ``placed_on_market`` |
| installing | ``in_service`` |
| removing | ``removed_from_service`` |
| inspecting, sensor_reporting | ``inspected`` |
| repairing | ``repaired`` |
| collecting | ``collected`` (CBV 2.0 term: collection, e.g. of waste batteries) |
| disassembling | ``disassembled`` |
| decommissioning | ``decommissioned`` |
| destroying | ``destroyed`` |
| any other term, a custom URI, or none | disposition fallback below, else ``observation`` (kept) |

| disposition | effect |
| --- | --- |
| destroyed, recalled, stolen | kind ``destroyed`` / ``recalled`` / ``stolen``, whatever the bizStep |
| in_transit | kind ``in_transit`` when the bizStep gave ``observation`` |
| retail_sold | kind ``placed_on_market`` when the bizStep gave ``observation`` |
| any other (in_progress, active, damaged, ...) | kind unchanged; the term is kept in ``disposition`` |

Custom bizStep URIs of a deployment map through ``custom_biz_steps``. Identifiers that are GS1 keys
(EPC URNs or Digital Links on any domain) become constrained canonical Digital Links; others stay verbatim.
Parties and locations keep their CBV role (``owning_party``, ``possessing_party``, ``location``).

Waste facts CBV has no field for come as extension fields of the platform's namespace ``WASTE_NAMESPACE``
(``https://w3id.org/battery-passport/epcis/``), by its IRI or by any prefix the document's ``@context`` gives it:
``wasteCode`` (the EWC code, e.g. ``"16 06 01*"``) and ``wasteOperation`` (the recovery or disposal operation, e.g.
``"R4"``). A collection or treatment step must give one of them (the registry checks the handler's permit covers it).

An event carrying ``errorDeclaration`` declares an earlier capture of the *same* event erroneous (EPCIS 2.0
section 7.4.1.4): its ``event_hash`` excludes the declaration, so it equals the hash of the original, and
``error_declaration.corrective_event_ids`` names the events that replace it. The caller marks the original
as erroneous and links the corrections instead of deleting anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from contracts.errors import ValidationFailed, Violation
from services.custody.domain.epcis.event_hash import context_prefixes, event_hash
from services.custody.domain.epcis.identifiers import to_digital_link
from services.custody.domain.epcis.timestamps import parse_timestamp
from services.custody.domain.epcis.validation import validate_document
from services.custody.domain.epcis.vocabulary import Vocabulary, bare_term


class CustodyKind(StrEnum):
    """What an observation means for the custody of the objects it names."""

    COMMISSIONED = "commissioned"
    DISPATCH = "dispatch"
    RECEIPT = "receipt"
    IN_TRANSIT = "in_transit"
    PLACED_ON_MARKET = "placed_on_market"
    IN_SERVICE = "in_service"
    REMOVED_FROM_SERVICE = "removed_from_service"
    INSPECTED = "inspected"
    REPAIRED = "repaired"
    COLLECTED = "collected"
    DISASSEMBLED = "disassembled"
    DECOMMISSIONED = "decommissioned"
    DESTROYED = "destroyed"
    RECALLED = "recalled"
    STOLEN = "stolen"
    OBSERVATION = "observation"


_KIND_BY_BIZ_STEP: Final = {
    "commissioning": CustodyKind.COMMISSIONED,
    "shipping": CustodyKind.DISPATCH,
    "departing": CustodyKind.DISPATCH,
    "receiving": CustodyKind.RECEIPT,
    "arriving": CustodyKind.RECEIPT,
    "accepting": CustodyKind.RECEIPT,
    "transporting": CustodyKind.IN_TRANSIT,
    "retail_selling": CustodyKind.PLACED_ON_MARKET,
    "installing": CustodyKind.IN_SERVICE,
    "removing": CustodyKind.REMOVED_FROM_SERVICE,
    "inspecting": CustodyKind.INSPECTED,
    "sensor_reporting": CustodyKind.INSPECTED,
    "repairing": CustodyKind.REPAIRED,
    "collecting": CustodyKind.COLLECTED,
    "disassembling": CustodyKind.DISASSEMBLED,
    "decommissioning": CustodyKind.DECOMMISSIONED,
    "destroying": CustodyKind.DESTROYED,
}
_KIND_OVERRIDE_BY_DISPOSITION: Final = {
    "destroyed": CustodyKind.DESTROYED,
    "recalled": CustodyKind.RECALLED,
    "stolen": CustodyKind.STOLEN,
}
_KIND_FALLBACK_BY_DISPOSITION: Final = {
    "in_transit": CustodyKind.IN_TRANSIT,
    "retail_sold": CustodyKind.PLACED_ON_MARKET,
}

_FROZEN: Final = ConfigDict(frozen=True)


class PartyOrLocation(BaseModel):
    """One entry of an EPCIS source or destination list."""

    model_config = _FROZEN

    role: str = Field(
        description="CBV source/destination type as bare term (owning_party, possessing_party, location) "
        "or the custom URI given.",
        examples=["owning_party"],
    )
    id: str = Field(
        description="Party (PGLN) or location (SGLN) as Digital Link when a GS1 key, else verbatim.",
        examples=["https://id.gs1.org/417/9521234000006"],
    )


class BizTransactionRef(BaseModel):
    """A business transaction (order, despatch advice, ...) the event belongs to."""

    model_config = _FROZEN

    type: str | None = Field(
        description="CBV business transaction type as bare term (po, desadv, ...) or custom URI.",
        examples=["desadv"],
    )
    id: str = Field(
        description="Transaction identifier (GDTI as Digital Link when a GS1 key, else verbatim).",
        examples=["https://ecocell-batteries.example.com/dispatch/DA-2024-00318"],
    )


class ObservedQuantity(BaseModel):
    """A class-level quantity (lot or product class) named by the event."""

    model_config = _FROZEN

    role: str = Field(
        description="Which EPCIS list it came from: quantity, child, input or output.", examples=["input"]
    )
    epc_class: str = Field(
        description="Product class or lot as Digital Link when a GS1 key, else verbatim.",
        examples=["https://id.gs1.org/01/04012345123456/10/998877"],
    )
    quantity: Decimal | None = Field(description="Amount in `uom` (a count when `uom` is absent).", examples=["200"])
    uom: str | None = Field(description="UN/CEFACT Rec 20 unit code.", examples=["KGM"])


class ErrorDeclaration(BaseModel):
    """The event declares an earlier capture of itself erroneous."""

    model_config = _FROZEN

    declared_at: datetime = Field(description="When the error was declared, UTC.")
    reason: str | None = Field(
        description="CBV error reason as bare term (did_not_occur, incorrect_data) or the URI given.",
        examples=["incorrect_data"],
    )
    corrective_event_ids: tuple[str, ...] = Field(
        description="eventIDs (or event hashes) of the events that correct the erroneous one.",
        examples=[["urn:uuid:404d95fc-9457-4a51-bd6a-0bba133845a8"]],
    )


class CustodyObservation(BaseModel):
    """One EPCIS event, reduced to what the custody log records about the objects it names."""

    model_config = _FROZEN

    event_hash: str = Field(
        description="CBV 2.0 event hash; identical for every serialisation of the event.",
        examples=["ni:///sha-256;ffa491b16867e34a7791a8d5389d826afc24e63a121026b6a4004ace38631b4b?ver=CBV2.0"],
    )
    event_id: str | None = Field(
        description="eventID as captured, if any.", examples=["urn:uuid:550e8400-e29b-41d4-a716-446655440002"]
    )
    event_type: str = Field(description="EPCIS event type.", examples=["ObjectEvent"])
    kind: CustodyKind = Field(description="Custody meaning, from bizStep and disposition.", examples=["dispatch"])
    action: str | None = Field(
        description="ADD, OBSERVE or DELETE; None for TransformationEvent.", examples=["OBSERVE"]
    )
    biz_step: str | None = Field(description="CBV bizStep as bare term, or the custom URI.", examples=["shipping"])
    disposition: str | None = Field(
        description="CBV disposition as bare term, or the custom URI.", examples=["in_transit"]
    )
    event_time: datetime = Field(description="When the event happened, UTC.")
    event_time_zone_offset: str = Field(description="Local offset at the place of the event.", examples=["+01:00"])
    epcs: tuple[str, ...] = Field(default=(), description="epcList as Digital Links.")
    parent_id: str | None = Field(default=None, description="parentID (pallet, vehicle, pack) as Digital Link.")
    child_epcs: tuple[str, ...] = Field(default=(), description="childEPCs as Digital Links.")
    input_epcs: tuple[str, ...] = Field(default=(), description="inputEPCList as Digital Links.")
    output_epcs: tuple[str, ...] = Field(default=(), description="outputEPCList as Digital Links.")
    quantities: tuple[ObservedQuantity, ...] = Field(default=(), description="All quantity lists.")
    read_point: str | None = Field(default=None, description="readPoint id (SGLN) as Digital Link.")
    biz_location: str | None = Field(default=None, description="bizLocation id (SGLN) as Digital Link.")
    sources: tuple[PartyOrLocation, ...] = Field(default=(), description="sourceList.")
    destinations: tuple[PartyOrLocation, ...] = Field(default=(), description="destinationList.")
    biz_transactions: tuple[BizTransactionRef, ...] = Field(default=(), description="bizTransactionList.")
    error_declaration: ErrorDeclaration | None = Field(
        default=None, description="Present when this capture declares the event erroneous."
    )
    waste_code: str | None = Field(
        default=None,
        description="EWC code of the waste the event moves (extension field wasteCode).",
        examples=["16 06 01*"],
    )
    waste_operation: str | None = Field(
        default=None, description="Recovery or disposal operation (extension field wasteOperation).", examples=["R4"]
    )

    @property
    def identifiers(self) -> tuple[str, ...]:
        """Every object the event names (parent first), each once."""
        named = ((self.parent_id,) if self.parent_id else ()) + self.epcs + self.child_epcs
        return tuple(dict.fromkeys(named + self.input_epcs + self.output_epcs))


def classify(
    biz_step: str | None, disposition: str | None, custom_biz_steps: Mapping[str, CustodyKind] | None = None
) -> CustodyKind:
    """Custody kind of an event from its (normalised) bizStep and disposition; see the module table."""
    if disposition in _KIND_OVERRIDE_BY_DISPOSITION:
        return _KIND_OVERRIDE_BY_DISPOSITION[disposition]
    kind = (custom_biz_steps or {}).get(biz_step or "") or _KIND_BY_BIZ_STEP.get(biz_step or "")
    if kind is not None:
        return kind
    return _KIND_FALLBACK_BY_DISPOSITION.get(disposition or "", CustodyKind.OBSERVATION)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _term(value: object, vocabulary: Vocabulary) -> str | None:
    """Bare CBV term when the value is a standard one in any notation, else the value as given."""
    text = _text(value)
    return None if text is None else bare_term(vocabulary, text) or text


def _key(value: object) -> str | None:
    text = _text(value)
    return None if text is None else to_digital_link(text) or text


def _keys(value: object) -> tuple[str, ...]:
    members = value if isinstance(value, list) else []
    return tuple(key for key in (_key(member) for member in members) if key is not None)


def _objects(value: object) -> list[Mapping[str, object]]:
    return [member for member in value if isinstance(member, dict)] if isinstance(value, list) else []


def _location(value: object) -> str | None:
    return _key(value.get("id")) if isinstance(value, dict) else None


def _quantity(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return Decimal(str(value))


def _quantities(event: Mapping[str, object]) -> tuple[ObservedQuantity, ...]:
    lists = {"quantity": "quantityList", "child": "childQuantityList", "input": "inputQuantityList"}
    lists["output"] = "outputQuantityList"
    return tuple(
        ObservedQuantity(
            role=role,
            epc_class=_key(element.get("epcClass")) or "",
            quantity=_quantity(element.get("quantity")),
            uom=_text(element.get("uom")),
        )
        for role, field in lists.items()
        for element in _objects(event.get(field))
    )


def _parties(value: object, link: str) -> tuple[PartyOrLocation, ...]:
    return tuple(
        PartyOrLocation(
            role=_term(entry.get("type"), Vocabulary.SOURCE_DESTINATION_TYPE) or "",
            id=_key(entry.get(link)) or "",
        )
        for entry in _objects(value)
    )


def _biz_transactions(value: object) -> tuple[BizTransactionRef, ...]:
    return tuple(
        BizTransactionRef(
            type=_term(entry.get("type"), Vocabulary.BIZ_TRANSACTION_TYPE),
            id=_key(entry.get("bizTransaction")) or "",
        )
        for entry in _objects(value)
    )


def _instant(value: object, field: str) -> datetime:
    instant = parse_timestamp(value) if isinstance(value, str) else None
    if instant is None:
        reason = "invalid_event_time" if field.endswith("eventTime") else "invalid_timestamp"
        raise ValidationFailed(
            [Violation(field=field, reason=reason, message=f"Write `{field}` as RFC 3339 with offset.")]
        )
    return instant


def _error_declaration(value: object) -> ErrorDeclaration | None:
    if not isinstance(value, dict):
        return None
    return ErrorDeclaration(
        declared_at=_instant(value.get("declarationTime"), "errorDeclaration.declarationTime"),
        reason=_term(value.get("reason"), Vocabulary.ERROR_REASON),
        corrective_event_ids=tuple(_text(item) or "" for item in value.get("correctiveEventIDs") or ()),
    )


def to_custody_observation(
    event: Mapping[str, object],
    context: Mapping[str, str] | None = None,
    *,
    custom_biz_steps: Mapping[str, CustodyKind] | None = None,
) -> CustodyObservation:
    """Map one validated EPCIS event; ``context`` holds the document's CURIE prefixes (for the hash)."""
    biz_step = _term(event.get("bizStep"), Vocabulary.BIZ_STEP)
    disposition = _term(event.get("disposition"), Vocabulary.DISPOSITION)
    return CustodyObservation(
        event_hash=event_hash(event, context),
        event_id=_text(event.get("eventID")),
        event_type=_text(event.get("type")) or "",
        kind=classify(biz_step, disposition, custom_biz_steps),
        action=_text(event.get("action")),
        biz_step=biz_step,
        disposition=disposition,
        event_time=_instant(event.get("eventTime"), "eventTime"),
        event_time_zone_offset=_text(event.get("eventTimeZoneOffset")) or "",
        epcs=_keys(event.get("epcList")),
        parent_id=_key(event.get("parentID")),
        child_epcs=_keys(event.get("childEPCs")),
        input_epcs=_keys(event.get("inputEPCList")),
        output_epcs=_keys(event.get("outputEPCList")),
        quantities=_quantities(event),
        read_point=_location(event.get("readPoint")),
        biz_location=_location(event.get("bizLocation")),
        sources=_parties(event.get("sourceList"), "source"),
        destinations=_parties(event.get("destinationList"), "destination"),
        biz_transactions=_biz_transactions(event.get("bizTransactionList")),
        error_declaration=_error_declaration(event.get("errorDeclaration")),
        waste_code=_extension_text(event, context, "wasteCode"),
        waste_operation=_extension_text(event, context, "wasteOperation"),
    )


WASTE_NAMESPACE: Final = "https://w3id.org/battery-passport/epcis/"


def extension_key(name: str, context: Mapping[str, str] | None) -> str:
    """How a document names the platform's extension field `name`: its first prefix of WASTE_NAMESPACE, else the
    IRI."""
    for prefix, iri in (context or {}).items():
        if iri == WASTE_NAMESPACE:
            return f"{prefix}:{name}"
    return WASTE_NAMESPACE + name


def _extension_text(event: Mapping[str, object], context: Mapping[str, str] | None, name: str) -> str | None:
    """The platform extension field `name` of the event, named by its IRI or a prefix of the namespace."""
    keys = [WASTE_NAMESPACE + name] + [f"{p}:{name}" for p, iri in (context or {}).items() if iri == WASTE_NAMESPACE]
    for key in keys:
        value = event.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def observations_from_document(
    doc: object, *, custom_biz_steps: Mapping[str, CustodyKind] | None = None
) -> list[CustodyObservation]:
    """Validate an EPCIS document and map each event; raises ``ValidationFailed`` with every violation."""
    violations = validate_document(doc)
    if violations or not isinstance(doc, dict):
        raise ValidationFailed(violations)
    context = context_prefixes(doc.get("@context"))
    events = doc["epcisBody"]["eventList"]
    return [to_custody_observation(event, context, custom_biz_steps=custom_biz_steps) for event in events]
