"""Custody: native custody events in, custody facts out."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.base import Message


class CustodyEventKind(StrEnum):
    dispatch = "dispatch"
    handover = "handover"
    receipt = "receipt"
    collection = "collection"
    storage = "storage"
    treatment_start = "treatment_start"


class CustodyTargets(BaseModel):
    """What the event is about: passports directly, or battery identifiers / Digital Link URIs, packs, batches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    passport_ids: list[str] = Field(default_factory=list, max_length=10_000, description="`urn:uuid:` passport ids.")
    battery_identifiers: list[str] = Field(
        default_factory=list, max_length=10_000, description="OEM battery identifiers or Digital Link URIs."
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
        pattern=r"^\d{2} \d{2} \d{2}\*?$",
        description="European Waste Catalogue code.",
        examples=["16 06 01*"],
    )

    @model_validator(mode="after")
    def _has_target(self) -> CustodyEventReported:
        if not self.targets.passport_ids and not self.targets.battery_identifiers:
            raise ValueError("targets must name at least one passport id or battery identifier")
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
