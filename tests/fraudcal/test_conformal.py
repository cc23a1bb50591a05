"""The residual split-conformal method of DESIGN.md section 4, checked against references.

References are independent of the code under test: exact rationals for k, a full sort for
the k-th smallest score, and hand-computed intervals on dyadic numbers (exact in binary).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from fraudcal.conformal import (
    UNBOUNDED_QUANTILE,
    conformal_quantile,
    conformal_quantiles,
    conformal_rank,
    interval_bounds,
    interval_contains,
    prediction_intervals,
    residual_scores,
)

LEVELS = (90, 95, 99)


@pytest.mark.parametrize("level", LEVELS)
def test_rank_equals_exact_rational_ceiling_for_n_1_to_500(level):
    for n in range(1, 501):
        expected = math.ceil(Fraction(n + 1) * Fraction(level, 100))
        assert conformal_rank(n, level) == expected, (n, level)


@pytest.mark.parametrize(("level", "largest_unbounded_n"), [(90, 8), (95, 18), (99, 98)])
def test_quantile_is_one_exactly_when_k_exceeds_n(level, largest_unbounded_n):
    # k > n  <=>  n < 1/alpha - 1: n = 9 / 19 / 99 are the first finite ones.
    rng = np.random.default_rng(1)
    for n in range(1, 120):
        scores = rng.random(n) * 0.5
        q, k = conformal_quantile(scores, level)
        if n <= largest_unbounded_n:
            assert k > n and q == UNBOUNDED_QUANTILE, (n, level, k, q)
        else:
            assert k <= n and q == np.sort(scores)[k - 1], (n, level, k, q)


def test_rank_is_exact_where_binary_floating_point_is_not():
    # (999 + 1) * (99.9 / 100) == 999.0000000000001 in doubles: a float ceil says 1000.
    assert math.ceil((999 + 1) * (99.9 / 100)) == 1000
    assert conformal_rank(999, "99.9") == 999
    assert conformal_rank(999, 99.9) == 999


@pytest.mark.parametrize("bad_level", [0, 100, -5, 150])
def test_rank_rejects_levels_outside_0_100(bad_level):
    with pytest.raises(ValueError, match=str(bad_level)):
        conformal_rank(10, bad_level)


def test_quantile_is_kth_smallest_score_with_ties():
    rng = np.random.default_rng(7)
    scores = np.round(rng.random(1001), 2)  # many exact ties
    for level in LEVELS:
        q, k = conformal_quantile(scores, level)
        assert q == np.sort(scores)[k - 1]


def test_quantiles_for_several_levels_equal_one_level_at_a_time():
    scores = np.random.default_rng(3).random(257)
    together = conformal_quantiles(scores, list(LEVELS))
    assert together == {level: conformal_quantile(scores, level) for level in LEVELS}


def test_residual_scores_are_p_for_label_0_and_1_minus_p_for_label_1():
    p = np.array([0.0, 0.25, 0.75, 1.0])
    assert residual_scores(p, [0, 0, 0, 0]).tolist() == [0.0, 0.25, 0.75, 1.0]
    assert residual_scores(p, [1, 1, 1, 1]).tolist() == [1.0, 0.75, 0.25, 0.0]


def test_intervals_clamp_to_unit_range_and_narrow_is_strict():
    # Dyadic values: every sum and difference below is exact in binary.
    p = np.array([0.0, 0.0625, 0.5, 0.9375, 1.0])
    intervals = prediction_intervals(p, quantile=0.125, narrow_threshold=0.25)
    assert intervals.lower.tolist() == [0.0, 0.0, 0.375, 0.8125, 0.875]
    assert intervals.upper.tolist() == [0.125, 0.1875, 0.625, 1.0, 1.0]
    assert intervals.width.tolist() == [0.125, 0.1875, 0.25, 0.1875, 0.125]
    # width 0.25 is not < 0.25: the middle interval is wide.
    assert intervals.is_narrow.tolist() == [True, True, False, True, True]


def test_unbounded_quantile_gives_the_whole_unit_interval():
    intervals = prediction_intervals([0.3, 0.9], UNBOUNDED_QUANTILE, narrow_threshold=0.2)
    assert intervals.lower.tolist() == [0.0, 0.0]
    assert intervals.upper.tolist() == [1.0, 1.0]
    assert not intervals.is_narrow.any()


def test_interval_holds_label_exactly_when_score_is_at_most_q():
    # With binary labels, y in [p - q, p + q] <=> |p - y| <= q (DESIGN.md section 4).
    rng = np.random.default_rng(11)
    p = np.round(rng.random(5000), 3)
    y = (rng.random(5000) < p).astype(int)
    q = 0.125
    intervals = prediction_intervals(p, q, 0.2)
    assert (interval_contains(intervals.lower, intervals.upper, y) == (residual_scores(p, y) <= q)).all()


def test_interval_bounds_by_hand_with_one_q_or_one_q_per_row():
    # Dyadic values: exact in binary, so equality is exact.
    p = [0.0, 0.0625, 0.5, 0.9375, 1.0]
    lower, upper = interval_bounds(p, 0.125)
    assert lower.tolist() == [0.0, 0.0, 0.375, 0.8125, 0.875]
    assert upper.tolist() == [0.125, 0.1875, 0.625, 1.0, 1.0]
    lower, upper = interval_bounds(p, [0.5, 0.0, 0.25, 0.0625, 1.0])
    assert lower.tolist() == [0.0, 0.0625, 0.25, 0.875, 0.0]
    assert upper.tolist() == [0.5, 0.0625, 0.75, 1.0, 1.0]


def test_interval_bounds_of_a_missing_quantile_are_nan_and_contain_nothing():
    lower, upper = interval_bounds([0.5, 0.5], [np.nan, 0.25])
    assert np.isnan(lower[0]) and np.isnan(upper[0])
    assert interval_contains(lower, upper, [0, 0]).tolist() == [False, False]


def test_prediction_intervals_are_interval_bounds_with_width_and_flag():
    rng = np.random.default_rng(12)
    p = rng.random(1000)
    lower, upper = interval_bounds(p, 0.3)
    intervals = prediction_intervals(p, 0.3, 0.5)
    assert np.array_equal(intervals.lower, lower) and np.array_equal(intervals.upper, upper)
    assert np.array_equal(intervals.width, upper - lower)
    assert np.array_equal(intervals.is_narrow, upper - lower < 0.5)
