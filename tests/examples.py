"""Test-only mint inputs: a resolver base and valid subjects (the example static data is in bpass/examples.py)."""

from __future__ import annotations

from bpass.examples import EXAMPLE_GTIN
from contracts.passport_data import BatteryKind, PassportSubject

EXAMPLE_RESOLVER = "https://id.voltaris.example"


def valid_subject(
    kind: BatteryKind = BatteryKind.battery,
    *,
    battery_identifier: str = "VX-000001",
    gtin: str | None = EXAMPLE_GTIN,
    batch_number: str | None = None,
    members: int = 4,
) -> PassportSubject:
    """A valid subject; packs and batches get `members` member identifiers derived from the identifier."""
    member_identifiers = (
        [] if kind is BatteryKind.battery else [f"{battery_identifier}-M{i:04d}" for i in range(members)]
    )
    return PassportSubject(
        kind=kind,
        battery_identifier=battery_identifier,
        gtin=gtin,
        batch_number=batch_number,
        member_identifiers=member_identifiers,
    )
