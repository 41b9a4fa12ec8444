"""Identity: mint requests in, passport facts out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import Message
from contracts.passport_data import BatteryCategory, PassportSubject, StaticPassportData


class PassportSpec(BaseModel):
    """One passport to mint: which battery, pack or batch, its category and its model-level data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: PassportSubject = Field(description="The battery, pack or batch the passport is for.")
    category: BatteryCategory = Field(description="Battery category; decides which attributes are mandatory.")
    product_family: str | None = Field(
        default=None,
        max_length=100,
        description="OEM product family, selects the extension schema.",
        examples=["PowerCell-NMC811"],
    )
    static_data: StaticPassportData = Field(description="Model-level (static) passport data.")
    extensions: dict[str, Any] = Field(
        default_factory=dict, description="OEM extension fields, validated against the family's schema."
    )


class MintPassportsRequested(Message):
    """A request to mint passports, sent by an OEM system on `bpass.identity.mint-requests.v1`."""

    event_type = "eu.battery-passport.identity.mint-requested.v1"

    passports: list[PassportSpec] = Field(min_length=1, max_length=100_000, description="Passports to mint.")


class PassportMinted(Message):
    """A passport exists. Published once per (tenant, battery identifier); keyed by passport id."""

    event_type = "eu.battery-passport.identity.passport-minted.v1"

    passport_id: str = Field(
        description="`urn:uuid:` + UUIDv7.", examples=["urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11"]
    )
    tenant: str = Field(description="Owning tenant (the OEM).", examples=["acme-cells"])
    subject: PassportSubject = Field(description="The battery, pack or batch it identifies.")
    category: BatteryCategory = Field(description="Battery category.")
    product_family: str | None = Field(default=None, description="OEM product family.")
    public_uri: str = Field(description="The URI the QR code encodes (GS1 Digital Link or `/p/<id>`).")
    static_data: StaticPassportData = Field(description="Model-level data as minted.")
    extensions: dict[str, Any] = Field(default_factory=dict, description="OEM extension values.")
    version: int = Field(ge=1, description="Passport data version, 1 at minting.")
    minted_at: datetime = Field(description="When it was minted (UTC).")
    minted_by: str = Field(description="Principal that minted it (API key id or message source).")
