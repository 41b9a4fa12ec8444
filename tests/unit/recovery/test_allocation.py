"""Largest-remainder apportionment: exact sums, fairness within one quantum, monotonic, zero weights."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.recovery.domain.allocation import QUANTUM, ZeroWeights, allocate

weights_st = st.lists(
    st.decimals(min_value=0, max_value=100_000, places=3, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=40,
)
pool_st = st.integers(min_value=0, max_value=10**9).map(lambda n: Decimal(n) * QUANTUM)


@given(pool=pool_st, weights=weights_st)
def test_shares_sum_exactly_and_stay_within_one_quantum(pool: Decimal, weights: list[Decimal]) -> None:
    if sum(weights) == 0:
        if pool:
            with pytest.raises(ZeroWeights):
                allocate(pool, weights)
        return
    shares = allocate(pool, weights)
    assert sum(shares) == pool
    total = sum(Fraction(w) for w in weights)
    for share, weight in zip(shares, weights, strict=True):
        assert share >= 0
        assert share % QUANTUM == 0
        assert abs(Fraction(share) - Fraction(pool) * Fraction(weight) / total) < Fraction(QUANTUM)
        if weight == 0:
            assert share == 0


@given(pool=pool_st, weights=weights_st)
def test_a_larger_weight_never_gets_less(pool: Decimal, weights: list[Decimal]) -> None:
    if sum(weights) == 0:
        return
    shares = allocate(pool, weights)
    for i in range(len(weights)):
        for j in range(len(weights)):
            if weights[i] > weights[j]:
                assert shares[i] >= shares[j]


def test_leftover_quanta_go_to_the_largest_remainders_then_the_first() -> None:
    assert allocate(Decimal("0.010"), [Decimal(1)] * 3) == [Decimal("0.004"), Decimal("0.003"), Decimal("0.003")]
    assert allocate(Decimal("1.000"), [Decimal(2), Decimal(1)]) == [Decimal("0.667"), Decimal("0.333")]


def test_a_pool_off_the_quantum_or_negative_is_refused() -> None:
    with pytest.raises(ValueError, match="multiple"):
        allocate(Decimal("0.0005"), [Decimal(1)])
    with pytest.raises(ValueError, match="negative"):
        allocate(Decimal("1"), [Decimal(-1), Decimal(2)])


def test_nothing_to_share_among_zero_weights_is_fine() -> None:
    assert allocate(Decimal("0.000"), [Decimal(0), Decimal(0)]) == [Decimal(0), Decimal(0)]
