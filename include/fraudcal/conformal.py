"""Residual split conformal prediction on probabilities, exactly as DESIGN.md section 4.

For each labeled outcome the nonconformity score is ``s_i = |p_i - y_i|``. For a coverage
level ``c`` (in percent, ``alpha = 1 - c/100``) the conformal rank is
``k = ceil((n + 1) * (1 - alpha))`` and the quantile ``q`` is the k-th smallest score, or
``1.0`` when ``k > n`` (the interval is then all of ``[0, 1]``). This is the split
(inductive) conformal predictor of Vovk, Gammerman & Shafer (2005), *Algorithmic Learning
in a Random World*, with the finite-sample rank of Angelopoulos & Bates (2021), *A Gentle
Introduction to Conformal Prediction*.

The rank is computed in exact rational arithmetic. Binary floating point lands one order
statistic off for some (n, level): for n = 999 at 99.9 %, ``ceil(1000 * (99.9 / 100))`` is 1000
because the product is ``999.0000000000001`` in doubles, while the exact k is 999. Libraries
that compute the rank in floating point, such as ``crepes`` (``int((1 - confidence) * (n + 1))``),
are exposed to the same artifact.

With binary labels the interval ``[p - q, p + q]`` contains the label only when ``p <= q``
(label 0) or ``p >= 1 - q`` (label 1), so marginal coverage can be on target while almost
no fraud case is covered. This module implements the method exactly; the reports measure
coverage per class so that the weakness stays visible.

The interval formula ``[max(0, p - q), min(1, p + q)]`` has one home,
:func:`interval_bounds`; every interval, width and coverage figure of the core uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fraudcal.inputs import checked_outcomes

#: Value of q when the calibration window is too small for the level (k > n).
UNBOUNDED_QUANTILE = 1.0


def coverage_fraction(level: float | int | str | Fraction) -> Fraction:
    """Return a coverage level in percent as an exact fraction of one.

    Parameters
    ----------
    level : int, float, str or Fraction
        Coverage in percent, e.g. ``90`` or ``"99.5"``. Floats are read through their
        shortest decimal representation (``99.9`` means 999/1000, not the binary double).

    Returns
    -------
    Fraction
        ``level / 100`` exactly, strictly between 0 and 1.

    Raises
    ------
    ValueError
        If the level is not strictly between 0 and 100.

    Examples
    --------
    >>> coverage_fraction(99.9)
    Fraction(999, 1000)
    >>> sorted(["99.5", "90", "99"], key=coverage_fraction)
    ['90', '99', '99.5']
    """
    fraction = Fraction(str(level)) / 100 if not isinstance(level, Fraction) else level / 100
    if not 0 < fraction < 1:
        raise ValueError(f"coverage level {level!r} must be strictly between 0 and 100 (percent)")
    return fraction


def conformal_rank(n: int, level: float | int | str | Fraction) -> int:
    """Return ``k = ceil((n + 1) * (1 - alpha))`` in exact integer arithmetic.

    Parameters
    ----------
    n : int
        Number of calibration scores, ``n >= 1``.
    level : int, float, str or Fraction
        Coverage level in percent (``1 - alpha`` times 100).

    Returns
    -------
    int
        The 1-based rank of the score that is the conformal quantile. May exceed ``n``;
        the quantile is then unbounded (see :func:`conformal_quantile`).

    Examples
    --------
    >>> conformal_rank(99, 90)
    90
    >>> conformal_rank(30, 99)
    31

    Exact where a float ceiling is one off (``1000 * (99.9 / 100)`` is ``999.0000000000001``):

    >>> conformal_rank(999, 99.9)
    999
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n={n!r} must be a positive integer")
    target = (int(n) + 1) * coverage_fraction(level)
    # ceil for a positive Fraction: -((-a) // b) stays in integers.
    return -((-target.numerator) // target.denominator)


def residual_scores(probabilities: ArrayLike, labels: ArrayLike) -> NDArray[np.float64]:
    """Return the nonconformity scores ``|p - y|``.

    For label 0 the score is ``p`` itself, never ``1 - (1 - p)``, so that equal
    probabilities give bit-identical scores (ties are then resolved by ``<=`` exactly).

    Parameters
    ----------
    probabilities : array-like of shape (n,)
        Predicted fraud probabilities, finite and in [0, 1].
    labels : array-like of shape (n,)
        Observed labels, exactly 0 or 1.

    Returns
    -------
    ndarray of shape (n,)

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If a probability is NaN or outside [0, 1], a label is not 0/1, or the shapes differ.

    Examples
    --------
    >>> residual_scores([0.25, 0.25], [0, 1]).tolist()
    [0.25, 0.75]
    """
    p, y = checked_outcomes(probabilities, labels)
    return np.where(y, 1.0 - p, p)


def conformal_quantile(scores: ArrayLike, level: float | int | str | Fraction) -> tuple[float, int]:
    """Return the conformal quantile ``q`` and its rank ``k`` for one coverage level.

    Parameters
    ----------
    scores : array-like of shape (n,)
        Nonconformity scores of the calibration window.
    level : int, float, str or Fraction
        Coverage level in percent.

    Returns
    -------
    q : float
        The k-th smallest score (``np.partition``, O(n)), or ``1.0`` when ``k > n``.
    k : int
        The conformal rank, possibly greater than ``n``.
    """
    s = np.asarray(scores, dtype=np.float64)
    n = s.size
    k = conformal_rank(n, level)
    if k > n:
        return UNBOUNDED_QUANTILE, k
    return float(np.partition(s, k - 1)[k - 1]), k


def conformal_quantiles(
    scores: ArrayLike, levels: Sequence[float | int | str | Fraction]
) -> dict[float | int | str | Fraction, tuple[float, int]]:
    """Return ``{level: (q, k)}`` for several levels with a single partition of the scores.

    Equivalent to calling :func:`conformal_quantile` per level, but ``np.partition`` with
    all ranks at once touches the array once.
    """
    s = np.asarray(scores, dtype=np.float64)
    n = s.size
    ranks = {level: conformal_rank(n, level) for level in levels}
    finite = sorted({k - 1 for k in ranks.values() if k <= n})
    partitioned = np.partition(s, finite) if finite else s
    return {level: (float(partitioned[k - 1]) if k <= n else UNBOUNDED_QUANTILE, k) for level, k in ranks.items()}


class Intervals(NamedTuple):
    """Prediction intervals for an array of probabilities."""

    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    width: NDArray[np.float64]
    is_narrow: NDArray[np.bool_]


def interval_bounds(probabilities: ArrayLike, quantile: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the interval ``lower = max(0, p - q)``, ``upper = min(1, p + q)``.

    The one place the interval formula of DESIGN.md section 4 is written; the width is
    ``upper - lower``.

    Parameters
    ----------
    probabilities : array-like of shape (n,)
        Predicted probabilities in [0, 1].
    quantile : float or array-like of shape (n,)
        The conformal quantile ``q``: one for all rows, or each row's own (the set in force
        when the row was predicted). Broadcast against ``probabilities``; a NaN ``q`` gives
        NaN bounds.

    Returns
    -------
    lower, upper : ndarray of float64

    Examples
    --------
    >>> lower, upper = interval_bounds([0.0625, 0.5, 0.9375], 0.125)
    >>> lower.tolist(), upper.tolist()
    ([0.0, 0.375, 0.8125], [0.1875, 0.625, 1.0])
    >>> lower, upper = interval_bounds([0.5, 0.5], [0.125, 0.75])
    >>> (upper - lower).tolist()
    [0.25, 1.0]
    """
    p = np.asarray(probabilities, dtype=np.float64)
    q = np.asarray(quantile, dtype=np.float64)
    return np.maximum(0.0, p - q), np.minimum(1.0, p + q)


def prediction_intervals(probabilities: ArrayLike, quantile: float, narrow_threshold: float) -> Intervals:
    """Return the intervals of :func:`interval_bounds`, their width and the narrow flag.

    Parameters
    ----------
    probabilities : array-like of shape (n,)
        Predicted probabilities in [0, 1].
    quantile : float
        The conformal quantile ``q`` of the chosen level.
    narrow_threshold : float
        An interval is narrow when ``width < narrow_threshold`` (strictly).

    Returns
    -------
    Intervals
        ``lower``, ``upper``, ``width`` and ``is_narrow``, each of shape (n,).
    """
    lower, upper = interval_bounds(probabilities, quantile)
    width = upper - lower
    return Intervals(lower, upper, width, width < narrow_threshold)


def interval_contains(lower: ArrayLike, upper: ArrayLike, labels: ArrayLike) -> NDArray[np.bool_]:
    """Return whether each label lies inside its interval (both ends inclusive)."""
    y = np.asarray(labels, dtype=np.float64)
    return (np.asarray(lower) <= y) & (y <= np.asarray(upper))
