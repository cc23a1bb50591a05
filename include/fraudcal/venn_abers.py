"""Inductive Venn-Abers predictors: a calibrated probability interval ``[p0, p1]`` per score.

The method
----------
The calibration window is a list of pairs ``(s_i, y_i)``: the model's score and the label.
For a new score ``s`` the inductive Venn-Abers predictor (Vovk & Petej 2014, *Venn-Abers
predictors*, UAI) fits two isotonic (non-decreasing) regressions of the label on the score:

- ``p0(s)``: fitted on the calibration pairs plus ``(s, 0)``, read at ``s``;
- ``p1(s)``: fitted on the calibration pairs plus ``(s, 1)``, read at ``s``.

Tied scores are pooled: equal scores get one fitted value (the weighted mean of their labels
goes into the pool adjacent violators algorithm), as scikit-learn's ``IsotonicRegression``
does. Always ``p0(s) <= p1(s)``; the merged probability is ``p = p1 / (1 - p0 + p1)``, the
merge that minimises the worst-case log loss (Vovk & Petej 2014).

Guarantee, assumptions, limits
------------------------------
- If the calibration pairs and the new pair are exchangeable (i.i.d. suffices), one of the
  two probabilities is perfectly calibrated: the label's frequency among the cases that got
  ``p_y`` equals ``p_y`` (Vovk & Petej 2014, theorem 1). Which of the two it is depends on
  the unknown label, so the guarantee is about the *pair*, not about ``p``; ``p`` is a
  compromise that is usually well calibrated but has no finite-sample guarantee of its own.
- Label shift (a fraud rate different from the window's) or score drift breaks
  exchangeability, and with it the guarantee.
- The width ``p1 - p0`` says how much calibration data lies near ``s``: where many labeled
  cases sit close to ``s`` one extra case moves the isotonic fit little and the interval is
  narrow; where few do, it is wide. It is **not** an error bar on the model or on the label
  (a narrow interval around 0.5 is a confident statement that the case is a coin flip), and
  it must not be sold as an auto-ticket signal: a HIGH score with a narrow interval has not
  been shown to be a fraud more often. Deciding tickets needs a risk-controlled threshold.
- With rare fraud, ``p1`` at low scores is driven by the distance to the next confirmed
  fraud above ``s`` (it is about ``1 / (rows between s and that fraud)``), so it changes at
  almost every calibration score there; this is the method, not noise.

The representation (what :meth:`VennAbersSet.to_dict` returns)
---------------------------------------------------------------
Both functions are step functions of ``s`` whose steps sit at calibration scores, and it is
enough to know them at the calibration scores: for a score strictly between two consecutive
distinct calibration scores ``x_j < s < x_{j+1}``, ``p0(s) = p0(x_j)`` (a new label-0 point
is pooled with its left neighbour) and ``p1(s) = p1(x_{j+1})`` (a new label-1 point is pooled
with its right neighbour); below the smallest ``p0 = 0``, above the largest ``p1 = 1``.
(Vovk, Petej & Fedorova 2015, *Large-scale probabilistic predictors with and without
guarantees of validity*, NeurIPS, section 3, state the same with sentinel scores.) The
JSON form merges consecutive equal values (an exact compaction)::

    {"n": 1000, "n_positive": 31,
     "p0": {"lower": [0.0312, 0.0541, ...], "value": [0.0122, 0.0196, ...]},
     "p1": {"upper": [0.0004, 0.0009, ...], "value": [0.0011, 0.0012, ...]}}

- ``p0.lower`` is strictly increasing and ``p0.value`` strictly increasing, both of the same
  length: ``p0(s) = value[i]`` for the **last** ``i`` with ``lower[i] <= s``, and ``0`` when
  ``s < lower[0]`` (or the list is empty).
- ``p1.upper`` is strictly increasing and ``p1.value`` strictly increasing: ``p1(s) =
  value[i]`` for the **first** ``i`` with ``s <= upper[i]``, and ``1`` when ``s > upper[-1]``
  (or the list is empty).
- So at a score equal to a breakpoint ``p0`` takes the new value (``bisect_right - 1``) and
  ``p1`` the old one (``bisect_left``); every value is a float64 written by ``repr`` (exact
  round trip), the correctly rounded value of a fraction of two counts.
- ``n`` and ``n_positive`` are the window's rows and frauds.

Size. Without compaction the exact representation needs ``3 m`` numbers for ``m`` distinct
calibration scores (each score, ``p0`` and ``p1`` there): about 60 MB of JSON for a million
distinct scores. The compacted form keeps ``len(p0.lower) <=`` the number of distinct fraud
scores (``p0`` changes only at a score that holds a fraud) and ``len(p1.upper) <= m``: ``p1``
changes wherever a new fraud would start its own pool, which with rare fraud is almost every
score below the first frauds. Measured by ``python -m fraudcal.measurements`` on 1M rows with
3 % fraud: continuous Beta(0.3, 9.7) scores (:func:`fraudcal.measurements.beta_window`, all
distinct) keep 143,528 ``p1`` and 152 ``p0`` steps, 6.4 MB of JSON; the XGBoost-scored
synthetic log (``--synthetic``, 203,434 distinct scores) keeps 1,860 and 170, 85 KB. Either
is too much for the main Redis payload (64 KB), hence the companion key of
:mod:`fraudcal.payload`.

The fit
-------
:func:`fit_venn_abers` never refits per score. It sorts the scores, and the fraud scores
apart (the only O(n log n) steps), forms the cumulative sum diagram (CSD) of the labels at the level
of the *ranges* between consecutive distinct fraud scores, and takes its lower convex hull
(the isotonic fit's pools) from SciPy's PAVA on those ranges, checked afterwards in exact
integer arithmetic. Then, with ``P_u = (W_u, S_u)`` the CSD points (rows and frauds up to
the u-th distinct score) and ``H`` the hull, the min-max formula of isotonic regression gives

- ``p1`` at the j-th score: ``max over u < j`` of ``T(u) = min over hull vertices v after u``
  of ``(S_v - S_u + 1) / (W_v - W_u + 1)`` (a running maximum: the new fraud's pool can
  begin anywhere, but it ends at a hull vertex, because the fraud only raises the fit and
  every tail of a calibration pool lies at or below the pool's mean);
- ``p0`` at the j-th score: ``min over v >= j`` of ``max over hull vertices u before v`` of
  ``(S_v - S_u) / (W_v + 1 - W_u)`` (a running minimum; symmetrically, the new legitimate
  case's pool begins at a hull vertex),

each hull search walking a convex chain (unimodal). Between two fraud scores ``S`` is
constant, so ``p0`` is constant there and ``p1`` is either the running maximum or the
increasing ``T(u)``; only the latter rows are touched one by one. Ranks and comparisons are
exact integers; every value is one float division of two integers. Windows are limited to
:data:`MAX_ROWS` rows so that two different fractions of counts never round to one float.
Cost: the sort, plus O(number of distinct fraud scores + rows where ``p1`` varies); on 1M
rows with 3 % fraud the fit takes about 2.7 times a bare ``np.sort`` of the scores (9 %
fraud: about 4 times; 24 %: about 9 times, the work per fraud score dominating).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import isotonic_regression

from fraudcal.inputs import InvalidOutcomesError, checked_outcomes, checked_probabilities

#: Largest window: fractions of counts up to 2**26 differ by more than 1/2**52, so float64 keeps their order.
MAX_ROWS = 2**26


# ------------------------------------------------------------------ the set


def _frozen(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """A read-only float64 copy of a breakpoint or value list, checked as probabilities."""
    array = np.array(checked_probabilities(values, name), dtype=np.float64)
    array.setflags(write=False)
    return array


def _check_step_function(breakpoints: NDArray[np.float64], values: NDArray[np.float64], name: str) -> None:
    """Breakpoints and values of equal length, both strictly increasing (the compacted form)."""
    if breakpoints.shape != values.shape:
        raise ValueError(f"{name}: {breakpoints.size} breakpoints but {values.size} values")
    for label, array in (("breakpoints", breakpoints), ("values", values)):
        if array.size > 1 and not np.all(array[1:] > array[:-1]):
            index = int(np.argmin(array[1:] > array[:-1])) + 1
            raise ValueError(f"{name} {label} must be strictly increasing: index {index} is {array[index]!r}")


@dataclass(frozen=True, eq=False)
class VennAbersSet:
    """The exact step functions ``p0(s)`` and ``p1(s)`` of one calibration window.

    Attributes
    ----------
    n, n_positive : int
        Rows and frauds of the window.
    p0_lower, p0_value : ndarray of float64
        ``p0(s) = p0_value[i]`` for the last ``i`` with ``p0_lower[i] <= s``; 0 below.
    p1_upper, p1_value : ndarray of float64
        ``p1(s) = p1_value[i]`` for the first ``i`` with ``s <= p1_upper[i]``; 1 above.

    The layout and its JSON form are described in the module docstring; :meth:`to_dict` and
    :meth:`from_dict` are the one serialisation.

    Raises
    ------
    ValueError
        If the counts are impossible, or a breakpoint list and its values differ in length or
        are not strictly increasing (:class:`fraudcal.inputs.InvalidOutcomesError` if a value
        is not a probability).
    """

    n: int
    n_positive: int
    p0_lower: NDArray[np.float64]
    p0_value: NDArray[np.float64]
    p1_upper: NDArray[np.float64]
    p1_value: NDArray[np.float64]

    def __post_init__(self) -> None:
        """Freeze the arrays and check the invariants listed under Raises."""
        if not 0 <= self.n_positive <= self.n:
            raise ValueError(f"n_positive={self.n_positive} must be between 0 and n={self.n}")
        for name in ("p0_lower", "p0_value", "p1_upper", "p1_value"):
            object.__setattr__(self, name, _frozen(getattr(self, name), name))
        _check_step_function(self.p0_lower, self.p0_value, "p0")
        _check_step_function(self.p1_upper, self.p1_value, "p1")

    def __eq__(self, other: object) -> bool:
        """Equal when the counts and every breakpoint and value are equal."""
        if not isinstance(other, VennAbersSet):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable-looking arrays: not a dict key

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form: ``{"n", "n_positive", "p0": {"lower", "value"}, "p1": {"upper", "value"}}``."""
        return {
            "n": int(self.n),
            "n_positive": int(self.n_positive),
            "p0": {"lower": self.p0_lower.tolist(), "value": self.p0_value.tolist()},
            "p1": {"upper": self.p1_upper.tolist(), "value": self.p1_value.tolist()},
        }

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> VennAbersSet:
        """Return the set held by a :meth:`to_dict` result (or its JSON, decoded).

        Raises
        ------
        KeyError
            If a field is missing, naming the fields the mapping has.
        """
        try:
            return cls(
                n=_whole(mapping["n"]),
                n_positive=_whole(mapping["n_positive"]),
                p0_lower=mapping["p0"]["lower"],
                p0_value=mapping["p0"]["value"],
                p1_upper=mapping["p1"]["upper"],
                p1_value=mapping["p1"]["value"],
            )
        except KeyError as missing:
            raise KeyError(
                f"a Venn-Abers set needs n, n_positive, p0.lower/value, p1.upper/value; missing {missing}"
            ) from None


def _whole(value: Any) -> int:
    """An int, refusing a value that would lose a fraction on the way."""
    number = int(value)
    if number != value:
        raise ValueError(f"{value!r} is not a whole number")
    return number


# ------------------------------------------------------------------ using it


def venn_abers_probabilities(
    scores: ArrayLike, venn_abers_set: VennAbersSet
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Return ``p0``, ``p1`` and the merged ``p = p1 / (1 - p0 + p1)`` of each score.

    Parameters
    ----------
    scores : array-like of shape (n,)
        New scores, finite and in [0, 1].
    venn_abers_set : VennAbersSet
        From :func:`fit_venn_abers` or :meth:`VennAbersSet.from_dict`.

    Returns
    -------
    p0, p1, p : ndarray of float64, shape (n,)
        Exact (correctly rounded) at every score: at, between, below and above calibration
        scores. ``p1 - p0`` measures how much calibration data is near the score, not the error.

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If a score is NaN or outside [0, 1].

    Examples
    --------
    One fraud at 0.8 and one legitimate case at 0.2:

    >>> va = fit_venn_abers([0.2, 0.8], [0, 1])
    >>> p0, p1, p = venn_abers_probabilities([0.1, 0.2, 0.5, 0.8, 0.9], va)
    >>> p0.tolist(), p1.tolist()
    ([0.0, 0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0, 1.0])
    >>> p.tolist()
    [0.3333333333333333, 0.3333333333333333, 0.5, 0.6666666666666666, 0.6666666666666666]
    """
    s = checked_probabilities(scores, "scores")
    p0 = _step_lookup(s, venn_abers_set.p0_lower, venn_abers_set.p0_value, "right", outside=0.0)
    p1 = _step_lookup(s, venn_abers_set.p1_upper, venn_abers_set.p1_value, "left", outside=1.0)
    return p0, p1, p1 / ((1.0 - p0) + p1)


def _step_lookup(
    s: NDArray[np.float64], breakpoints: NDArray[np.float64], values: NDArray[np.float64], side: str, outside: float
) -> NDArray[np.float64]:
    """Read a compacted step function at ``s``.

    ``side="right"`` is p0's rule (a breakpoint opens its run; ``outside`` is the value below
    the first breakpoint); ``side="left"`` is p1's (a breakpoint closes its run; ``outside``
    is the value above the last one).
    """
    extended = np.concatenate((values, [outside])) if side == "left" else np.concatenate(([outside], values))
    index = np.searchsorted(breakpoints, s, side=side)
    return extended[index]


# ------------------------------------------------------------------ the fit


def fit_venn_abers(scores: ArrayLike, labels: ArrayLike) -> VennAbersSet:
    """Fit the inductive Venn-Abers predictor of a calibration window in O(n log n).

    Parameters
    ----------
    scores : array-like of shape (n,)
        The window's model scores, finite and in [0, 1].
    labels : array-like of shape (n,)
        Their labels, exactly 0 or 1.

    Returns
    -------
    VennAbersSet
        The exact, compacted step functions (module docstring). A window without frauds has
        ``p0 = 0`` everywhere; one without legitimate cases has ``p1 = 1`` everywhere; an
        empty window has both (``[0, 1]`` for every score).

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If a score or label breaks the input contract, or the window has more than
        :data:`MAX_ROWS` rows.

    Examples
    --------
    Two tied scores at 0.4 (one of each label) are pooled; ``p0`` is 0 below 0.4 and ``p1``
    is 1 above it:

    >>> va = fit_venn_abers([0.1, 0.4, 0.4, 0.7], [0, 0, 1, 1])
    >>> va.to_dict()["p0"]
    {'lower': [0.4, 0.7], 'value': [0.3333333333333333, 0.5]}
    >>> va.to_dict()["p1"]
    {'upper': [0.1, 0.4], 'value': [0.5, 0.6666666666666666]}
    """
    p, y = checked_outcomes(scores, labels)
    if p.size > MAX_ROWS:
        raise InvalidOutcomesError(f"a Venn-Abers window holds at most {MAX_ROWS} rows; got {p.size}")
    if p.size == 0:
        empty = np.empty(0)
        return VennAbersSet(n=0, n_positive=0, p0_lower=empty, p0_value=empty, p1_upper=empty, p1_value=empty)
    ranges = _Ranges.of(np.sort(p), np.sort(p[y]))
    hull = _lower_hull(ranges)
    p0_lower, p0_value = _p0_steps(ranges, hull)
    p1_upper, p1_value = _p1_steps(ranges, hull)
    return VennAbersSet(
        n=int(p.size),
        n_positive=int(ranges.sigma[-1]),
        p0_lower=p0_lower,
        p0_value=p0_value,
        p1_upper=p1_upper,
        p1_value=p1_value,
    )


@dataclass(frozen=True)
class _Ranges:
    """The sorted window cut at its distinct fraud scores ``phi_1 < ... < phi_G``.

    Range ``r`` (0..G) holds the CSD points whose fraud count is ``sigma[r]``: for r >= 1 the
    point of ``phi_r`` and of each score strictly between ``phi_r`` and ``phi_{r+1}`` (all
    legitimate); for r = 0 the origin and the scores below ``phi_1``. Those legitimate rows
    are ``rows[first_legit[r]:stop[r]]`` of the sorted window, and ``stop[r]`` is also the
    number of rows up to the range's last point ``b_r``. A row's index is the number of rows
    below it, which is what the formulas need (the point before its score has ``W`` = index
    of its first copy). Between fraud scores the CSD only moves right, so the hull's vertices
    are among the origin and the ``b_r``.
    """

    rows: NDArray[np.float64]
    phi: NDArray[np.float64]
    sigma: NDArray[np.int64]
    first_legit: NDArray[np.int64]
    stop: NDArray[np.int64]

    @classmethod
    def of(cls, rows: NDArray[np.float64], fraud: NDArray[np.float64]) -> _Ranges:
        """Cut the sorted window (``rows``) at the sorted fraud scores: one searchsorted of the distinct frauds."""
        new_score = np.ones(fraud.size, dtype=bool)
        np.not_equal(fraud[1:], fraud[:-1], out=new_score[1:])
        phi = fraud[new_score]
        # sigma[r] = frauds <= phi_r: the index after the last copy of phi_r.
        last_copy = np.append(new_score[1:], fraud.size > 0)
        sigma = np.concatenate(([0], np.flatnonzero(last_copy) + 1)).astype(np.int64)
        below = np.searchsorted(rows, phi, side="left")
        # Rows equal to phi_r: its frauds, and legitimate copies only if the next row still equals it.
        upto = below + np.diff(sigma)
        tied = upto < rows.size
        tied[tied] = rows[upto[tied]] == phi[tied]
        if tied.any():  # a legitimate case with exactly a fraud's score: rare, so searched only then
            upto[tied] = np.searchsorted(rows, phi[tied], side="right")
        return cls(
            rows=rows,
            phi=phi,
            sigma=sigma,
            first_legit=np.concatenate(([0], upto)).astype(np.int64),
            stop=np.concatenate((below, [rows.size])).astype(np.int64),
        )

    @property
    def count(self) -> int:
        """Number of ranges, G + 1."""
        return self.sigma.size

    def first_copy(self, row: NDArray[np.int64], floor: NDArray[np.int64]) -> NDArray[np.int64]:
        """The index of the first copy of each row's score (not below ``floor``, where its range begins)."""
        tied = row > floor
        tied[tied] = self.rows[row[tied]] == self.rows[row[tied] - 1]
        first = row.copy()
        if tied.any():  # tied legitimate scores: searched only where there are some
            first[tied] = np.searchsorted(self.rows, self.rows[row[tied]], side="left")
        return first


@dataclass(frozen=True)
class _Hull:
    """Vertices of the CSD's lower convex hull: rows ``w`` and frauds ``s``, from (0, 0) to (n, n_positive)."""

    w: NDArray[np.int64]
    s: NDArray[np.int64]


def _lower_hull(ranges: _Ranges) -> _Hull:
    """The lower convex hull of the CSD: SciPy's PAVA on the ranges, checked exactly.

    PAVA's pools are the hull's edges (the isotonic fit is the slope of the greatest convex
    minorant, Barlow et al. 1972). SciPy compares float means; the result is then checked in
    integers (every candidate on or above the chain, the chain convex), and rebuilt exactly if
    the check fails.
    """
    candidate_w = np.concatenate(([0], ranges.stop))
    candidate_s = np.concatenate(([0], ranges.sigma))
    distinct = np.concatenate(([True], np.diff(candidate_w) > 0))  # b_0 is the origin when no row is below phi_1
    candidate_w, candidate_s = candidate_w[distinct], candidate_s[distinct]
    step_w = np.diff(candidate_w)
    pools = isotonic_regression(np.diff(candidate_s) / step_w, weights=step_w.astype(np.float64)).blocks
    hull = _Hull(candidate_w[pools], candidate_s[pools])
    if not _is_lower_hull(hull, candidate_w, candidate_s):
        hull = _exact_lower_hull(candidate_w, candidate_s)
    return hull


def _is_lower_hull(hull: _Hull, candidate_w: NDArray[np.int64], candidate_s: NDArray[np.int64]) -> bool:
    """True when the chain is convex and no candidate point lies below it (integer cross products)."""
    edge_w, edge_s = np.diff(hull.w), np.diff(hull.s)
    if hull.w[0] != candidate_w[0] or hull.w[-1] != candidate_w[-1] or np.any(edge_w <= 0):
        return False
    convex = np.all(edge_s[:-1] * edge_w[1:] <= edge_s[1:] * edge_w[:-1])
    edge = np.clip(np.searchsorted(hull.w, candidate_w, side="right") - 1, 0, edge_w.size - 1)
    above = edge_w[edge] * (candidate_s - hull.s[edge]) - edge_s[edge] * (candidate_w - hull.w[edge]) >= 0
    return bool(convex and np.all(above))


def _exact_lower_hull(candidate_w: NDArray[np.int64], candidate_s: NDArray[np.int64]) -> _Hull:
    """Andrew's monotone chain in Python integers: the fallback when the float PAVA is off."""
    chain: list[tuple[int, int]] = []
    for point in zip(candidate_w.tolist(), candidate_s.tolist(), strict=True):
        while len(chain) >= 2:
            (w0, s0), (w1, s1) = chain[-2], chain[-1]
            if (w1 - w0) * (point[1] - s1) - (s1 - s0) * (point[0] - w1) > 0:
                break
            chain.pop()  # collinear or a right turn: the middle point is not a vertex
        chain.append(point)
    w, s = (np.array(column, dtype=np.int64) for column in zip(*chain, strict=True))
    return _Hull(w, s)


def _min_slope_ahead(hull: _Hull, query_w: NDArray[np.int64], query_s: NDArray[np.int64], start: NDArray[np.int64]):
    """For each query point P, ``min over hull vertices k >= start`` of ``slope(P - (1, 1), H_k)``.

    That is ``(H_k.s - P.s + 1) / (H_k.w - P.w + 1)``: the fit of a new fraud pooled from just
    after P up to vertex k. Along a convex chain seen from a point to its left the slope is
    unimodal, so each query walks forward while the next vertex is no worse.

    Returns
    -------
    vertex, numerator, denominator : ndarray of int64
    """
    last = hull.w.size - 1
    vertex = start.copy()
    numerator = hull.s[vertex] - query_s + 1
    denominator = hull.w[vertex] - query_w + 1
    # The first step over every query at once (no index arrays), then only the queries that moved.
    ahead = np.minimum(vertex + 1, last)
    ahead_numerator = hull.s[ahead] - query_s + 1
    ahead_denominator = hull.w[ahead] - query_w + 1
    active = np.flatnonzero((ahead_numerator * denominator <= numerator * ahead_denominator) & (vertex < last))
    while active.size:
        vertex[active] += 1
        numerator[active] = ahead_numerator[active]
        denominator[active] = ahead_denominator[active]
        active = active[vertex[active] < last]
        ahead = vertex[active] + 1
        ahead_numerator[active] = hull.s[ahead] - query_s[active] + 1
        ahead_denominator[active] = hull.w[ahead] - query_w[active] + 1
        active = active[ahead_numerator[active] * denominator[active] <= numerator[active] * ahead_denominator[active]]
    return vertex, numerator, denominator


def _max_slope_behind(hull: _Hull, query_w: NDArray[np.int64], query_s: NDArray[np.int64], start: NDArray[np.int64]):
    """For each query point P, ``max over hull vertices k <= start`` of ``slope(H_k, P + (1, 0))``.

    The fit of a new legitimate case pooled from vertex k up to P: ``(P.s - H_k.s) /
    (P.w + 1 - H_k.w)``; walks backwards while the previous vertex is no worse.
    """
    vertex = start.copy()
    numerator = query_s - hull.s[vertex]
    denominator = query_w + 1 - hull.w[vertex]
    # The first step over every query at once (no index arrays), then only the queries that moved.
    behind = np.maximum(vertex - 1, 0)
    behind_numerator = query_s - hull.s[behind]
    behind_denominator = query_w + 1 - hull.w[behind]
    active = np.flatnonzero((behind_numerator * denominator >= numerator * behind_denominator) & (vertex > 0))
    while active.size:
        vertex[active] -= 1
        numerator[active] = behind_numerator[active]
        denominator[active] = behind_denominator[active]
        active = active[vertex[active] > 0]
        behind = vertex[active] - 1
        behind_numerator[active] = query_s[active] - hull.s[behind]
        behind_denominator[active] = query_w[active] + 1 - hull.w[behind]
        active = active[
            behind_numerator[active] * denominator[active] >= numerator[active] * behind_denominator[active]
        ]
    return numerator, denominator


def _max_linear_ahead(hull: _Hull, weight_w: NDArray[np.int64], weight_s: NDArray[np.int64], start: NDArray[np.int64]):
    """``max over hull vertices k >= start`` of ``weight_w * H_k.w - weight_s * H_k.s`` (unimodal on a convex chain)."""
    vertex = start.copy()
    value = weight_w * hull.w[vertex] - weight_s * hull.s[vertex]
    active = np.flatnonzero(vertex < hull.w.size - 1)
    while active.size:
        ahead = vertex[active] + 1
        ahead_value = weight_w[active] * hull.w[ahead] - weight_s[active] * hull.s[ahead]
        no_worse = ahead_value >= value[active]
        moved = active[no_worse]
        vertex[moved] += 1
        value[moved] = ahead_value[no_worse]
        active = moved[vertex[moved] < hull.w.size - 1]
    return value


def _p0_steps(ranges: _Ranges, hull: _Hull) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``p0`` is constant on each range: the running minimum (from the right) of its last point's value."""
    has_scores = np.ones(ranges.count, dtype=bool)
    has_scores[0] = ranges.stop[0] > 0  # range 0 is only the origin when no row is below phi_1
    which = np.flatnonzero(has_scores)
    last_w, last_s = ranges.stop[which], ranges.sigma[which]
    before = np.searchsorted(hull.w, last_w, side="left") - 1  # the last hull vertex strictly before b_r
    numerator, denominator = _max_slope_behind(hull, last_w, last_s, before)
    value = np.minimum.accumulate((numerator / denominator)[::-1])[::-1]
    first_score = np.concatenate((ranges.rows[:1], ranges.phi))[which]  # range 0 starts at the lowest row
    # Keep the first point of each run of equal values; leading zeros equal the value below the first score.
    starts_run = np.concatenate(([True], value[1:] != value[:-1])) & (value != 0.0)
    return first_score[starts_run], value[starts_run]


def _p1_steps(ranges: _Ranges, hull: _Hull) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``p1`` per range: the running maximum of earlier ranges, then (maybe) one value per score.

    In range r, ``p1`` at a score is ``max(M_r, T(u))`` with ``u`` the CSD point just before
    it, ``M_r`` the largest ``T`` over earlier ranges, and ``T`` increasing along the range; so
    it is ``M_r`` from ``phi_r`` up to the first row where ``T > M_r`` (found in closed form)
    and ``T`` after, one step per score. In score order, range r (r >= 1) contributes one
    constant step, then its varying ones; a step is kept only when the next differs from it
    (the compaction), which is decided per range before any step is laid out.
    """
    maxima = _RangeMaxima.of(ranges, hull)
    varying = _Varying.of(ranges, hull, maxima)
    varying_value = _varying_values(ranges, hull, varying)
    running = maxima.running_numerator / maxima.running_denominator  # M_r; entry 0 unused

    # Range r's constant step is followed by its first varying step (larger), or else by range
    # r + 1's constant step: kept unless that one repeats its value.
    varying_per_range = np.zeros(ranges.count, dtype=np.int64)
    varying_per_range[varying.span_range] = varying.span_count
    next_constant = np.append(running[2:], math.nan)  # the last range's step has no successor
    keep_constant = (varying_per_range[1:] > 0) | (running[1:] != next_constant)
    # A span's last varying step is followed by the next range's constant step.
    span_last = varying.span_start + varying.span_count - 1
    keep_varying = np.ones(varying.rows.size, dtype=bool)
    keep_varying[span_last] = varying_value[span_last] != np.append(running, math.nan)[varying.span_range + 1]
    varying_per_range[varying.span_range] -= ~keep_varying[span_last]

    # The constant step ends at the row before the range's first varying one (or at phi_r).
    kept = np.flatnonzero(keep_constant) + 1  # ranges whose constant step is kept
    first_varying = ranges.stop.copy()
    first_varying[varying.span_range] = varying.rows[varying.span_start]
    constant_upper = ranges.phi[kept - 1].copy()
    ends_on_legit = first_varying[kept] > ranges.first_legit[kept]
    constant_upper[ends_on_legit] = ranges.rows[first_varying[kept][ends_on_legit] - 1]
    # Before range r's constant step: the kept steps of earlier ranges.
    steps_before = np.cumsum(varying_per_range + np.concatenate(([0], keep_constant))) - (
        varying_per_range + np.concatenate(([0], keep_constant))
    )
    is_constant = np.zeros(int(keep_varying.sum()) + kept.size, dtype=bool)
    is_constant[steps_before[kept]] = True
    upper = np.empty(is_constant.size)
    value = np.empty(is_constant.size)
    upper[is_constant], value[is_constant] = constant_upper, running[kept]
    all_kept = keep_varying.all()
    upper[~is_constant] = varying.upper if all_kept else varying.upper[keep_varying]
    value[~is_constant] = varying_value if all_kept else varying_value[keep_varying]
    # p1 increases, so steps at 1 (the value above the last score anyway) are the trailing ones.
    stop = int(np.searchsorted(value, 1.0, side="left"))
    return upper[:stop], value[:stop]


@dataclass(frozen=True)
class _RangeMaxima:
    """The largest ``T`` per range and its running maximum ``M_r``, as exact fractions.

    ``T`` increases along a range's points before ``b_r``, so its largest value there is
    ``T(b_r - 1)``. When ``b_r`` is not a hull vertex, ``T(b_r - 1) <= T(b_r)`` (the same
    vertices, one more row in each denominator), so it is computed only where ``b_r`` is a
    vertex, or for the last range (whose ``b_G`` has no ``T``). ``M_r`` (entry 0 unused:
    nothing comes before range 0) decides ``p1`` at ``phi_r``; ``bound`` (an upper bound of
    ``T`` before ``b_r``) tells which ranges can have a varying part at all. Float
    comparisons are exact here: see :data:`MAX_ROWS`.
    """

    running_numerator: NDArray[np.int64]
    running_denominator: NDArray[np.int64]
    running: NDArray[np.float64]
    bound: NDArray[np.float64]

    @classmethod
    def of(cls, ranges: _Ranges, hull: _Hull) -> _RangeMaxima:
        """Compute ``T(b_r)`` for every range but the last and ``T(b_r - 1)`` where it can be larger."""
        count = ranges.count
        numerator = np.zeros(count, dtype=np.int64)
        denominator = np.ones(count, dtype=np.int64)
        largest = np.full(count, -math.inf)
        at_or_after = np.searchsorted(hull.w, ranges.stop, side="left")
        at_vertex = hull.w[np.minimum(at_or_after, hull.w.size - 1)] == ranges.stop
        inner = np.arange(count - 1)  # b_G is the last point: no score comes after it
        _, numerator[inner], denominator[inner] = _min_slope_ahead(
            hull, ranges.stop[inner], ranges.sigma[inner], at_or_after[inner] + at_vertex[inner]
        )
        largest[inner] = numerator[inner] / denominator[inner]
        bound = largest.copy()
        at_vertex[-1] = True
        before = np.flatnonzero(at_vertex & (ranges.stop > ranges.first_legit))  # a point before b_r exists
        if before.size:
            last_score_row = ranges.first_copy(ranges.stop[before] - 1, ranges.first_legit[before])
            _, before_numerator, before_denominator = _min_slope_ahead(
                hull, last_score_row, ranges.sigma[before], at_or_after[before]
            )
            before_value = before_numerator / before_denominator
            bound[before] = before_value
            larger = before_value > largest[before]
            chosen = before[larger]
            numerator[chosen], denominator[chosen] = before_numerator[larger], before_denominator[larger]
            largest[chosen] = before_value[larger]
        # Running argmax over earlier ranges: the last range whose largest T equals the running maximum.
        running = np.concatenate(([-math.inf], np.maximum.accumulate(largest[:-1])))
        record = np.where(largest[:-1] == running[1:], np.arange(count - 1), 0)
        holder = np.concatenate(([0], np.maximum.accumulate(record)))
        return cls(numerator[holder], denominator[holder], running, bound)


@dataclass(frozen=True)
class _Varying:
    """The rows that open a score whose ``p1`` is ``T`` (above ``M_r``), in score order.

    ``rows`` are row indices of the sorted window and ``upper`` their scores, grouped in
    spans, one per range that has such rows: span ``i`` is ``rows[span_start[i]:span_start[i]
    + span_count[i]]`` of range ``span_range[i]``.
    """

    rows: NDArray[np.int64]
    upper: NDArray[np.float64]
    span_range: NDArray[np.int64]
    span_start: NDArray[np.int64]
    span_count: NDArray[np.int64]

    @classmethod
    def of(cls, ranges: _Ranges, hull: _Hull, maxima: _RangeMaxima) -> _Varying:
        """Find the rows, one integer threshold per range.

        Only a range whose bound exceeds ``M_r`` can have such rows. There, ``T(u) > M = a / b``
        for a point with ``W_u`` rows before it iff, for every hull vertex k at or after
        ``b_r``, ``a * W_u > a * (H_k.w + 1) - b * (H_k.s - sigma_r + 1)``. Range 0 has no
        ``M``: all its rows qualify; so do all rows when ``M = 0``.
        """
        first_row = ranges.stop.copy()  # no varying rows unless found below
        candidate = np.flatnonzero((ranges.stop > ranges.first_legit) & (maxima.bound > maxima.running))
        first_row[candidate] = ranges.first_legit[candidate]
        positive = candidate[(candidate >= 1) & (maxima.running_numerator[candidate] > 0)]
        if positive.size:
            a, b = maxima.running_numerator[positive], maxima.running_denominator[positive]
            start = np.searchsorted(hull.w, ranges.stop[positive], side="left")
            bound = _max_linear_ahead(hull, a, b, start) + a - b * (1 - ranges.sigma[positive])
            first_row[positive] = np.maximum(np.floor_divide(bound, a) + 1, ranges.first_legit[positive])
        span_range = np.flatnonzero(ranges.stop > first_row)
        span_first = first_row[span_range]
        span_count = ranges.stop[span_range] - span_first
        span_start = np.cumsum(span_count) - span_count
        rows = np.arange(int(span_count.sum()), dtype=np.int64)
        rows += np.repeat(span_first - span_start, span_count)
        upper = ranges.rows[rows]
        # Only the first copy of a tied score opens it (the threshold may fall inside a run of copies).
        opens_score = np.empty(rows.size, dtype=bool)
        np.not_equal(upper[1:], upper[:-1], out=opens_score[1:])
        opens_score[span_start] = (span_first == 0) | (
            ranges.rows[span_first] != ranges.rows[np.maximum(span_first - 1, 0)]
        )
        if not opens_score.all():
            span_count = np.add.reduceat(opens_score, span_start)
            rows, upper = rows[opens_score], upper[opens_score]
            span_range, span_count = span_range[span_count > 0], span_count[span_count > 0]
            span_start = np.cumsum(span_count) - span_count
        return cls(rows, upper, span_range, span_start, span_count)


def _varying_values(ranges: _Ranges, hull: _Hull, varying: _Varying) -> NDArray[np.float64]:
    """``T`` at each varying row: ``(H_k.s - sigma_r + 1) / (H_k.w - row + 1)``, k the tangent vertex.

    The tangent vertex moves right as the row does, from the vertex of a span's first row to
    that of its last, changing at integer row thresholds (:func:`_tangent_switch_rows`). So
    each span is a few segments of rows sharing a vertex, and every row is one division.
    """
    if varying.rows.size == 0:
        return np.empty(0)
    sigma = ranges.sigma[varying.span_range]
    start = np.searchsorted(hull.w, ranges.stop[varying.span_range], side="left")
    span_first = varying.rows[varying.span_start]
    span_last = varying.rows[varying.span_start + varying.span_count - 1]
    vertex, _, _ = _min_slope_ahead(hull, np.concatenate((span_first, span_last)), np.tile(sigma, 2), np.tile(start, 2))
    first_vertex, last_vertex = vertex[: sigma.size], vertex[sigma.size :]
    # One segment per vertex the span's tangent passes through; each begins at its switch row.
    segments = last_vertex - first_vertex + 1
    segment_span = np.repeat(np.arange(sigma.size), segments)
    segment_vertex = np.arange(segment_span.size) - np.repeat(np.cumsum(segments) - segments, segments)
    segment_vertex += first_vertex[segment_span]
    begins = span_first[segment_span].copy()
    switching = np.flatnonzero(segment_vertex > first_vertex[segment_span])
    begins[switching] = _tangent_switch_rows(
        hull, sigma[segment_span[switching]], segment_vertex[switching] - 1, span_first[segment_span[switching]]
    )
    ends = np.concatenate((begins[1:], [0]))
    ends[np.cumsum(segments) - 1] = span_last + 1  # a span's last segment runs to its last row
    begins, ends = np.minimum(begins, ends), ends  # a switch past the span's last row leaves its segment empty
    length = np.searchsorted(varying.rows, ends) - np.searchsorted(varying.rows, begins)
    numerator = np.repeat(hull.s[segment_vertex] - sigma[segment_span] + 1, length)
    return numerator / (np.repeat(hull.w[segment_vertex] + 1, length) - varying.rows)


def _tangent_switch_rows(
    hull: _Hull, sigma: NDArray[np.int64], k: NDArray[np.int64], lowest_row: NDArray[np.int64]
) -> NDArray[np.int64]:
    """The first row from which vertex k + 1 is no worse than vertex k, for points at height ``sigma``.

    With ``A_k = H_k.s - sigma + 1`` and ``C_k = H_k.w + 1``, vertex k + 1 is no worse for a
    point with ``i`` rows before it iff ``A_{k+1} (C_k - i) <= A_k (C_{k+1} - i)``, i.e.
    ``i >= ceil((A_{k+1} C_k - A_k C_{k+1}) / (A_{k+1} - A_k))``, and always when the A are
    equal (then ``lowest_row`` is returned). Non-decreasing in k: the tangent moves right.
    """
    a_here, a_next = hull.s[k] - sigma + 1, hull.s[k + 1] - sigma + 1
    c_here, c_next = hull.w[k] + 1, hull.w[k + 1] + 1
    rise = a_next - a_here
    # ceil(x / y) = -((-x) // y) for y > 0.
    threshold = -((a_here * c_next - a_next * c_here) // np.maximum(rise, 1))
    return np.where(rise > 0, np.maximum(threshold, lowest_row), lowest_row)
