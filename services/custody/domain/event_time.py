"""The window of event times custody accepts: what happened must lie between 2000-01-01 and a day after receipt.

The lower bound: no battery a passport is minted for (EU 2023/1542 applies to batteries placed on the market
from 2024-2027) was made before 2000; commercial lithium-ion EV packs, the oldest batteries that may still reach
second life or recycling, date from the late 1990s. It also keeps times far from `datetime.min` / `max`, which
PostgreSQL stores as -infinity / infinity (and the hash chain would then no longer verify what it recorded).
The upper bound: a sender's clock may run ahead, or stamp local time as UTC (at most 14 h); a day covers both,
and nothing reported can have happened later than that.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.errors import Violation

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
AHEAD = timedelta(hours=24)
OUT_OF_RANGE = "occurred_at_out_of_range"


def event_time_violations(occurred_at: datetime, received_at: datetime, field: str = "occurred_at") -> list[Violation]:
    """[] when `occurred_at` lies in [EARLIEST, received_at + AHEAD]; else the violation naming `field`."""
    latest = received_at + AHEAD
    if EARLIEST <= occurred_at <= latest:
        return []
    return [
        Violation(
            field=field,
            reason=OUT_OF_RANGE,
            message=f"{occurred_at.isoformat()} is outside the accepted window: from {EARLIEST.date().isoformat()} "
            f"to {int(AHEAD.total_seconds() // 3600)} h after it was received ({latest.isoformat()}).",
        )
    ]
