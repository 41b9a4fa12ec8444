"""Apportioning an amount pro rata, in Decimal, so that the shares sum exactly to it. No I/O.

Rule (largest remainder, Hamilton's method, at a fixed quantum of 0.001 kg): with the pool as N quanta, each
share first gets the whole quanta of its exact pro-rata share (floor of N × w_i / W, computed in exact
rational arithmetic); the quanta left over go one each to the shares with the largest remainders, ties
broken by the larger weight, then by position. Hence: the shares sum to the pool exactly, each differs from
its exact pro-rata value by less than one quantum, a zero weight gets nothing, and a larger weight never
gets less than a smaller one.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

QUANTUM = Decimal("0.001")  # kg


class ZeroWeights(ValueError):
    """Every weight is zero: there is nothing to apportion pro rata to."""


def quantize_kg(value: Decimal) -> Decimal:
    """Round a mass to the quantum (half-even), the form every pool takes before it is shared out."""
    return value.quantize(QUANTUM)


def allocate(pool: Decimal, weights: Sequence[Decimal], quantum: Decimal = QUANTUM) -> list[Decimal]:
    """Shares of `pool` (a non-negative multiple of `quantum`) pro rata `weights` (non-negative)."""
    if pool < 0 or any(w < 0 for w in weights):
        raise ValueError("pool and weights must not be negative")
    units_exact = Fraction(pool) / Fraction(quantum)
    if units_exact.denominator != 1:
        raise ValueError(f"pool {pool} is not a multiple of {quantum}")
    units = units_exact.numerator
    total = sum((Fraction(w) for w in weights), Fraction(0))
    if total == 0:
        if units == 0:
            return [Decimal(0) * quantum for _ in weights]
        raise ZeroWeights("every weight is zero")
    exact = [units * Fraction(w) / total for w in weights]
    floors = [e.numerator // e.denominator for e in exact]
    left = units - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), -Fraction(weights[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [Decimal(n) * quantum for n in floors]
