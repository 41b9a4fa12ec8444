"""A passport's dimensions: the typed, indexed columns of its row (searches, reports, counters), derived from its
state, and the figures they are made of."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from functools import cached_property
from typing import Any

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


def dec(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def opt_dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def ts(value: Any) -> datetime | None:
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
    values = [opt_dec(static.get(name)) for name in RECYCLED_FIELDS]
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
        placed_on_market_at=ts(in_service.get("placed_on_market_at")),
        current_handler_id=state.get("current_handler_id"),
        minted_at=ts(state.get("minted_at")),
        ceased=bool(state.get("ceased")),
        extensions=dict(state.get("extensions") or {}),
        recycled=src.recycled,
        materials=materials_of(state),
        state_of_health_pct=opt_dec(((in_service.get("latest") or {}).get("state_of_health_pct") or {}).get("value")),
        manufacturing_date=src.manufacturing_date,
        responsible_operator=state.get("responsible_operator"),
        predecessor_count=len(state.get("predecessor_ids") or ()),
        successor_count=len(state.get("successor_ids") or ()),
    )


def materials_of(state: dict[str, Any]) -> dict[str, tuple[Decimal, Decimal]]:
    """Recovery outcome: material -> (declared kg, kg in recycled fractions)."""
    outcome = (state.get("recovery") or {}).get("outcome") or []
    return {str(o["material"]): (dec(o.get("declared_kg")), dec(o.get("in_recycled_fractions_kg"))) for o in outcome}


# Fields whose change changes a passport's `Sources`.
STATIC_SOURCES = frozenset({"static_data", "subject"})
