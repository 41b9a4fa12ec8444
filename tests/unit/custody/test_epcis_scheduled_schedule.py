"""The schedule of EPCIS query subscriptions: the binding's fields in their cron-like syntax, the next instant a
schedule runs at after a given time (month ends, leap days, day of month and day of week together), and the schedules
refused, each naming its field with a stable reason code."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.custody.subscriptions.schedule import ScheduleError, parse_schedule


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "after", "expected"),
    [
        # every second / every other second
        ({"second": "*"}, "2026-12-07T10:00:00", "2026-12-07T10:00:01"),
        ({"second": "*/2"}, "2026-12-07T10:00:00", "2026-12-07T10:00:02"),
        ({"second": "*/2"}, "2026-12-07T10:00:01.500", "2026-12-07T10:00:02"),
        ({"second": "*/2"}, "2026-12-07T10:00:59", "2026-12-07T10:01:00"),
        # second omitted: 0
        ({"minute": "*"}, "2026-12-07T10:00:00", "2026-12-07T10:01:00"),
        ({"minute": "30"}, "2026-12-07T10:30:00", "2026-12-07T11:30:00"),
        ({"minute": "30"}, "2026-12-07T10:29:59.999", "2026-12-07T10:30:00"),
        ({"minute": "0,15,30,45"}, "2026-12-07T10:16:00", "2026-12-07T10:30:00"),
        ({"minute": "[10-12]"}, "2026-12-07T10:12:00", "2026-12-07T11:10:00"),
        ({"minute": "10-12"}, "2026-12-07T10:10:00", "2026-12-07T10:11:00"),
        ({"minute": "[0-30]/10"}, "2026-12-07T10:21:00", "2026-12-07T10:30:00"),
        ({"minute": "[0-30]/10"}, "2026-12-07T10:30:00", "2026-12-07T11:00:00"),
        ({"minute": "5/20"}, "2026-12-07T10:26:00", "2026-12-07T10:45:00"),
        ({"second": "0", "minute": "0", "hour": "0"}, "2026-12-31T23:59:59", "2027-01-01T00:00:00"),
        ({"hour": "3", "minute": "15", "second": "30"}, "2026-12-07T03:15:30", "2026-12-08T03:15:30"),
        ({"hour": "[9-17]", "minute": "0"}, "2026-12-07T17:00:00", "2026-12-08T09:00:00"),
        # month ends
        ({"dayOfMonth": "31", "hour": "0", "minute": "0"}, "2026-04-01T00:00:00", "2026-05-31T00:00:00"),
        ({"dayOfMonth": "30", "hour": "12", "minute": "0"}, "2027-01-30T12:00:00", "2027-03-30T12:00:00"),
        ({"dayOfMonth": "1", "hour": "0", "minute": "0"}, "2026-12-15T00:00:00", "2027-01-01T00:00:00"),
        # leap days
        ({"month": "2", "dayOfMonth": "29", "hour": "0", "minute": "0"}, "2026-03-01T00:00:00", "2028-02-29T00:00:00"),
        ({"month": "2", "dayOfMonth": "29", "hour": "0", "minute": "0"}, "2028-02-29T00:00:00", "2032-02-29T00:00:00"),
        # 29 February 2096 is a Wednesday; 2100 is no leap year
        (
            {"month": "2", "dayOfMonth": "29", "dayOfWeek": "3", "hour": "0", "minute": "0"},
            "2090-01-01T00:00:00",
            "2096-02-29T00:00:00",
        ),
        # day of week: 1 Monday .. 7 Sunday (2026-12-07 is a Monday)
        ({"dayOfWeek": "1", "hour": "8", "minute": "0"}, "2026-12-07T08:00:00", "2026-12-14T08:00:00"),
        ({"dayOfWeek": "7", "hour": "8", "minute": "0"}, "2026-12-07T08:00:00", "2026-12-13T08:00:00"),
        ({"dayOfWeek": "[6-7]", "hour": "0", "minute": "0"}, "2026-12-07T00:00:00", "2026-12-12T00:00:00"),
        # day of month and day of week both required: Friday the 13th
        (
            {"dayOfMonth": "13", "dayOfWeek": "5", "hour": "0", "minute": "0"},
            "2026-12-07T00:00:00",
            "2027-08-13T00:00:00",
        ),
        # month lists and ranges
        (
            {"month": "[6-8]", "dayOfMonth": "1", "hour": "0", "minute": "0"},
            "2026-08-01T00:00:00",
            "2027-06-01T00:00:00",
        ),
        (
            {"month": "1,7", "dayOfMonth": "15", "hour": "6", "minute": "0"},
            "2026-07-15T06:00:01",
            "2027-01-15T06:00:00",
        ),
        # spaces allowed in lists
        ({"second": "0, 30"}, "2026-12-07T10:00:00", "2026-12-07T10:00:30"),
    ],
)
def test_the_next_instant_after_a_time(fields: dict[str, str], after: str, expected: str) -> None:
    assert parse_schedule(fields).next_after(at(after)) == at(expected)


def test_instants_follow_each_other_without_a_gap_or_a_repeat() -> None:
    schedule = parse_schedule({"second": "*/15"})
    instant, seen = at("2026-12-07T23:59:00"), []
    for _ in range(8):
        instant = schedule.next_after(instant)
        seen.append(instant.strftime("%H:%M:%S"))
    assert seen == ["23:59:15", "23:59:30", "23:59:45", "00:00:00", "00:00:15", "00:00:30", "00:00:45", "00:01:00"]


def test_a_time_in_another_offset_is_read_as_its_utc_instant() -> None:
    after = datetime.fromisoformat("2026-12-07T12:00:30+02:00")
    assert parse_schedule({"hour": "10", "minute": "0"}).next_after(after) == at("2026-12-08T10:00:00")


def test_the_fields_given_are_kept_as_given() -> None:
    assert parse_schedule({"minute": "0, 30", "hour": "[9-17]"}).as_dict() == {"minute": "0,30", "hour": "[9-17]"}


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({}, "schedule", "empty_schedule"),
        ({"seconds": "0"}, "schedule.seconds", "unknown_schedule_field"),
        ({"second": 5}, "schedule.second", "invalid_schedule_field"),
        ({"second": ""}, "schedule.second", "invalid_schedule_field"),
        ({"minute": "a"}, "schedule.minute", "invalid_schedule_field"),
        ({"minute": "1,,2"}, "schedule.minute", "invalid_schedule_field"),
        ({"minute": "[1-2"}, "schedule.minute", "invalid_schedule_field"),
        ({"second": "60"}, "schedule.second", "schedule_value_out_of_range"),
        ({"hour": "24"}, "schedule.hour", "schedule_value_out_of_range"),
        ({"dayOfMonth": "0"}, "schedule.dayOfMonth", "schedule_value_out_of_range"),
        ({"dayOfMonth": "32"}, "schedule.dayOfMonth", "schedule_value_out_of_range"),
        ({"month": "13"}, "schedule.month", "schedule_value_out_of_range"),
        ({"dayOfWeek": "0"}, "schedule.dayOfWeek", "schedule_value_out_of_range"),
        ({"dayOfWeek": "8"}, "schedule.dayOfWeek", "schedule_value_out_of_range"),
        ({"minute": "[30-10]"}, "schedule.minute", "invalid_schedule_range"),
        ({"minute": "*/0"}, "schedule.minute", "invalid_schedule_step"),
        ({"minute": "1" * 201}, "schedule.minute", "invalid_schedule_field"),
        ({"month": "2", "dayOfMonth": "30"}, "schedule", "schedule_never_runs"),
        ({"month": "[4,6,9,11]", "dayOfMonth": "31"}, "schedule.month", "invalid_schedule_field"),
        ({"month": "4,6,9,11", "dayOfMonth": "31"}, "schedule", "schedule_never_runs"),
    ],
)
def test_a_schedule_refused_names_its_field_and_a_stable_reason(
    fields: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(ScheduleError) as refused:
        parse_schedule(fields)
    assert (refused.value.field, refused.value.reason) == (field, reason)
    assert refused.value.message


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_schedule({"second": "*"}).next_after(datetime(2026, 1, 1))
