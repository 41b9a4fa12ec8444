"""The shape of every rejection the platform gives back, over HTTP and on `…rejected.v1` topics."""

from __future__ import annotations

from datetime import datetime, timedelta

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


# A time a sender says something happened or was measured may run ahead of the receiving clock by this much.
CLOCK_SKEW = timedelta(minutes=5)
DATE_IN_FUTURE = "date_in_future"


def future_violation(field: str, at: datetime, now: datetime, what_to_do: str) -> Violation | None:
    """The rule every service holds a reported time to: it lies no more than CLOCK_SKEW after `now` (reason
    `date_in_future`, the same wherever the time is given)."""
    if at <= now + CLOCK_SKEW:
        return None
    name = field.rsplit(".", 1)[-1]
    return Violation(
        field=field, reason=DATE_IN_FUTURE, message=f"{name} {at.isoformat()} lies in the future; {what_to_do}."
    )
