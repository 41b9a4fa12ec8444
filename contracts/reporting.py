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
    version: int = Field(ge=1, description="Read-model version after the change.")
    change: str = Field(description="What changed.", examples=["minted", "custody_recorded"])
    changed_fields: list[str] = Field(description="Top-level read-model fields the change touched.")
    changed_at: datetime = Field(description="When the read model changed (UTC).")
    state: dict[str, Any] = Field(description="The passport's owner-tier read model after the change.")
