"""Identity rules: turning validated passport specs into passports. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.errors import ValidationFailed, Violation
from contracts.identity import PassportSpec
from services.identity import identifiers, rules


@dataclass(frozen=True)
class NewPassport:
    """A passport about to be minted (unless the tenant already has one for this battery identifier)."""

    passport_id: str
    tenant: str
    spec: PassportSpec
    public_uri: str
    minted_at: datetime
    minted_by: str

    @property
    def battery_identifier(self) -> str:
        return self.spec.subject.battery_identifier


def check_specs(specs: list[PassportSpec], *, now: datetime, path: str = "passports") -> None:
    """All rules every spec must meet, every violation collected; raises ValidationFailed."""
    violations: list[Violation] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(specs):
        prefix = f"{path}.{index}."
        violations += rules.validate_subject(spec.subject, path_prefix=f"{prefix}subject.")
        violations += rules.validate_static_data(
            spec.category, spec.static_data, path_prefix=f"{prefix}static_data.", now=now
        )
        identifier = spec.subject.battery_identifier
        if identifier in seen:
            violations.append(
                Violation(
                    field=f"{prefix}subject.battery_identifier",
                    reason="duplicate_in_request",
                    message=f"Battery identifier {identifier!r} also appears at {path}.{seen[identifier]}; "
                    "send each battery once.",
                )
            )
        else:
            seen[identifier] = index
    if violations:
        raise ValidationFailed(violations)


def plan_passports(
    specs: list[PassportSpec], *, tenant: str, minted_by: str, now: datetime, resolver_base: str
) -> list[NewPassport]:
    planned = []
    for spec in specs:
        passport_id = identifiers.new_passport_id()
        subject = spec.subject
        uri = identifiers.public_uri(
            resolver_base, passport_id, subject.gtin, subject.battery_identifier, subject.batch_number
        )
        planned.append(NewPassport(passport_id, tenant, spec, uri, now, minted_by))
    return planned
