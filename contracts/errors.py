"""The shape of every rejection the platform gives back, over HTTP and on `…rejected.v1` topics."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Violation(BaseModel):
    """One broken rule: which field, which rule (a stable reason code), and a sentence for a person."""

    model_config = ConfigDict(frozen=True)

    field: str = Field(
        description="JSON path of the offending field, dotted, with list indexes (`batteries.3.gtin`); "
        "empty when the rule concerns the whole message.",
        examples=["batteries.3.gtin"],
    )
    reason: str = Field(
        description="Stable machine-readable reason code, lower snake case, never reworded once published.",
        examples=["gtin_check_digit"],
    )
    message: str = Field(
        description="What is wrong and what to do about it, in one sentence.",
        examples=["GTIN 04012345678902 has check digit 2, expected 1."],
    )


class ValidationFailed(Exception):
    """Raised by domain rules; carries every violation found, not only the first."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("; ".join(f"{v.field or '<message>'}: {v.reason}: {v.message}" for v in violations))
