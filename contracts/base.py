"""Base class of every message payload."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class Message(BaseModel):
    """A versioned payload; `event_type` is the CloudEvents `type` that carries it."""

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="strings")

    event_type: ClassVar[str]
