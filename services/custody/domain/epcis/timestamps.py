"""EPCIS timestamps: strict RFC 3339 parsing and the CBV 2.0 canonical form (UTC, milliseconds, ``Z``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

_TIMESTAMP: Final = re.compile(
    r"(?P<wall>\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d+))?(?P<offset>[Zz]|[+-]\d{2}:\d{2})?"
)
_TIME_ZONE_OFFSET: Final = re.compile(r"[+-](?:(?:0\d|1[0-3]):[0-5]\d|14:00)")


def _parse(text: str, *, require_offset: bool) -> datetime | None:
    """The instant, truncated to microseconds (``datetime`` precision)."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None or (require_offset and match["offset"] is None):
        return None
    fraction = (match["fraction"] or "").ljust(6, "0")
    offset = (match["offset"] or "Z").upper().replace("Z", "+00:00")
    try:
        instant = datetime.fromisoformat(f"{match['wall'].upper()}.{fraction[:6]}{offset}")
        instant.astimezone(UTC)  # 0001-01-01T00:00+01:00 is no instant a datetime can hold in UTC
    except (ValueError, OverflowError):
        return None
    return instant


def parse_timestamp(text: str) -> datetime | None:
    """An RFC 3339 date-time *with* offset as an aware UTC datetime, or None if it is not one."""
    parsed = _parse(text, require_offset=True)
    return parsed.astimezone(UTC) if parsed else None


def is_time_zone_offset(text: str) -> bool:
    """``±hh:mm`` within -14:00..+14:00, as EPCIS ``eventTimeZoneOffset`` requires."""
    return _TIME_ZONE_OFFSET.fullmatch(text) is not None


def canonical_utc_millis(text: str) -> str | None:
    """The CBV 2.0 hash form ``YYYY-MM-DDTHH:MM:SS.mmmZ`` of a timestamp, or None if it is not one.

    Like the reference implementation, digits past the microsecond are dropped and the microseconds are
    then rounded half-to-even to milliseconds (``.1415`` -> ``.142``); a carry moves into the seconds
    instead of failing. A timestamp without offset is read as UTC so the result never depends on the host.
    """
    parsed = _parse(text, require_offset=False)
    if parsed is None:
        return None
    instant = parsed.astimezone(UTC)
    rounded_ms = round(instant.microsecond, -3)
    try:
        instant = instant.replace(microsecond=0) + timedelta(microseconds=rounded_ms)
    except OverflowError:  # 9999-12-31T23:59:59.9996Z rounds past the last datetime
        return None
    return instant.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
