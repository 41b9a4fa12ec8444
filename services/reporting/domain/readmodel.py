"""The passport read model as a pure fold over facts.

A passport's state is a JSON-ready dict (the owner-tier view). Each `apply_*` function changes it in place and
returns the top-level fields it changed (empty: the fact changed nothing, no version is made). Adding a new
fact to the read model is one `apply_*` function here and one handler mapping its contract onto it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from contracts.custody import CustodyRecorded
from contracts.identity import PassportMinted

# The platform's stages, in lifecycle order (DESIGN.md, Lifecycle).
STAGES = ("manufactured", "placed_on_market", "in_service", "collected", "in_treatment", "recycled")
STAGE_RANK = {stage: rank for rank, stage in enumerate(STAGES)}
STATUSES = ("original", "repurposed", "re-used", "remanufactured", "waste")
END_OF_LIFE_STAGES = ("collected", "in_treatment", "recycled")
IN_SERVICE_STAGES = ("placed_on_market", "in_service")

# A custody step never moves the stage here: custody publishes `PassportStatusChanged` for the step that does (the
# stage and the status it decides arrive together, with one history entry).

# Facts are folded in event-time order; the minting first, whatever its time (it creates the passport).
MINTED = "minted"


def fact_rank(change: str) -> int:
    return 0 if change == MINTED else 1


# Order of the recycled-content figures kept per passport and summed per report dimension.
RECYCLED_FIELDS = (
    "pre_consumer_recycled_nickel_share_pct",
    "pre_consumer_recycled_cobalt_share_pct",
    "pre_consumer_recycled_lithium_share_pct",
    "pre_consumer_recycled_lead_share_pct",
    "post_consumer_recycled_nickel_share_pct",
    "post_consumer_recycled_cobalt_share_pct",
    "post_consumer_recycled_lithium_share_pct",
    "post_consumer_recycled_lead_share_pct",
    "renewable_content_share_pct",
)
ZERO_RC = tuple(Decimal(0) for _ in RECYCLED_FIELDS)


# Fields every state has, with a factory of their empty value (see `empty_state`).
_DEFAULTS: tuple[tuple[str, Callable[[], Any]], ...] = (
    ("minted", lambda: False),
    ("status", lambda: "original"),
    ("stage", lambda: "manufactured"),
    ("ceased", lambda: False),
    ("custody_timeline", list),
    ("status_history", list),
    ("in_service", dict),
    ("recovery", lambda: {"attributions": []}),
    ("predecessor_ids", list),
    ("successor_ids", list),
    ("performance_snapshots", list),
)


def empty_state(passport_id: str, tenant: str) -> dict[str, Any]:
    state: dict[str, Any] = {"passport_id": passport_id, "tenant": tenant}
    for key, factory in _DEFAULTS:
        state[key] = factory()
    return state


def _ensure(state: dict[str, Any]) -> None:
    """States written before a field existed get its empty value (old versions are read as they are)."""
    for key, factory in _DEFAULTS:
        if key not in state:
            state[key] = factory()


def apply_minted(state: dict[str, Any], fact: PassportMinted, static_data: dict[str, Any] | None = None) -> list[str]:
    """`static_data`: the JSON form of the document the fact names (`fact.static_data_digest`), resolved by the
    caller; if not given, the fact must carry it."""
    if static_data is None:
        if fact.static_data is None:
            raise ValueError(f"{fact.passport_id}: the fact only names its static data; resolve the document first")
        static_data = fact.static_data.model_dump(mode="json", exclude_none=True)
    _ensure(state)
    if state.get("minted"):
        return []
    state.update(
        {
            "minted": True,
            "battery_identifier": fact.subject.battery_identifier,
            "kind": fact.subject.kind.value,
            "subject": fact.subject.model_dump(mode="json", exclude_none=True),
            "category": fact.category.value,
            "product_family": fact.product_family,
            "public_uri": fact.public_uri,
            "static_data": static_data,
            "extensions": fact.extensions,
            "public_extensions": dict(fact.public_extensions),
            "data_version": fact.version,
            "minted_at": fact.minted_at.isoformat(),
            "minted_by": fact.minted_by,
        }
    )
    changed = [
        "minted",
        "battery_identifier",
        "kind",
        "subject",
        "category",
        "product_family",
        "public_uri",
        "static_data",
        "extensions",
        "public_extensions",
        "data_version",
        "minted_at",
        "minted_by",
    ]
    initial_status = static_data.get("battery_status")
    if initial_status is not None and initial_status != state["status"]:
        state["status"] = initial_status
        changed.append("status")
    return changed


def _advance_stage(state: dict[str, Any], stage: str | None) -> bool:
    if stage is None or stage == state.get("stage"):
        return False
    if STAGE_RANK.get(stage, -1) < STAGE_RANK.get(state.get("stage", "manufactured"), 0):
        return False
    state["stage"] = stage
    return True


def apply_custody(state: dict[str, Any], fact: CustodyRecorded) -> list[str]:
    _ensure(state)
    timeline: list[dict[str, Any]] = state["custody_timeline"]
    if any(step["sequence"] == fact.sequence for step in timeline):
        return []
    timeline.append(
        {
            "sequence": fact.sequence,
            "kind": fact.kind.value,
            "occurred_at": fact.occurred_at.isoformat(),
            "handler_id": fact.handler_id,
            "from_handler_id": fact.from_handler_id,
            "to_handler_id": fact.to_handler_id,
            "entry_hash": fact.entry_hash,
            "previous_hash": fact.previous_hash,
        }
    )
    timeline.sort(key=lambda step: step["sequence"])
    changed = ["custody_timeline"]
    # facts are folded in event-time order: this step is the latest one, and the battery is with whom it left it
    holder = fact.to_handler_id or fact.handler_id
    if state.get("current_handler_id") != holder:
        state["current_handler_id"] = holder
        changed.append("current_handler_id")
    return changed


def apply_amended(
    state: dict[str, Any],
    *,
    static_data: dict[str, Any] | None,
    extensions: dict[str, Any] | None,
    data_version: int,
    amended_at: datetime,
    public_extensions: dict[str, Any] | None = None,
    amended_by: str | None = None,
    reason: str | None = None,
    changed_fields: list[str] | None = None,
) -> list[str]:
    """Identity amended the passport's static data (a new data version)."""
    _ensure(state)
    if data_version <= int(state.get("data_version") or 0):
        return []
    changed = ["data_version", "amendments"]
    state["data_version"] = data_version
    state.setdefault("amendments", []).append(
        {
            "version": data_version,
            "amended_at": amended_at.isoformat(),
            "amended_by": amended_by,
            "reason": reason,
            "changed_fields": changed_fields or [],
        }
    )
    if static_data is not None and static_data != state.get("static_data"):
        state["static_data"] = static_data
        changed.append("static_data")
    if extensions is not None and extensions != state.get("extensions"):
        state["extensions"] = extensions
        changed.append("extensions")
    if public_extensions is not None and public_extensions != state.get("public_extensions", {}):
        state["public_extensions"] = public_extensions
        changed.append("public_extensions")
    return changed


def apply_status(
    state: dict[str, Any],
    *,
    occurred_at: datetime,
    status: str | None = None,
    stage: str | None = None,
    by: str | None = None,
    reason: str | None = None,
    responsible_operator: str | None = None,
    cause: str | None = None,
) -> list[str]:
    """A status or stage change (placed on market, put into service, became waste, ...). Each one that changes the
    status or the stage adds one `status_history` entry (its event time, the status and stage it led to, and
    `cause`: the fact that caused it) and snapshots the Annex XIII 4(a) performance values as they stand
    (`performance_snapshots`)."""
    _ensure(state)
    changed: list[str] = []
    if status is not None and status != state["status"]:
        state["status"] = status
        changed.append("status")
    if _advance_stage(state, stage):
        changed.append("stage")
        if stage == "placed_on_market" and not state["in_service"].get("placed_on_market_at"):
            state["in_service"]["placed_on_market_at"] = occurred_at.isoformat()
            changed.append("in_service")
        if stage == "in_service" and not state["in_service"].get("put_into_service_at"):
            state["in_service"]["put_into_service_at"] = occurred_at.isoformat()
            state["in_service"].setdefault("placed_on_market_at", occurred_at.isoformat())
            changed.append("in_service")
    if responsible_operator is not None and responsible_operator != state.get("responsible_operator"):
        state["responsible_operator"] = responsible_operator
        changed.append("responsible_operator")
    if not changed:
        return []
    if "status" in changed or "stage" in changed:
        _history(state, occurred_at=occurred_at, by=by, reason=reason, cause=cause)
        changed.append("status_history")
    if ("status" in changed or "stage" in changed) and snapshot_performance(
        state, at=occurred_at, by=by, reason=reason
    ):
        changed.append("performance_snapshots")
    return sorted(set(changed), key=changed.index)


def _history(
    state: dict[str, Any], *, occurred_at: datetime, by: str | None, reason: str | None, cause: str | None
) -> None:
    state["status_history"].append(
        {
            "occurred_at": occurred_at.isoformat(),
            "status": state["status"],
            "stage": state["stage"],
            "by": by,
            "reason": reason,
            "cause": cause,
        }
    )


# --- Annex XIII 4(a): performance and durability values at placing on market and at every status change ----------

# Static values (Annex VII Part A, from the passport's static data): field -> unit.
PERFORMANCE_STATIC: dict[str, str] = {
    "rated_capacity_ah": "Ah",
    "certified_usable_energy_kwh": "kWh",
    "minimum_voltage_v": "V",
    "nominal_voltage_v": "V",
    "maximum_voltage_v": "V",
    "original_power_capability_w": "W",
    "power_capability_at_80_pct_soc_w": "W",
    "power_capability_at_20_pct_soc_w": "W",
    "maximum_permitted_power_w": "W",
    "power_to_energy_ratio_w_per_wh": "W/Wh",
    "initial_round_trip_efficiency_pct": "%",
    "round_trip_efficiency_at_50_pct_cycle_life_pct": "%",
    "initial_self_discharge_rate_pct_per_month": "%/month",
    "initial_internal_resistance_pack_ohm": "Ohm",
    "initial_internal_resistance_module_ohm": "Ohm",
    "initial_internal_resistance_cell_ohm": "Ohm",
    "expected_lifetime_years": "years",
    "expected_lifetime_cycles": "cycles",
    "capacity_threshold_for_exhaustion_pct": "%",
}
# Dynamic values (the latest in-service reading of each, contracts.telemetry metrics): metric -> unit. State of
# charge, temperatures and negative events are usage data (Annex XIII 4(d)), not performance parameters.
PERFORMANCE_DYNAMIC: dict[str, str] = {
    "state_of_health_pct": "%",
    "remaining_capacity_ah": "Ah",
    "capacity_fade_pct": "%",
    "remaining_energy_kwh": "kWh",
    "state_of_certified_energy_pct": "%",
    "power_fade_pct": "%",
    "internal_resistance_increase_pct": "%",
    "full_cycles": "cycles",
    "energy_throughput_kwh": "kWh",
    "capacity_throughput_ah": "Ah",
}
# A passport changes status or stage a handful of times; the bound only guards against a runaway publisher: the
# first snapshot (the baseline, usually placing on the market) and the latest ones are kept.
MAX_PERFORMANCE_SNAPSHOTS = 24


def performance_values(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The 4(a) values as they stand: static ones from the static data (when the state holds it), dynamic ones from
    the latest in-service readings. Each: {value (string), unit, source[, measured_at]}; absent values are left out.
    """
    values: dict[str, dict[str, Any]] = {}
    static: dict[str, Any] = state.get("static_data") or {}
    source = f"static_data v{state.get('data_version') or 1}"
    for name, unit in PERFORMANCE_STATIC.items():
        if static.get(name) is not None:
            values[name] = {"value": str(static[name]), "unit": unit, "source": source}
    latest: dict[str, Any] = (state.get("in_service") or {}).get("latest") or {}
    for name, unit in PERFORMANCE_DYNAMIC.items():
        reading = latest.get(name)
        if reading and reading.get("value") is not None:
            values[name] = {
                "value": str(reading["value"]),
                "unit": unit,
                "measured_at": reading.get("measured_at"),
                "source": reading.get("source_system"),
            }
    return values


def snapshot_performance(state: dict[str, Any], *, at: datetime, by: str | None, reason: str | None) -> bool:
    """Append a snapshot of the 4(a) values for the status / stage the state has now, changed at `at`. A change
    already snapshotted (same instant, status and stage) is not snapshotted again. True: one was added."""
    snapshots: list[dict[str, Any]] = state.setdefault("performance_snapshots", [])
    entry = {
        "at": at.isoformat(),
        "status": state.get("status"),
        "stage": state.get("stage"),
        "by": by,
        "reason": reason,
        "data_version": state.get("data_version"),
        "values": performance_values(state),
    }
    key = (entry["at"], entry["status"], entry["stage"])
    if any((s.get("at"), s.get("status"), s.get("stage")) == key for s in snapshots):
        return False
    snapshots.append(entry)
    if len(snapshots) > MAX_PERFORMANCE_SNAPSHOTS:
        del snapshots[1 : len(snapshots) - MAX_PERFORMANCE_SNAPSHOTS + 1]
    return True


def apply_in_service_data(state: dict[str, Any], latest: dict[str, dict[str, Any]]) -> list[str]:
    """Latest dynamic in-service values per metric (state of health, charge, cycles, ...), each with its
    `value` (string decimal), `measured_at` (ISO 8601) and `source_system`; older readings never win."""
    _ensure(state)
    current: dict[str, dict[str, Any]] = state["in_service"].setdefault("latest", {})
    changed = False
    for metric, reading in latest.items():
        known = current.get(metric)
        new_at, known_at = _ts(reading.get("measured_at")), _ts((known or {}).get("measured_at"))
        if new_at is not None and known_at is not None and new_at <= known_at:
            continue
        if known != reading:
            current[metric] = reading
            changed = True
    return ["in_service"] if changed else []


def apply_recovery(state: dict[str, Any], attribution: dict[str, Any]) -> list[str]:
    """Recovered material attributed to this passport (treatment batch or refiner report).

    `attribution` carries `attribution_id` (idempotence), `stage` and `materials`: [{material, recovered_kg}].
    """
    _ensure(state)
    attributions: list[dict[str, Any]] = state["recovery"]["attributions"]
    if any(a.get("attribution_id") == attribution["attribution_id"] for a in attributions):
        return []
    attributions.append(attribution)
    totals: dict[str, str] = {}
    for entry in attributions:
        if entry.get("stage", "treatment") != "treatment":
            continue  # refined material is the same material, further along: not counted twice
        for material in entry.get("materials", []):
            name = str(material["material"])
            totals[name] = str(_dec(totals.get(name)) + _dec(material.get("recovered_kg")))
    state["recovery"]["recovered_kg_by_material"] = totals
    return ["recovery"]


def apply_ceased(
    state: dict[str, Any],
    *,
    ceased_at: datetime,
    reason: str | None,
    outcome: list[dict[str, Any]] | None = None,
    details: dict[str, Any] | None = None,
    cause: str | None = None,
) -> list[str]:
    """Art. 77(8): after recycling the passport ceases; it is closed, its history stays readable.

    `outcome`: per material {material, declared_kg, in_recycled_fractions_kg, basis} (the recovery yield).
    """
    _ensure(state)
    if state.get("ceased"):
        return []
    state["ceased"] = True
    state["ceased_at"] = ceased_at.isoformat()
    state["ceased_reason"] = reason
    changed = ["ceased", "ceased_at", "ceased_reason"]
    if outcome is not None or details:
        state["recovery"]["outcome"] = outcome or []
        state["recovery"]["treatment"] = details or {}
        changed.append("recovery")
    by = (details or {}).get("recycler_id")
    if _advance_stage(state, "recycled"):
        changed.append("stage")
        _history(state, occurred_at=ceased_at, by=str(by) if by else None, reason=reason, cause=cause)
        changed.append("status_history")
    if snapshot_performance(state, at=ceased_at, by=str(by) if by else None, reason=reason):
        changed.append("performance_snapshots")
    return changed


def apply_links(
    state: dict[str, Any], *, predecessor_ids: list[str] | None = None, successor_ids: list[str] | None = None
) -> list[str]:
    """Predecessor / successor passports (repurposing, remanufacturing, re-use: Art. 77(7))."""
    _ensure(state)
    changed = []
    for field, ids in (("predecessor_ids", predecessor_ids), ("successor_ids", successor_ids)):
        if not ids:
            continue
        merged = list(dict.fromkeys([*state[field], *ids]))
        if merged != state[field]:
            state[field] = merged
            changed.append(field)
    return changed


def _dec(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def _opt_dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _ts(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class Dimensions:
    """The typed, indexed columns of a passport's row, derived from its state."""

    battery_identifier: str | None
    gtin: str | None
    public_uri: str | None
    kind: str | None
    model: str | None
    product_family: str | None
    chemistry: str | None
    category: str | None
    batch: str | None
    plant: str | None
    status: str | None
    stage: str | None
    placed_on_market_at: datetime | None
    current_handler_id: str | None
    minted_at: datetime | None
    ceased: bool
    extensions: dict[str, Any]
    recycled: tuple[Decimal, ...] | None  # RECYCLED_FIELDS; None when the passport gives none
    materials: dict[str, tuple[Decimal, Decimal]]  # recovery outcome: material -> (declared kg, recovered kg)
    # Lifecycle reports (migration 006): latest state of health, the age's fallback basis, second-life links.
    state_of_health_pct: Decimal | None = None
    manufacturing_date: date | None = None
    responsible_operator: str | None = None
    predecessor_count: int | None = 0  # None: a row not counted in lifecycle_counts yet (written before 006)
    successor_count: int | None = 0

    @cached_property
    def age_month(self) -> int:
        """Month the battery's age counts from (year * 12 + month - 1): placed on the market, else manufactured;
        -1 when neither is known."""
        if self.placed_on_market_at is not None:
            placed = self.placed_on_market_at
            placed = placed.astimezone(UTC) if placed.tzinfo is not None else placed  # naive: already UTC
            return placed.year * 12 + placed.month - 1
        if self.manufacturing_date is not None:
            return self.manufacturing_date.year * 12 + self.manufacturing_date.month - 1
        return -1

    @cached_property
    def soh_key(self) -> tuple[str, str, int, int] | None:
        """Key of the passport's row in `soh_counts` (model, status, age month, state of health in tenths of a
        percent, floored); None when it reports no state of health or has ceased."""
        if self.state_of_health_pct is None or self.ceased:
            return None
        tenths = int((self.state_of_health_pct * 10).to_integral_value(rounding=ROUND_FLOOR))
        return (self.model or "", self.status or "", self.age_month, tenths)

    @cached_property
    def lifecycle_key(self) -> tuple[str, str, str]:
        """Key of the passport's row in `lifecycle_counts` (model, status, responsible operator; '' = not given)."""
        return (self.model or "", self.status or "", self.responsible_operator or "")

    @cached_property
    def counter_key(self) -> tuple[str, ...]:
        """Key of the passport's row in `population_counts` ('' = not given)."""
        return (
            self.category or "",
            self.chemistry or "",
            self.model or "",
            self.product_family or "",
            self.plant or "",
            self.status or "",
            self.stage or "",
        )


def plant_of(static: dict[str, Any]) -> str | None:
    place = static.get("manufacturing_place") or {}
    if place.get("facility_identifier"):
        return str(place["facility_identifier"])
    address = place.get("postal_address") or {}
    if address.get("locality"):
        return f"{address['locality']}, {address.get('country_code', '')}".rstrip(", ")
    return None


@dataclass(frozen=True)
class Sources:
    """The dimensions derived from a passport's `static_data` and `subject` (which only minting and amendments
    change): kept apart so that a fold that changed neither does not read them again."""

    gtin: str | None
    batch: str | None
    model: str | None
    chemistry: str | None
    plant: str | None
    recycled: tuple[Decimal, ...] | None  # RECYCLED_FIELDS; None when the passport gives none
    manufacturing_date: date | None = None


def manufacturing_date_of(static: dict[str, Any]) -> date | None:
    value = static.get("manufacturing_date")
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def recycled_of(static: dict[str, Any]) -> tuple[Decimal, ...] | None:
    values = [_opt_dec(static.get(name)) for name in RECYCLED_FIELDS]
    if all(v is None for v in values):
        return None
    return tuple(v if v is not None else Decimal(0) for v in values)


def sources_of(state: dict[str, Any]) -> Sources:
    static: dict[str, Any] = state.get("static_data") or {}
    subject: dict[str, Any] = state.get("subject") or {}
    return Sources(
        gtin=subject.get("gtin"),
        batch=subject.get("batch_number"),
        model=static.get("battery_model"),
        chemistry=(static.get("battery_chemistry") or {}).get("short_name"),
        plant=plant_of(static),
        recycled=recycled_of(static),
        manufacturing_date=manufacturing_date_of(static),
    )


def dimensions(state: dict[str, Any], sources: Sources | None = None) -> Dimensions:
    """The passport's typed columns; `sources`: those derived from its static data and subject, when known."""
    src = sources if sources is not None else sources_of(state)
    in_service = state.get("in_service") or {}
    return Dimensions(
        battery_identifier=state.get("battery_identifier"),
        gtin=src.gtin,
        public_uri=state.get("public_uri"),
        kind=state.get("kind"),
        model=src.model,
        product_family=state.get("product_family"),
        chemistry=src.chemistry,
        category=state.get("category"),
        batch=src.batch,
        plant=src.plant,
        status=state.get("status"),
        stage=state.get("stage"),
        placed_on_market_at=_ts(in_service.get("placed_on_market_at")),
        current_handler_id=state.get("current_handler_id"),
        minted_at=_ts(state.get("minted_at")),
        ceased=bool(state.get("ceased")),
        extensions=dict(state.get("extensions") or {}),
        recycled=src.recycled,
        materials=materials_of(state),
        state_of_health_pct=_opt_dec(((in_service.get("latest") or {}).get("state_of_health_pct") or {}).get("value")),
        manufacturing_date=src.manufacturing_date,
        responsible_operator=state.get("responsible_operator"),
        predecessor_count=len(state.get("predecessor_ids") or ()),
        successor_count=len(state.get("successor_ids") or ()),
    )


def materials_of(state: dict[str, Any]) -> dict[str, tuple[Decimal, Decimal]]:
    """Recovery outcome: material -> (declared kg, kg in recycled fractions)."""
    outcome = (state.get("recovery") or {}).get("outcome") or []
    return {str(o["material"]): (_dec(o.get("declared_kg")), _dec(o.get("in_recycled_fractions_kg"))) for o in outcome}


def changed_paths(state: dict[str, Any], change: str, changed: list[str]) -> list[str]:
    """What a version changed, for the change stream: top-level fields, except that an amendment names the fields
    of the static data and extensions it changed (`static_data.warranty_period_months`), as identity listed them."""
    if change != "amended" or not state.get("amendments"):
        return changed
    listed = state["amendments"][-1].get("changed_fields") or []
    if not listed:
        return changed
    paths: list[str] = []
    for name in changed:
        if name == "static_data":
            paths.extend(p if "." in p else f"static_data.{p}" for p in listed if not p.startswith("extensions"))
        elif name == "extensions":
            paths.extend([p for p in listed if p.startswith("extensions.")] or [name])
        else:
            paths.append(name)
    return list(dict.fromkeys(paths))


# Fields whose change changes a passport's `Sources`.
STATIC_SOURCES = frozenset({"static_data", "subject"})


# --- Versions: a full snapshot every SNAPSHOT_EVERY versions (and at version 1), deltas in between ---------------

SNAPSHOT_EVERY = 16


def is_snapshot(version: int) -> bool:
    return version % SNAPSHOT_EVERY == 1


def rebuild(snapshot: dict[str, Any], deltas: list[dict[str, Any]]) -> dict[str, Any]:
    """A version's state from the last snapshot at or before it and the deltas after it, in version order. A delta
    holds the top-level fields its version set (the fold never removes one)."""
    state = dict(snapshot)
    for delta in deltas:
        state.update(delta)
    return state


@dataclass
class CounterDelta:
    n: int = 0
    rc_n: int = 0
    rc_sums: tuple[Decimal, ...] = ZERO_RC


Transition = tuple[str, "Dimensions | None", Dimensions]  # tenant, before (None: new), after


def counter_deltas(changes: list[Transition]) -> dict[tuple[str, ...], CounterDelta]:
    """Net change of `population_counts` rows, keyed (tenant, *counter_key), for passports that moved."""
    deltas: dict[tuple[str, ...], CounterDelta] = {}

    def add(tenant: str, dims: Dimensions, sign: int) -> None:
        delta = deltas.setdefault((tenant, *dims.counter_key), CounterDelta())
        delta.n += sign
        if dims.recycled is not None:
            delta.rc_n += sign
            delta.rc_sums = tuple(a + sign * b for a, b in zip(delta.rc_sums, dims.recycled, strict=True))

    for tenant, before, after in changes:
        if before is not None:
            if before.counter_key == after.counter_key and before.recycled == after.recycled:
                continue
            add(tenant, before, -1)
        add(tenant, after, +1)
    return {key: d for key, d in deltas.items() if d.n != 0 or d.rc_n != 0 or any(v != 0 for v in d.rc_sums)}


def recovery_deltas(changes: list[Transition]) -> dict[tuple[str, str, str], tuple[int, Decimal, Decimal]]:
    """Net change of `recovery_totals` rows: (tenant, chemistry, material) -> (passports, contained, recovered)."""
    deltas: dict[tuple[str, str, str], tuple[int, Decimal, Decimal]] = {}

    def add(tenant: str, dims: Dimensions, sign: int) -> None:
        for material, (contained, recovered) in dims.materials.items():
            key = (tenant, dims.chemistry or "", material)
            p, c, r = deltas.get(key, (0, Decimal(0), Decimal(0)))
            deltas[key] = (p + sign, c + sign * contained, r + sign * recovered)

    for tenant, before, after in changes:
        if before is not None:
            if before.materials == after.materials and before.chemistry == after.chemistry:
                continue
            add(tenant, before, -1)
        add(tenant, after, +1)
    return {k: v for k, v in deltas.items() if v != (0, Decimal(0), Decimal(0))}


def soh_deltas(changes: list[Transition]) -> dict[tuple[str, str, str, int, int], tuple[int, Decimal]]:
    """Net change of `soh_counts` rows: (tenant, model, status, age month, soh tenths) -> (passports, soh sum)."""
    deltas: dict[tuple[str, str, str, int, int], tuple[int, Decimal]] = {}

    def add(tenant: str, dims: Dimensions, sign: int) -> None:
        if dims.soh_key is None or dims.state_of_health_pct is None:
            return
        key = (tenant, *dims.soh_key)
        n, total = deltas.get(key, (0, Decimal(0)))
        deltas[key] = (n + sign, total + sign * dims.state_of_health_pct)

    for tenant, before, after in changes:
        if before is not None:
            if before.soh_key == after.soh_key and before.state_of_health_pct == after.state_of_health_pct:
                continue
            add(tenant, before, -1)
        add(tenant, after, +1)
    return {k: v for k, v in deltas.items() if v != (0, Decimal(0))}


def lifecycle_deltas(changes: list[Transition]) -> dict[tuple[str, str, str, str], tuple[int, int, int, int]]:
    """Net change of `lifecycle_counts` rows: (tenant, model, status, responsible operator) -> (passports,
    predecessors, passports with predecessors, passports with successors)."""
    deltas: dict[tuple[str, str, str, str], tuple[int, int, int, int]] = {}

    def add(tenant: str, dims: Dimensions, sign: int) -> None:
        if dims.predecessor_count is None:
            return  # not counted yet
        key = (tenant, *dims.lifecycle_key)
        n, preds, with_preds, superseded = deltas.get(key, (0, 0, 0, 0))
        deltas[key] = (
            n + sign,
            preds + sign * dims.predecessor_count,
            with_preds + sign * (dims.predecessor_count > 0),
            superseded + sign * bool(dims.successor_count),
        )

    for tenant, before, after in changes:
        if before is not None:
            if (
                before.lifecycle_key == after.lifecycle_key
                and before.predecessor_count == after.predecessor_count
                and bool(before.successor_count) == bool(after.successor_count)
            ):
                continue
            add(tenant, before, -1)
        add(tenant, after, +1)
    return {k: v for k, v in deltas.items() if v != (0, 0, 0, 0)}
