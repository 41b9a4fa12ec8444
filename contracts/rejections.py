"""Rejection facts: every inbound message the platform refuses is answered on a `…rejected.v1` topic."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from contracts.base import Message
from contracts.errors import Violation


class MessageRejected(Message):
    """An inbound message was refused; the publisher reads why here, keyed like the message it refuses."""

    event_type = "eu.battery-passport.platform.message-rejected.v1"

    rejected_topic: str = Field(
        description="Topic the refused message was read from.", examples=["bpass.custody.events.v1"]
    )
    rejected_partition: int = Field(ge=0, description="Its partition.")
    rejected_offset: int = Field(ge=0, description="Its offset.")
    rejected_ce_id: str | None = Field(default=None, description="Its CloudEvents id, when it had one.")
    rejected_ce_source: str | None = Field(default=None, description="Its CloudEvents source, when it had one.")
    rejected_ce_type: str | None = Field(default=None, description="Its CloudEvents type, when it had one.")
    rejected_at: datetime = Field(description="When the platform refused it (UTC).")
    violations: list[Violation] = Field(
        min_length=1, description="Every rule the message broke, each with field, reason code and sentence."
    )
