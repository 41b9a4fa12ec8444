"""The standard reports, built from pre-aggregated rows (no I/O): population, in-service status, end-of-life
status, recovery yields, recycled content by chemistry, second-life population, state of health by model and age.
Each report has `rows` (its CSV table) and `charts` (what the dashboard draws)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.reporting.domain.dimensions import RECYCLED_FIELDS
from services.reporting.domain.readmodel import END_OF_LIFE_STAGES, IN_SERVICE_STAGES, STAGES, STATUSES

REPORTS = {
    "population": "Battery population",
    "in-service": "In-service status",
    "end-of-life": "End-of-life status",
    "recovery-yields": "Recovery yields",
    "recycled-content": "Recycled content by chemistry",
    "second-life": "Second-life population",
    "state-of-health": "State of health by model and age",
}
UNKNOWN = "(not given)"


@dataclass(frozen=True)
class CubeRow:
    """One row of population_counts ('' = not given)."""

    category: str
    chemistry: str
    model: str
    product_family: str
    plant: str
    status: str
    stage: str
    n: int
    rc_n: int
    rc_sums: tuple[Decimal, ...]


def _label(value: str | None) -> str:
    return value or UNKNOWN


def _sum_by(rows: Iterable[CubeRow], *keys: str) -> dict[tuple[str, ...], int]:
    out: dict[tuple[str, ...], int] = defaultdict(int)
    for row in rows:
        out[tuple(_label(getattr(row, k)) for k in keys)] += row.n
    return {k: v for k, v in out.items() if v}


def _ordered(counts: Mapping[tuple[str, ...], int], order: tuple[str, ...] = ()) -> list[tuple[str, int]]:
    rank = {name: i for i, name in enumerate(order)}
    items = [(k[0], v) for k, v in counts.items()]
    if order:
        return sorted(items, key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
    return sorted(items, key=lambda kv: (-kv[1], kv[0]))


def _chart(title: str, series: Sequence[tuple[str, float]], *, unit: str = "passports") -> dict[str, Any]:
    return {"title": title, "unit": unit, "series": [{"label": k, "value": v} for k, v in series]}


def _header(name: str, tenant: str, generated_at: datetime, filters: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "report": name,
        "title": REPORTS[name],
        "tenant": tenant,
        "generated_at": generated_at.isoformat(),
        "filters": dict(filters),
    }


def population(
    tenant: str, cube: list[CubeRow], generated_at: datetime, filters: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    total = sum(r.n for r in cube)
    by_category = _ordered(_sum_by(cube, "category"))
    by_chemistry = _ordered(_sum_by(cube, "chemistry"))
    by_stage = _ordered(_sum_by(cube, "stage"), STAGES)
    by_status = _ordered(_sum_by(cube, "status"), STATUSES)
    by_model = _ordered(_sum_by(cube, "model"))
    rows = [
        {"category": k[0], "chemistry": k[1], "model": k[2], "stage": k[3], "passports": v}
        for k, v in sorted(_sum_by(cube, "category", "chemistry", "model", "stage").items())
    ]
    return {
        **_header("population", tenant, generated_at, filters or {}),
        "total": total,
        "by_category": dict(by_category),
        "by_chemistry": dict(by_chemistry),
        "by_stage": dict(by_stage),
        "by_status": dict(by_status),
        "by_model": dict(by_model),
        "rows": rows,
        "charts": [
            _chart("Passports by category", by_category),
            _chart("Passports by chemistry", by_chemistry),
            _chart("Passports by lifecycle stage", by_stage),
            _chart("Passports by status", by_status),
        ],
    }


def in_service(
    tenant: str,
    cube: list[CubeRow],
    placed_by_month: list[tuple[str, int]],
    generated_at: datetime,
    filters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    active = [r for r in cube if r.stage in IN_SERVICE_STAGES]
    not_yet = sum(r.n for r in cube if r.stage == "manufactured")
    in_use = sum(r.n for r in active if r.stage == "in_service")
    placed = sum(r.n for r in active if r.stage == "placed_on_market")
    rows = [
        {"category": k[0], "model": k[1], "stage": k[2], "passports": v}
        for k, v in sorted(_sum_by(active, "category", "model", "stage").items())
    ]
    return {
        **_header("in-service", tenant, generated_at, filters or {}),
        "manufactured_not_placed": not_yet,
        "placed_on_market": placed,
        "in_service": in_use,
        "by_category": dict(_ordered(_sum_by(active, "category"))),
        "placed_on_market_by_month": dict(placed_by_month),
        "rows": rows,
        "charts": [
            # Where the batteries are now: a battery in service was placed on the market before (the monthly
            # series below counts every placing), so each bar counts the current stage only.
            _chart(
                "Where they are now",
                [
                    ("manufactured, not yet placed", not_yet),
                    ("placed, not yet in service", placed),
                    ("in service", in_use),
                ],
            ),
            _chart("In service by category", _ordered(_sum_by(active, "category"))),
            _chart("Placed on market per month", list(placed_by_month)),
        ],
    }


def end_of_life(
    tenant: str,
    cube: list[CubeRow],
    by_handler: list[tuple[str, int]],
    ceased: int,
    generated_at: datetime,
    filters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    eol = [r for r in cube if r.stage in END_OF_LIFE_STAGES or r.status == "waste"]
    by_stage = _ordered(_sum_by(eol, "stage"), STAGES)
    rows = [
        {"category": k[0], "chemistry": k[1], "stage": k[2], "status": k[3], "passports": v}
        for k, v in sorted(_sum_by(eol, "category", "chemistry", "stage", "status").items())
    ]
    return {
        **_header("end-of-life", tenant, generated_at, filters or {}),
        "end_of_life_total": sum(r.n for r in eol),
        "waste": sum(r.n for r in cube if r.status == "waste"),
        "ceased": ceased,
        "by_stage": dict(by_stage),
        "by_current_handler": dict(by_handler),
        "rows": rows,
        "charts": [
            _chart("End-of-life passports by stage", by_stage),
            _chart("End-of-life passports by category", _ordered(_sum_by(eol, "category"))),
            _chart("Held by (collectors, recyclers)", by_handler[:10]),
        ],
    }


# Recovery credits a passport at most its declared content plus this assay tolerance (recovery's default
# `BPASS_RECOVERY_ASSAY_TOLERANCE_PCT`, services/recovery/domain/mass_balance.py), to the 0.001 kg of its share-out: a
# yield above it comes from attributions recorded before that rule (or a gram of rounding), shown capped and flagged.
RECOVERY_ASSAY_TOLERANCE_PCT = Decimal(5)


def recovery_yields(
    tenant: str,
    totals: list[tuple[str, str, int, Decimal, Decimal]],
    generated_at: datetime,
    filters: Mapping[str, Any] | None = None,
    *,
    tolerance_pct: Decimal = RECOVERY_ASSAY_TOLERANCE_PCT,
) -> dict[str, Any]:
    """`totals`: (chemistry, material, passports, contained kg, recovered kg).

    A row's recovered mass counts at most contained × (1 + `tolerance_pct` %), so no yield shown passes
    100 % + the tolerance; a row capped so (legacy data) says `capped` and keeps what was reported in
    `recovered_kg_reported`.
    """
    rows = []
    by_material: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    capped_rows = 0
    for chemistry, material, passports, contained, reported in sorted(totals):
        ceiling = max(contained, Decimal(0)) * (1 + tolerance_pct / 100)
        recovered = min(reported, ceiling)
        capped = reported > ceiling
        capped_rows += capped
        rows.append(
            {
                "chemistry": _label(chemistry),
                "material": material,
                "passports": passports,
                "contained_kg": str(round(contained, 3)),
                "recovered_kg": str(round(recovered, 3)),
                "yield_pct": str(_yield_pct(recovered, contained)) if contained > 0 else None,
                "capped": capped,
                "recovered_kg_reported": str(round(reported, 3)),
            }
        )
        by_material[material][0] += contained
        by_material[material][1] += recovered
    yields = [(m, float(_yield_pct(r, c)) if c > 0 else 0.0) for m, (c, r) in sorted(by_material.items())]
    return {
        **_header("recovery-yields", tenant, generated_at, filters or {}),
        "recovered_kg_total": str(round(sum((r for _, (_, r) in by_material.items()), Decimal(0)), 3)),
        "tolerance_pct": str(tolerance_pct),
        "capped_rows": capped_rows,
        "rows": rows,
        "charts": [
            _chart("Recovery yield by material", yields, unit="%"),
            _chart(
                "Recovered mass by material",
                [(m, float(round(r, 1))) for m, (_, r) in sorted(by_material.items())],
                unit="kg",
            ),
        ],
    }


def _yield_pct(recovered: Decimal, contained: Decimal) -> Decimal:
    return round(recovered * 100 / contained, 1)


SHORT_RC = {
    "pre_consumer_recycled_nickel_share_pct": "pre_consumer_nickel_pct",
    "pre_consumer_recycled_cobalt_share_pct": "pre_consumer_cobalt_pct",
    "pre_consumer_recycled_lithium_share_pct": "pre_consumer_lithium_pct",
    "pre_consumer_recycled_lead_share_pct": "pre_consumer_lead_pct",
    "post_consumer_recycled_nickel_share_pct": "post_consumer_nickel_pct",
    "post_consumer_recycled_cobalt_share_pct": "post_consumer_cobalt_pct",
    "post_consumer_recycled_lithium_share_pct": "post_consumer_lithium_pct",
    "post_consumer_recycled_lead_share_pct": "post_consumer_lead_pct",
    "renewable_content_share_pct": "renewable_content_pct",
}


def recycled_content(
    tenant: str, cube: list[CubeRow], generated_at: datetime, filters: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    per: dict[str, list[Any]] = {}
    for cube_row in cube:
        acc = per.setdefault(_label(cube_row.chemistry), [0, 0, [Decimal(0)] * len(RECYCLED_FIELDS)])
        acc[0] += cube_row.n
        acc[1] += cube_row.rc_n
        acc[2] = [a + b for a, b in zip(acc[2], cube_row.rc_sums, strict=True)]
    rows = []
    for chemistry, (n, rc_n, sums) in sorted(per.items()):
        if n == 0:
            continue
        row: dict[str, Any] = {"chemistry": chemistry, "passports": n, "passports_with_data": rc_n}
        for name, total in zip(RECYCLED_FIELDS, sums, strict=True):
            row[f"avg_{SHORT_RC[name]}"] = str(round(total / rc_n, 2)) if rc_n else None
        rows.append(row)

    def total_recycled(row: dict[str, Any]) -> float:
        keys = [k for k in row if k.startswith("avg_post_consumer") or k.startswith("avg_pre_consumer")]
        return float(sum(Decimal(row[k]) for k in keys if row[k] is not None))

    return {
        **_header("recycled-content", tenant, generated_at, filters or {}),
        "rows": rows,
        "charts": [
            _chart(
                "Average post-consumer recycled cobalt share by chemistry",
                [(r["chemistry"], float(r["avg_post_consumer_cobalt_pct"] or 0)) for r in rows],
                unit="%",
            ),
            _chart(
                "Average recycled share (Ni+Co+Li+Pb, pre+post consumer) by chemistry",
                [(r["chemistry"], round(total_recycled(r), 2)) for r in rows],
                unit="%",
            ),
        ],
    }
