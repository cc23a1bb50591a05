"""Certified triage thresholds: auto-ticket, human review, auto-clear, with a guarantee on each.

The problem
-----------
The rule "narrow interval on a HIGH/CRITICAL score -> auto-ticket" promises nothing about what
fraud operations cares about: how many auto-tickets are wrong. This module chooses, from one
calibration window (scores ``p_i`` in [0, 1], labels ``y_i``), two thresholds:

- the loosest auto-ticket threshold ``t`` (ticket iff ``score >= t``) whose **precision** (the
  share of frauds among the scores it tickets) is at least ``target_precision``;
- the loosest auto-clear threshold ``c`` (clear iff ``score <= c``) whose **NPV** (the share of
  legitimate cases among the scores it clears) is at least ``target_npv``;

each with ``P(the true precision / NPV at the returned threshold < target) <= 1 - confidence``.
Scores between the two go to human review. A side that cannot be certified automates nothing.

The method: Learn-Then-Test
---------------------------
Angelopoulos, Bates, Candès, Jordan & Lei (2021), *Learn then Test: Calibrating predictive
algorithms to achieve risk control*: each candidate threshold ``t_j`` carries the null
hypothesis ``H0(t_j): precision(t_j) < target``, tested with the exact binomial tail p-value
``P(Bin(N_j, target) >= K_j)`` (``N_j`` window rows with ``score >= t_j``, ``K_j`` frauds among
them). The candidates are tested in a fixed order, strictest first, and the walk stops at the
first one that does not reject (fixed-sequence testing, which needs no multiplicity
correction); the certified threshold is the loosest candidate rejected before that. The clear
side is the same procedure on the mirrored problem (scores negated, labels flipped).

Where the candidates are
------------------------
Candidates are placed by rank: candidate ``j`` selects the ``N_j`` highest scores (its
threshold is the ``N_j``-th highest score), and the counts ``N_1 < N_2 < ...``
(:func:`candidate_counts`) depend on ``n``, the target and the confidence only, never on a
label. With ties the selected side is every row with ``score >= threshold`` (``N`` is that
count, which may exceed ``N_j``); candidates that collapse onto one threshold are tested once.

- **The first count must have power.** A sequence that starts at the 10 highest scores stops at
  once: 10 frauds out of 10 has p-value ``0.9**10 = 0.35`` at a target of 0.90, so nothing is
  ever certified. Let ``M_e`` be the fewest rows at which ``e`` wrong rows still reject
  (``P(Bin(M_e, target) >= M_e - e) <= 1 - confidence``); within a run of counts that allow
  ``e`` wrong rows the power is highest at its first count, so ``N_1`` is an ``M_e``: the first
  one at which a true precision halfway between the target and 1 would be certified with
  probability at least 1/2, or the largest ``M_e <= n`` when the window is too small for that,
  and none when ``M_0 > n``. At confidence 0.90: ``N_1`` = 52 rows for a target of 0.90, 105
  for 0.95, 531 for 0.99 and 5,321 for 0.999 (``M_0`` = 22, 45, 230 and 2,302: an NPV of 0.999
  needs at least 2,302 cleared rows without a fraud). ``N_1`` is never below
  :data:`MIN_FIRST_COUNT` = 50 rows (or ``n``): at a low target the rule alone starts at a few
  rows (5 at 0.40), where one legitimate case among the very top scores ends the walk.
- **Then about every 0.5 %.** ``N_{j+1} = N_j + max(1, N_j // 200)`` up to ``n`` (every count
  up to 200 rows, then steps of 0.5 %), ending at ``n``. Measured on 300 simulated windows
  (``tests/fraudcal/test_triage_simulation.py``): testing every count and the 0.5 % grid both
  automate 0.792 of the oracle's share (median), steps of 5 % 0.785; a finer grid only adds
  chances to stop early. Every count would need a p-value per row (1.5 s at 1M rows); the grid
  needs about 2,000 whatever ``n``, and the walk computes them in doubling blocks, so it pays
  only for the candidates before it stops.
- A larger first count certifies a little more often where the top scores are clean (the
  issue's first try, every row from 100, automates 0.796 of the oracle's on the same windows)
  but certifies nothing when the certifiable region is smaller than it, which at an NPV of
  0.999 comes quickly; a fixed 100 can never certify 0.999 (it needs 2,302 rows).

Validity
--------
Assume (1) the window's rows and the new day's are exchangeable (i.i.d. from one law of
``(S, Y)``), and (2) ``eta(s) = P(Y = 1 | S = s)`` is non-decreasing in the score, so that
``precision(t) = P(Y = 1 | S >= t)`` can only fall as ``t`` is loosened. Let ``t*`` be the
loosest threshold with ``precision(t*) >= target``; the certificate is wrong exactly when the
returned threshold lies below ``t*``. Candidates only loosen, so that requires the first
candidate below ``t*`` (say ``j*``) to have rejected. Let ``M`` be the number of window rows
with ``S >= t*``; for continuous scores ``t_j < t*`` iff ``N_j > M``, so ``j*`` is a function
of ``M``. Given ``M = m``, the ``m`` rows above ``t*`` are i.i.d. from the law of ``(S, Y)``
given ``S >= t*``, so their labels are i.i.d. Bernoulli(``precision(t*)``) = Bernoulli(target);
the ``N_{j*} - m`` rows the candidate adds from below ``t*`` have, given their scores,
independent labels with ``eta(s) <= eta(t*) <= precision(t*) = target``. The fraud count of
candidate ``j*`` is therefore a sum of independent Bernoulli variables with parameters at most
the target, stochastically dominated by ``Bin(N_{j*}, target)`` (couple each of them below a
Bernoulli(target); Hoeffding 1956 compares Poisson-binomial and binomial sums in general), so
it rejects with probability at most ``1 - confidence`` given every ``m``, and so overall. If no threshold reaches the target,
every row has ``eta < target`` and the first candidate is the one that must reject; if every
threshold does, no certificate can be wrong. The clear side follows by mirroring (``1 - eta``
is non-increasing in the score).

Limits
------
- **A day unlike the window.** The guarantee is for days drawn like the window. If the fraud
  rate halves (same score distribution per class), the odds of fraud halve at every score:
  thresholds certified at precision 0.90 on windows with 4.9 % fraud (true precision 0.92,
  median) deliver 0.85 on such days (median 0.853, as low as 0.77; realized 0.848 over all
  their tickets; ``tests/fraudcal/test_triage_simulation.py``). The reports therefore watch
  the realized precision and NPV of the thresholds in force (:func:`realized_rate`,
  :func:`certificate_violated`).
- **Label delay and selection.** A window holds only labeled rows; if frauds are confirmed
  faster than legitimate cases are closed (or the reverse), the window's fraud rate is not the
  day's. Once auto-clear is live, cleared cases are no longer investigated, so later windows
  must keep labels on them (a random audit sample) or the clear side loses its data.
- **Ties.** The argument above needs continuous scores. With ties (scores rounded by the
  model, many at 0), a threshold takes or leaves a whole tie group, ``precision(t*)`` can
  exceed the target and the argument no longer applies as written. Measured with scores
  rounded to 2 decimals: 6 % of ticket windows violated (0 % clear), but the clear side
  certified only 25 % of windows, its tie groups being too coarse to take whole.
- **Monotonicity.** If ``P(fraud | score)`` falls somewhere as the score rises (a badly
  calibrated band), the first false null is no longer the only door to an error.
- The guarantee is on the expected share over the day's automated rows, with probability
  ``confidence`` over windows: about one window in ten (at 0.90) certifies a threshold a little
  too loose.

Measured
--------
``python -m pytest -s tests/fraudcal/test_triage_simulation.py`` (seeded): calibrated
logistic-normal scores (``logit p ~ N(-6.5, 3.5^2)``, 4.9 % fraud), 40,000 rows per window,
1,000 windows, confidence 0.90. Ticket side at a target precision of 0.90: the true precision
was below target in 7.8 % of windows (the guarantee: at most 10 %), 99.2 % were certified, and
the median automation was 0.794 of the oracle's (the loosest threshold whose true precision
meets the target); at least 0.75 of the oracle's is required. Clear side at an NPV of 0.999:
violated in 7.3 %, certified in 100 %, median automation 0.931 of the oracle's. A sequence
starting at the 10 highest scores certified none of 100 windows. Cost (``python -m
fraudcal.measurements``, 1M rows of Beta(0.3, 9.7) scores): both sides in 1.3 times one
``np.argsort`` of the scores (0.15 s against 0.12 s).

Examples
--------
>>> rng = np.random.default_rng(7)
>>> p = rng.beta(0.3, 1.5, size=20_000)
>>> y = rng.random(p.size) < p
>>> triage = certify_triage(p, y, target_precision=0.8, target_npv=0.99, confidence=0.9)
>>> triage.ticket.certified, triage.clear.certified
(True, True)
>>> triage.ticket.threshold, triage.ticket.n_automated, triage.ticket.n_correct
(0.7018017173727409, 885, 724)
>>> triage.ticket.lower_bound >= 0.8 and triage.clear.lower_bound >= 0.99
True
>>> triage.actions([0.0, 0.3, 0.99]).tolist()
['clear', 'review', 'ticket']
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from fraudcal.coverage import wilson_interval
from fraudcal.defaults import DEFAULT_CLEAR_NPV, DEFAULT_TICKET_PRECISION, DEFAULT_TRIAGE_CONFIDENCE, TRIAGE_ACTIONS
from fraudcal.inputs import checked_outcomes, checked_probabilities

#: The two automated sides: auto-ticket (score >= threshold) and auto-clear (score <= threshold).
TICKET_SIDE, CLEAR_SIDE = "ticket", "clear"
#: Each candidate selects ``max(1, N // CANDIDATE_STEP_DIVISOR)`` more rows than the one before (0.5 %).
CANDIDATE_STEP_DIVISOR = 200
#: The first candidate must certify a true rate halfway between the target and 1 with this probability.
FIRST_CANDIDATE_POWER = 0.5
#: The first candidate never selects fewer rows than this (fewer when the window is smaller). At a
#: low target the power rule alone starts at a handful of rows (5 at 0.40), where one or two
#: legitimate cases among the very top scores stop the sequence at once: on the demo's model a
#: 40 % target then certified 5 tickets, or none.
MIN_FIRST_COUNT = 50

#: Words of each side, for the reasons: what a correct row is, which rows a count selects, the comparison.
_WORDS = {
    TICKET_SIDE: {"rate": "precision", "correct": "frauds", "wrong": "legitimate", "rows": "top", "sign": ">="},
    CLEAR_SIDE: {"rate": "NPV", "correct": "legitimate cases", "wrong": "frauds", "rows": "lowest", "sign": "<="},
}
#: The fields of :meth:`ThresholdCertificate.to_dict`, in order.
_FIELDS = (
    "side",
    "certified",
    "threshold",
    "target",
    "confidence",
    "lower_bound",
    "n_automated",
    "n_correct",
    "n_window",
    "candidates_tested",
    "reason",
)


# ------------------------------------------------------------------ checks and the binomial tail


def _checked_fraction(name: str, value: Any) -> float:
    """A target or confidence as a float strictly between 0 and 1, or a ValueError naming it."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real) or not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be a number strictly between 0 and 1; got {value!r}")
    return float(value)


def _whole(name: str, value: Any, low: int = 0) -> int:
    """A whole number ``>= low`` (numpy integers too), or a ValueError naming it."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral) or int(value) < low:
        raise ValueError(f"{name} must be a whole number >= {low}; got {value!r}")
    return int(value)


def _tail_p_values(correct: ArrayLike, automated: ArrayLike, target: float) -> NDArray[np.float64]:
    """``P(Bin(N, target) >= k)`` per candidate: the p-value of ``H0: rate < target``.

    ``P(Bin(N, q) >= k) = I_q(k, N - k + 1)`` (the regularized incomplete beta) for ``k >= 1``;
    every count is ``>= 0``, so ``k = 0`` has p-value 1.
    """
    k = np.asarray(correct, dtype=np.float64)
    n = np.asarray(automated, dtype=np.float64)
    return np.where(k > 0, special.betainc(np.maximum(k, 1.0), n - k + 1.0, target), 1.0)


def _rejects(errors: int, rows: int, target: float, risk: float) -> bool:
    """Whether ``rows - errors`` correct rows out of ``rows`` reject ``rate < target`` (the same float rule)."""
    return bool(_tail_p_values(rows - errors, rows, target) <= risk)


def clopper_pearson_lower(correct: int, n: int, confidence: float) -> float | None:
    """Return the one-sided Clopper-Pearson lower confidence bound of a proportion.

    The largest ``q`` with ``P(Bin(n, q) >= correct) <= 1 - confidence``: the exact bound
    dual to this module's test (a candidate rejects iff its bound reaches the target, up to
    rounding).

    Parameters
    ----------
    correct, n : int
        Counts, ``0 <= correct <= n``.
    confidence : float
        In (0, 1).

    Returns
    -------
    float or None
        0.0 when ``correct = 0``; None when ``n = 0``.

    Examples
    --------
    >>> round(clopper_pearson_lower(45, 45, 0.9), 4)  # 0.95**45 < 0.1 <= 0.95**44
    0.9501
    >>> clopper_pearson_lower(0, 10, 0.9), clopper_pearson_lower(0, 0, 0.9)
    (0.0, None)
    """
    confidence = _checked_fraction("confidence", confidence)
    n = _whole("n", n)
    correct = _whole("correct", correct)
    if correct > n:
        raise ValueError(f"correct={correct} must not exceed n={n}")
    if n == 0:
        return None
    if correct == 0:
        return 0.0
    return float(special.betaincinv(correct, n - correct + 1, 1.0 - confidence))


# ------------------------------------------------------------------ where the candidates are


def _fewest_rows(errors: int, target: float, risk: float, limit: int) -> int | None:
    """``M_e``: the fewest rows at which ``errors`` wrong rows still reject, if at most ``limit``.

    For a fixed number of wrong rows the binomial tail only falls as rows are added, so the
    first count that rejects is found by bisection.
    """
    low, high = errors + 1, limit
    if low > high or not _rejects(errors, high, target, risk):
        return None
    while low < high:
        middle = (low + high) // 2
        if _rejects(errors, middle, target, risk):
            high = middle
        else:
            low = middle + 1
    return low


def minimum_count(target: float, confidence: float) -> int:
    """Return ``M_0``: the fewest rows that can certify ``target`` at all (all of them correct).

    Examples
    --------
    >>> minimum_count(0.999, 0.9), minimum_count(0.95, 0.9), minimum_count(0.9, 0.9)
    (2302, 45, 22)
    """
    target = _checked_fraction("target", target)
    risk = 1.0 - _checked_fraction("confidence", confidence)
    # target**N <= risk from N = log(risk) / log(target) on; the float rule decides the last step.
    guess = max(1, math.ceil(math.log(risk) / math.log(target)))
    while not _rejects(0, guess, target, risk):
        guess += 1
    while guess > 1 and _rejects(0, guess - 1, target, risk):
        guess -= 1
    return guess


def first_count(n: int, target: float, confidence: float) -> int | None:
    """Return ``N_1``, the count of the first candidate, or None when the window is too small.

    ``N_1 = M_e`` for the smallest ``e`` at which a true rate of ``(1 + target) / 2`` is
    certified at ``M_e`` rows with probability at least :data:`FIRST_CANDIDATE_POWER`; the
    largest ``M_e <= n`` when ``n`` ends the search first; None when even ``M_0 > n``. Never
    fewer than :data:`MIN_FIRST_COUNT` rows (or ``n``, if smaller) once some ``M_e`` fits.

    Examples
    --------
    >>> [first_count(10**6, target, 0.9) for target in (0.9, 0.95, 0.99, 0.999)]
    [52, 105, 531, 5321]
    >>> first_count(100, 0.95, 0.9), first_count(44, 0.95, 0.9)  # M_1 = 77 <= 100 < M_2 = 105; M_0 = 45
    (77, None)
    >>> first_count(10**6, 0.4, 0.9), first_count(30, 0.4, 0.9)  # the power rule alone: 5
    (50, 30)
    """
    n = _whole("n", n)
    target = _checked_fraction("target", target)
    risk = 1.0 - _checked_fraction("confidence", confidence)
    halfway = (1.0 + target) / 2.0
    chosen = None
    for errors in range(n):
        rows = _fewest_rows(errors, target, risk, n)
        if rows is None:
            break
        chosen = rows
        power = float(_tail_p_values(rows - errors, rows, halfway))
        if power >= FIRST_CANDIDATE_POWER:
            break
    return None if chosen is None else max(chosen, min(MIN_FIRST_COUNT, n))


def candidate_counts(n: int, target: float, confidence: float) -> NDArray[np.int64]:
    """Return the counts ``N_1 < N_2 < ... <= n`` of rows the candidates select.

    ``N_1`` is :func:`first_count`; then ``N_{j+1} = N_j + max(1, N_j // 200)``, and the last
    count is ``n``. They depend on ``n``, the target and the confidence only.

    Parameters
    ----------
    n : int
        Rows in the window.
    target : float
        The precision (or NPV) to certify, in (0, 1).
    confidence : float
        In (0, 1).

    Returns
    -------
    ndarray of int64
        Empty when the window is too small to certify the target at all.

    Examples
    --------
    >>> candidate_counts(60, 0.9, 0.9).tolist()
    [52, 53, 54, 55, 56, 57, 58, 59, 60]
    >>> counts = candidate_counts(10**6, 0.95, 0.9)
    >>> counts[:3].tolist(), counts[-2:].tolist(), counts.size
    ([105, 106, 107], [998862, 1000000], 1919)
    >>> candidate_counts(2301, 0.999, 0.9).size
    0
    """
    n = _whole("n", n)
    first = first_count(n, target, confidence)
    if first is None:
        return np.empty(0, dtype=np.int64)
    counts = [first]
    while counts[-1] < n:
        counts.append(min(n, counts[-1] + max(1, counts[-1] // CANDIDATE_STEP_DIVISOR)))
    return np.asarray(counts, dtype=np.int64)


def _checked_counts(counts: ArrayLike, n: int) -> NDArray[np.int64]:
    """A given sequence of counts: whole, strictly increasing, within [1, n]."""
    array = np.asarray(counts)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise ValueError(f"counts must be a one-dimensional sequence of whole numbers; got {counts!r}")
    array = array.astype(np.int64)
    if array.size and (array[0] < 1 or array[-1] > n or np.any(np.diff(array) <= 0)):
        raise ValueError(f"counts must increase strictly within [1, {n}]; got {array.tolist()}")
    return array


# ------------------------------------------------------------------ the certificate


@dataclass(frozen=True)
class ThresholdCertificate:
    """One side's certified threshold, or why there is none.

    Attributes
    ----------
    side : str
        ``"ticket"`` (automates ``score >= threshold``) or ``"clear"`` (``score <= threshold``).
    certified : bool
    threshold : float or None
        None when not certified.
    target : float
        Target precision (ticket) or NPV (clear).
    confidence : float
    lower_bound : float or None
        One-sided Clopper-Pearson lower bound, at ``confidence``, of the precision (NPV) among
        the window's rows on the automated side at ``threshold``; when not certified, the bound
        at the first candidate (None without a candidate).
    n_automated, n_correct : int
        Window rows on the automated side at ``threshold`` and, of them, frauds (ticket) or
        legitimate cases (clear); 0 when not certified.
    n_window : int
    candidates_tested : int
        Candidates tested, up to and including the first that did not reject.
    reason : str
        One plain sentence: why certified, or why not.

    Raises
    ------
    ValueError
        If a field is inconsistent: unknown side, a threshold without certification (or the
        reverse), counts out of order, a target or confidence outside (0, 1).
    """

    side: str
    certified: bool
    threshold: float | None
    target: float
    confidence: float
    lower_bound: float | None
    n_automated: int
    n_correct: int
    n_window: int
    candidates_tested: int
    reason: str

    def __post_init__(self) -> None:
        """Turn numpy scalars into plain values and check the invariants listed under Raises."""
        if self.side not in _WORDS:
            raise ValueError(f"side must be one of {tuple(_WORDS)}; got {self.side!r}")
        if not isinstance(self.certified, bool | np.bool_):
            raise ValueError(f"certified must be a bool; got {self.certified!r}")
        plain = {
            "certified": bool(self.certified),
            "threshold": _optional_probability("threshold", self.threshold),
            "target": _checked_fraction("target", self.target),
            "confidence": _checked_fraction("confidence", self.confidence),
            "lower_bound": _optional_probability("lower_bound", self.lower_bound),
            "n_automated": _whole("n_automated", self.n_automated),
            "n_correct": _whole("n_correct", self.n_correct),
            "n_window": _whole("n_window", self.n_window),
            "candidates_tested": _whole("candidates_tested", self.candidates_tested),
            "reason": str(self.reason),
        }
        for name, value in plain.items():
            object.__setattr__(self, name, value)
        if self.certified != (self.threshold is not None):
            raise ValueError(f"certified={self.certified} but threshold={self.threshold!r}")
        if not self.n_correct <= self.n_automated <= self.n_window:
            raise ValueError(
                f"need n_correct <= n_automated <= n_window; got {self.n_correct}, {self.n_automated}, {self.n_window}"
            )
        if not self.certified and self.n_automated:
            raise ValueError(f"an uncertified side automates nothing; got n_automated={self.n_automated}")

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form: plain floats, ints, str, bool and None."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ThresholdCertificate:
        """Return the certificate held by a :meth:`to_dict` result (unknown keys are ignored).

        Raises
        ------
        ValueError
            If a key is missing (naming it) or a value breaks the invariants.
        """
        for key in _FIELDS:
            if key not in values:
                raise ValueError(f"a threshold certificate needs {key!r}; the mapping has {sorted(values)}")
        return cls(**{key: values[key] for key in _FIELDS})

    def automates(self, scores: ArrayLike) -> NDArray[np.bool_]:
        """Return which scores this side automates (all False when not certified).

        Raises
        ------
        fraudcal.inputs.InvalidOutcomesError
            If a score is NaN or outside [0, 1].

        Examples
        --------
        >>> ticket = ThresholdCertificate("ticket", True, 0.9, 0.95, 0.9, 0.96, 100, 98, 1000, 5, "...")
        >>> ticket.automates([0.5, 0.9, 0.95]).tolist()
        [False, True, True]
        """
        s = checked_probabilities(scores, "scores")
        if not self.certified:
            return np.zeros(s.shape, dtype=bool)
        return s >= self.threshold if self.side == TICKET_SIDE else s <= self.threshold


def _optional_probability(name: str, value: Any) -> float | None:
    """None, or a float in [0, 1]."""
    if value is None:
        return None
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be None or in [0, 1]; got {value!r}")
    return number


@dataclass(frozen=True)
class TriageCertificate:
    """Both sides of one window's triage: what is ticketed, what is cleared, the rest reviewed.

    Raises
    ------
    ValueError
        If ``ticket`` is not a ticket certificate, ``clear`` not a clear one, or their
        confidences differ.
    """

    ticket: ThresholdCertificate
    clear: ThresholdCertificate

    def __post_init__(self) -> None:
        """Check the sides (see Raises)."""
        if self.ticket.side != TICKET_SIDE or self.clear.side != CLEAR_SIDE:
            raise ValueError(f"ticket and clear got the sides {self.ticket.side!r} and {self.clear.side!r}")
        if self.ticket.confidence != self.clear.confidence:
            raise ValueError(f"the sides' confidences differ: {self.ticket.confidence} and {self.clear.confidence}")

    @property
    def confidence(self) -> float:
        """The confidence both sides are certified at."""
        return self.ticket.confidence

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"ticket": {...}, "clear": {...}, "confidence": ...}``, JSON-ready."""
        return {"ticket": self.ticket.to_dict(), "clear": self.clear.to_dict(), "confidence": self.confidence}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TriageCertificate:
        """Return the certificate held by a :meth:`to_dict` result (unknown keys are ignored).

        Raises
        ------
        ValueError
            If ``ticket``, ``clear`` or ``confidence`` is missing, a side is invalid, or the
            confidence disagrees with the sides'.
        """
        for key in ("ticket", "clear", "confidence"):
            if key not in values or values[key] is None:
                raise ValueError(f"a triage certificate needs {key!r}; the mapping has {sorted(values)}")
        certificate = cls(
            ThresholdCertificate.from_dict(values["ticket"]), ThresholdCertificate.from_dict(values["clear"])
        )
        if float(values["confidence"]) != certificate.confidence:
            raise ValueError(f"confidence {values['confidence']!r} differs from the sides' {certificate.confidence!r}")
        return certificate

    def actions(self, scores: ArrayLike) -> NDArray[np.str_]:
        """Return ``"ticket"``, ``"review"`` or ``"clear"`` per score.

        A score on both automated sides (thresholds that overlap, possible only on odd data)
        goes to review. :func:`fraudcal.online.decide` gives the same answer for each score.

        Examples
        --------
        >>> ticket = ThresholdCertificate("ticket", True, 0.9, 0.95, 0.9, 0.96, 100, 98, 1000, 5, "...")
        >>> clear = ThresholdCertificate("clear", True, 0.01, 0.999, 0.9, 0.9991, 500, 500, 1000, 3, "...")
        >>> TriageCertificate(ticket, clear).actions([0.0, 0.01, 0.5, 0.9]).tolist()
        ['clear', 'clear', 'review', 'ticket']
        """
        ticketed = self.ticket.automates(scores)
        cleared = self.clear.automates(scores)
        # Positions in TRIAGE_ACTIONS: 0 ticket, 1 review, 2 clear; both sides at once is review.
        index = np.where(ticketed & ~cleared, 0, np.where(cleared & ~ticketed, 2, 1))
        return np.asarray(TRIAGE_ACTIONS)[index]


# ------------------------------------------------------------------ certifying


@dataclass(frozen=True)
class _SortedWindow:
    """The window sorted once, ascending, for both sides.

    ``frauds_below[i]`` is the number of frauds among the ``i`` lowest scores (``i = 0..n``).
    """

    scores: NDArray[np.float64]
    frauds_below: NDArray[np.int64]

    @classmethod
    def of(cls, probabilities: ArrayLike, labels: ArrayLike) -> _SortedWindow:
        p, y = checked_outcomes(probabilities, labels)
        order = np.argsort(p)
        frauds_below = np.zeros(p.size + 1, dtype=np.int64)
        np.cumsum(y[order], out=frauds_below[1:])
        return cls(p[order], frauds_below)

    @property
    def n(self) -> int:
        return int(self.scores.size)

    def selected(self, side: str, counts: NDArray[np.int64]) -> tuple[NDArray, NDArray, NDArray]:
        """Per count: the threshold, the rows on its automated side (ties included), the correct ones."""
        n, total = self.n, int(self.frauds_below[-1])
        if side == TICKET_SIDE:
            thresholds = self.scores[n - counts]
            # Every row with score >= threshold, so a tie group is taken whole.
            first = np.searchsorted(self.scores, thresholds, side="left")
            return thresholds, n - first, total - self.frauds_below[first]
        thresholds = self.scores[counts - 1]
        last = np.searchsorted(self.scores, thresholds, side="right")
        return thresholds, last, last - self.frauds_below[last]


def _first_non_rejection(correct: NDArray, automated: NDArray, target: float, risk: float) -> int:
    """Index of the first candidate whose p-value exceeds ``risk`` (their number when all reject).

    The p-values are computed in blocks of doubling size, so that a walk that stops early
    costs little whatever the number of candidates.
    """
    start, size = 0, 64
    while start < correct.size:
        block = slice(start, start + size)
        rejected = _tail_p_values(correct[block], automated[block], target) <= risk
        if not rejected.all():
            return start + int(np.argmin(rejected))
        start, size = start + size, 2 * size
    return int(correct.size)


def _fmt(value: float) -> str:
    """A target, confidence or threshold as a short decimal."""
    return f"{value:.6g}"


def _certify(
    window: _SortedWindow, side: str, target: float, confidence: float, counts: ArrayLike | None
) -> ThresholdCertificate:
    """One side's fixed-sequence test on a sorted window."""
    target = _checked_fraction("target_precision" if side == TICKET_SIDE else "target_npv", target)
    confidence = _checked_fraction("confidence", confidence)
    words, n = _WORDS[side], window.n
    counts = candidate_counts(n, target, confidence) if counts is None else _checked_counts(counts, n)
    correct_total = int(window.frauds_below[-1]) if side == TICKET_SIDE else n - int(window.frauds_below[-1])
    goal = f"{words['rate']} >= {_fmt(target)} at confidence {_fmt(confidence)}"
    common = {"side": side, "target": target, "confidence": confidence, "n_window": n}
    if counts.size == 0:
        fewest = minimum_count(target, confidence)
        reason = (
            f"only {n:,} rows in the window: certifying {goal} needs at least {fewest:,} rows, all {words['correct']}"
        )
        return ThresholdCertificate(
            **common,
            certified=False,
            threshold=None,
            lower_bound=None,
            n_automated=0,
            n_correct=0,
            candidates_tested=0,
            reason=reason,
        )
    thresholds, automated, correct = window.selected(side, counts)
    # Counts inside one tie group select the same rows: test each threshold once.
    distinct = np.concatenate(([True], thresholds[1:] != thresholds[:-1]))
    thresholds, automated, correct = thresholds[distinct], automated[distinct], correct[distinct]
    stop = _first_non_rejection(correct, automated, target, 1.0 - confidence)
    tested = min(stop + 1, correct.size)
    if stop == 0:
        first_n, first_k = int(automated[0]), int(correct[0])
        fewest = minimum_count(target, confidence)
        if correct_total < fewest:
            reason = (
                f"only {correct_total:,} {words['correct']} in the window: certifying {goal} needs at least {fewest:,}"
            )
        else:
            reason = (
                f"the first candidate ({words['rows']} {first_n:,} scores, {first_n - first_k:,} {words['wrong']}) "
                f"does not reject {words['rate']} < {_fmt(target)} at confidence {_fmt(confidence)}"
            )
        return ThresholdCertificate(
            **common,
            certified=False,
            threshold=None,
            lower_bound=clopper_pearson_lower(first_k, first_n, confidence),
            n_automated=0,
            n_correct=0,
            candidates_tested=tested,
            reason=reason,
        )
    chosen = stop - 1
    threshold, rows, right = float(thresholds[chosen]), int(automated[chosen]), int(correct[chosen])
    bound = clopper_pearson_lower(right, rows, confidence)
    if stop < correct.size:
        after = f"the next candidate ({words['rows']} {int(automated[stop]):,}, {int(correct[stop]):,} {words['correct']}) does not reject"
    else:
        after = "every candidate rejected, up to the whole window"
    reason = (
        f"the {words['rows']} {rows:,} scores ({words['sign']} {_fmt(threshold)}) hold {right:,} {words['correct']}: "
        f"certified {goal} (lower bound {bound:.4f}); {after}"
    )
    return ThresholdCertificate(
        **common,
        certified=True,
        threshold=threshold,
        lower_bound=bound,
        n_automated=rows,
        n_correct=right,
        candidates_tested=tested,
        reason=reason,
    )


def certify_ticket_threshold(
    probabilities: ArrayLike,
    labels: ArrayLike,
    *,
    target_precision: float,
    confidence: float,
    counts: ArrayLike | None = None,
) -> ThresholdCertificate:
    """Certify the loosest auto-ticket threshold (ticket iff ``score >= threshold``).

    Parameters
    ----------
    probabilities, labels : array-like of shape (n,)
        The window's labeled outcomes (checked by :func:`fraudcal.inputs.checked_outcomes`).
    target_precision : float
        The share of frauds among auto-tickets to certify, in (0, 1).
    confidence : float
        ``P(true precision at the threshold < target_precision) <= 1 - confidence``; in (0, 1).
    counts : array-like of int, optional
        The candidates' row counts, strictly increasing in [1, n]; by default
        :func:`candidate_counts`. Fixed before looking at the labels, or the guarantee is gone
        (for experiments: ``tests/fraudcal/test_triage_simulation.py`` shows a bad sequence).

    Returns
    -------
    ThresholdCertificate

    Raises
    ------
    ValueError
        If ``target_precision`` or ``confidence`` is not strictly between 0 and 1, or
        ``counts`` is invalid (:class:`fraudcal.inputs.InvalidOutcomesError` for bad outcomes).

    Examples
    --------
    Fifty legitimate cases, then two frauds, two legitimate cases and 48 frauds: the first
    candidate, the top 52 scores (2 legitimate), rejects precision < 0.9; the next, the top 53
    (3 legitimate), does not.

    >>> scores = np.linspace(0.0, 1.0, 102)
    >>> labels = np.r_[np.zeros(50), np.ones(2), np.zeros(2) , np.ones(48)]
    >>> certificate = certify_ticket_threshold(scores, labels, target_precision=0.9, confidence=0.9)
    >>> certificate.certified, certificate.n_automated, certificate.n_correct
    (True, 52, 50)
    >>> certify_ticket_threshold(scores, labels, target_precision=1.0, confidence=0.9)
    Traceback (most recent call last):
    ...
    ValueError: target_precision must be a number strictly between 0 and 1; got 1.0
    """
    return _certify(_SortedWindow.of(probabilities, labels), TICKET_SIDE, target_precision, confidence, counts)


def certify_clear_threshold(
    probabilities: ArrayLike,
    labels: ArrayLike,
    *,
    target_npv: float,
    confidence: float,
    counts: ArrayLike | None = None,
) -> ThresholdCertificate:
    """Certify the loosest auto-clear threshold (clear iff ``score <= threshold``).

    The mirror of :func:`certify_ticket_threshold`: candidates select the lowest scores, and
    a correct row is a legitimate case.

    Parameters
    ----------
    probabilities, labels : array-like of shape (n,)
    target_npv : float
        The share of legitimate cases among auto-cleared scores to certify, in (0, 1).
    confidence : float
        In (0, 1).
    counts : array-like of int, optional
        As for :func:`certify_ticket_threshold`.

    Returns
    -------
    ThresholdCertificate

    Raises
    ------
    ValueError
        If ``target_npv`` or ``confidence`` is not strictly between 0 and 1.

    Examples
    --------
    >>> scores = np.linspace(0.0, 1.0, 3000)
    >>> certificate = certify_clear_threshold(scores, scores > 0.9, target_npv=0.999, confidence=0.9)
    >>> certificate.certified, certificate.n_automated, certificate.n_correct
    (True, 2696, 2696)

    The 2,700 scores up to 0.9 are legitimate; the last candidate before the first fraud
    selects 2,696 of them. Fewer than 2,302 rows can never certify an NPV of 0.999:

    >>> certify_clear_threshold(scores[:2000], scores[:2000] > 0.9, target_npv=0.999, confidence=0.9).reason
    'only 2,000 rows in the window: certifying NPV >= 0.999 at confidence 0.9 needs at least 2,302 rows, all legitimate cases'
    """
    return _certify(_SortedWindow.of(probabilities, labels), CLEAR_SIDE, target_npv, confidence, counts)


def certify_triage(
    probabilities: ArrayLike,
    labels: ArrayLike,
    *,
    target_precision: float = DEFAULT_TICKET_PRECISION,
    target_npv: float = DEFAULT_CLEAR_NPV,
    confidence: float = DEFAULT_TRIAGE_CONFIDENCE,
) -> TriageCertificate:
    """Certify both sides of one window with one sort of its scores.

    Parameters
    ----------
    probabilities, labels : array-like of shape (n,)
    target_precision, target_npv, confidence : float
        See :func:`certify_ticket_threshold` and :func:`certify_clear_threshold`.

    Returns
    -------
    TriageCertificate

    Raises
    ------
    ValueError
        If a target or the confidence is not strictly between 0 and 1.
    """
    target_precision = _checked_fraction("target_precision", target_precision)
    target_npv = _checked_fraction("target_npv", target_npv)
    confidence = _checked_fraction("confidence", confidence)
    window = _SortedWindow.of(probabilities, labels)
    return TriageCertificate(
        ticket=_certify(window, TICKET_SIDE, target_precision, confidence, None),
        clear=_certify(window, CLEAR_SIDE, target_npv, confidence, None),
    )


# ------------------------------------------------------------------ what the thresholds did


def automated_share(scores: ArrayLike, certificate: ThresholdCertificate) -> float:
    """Return the share of ``scores`` on the certificate's automated side.

    0.0 when the side is not certified, or for no scores.

    Examples
    --------
    >>> ticket = ThresholdCertificate("ticket", True, 0.9, 0.95, 0.9, 0.96, 100, 98, 1000, 5, "...")
    >>> automated_share([0.1, 0.5, 0.9, 0.99], ticket)
    0.5
    """
    automated = certificate.automates(scores)
    return float(automated.mean()) if automated.size else 0.0


def realized_rate(correct: int, n: int) -> dict[str, Any]:
    """Return what automated decisions really achieved: ``correct`` right out of ``n``.

    Returns
    -------
    dict
        ``{"n", "correct", "rate", "wilson_low", "wilson_high"}``: the rate and its 95 % Wilson
        interval (:func:`fraudcal.coverage.wilson_interval`); the last three are None when
        ``n = 0``.

    Raises
    ------
    ValueError
        If a count is not a whole number or ``correct > n``.

    Examples
    --------
    >>> figure = realized_rate(45, 50)
    >>> figure["rate"], round(figure["wilson_low"], 4), round(figure["wilson_high"], 4)
    (0.9, 0.7864, 0.9565)
    >>> realized_rate(0, 0)
    {'n': 0, 'correct': 0, 'rate': None, 'wilson_low': None, 'wilson_high': None}
    """
    n = _whole("n", n)
    correct = _whole("correct", correct)
    if correct > n:
        raise ValueError(f"correct={correct} must not exceed n={n}")
    if n == 0:
        return {"n": 0, "correct": 0, "rate": None, "wilson_low": None, "wilson_high": None}
    low, high = wilson_interval(correct, n)
    return {"n": n, "correct": correct, "rate": correct / n, "wilson_low": low, "wilson_high": high}


def certificate_violated(correct: int, n: int, target: float) -> bool:
    """Return whether the realized rate is below ``target`` beyond its 95 % Wilson interval.

    True iff ``n > 0`` and the interval's upper end is below the target.

    Examples
    --------
    >>> certificate_violated(50, 100, 0.95), certificate_violated(95, 100, 0.95), certificate_violated(0, 0, 0.95)
    (True, False, False)
    """
    target = _checked_fraction("target", target)
    figure = realized_rate(correct, n)
    return figure["n"] > 0 and figure["wilson_high"] < target
