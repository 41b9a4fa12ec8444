"""Reporting: per-tenant passport change streams."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from contracts.base import Message


class PassportChanged(Message):
    """A passport's read model changed; on `bpass.tenant.<tenant>.passport-changes.v1`, keyed by passport id."""

    event_type = "eu.battery-passport.reporting.passport-changed.v1"

    passport_id: str = Field(description="Passport that changed.")
    tenant: str = Field(description="Owning tenant.")
    version: int = Field(
        ge=1,
        description="Read-model revision after the change: it counts every version the read model wrote of this "
        "passport, including those written again when a late fact was folded where it belongs (then the versions it "
        "replaced are superseded). Not identity's `data_version` (the static data's version, identity's ETag).",
    )
    change: str = Field(description="What changed.", examples=["minted", "custody_recorded"])
    changed_fields: list[str] = Field(
        description="Read-model fields the change touched: top-level fields, and for an amendment the static data "
        "and extension fields it changed (`static_data.warranty_period_months`, `extensions.fleet`)."
    )
    changed_at: datetime = Field(description="When the read model changed (UTC): record time.")
    state: dict[str, Any] = Field(description="The passport's owner-tier read model after the change.")
    valid_from: datetime | None = Field(
        default=None,
        description="Event time: when what this version shows happened (the time of the fact that made it). A late "
        "fact makes versions whose valid_from lies before earlier messages'.",
    )
    data_version: int | None = Field(
        default=None, description="Identity's data version of the static data (its ETag) in this state."
    )


class PassportState(Message):
    """The latest read model of one passport, on the compacted `bpass.tenant.<tenant>.passport-state.v1`.

    Keyed by passport id; the topic keeps the last record per key, so a late subscriber reads it from the
    beginning and has every passport's current state. Published after each batch that changes the passport
    (intermediate versions of one batch are on the change stream only).
    """

    event_type = "eu.battery-passport.reporting.passport-state.v1"

    passport_id: str = Field(
        description="Passport (the record key).", examples=["urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11"]
    )
    tenant: str = Field(description="Owning tenant.", examples=["acme-cells"])
    version: int = Field(ge=1, description="Read-model version of `state`.", examples=[3])
    ceased: bool = Field(
        description="Whether the passport has ceased (Art. 77(8)): closed, history kept.", examples=[False]
    )
    updated_at: datetime = Field(description="When the read model reached this version (UTC).")
    state: dict[str, Any] = Field(description="The passport's owner-tier read model at `version`.")
