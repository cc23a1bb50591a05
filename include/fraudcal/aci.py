"""Per-class adaptive conformal inference (ACI) on Mondrian label sets, for drift.

The method
----------
Adaptive conformal inference (Gibbs & Candès 2021, *Adaptive conformal inference under
distribution shift*, NeurIPS) keeps a working miscoverage level ``alpha_t`` and moves it
after every outcome by

    ``alpha_{t+1} = alpha_t + gamma * (alpha - err_t)``

where ``alpha = 1 - level/100`` is the target and ``err_t`` the error just observed: a set
that misses too often gets a smaller ``alpha_t`` (a larger quantile), one that covers too
often a larger one. Here it runs **per class** ``c`` in {0 (legitimate), 1 (fraud)} on top of
the Mondrian set (:mod:`fraudcal.mondrian`): the class-c quantile is the conformal quantile
of the window's class-c scores ``|p - c|`` at level ``1 - alpha_t,c``, rank ``k =
ceil((n_c + 1)(1 - alpha_t,c))`` (:func:`aci_rank`; ``q = 1`` when ``k > n_c``). With
``alpha_t,c = alpha`` the set is the Mondrian set, bit for bit.

Batches and late labels
-----------------------
Labels arrive days after the prediction, so the update is batched by *prediction day*: when
a prediction day matures (its labels are in), ``err_t,c`` is the miss rate of class ``c``
among that day's labeled rows, judged with the set that was in force when they were
predicted, and :func:`update_state` applies it once (days move forward only;
``updated_through`` records the newest). A day without rows of a class leaves that class
alone. ``err_t`` is a rate in [0, 1], not a 0/1 error: each day counts once, whatever its
size.

The step size gamma
-------------------
:data:`fraudcal.defaults.DEFAULT_ACI_GAMMA` = 0.05 per matured day. One day missing frauds
``e`` more often than the target moves the fraud class's ``alpha_t`` by ``gamma * e`` (a
day 10 pp under target: 0.005). A larger gamma follows a drift sooner, but ``alpha_t`` then
also follows the sampling noise of each day's miss rate (with 300 frauds a day its standard
deviation at 90 % is 1.7 pp), so the sets and the review load jitter, and after a shift it
overshoots further; a smaller gamma is smoother and lags. It is the one knob; the bound
below says what it buys in the long run.

Guarantee and its limits
------------------------
Gibbs & Candès (Proposition 4.1): for any sequence of data, however it drifts,
``|(1/T) sum_t err_t - alpha| <= (max(alpha_1, 1 - alpha_1) + gamma) / (gamma * T)``: the
*average* of the daily miss rates over T updates tends to the target, per class here. It is
a long-run statement about averages over days, not coverage on any given day, and not
coverage of any subgroup.

The label delay ``h`` (days between a prediction and the update that uses it) degrades it:
the update at ``t`` uses ``err_{t-h}``, so for ``h`` days after a change the sets are judged
too late. The recursion can then overshoot by up to ``gamma * (h + 1)`` before the feedback
arrives, and the same argument gives ``(max(alpha_1, 1 - alpha_1) + gamma * (h + 1)) /
(gamma * (T - h))`` over the ``T - h`` applied days: a bound that grows with the horizon, as
Wang & Hyndman (2024, *Online conformal inference for multi-step time series forecasting*,
arXiv 2410.13115) show for h-step-ahead ACI. In practice: after an abrupt shift every method
misses for as long as labels are late (no method can react to labels it has not seen), and
ACI then *over-covers* for a while to pay the debt back, because the recursion targets the
average error. Over-covering the fraud class means more ``{0, 1}`` sets: review load.

The clip, and ``saturated``
---------------------------
``alpha_t,c`` is kept in ``[min(alpha, 1/(n_c + 1)), max(alpha, n_c/(n_c + 1))]`` (``n_c`` =
the class's rows in the window the new level will be applied to; :func:`alpha_band`). Inside
this band the rank ``k`` stays in ``[1, n_c]``, so the quantile is always one of the class's
calibration scores: below ``1/(n_c + 1)`` the class would be in every set (``q = 1``, all
inclusive), and above ``n_c/(n_c + 1)`` the set no longer changes at all (``k = 1`` up to
``alpha_t = 1``, and an empty set after). Letting ``alpha_t`` wander there would only store
up error to be paid back later, with sets that do not respond (integrator wind-up); the clip
stops it where the set stops responding. The band never excludes the target itself, so a
window with too few frauds (``n_1 < 1/alpha - 1``) keeps Mondrian's ``q = 1``, not a quantile
forced tighter than the data allow. When the clip binds, the identity ``alpha_{T+1} =
alpha_1 + gamma * sum(alpha - err_t)`` behind the bound no longer holds: the state says so in
``saturated`` (per class, at the latest update), and a report must say it too. Without
``class_sizes`` only ``[0, 1]`` is enforced.

Examples
--------
>>> state = initial_state(90, 0.05)
>>> state.alpha
{'0': 0.1, '1': 0.1}
>>> state = update_state(state, "2025-03-01", misses={"0": 10, "1": 30}, counts={"0": 100, "1": 100})
>>> state.alpha["0"], round(state.alpha["1"], 6), state.updated_through
(0.1, 0.09, '2025-03-01')
>>> aci_quantiles([0.1, 0.2, 0.3, 0.9], [0, 0, 0, 1], initial_state(50, 0.05))["levels"]["50"]["0"]
{'n': 3, 'k': 2, 'quantile': 0.2, 'alpha': 0.5}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fraudcal.conformal import UNBOUNDED_QUANTILE, coverage_fraction
from fraudcal.inputs import checked_outcomes
from fraudcal.mondrian import CLASSES, TOO_FEW_FRAUDS, minimum_class_size

#: The fields of :meth:`AciState.to_dict`, in order.
STATE_FIELDS = ("level", "gamma", "alpha", "updated_through", "saturated", "updates")


def nominal_alpha(level: int | float | str) -> float:
    """Return the target miscoverage ``1 - level/100`` as the float nearest to it.

    Examples
    --------
    >>> nominal_alpha(90), nominal_alpha("99.9")
    (0.1, 0.001)
    """
    return float(1 - coverage_fraction(level))


def aci_rank(n: int, alpha: float) -> int:
    """Return ``k = ceil((n + 1)(1 - alpha))`` in exact arithmetic on alpha's shortest decimal.

    The float is read through its shortest decimal form, as
    :func:`fraudcal.conformal.coverage_fraction` reads a level, so that ``alpha = 0.1`` gives
    exactly the Mondrian rank of the 90 % level. ``n = 0`` gives 1 (``> n``: the class is in
    every set).

    Parameters
    ----------
    n : int
        Calibration rows of the class, ``n >= 0``.
    alpha : float
        The working miscoverage level, in [0, 1].

    Raises
    ------
    ValueError
        If ``n`` is negative or not whole, or ``alpha`` is outside [0, 1].

    Examples
    --------
    >>> aci_rank(99, 0.1), aci_rank(99, 0.0), aci_rank(99, 1.0), aci_rank(9, 0.7)
    (90, 100, 0, 3)
    """
    if int(n) != n or n < 0:
        raise ValueError(f"n={n!r} must be a whole number >= 0")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha={alpha!r} must be in [0, 1]")
    target = (int(n) + 1) * (1 - Fraction(repr(float(alpha))))
    return -((-target.numerator) // target.denominator)


def _least_at_or_above(bound: Fraction) -> float:
    """The smallest float whose shortest decimal is >= ``bound`` (what :func:`aci_rank` reads)."""
    value = float(bound)
    while Fraction(repr(value)) < bound:
        value = math.nextafter(value, math.inf)
    return value


def alpha_band(n: int, alpha: float) -> tuple[float, float]:
    """Return the band ``[low, high]`` a class's working level is clipped to.

    ``low = min(alpha, 1/(n + 1))`` and ``high = max(alpha, n/(n + 1))``, each as the smallest
    float that :func:`aci_rank` reads at or above the fraction, so that inside the band
    ``1 <= k <= n`` (module docstring) unless the target itself lies outside.

    Examples
    --------
    >>> alpha_band(99, 0.1)
    (0.01, 0.99)
    >>> aci_rank(2, alpha_band(2, 0.1)[0]), aci_rank(2, alpha_band(2, 0.1)[1])  # 1/3 and 2/3 read exactly
    (3, 1)
    >>> alpha_band(0, 0.1)  # no rows: the target, and q = 1
    (0.1, 0.1)
    """
    low = min(alpha, _least_at_or_above(Fraction(1, n + 1)))
    high = max(alpha, _least_at_or_above(Fraction(n, n + 1)))
    return low, high


def _iso_day(value: Any, name: str) -> str:
    """A ``YYYY-MM-DD`` string, checked."""
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ValueError(f"{name}={value!r} must be an ISO date (YYYY-MM-DD)") from None


def _per_class(values: Mapping[Any, Any], name: str) -> dict[str, Any]:
    """``{"0": ..., "1": ...}`` from a mapping keyed by the classes (as str or int)."""
    read = {str(key): value for key, value in values.items()}
    if set(read) != set(CLASSES):
        raise ValueError(f"{name} must have exactly the classes {list(CLASSES)}; it has {sorted(read)}")
    return {label: read[label] for label in CLASSES}


@dataclass(frozen=True)
class AciState:
    """The adaptive levels of one model's Mondrian + ACI sets, after some matured days.

    Attributes
    ----------
    level : int or float
        Nominal coverage level in percent (the target is ``alpha = 1 - level/100``).
    gamma : float
        Step size, in (0, 1].
    alpha : dict of str to float
        Per class ``"0"``/``"1"``, the current working level ``alpha_t``, in [0, 1].
    updated_through : str or None
        ISO date of the newest prediction day whose errors were applied; None before any.
    saturated : dict of str to bool
        Per class, whether the clip bound at the latest update of that class.
    updates : int
        Prediction days applied.

    Raises
    ------
    ValueError
        If a field is out of its range (the message names it).
    """

    level: int | float
    gamma: float
    alpha: dict[str, float]
    updated_through: str | None = None
    saturated: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(CLASSES, False))
    updates: int = 0

    def __post_init__(self) -> None:
        """Check every field and keep copies of the dicts (see Raises)."""
        if isinstance(self.level, bool) or not isinstance(self.level, int | float):
            raise ValueError(f"level={self.level!r} must be a number (percent)")
        coverage_fraction(self.level)
        if not (isinstance(self.gamma, int | float) and 0.0 < self.gamma <= 1.0):
            raise ValueError(f"gamma={self.gamma!r} must be in (0, 1]")
        alpha = {label: float(value) for label, value in _per_class(self.alpha, "alpha").items()}
        for label, value in alpha.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"alpha[{label!r}]={value!r} must be in [0, 1]")
        saturated = _per_class(self.saturated, "saturated")
        if not all(isinstance(value, bool | np.bool_) for value in saturated.values()):
            raise ValueError(f"saturated must hold booleans; it has {saturated}")
        if isinstance(self.updates, bool) or int(self.updates) != self.updates or self.updates < 0:
            raise ValueError(f"updates={self.updates!r} must be a whole number >= 0")
        object.__setattr__(self, "gamma", float(self.gamma))
        object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "saturated", {label: bool(value) for label, value in saturated.items()})
        object.__setattr__(self, "updates", int(self.updates))
        if self.updated_through is not None:
            object.__setattr__(self, "updated_through", _iso_day(self.updated_through, "updated_through"))

    @property
    def target(self) -> float:
        """The nominal miscoverage ``1 - level/100``."""
        return nominal_alpha(self.level)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form: the six fields of :data:`STATE_FIELDS`."""
        return {
            "level": self.level,
            "gamma": self.gamma,
            "alpha": dict(self.alpha),
            "updated_through": self.updated_through,
            "saturated": dict(self.saturated),
            "updates": self.updates,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> AciState:
        """Return the state a :meth:`to_dict` result (or its decoded JSON) holds.

        Raises
        ------
        KeyError
            If fields are missing, naming them.

        Examples
        --------
        >>> AciState.from_dict({"level": 90, "gamma": 0.05})
        Traceback (most recent call last):
        ...
        KeyError: "an ACI state needs ['alpha', 'updated_through', 'saturated', 'updates'] as well"
        """
        missing = [name for name in STATE_FIELDS if name not in values]
        if missing:
            raise KeyError(f"an ACI state needs {missing} as well")
        return cls(**{name: values[name] for name in STATE_FIELDS})


def initial_state(level: int | float, gamma: float) -> AciState:
    """Return the state before any matured day: ``alpha_t = 1 - level/100`` for both classes.

    Examples
    --------
    >>> initial_state(95, 0.01).to_dict()["alpha"]
    {'0': 0.05, '1': 0.05}
    """
    alpha = nominal_alpha(level)
    return AciState(level=level, gamma=gamma, alpha=dict.fromkeys(CLASSES, alpha))


def update_state(
    state: AciState,
    day: str,
    misses: Mapping[Any, int],
    counts: Mapping[Any, int],
    class_sizes: Mapping[Any, int] | None = None,
) -> AciState:
    """Apply one matured prediction day's errors: ``alpha += gamma * (target - misses/counts)``, clipped.

    Parameters
    ----------
    state : AciState
    day : str
        ISO date of the prediction day whose errors these are; after ``state.updated_through``.
    misses, counts : mapping of class (``"0"``/``"1"``) to int
        Per class, that day's labeled rows whose label the set in force then left out, and
        all its labeled rows. A class absent or with 0 rows is left unchanged.
    class_sizes : mapping of class to int, optional
        Per class, the rows of the window the new levels will be applied to: the clip of
        :func:`alpha_band`. None: only ``[0, 1]``.

    Returns
    -------
    AciState
        A new state: ``updated_through = day``, ``updates + 1``, and per updated class its
        new ``alpha`` and ``saturated`` (whether the clip bound).

    Raises
    ------
    ValueError
        If ``day`` is not after ``updated_through`` (naming both), a count is negative or
        not whole, misses exceed counts, or a key is not a class.

    Examples
    --------
    A fraud class that missed every case on a 5-row window pushes against the band:

    >>> state = initial_state(90, 1.0)
    >>> state = update_state(state, "2025-03-01", {"1": 4}, {"1": 4}, class_sizes={"0": 50, "1": 5})
    >>> state.alpha["1"], state.saturated
    (0.1, {'0': False, '1': True})
    >>> update_state(state, "2025-03-01", {}, {})
    Traceback (most recent call last):
    ...
    ValueError: day 2025-03-01 is not after updated_through 2025-03-01: days must move forward
    """
    day = _iso_day(day, "day")
    if state.updated_through is not None and day <= state.updated_through:
        raise ValueError(f"day {day} is not after updated_through {state.updated_through}: days must move forward")
    missed, seen = _batch(misses, "misses"), _batch(counts, "counts")
    sizes = _batch(class_sizes, "class_sizes") if class_sizes is not None else None
    alpha, saturated = dict(state.alpha), dict(state.saturated)
    for label in CLASSES:
        if seen[label] == 0:
            continue  # no evidence about this class today
        if missed[label] > seen[label]:
            raise ValueError(f"class {label}: misses={missed[label]} exceed counts={seen[label]}")
        moved = alpha[label] + state.gamma * (state.target - missed[label] / seen[label])
        low, high = alpha_band(sizes[label], state.target) if sizes is not None else (0.0, 1.0)
        alpha[label] = min(max(moved, low), high)
        saturated[label] = not low <= moved <= high
    return AciState(
        level=state.level,
        gamma=state.gamma,
        alpha=alpha,
        updated_through=day,
        saturated=saturated,
        updates=state.updates + 1,
    )


def _batch(values: Mapping[Any, int], name: str) -> dict[str, int]:
    """Per-class whole counts >= 0; a class absent is 0; any other key is refused."""
    read = {str(key): value for key, value in values.items()}
    unknown = sorted(set(read) - set(CLASSES))
    if unknown:
        raise ValueError(f"{name} has keys {unknown} that are not classes {list(CLASSES)}")
    counts = {}
    for label in CLASSES:
        value = read.get(label, 0)
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise ValueError(f"{name}[{label!r}]={value!r} must be a whole number >= 0")
        counts[label] = int(value)
    return counts


def class_quantile(sorted_scores: np.ndarray, alpha: float) -> tuple[float, int]:
    """Return ``(q, k)``: the ``k``-th smallest of a class's sorted scores at level ``1 - alpha``.

    ``q = 1`` when ``k > n`` (the class is in every set).

    Examples
    --------
    >>> class_quantile(np.array([0.1, 0.2, 0.3]), 0.5)
    (0.2, 2)
    """
    n = int(sorted_scores.size)
    k = aci_rank(n, alpha)
    return (UNBOUNDED_QUANTILE if k > n else float(sorted_scores[k - 1])), k


def aci_quantiles(probabilities: ArrayLike, labels: ArrayLike, state: AciState) -> dict[str, Any]:
    """Return the window's per-class quantiles at the state's working levels.

    Parameters
    ----------
    probabilities, labels : array-like of shape (n,)
        The labeled outcomes of the window (:func:`fraudcal.inputs.checked_outcomes`).
    state : AciState

    Returns
    -------
    dict
        ``{"levels": {"<level>": {"0": {"n", "k", "quantile", "alpha"}, "1": {...},
        "too_few_frauds": bool}}}``: the layout of :meth:`fraudcal.mondrian.MondrianSet.to_dict`
        with each class's working ``alpha``, so that a reader of Mondrian quantiles reads
        it too. ``too_few_frauds`` is Mondrian's flag at the nominal level. With ``alpha_t =
        1 - level/100`` the numbers are Mondrian's, bit for bit.

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If a probability or label breaks the input contract.

    Examples
    --------
    >>> state = AciState(level=90, gamma=0.05, alpha={"0": 0.1, "1": 0.5})
    >>> entry = aci_quantiles([0.1, 0.2, 0.3, 0.6, 0.8, 0.9], [0, 0, 0, 1, 1, 1], state)["levels"]["90"]
    >>> entry["1"], entry["too_few_frauds"]
    ({'n': 3, 'k': 2, 'quantile': 0.19999999999999996, 'alpha': 0.5}, True)
    """
    p, y = checked_outcomes(probabilities, labels)
    # |p - c| as fraudcal.conformal.residual_scores writes it: p for class 0, 1 - p for class 1.
    scores = {"0": np.sort(p[~y]), "1": np.sort(1.0 - p[y])}
    entry: dict[str, Any] = {}
    for label in CLASSES:
        quantile, k = class_quantile(scores[label], state.alpha[label])
        entry[label] = {"n": int(scores[label].size), "k": k, "quantile": quantile, "alpha": state.alpha[label]}
    entry[TOO_FEW_FRAUDS] = entry["1"]["n"] < minimum_class_size(state.level)
    return {"levels": {str(state.level): entry}}
