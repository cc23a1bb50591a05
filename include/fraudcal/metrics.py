"""Calibration metrics and the summary statistics operators read.

"Calibration" here means *probability calibration*: whether, among predictions of about
``p``, a fraction of about ``p`` is fraud. The expected calibration error (ECE) measures it,
and ``calibration_score = 1 - ECE`` reports it. Neither says anything about whether the
conformal intervals cover the labels; that is the *calibration set* of
:mod:`fraudcal.calibration_set` (its conformal quantiles) and the coverage figures of
:mod:`fraudcal.coverage`. A model can have a high ``calibration_score`` while its intervals
miss most frauds, and the reverse.

Expected calibration error uses *equal-mass* bins: the calibration window is sorted by
probability and cut into bins of (nearly) equal counts. With rare fraud almost every
probability is near zero, so equal-width bins would put nearly all rows in the first bin
and say little.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike

from fraudcal.inputs import checked_outcomes

#: Bins of the expected calibration error (DESIGN.md section 4).
ECE_BINS = 10


def _sorted_by_probability_then_label(p: np.ndarray, is_positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return cumulative sums of p and y along the order (p ascending, ties: label 0 first).

    The order is a function of the multiset of ``(p, y)`` pairs alone, independent of the
    order the database returned the rows in (XGBoost probabilities are float32 and tie
    often). Sorting each class separately and merging them is several times faster than
    ``np.lexsort`` on a million rows, and gives the same order.

    Parameters
    ----------
    p : ndarray of float64, shape (n,)
        Checked probabilities.
    is_positive : ndarray of bool, shape (n,)
        Checked labels (True = fraud).

    Returns
    -------
    cumulative_p, cumulative_y : ndarray of shape (n + 1,)
        Prefix sums with a leading 0, so that a bin ``[a, b)`` sums to ``c[b] - c[a]``.
    """
    negatives = np.sort(p[~is_positive])
    positives = np.sort(p[is_positive])
    # Merged position of each positive: negatives not greater than it, then earlier positives.
    positions = np.searchsorted(negatives, positives, side="right") + np.arange(positives.size)
    merged = np.empty(p.size, dtype=np.float64)
    labels = np.zeros(p.size, dtype=np.float64)
    labels[positions] = 1.0
    merged[positions] = positives
    merged[labels == 0.0] = negatives
    return np.concatenate(([0.0], np.cumsum(merged))), np.concatenate(([0.0], np.cumsum(labels)))


def expected_calibration_error(probabilities: ArrayLike, labels: ArrayLike, n_bins: int = ECE_BINS) -> float:
    """Return the expected calibration error over ``n_bins`` equal-mass bins.

    ``ECE = sum_b (n_b / n) * |mean(p_b) - mean(y_b)|``. Rows are sorted by probability,
    ties broken by label (0 first), and split like ``np.array_split`` (the first
    ``n % n_bins`` bins hold one row more), which is also what SQL's
    ``ntile(n_bins) OVER (ORDER BY p, y)`` does.

    Parameters
    ----------
    probabilities : array-like of shape (n,)
        Finite, in [0, 1].
    labels : array-like of shape (n,)
        Exactly 0 or 1.
    n_bins : int, default=10

    Returns
    -------
    float
        In [0, 1]; NaN for an empty input.

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If a probability is NaN or outside [0, 1] (a NaN would make the ECE NaN) or a label is not 0/1.

    Examples
    --------
    Two bins, each 0.1 away from its observed rate:

    >>> round(expected_calibration_error([0.1] * 5 + [0.9] * 5, [0, 0, 0, 0, 1] + [1] * 5, n_bins=2), 12)
    0.1
    """
    p, y = checked_outcomes(probabilities, labels)
    n = p.size
    if n == 0:
        return float("nan")
    cumulative_p, cumulative_y = _sorted_by_probability_then_label(p, y)
    bins = min(n_bins, n)
    sizes = np.full(bins, n // bins)
    sizes[: n % bins] += 1
    edges = np.concatenate(([0], np.cumsum(sizes)))
    gap = np.diff(cumulative_p[edges]) - np.diff(cumulative_y[edges])
    # sum_b (n_b/n) * |sum_p/n_b - sum_y/n_b| = sum_b |sum_p - sum_y| / n
    return float(np.abs(gap).sum() / n)


def brier_score(probabilities: ArrayLike, labels: ArrayLike) -> float:
    """Return the mean squared difference between probability and label (NaN when empty).

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If a probability or label breaks the rules of :mod:`fraudcal.inputs` (a label 2 would inflate it).

    Examples
    --------
    >>> brier_score([0.0, 0.5, 1.0, 0.5], [0, 1, 1, 0])
    0.125
    """
    p, y = checked_outcomes(probabilities, labels)
    return float(np.mean((p - y.astype(np.float64)) ** 2)) if p.size else float("nan")


@dataclass(frozen=True)
class OutcomeStatistics:
    """What the operators read about a window of labeled outcomes."""

    n: int
    n_positive: int
    positive_rate: float
    mean_prediction: float
    std_prediction: float
    mean_actual: float

    def as_dict(self) -> dict[str, float | int]:
        """Return the statistics as a plain, JSON-ready dict."""
        return asdict(self)


def outcome_statistics(probabilities: ArrayLike, labels: ArrayLike) -> OutcomeStatistics:
    """Return n, positives, positive rate, mean/std of predictions and mean label.

    ``mean_actual`` equals ``positive_rate``; both are kept because the operators' dashboards
    name them differently. ``std_prediction`` is the population standard deviation (ddof=0).

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If the outcomes break the rules of :mod:`fraudcal.inputs`; the statistics are never computed on them.
    """
    p, y = checked_outcomes(probabilities, labels)
    n = int(p.size)
    n_positive = int(np.count_nonzero(y))
    rate = n_positive / n if n else float("nan")
    return OutcomeStatistics(
        n=n,
        n_positive=n_positive,
        positive_rate=rate,
        mean_prediction=float(p.mean()) if n else float("nan"),
        std_prediction=float(p.std()) if n else float("nan"),
        mean_actual=rate,
    )
