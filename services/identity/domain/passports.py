"""Identity rules: mint requests into passports, amendments into new versions. No I/O.

A bulk request may give model-level values once (`defaults`) and per passport only what differs; the rules
run once per distinct (category, static data) pair, so 100,000 batteries of one model cost one static-data
check, and every violation of shared data is reported once, at `defaults.…`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic

from contracts.attributes import BatteryCategory
from contracts.errors import ValidationFailed, Violation
from contracts.identity import AmendPassportRequest, BulkMintRequest, MintDefaults, PassportSpec
from contracts.passport_data import PassportSubject, StaticPassportData
from services.identity.domain import extensions, identifiers
from services.identity.domain.static_data import validate_static_data
from services.identity.domain.subject import validate_subject
from services.identity.domain.violations import fail_if, pydantic_violations

CATEGORY_REQUIRED = "category_required"
STATIC_DATA_REQUIRED = "static_data_required"
DUPLICATE_IN_REQUEST = "duplicate_in_request"
AMENDMENT_EMPTY = "amendment_empty"


@dataclass(slots=True)  # not frozen: a bulk builds 100,000 of them, and frozen dataclasses init slowly
class MintItem:
    """One passport to mint, defaults applied; the paths say where its values came from in the request
    (`path` is the passport's own, `""` for a single mint whose body is the passport)."""

    path: str
    subject: PassportSubject
    category: BatteryCategory
    product_family: str | None
    static_data: StaticPassportData
    extensions: Mapping[str, Any]
    static_data_path: str
    extensions_path: str
    # Art. 77(7): the passports this battery was made from (second life); empty for a new battery.
    predecessor_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class NewPassport:
    """A passport about to be minted (unless the tenant already has one for this battery identifier)."""

    passport_id: str
    tenant: str
    item: MintItem
    public_uri: str
    minted_at: datetime
    minted_by: str

    @property
    def battery_identifier(self) -> str:
        return self.item.subject.battery_identifier


def _at(*parts: object) -> str:
    return ".".join(str(part) for part in parts if part != "")


def items_from_specs(specs: Sequence[PassportSpec], *, path: str | None = "passports") -> list[MintItem]:
    """Complete passport specs as mint items: `path` None for a single one that is the whole body."""
    return [
        MintItem(
            path="" if path is None else _at(path, index),
            subject=spec.subject,
            category=spec.category,
            product_family=spec.product_family,
            static_data=spec.static_data,
            extensions=spec.extensions,
            static_data_path=_at("" if path is None else _at(path, index), "static_data"),
            extensions_path=_at("" if path is None else _at(path, index), "extensions"),
        )
        for index, spec in enumerate(specs)
    ]


def items_from_bulk(request: BulkMintRequest, *, path: str = "passports") -> list[MintItem]:
    """The passports of a bulk request with its defaults applied; ValidationFailed when one lacks a category
    or static data. A passport's own static data fields replace the defaults' fields one by one (null
    removes one); its own extension keys replace the defaults' keys."""
    defaults = request.defaults or MintDefaults()
    shared_extensions = dict(defaults.extensions or {})
    items: list[MintItem] = []
    violations: list[Violation] = []
    for index, item in enumerate(request.passports):
        prefix = f"{path}.{index}"
        category = item.category or defaults.category
        if category is None:
            violations.append(
                Violation(
                    field=f"{prefix}.category",
                    reason=CATEGORY_REQUIRED,
                    message="Give the battery category here or in defaults.category (ev, lmt, industrial, stationary).",
                )
            )
        static_data, static_path = defaults.static_data, "defaults.static_data"
        if item.static_data is not None:
            own = item.static_data
            static_path = f"{prefix}.static_data"
            if static_data is None:
                static_data = own
            else:
                static_data = static_data.model_copy(update={name: getattr(own, name) for name in own.model_fields_set})
        if static_data is None:
            violations.append(
                Violation(
                    field=f"{prefix}.static_data",
                    reason=STATIC_DATA_REQUIRED,
                    message="Give the passport's static data here or once for all in defaults.static_data.",
                )
            )
        if item.extensions is None:
            extension_values: Mapping[str, Any] = shared_extensions
            extensions_path = "defaults.extensions"
        else:
            extension_values = {**shared_extensions, **item.extensions}
            extensions_path = f"{prefix}.extensions"
        if category is None or static_data is None:
            continue
        items.append(
            MintItem(
                path=prefix,
                subject=item.subject,
                category=category,
                product_family=item.product_family if item.product_family is not None else defaults.product_family,
                static_data=static_data,
                extensions=extension_values,
                static_data_path=static_path,
                extensions_path=extensions_path,
            )
        )
    fail_if(violations)
    return items


def share_equal_static_data(items: Sequence[MintItem]) -> None:
    """Make items whose static data are equal share one object, so that their rules run, and their document
    is serialised, once: systems that repeat a model's data in every passport cost what defaults cost."""
    buckets: dict[tuple[Any, ...], list[StaticPassportData]] = {}
    for item in items:
        data = item.static_data
        key = (data.battery_model, data.weight_kg, data.manufacturing_date, data.rated_capacity_ah)
        bucket = buckets.setdefault(key, [])
        for shared in bucket:
            if shared is data or shared == data:
                item.static_data = shared
                break
        else:
            if len(bucket) < 8:  # many different documents under one key: stop comparing, check each
                bucket.append(data)


def check_items(items: Sequence[MintItem], *, now: datetime) -> list[Violation]:
    """Every rule of every passport: subject, static data (once per distinct data and category), duplicates."""
    share_equal_static_data(items)
    violations: list[Violation] = []
    first_path: dict[str, str] = {}
    # (category, shared data) -> its violations, fields relative to the data; reported once per place.
    static_found: dict[tuple[BatteryCategory, int], list[Violation]] = {}
    reported: set[tuple[BatteryCategory, int, str]] = set()
    for item in items:
        subject_path = _at(item.path, "subject")
        violations += validate_subject(item.subject, path_prefix=f"{subject_path}.")
        # Items alive together have distinct ids, and shared data is one object: check it once.
        static_key = (item.category, id(item.static_data))
        found = static_found.get(static_key)
        if found is None:
            found = static_found[static_key] = validate_static_data(item.category, item.static_data, now=now)
        if found and (*static_key, item.static_data_path) not in reported:
            reported.add((*static_key, item.static_data_path))
            violations += [v.model_copy(update={"field": _at(item.static_data_path, v.field)}) for v in found]
        identifier = item.subject.battery_identifier
        first = first_path.setdefault(identifier, item.path)
        if first != item.path:
            violations.append(
                Violation(
                    field=f"{subject_path}.battery_identifier",
                    reason=DUPLICATE_IN_REQUEST,
                    message=f"Battery identifier {identifier!r} also appears at {first}; send each battery once.",
                )
            )
    return violations


def check_extensions(
    items: Sequence[MintItem], validators: Mapping[str, extensions.ExtensionValidator]
) -> list[Violation]:
    """Extension values against their family's schema; values without a schema are refused.

    Shared values (from the defaults) are reported once, not once per passport."""
    violations: list[Violation] = []
    reported: set[tuple[str, str | None]] = set()
    for item in items:
        if not item.extensions:
            continue
        key = (item.extensions_path, item.product_family)
        if key in reported:
            continue
        if item.extensions_path == "defaults.extensions":
            reported.add(key)
        validator = validators.get(item.product_family) if item.product_family is not None else None
        if validator is None:
            reported.add(key)
            violations.append(extensions.without_schema(item.product_family, path=item.extensions_path))
            continue
        violations += validator.violations(item.extensions, path=item.extensions_path)
    return violations


def plan_passports(
    items: Sequence[MintItem], *, tenant: str, minted_by: str, now: datetime, resolver_base: str
) -> list[NewPassport]:
    """A new passport id and public URI per item (the items have passed `check_items`)."""
    base = identifiers.normalise_resolver_base(resolver_base)
    planned = []
    for item in items:
        passport_id = identifiers.new_passport_id()
        uri = identifiers.checked_public_uri(base, passport_id, item.subject)
        planned.append(NewPassport(passport_id, tenant, item, uri, now, minted_by))
    return planned


# --- amendments ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Amendment:
    """The data of the version an amendment creates; `changed_fields` empty when nothing changes."""

    static_data: StaticPassportData
    static_json: dict[str, Any]
    extensions: dict[str, Any]
    changed_fields: list[str]


def merge_patch(target: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7396): objects merge recursively, null removes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def static_json(data: StaticPassportData) -> dict[str, Any]:
    """The stored (and published) JSON form of static data: JSON types, absent fields left out."""
    return data.model_dump(mode="json", exclude_none=True)


def changed_keys(before: Mapping[str, Any], after: Mapping[str, Any], *, prefix: str = "") -> list[str]:
    return [f"{prefix}{key}" for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]


def amend(
    *,
    category: BatteryCategory,
    current_static: Mapping[str, Any],
    current_extensions: Mapping[str, Any],
    request: AmendPassportRequest,
    now: datetime,
) -> Amendment:
    """Apply a merge patch to a passport's data and check the result with the mint rules."""
    if not request.static_data and not request.extensions:
        raise ValidationFailed(
            [
                Violation(
                    field="",
                    reason=AMENDMENT_EMPTY,
                    message="Give the changes in static_data and/or extensions (a JSON merge patch).",
                )
            ]
        )
    merged = merge_patch(current_static, request.static_data)
    try:
        data = StaticPassportData.model_validate(merged)
    except pydantic.ValidationError as exc:
        raise ValidationFailed(pydantic_violations(exc, "static_data.")) from None
    fail_if(validate_static_data(category, data, now=now, path_prefix="static_data."))
    before = StaticPassportData.model_validate(current_static)
    # Compared as values, not as JSON: "512.50" kg is no change of 512.5 kg.
    changed = [name for name in StaticPassportData.model_fields if getattr(before, name) != getattr(data, name)]
    new_extensions = merge_patch(current_extensions, request.extensions)
    changed += changed_keys(current_extensions, new_extensions, prefix="extensions.")
    return Amendment(data, static_json(data), new_extensions, changed)
