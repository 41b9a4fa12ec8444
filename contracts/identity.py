"""Identity: mint requests in, passport facts out."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.base import Message
from contracts.passport_data import (
    STATIC_DATA_DIGEST_PATTERN,
    BatteryCategory,
    BatteryStatus,
    PassportSubject,
    StaticPassportData,
    static_data_digest,
)


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
    """A passport exists. Published once per (tenant, battery identifier); keyed by passport id.

    The model-level static data is one document shared by every passport of a model, so a fact names it by
    `static_data_digest` and carries it (`static_data`) only where a consumer could not know it yet: in the
    first fact of each partition that one publication (a mint request, bulk or single) writes. Facts of one
    partition are read in order, so a consumer that keeps the documents it has seen, by digest, can resolve
    every fact without asking anyone. A fact built with `static_data` and no digest gets the digest computed;
    one with both is refused if they disagree.
    """

    event_type = "eu.battery-passport.identity.passport-minted.v2"

    passport_id: str = Field(
        description="`urn:uuid:` + UUIDv7.", examples=["urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11"]
    )
    tenant: str = Field(description="Owning tenant (the OEM).", examples=["acme-cells"])
    subject: PassportSubject = Field(description="The battery, pack or batch it identifies.")
    category: BatteryCategory = Field(description="Battery category.")
    product_family: str | None = Field(default=None, description="OEM product family.")
    public_uri: str = Field(description="The URI the QR code encodes (GS1 Digital Link or `/p/<id>`).")
    static_data_digest: str = Field(
        pattern=STATIC_DATA_DIGEST_PATTERN,
        description="`sha256:` + hex SHA-256 of the static data document as minted, serialised as compact JSON "
        "with sorted keys and no null members (`contracts.passport_data.static_data_digest`).",
        examples=["sha256:3f0a9c1d5e7b2a4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d"],
    )
    static_data: StaticPassportData | None = Field(
        default=None,
        description="The document `static_data_digest` names, in the first fact of each partition of a "
        "publication; absent from the others (the consumer has read it earlier on the same partition).",
    )
    extensions: dict[str, Any] = Field(default_factory=dict, description="OEM extension values.")
    public_extensions: dict[str, Any] = Field(
        default_factory=dict,
        description='The extension values the family\'s schema marks `"x-public": true` when minted: shown on the '
        "public passport (the others are the owner's only).",
        examples=[{"recycling_hotline": "+49 30 1234567"}],
    )
    version: int = Field(ge=1, description="Passport data version, 1 at minting.")
    minted_at: datetime = Field(description="When it was minted (UTC).")
    minted_by: str = Field(description="Principal that minted it (API key id or message source).")
    predecessor_ids: list[str] = Field(
        default_factory=list,
        description="Art. 77(7): the passports of the batteries this one was made from by repurposing, "
        "remanufacturing or preparing for re-use (N to 1); empty for a battery placed on the market new.",
        examples=[["urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11", "urn:uuid:01936f0e-9a10-7b55-8e21-0c6d2f7a4b90"]],
    )

    @model_validator(mode="before")
    @classmethod
    def _digest_of_carried_document(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("static_data_digest") is None and data.get("static_data") is not None:
            static = data["static_data"]
            if not isinstance(static, StaticPassportData):
                static = StaticPassportData.model_validate(static)
            data = {**data, "static_data": static, "static_data_digest": static_data_digest(static)}
        return data

    @model_validator(mode="after")
    def _carried_document_matches(self) -> PassportMinted:
        if self.static_data is not None and static_data_digest(self.static_data) != self.static_data_digest:
            raise ValueError("static_data_digest does not match the static_data carried with it")
        return self


class PassportMintedV1(Message):
    """Retired: a passport exists, with its whole static data in every fact (~5 kB each).

    Superseded by `PassportMinted` on `bpass.identity.passport-minted.v2`, which names the static data document by
    digest. Kept so its committed schema still describes what the v1 topic holds; nothing publishes it any more.
    """

    # Its committed schema stays exactly as published (title and description included): a retired contract is
    # never edited.
    model_config = ConfigDict(
        **Message.model_config,
        title="PassportMinted",
        json_schema_extra={
            "description": "A passport exists. Published once per (tenant, battery identifier); keyed by passport id."
        },
    )

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
    predecessor_ids: list[str] = Field(
        default_factory=list,
        description="Art. 77(7): the passports of the batteries this one was made from by repurposing, "
        "remanufacturing or preparing for re-use (N to 1); empty for a battery placed on the market new.",
        examples=[["urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11", "urn:uuid:01936f0e-9a10-7b55-8e21-0c6d2f7a4b90"]],
    )


class PassportAmended(Message):
    """The static data (or the OEM extension values) of a passport changed: a new version exists.

    Published on `bpass.identity.passport-amended.v1`, keyed by passport id, once per new version. Nothing is
    overwritten: version N stays readable; this fact carries the complete data of the new version, the
    top-level fields that differ from the previous version, and who changed it, when and why.
    """

    event_type = "eu.battery-passport.identity.passport-amended.v1"

    passport_id: str = Field(
        description="`urn:uuid:` + UUIDv7 of the amended passport.",
        examples=["urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11"],
    )
    tenant: str = Field(description="Owning tenant (the OEM).", examples=["acme-cells"])
    version: int = Field(ge=2, description="The new passport data version (the minted data is version 1).")
    previous_version: int = Field(ge=1, description="The version this amendment was applied to.", examples=[1])
    changed_fields: list[str] = Field(
        min_length=1,
        description="Top-level fields whose value differs from the previous version: names of static data "
        "fields, or `extensions.<name>` for OEM extension values.",
        examples=[["weight_kg", "expected_lifetime_cycles"]],
    )
    static_data: StaticPassportData = Field(description="Model-level data of the new version, complete.")
    extensions: dict[str, Any] = Field(
        default_factory=dict, description="OEM extension values of the new version, complete."
    )
    public_extensions: dict[str, Any] = Field(
        default_factory=dict,
        description="The new version's extension values the family's schema marks `\"x-public\": true`: shown on the "
        "public passport.",
        examples=[{"recycling_hotline": "+49 30 1234567"}],
    )
    amended_at: datetime = Field(description="When the new version was recorded (UTC).")
    amended_by: str = Field(
        description="Principal that amended it (`<role>:<tenant>:<API key id>`).",
        examples=["oem_admin:acme-cells:key_3f2a9c1b7d4e"],
    )
    reason: str = Field(
        min_length=1,
        max_length=500,
        description="Why the data changed, as given by the person or system amending it.",
        examples=["Corrected the rated capacity after the type-approval test."],
    )


class MintDefaults(BaseModel):
    """Model-level values a bulk mint request gives once, for every passport that does not give its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: BatteryCategory | None = Field(
        default=None, description="Battery category of every passport that names none.", examples=["ev"]
    )
    product_family: str | None = Field(
        default=None,
        max_length=100,
        description="OEM product family of every passport that names none.",
        examples=["PowerCell-NMC811"],
    )
    static_data: StaticPassportData | None = Field(
        default=None,
        description="Model-level static data shared by the passports; a passport's own `static_data` fields "
        "replace these field by field (a field it sets to null is removed).",
    )
    extensions: dict[str, Any] | None = Field(
        default=None,
        description="OEM extension values shared by the passports; a passport's own `extensions` keys replace "
        "these key by key.",
    )


class BulkPassportItem(BaseModel):
    """One passport of a bulk mint request: its subject, and what it does not take from the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: PassportSubject = Field(description="The battery, pack or batch the passport is for.")
    category: BatteryCategory | None = Field(
        default=None, description="Battery category; required unless the defaults give one.", examples=["ev"]
    )
    product_family: str | None = Field(
        default=None, max_length=100, description="OEM product family (selects the extension schema)."
    )
    static_data: StaticPassportData | None = Field(
        default=None, description="Static data fields of this passport; they replace the defaults' fields."
    )
    extensions: dict[str, Any] | None = Field(
        default=None, description="OEM extension values of this passport; they replace the defaults' keys."
    )


class BulkMintRequest(BaseModel):
    """Up to 100,000 passports minted in one transaction (all or nothing; retrying mints nothing twice).

    Static data is model-level: batteries of one model share it. Give it once in `defaults` and per passport
    only its subject (the request stays small: ~100 bytes a passport instead of ~6 kB), or give complete
    passports as in a single mint; both may be mixed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: MintDefaults | None = Field(default=None, description="Values shared by every passport.")
    passports: list[BulkPassportItem] = Field(
        min_length=1, max_length=100_000, description="Passports to mint, in the order results are returned."
    )


class AmendPassportRequest(BaseModel):
    """A change of a passport's static data (and/or OEM extension values), as a JSON merge patch (RFC 7396)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(
        min_length=1,
        max_length=500,
        description="Why the data changes; recorded with the new version and published.",
        examples=["Corrected the rated capacity after the type-approval test."],
    )
    static_data: dict[str, Any] = Field(
        default_factory=dict,
        description="Merge patch on the current static data: a field given replaces it, null removes it, "
        "objects merge recursively. The merged result must meet every rule of the category.",
        examples=[{"rated_capacity_ah": "230", "warranty_period_months": 120}],
    )
    extensions: dict[str, Any] = Field(
        default_factory=dict,
        description="Merge patch on the current OEM extension values; the result must match the family's "
        "extension schema.",
        examples=[{"cell_supplier_code": "CS-17"}],
    )


class ExtensionSchema(BaseModel):
    """A tenant's JSON Schema (draft 2020-12) for the OEM extension values of one product family."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    product_family: str = Field(max_length=100, description="The product family.", examples=["PowerCell-NMC811"])
    version: int = Field(ge=1, description="Version of the family's schema; a changed schema is a new version.")
    json_schema: dict[str, Any] = Field(
        description='The schema (draft 2020-12, `type: object`). A property with `"x-public": true` is shown '
        "on the public passport; every other extension value is private to the owner.",
        examples=[
            {
                "type": "object",
                "properties": {
                    "cell_supplier_code": {"type": "string"},
                    "recycling_hotline": {"type": "string", "x-public": True},
                },
                "additionalProperties": False,
            }
        ],
    )
    public_fields: list[str] = Field(
        description="Dotted paths of the properties marked `x-public`.", examples=[["recycling_hotline"]]
    )
    declared_at: datetime = Field(description="When this version was declared (UTC).")
    declared_by: str = Field(description="Principal that declared it.")


# --- Second life (Art. 77(7)) ---------------------------------------------------------------------------------


class SecondLifeOperation(StrEnum):
    """What was done to the predecessor batteries to make the new one (Art. 77(7))."""

    repurposing = "repurposing"
    remanufacturing = "remanufacturing"
    preparing_for_re_use = "preparing_for_re_use"


# The Annex XIII 4(c) status the operation gives the new battery, and its predecessors.
STATUS_AFTER_OPERATION: dict[SecondLifeOperation, BatteryStatus] = {
    SecondLifeOperation.repurposing: BatteryStatus.repurposed,
    SecondLifeOperation.remanufacturing: BatteryStatus.remanufactured,
    SecondLifeOperation.preparing_for_re_use: BatteryStatus.re_used,
}


class SecondLifeRequest(BaseModel):
    """A second-life operator (or the OEM) made a new battery from one or more predecessors: mint its passport.

    The new passport belongs to the caller's tenant; the predecessors are linked to it, their status changes and
    responsibility for them moves to the caller. The same (tenant, battery identifier) again returns the same
    passport (idempotent).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: SecondLifeOperation = Field(description="What was done.", examples=["repurposing"])
    predecessor_ids: list[str] = Field(
        min_length=1,
        max_length=1000,
        description="`urn:uuid:` passport ids of the batteries (or packs) the new battery was made from; each "
        "must be in the caller's custody, or the caller is the OEM owning it.",
        examples=[["urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11"]],
    )
    subject: PassportSubject = Field(description="The new battery (its identifier in the operator's namespace).")
    category: BatteryCategory = Field(
        description="Category of the new battery; may differ from the predecessors' (EV packs into a stationary "
        "battery).",
        examples=["stationary"],
    )
    product_family: str | None = Field(
        default=None, max_length=100, description="The operator's product family.", examples=["GridStack-2L"]
    )
    static_data: StaticPassportData = Field(
        description="Model-level data of the new battery, checked by the rules of minting. `battery_status`, when "
        "given, must be the status the operation gives (repurposed, remanufactured, re-used)."
    )
    extensions: dict[str, Any] = Field(
        default_factory=dict, description="The operator's extension fields, validated against its family's schema."
    )
    occurred_at: AwareDatetime | None = Field(
        default=None, description="When the operation was completed, with UTC offset; now when absent."
    )
    reason: str | None = Field(
        default=None,
        max_length=500,
        description="A note on the operation, recorded with it.",
        examples=["Modules of two EV packs reassembled into a 60 kWh stationary storage unit."],
    )


class PassportSuperseded(Message):
    """A passport was continued by a new one (repurposing, remanufacturing, preparing for re-use; Art. 77(7)).

    Published on `bpass.identity.passport-superseded.v1` once per predecessor and operation, keyed by the
    predecessor's passport id. The predecessor stays readable; its status changes and responsibility for it moves
    to the operator that made the new battery.
    """

    event_type = "eu.battery-passport.identity.passport-superseded.v1"

    passport_id: str = Field(
        description="The predecessor passport (`urn:uuid:`).",
        examples=["urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11"],
    )
    tenant: str = Field(description="The predecessor's owning tenant (the original OEM).", examples=["acme-cells"])
    successor_id: str = Field(
        description="The new battery's passport.", examples=["urn:uuid:01937a11-0b2c-7d4e-8f60-1a2b3c4d5e6f"]
    )
    successor_tenant: str = Field(description="Tenant owning the new passport.", examples=["gridstack-energy"])
    operation: SecondLifeOperation = Field(description="What was done.", examples=["repurposing"])
    status: BatteryStatus = Field(
        description="The predecessor's Annex XIII 4(c) status from now on.", examples=["repurposed"]
    )
    responsible_operator: str = Field(
        description="The economic operator now responsible for the predecessor (Art. 77(7)): the tenant that made "
        "the new battery.",
        examples=["gridstack-energy"],
    )
    superseded_at: datetime = Field(description="When the operation was completed (UTC).")
    superseded_by: str = Field(
        description="Principal that recorded it (`<role>:<tenant>:<API key id>`).",
        examples=["repairer:gridstack-energy:key_3f2a9c1b7d4e"],
    )
