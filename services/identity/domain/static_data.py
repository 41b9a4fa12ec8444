"""Validation rules for the static passport data an OEM mints. No I/O.

Which static fields are mandatory is derived, not listed: an attribute of the Battery Pass longlist
(`contracts.attributes`) that is mandatory for the battery category and static must be given through the
`StaticPassportData` fields that carry it (their `longlist_key`; detail fields excepted), unless it is one of
`MINT_EXEMPT`. Dynamic attributes (battery status, state of charge, remaining capacity, cycle counts,
temperature and negative-event records, …) are never required at mint: the platform fills them from
lifecycle commands, custody events and telemetry. Attributes the longlist marks not applicable for the
category must not be given. The subject's rules are in `subject.py`.

Every function returns (or raises with) all violations found, each naming the JSON path of the field, a
stable reason code and a sentence saying what to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

import pydantic

from contracts.attributes import Attribute, BatteryCategory, Requirement, by_key, mandatory_keys
from contracts.errors import DATE_IN_FUTURE, Violation
from contracts.passport_data import (
    FIELD_LONGLIST_KEYS,
    BatteryStatus,
    MaterialEntry,
    StaticPassportData,
    fields_of_key,
)
from services.identity.domain.violations import join_path

REQUIRED_FOR_CATEGORY = "required_for_category"
NOT_APPLICABLE_FOR_CATEGORY = "not_applicable_for_category"
CATEGORY_MISMATCH = "category_mismatch"
STATUS_NOT_MINTABLE = "status_not_mintable"
VOLTAGE_ORDER = "voltage_order"
TEMPERATURE_ORDER = "temperature_order"
RECYCLED_SHARE_TOTAL = "recycled_share_total"
CARBON_FOOTPRINT_STAGE_TOTAL = "carbon_footprint_stage_total"
COMPOSITION_SHARE_TOTAL = "composition_share_total"
COMPOSITION_MASS_TOTAL = "composition_mass_total"
MASS_OR_SHARE_REQUIRED = "mass_or_share_required"
CAS_CHECK_DIGIT = "cas_check_digit"
NUMBER_OUT_OF_RANGE = "number_out_of_range"

_STATE_OF_HEALTH = "state of health, updated on placing on the market and on every status change."

# Mandatory static attributes that the OEM does not supply in StaticPassportData at mint, and why.
MINT_EXEMPT: dict[str, str] = {
    "battery_passport_identifier": "assigned by the platform at mint (a new UUIDv7).",
    "battery_identifier": "carried by the subject (PassportSubject), checked by validate_subject.",
    "battery_category": "carried by the mint request's category; static data repeating it must match.",
    "putting_into_service_date": "known only when the battery enters service; recorded from a later event.",
    "capacity_fade": _STATE_OF_HEALTH,
    "power_fade": _STATE_OF_HEALTH,
    "round_trip_efficiency_fade": _STATE_OF_HEALTH,
    "internal_resistance_increase": _STATE_OF_HEALTH,
}

# Rounding slack when shares given to a few decimals are summed.
SHARE_SUM_TOLERANCE_PCT = Decimal("0.1")
MASS_SUM_TOLERANCE = Decimal("1.001")

_CATEGORY_NAMES = {
    BatteryCategory.ev: "EV",
    BatteryCategory.lmt: "LMT",
    BatteryCategory.industrial: "other industrial (>2 kWh)",
    BatteryCategory.stationary: "stationary (>2 kWh)",
}
_RECYCLED_MATERIALS = ("nickel", "cobalt", "lithium", "lead")
_CARBON_FOOTPRINT_STAGES = (
    "carbon_footprint_raw_material_share_pct",
    "carbon_footprint_production_share_pct",
    "carbon_footprint_distribution_share_pct",
    "carbon_footprint_end_of_life_share_pct",
)


def required_fields(category: BatteryCategory) -> tuple[str, ...]:
    """StaticPassportData fields that must be given for `category`, in declaration order."""
    required_keys = set(mandatory_keys(category, static_only=True)) - set(MINT_EXEMPT)
    return tuple(
        name for name, key in FIELD_LONGLIST_KEYS.items() if key in required_keys and name in fields_of_key(key)
    )


def _describe(attribute: Attribute) -> str:
    return f"longlist #{attribute.number} '{attribute.name}'"


def _category_rules(category: BatteryCategory, data: StaticPassportData, prefix: str) -> list[Violation]:
    violations: list[Violation] = []
    name = _CATEGORY_NAMES[category]
    for field in required_fields(category):
        if getattr(data, field) is None:
            attribute = by_key(FIELD_LONGLIST_KEYS[field])
            violations.append(
                Violation(
                    field=join_path(prefix, field),
                    reason=REQUIRED_FOR_CATEGORY,
                    message=f"{field} ({_describe(attribute)}) is mandatory for {name} batteries; supply it.",
                )
            )
    for field, key in FIELD_LONGLIST_KEYS.items():
        attribute = by_key(key)
        if attribute.requirement(category) is Requirement.not_applicable and getattr(data, field) is not None:
            violations.append(
                Violation(
                    field=join_path(prefix, field),
                    reason=NOT_APPLICABLE_FOR_CATEGORY,
                    message=f"{field} ({_describe(attribute)}) does not apply to {name} batteries; omit it.",
                )
            )
    if data.battery_category is not None and data.battery_category != category:
        violations.append(
            Violation(
                field=join_path(prefix, "battery_category"),
                reason=CATEGORY_MISMATCH,
                message=f"battery_category is {data.battery_category.value} but the passport is minted as "
                f"{category.value}; make them agree.",
            )
        )
    return violations


def _ordering_rules(data: StaticPassportData, prefix: str, now: datetime) -> list[Violation]:
    violations: list[Violation] = []
    if data.battery_status is BatteryStatus.waste:
        violations.append(
            Violation(
                field=join_path(prefix, "battery_status"),
                reason=STATUS_NOT_MINTABLE,
                message="A passport cannot be minted for waste; a battery becomes waste through a status "
                "change of its existing passport.",
            )
        )
    today = now.date()
    if data.manufacturing_date is not None and data.manufacturing_date > today:
        violations.append(
            Violation(
                field=join_path(prefix, "manufacturing_date"),
                reason=DATE_IN_FUTURE,
                message=f"manufacturing_date {data.manufacturing_date.isoformat()} lies after today "
                f"({today.isoformat()}, UTC); give the actual date of manufacture.",
            )
        )
    low, nominal, high = data.minimum_voltage_v, data.nominal_voltage_v, data.maximum_voltage_v
    if low is not None and nominal is not None and low > nominal:
        violations.append(
            Violation(
                field=join_path(prefix, "nominal_voltage_v"),
                reason=VOLTAGE_ORDER,
                message=f"nominal_voltage_v {nominal} V is below minimum_voltage_v {low} V; "
                "minimum ≤ nominal ≤ maximum must hold.",
            )
        )
    if nominal is not None and high is not None and nominal > high:
        violations.append(
            Violation(
                field=join_path(prefix, "nominal_voltage_v"),
                reason=VOLTAGE_ORDER,
                message=f"nominal_voltage_v {nominal} V is above maximum_voltage_v {high} V; "
                "minimum ≤ nominal ≤ maximum must hold.",
            )
        )
    if low is not None and high is not None and low > high and nominal is None:
        violations.append(
            Violation(
                field=join_path(prefix, "maximum_voltage_v"),
                reason=VOLTAGE_ORDER,
                message=f"maximum_voltage_v {high} V is below minimum_voltage_v {low} V; swap them.",
            )
        )
    cold, hot = data.idle_temperature_lower_c, data.idle_temperature_upper_c
    if cold is not None and hot is not None and cold > hot:
        violations.append(
            Violation(
                field=join_path(prefix, "idle_temperature_upper_c"),
                reason=TEMPERATURE_ORDER,
                message=f"idle_temperature_upper_c {hot} °C is below idle_temperature_lower_c {cold} °C; "
                "swap them if reversed.",
            )
        )
    return violations


def _share_rules(data: StaticPassportData, prefix: str) -> list[Violation]:
    violations: list[Violation] = []
    for material in _RECYCLED_MATERIALS:
        pre = getattr(data, f"pre_consumer_recycled_{material}_share_pct")
        post = getattr(data, f"post_consumer_recycled_{material}_share_pct")
        if pre is not None and post is not None and pre + post > 100:
            violations.append(
                Violation(
                    field=join_path(prefix, f"post_consumer_recycled_{material}_share_pct"),
                    reason=RECYCLED_SHARE_TOTAL,
                    message=f"Recycled {material}: pre-consumer {pre} % plus post-consumer {post} % exceeds "
                    "100 %; both are shares of the same total.",
                )
            )
    stages = [getattr(data, name) for name in _CARBON_FOOTPRINT_STAGES]
    stage_total = sum((share for share in stages if share is not None), Decimal(0))
    if stage_total > 100 + SHARE_SUM_TOLERANCE_PCT:
        violations.append(
            Violation(
                field=join_path(prefix, "carbon_footprint_end_of_life_share_pct"),
                reason=CARBON_FOOTPRINT_STAGE_TOTAL,
                message=f"The life-cycle stage shares of the carbon footprint add up to {stage_total} %; "
                "they must not exceed 100 %.",
            )
        )
    return violations


def _cas_check_digit_ok(cas_number: str) -> bool:
    digits = cas_number.replace("-", "")
    body, check = digits[:-1], int(digits[-1])
    return sum(position * int(digit) for position, digit in enumerate(reversed(body), start=1)) % 10 == check


def _composition_rules(data: StaticPassportData, prefix: str) -> list[Violation]:
    violations: list[Violation] = []
    materials: list[MaterialEntry] = data.material_composition or []
    for index, entry in enumerate(materials):
        if entry.mass_kg is None and entry.share_pct is None:
            violations.append(
                Violation(
                    field=join_path(prefix, "material_composition", index),
                    reason=MASS_OR_SHARE_REQUIRED,
                    message=f"Material {entry.name!r} has neither mass_kg nor share_pct; give at least one.",
                )
            )
    share_total = sum((entry.share_pct for entry in materials if entry.share_pct is not None), Decimal(0))
    if share_total > 100 + SHARE_SUM_TOLERANCE_PCT:
        violations.append(
            Violation(
                field=join_path(prefix, "material_composition"),
                reason=COMPOSITION_SHARE_TOTAL,
                message=f"The material shares add up to {share_total} %; they must not exceed 100 %.",
            )
        )
    mass_total = sum((entry.mass_kg for entry in materials if entry.mass_kg is not None), Decimal(0))
    if data.weight_kg is not None and mass_total > data.weight_kg * MASS_SUM_TOLERANCE:
        violations.append(
            Violation(
                field=join_path(prefix, "material_composition"),
                reason=COMPOSITION_MASS_TOTAL,
                message=f"The material masses add up to {mass_total} kg, more than the battery's weight_kg "
                f"{data.weight_kg} kg; check the masses and the weight.",
            )
        )
    cas_numbers: Iterable[tuple[str, int, str | None]] = [
        ("material_composition", index, entry.cas_number) for index, entry in enumerate(materials)
    ] + [
        ("hazardous_substances", index, entry.cas_number) for index, entry in enumerate(data.hazardous_substances or [])
    ]
    for list_name, index, cas_number in cas_numbers:
        if cas_number is not None and not _cas_check_digit_ok(cas_number):
            violations.append(
                Violation(
                    field=join_path(prefix, list_name, index, "cas_number"),
                    reason=CAS_CHECK_DIGIT,
                    message=f"CAS number {cas_number} has a wrong check digit; copy it again.",
                )
            )
    return violations


def validate_static_data(
    category: BatteryCategory, data: StaticPassportData, *, now: datetime, path_prefix: str = ""
) -> list[Violation]:
    """Every violation of the category's mandatory fields and of the cross-field rules.

    `now` must be timezone-aware; the manufacturing date is compared with its UTC date.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return (
        _category_rules(category, data, path_prefix)
        + _ordering_rules(data, path_prefix, now.astimezone(UTC))
        + _share_rules(data, path_prefix)
        + _composition_rules(data, path_prefix)
        + _representable_rules(data, path_prefix)
    )


def _decimals(value: object, path: str) -> Iterable[tuple[str, Decimal]]:
    if isinstance(value, Decimal):
        yield path, value
    elif isinstance(value, pydantic.BaseModel):
        for name in type(value).model_fields:
            yield from _decimals(getattr(value, name), join_path(path, name))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _decimals(item, join_path(path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _decimals(item, join_path(path, str(key)))


def _representable_rules(data: StaticPassportData, prefix: str) -> list[Violation]:
    """Every quantity must survive the double every reader computes with: a non-zero one that a double holds as 0
    (`"weight_kg": "1e-400"` passed `> 0`) or as infinity is refused."""
    found = []
    for path, value in _decimals(data, prefix):
        if value.is_zero():
            continue
        as_double = float(value)
        if as_double == 0.0 or as_double in (float("inf"), float("-inf")):
            found.append(
                Violation(
                    field=path,
                    reason=NUMBER_OUT_OF_RANGE,
                    message=f"{value} is too small or too large a quantity to be stored and read back; give it in "
                    "ordinary decimal notation (e.g. 512.5).",
                )
            )
    return found
