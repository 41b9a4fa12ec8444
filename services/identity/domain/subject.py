"""Validation rules for the subject of a passport an OEM mints: its GTIN, serial and members. No I/O."""

from __future__ import annotations

from collections import Counter

from contracts.errors import Violation
from contracts.passport_data import BatteryKind, PassportSubject
from services.identity.domain.identifiers import GS1_AI_VALUE_MAX_LENGTH, validate_gtin
from services.identity.domain.violations import join_path

MEMBERS_REQUIRED = "members_required"
MEMBERS_NOT_ALLOWED = "members_not_allowed"
DUPLICATE_MEMBER = "duplicate_member"
SELF_MEMBER = "self_member"
SERIAL_TOO_LONG_FOR_GS1 = "serial_too_long_for_gs1"


def validate_subject(subject: PassportSubject, *, path_prefix: str = "") -> list[Violation]:
    """GTIN check digit and length; GS1 length of the serial when a GTIN is given; members by kind."""
    violations: list[Violation] = []
    if subject.gtin is not None:
        violations += validate_gtin(subject.gtin, field=join_path(path_prefix, "gtin"))
        if len(subject.battery_identifier) > GS1_AI_VALUE_MAX_LENGTH:
            violations.append(
                Violation(
                    field=join_path(path_prefix, "battery_identifier"),
                    reason=SERIAL_TOO_LONG_FOR_GS1,
                    message=f"With a GTIN the battery identifier becomes the GS1 serial (AI 21), at most "
                    f"{GS1_AI_VALUE_MAX_LENGTH} characters; this one has {len(subject.battery_identifier)}. "
                    "Shorten it or leave out the GTIN.",
                )
            )
    members = subject.member_identifiers
    if subject.kind is BatteryKind.battery and members:
        violations.append(
            Violation(
                field=join_path(path_prefix, "member_identifiers"),
                reason=MEMBERS_NOT_ALLOWED,
                message="A single battery has no member identifiers; mint a pack or batch, or drop them.",
            )
        )
    if subject.kind is not BatteryKind.battery and not members:
        violations.append(
            Violation(
                field=join_path(path_prefix, "member_identifiers"),
                reason=MEMBERS_REQUIRED,
                message=f"A {subject.kind.value} must list the identifiers of what it contains.",
            )
        )
    seen: Counter[str] = Counter()
    for index, member in enumerate(members):
        seen[member] += 1
        if seen[member] == 2:
            violations.append(
                Violation(
                    field=join_path(path_prefix, "member_identifiers", index),
                    reason=DUPLICATE_MEMBER,
                    message=f"Member {member!r} is listed more than once; list each member once.",
                )
            )
        if member == subject.battery_identifier:
            violations.append(
                Violation(
                    field=join_path(path_prefix, "member_identifiers", index),
                    reason=SELF_MEMBER,
                    message=f"{subject.kind.value.capitalize()} {member!r} cannot contain itself.",
                )
            )
    return violations
