"""The report counters: how a batch's passports moving between dimensions change the counter rows."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.reporting.domain.dimensions import ZERO_RC, Dimensions


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
