"""Residual split conformal prediction on probabilities, exactly as DESIGN.md section 4.

For each labeled outcome the nonconformity score is ``s_i = |p_i - y_i|``. For a coverage
level ``c`` (in percent, ``alpha = 1 - c/100``) the conformal rank is
``k = ceil((n + 1) * (1 - alpha))`` and the quantile ``q`` is the k-th smallest score, or
``1.0`` when ``k > n`` (the interval is then all of ``[0, 1]``).

The rank is computed in exact rational arithmetic. Binary floating point lands one order
statistic off for some (n, level): for n = 999 at 99.9 %, ``ceil(1000 * (99.9 / 100))`` is 1000
because the product is ``999.0000000000001`` in doubles, while the exact k is 999
(see ``shared/notes/conformal.md`` section 5 for the same artifact in crepes).

With binary labels the interval ``[p - q, p + q]`` contains the label only when ``p <= q``
(label 0) or ``p >= 1 - q`` (label 1), so marginal coverage can be on target while almost
no fraud case is covered. This module implements the method exactly; the reports measure
coverage per class so that the weakness stays visible.
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

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
        Predicted fraud probabilities in [0, 1].
    labels : array-like of shape (n,)
        Observed labels, 0 or 1.

    Returns
    -------
    ndarray of shape (n,)
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels)
    if p.shape != y.shape:
        raise ValueError(f"probabilities {p.shape} and labels {y.shape} differ in shape")
    return np.where(y.astype(bool), 1.0 - p, p)


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


def conformal_quantiles(scores: ArrayLike, levels: list[int] | tuple[int, ...]) -> dict[int, tuple[float, int]]:
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


def prediction_intervals(probabilities: ArrayLike, quantile: float, narrow_threshold: float) -> Intervals:
    """Return ``[max(0, p - q), min(1, p + q)]``, its width and the narrow flag.

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
    p = np.asarray(probabilities, dtype=np.float64)
    lower = np.maximum(0.0, p - quantile)
    upper = np.minimum(1.0, p + quantile)
    width = upper - lower
    return Intervals(lower, upper, width, width < narrow_threshold)


def interval_contains(lower: ArrayLike, upper: ArrayLike, labels: ArrayLike) -> NDArray[np.bool_]:
    """Return whether each label lies inside its interval (both ends inclusive)."""
    y = np.asarray(labels, dtype=np.float64)
    return (np.asarray(lower) <= y) & (y <= np.asarray(upper))
