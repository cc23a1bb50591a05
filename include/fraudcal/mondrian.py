"""Label-conditional (Mondrian) split conformal prediction on binary labels.

The method
----------
Each class gets its own conformal quantile. For class ``c`` in {0, 1} the nonconformity
score of a calibration row with ``y_i = c`` is ``|p_i - c|`` (``p_i`` for a legitimate case,
``1 - p_i`` for a fraud, computed as :func:`fraudcal.conformal.residual_scores` does, so
equal probabilities give bit-identical scores). With ``n_c`` such rows and ``alpha = 1 -
level/100``, the rank is ``k_c = ceil((n_c + 1)(1 - alpha))`` in exact integer arithmetic
(:func:`fraudcal.conformal.conformal_rank`) and the quantile ``q_c`` is the ``k_c``-th
smallest score, or ``1.0`` when ``k_c > n_c`` (also when ``n_c = 0``: the formula gives
``k_c = 1``). The label set of a new score ``p`` is ``{c : |p - c| <= q_c}`` (ties
included), one of ``{0}``, ``{1}``, ``{0, 1}`` or the empty set.

Guarantee
---------
For each class separately, ``P(y in set | y = c) >= 1 - alpha``, and below ``1 - alpha +
1 / (n_c + 1)`` when the scores have no ties: the label-conditional conformal predictor of
Vovk, Gammerman & Shafer (2005), *Algorithmic Learning in a Random World*, section 4.5
("Mondrian"), studied for imbalanced classes by Löfström, Boström, Linusson & Johansson (2015),
*Bias reduction through conditional conformal prediction*, Intelligent Data Analysis 19(6).
Unlike the residual method (DESIGN.md section 4), which is exact marginally yet may cover
almost no fraud, this covers frauds at the target rate.

Assumptions
-----------
The calibration rows of class ``c`` and the new case, given that its label is ``c``, are
exchangeable. Nothing is assumed about the fraud rate: the guarantee holds under label shift
(a new fraud rate, same class-conditional score distributions), which is the setting of
Podkopaev & Ramdas (2021), *Distribution-free uncertainty quantification for classification
under label shift*, UAI. Score drift within a class breaks it.

Limits
------
- A label can ever be left out only if its class has at least ``1/alpha - 1`` calibration
  rows (:func:`minimum_class_size`): 9 frauds at 90 %, 19 at 95 %, 99 at 99 %, 199 at
  99.5 %. With fewer, ``q = 1`` and every set holds that label; the set says so with
  ``too_few_frauds`` per level.
- The guarantee is per class on average over windows, not per score: sets are ``{0, 1}``
  (no decision) where the classes overlap, and the share of such sets is the price of the
  guarantee. An empty set (neither label conformal) can occur and means "unlike both".
- Coverage of a class is not precision: a set ``{1}`` is not a probability of fraud.

The serialised form (:meth:`MondrianSet.to_dict`) is ``{"levels": {"90": {"0": {"n", "k",
"quantile"}, "1": {"n", "k", "quantile"}, "too_few_frauds": bool}, ...}}``, levels in
numeric order; it is what the Redis payload carries under ``methods.mondrian``.

Examples
--------
>>> mondrian = compute_mondrian([0.1, 0.2, 0.3, 0.9], [0, 0, 0, 1], levels=["50"])
>>> mondrian.levels["50"]["0"], mondrian.levels["50"]["1"]
({'n': 3, 'k': 2, 'quantile': 0.2}, {'n': 1, 'k': 1, 'quantile': 0.09999999999999998})
>>> label_set_names([0.15, 0.5, 0.95], mondrian, "50").tolist()
['{0}', 'empty', '{1}']
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fraudcal.conformal import UNBOUNDED_QUANTILE, conformal_quantiles, conformal_rank, coverage_fraction
from fraudcal.defaults import DEFAULT_LEVEL, SUPPORTED_LEVELS
from fraudcal.inputs import checked_outcomes, checked_probabilities

#: The two classes, as the payload's keys name them.
CLASSES = ("0", "1")
#: Per level, the flag that the window had fewer frauds than :func:`minimum_class_size`.
TOO_FEW_FRAUDS = "too_few_frauds"
#: Names of the four label sets, as :func:`fraudcal.coverage.label_set_mix` counts them.
LABEL_SET_NAMES = ("{0}", "{1}", "{0,1}", "empty")


def minimum_class_size(level: float | int | str | Fraction) -> int:
    """Return the fewest calibration rows of a class for its label ever to be excluded.

    ``k_c <= n_c`` holds iff ``n_c >= 1/alpha - 1``, so the minimum is ``ceil(1/alpha) - 1``,
    computed exactly.

    Parameters
    ----------
    level : int, float, str or Fraction
        Coverage level in percent (floats read through their shortest decimal form).

    Examples
    --------
    >>> [minimum_class_size(level) for level in ("90", "95", "99", "99.5", "99.9")]
    [9, 19, 99, 199, 999]
    >>> minimum_class_size("70")  # alpha = 3/10: ceil(10/3) - 1
    3
    """
    alpha = 1 - coverage_fraction(level)
    return -((-alpha.denominator) // alpha.numerator) - 1


def _class_quantiles(scores: NDArray[np.float64], levels: Sequence[Any]) -> dict[Any, tuple[float, int]]:
    """``{level: (q, k)}`` for one class; a class without rows gets ``k = 1`` and ``q = 1``."""
    if scores.size == 0:
        # ceil((0 + 1)(1 - alpha)) = 1 > 0 = n: the label is in every set.
        return {level: (UNBOUNDED_QUANTILE, 1) for level in levels}
    return conformal_quantiles(scores, list(levels))


@dataclass(frozen=True)
class MondrianSet:
    """Per-class conformal quantiles of one window, per coverage level.

    Attributes
    ----------
    levels : dict
        ``{"90": {"0": {"n", "k", "quantile"}, "1": {"n", "k", "quantile"},
        "too_few_frauds": bool}, ...}`` in numeric order of the level. :meth:`to_dict` and
        :meth:`from_dict` are the one serialisation.

    Raises
    ------
    ValueError
        If a level is not a coverage level, a class entry is missing or inconsistent (``k``
        not the conformal rank of ``n``, ``quantile`` outside [0, 1], or not 1 when ``k >
        n``), or ``too_few_frauds`` disagrees with the class's ``n``.
    """

    levels: dict[str, dict[str, Any]]

    def __post_init__(self) -> None:
        """Put the levels in numeric order and check every entry (see Raises)."""
        ordered = {
            str(level): entry
            for level, entry in sorted(self.levels.items(), key=lambda item: coverage_fraction(item[0]))
        }
        checked = {level: _checked_level(level, entry) for level, entry in ordered.items()}
        object.__setattr__(self, "levels", checked)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"levels": {...}}``, a JSON-ready deep copy."""
        return {"levels": copy.deepcopy(self.levels)}

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> MondrianSet:
        """Return the set held by a :meth:`to_dict` result (or the payload's ``methods.mondrian``).

        Raises
        ------
        KeyError
            If ``levels`` is missing.
        """
        if "levels" not in mapping:
            raise KeyError(f"a Mondrian set needs 'levels'; the mapping has {sorted(mapping)}")
        return cls(levels=copy.deepcopy(dict(mapping["levels"])))

    def quantiles(self, level: float | int | str = DEFAULT_LEVEL) -> tuple[float, float]:
        """Return ``(q_0, q_1)`` of one level (its key, as ``str(level)``).

        Raises
        ------
        ValueError
            If the set has no such level, naming the levels it has.
        """
        key = str(level)
        if key not in self.levels:
            raise ValueError(f"coverage_level {key} is not in the Mondrian set (it has {list(self.levels)})")
        entry = self.levels[key]
        return entry["0"]["quantile"], entry["1"]["quantile"]


def _checked_level(level: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """One level's entry, read and checked: two class entries and the flag."""
    classes = {}
    for label in CLASSES:
        if label not in entry:
            raise ValueError(f"level {level}: class {label!r} is missing (the entry has {sorted(entry)})")
        classes[label] = _checked_class(level, label, entry[label])
    too_few = classes["1"]["n"] < minimum_class_size(level)
    if TOO_FEW_FRAUDS in entry and bool(entry[TOO_FEW_FRAUDS]) != too_few:
        raise ValueError(f"level {level}: {TOO_FEW_FRAUDS}={entry[TOO_FEW_FRAUDS]!r} but n_1={classes['1']['n']}")
    return {**classes, TOO_FEW_FRAUDS: too_few}


def _checked_class(level: str, label: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """``{"n", "k", "quantile"}`` with whole counts, the exact rank, and a quantile in [0, 1]."""
    n, k, quantile = int(entry["n"]), int(entry["k"]), float(entry["quantile"])
    if n != entry["n"] or k != entry["k"] or n < 0:
        raise ValueError(f"level {level}, class {label}: n={entry['n']!r} and k={entry['k']!r} must be whole, n >= 0")
    expected_k = _rank(n, level)
    if k != expected_k:
        raise ValueError(f"level {level}, class {label}: k={k} is not the conformal rank of n={n} ({expected_k})")
    if not 0.0 <= quantile <= 1.0 or (k > n and quantile != UNBOUNDED_QUANTILE):
        raise ValueError(f"level {level}, class {label}: quantile {quantile!r} is impossible for k={k}, n={n}")
    return {"n": n, "k": k, "quantile": quantile}


def _rank(n: int, level: str) -> int:
    """The conformal rank, with ``n = 0`` giving 1 (the formula's value; ``conformal_rank`` wants n >= 1)."""
    return conformal_rank(n, level) if n else 1


def compute_mondrian(
    probabilities: ArrayLike, labels: ArrayLike, levels: Sequence[float | int | str] = SUPPORTED_LEVELS
) -> MondrianSet:
    """Compute the per-class conformal quantiles of one window.

    Parameters
    ----------
    probabilities, labels : array-like of shape (n,)
        The labeled outcomes of the window (checked by :func:`fraudcal.inputs.checked_outcomes`).
    levels : sequence of int, float or str, default=SUPPORTED_LEVELS
        Coverage levels in percent.

    Returns
    -------
    MondrianSet

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If a probability or label breaks the input contract.

    Examples
    --------
    Eight frauds are one too few for a 90 % set to ever leave out "fraud":

    >>> mondrian = compute_mondrian([0.5] * 8 + [0.1] * 100, [1] * 8 + [0] * 100)
    >>> mondrian.levels["90"]["1"], mondrian.levels["90"]["too_few_frauds"]
    ({'n': 8, 'k': 9, 'quantile': 1.0}, True)
    """
    p, y = checked_outcomes(probabilities, labels)
    per_class = {"0": _class_quantiles(p[~y], levels), "1": _class_quantiles(1.0 - p[y], levels)}
    counts = {"0": int((~y).sum()), "1": int(y.sum())}
    return MondrianSet(
        levels={
            str(level): {
                label: {"n": counts[label], "k": per_class[label][level][1], "quantile": per_class[label][level][0]}
                for label in CLASSES
            }
            for level in levels
        }
    )


def label_sets(
    probabilities: ArrayLike, mondrian_set: MondrianSet, level: float | int | str = DEFAULT_LEVEL
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Return, per score, whether its label set holds 0 and whether it holds 1.

    Parameters
    ----------
    probabilities : array-like of shape (n,)
        New scores, finite and in [0, 1].
    mondrian_set : MondrianSet
    level : int, float or str, default=DEFAULT_LEVEL
        The level's key, as ``str(level)``.

    Returns
    -------
    holds_zero, holds_one : ndarray of bool
        ``p <= q_0`` and ``1 - p <= q_1`` (ties included).

    Examples
    --------
    >>> mondrian = MondrianSet({"90": {"0": {"n": 99, "k": 90, "quantile": 0.25}, "1": {"n": 9, "k": 9, "quantile": 0.5}}})
    >>> holds_zero, holds_one = label_sets([0.25, 0.5, 0.75], mondrian)
    >>> holds_zero.tolist(), holds_one.tolist()
    ([True, False, False], [False, True, True])
    """
    p = checked_probabilities(probabilities)
    q_zero, q_one = mondrian_set.quantiles(level)
    return p <= q_zero, (1.0 - p) <= q_one


def label_set_names(
    probabilities: ArrayLike, mondrian_set: MondrianSet, level: float | int | str = DEFAULT_LEVEL
) -> NDArray[np.str_]:
    """Return each score's label set by name: ``"{0}"``, ``"{1}"``, ``"{0,1}"`` or ``"empty"``.

    Examples
    --------
    >>> mondrian = MondrianSet({"90": {"0": {"n": 99, "k": 90, "quantile": 0.6}, "1": {"n": 9, "k": 9, "quantile": 0.5}}})
    >>> label_set_names([0.1, 0.55, 0.9], mondrian).tolist()
    ['{0}', '{0,1}', '{1}']
    """
    holds_zero, holds_one = label_sets(probabilities, mondrian_set, level)
    # Index 0..3 = {0}, {1}, {0,1}, empty, as LABEL_SET_NAMES orders them.
    index = np.where(holds_zero & holds_one, 2, np.where(holds_zero, 0, np.where(holds_one, 1, 3)))
    return np.asarray(LABEL_SET_NAMES)[index]


def label_set_mix(
    probabilities: ArrayLike, mondrian_set: MondrianSet, level: float | int | str = DEFAULT_LEVEL
) -> dict[str, int]:
    """Count the label sets of the scores: ``{"{0}": ..., "{1}": ..., "{0,1}": ..., "empty": ...}``."""
    names = label_set_names(probabilities, mondrian_set, level)
    return {name: int((names == name).sum()) for name in LABEL_SET_NAMES}


def mondrian_covers(
    probabilities: ArrayLike, labels: ArrayLike, mondrian_set: MondrianSet, level: float | int | str = DEFAULT_LEVEL
) -> NDArray[np.bool_]:
    """Return whether each label lies in its score's label set.

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If a probability is not in [0, 1] or a label is not 0/1 (nothing is counted then).

    Examples
    --------
    >>> mondrian = MondrianSet({"90": {"0": {"n": 99, "k": 90, "quantile": 0.25}, "1": {"n": 9, "k": 9, "quantile": 0.5}}})
    >>> mondrian_covers([0.2, 0.2, 0.6], [0, 1, 1], mondrian).tolist()
    [True, False, True]
    """
    p, y = checked_outcomes(probabilities, labels)
    holds_zero, holds_one = label_sets(p, mondrian_set, level)
    return np.where(y, holds_one, holds_zero)
