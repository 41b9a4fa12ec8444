"""The schedule of an EPCIS query subscription (the binding's `QuerySchedule`, EPCIS 1.2 section 8.2.5.3, kept by
EPCIS 2.0): fields `second`, `minute`, `hour`, `dayOfMonth`, `month`, `dayOfWeek`, each a string in a cron-like
syntax, and the instants (UTC) a subscription runs at. Pure: no I/O, no clock.

Each field is a comma-separated list of elements; an element is a number, a range `[low-high]` (the binding's
form; `low-high` too), or `*` (every value), optionally followed by a step `/n` (`*/15`, `[0-30]/10`). Ranges are
`second` and `minute` 0-59, `hour` 0-23, `dayOfMonth` 1-31, `month` 1-12, `dayOfWeek` 1-7 (1 is Monday, 7 Sunday,
ISO 8601). An omitted field matches every value, except `second`, which is 0 when omitted (a schedule runs at most
once a second; without a `second` field, at most once a minute). An instant matches when every field matches it: a
`dayOfMonth` and a `dayOfWeek` both given are both required (unlike cron's either-one rule). A schedule that never
runs (`dayOfMonth` 30 in `month` 2) is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

FIELDS: Final = ("second", "minute", "hour", "dayOfMonth", "month", "dayOfWeek")
BOUNDS: Final = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "dayOfMonth": (1, 31),
    "month": (1, 12),
    "dayOfWeek": (1, 7),
}
MAX_FIELD_LENGTH: Final = 200
# A 29 February on a given weekday comes back within 28 years (the Gregorian weekday cycle of leap days, century
# years aside): a schedule with no instant in that span has none.
SEARCH_DAYS: Final = 366 * 29
_ELEMENT: Final = re.compile(r"^(?:(\*)|\[(\d{1,2})-(\d{1,2})\]|(\d{1,2})-(\d{1,2})|(\d{1,2}))(?:/(\d{1,2}))?$")


class ScheduleError(ValueError):
    """A schedule refused: the field (`schedule.<name>`, or `schedule`), a stable reason code and a sentence."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.field, self.reason, self.message = field, reason, message


@dataclass(frozen=True)
class Schedule:
    """The values each field matches, and the fields as given (answered back and stored)."""

    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    given: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, str]:
        return dict(self.given)

    def runs_on(self, day: date) -> bool:
        return day.month in self.months and day.day in self.days_of_month and day.isoweekday() in self.days_of_week

    def next_after(self, after: datetime) -> datetime:
        """The first instant strictly after `after` (timezone-aware; whole seconds) the schedule runs at, in UTC."""
        if after.tzinfo is None:
            raise ValueError("after must be timezone-aware")
        start = after.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
        found = self._search(start)
        if found is None:  # refused at parsing: a parsed schedule always has an instant
            raise ValueError("the schedule never runs")
        return found

    def _search(self, start: datetime) -> datetime | None:
        day = start.date()
        earliest: time | None = start.time().replace(tzinfo=None)
        for _ in range(SEARCH_DAYS):
            if self.runs_on(day):
                at = self._first_time_from(earliest or time(0, 0, 0))
                if at is not None:
                    return datetime.combine(day, at, tzinfo=UTC)
            earliest = None
            day = _next_day(day, self.months)
            if day.year > 9998:
                return None
        return None

    def _first_time_from(self, earliest: time) -> time | None:
        for hour in sorted(h for h in self.hours if h >= earliest.hour):
            first_minute = earliest.minute if hour == earliest.hour else 0
            for minute in sorted(m for m in self.minutes if m >= first_minute):
                first_second = earliest.second if (hour, minute) == (earliest.hour, earliest.minute) else 0
                second = min((s for s in self.seconds if s >= first_second), default=None)
                if second is not None:
                    return time(hour, minute, second)
        return None


def _next_day(day: date, months: frozenset[int]) -> date:
    """The next day, skipping whole months the schedule does not run in."""
    following = day + timedelta(days=1)
    while following.month not in months and following.year <= 9998:
        following = date(following.year + following.month // 12, following.month % 12 + 1, 1)
    return following


def _field_values(name: str, text: object) -> frozenset[int]:
    field = f"schedule.{name}"
    if not isinstance(text, str):
        raise ScheduleError(field, "invalid_schedule_field", f"{field} is a string such as \"0\", \"[0-30]\", "
                            "\"0,15,30,45\" or \"*/5\".")  # fmt: skip
    low, high = BOUNDS[name]
    compact = text.replace(" ", "")
    if not compact or len(text) > MAX_FIELD_LENGTH:
        raise ScheduleError(field, "invalid_schedule_field", f"{field} is empty or longer than {MAX_FIELD_LENGTH}.")
    values: set[int] = set()
    for element in compact.split(","):
        match = _ELEMENT.match(element)
        if match is None:
            raise ScheduleError(field, "invalid_schedule_field", f"{field}: {element!r} is not a number, a range "
                                "[low-high], * or one of them with a step /n.")  # fmt: skip
        star, bracket_low, bracket_high, bare_low, bare_high, single, step_text = match.groups()
        if star:
            first, last = low, high
        elif single is not None:
            first = last = int(single)
        else:
            first, last = int(bracket_low or bare_low), int(bracket_high or bare_high)
        for value in (first, last):
            if not low <= value <= high:
                raise ScheduleError(field, "schedule_value_out_of_range",
                                    f"{field}: {value} is outside {low}-{high}.")  # fmt: skip
        if first > last:
            raise ScheduleError(field, "invalid_schedule_range", f"{field}: the range {element!r} ends before it "
                                "starts.")  # fmt: skip
        step = int(step_text) if step_text is not None else 1
        if step == 0:
            raise ScheduleError(field, "invalid_schedule_step", f"{field}: a step is at least 1.")
        if step_text is not None and single is not None:
            last = high  # "5/15": from 5, every 15 up to the field's end
        values.update(range(first, last + 1, step))
    return frozenset(values)


def parse_schedule(fields: Mapping[str, object]) -> Schedule:
    """A schedule from the binding's fields (JSON object or query parameters); ScheduleError naming the field."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ScheduleError(f"schedule.{unknown[0]}", "unknown_schedule_field",
                            f"{unknown[0]} is not a schedule field ({', '.join(FIELDS)}).")  # fmt: skip
    if not fields:
        raise ScheduleError("schedule", "empty_schedule", f"A schedule gives at least one of {', '.join(FIELDS)}.")
    values = {
        name: _field_values(name, fields[name]) if name in fields else frozenset(range(BOUNDS[name][0],
                                                                                          BOUNDS[name][1] + 1))
        for name in FIELDS
    }  # fmt: skip
    if "second" not in fields:
        values["second"] = frozenset({0})
    schedule = Schedule(
        seconds=values["second"],
        minutes=values["minute"],
        hours=values["hour"],
        days_of_month=values["dayOfMonth"],
        months=values["month"],
        days_of_week=values["dayOfWeek"],
        given=tuple((name, str(fields[name]).replace(" ", "")) for name in FIELDS if name in fields),
    )
    if schedule._search(datetime(2000, 1, 1, tzinfo=UTC)) is None:
        raise ScheduleError("schedule", "schedule_never_runs", "No date matches dayOfMonth, month and dayOfWeek "
                            "together: the schedule would never run.")  # fmt: skip
    return schedule


__all__ = ["FIELDS", "Schedule", "ScheduleError", "parse_schedule"]
