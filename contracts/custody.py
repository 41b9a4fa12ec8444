"""Custody: native custody events in, custody facts out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.base import Message
from contracts.errors import Violation
from contracts.passport_data import BatteryStatus

EWC_CODE_PATTERN = r"^\d{2} \d{2} \d{2}\*?$"
WASTE_OPERATION_PATTERN = r"^(R(1[0-3]|[1-9])|D(1[0-5]|[1-9]))$"
HANDLER_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"


class CustodyEventKind(StrEnum):
    dispatch = "dispatch"
    handover = "handover"
    receipt = "receipt"
    collection = "collection"
    storage = "storage"
    treatment_start = "treatment_start"
    # Observations that move no custody but are recorded (mostly from EPCIS bizSteps / dispositions).
    placed_on_market = "placed_on_market"
    in_service = "in_service"
    removed_from_service = "removed_from_service"
    in_transit = "in_transit"
    commissioned = "commissioned"
    inspected = "inspected"
    repaired = "repaired"
    disassembled = "disassembled"
    decommissioned = "decommissioned"
    destroyed = "destroyed"
    recalled = "recalled"
    stolen = "stolen"
    observation = "observation"
    # A later entry declaring an earlier one erroneous (EPCIS errorDeclaration); nothing is deleted.
    error_declaration = "error_declaration"


class CustodyTargets(BaseModel):
    """What the event is about: passports directly, or battery identifiers / Digital Link URIs, packs, batches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    passport_ids: list[str] = Field(default_factory=list, max_length=10_000, description="`urn:uuid:` passport ids.")
    battery_identifiers: list[str] = Field(
        default_factory=list,
        max_length=10_000,
        description="OEM battery, pack or batch identifiers, or Digital Link URIs. A pack or batch applies to "
        "every passport aggregated in it as well as its own.",
    )
    batch_numbers: list[str] = Field(
        default_factory=list,
        max_length=1_000,
        description="Production batch / lot numbers (GS1 AI 10): every passport of that batch.",
        examples=[["L2026-03"]],
    )


class CustodyEventReported(Message):
    """A carrier, collector, recycler or refiner reports a custody step (`bpass.custody.events.v1`)."""

    event_type = "eu.battery-passport.custody.event.v1"

    kind: CustodyEventKind = Field(description="What happened.", examples=["handover"])
    occurred_at: AwareDatetime = Field(description="When it happened, with UTC offset.")
    handler_id: str = Field(min_length=1, max_length=100, description="Registered handler reporting it.")
    site_id: str | None = Field(default=None, max_length=100, description="Handler site (GLN or registry id).")
    from_handler_id: str | None = Field(default=None, max_length=100, description="Handing-over party.")
    to_handler_id: str | None = Field(default=None, max_length=100, description="Receiving party.")
    targets: CustodyTargets = Field(description="Passports or identifiers concerned.")
    mass_kg: Decimal | None = Field(default=None, ge=0, le=1_000_000, allow_inf_nan=False, description="Mass moved.")
    quantity: int | None = Field(default=None, ge=1, le=1_000_000, description="Number of units.")
    transport_document: str | None = Field(default=None, max_length=200, description="CMR / waybill reference.")
    dwts_id: str | None = Field(default=None, max_length=100, description="UK Digital Waste Tracking id.")
    diwass_id: str | None = Field(default=None, max_length=100, description="EU DIWASS movement document id.")
    ewc_code: str | None = Field(
        default=None,
        pattern=EWC_CODE_PATTERN,
        description="European Waste Catalogue code.",
        examples=["16 06 01*"],
    )
    operation: str | None = Field(
        default=None,
        pattern=WASTE_OPERATION_PATTERN,
        description="Recovery (R1-R13) or disposal (D1-D15) operation (Directive 2008/98/EC Annexes I-II); the "
        "handler's permit must cover it.",
        examples=["R4"],
    )

    @model_validator(mode="after")
    def _has_target(self) -> CustodyEventReported:
        targets = self.targets
        if not targets.passport_ids and not targets.battery_identifiers and not targets.batch_numbers:
            raise ValueError("targets must name at least one passport id, battery identifier or batch number")
        return self


class CustodyRecorded(Message):
    """A custody step was appended to a passport's hash-chained custody log."""

    event_type = "eu.battery-passport.custody.custody-recorded.v1"

    passport_id: str = Field(description="Passport the entry belongs to.")
    tenant: str = Field(description="Owning tenant of the passport.")
    sequence: int = Field(ge=1, description="Position in the passport's custody log.")
    kind: CustodyEventKind = Field(description="What happened.")
    occurred_at: datetime = Field(description="When it happened (UTC).")
    handler_id: str = Field(description="Reporting handler.")
    from_handler_id: str | None = Field(default=None, description="Handing-over party.")
    to_handler_id: str | None = Field(default=None, description="Receiving party.")
    source_event_id: str = Field(description="CloudEvents id of the reported event.")
    entry_hash: str = Field(description="SHA-256 of this log entry, chained to the previous one.")
    previous_hash: str = Field(description="Hash of the previous entry (64 zeros for the first).")
    site_id: str | None = Field(default=None, description="Handler site where it happened.")
    ewc_code: str | None = Field(default=None, description="European Waste Catalogue code.", examples=["16 06 01*"])
    operation: str | None = Field(default=None, description="Recovery / disposal operation.", examples=["R4"])
    flags: list[Violation] = Field(
        default_factory=list,
        description="Rules the step broke, when the tenant's policy records violations as flagged evidence "
        "instead of rejecting them; empty for a clean step.",
    )
    epcis_event_hash: str | None = Field(
        default=None,
        description="CBV 2.0 event hash when the step was captured as an EPCIS event.",
        examples=["ni:///sha-256;ffa491b16867e34a7791a8d5389d826afc24e63a121026b6a4004ace38631b4b?ver=CBV2.0"],
    )
    corrects_sequence: int | None = Field(
        default=None, ge=1, description="For an `error_declaration` entry: the sequence it declares erroneous."
    )


@dataclass(frozen=True)
class Holding:
    """Who holds a passport's battery after a custody log entry, as custody decides it (its state machine counts
    every recorded step, flagged or not). Services that follow `CustodyRecorded` facts fold them with
    `holding_after` instead of re-deriving custody's rules."""

    holder: str | None = None
    in_transit: bool = False
    in_transit_to: str | None = None


HOLDING_KINDS = frozenset({CustodyEventKind.collection, CustodyEventKind.storage, CustodyEventKind.treatment_start})


def holding_after(
    before: Holding, *, kind: str, handler_id: str, from_handler_id: str | None, to_handler_id: str | None
) -> Holding:
    """| step | holder afterwards | in transit |
    | --- | --- | --- |
    | dispatch (by H, from F, to T) | F (or H) | yes, to T |
    | handover (F to T) | T | no |
    | receipt (by H, from F, to T) | T (or H) | no |
    | collection, storage, treatment start (by H) | H | no |
    | any other observation | unchanged | unchanged |"""
    if kind == CustodyEventKind.dispatch:
        return Holding(from_handler_id or handler_id, True, to_handler_id)
    if kind == CustodyEventKind.handover and from_handler_id and to_handler_id:
        return Holding(to_handler_id)
    if kind == CustodyEventKind.receipt:
        return Holding(to_handler_id or handler_id)
    if kind in HOLDING_KINDS:
        return Holding(handler_id)
    return before


# --- The verified handler registry -------------------------------------------------------------------------------


class HandlerRole(StrEnum):
    carrier = "carrier"
    collector = "collector"
    recycler = "recycler"
    refiner = "refiner"
    repairer = "repairer"
    second_life_operator = "second_life_operator"


class VerificationState(StrEnum):
    pending = "pending"
    verified = "verified"
    suspended = "suspended"


def registration_violations(
    handler_id: str,
    state: str | None,
    state_reason: str | None = None,
    *,
    field: str,
    who: str = "handler",
    unregistered_hint: str = "",
) -> list[Violation]:
    """The registry's rule for every service that takes a handler's word: the handler is registered (`state` None:
    it is not) and verified. `who` names it in the sentence (handler, receiving handler, recycler...);
    `unregistered_hint` says what to do when it is not registered."""
    if state is None:
        return [
            Violation(
                field=field,
                reason="handler_not_registered",
                message=f"The {who} {handler_id!r} is not in the verified handler registry{unregistered_hint}.",
            )
        ]
    if state == VerificationState.verified:
        return []
    why = f" ({state_reason})" if state_reason else ""
    return [
        Violation(
            field=field,
            reason="handler_suspended" if state == VerificationState.suspended else "handler_not_verified",
            message=f"The {who} {handler_id!r} is {state}{why}; only verified handlers may report.",
        )
    ]


class HandlerIdentifier(BaseModel):
    """An identifier of the handler in some scheme: its GLN, a national registration number, ..."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scheme: str = Field(
        min_length=1,
        max_length=60,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Scheme of the identifier: `gln`, `waste_carrier_registration`, `vat`, `eori`, ...",
        examples=["waste_carrier_registration"],
    )
    value: str = Field(min_length=1, max_length=100, description="The identifier.", examples=["CBDU123456"])
    issuer: str | None = Field(
        default=None, max_length=200, description="Who issued it, when not implied by the scheme.", examples=["EA"]
    )


class HandlerSite(BaseModel):
    """A site the handler operates (depot, collection point, treatment plant)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site_id: str = Field(
        min_length=1, max_length=100, description="Site id, unique within the handler.", examples=["leeds-depot"]
    )
    name: str = Field(min_length=1, max_length=200, description="Site name.", examples=["Leeds depot"])
    gln: str | None = Field(
        default=None, pattern=r"^\d{13}$", description="GS1 GLN of the site (13 digits).", examples=["9521234000013"]
    )
    country: str | None = Field(
        default=None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country.", examples=["GB"]
    )
    address: str | None = Field(default=None, max_length=500, description="Postal address.")


class HandlerPermit(BaseModel):
    """A permit, licence, registration or exemption: what waste, which operations, when, where."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    permit_type: str = Field(
        min_length=1,
        max_length=60,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Kind of permit: `environmental_permit`, `waste_carrier_registration`, `exemption`, ...",
        examples=["environmental_permit"],
    )
    number: str = Field(min_length=1, max_length=100, description="Permit number.", examples=["EPR/AB1234CD"])
    issuing_authority: str = Field(
        min_length=1, max_length=200, description="Who issued it.", examples=["Environment Agency"]
    )
    valid_from: AwareDatetime = Field(description="Start of validity (inclusive), with UTC offset.")
    valid_until: AwareDatetime | None = Field(
        default=None, description="End of validity (exclusive), with UTC offset; open-ended when absent."
    )
    waste_codes: list[str] = Field(
        default_factory=list,
        max_length=1_000,
        description="EWC codes the permit covers (`16 06 01*`); empty when it covers no waste.",
        examples=[["16 06 01*", "16 06 05", "20 01 33*"]],
    )
    operations: list[str] = Field(
        default_factory=list,
        max_length=30,
        description="Recovery / disposal operations it covers (R1-R13, D1-D15); empty for transport only.",
        examples=[["R4", "R12"]],
    )
    site_id: str | None = Field(
        default=None, max_length=100, description="The site it applies to; every site of the handler when absent."
    )

    @model_validator(mode="after")
    def _codes(self) -> HandlerPermit:
        for code in self.waste_codes:
            if not re.match(EWC_CODE_PATTERN, code):
                raise ValueError(f"waste code {code!r} is not an EWC code like '16 06 01*'")
        for operation in self.operations:
            if not re.match(WASTE_OPERATION_PATTERN, operation):
                raise ValueError(f"operation {operation!r} is not R1-R13 or D1-D15")
        if self.valid_until is not None and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


def _unstorable(value: object, path: str) -> str | None:
    """The path of the first text holding NUL or a lone surrogate (PostgreSQL and UTF-8 cannot store them)."""
    if isinstance(value, str):
        if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
            return path
        return None
    if isinstance(value, BaseModel):
        value = dict(value)
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _unstorable(item, f"{path}.{index}")
            if found:
                return found
    return None


class HandlerDetails(BaseModel):
    """What the platform operator registers about a handler (everything but its verification state)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _storable(self) -> HandlerDetails:
        where = _unstorable(self, "")
        if where:
            raise ValueError(f"{where} holds a NUL character or a lone surrogate, which cannot be stored")
        return self

    name: str = Field(min_length=1, max_length=200, description="Legal name.", examples=["Northern Recycling Ltd"])
    roles: list[HandlerRole] = Field(min_length=1, max_length=6, description="What it does.")
    identifiers: list[HandlerIdentifier] = Field(
        default_factory=list, max_length=50, description="GLN, national registration numbers, ..."
    )
    sites: list[HandlerSite] = Field(default_factory=list, max_length=1_000, description="Its sites.")
    permits: list[HandlerPermit] = Field(default_factory=list, max_length=1_000, description="Its permits.")


class HandlerRegistration(HandlerDetails):
    """Registering a new handler."""

    handler_id: str = Field(
        pattern=HANDLER_ID_PATTERN,
        description="Platform id of the handler; it publishes as `urn:bpass:handler:<handler id>`.",
        examples=["northern-recycling"],
    )


class HandlerRecord(HandlerRegistration):
    """A handler as the registry holds it."""

    state: VerificationState = Field(description="pending, verified or suspended.")
    state_reason: str | None = Field(default=None, description="Why it was verified or suspended last.")
    version: int = Field(ge=1, description="Increases with every change.")
    updated_at: datetime = Field(description="When it last changed (UTC).")


class HandlerChange(StrEnum):
    registered = "registered"
    amended = "amended"
    verified = "verified"
    suspended = "suspended"


class HandlerRegistryChanged(Message):
    """The handler registry changed; the payload carries the handler as it now is. Keyed by handler id."""

    event_type = "eu.battery-passport.custody.handler-registry-changed.v1"

    change: HandlerChange = Field(description="What changed.", examples=["verified"])
    handler: HandlerRecord = Field(description="The handler after the change.")
    changed_at: datetime = Field(description="When (UTC).")
    changed_by: str = Field(description="Principal that made the change.", examples=["platform_operator:-:key_1"])
    reason: str | None = Field(default=None, description="Reason given by the operator.")


# --- Status changes custody learns -------------------------------------------------------------------------------


class PassportStage(StrEnum):
    placed_on_market = "placed_on_market"
    in_service = "in_service"
    collected = "collected"
    in_treatment = "in_treatment"
    # Only in a correction (`corrects_sequence`): the step taken out was the only one that gave a later stage.
    manufactured = "manufactured"


class ResponsiblePartyKind(StrEnum):
    """Who is responsible for a waste battery (Art. 77(7)): its producer, the producer responsibility
    organisation (compliance scheme) acting for it, or the waste management operator."""

    producer = "producer"
    compliance_scheme = "compliance_scheme"
    waste_operator = "waste_operator"


class ResponsibilityBasis(StrEnum):
    """Why responsibility moved: a registered handler collected the battery as waste, or it was declared waste."""

    collection = "collection"
    waste_declaration = "waste_declaration"


class PassportStatusChanged(Message):
    """A custody step moved a passport into another lifecycle stage (and, for waste, status). Keyed by passport id."""

    event_type = "eu.battery-passport.custody.passport-status-changed.v1"

    passport_id: str = Field(description="The passport.")
    tenant: str = Field(description="Owning tenant.")
    stage: PassportStage = Field(description="Stage it is in now.", examples=["collected"])
    previous_stage: str | None = Field(default=None, description="Stage custody knew before, if any.")
    status: BatteryStatus | None = Field(
        default=None, description="Annex XIII status it now has, when the step decides one (`waste`)."
    )
    occurred_at: datetime = Field(description="When the step happened (UTC).")
    sequence: int = Field(ge=1, description="The custody log entry that moved it.")
    handler_id: str = Field(description="Handler that reported the step.")
    source_event_id: str = Field(description="CloudEvents id (or EPCIS event hash) of the step.")
    responsible_operator: str | None = Field(
        default=None,
        description="When responsibility for the battery moves with this change (it became waste): the party now "
        "responsible (a handler id, a tenant, or a compliance scheme's id).",
        examples=["northern-recycling"],
    )
    responsible_party_kind: ResponsiblePartyKind | None = Field(
        default=None, description="What kind of party `responsible_operator` is.", examples=["waste_operator"]
    )
    responsibility_basis: ResponsibilityBasis | None = Field(
        default=None, description="Why responsibility moved.", examples=["collection"]
    )
    corrects_sequence: int | None = Field(
        default=None,
        ge=1,
        description="Set when an error declaration took an erroneous custody log entry out (EPCIS "
        "errorDeclaration): that entry's sequence (`sequence` is the declaration's entry). `occurred_at` is the "
        "erroneous entry's event time; `stage` (and `status`, when given) are the ones the passport has without it. "
        "A read model folding in event time undoes the change that entry caused, then applies these.",
        examples=[2],
    )


class ResponsibleParty(BaseModel):
    """The party responsible for a waste battery from now on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ResponsiblePartyKind = Field(description="producer, compliance_scheme or waste_operator.")
    id: str = Field(
        min_length=2,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="Its id: the producer's tenant, the compliance scheme's registration id, or the waste "
        "operator's handler id (a verified handler).",
        examples=["northern-recycling"],
    )


class WasteDeclarationRequest(BaseModel):
    """The owner or the holder declares a battery waste (no new passport; Art. 77(7)): responsibility moves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    responsible_party: ResponsibleParty = Field(description="Who is responsible for the waste battery from now on.")
    reason: str = Field(
        min_length=1,
        max_length=500,
        description="Why the battery is waste.",
        examples=["Capacity below 60 %; the fleet operator discards it."],
    )
    occurred_at: AwareDatetime | None = Field(
        default=None, description="When the battery became waste, with UTC offset; now when absent."
    )


# --- EPCIS 2.0 documents on a topic ------------------------------------------------------------------------------


class EpcisDocumentSubmitted(Message):
    """An EPCIS 2.0 `EPCISDocument` (JSON / JSON-LD) as the body, published by a handler on
    `bpass.custody.epcis-documents.v1`. The body is the document itself; the EPCIS 2.0 rules are checked by
    the custody service, and refusals name the offending field (`epcisBody.eventList.0.action`)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    event_type = "eu.battery-passport.custody.epcis-document.v1"

    context: Any = Field(
        default=None,
        alias="@context",
        description="JSON-LD context; must reference the EPCIS 2.0 context.",
        examples=[["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"]],
    )
    type: str | None = Field(default=None, description="`EPCISDocument`.", examples=["EPCISDocument"])
    schemaVersion: str | None = Field(default=None, description="`2.0`.", examples=["2.0"])
    creationDate: str | None = Field(default=None, description="When the document was created.")
    epcisBody: dict[str, Any] | None = Field(default=None, description='`{"eventList": [...]}`.')


# --- EPCIS events a capture kept ------------------------------------------------------------------------------------


class CapturedEpcisEvent(BaseModel):
    """One event an EPCIS capture kept (recorded, flagged, parked or declaring an earlier event erroneous)."""

    model_config = ConfigDict(frozen=True)

    event_hash: str = Field(
        description="The event's CBV 2.0 event hash: its key in the EPCIS query interface.",
        examples=["ni:///sha-256;6f1d0c4b6f7a9e2d3c5b8a7f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d?ver=CBV2.0"],
    )
    event_id: str | None = Field(
        default=None, description="The event's `eventID`, when it has one.", examples=["urn:uuid:1b9d6bcd-bbfd-4b2d"]
    )
    event_type: str = Field(description="The EPCIS event type.", examples=["ObjectEvent"])


class EpcisEventsCaptured(Message):
    """An EPCIS capture (HTTP or topic) committed and kept these events; they are in the EPCIS query index from this
    fact on. Keyed by capture id. What query subscriptions (WebSocket, webhooks) deliver from: the events themselves
    stay in custody (a subscriber reads them through the query, with its own visibility)."""

    event_type = "eu.battery-passport.custody.epcis-events-captured.v1"

    capture_id: str = Field(description="The capture job's id (`/epcis/capture/{captureID}`).")
    record_time: AwareDatetime = Field(
        description="When the capture recorded the events (their EPCIS `recordTime` in the query index), UTC."
    )
    events: list[CapturedEpcisEvent] = Field(description="The events the capture kept, in document order.")
