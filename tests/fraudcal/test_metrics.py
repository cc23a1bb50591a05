"""Calibration metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from fraudcal.metrics import brier_score, expected_calibration_error, outcome_statistics


def test_ece_on_two_equal_mass_bins_by_hand():
    p = [0.1] * 5 + [0.9] * 5
    y = [0, 0, 0, 0, 1] + [1] * 5
    # bin 1: mean p 0.1, mean y 0.2 -> 0.1; bin 2: mean p 0.9, mean y 1.0 -> 0.1
    assert expected_calibration_error(p, y, n_bins=2) == pytest.approx(0.1, abs=1e-15)


def test_ece_with_one_row_per_bin_is_mean_absolute_error():
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    y = np.array([0, 0, 1, 0, 1, 1, 0, 1, 1, 1])
    assert expected_calibration_error(p, y) == pytest.approx(np.mean(np.abs(p - y)), abs=1e-15)


def test_ece_bins_follow_array_split_when_n_is_not_a_multiple():
    # 12 rows, 10 bins: the first two bins hold 2 rows, the rest 1 (as SQL ntile does).
    p = np.arange(1, 13) / 13
    y = np.array([1, 0, 0, 1] + [0] * 8)
    expected = (abs(p[0] + p[1] - 1) + abs(p[2] + p[3] - 1) + sum(p[4:])) / 12
    assert expected_calibration_error(p, y) == pytest.approx(expected, abs=1e-15)


def test_ece_does_not_depend_on_row_order_even_with_tied_probabilities():
    rng = np.random.default_rng(5)
    p = np.round(rng.random(1000), 1)  # 11 distinct values: ties across every bin edge
    y = (rng.random(1000) < p).astype(int)
    reference = expected_calibration_error(p, y)
    for _ in range(5):
        order = rng.permutation(1000)
        assert expected_calibration_error(p[order], y[order]) == pytest.approx(reference, abs=1e-12)


def test_brier_and_statistics_by_hand():
    p = [0.0, 0.5, 1.0, 0.5]
    y = [0, 1, 1, 0]
    assert brier_score(p, y) == pytest.approx(0.125)
    stats = outcome_statistics(p, y)
    assert (stats.n, stats.n_positive) == (4, 2)
    assert stats.positive_rate == stats.mean_actual == 0.5
    assert stats.mean_prediction == 0.5
    assert stats.std_prediction == pytest.approx(np.sqrt(0.125))
