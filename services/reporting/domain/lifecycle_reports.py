"""The lifecycle reports: the second-life population (Art. 14, continued passports) and the state-of-health
distribution by age, from their counter rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.reporting.domain.reports import UNKNOWN, _chart, _header, _label

SECOND_LIFE_STATUSES = ("repurposed", "re-used", "remanufactured")


@dataclass(frozen=True)
class LifecycleRow:
    """One row of lifecycle_counts ('' = not given; operator '' = the tenant itself)."""

    model: str
    status: str
    operator: str
    n: int
    predecessors: int
    with_predecessors: int
    superseded: int


def second_life(
    tenant: str, counts: list[LifecycleRow], generated_at: datetime, filters: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Art. 77(7): the tenant's passports that are a second life (repurposed, re-used, remanufactured) and those that
    became waste, by model and responsible operator, with the predecessor passports they continue; and how many of
    the tenant's passports were superseded by a successor."""
    shown_statuses = (*SECOND_LIFE_STATUSES, "waste")
    by_status = {status: 0 for status in shown_statuses}
    by_model: dict[str, dict[str, int]] = {}
    by_operator: dict[str, dict[str, int]] = {}
    superseded_by_model: dict[str, int] = defaultdict(int)
    predecessors = continuing = superseded = 0
    rows = []
    for row in sorted(counts, key=lambda r: (r.status, r.model, r.operator)):
        model, operator = _label(row.model), row.operator or tenant
        if row.superseded:
            superseded += row.superseded
            superseded_by_model[model] += row.superseded
        if row.status not in shown_statuses and not row.superseded:
            continue
        if row.status in shown_statuses and row.n:
            by_status[row.status] += row.n
            model_entry = by_model.setdefault(model, {s: 0 for s in shown_statuses})
            model_entry[row.status] += row.n
            operator_entry = by_operator.setdefault(operator, {s: 0 for s in shown_statuses})
            operator_entry[row.status] += row.n
        if row.status in SECOND_LIFE_STATUSES:
            predecessors += row.predecessors
            continuing += row.with_predecessors
        rows.append(
            {
                "status": _label(row.status),
                "model": model,
                "responsible_operator": operator,
                "passports": row.n,
                "from_predecessors": row.with_predecessors,
                "predecessor_passports": row.predecessors,
                "superseded": row.superseded,
            }
        )
    second_life_total = sum(by_status[s] for s in SECOND_LIFE_STATUSES)
    second_life_by_model = sorted(
        ((m, sum(v[s] for s in SECOND_LIFE_STATUSES)) for m, v in by_model.items()), key=lambda kv: (-kv[1], kv[0])
    )
    return {
        **_header("second-life", tenant, generated_at, filters or {}),
        "second_life_total": second_life_total,
        "waste": by_status["waste"],
        "predecessor_passports": predecessors,
        "from_predecessors": continuing,
        "superseded": superseded,
        "by_status": by_status,
        "by_model": dict(sorted(by_model.items())),
        "by_responsible_operator": dict(sorted(by_operator.items())),
        "superseded_by_model": dict(sorted(superseded_by_model.items())),
        "rows": rows,
        "charts": [
            _chart("Second-life and waste passports by status", list(by_status.items())),
            _chart("Second-life passports by model", [kv for kv in second_life_by_model if kv[1]][:15]),
            _chart(
                "Superseded passports (with a successor) by model",
                sorted(superseded_by_model.items(), key=lambda kv: (-kv[1], kv[0]))[:15],
            ),
        ],
    }


# State-of-health buckets, % (lower bound inclusive; the last one holds 100).
SOH_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("soh_lt_60", 0, 600),
    ("soh_60_70", 600, 700),
    ("soh_70_80", 700, 800),
    ("soh_80_90", 800, 900),
    ("soh_90_95", 900, 950),
    ("soh_95_100", 950, 1001),
)  # (column, lower, upper) in tenths of a percent
SOH_METHOD = (
    "Latest state-of-health reading of each passport that has one and has not ceased. Age: whole years from the "
    "month the battery was placed on the market (its manufacture month when it was not), to the current month. "
    "min, p50 (lower median) and max in steps of 0.1 % (readings floored); the mean is exact."
)


def month_index(instant: datetime) -> int:
    """year * 12 + month - 1 (the `age_month` of soh_counts)."""
    return instant.year * 12 + instant.month - 1


@dataclass
class _Distribution:
    """A histogram of state-of-health readings in tenths of a percent, and their exact sum."""

    counts: dict[int, int]
    total: Decimal

    def add(self, tenths: int, n: int, total: Decimal) -> None:
        self.counts[tenths] = self.counts.get(tenths, 0) + n
        self.total += total

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> dict[str, Any]:
        n = self.n
        ordered = sorted(k for k, v in self.counts.items() if v)
        rank, seen, median = (n + 1) // 2, 0, ordered[0] if ordered else 0
        for tenths in ordered:
            seen += self.counts[tenths]
            if seen >= rank:
                median = tenths
                break
        out: dict[str, Any] = {
            "passports": n,
            "min_pct": _tenths(ordered[0]) if ordered else None,
            "p50_pct": _tenths(median) if ordered else None,
            "mean_pct": str(round(self.total / n, 2)) if n else None,
            "max_pct": _tenths(ordered[-1]) if ordered else None,
        }
        for column, low, high in SOH_BUCKETS:
            out[column] = sum(v for k, v in self.counts.items() if low <= k < high)
        return out


def _tenths(value: int) -> str:
    return str(Decimal(value) / 10)


def _distribution() -> _Distribution:
    return _Distribution({}, Decimal(0))


def state_of_health(
    tenant: str,
    histogram: list[tuple[str, int, int, int, Decimal]],
    generated_at: datetime,
    filters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`histogram`: (model, age in whole years or -1 unknown, soh tenths, passports, soh sum). Count, min, p50,
    mean, max and bucket counts per model and age, per model, per age and overall."""
    groups: dict[tuple[str, int], _Distribution] = defaultdict(_distribution)
    models: dict[str, _Distribution] = defaultdict(_distribution)
    ages: dict[int, _Distribution] = defaultdict(_distribution)
    overall = _distribution()
    for model, age, tenths, n, total in histogram:
        for dist in (groups[(model, age)], models[model], ages[age], overall):
            dist.add(tenths, n, total)

    def age_label(age: int) -> str:
        return UNKNOWN if age < 0 else str(age)

    def age_order(age: int) -> int:
        return age if age >= 0 else 1_000_000

    rows = [
        {"model": _label(model), "age_years": age_label(age), **groups[(model, age)].summary()}
        for model, age in sorted(groups, key=lambda k: (_label(k[0]), age_order(k[1])))
    ]
    by_model = {_label(m): models[m].summary() for m in sorted(models, key=_label)}
    by_age = {age_label(a): ages[a].summary() for a in sorted(ages, key=age_order)}
    overall_summary = overall.summary()
    bucket_series = [(column.removeprefix("soh_"), overall_summary[column]) for column, _, _ in SOH_BUCKETS]
    return {
        **_header("state-of-health", tenant, generated_at, filters or {}),
        "method": SOH_METHOD,
        "overall": overall_summary,
        "by_model": by_model,
        "by_age_years": by_age,
        "rows": rows,
        "charts": [
            _chart("Passports by state of health (%)", bucket_series),
            _chart(
                "Mean state of health by age (years)",
                [(age, float(s["mean_pct"])) for age, s in by_age.items() if s["mean_pct"] is not None],
                unit="%",
            ),
            _chart(
                "Median state of health by model",
                [(m, float(s["p50_pct"])) for m, s in by_model.items() if s["p50_pct"] is not None][:15],
                unit="%",
            ),
        ],
    }
