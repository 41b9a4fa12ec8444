"""Who may read which part of a passport's read model (Annex XIII, Art. 77(2)): one declarative mapping.

Every section of the reporting read-model state (see `readmodel`) has an access tier; a section that is a dict
is filtered key by key. Where a section carries a Battery Pass longlist attribute its tier is the longlist's
(`contracts.attributes`): static-data fields through `contracts.passport_data.field_tier`, in-service metrics
through `METRIC_LONGLIST_KEYS`. Sections the longlist does not cover have the tier written here, with the reason.
Anything this module does not name is owner-only (fail closed): a new section stays private until it is mapped.

Tiers are nested (`can_read`): the owner reads everything (including unmapped sections), authorities read the
authorities tier and every lower one, and so on. Pure: no I/O.

Where it applies: every passport read of the reporting API (current, versions, as-of), search results, and exports
(a regulator's file holds the authorities tier). The per-tenant change stream and latest-state topics
(`bpass.tenant.<tenant>.…`) carry the owner tier and are the owning tenant's alone: no other principal reads them.
Reads at the legitimate-interest and authorities tiers are logged (`api/access_log.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts.attributes import AccessTier, by_key, can_read
from contracts.passport_data import FIELD_LONGLIST_KEYS, field_tier

# Reads at these tiers are logged (who, when, which passport and fields, why): HTTP, exports, the dashboard.
LOGGED_TIERS = frozenset({AccessTier.legitimate_interest, AccessTier.authorities})

__all__ = [
    "METRIC_LONGLIST_KEYS",
    "STATE_TIERS",
    "AccessTier",
    "Section",
    "returned_fields",
    "state_for_tier",
    "tier_of_path",
]

P, LI, AU, OW = AccessTier.public, AccessTier.legitimate_interest, AccessTier.authorities, AccessTier.owner


@dataclass(frozen=True)
class Section:
    """A dict-valued part of the state, filtered key by key; keys not in `fields` are owner-only."""

    fields: Mapping[str, Rule]
    why: str = ""
    # Keep the section (possibly empty) for a reader who may read some key of it, so the shape stays stable.
    floor: AccessTier = field(init=False)

    def __post_init__(self) -> None:
        tiers = [_floor(rule) for rule in self.fields.values()] or [OW]
        lowest = min(tiers, key=list(AccessTier).index)
        object.__setattr__(self, "floor", lowest)


Rule = AccessTier | Section


def _floor(rule: Rule) -> AccessTier:
    return rule.floor if isinstance(rule, Section) else rule


# In-service metric (contracts.telemetry.TelemetryMetric) -> the longlist attribute it reports.
METRIC_LONGLIST_KEYS: Mapping[str, str] = {
    "state_of_health_pct": "remaining_capacity",  # SoH is reported as capacity relative to rated (Annex VII)
    "remaining_capacity_ah": "remaining_capacity",
    "remaining_energy_kwh": "remaining_usable_energy",
    "capacity_fade_pct": "capacity_fade",
    "power_fade_pct": "power_fade",
    "internal_resistance_increase_pct": "internal_resistance_increase",
    "state_of_certified_energy_pct": "state_of_certified_energy",
    "state_of_charge_pct": "state_of_charge",
    "full_cycles": "full_cycles_count",
    "energy_throughput_kwh": "energy_throughput",
    "capacity_throughput_ah": "capacity_throughput",
    "temperature_c": "temperature_information",
    "time_above_max_temperature_h": "time_above_temperature_boundary",
    "time_below_min_temperature_h": "time_below_temperature_boundary",
    "deep_discharge_events": "deep_discharge_events",
    "accident_events": "accident_information",
    "remaining_power_capability_at_80_pct_soc_w": "remaining_power_capability",
    "remaining_power_capability_at_20_pct_soc_w": "remaining_power_capability",
    "remaining_round_trip_efficiency_pct": "remaining_round_trip_efficiency",
    "round_trip_efficiency_fade_pct": "round_trip_efficiency_fade",
    "self_discharge_rate_pct_per_month": "current_self_discharge_rate",
    "self_discharge_rate_evolution_pct": "self_discharge_rate_evolution",
    "time_charging_above_max_temperature_h": "time_charging_above_temperature_boundary",
    "time_charging_below_min_temperature_h": "time_charging_below_temperature_boundary",
}

STATIC_DATA = Section({name: field_tier(name) for name in FIELD_LONGLIST_KEYS}, why="longlist, per field")

IN_SERVICE = Section(
    {
        "placed_on_market_at": by_key("battery_status").access_tier,  # a status change (Annex XIII 4(c))
        "put_into_service_at": by_key("putting_into_service_date").access_tier,
        "latest": Section(
            {metric: by_key(key).access_tier for metric, key in METRIC_LONGLIST_KEYS.items()},
            why="longlist, per metric",
        ),
    },
    why="Annex XIII 4(b), (d): state of health and usage data",
)

# Material recovered from the battery: evidence of recycling efficiency and recovery targets (Art. 71, Annex
# XII) that market surveillance checks; not in the longlist (it happens after the passport's active life).
RECOVERY = Section(
    {"attributions": AU, "recovered_kg_by_material": AU, "outcome": AU, "treatment": AU},
    why="recovery evidence: authorities",
)

STATE_TIERS: Mapping[str, Rule] = {
    # Identification (longlist 1, 2, 9): what the QR code resolves to.
    "passport_id": by_key("battery_passport_identifier").access_tier,
    "battery_identifier": by_key("battery_identifier").access_tier,
    "public_uri": by_key("battery_passport_identifier").access_tier,
    "category": by_key("battery_category").access_tier,
    "kind": P,  # battery, pack or batch: what the identifier names
    "ceased": P,  # Art. 77(8): anyone resolving the QR code learns the passport has ceased
    "version": P,  # read-model version, so a reader can tell two reads apart
    "responsible_operator": by_key("operator_identifier").access_tier,  # Art. 77(7)
    "static_data": STATIC_DATA,
    # OEM extension values the family's schema marks "x-public" (identity names them on its facts).
    "public_extensions": P,
    # Status and lifecycle (longlist 11, battery_status; Annex XIII 4(c)).
    "status": by_key("battery_status").access_tier,
    "stage": by_key("battery_status").access_tier,
    "status_history": by_key("battery_status").access_tier,
    "ceased_at": P,  # Art. 77(8): when and why (recycled) it ceased, as the public page says
    "ceased_reason": P,
    "in_service": IN_SERVICE,
    # Annex XIII 4(a): performance and durability values at placing on market and at each status change.
    "performance_snapshots": LI,
    # Art. 77(7): the passports this one continues or was continued by; second-life operators need the chain.
    "predecessor_ids": LI,
    # Art. 77(7): a reader of a continued passport's label is pointed to the passports that continue it.
    "successor_ids": P,
    # Whose battery it is, how the identifier is built, when the passport was issued: the context of a read.
    "tenant": LI,
    "subject": LI,
    "minted": LI,
    "minted_at": LI,
    "data_version": LI,
    "updated_at": LI,
    "valid_from": LI,  # event time of the version: when what it shows happened
    # Custody: who held the battery, hash-chained; checked by market surveillance, not needed to treat it.
    "custody_timeline": AU,
    "current_handler_id": AU,
    "recovery": RECOVERY,
    # Private to the OEM: its own grouping, its own fields, who in its systems changed what.
    "product_family": OW,
    "extensions": OW,
    "minted_by": OW,
    "amendments": OW,
}
STATE = Section(STATE_TIERS, why="the read-model state")


def _filter(value: dict[str, Any], section: Section, tier: AccessTier) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        rule = section.fields.get(key, OW)
        if isinstance(rule, Section):
            if not can_read(tier, rule.floor):
                continue
            out[key] = _filter(item, rule, tier) if isinstance(item, dict) else item
        elif can_read(tier, rule):
            out[key] = item
    return out


def state_for_tier(state: dict[str, Any], tier: AccessTier) -> dict[str, Any]:
    """The part of a passport's read-model state a reader at `tier` may see (a new dict; `state` is unchanged).

    The owner sees the whole state; every other tier sees only the sections and fields mapped to it or to a
    lower tier; anything unmapped is hidden.
    """
    if tier is AccessTier.owner:
        return dict(state)
    return _filter(state, STATE, tier)


def tier_of_path(path: str) -> AccessTier:
    """The tier of a dotted path into the state (`static_data.rated_capacity_ah`, `in_service.latest`); owner
    when unmapped."""
    rule: Rule = STATE
    for part in path.split("."):
        if not isinstance(rule, Section):
            return rule
        rule = rule.fields.get(part, OW)
    return _floor(rule)


def returned_fields(view: dict[str, Any]) -> list[str]:
    """What a read returned, for the access log: top-level sections and `static_data.<field>` names, sorted."""
    names = list(view)
    static = view.get("static_data")
    if isinstance(static, dict):
        names.extend(f"static_data.{name}" for name in static)
    return sorted(names)


# Where each search filter and grouping dimension of the read API comes from in the read-model state: a reader
# may filter or group by it only where it may read that part (a filter on a hidden field would reveal its values
# through which passports match and how many). `ext.<field>` dimensions come from `extensions`.
DIMENSION_SOURCES: Mapping[str, str] = {
    "model": "static_data.battery_model",
    "product_family": "product_family",
    "chemistry": "static_data.battery_chemistry",
    "category": "category",
    "batch": "subject",
    "plant": "static_data.manufacturing_place",
    "status": "status",
    "stage": "stage",
    "current_handler": "current_handler_id",
    "kind": "kind",
    "placed_from": "in_service.placed_on_market_at",
    "placed_to": "in_service.placed_on_market_at",
    "placed_on_market_month": "in_service.placed_on_market_at",
    "ceased": "ceased",
}


def hidden_dimensions(names: Iterable[str], tier: AccessTier) -> list[str]:
    """The dimensions among `names` a reader at `tier` may not filter or group by (unknown ones: owner only)."""
    if tier is AccessTier.owner:
        return []
    sources = {name: "extensions" if name.startswith("ext.") else DIMENSION_SOURCES.get(name) for name in names}
    return [name for name, source in sources.items() if source is None or not can_read(tier, tier_of_path(source))]
