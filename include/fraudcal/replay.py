"""What each calibration method would have done, day by day, on one history: a vectorised replay.

For every day ``D`` of a range and every method configuration (:class:`MethodConfig`), the
replay computes the set a calibration run with ``as_of = D`` (midnight) would have computed,
applies it to day ``D``'s predictions and judges them against their labels, exactly as
production would have run it, from one extraction and no database.

The window, and the labels it may use
-------------------------------------
The window of ``as_of = D`` holds the rows predicted on days ``[D - window_days, D -
label_maturity_days)`` whose label is known as of ``D``:

- with a ``label_day`` column (the instant, in days since day 0, at which the label arrived;
  ``inf`` = never), only labels with ``label_day <= D``: the labels a run at ``D`` could see;
- without it, the labels as the history holds them now (a null label: never labeled). The
  replay then assumes that every label of a matured day was in by the time that day joined
  the window: with ``label_maturity_days`` at least the real labelling delay this is what
  production saw; with a shorter maturity it credits a run with labels it did not yet have
  (and, when frauds are confirmed faster than legitimate cases are cleared, a class mix it
  did not have).

Day ``D``'s predictions are judged on the rows whose label the history holds at all (finite
``label_day``, or a non-null label): the others have no class. A configuration with option
``frozen_as_of = F`` uses the set of ``as_of = F`` on every day from ``F`` on (a set
calibrated once and never updated); ``window_days`` in the options overrides the window.

Decisions per prediction (ticket, clear or review)
--------------------------------------------------
residual
    The label set of the interval ``[p - q, p + q]`` (holds 0 iff the lower end is 0, 1 iff
    the upper end is 1: :func:`fraudcal.comparison.residual_label_sets`); ticket = HIGH or
    CRITICAL (``is_high_risk``) with a width below ``narrow_threshold`` (the online rule);
    clear = the set ``{0}``; review = the rest.
mondrian, mondrian_aci
    The label set ``{c : |p - c| <= q_c}``; ticket = HIGH/CRITICAL with the set ``{1}``;
    clear = ``{0}``; review = ``{0, 1}`` or empty. ``mondrian_aci`` moves each class's level
    with :mod:`fraudcal.aci`: its state starts at the first replayed day and, at each day
    ``D``, applies the replayed prediction days that matured by ``D`` (up to ``D -
    label_maturity_days - 1``), each judged with the set that was in force on it, against
    the labels known as of ``D``.
venn_abers
    No label set (coverage and set counts are null): Venn-Abers gives probabilities, not
    sets. Decisions come from the certified triage thresholds of :mod:`fraudcal.triage`
    fitted on the same window and applied to the day's raw scores (Venn-Abers' merged ``p``
    is monotone in the score, so a threshold on ``p`` is one on the score). The day's ECE of
    the raw score and of Venn-Abers' ``p`` (:mod:`fraudcal.venn_abers` fitted on the window)
    is recorded.

How it is fast
--------------
The scores of each class (and, for the residual method, all scores) are sorted once. A row
belongs to the window of ``as_of = D`` iff ``start <= D`` and ``day >= D - window_days``,
with ``start = max(day + maturity + 1, ceil(label_day))`` computed once; so a day's window,
in score order, is one boolean mask over the sorted rows, and its k-th smallest score is the
k-th row of the mask. Windows are shared by every configuration that uses them.
:func:`replay_benchmark` measures the replay against one sort and one quantile pass over the
same rows.

Examples
--------
>>> from fraudcal.scenarios import ScenarioConfig, generate
>>> frame = generate(ScenarioConfig(days=12, rows_per_day=400, seed=1))
>>> configs = [MethodConfig("mondrian", "mondrian"), MethodConfig("aci", "mondrian_aci", {"gamma": 0.05})]
>>> replayed = replay(frame, days=[10, 11], configs=configs, window_days=7)
>>> fraud = replayed[replayed["class"] == "fraud"]
>>> print(fraud[["day", "config", "n", "covered", "set_1", "tickets", "alpha"]].to_string(index=False))
 day   config  n  covered  set_1  tickets    alpha
  10 mondrian 17       14     12        7      NaN
  10      aci 17       14     12        7 0.100000
  11 mondrian 14       13     12        4      NaN
  11      aci 14       13     12        4 0.096176

Day 10 matured on day 11 (no maturity gap): ACI saw its fraud misses and moved.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from fraudcal import aci
from fraudcal.comparison import residual_label_sets
from fraudcal.conformal import UNBOUNDED_QUANTILE, conformal_rank, coverage_fraction, interval_bounds
from fraudcal.coverage import wilson_interval
from fraudcal.defaults import (
    DEFAULT_ACI_GAMMA,
    DEFAULT_CLEAR_NPV,
    DEFAULT_LABEL_MATURITY_DAYS,
    DEFAULT_LEVEL,
    DEFAULT_NARROW_THRESHOLD,
    DEFAULT_REPLAY_DAYS,
    DEFAULT_TICKET_PRECISION,
    DEFAULT_TRIAGE_CONFIDENCE,
    DEFAULT_WINDOW_DAYS,
    MONDRIAN_ACI_METHOD,
    MONDRIAN_METHOD,
    RESIDUAL_METHOD,
    VENN_ABERS_METHOD,
)
from fraudcal.inputs import checked_labels, checked_probabilities
from fraudcal.metrics import expected_calibration_error
from fraudcal.mondrian import minimum_class_size
from fraudcal.scenarios import HIGH_RISK_CUT

#: The methods a replay can run, in the order its output lists them.
REPLAY_METHODS = (RESIDUAL_METHOD, MONDRIAN_METHOD, MONDRIAN_ACI_METHOD, VENN_ABERS_METHOD)
#: The options each method accepts (``window_days`` and ``frozen_as_of``: every method).
METHOD_OPTIONS = {
    RESIDUAL_METHOD: {"window_days", "frozen_as_of"},
    MONDRIAN_METHOD: {"window_days", "frozen_as_of"},
    MONDRIAN_ACI_METHOD: {"window_days", "frozen_as_of", "gamma"},
    VENN_ABERS_METHOD: {"window_days", "frozen_as_of"},
}
#: How a verdict names each method.
METHOD_LABELS = {
    RESIDUAL_METHOD: "Residual",
    MONDRIAN_METHOD: "Mondrian",
    MONDRIAN_ACI_METHOD: "Mondrian + ACI",
    VENN_ABERS_METHOD: "Venn-Abers (certified triage)",
}
#: The two classes, as the output's ``class`` column names them (fraud first), with their label.
CLASS_NAMES = (("fraud", True), ("legitimate", False))
#: Count columns of one (day, config, class) row; the first two and the set counts are null for Venn-Abers.
COUNT_COLUMNS = (
    "n",
    "covered",
    "set_0",
    "set_1",
    "set_both",
    "set_empty",
    "high_risk",
    "tickets",
    "tickets_fraud",
    "cleared",
    "cleared_legit",
    "review",
)
#: Where day indices count from when the history has no ``predicted_at``.
EPOCH = date(1970, 1, 1)


# ------------------------------------------------------------------ configurations


@dataclass(frozen=True)
class MethodConfig:
    """One method as the replay runs it.

    Attributes
    ----------
    name : str
        The name the output uses (unique in one replay).
    method : str
        One of :data:`REPLAY_METHODS`.
    options : dict
        ``gamma`` (ACI, default :data:`fraudcal.defaults.DEFAULT_ACI_GAMMA`),
        ``window_days`` (overrides the replay's), ``frozen_as_of`` (a day: from it on, the set
        of that ``as_of`` is used and never updated).

    Raises
    ------
    ValueError
        If the method is unknown or an option is not one of the method's.

    Examples
    --------
    >>> MethodConfig("aci", "mondrian_aci", {"gamma": 0.1}).to_dict()
    {'name': 'aci', 'method': 'mondrian_aci', 'options': {'gamma': 0.1}}
    >>> MethodConfig("x", "mondrian", {"gamma": 0.1})
    Traceback (most recent call last):
    ...
    ValueError: method mondrian takes no option(s) ['gamma']; it takes ['frozen_as_of', 'window_days']
    """

    name: str
    method: str
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check the method and its options (see Raises)."""
        if self.method not in REPLAY_METHODS:
            raise ValueError(f"method {self.method!r} is not one of {list(REPLAY_METHODS)}")
        unknown = sorted(set(self.options) - METHOD_OPTIONS[self.method])
        if unknown:
            raise ValueError(
                f"method {self.method} takes no option(s) {unknown}; it takes {sorted(METHOD_OPTIONS[self.method])}"
            )
        object.__setattr__(self, "options", dict(self.options))

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"name", "method", "options"}``."""
        return {"name": self.name, "method": self.method, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> MethodConfig:
        """Return the config a :meth:`to_dict` result holds (``options`` may be absent).

        Raises
        ------
        KeyError
            If ``name`` or ``method`` is missing, naming it.
        """
        missing = [key for key in ("name", "method") if key not in values]
        if missing:
            raise KeyError(f"a method configuration needs {missing}")
        return cls(values["name"], values["method"], dict(values.get("options", {})))

    @property
    def gamma(self) -> float:
        """The ACI step size of this configuration."""
        return float(self.options.get("gamma", DEFAULT_ACI_GAMMA))


def default_configs() -> tuple[MethodConfig, ...]:
    """The four configurations the demo compares: residual, Mondrian, Mondrian + ACI, Venn-Abers.

    Examples
    --------
    >>> [config.name for config in default_configs()]
    ['residual', 'mondrian', 'mondrian_aci', 'venn_abers']
    """
    return (
        MethodConfig(RESIDUAL_METHOD, RESIDUAL_METHOD),
        MethodConfig(MONDRIAN_METHOD, MONDRIAN_METHOD),
        MethodConfig(MONDRIAN_ACI_METHOD, MONDRIAN_ACI_METHOD, {"gamma": DEFAULT_ACI_GAMMA}),
        MethodConfig(VENN_ABERS_METHOD, VENN_ABERS_METHOD),
    )


# ------------------------------------------------------------------ the history, read once


@dataclass(frozen=True)
class History:
    """The columns a replay reads, checked, sorted by day.

    Attributes
    ----------
    day : ndarray of int64
        Prediction day of each row (non-decreasing).
    probability : ndarray of float64
    label : ndarray of bool
        The label (False where unknown).
    known : ndarray of bool
        Whether the history holds the row's label at all.
    arrival : ndarray of float64
        When the label arrived (days since day 0); ``-inf`` = known from the start (no
        ``label_day`` column), ``inf`` = never.
    is_high_risk : ndarray of bool
    origin : date
        The calendar date of day 0.
    day_start : ndarray of int64
        ``day_start[d - first_day]`` is the first row of day ``d``.
    first_day : int
    """

    day: NDArray[np.int64]
    probability: NDArray[np.float64]
    label: NDArray[np.bool_]
    known: NDArray[np.bool_]
    arrival: NDArray[np.float64]
    is_high_risk: NDArray[np.bool_]
    origin: date
    day_start: NDArray[np.int64]
    first_day: int

    def rows_of(self, day: int) -> slice:
        """The rows predicted on ``day`` (empty outside the history)."""
        index = day - self.first_day
        if index < 0 or index + 1 >= self.day_start.size:
            return slice(0, 0)
        return slice(int(self.day_start[index]), int(self.day_start[index + 1]))

    def iso(self, day: int) -> str:
        """The ISO date of a day index."""
        return (self.origin + timedelta(days=int(day))).isoformat()


def read_history(frame: pd.DataFrame) -> History:
    """Read and check a history: ``probability``, ``label`` and ``day`` or ``predicted_at``.

    Parameters
    ----------
    frame : DataFrame
        ``probability`` (in [0, 1]); ``label`` (0/1 or bool; null = unknown); ``day`` (int)
        and/or ``predicted_at`` (UTC datetimes; without ``day`` the day is counted from
        1970-01-01); optional ``label_day`` (arrival instant in days, ``inf`` = never) and
        ``is_high_risk`` (default: ``probability >= 0.5``, HIGH or CRITICAL).

    Raises
    ------
    ValueError
        If a column is missing (naming it); :class:`fraudcal.inputs.InvalidOutcomesError`
        if a probability or a known label breaks the input contract.
    """
    missing = [name for name in ("probability", "label") if name not in frame.columns]
    if "day" not in frame.columns and "predicted_at" not in frame.columns:
        missing.append("day or predicted_at")
    if missing:
        raise ValueError(f"a history needs the column(s) {missing}; it has {list(frame.columns)}")
    probability = checked_probabilities(frame["probability"].to_numpy(dtype=np.float64), "probability")
    day, origin = _days(frame)
    raw_label = frame["label"]
    known = raw_label.notna().to_numpy().copy()
    label = np.zeros(len(frame), dtype=bool)
    label[known] = checked_labels(raw_label[known].to_numpy(dtype=object), "label")
    if "label_day" in frame.columns:
        arrival = frame["label_day"].to_numpy(dtype=np.float64)
        known &= np.isfinite(arrival)
    else:
        arrival = np.where(known, -np.inf, np.inf)
    high = (
        frame["is_high_risk"].to_numpy(dtype=bool) if "is_high_risk" in frame.columns else probability >= HIGH_RISK_CUT
    )
    order = np.argsort(day, kind="stable")
    day = day[order]
    first_day = int(day[0]) if day.size else 0
    last_day = int(day[-1]) if day.size else -1
    day_start = np.searchsorted(day, np.arange(first_day, last_day + 2))
    return History(
        day=day,
        probability=probability[order],
        label=label[order],
        known=known[order],
        arrival=np.where(known, arrival, np.inf)[order],
        is_high_risk=high[order],
        origin=origin,
        day_start=day_start,
        first_day=first_day,
    )


def _days(frame: pd.DataFrame) -> tuple[NDArray[np.int64], date]:
    """The day index of each row and the calendar date of day 0."""
    if "day" in frame.columns:
        day = frame["day"].to_numpy(dtype=np.int64)
        if "predicted_at" in frame.columns and len(frame):
            first = pd.Timestamp(frame["predicted_at"].iloc[0])
            return day, first.date() - timedelta(days=int(day[0]))
        return day, EPOCH
    when = pd.to_datetime(frame["predicted_at"], utc=True)
    day = ((when - pd.Timestamp(EPOCH, tz="UTC")) // pd.Timedelta(days=1)).to_numpy(dtype=np.int64)
    return day, EPOCH


# ------------------------------------------------------------------ windows, sorted once


@dataclass(frozen=True)
class _Family:
    """One family of scores (a class, or all rows), sorted once, with what decides window membership."""

    score: NDArray[np.float64]
    probability: NDArray[np.float64]
    day: NDArray[np.int64]
    start: NDArray[np.float64]

    @classmethod
    def of(cls, rows: NDArray[np.bool_], score: NDArray[np.float64], history: History, maturity: int) -> _Family:
        """Sort the rows' scores; a row is in the window of ``as_of = D`` from ``D = start`` on."""
        index = np.flatnonzero(rows)
        order = index[np.argsort(score[index], kind="stable")]
        start = np.maximum(history.day[order] + maturity + 1.0, np.ceil(history.arrival[order]))
        return cls(score[order], history.probability[order], history.day[order], start)

    def window(self, as_of: int, window_days: int) -> NDArray[np.bool_]:
        """Which sorted rows are in the window of ``as_of`` (``start <= D`` and ``day >= D - window``)."""
        return (self.start <= as_of) & (self.day >= as_of - window_days)


@dataclass(frozen=True)
class _Window:
    """One window's scores in ascending order, per family, and its probabilities per class."""

    zero: NDArray[np.float64]  # class 0 scores |p - 0| = p
    one: NDArray[np.float64]  # class 1 scores 1 - p
    one_probability: NDArray[np.float64]  # class 1 probabilities, in the order of `one`
    # What is computed on the window once, when a method first needs it (a frozen window serves
    # many days): all scores |p - y| in order (residual), the triage and Venn-Abers fits.
    fitted: dict[str, Any] = field(default_factory=dict)

    @property
    def sizes(self) -> dict[str, int]:
        """Rows per class, keyed as :mod:`fraudcal.aci` keys them."""
        return {"0": int(self.zero.size), "1": int(self.one.size)}


class _Windows:
    """Builds each (window_days, as_of) window once per replay day, for every configuration that needs it."""

    def __init__(self, history: History, maturity: int, need_pooled: bool) -> None:
        known = history.known
        p, y = history.probability, history.label
        self.zero = _Family.of(known & ~y, p, history, maturity)
        self.one = _Family.of(known & y, 1.0 - p, history, maturity)
        # |p - y| as fraudcal.conformal.residual_scores writes it.
        self.all_rows = _Family.of(known, np.where(y, 1.0 - p, p), history, maturity) if need_pooled else None
        self._cache: dict[tuple[int, int], _Window] = {}

    def get(self, window_days: int, as_of: int) -> _Window:
        """The window, computed at most once per key while it is kept."""
        key = (window_days, as_of)
        if key not in self._cache:
            zero_rows = self.zero.window(as_of, window_days)
            one_rows = self.one.window(as_of, window_days)
            self._cache[key] = _Window(
                self.zero.score[zero_rows], self.one.score[one_rows], self.one.probability[one_rows]
            )
        return self._cache[key]

    def pooled(self, window_days: int, as_of: int) -> NDArray[np.float64]:
        """All of the window's scores ``|p - y|`` in ascending order (the residual method's)."""
        window = self.get(window_days, as_of)
        if "pooled" not in window.fitted:
            window.fitted["pooled"] = self.all_rows.score[self.all_rows.window(as_of, window_days)]
        return window.fitted["pooled"]

    def keep_only(self, keys: Iterable[tuple[int, int]]) -> None:
        """Forget every window but those still needed."""
        wanted = set(keys)
        self._cache = {key: value for key, value in self._cache.items() if key in wanted}


def kth_smallest(sorted_scores: NDArray[np.float64], k: int) -> float:
    """The k-th smallest of ascending scores, or 1.0 when ``k > n`` (the conformal rule)."""
    return UNBOUNDED_QUANTILE if k > sorted_scores.size else float(sorted_scores[k - 1])


def _rank(n: int, level: int | float) -> int:
    """The conformal rank at a fixed level (``n = 0``: 1, as :mod:`fraudcal.mondrian` has it)."""
    return conformal_rank(n, level) if n else 1


# ------------------------------------------------------------------ one day of one configuration


@dataclass(frozen=True)
class _Decisions:
    """Each judged row's label set and decision."""

    holds_zero: NDArray[np.bool_] | None
    holds_one: NDArray[np.bool_] | None
    ticket: NDArray[np.bool_]
    clear: NDArray[np.bool_]


def _class_rows(decisions: _Decisions, label: NDArray[np.bool_], high: NDArray[np.bool_]) -> dict[str, dict[str, Any]]:
    """The count columns of the fraud and legitimate rows of one day."""
    rows = {}
    review = ~decisions.ticket & ~decisions.clear
    for name, fraud in CLASS_NAMES:
        members = label if fraud else ~label
        counts: dict[str, Any] = {"n": int(members.sum())}
        if decisions.holds_zero is None:
            counts.update(dict.fromkeys(("covered", "set_0", "set_1", "set_both", "set_empty"), None))
        else:
            zero, one = decisions.holds_zero[members], decisions.holds_one[members]
            counts["covered"] = int((one if fraud else zero).sum())
            counts["set_0"] = int((zero & ~one).sum())
            counts["set_1"] = int((one & ~zero).sum())
            counts["set_both"] = int((zero & one).sum())
            counts["set_empty"] = int((~zero & ~one).sum())
        tickets = int(decisions.ticket[members].sum())
        cleared = int(decisions.clear[members].sum())
        counts.update(
            high_risk=int(high[members].sum()),
            tickets=tickets,
            tickets_fraud=tickets if fraud else 0,
            cleared=cleared,
            cleared_legit=0 if fraud else cleared,
            review=int(review[members].sum()),
        )
        rows[name] = counts
    return rows


def _label_set_decisions(
    holds_zero: NDArray[np.bool_], holds_one: NDArray[np.bool_], ticket: NDArray[np.bool_]
) -> _Decisions:
    """Clear the ``{0}`` sets that are not tickets; the rest not ticketed goes to review."""
    return _Decisions(holds_zero, holds_one, ticket, holds_zero & ~holds_one & ~ticket)


@dataclass
class _AciTrack:
    """The ACI state of one configuration and the quantiles it put in force on each replayed day."""

    state: aci.AciState
    in_force: dict[int, tuple[float, float]] = field(default_factory=dict)
    applied_through: int | None = None


# ------------------------------------------------------------------ the replay


def replay(
    frame: pd.DataFrame,
    *,
    days: Iterable[int] | None = None,
    configs: Sequence[MethodConfig] | None = None,
    window_days: int = DEFAULT_WINDOW_DAYS,
    label_maturity_days: int = DEFAULT_LABEL_MATURITY_DAYS,
    level: int | float = DEFAULT_LEVEL,
    narrow_threshold: float = DEFAULT_NARROW_THRESHOLD,
    target_precision: float = DEFAULT_TICKET_PRECISION,
    target_npv: float = DEFAULT_CLEAR_NPV,
    triage_confidence: float = DEFAULT_TRIAGE_CONFIDENCE,
) -> pd.DataFrame:
    """Replay every configuration on every day: sets as of that day, applied to that day.

    Parameters
    ----------
    frame : DataFrame
        The history (:func:`read_history`).
    days : iterable of int, optional
        Strictly increasing day indices to replay; default the last
        :data:`fraudcal.defaults.DEFAULT_REPLAY_DAYS` days of the history.
    configs : sequence of MethodConfig, optional
        Default :func:`default_configs`. Names must be unique.
    window_days : int, default=DEFAULT_WINDOW_DAYS
        Window length in days (a config's ``window_days`` option overrides it).
    label_maturity_days : int, default=DEFAULT_LABEL_MATURITY_DAYS
        The window of ``as_of = D`` ends at ``D - label_maturity_days``.
    level : int or float, default=DEFAULT_LEVEL
        Coverage level in percent of every label-set method.
    narrow_threshold : float, default=DEFAULT_NARROW_THRESHOLD
        The residual ticket rule.
    target_precision, target_npv, triage_confidence : float
        Venn-Abers' certified triage (:func:`fraudcal.triage.certify_triage`); defaults those
        of the calibration Params.

    Returns
    -------
    DataFrame
        One row per (day, config, class ``fraud``/``legitimate``), days in order, configs in
        the order given: ``day``, ``date`` (ISO), ``config``, ``method``, ``class``; the
        counts of :data:`COUNT_COLUMNS` (nullable integers: ``covered`` and the set counts are
        null for Venn-Abers); the class's ``quantile`` (the residual ``q`` on both rows),
        ``window_n`` (its rows in the window; the window's rows for the residual method),
        ``alpha`` and ``saturated`` (ACI; null otherwise); and per day and config
        ``too_few_frauds``, ``ticket_threshold``, ``clear_threshold``, ``ece_raw`` and
        ``ece_p`` (Venn-Abers; null otherwise).

    Raises
    ------
    ValueError
        If the days are not strictly increasing, a config name repeats, the window is not
        longer than the maturity, or the maturity is negative.
    """
    history = read_history(frame)
    day_list = _replay_days(history, days)
    configs = tuple(default_configs() if configs is None else configs)
    names = [config.name for config in configs]
    if len(set(names)) != len(names):
        raise ValueError(f"config names must be unique; got {names}")
    if label_maturity_days < 0:
        raise ValueError(f"label_maturity_days={label_maturity_days} must be >= 0")
    for config in configs:
        length = int(config.options.get("window_days", window_days))
        if length <= label_maturity_days:
            raise ValueError(
                f"{config.name}: window_days={length} must exceed label_maturity_days={label_maturity_days}"
            )
    triage = _TriageTargets(float(target_precision), float(target_npv), float(triage_confidence))
    windows = _Windows(history, label_maturity_days, any(config.method == RESIDUAL_METHOD for config in configs))
    tracks = {
        config.name: _AciTrack(aci.initial_state(level, config.gamma))
        for config in configs
        if config.method == MONDRIAN_ACI_METHOD
    }
    records: list[dict[str, Any]] = []
    for day in day_list:
        rows = history.rows_of(day)
        judged = history.known[rows]
        p = history.probability[rows][judged]
        y = history.label[rows][judged]
        high = history.is_high_risk[rows][judged]
        keys = []
        for config in configs:
            length = int(config.options.get("window_days", window_days))
            as_of = _as_of(config, day)
            keys.append((length, as_of))
            window = windows.get(length, as_of)
            common = {"day": day, "date": history.iso(day), "config": config.name, "method": config.method}
            if config.method == RESIDUAL_METHOD:
                per_class = _residual_day(windows.pooled(length, as_of), p, y, high, level, narrow_threshold)
            elif config.method == MONDRIAN_METHOD:
                per_class = _mondrian_day(window, p, y, high, level)
            elif config.method == MONDRIAN_ACI_METHOD:
                per_class = _aci_day(tracks[config.name], history, day, label_maturity_days, window, p, y, high)
            else:
                per_class = _venn_abers_day(window, p, y, high, triage)
            records.extend({**common, "class": name, **values} for name, values in per_class.items())
        # Today's windows are not needed again; a frozen one (as_of before today) is.
        windows.keep_only(key for key in keys if key[1] != day)
    return _frame(records)


def _replay_days(history: History, days: Iterable[int] | None) -> list[int]:
    """The replayed days, strictly increasing."""
    if days is None:
        last = history.first_day + history.day_start.size - 2
        return list(range(max(history.first_day, last - DEFAULT_REPLAY_DAYS + 1), last + 1))
    day_list = [int(day) for day in days]
    if any(later <= earlier for earlier, later in zip(day_list, day_list[1:], strict=False)):
        raise ValueError(f"days must be strictly increasing; got {day_list[:10]}...")
    return day_list


def _as_of(config: MethodConfig, day: int) -> int:
    """The as_of whose set is in force on ``day``: the day itself, or the frozen one from then on."""
    frozen = config.options.get("frozen_as_of")
    return day if frozen is None else min(day, int(frozen))


def _residual_day(
    pooled: NDArray, p: NDArray, y: NDArray, high: NDArray, level: int | float, narrow_threshold: float
) -> dict[str, dict[str, Any]]:
    """The residual interval's label sets and tickets (the online rule) for one day."""
    n = int(pooled.size)
    q = kth_smallest(pooled, _rank(n, level))
    holds_zero, holds_one = residual_label_sets(p, q)
    lower, upper = interval_bounds(p, q)
    ticket = high & ((upper - lower) < narrow_threshold)
    per_class = _class_rows(_label_set_decisions(holds_zero, holds_one, ticket), y, high)
    for values in per_class.values():
        values.update(quantile=q, window_n=n, too_few_frauds=None)
    return per_class


def _mondrian_sets(
    window: _Window, p: NDArray, high: NDArray, k_zero: int, k_one: int
) -> tuple[_Decisions, float, float]:
    """The label sets and decisions of per-class ranks on one window."""
    q_zero, q_one = kth_smallest(window.zero, k_zero), kth_smallest(window.one, k_one)
    # The comparisons of fraudcal.mondrian.label_sets, on the same floats.
    holds_zero, holds_one = p <= q_zero, (1.0 - p) <= q_one
    return _label_set_decisions(holds_zero, holds_one, high & holds_one & ~holds_zero), q_zero, q_one


def _mondrian_day(window: _Window, p: NDArray, y: NDArray, high: NDArray, level: int | float) -> dict:
    """Mondrian at the fixed level for one day."""
    sizes = window.sizes
    decisions, q_zero, q_one = _mondrian_sets(window, p, high, _rank(sizes["0"], level), _rank(sizes["1"], level))
    per_class = _class_rows(decisions, y, high)
    too_few = sizes["1"] < minimum_class_size(level)
    per_class["fraud"].update(quantile=q_one, window_n=sizes["1"], too_few_frauds=too_few)
    per_class["legitimate"].update(quantile=q_zero, window_n=sizes["0"], too_few_frauds=too_few)
    return per_class


def _aci_day(
    track: _AciTrack,
    history: History,
    day: int,
    maturity: int,
    window: _Window,
    p: NDArray,
    y: NDArray,
    high: NDArray,
) -> dict:
    """Apply the prediction days matured by ``day``, then the day's sets at the new levels."""
    sizes = window.sizes
    newest_mature = day - maturity - 1
    for matured in sorted(d for d in track.in_force if d <= newest_mature):
        if track.applied_through is not None and matured <= track.applied_through:
            continue
        misses, counts = _matured_errors(history, matured, day, track.in_force[matured])
        track.state = aci.update_state(track.state, history.iso(matured), misses, counts, class_sizes=sizes)
        track.applied_through = matured
    alpha = track.state.alpha
    k_zero, k_one = aci.aci_rank(sizes["0"], alpha["0"]), aci.aci_rank(sizes["1"], alpha["1"])
    decisions, q_zero, q_one = _mondrian_sets(window, p, high, k_zero, k_one)
    track.in_force[day] = (q_zero, q_one)
    per_class = _class_rows(decisions, y, high)
    too_few = sizes["1"] < minimum_class_size(track.state.level)
    for name, label, quantile in (("fraud", "1", q_one), ("legitimate", "0", q_zero)):
        per_class[name].update(
            quantile=quantile,
            window_n=sizes[label],
            too_few_frauds=too_few,
            alpha=alpha[label],
            saturated=track.state.saturated[label],
        )
    return per_class


def _matured_errors(
    history: History, matured: int, as_of: int, quantiles: tuple[float, float]
) -> tuple[dict[str, int], dict[str, int]]:
    """Per class, the misses and labeled rows of a prediction day, with the labels known at ``as_of``."""
    rows = history.rows_of(matured)
    labeled = history.known[rows] & (history.arrival[rows] <= as_of)
    p, y = history.probability[rows][labeled], history.label[rows][labeled]
    q_zero, q_one = quantiles
    return (
        {"0": int((p[~y] > q_zero).sum()), "1": int(((1.0 - p[y]) > q_one).sum())},
        {"0": int((~y).sum()), "1": int(y.sum())},
    )


@dataclass(frozen=True)
class _TriageTargets:
    """The targets of Venn-Abers' certified triage, resolved once."""

    precision: float
    npv: float
    confidence: float


def _venn_abers_day(window: _Window, p: NDArray, y: NDArray, high: NDArray, targets: _TriageTargets) -> dict:
    """Certified triage on the window applied to the day's scores; ECE of the raw score and of Venn-Abers' p."""
    # fraudcal.triage and fraudcal.venn_abers (SciPy's isotonic regression) load only when Venn-Abers is replayed.
    from fraudcal.triage import certify_triage
    from fraudcal.venn_abers import fit_venn_abers, venn_abers_probabilities

    if "triage" not in window.fitted:
        window_p = np.concatenate((window.zero, window.one_probability))
        window_y = np.concatenate((np.zeros(window.zero.size, dtype=bool), np.ones(window.one.size, dtype=bool)))
        window.fitted["triage"] = certify_triage(
            window_p,
            window_y,
            target_precision=targets.precision,
            target_npv=targets.npv,
            confidence=targets.confidence,
        )
        window.fitted["venn_abers"] = fit_venn_abers(window_p, window_y)
    certificate = window.fitted["triage"]
    actions = np.asarray(certificate.actions(p)) if p.size else np.empty(0, dtype=str)
    decisions = _Decisions(None, None, actions == "ticket", actions == "clear")
    per_class = _class_rows(decisions, y, high)
    _, _, merged = venn_abers_probabilities(p, window.fitted["venn_abers"])
    extra = {
        "window_n": int(window.zero.size + window.one.size),
        "too_few_frauds": None,
        "ticket_threshold": _threshold(certificate.ticket),
        "clear_threshold": _threshold(certificate.clear),
        "ece_raw": expected_calibration_error(p, y),
        "ece_p": expected_calibration_error(merged, y),
    }
    for values in per_class.values():
        values.update(extra)
    return per_class


def _threshold(side: Any) -> float:
    """A certified side's threshold, NaN when there is none."""
    value = getattr(side, "threshold", None) if side is not None else None
    return float("nan") if value is None else float(value)


def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """The output frame, with nullable integer counts and float/boolean state columns."""
    frame = pd.DataFrame.from_records(records)
    columns = ["day", "date", "config", "method", "class", *COUNT_COLUMNS]
    state = ["quantile", "window_n", "alpha", "saturated", "too_few_frauds"]
    state += ["ticket_threshold", "clear_threshold", "ece_raw", "ece_p"]
    for name in columns + state:
        if name not in frame.columns:
            frame[name] = None
    frame = frame[columns + state]
    for name in COUNT_COLUMNS + ("window_n",):
        frame[name] = frame[name].astype("Int64")
    for name in ("quantile", "alpha", "ticket_threshold", "clear_threshold", "ece_raw", "ece_p"):
        frame[name] = frame[name].astype("float64")
    for name in ("saturated", "too_few_frauds"):
        frame[name] = frame[name].astype("boolean")
    frame["day"] = frame["day"].astype("int64")
    return frame


# ------------------------------------------------------------------ verdicts


def _met_days(group: pd.DataFrame, target: float) -> tuple[int, int]:
    """Days with rows of the class, and days whose 95 % Wilson interval reaches the target."""
    measured = group[group["n"] > 0]
    met = sum(
        1
        for covered, n in zip(measured["covered"], measured["n"], strict=True)
        if wilson_interval(int(covered), int(n))[1] >= target
    )
    return len(measured), met


def _rate(successes: int, n: int) -> dict[str, float | int]:
    """A proportion with its 95 % Wilson interval (NaN without trials)."""
    low, high = wilson_interval(successes, n)
    return {"n": n, "successes": successes, "rate": successes / n if n else math.nan, "low": low, "high": high}


def verdict(replayed: pd.DataFrame, level: int | float = DEFAULT_LEVEL) -> list[dict[str, Any]]:
    """The plain-words material per configuration: coverage days met, review load, ticket precision, NPV.

    A day *met* a class's coverage when the class had rows that day and the 95 % Wilson
    interval of its coverage (:func:`fraudcal.coverage.wilson_interval`) contains or exceeds
    the target ``level/100``: its upper end is at least the target. Over-coverage counts as
    met (it costs review load, reported beside it).

    Parameters
    ----------
    replayed : DataFrame
        A :func:`replay` result.
    level : int or float, default=DEFAULT_LEVEL
        The level the replay ran at.

    Returns
    -------
    list of dict
        One per configuration, in the replay's order: ``config``, ``method``, ``label``,
        ``days``; per class (``fraud``, ``legitimate``): ``days_measured``, ``days_met`` and
        ``coverage`` (pooled, with Wilson interval), or None for Venn-Abers; ``review_share``
        (mean over days of review / predictions judged) and ``review_share_pooled``;
        ``tickets``, ``ticket_precision`` and ``cleared``, ``npv`` (pooled, with Wilson
        interval); ``saturated_days`` (ACI: days on which a class's clip bound, else None).

    Examples
    --------
    >>> from fraudcal.scenarios import ScenarioConfig, generate
    >>> frame = generate(ScenarioConfig(days=12, rows_per_day=400, seed=1))
    >>> replayed = replay(frame, days=range(10, 12), configs=[MethodConfig("mondrian", "mondrian")],
    ...                   window_days=7, label_maturity_days=1)
    >>> row = verdict(replayed)[0]
    >>> row["fraud"]["days_measured"], row["days"]
    (2, 2)
    """
    target = float(coverage_fraction(level))
    rows = []
    for name in pd.unique(replayed["config"]):
        part = replayed[replayed["config"] == name]
        method = str(part["method"].iloc[0])
        per_day = part.groupby("day")[["n", "review", "tickets", "tickets_fraud", "cleared", "cleared_legit"]].sum()
        judged = per_day["n"].astype("float64")
        share = (per_day["review"].astype("float64") / judged.where(judged > 0)).dropna()
        row: dict[str, Any] = {
            "config": str(name),
            "method": method,
            "label": METHOD_LABELS[method] if name == method else f"{METHOD_LABELS[method]} ({name})",
            "days": int(per_day.shape[0]),
            "level": level,
        }
        for class_name, _ in CLASS_NAMES:
            group = part[part["class"] == class_name]
            if method == VENN_ABERS_METHOD:
                row[class_name] = None
                continue
            measured, met = _met_days(group, target)
            row[class_name] = {
                "days_measured": measured,
                "days_met": met,
                "coverage": _rate(int(group["covered"].sum()), int(group["n"].sum())),
            }
        total = int(per_day["n"].sum())
        row["review_share"] = float(share.mean()) if share.size else math.nan
        row["review_share_pooled"] = int(per_day["review"].sum()) / total if total else math.nan
        row["tickets"] = int(per_day["tickets"].sum())
        row["ticket_precision"] = _rate(int(per_day["tickets_fraud"].sum()), row["tickets"])
        row["cleared"] = int(per_day["cleared"].sum())
        row["npv"] = _rate(int(per_day["cleared_legit"].sum()), row["cleared"])
        saturated = part["saturated"]
        row["saturated_days"] = (
            int(part.loc[saturated.fillna(False).astype(bool), "day"].nunique())
            if method == MONDRIAN_ACI_METHOD
            else None
        )
        rows.append(row)
    return rows


def _percent(value: float) -> str:
    """A share as ``6.1 %`` (``n/a`` for NaN)."""
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f} %"


def verdict_sentence(row: Mapping[str, Any]) -> str:
    """One sentence a fraud lead can read, from a :func:`verdict` row.

    Examples
    --------
    >>> row = {"label": "Mondrian + ACI", "method": "mondrian_aci", "days": 90, "level": 90,
    ...        "fraud": {"days_measured": 90, "days_met": 81}, "review_share": 0.061,
    ...        "tickets": 120, "ticket_precision": {"rate": 0.95, "low": 0.9, "high": 0.98},
    ...        "cleared": 1000, "npv": {"rate": 0.999, "low": 0.998, "high": 0.9995}, "saturated_days": 0}
    >>> verdict_sentence(row)
    'Mondrian + ACI met fraud-class coverage (90 %) on 81 of 90 days at a review load of 6.1 %; 120 auto-tickets at 95.0 % precision (95 % CI 90.0 % to 98.0 %); 1000 auto-clears at 99.9 % NPV (95 % CI 99.8 % to 100.0 %).'
    """
    parts = []
    if row.get("fraud") is None:
        parts.append(
            f"{row['label']} gives no label sets (no coverage to meet); review load {_percent(row['review_share'])}"
        )
    else:
        fraud = row["fraud"]
        parts.append(
            f"{row['label']} met fraud-class coverage ({row['level']} %) on {fraud['days_met']} of "
            f"{fraud['days_measured']} days at a review load of {_percent(row['review_share'])}"
        )
    for count, key, what, measure in (
        ("tickets", "ticket_precision", "auto-tickets", "precision"),
        ("cleared", "npv", "auto-clears", "NPV"),
    ):
        rate = row[key]
        if row[count]:
            parts.append(
                f"{row[count]} {what} at {_percent(rate['rate'])} {measure} "
                f"(95 % CI {_percent(rate['low'])} to {_percent(rate['high'])})"
            )
        else:
            parts.append(f"no {what}")
    sentence = "; ".join(parts) + "."
    if row.get("saturated_days"):
        sentence += (
            f" The ACI level hit its clip on {row['saturated_days']} days: its long-run bound did not hold then."
        )
    return sentence


# ------------------------------------------------------------------ measuring it


def single_pass_seconds(frame: pd.DataFrame, repeats: int = 3) -> float:
    """Seconds of one argsort and one per-class quantile pass over every labeled row (best of ``repeats``).

    The yardstick of :func:`replay_benchmark`: what one calibration over the whole history costs.
    """
    history = read_history(frame)
    p, y = history.probability[history.known], history.label[history.known]
    best = math.inf
    for _ in range(repeats):
        began = time.perf_counter()
        scores = np.where(y, 1.0 - p, p)
        order = np.argsort(scores, kind="stable")
        for members in (~y[order], y[order]):
            ranked = scores[order][members]
            if ranked.size:
                kth_smallest(ranked, _rank(int(ranked.size), DEFAULT_LEVEL))
        best = min(best, time.perf_counter() - began)
    return best


def replay_benchmark(
    frame: pd.DataFrame,
    *,
    days: Iterable[int] | None = None,
    configs: Sequence[MethodConfig] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Time a replay against :func:`single_pass_seconds` on the same rows.

    Parameters
    ----------
    frame : DataFrame
    days, configs, **options
        As :func:`replay` takes them.

    Returns
    -------
    dict
        ``rows``, ``days``, ``configs`` (names), ``replay_seconds``, ``single_pass_seconds``
        and ``ratio`` (replay / single pass).
    """
    configs = tuple(default_configs() if configs is None else configs)
    day_list = _replay_days(read_history(frame), days)
    began = time.perf_counter()
    replay(frame, days=day_list, configs=configs, **options)
    replay_seconds = time.perf_counter() - began
    single = single_pass_seconds(frame)
    return {
        "rows": int(len(frame)),
        "days": len(day_list),
        "configs": [config.name for config in configs],
        "replay_seconds": replay_seconds,
        "single_pass_seconds": single,
        "ratio": replay_seconds / single if single > 0 else math.inf,
    }


# ------------------------------------------------------------------ the report's material


def daily_figures(replayed: pd.DataFrame) -> pd.DataFrame:
    """Per (day, configuration): each class's coverage and the review share, the charts' numbers.

    Parameters
    ----------
    replayed : DataFrame
        A :func:`replay` result (or rows read back with its columns).

    Returns
    -------
    DataFrame
        One row per (day, config), days in order, configs in the order of ``replayed``:
        ``day``, ``date``, ``config``, ``method``; per class ``fraud_n``, ``fraud_covered``,
        ``fraud_coverage`` and the same for ``legitimate`` (coverage NaN when the class had no
        labeled prediction that day or the method gives no label sets); ``n`` (predictions
        judged), ``review``, ``review_share`` (NaN without predictions), ``tickets`` and
        ``cleared``.

    Examples
    --------
    >>> from fraudcal.scenarios import ScenarioConfig, generate
    >>> frame = generate(ScenarioConfig(days=9, rows_per_day=300, seed=2))
    >>> replayed = replay(frame, days=[7, 8], configs=[MethodConfig("mondrian", "mondrian")], window_days=7)
    >>> daily = daily_figures(replayed)
    >>> print(daily[["day", "config", "fraud_n", "fraud_covered", "n", "review"]].to_string(index=False))
     day   config  fraud_n  fraud_covered   n  review
       7 mondrian       11             11 300      68
       8 mondrian        6              6 300      59
    """
    keys = ["day", "date", "config", "method"]
    order = {name: index for index, name in enumerate(pd.unique(replayed["config"]))}
    parts = []
    for class_name, _ in CLASS_NAMES:
        part = replayed.loc[replayed["class"] == class_name, [*keys, "n", "covered"]].rename(
            columns={"n": f"{class_name}_n", "covered": f"{class_name}_covered"}
        )
        parts.append(part.set_index(keys))
    totals = replayed.groupby(keys, sort=False)[["n", "review", "tickets", "cleared"]].sum()
    daily = parts[0].join(parts[1], how="outer").join(totals).reset_index()
    for class_name, _ in CLASS_NAMES:
        n = daily[f"{class_name}_n"].astype("float64")
        covered = daily[f"{class_name}_covered"].astype("float64")
        daily[f"{class_name}_coverage"] = (covered / n.where(n > 0)).astype("float64")
    judged = daily["n"].astype("float64")
    daily["review_share"] = (daily["review"].astype("float64") / judged.where(judged > 0)).astype("float64")
    daily["_order"] = daily["config"].map(order)
    daily = daily.sort_values(["day", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)
    columns = [*keys]
    for class_name, _ in CLASS_NAMES:
        columns += [f"{class_name}_n", f"{class_name}_covered", f"{class_name}_coverage"]
    return daily[[*columns, "n", "review", "review_share", "tickets", "cleared"]]


def _below(rate: Mapping[str, Any] | None, target: float) -> bool:
    """Whether a pooled figure lies below ``target`` beyond its 95 % Wilson interval (never without trials)."""
    return bool(rate and rate["n"] and rate["high"] < target)


def guarantee(
    row: Mapping[str, Any],
    *,
    target_precision: float = DEFAULT_TICKET_PRECISION,
    target_npv: float = DEFAULT_CLEAR_NPV,
) -> dict[str, Any]:
    """What a method promises, and whether its replay kept the promise, from a :func:`verdict` row.

    The promises, each judged on the figure pooled over the replayed days:

    - ``residual``: coverage of all labeled predictions, both classes together, at least
      the level (split conformal's marginal guarantee; nothing per class);
    - ``mondrian`` and ``mondrian_aci``: coverage of each class at least the level (for ACI
      the long-run average, which is what pooling over the days measures);
    - ``venn_abers`` (certified triage): auto-ticket precision at least ``target_precision``
      and auto-clear NPV at least ``target_npv``; a side that automated nothing promised
      nothing.

    A promise is *broken* when the 95 % Wilson interval of the pooled figure lies wholly below
    its target (upper end below it), the rule :func:`verdict` applies to single days.

    Returns
    -------
    dict
        ``promise`` (plain words), ``measured`` (False when nothing could test the promise:
        no labeled prediction, or Venn-Abers automated nothing), ``holds`` (None when not
        measured), ``untested`` (why not, or None) and ``broken`` (one plain phrase per broken
        promise, naming the figure, its interval and the target).

    Examples
    --------
    >>> row = {"label": "Residual", "method": "residual", "level": 90,
    ...        "fraud": {"coverage": {"n": 100, "successes": 3, "rate": 0.03, "low": 0.01, "high": 0.085}},
    ...        "legitimate": {"coverage": {"n": 900, "successes": 890, "rate": 0.989, "low": 0.98, "high": 0.994}}}
    >>> result = guarantee(row)
    >>> result["holds"], result["promise"]
    (True, 'coverage of all labeled predictions (both classes together) at least 90 %')
    """
    level_target = float(coverage_fraction(row["level"]))
    method = row["method"]
    broken: list[str] = []
    if method == VENN_ABERS_METHOD:
        promise = (
            f"auto-ticket precision at least {_percent(target_precision)} and auto-clear NPV at least "
            f"{_percent(target_npv)}"
        )
        measured = bool(row["ticket_precision"]["n"] or row["npv"]["n"])
        untested = None if measured else "it automated nothing (every prediction went to human review)"
        for key, what, target in (
            ("ticket_precision", "auto-ticket precision", target_precision),
            ("npv", "auto-clear NPV", target_npv),
        ):
            if _below(row[key], target):
                broken.append(f"{what} {_rate_text(row[key])}, below its target {_percent(target)}")
    elif method == RESIDUAL_METHOD:
        promise = f"coverage of all labeled predictions (both classes together) at least {row['level']} %"
        parts = [row[name]["coverage"] for name, _ in CLASS_NAMES]
        overall = _rate(sum(int(part["successes"]) for part in parts), sum(int(part["n"]) for part in parts))
        measured = bool(overall["n"])
        untested = None if measured else "no labeled prediction to judge"
        if _below(overall, level_target):
            broken.append(f"coverage of all labeled predictions {_rate_text(overall)}, below {row['level']} %")
    else:
        promise = f"coverage of each class (frauds, legitimate cases) at least {row['level']} %"
        measured = any(row[name]["coverage"]["n"] for name, _ in CLASS_NAMES)
        untested = None if measured else "no labeled prediction to judge"
        for name, _ in CLASS_NAMES:
            coverage = row[name]["coverage"]
            if _below(coverage, level_target):
                who = "confirmed frauds" if name == "fraud" else "legitimate cases"
                broken.append(f"coverage of {who} {_rate_text(coverage)}, below {row['level']} %")
    return {
        "promise": promise,
        "measured": measured,
        "holds": (not broken) if measured else None,
        "untested": untested,
        "broken": broken,
    }


def _rate_text(rate: Mapping[str, Any]) -> str:
    """``3.0 % (95 % CI 1.0 % to 8.5 %; 3 of 100)``."""
    return (
        f"{_percent(rate['rate'])} (95 % CI {_percent(rate['low'])} to {_percent(rate['high'])}; "
        f"{int(rate['successes']):,} of {int(rate['n']):,})"
    )


def comparison_sentence(rows: Sequence[Mapping[str, Any]]) -> str:
    """The plain-words verdict that comes first: the label-set methods, the one that met fraud-class coverage on most days first.

    Ties are broken by the lower mean review load. Venn-Abers (no label sets) is named last
    with its review load, so that no replayed method is left out.

    Parameters
    ----------
    rows : sequence of dict
        :func:`verdict` rows.

    Examples
    --------
    >>> rows = [
    ...     {"label": "Residual", "method": "residual", "level": 90, "review_share": 0.02,
    ...      "fraud": {"days_measured": 90, "days_met": 0}},
    ...     {"label": "Mondrian + ACI", "method": "mondrian_aci", "level": 90, "review_share": 0.061,
    ...      "fraud": {"days_measured": 90, "days_met": 81}},
    ...     {"label": "Venn-Abers (certified triage)", "method": "venn_abers", "level": 90,
    ...      "review_share": 0.842, "fraud": None}]
    >>> comparison_sentence(rows)
    'Mondrian + ACI met fraud-class coverage (90 %) on 81 of 90 days at a review load of 6.1 %; Residual met it on 0 of 90 days (review load 2.0 %); Venn-Abers (certified triage) gives no label sets (review load 84.2 %).'
    """
    with_sets = [row for row in rows if row.get("fraud") is not None]

    def rank(row: Mapping[str, Any]) -> tuple[float, float]:
        fraud = row["fraud"]
        share = fraud["days_met"] / fraud["days_measured"] if fraud["days_measured"] else -1.0
        review = row["review_share"]
        return (-share, math.inf if review is None or math.isnan(review) else review)

    parts: list[str] = []
    said_in_full = False
    for row in sorted(with_sets, key=rank):
        fraud = row["fraud"]
        if not fraud["days_measured"]:
            parts.append(f"{row['label']} had no day with a labeled fraud to judge")
        elif not said_in_full:
            said_in_full = True
            parts.append(
                f"{row['label']} met fraud-class coverage ({row['level']} %) on {fraud['days_met']} of "
                f"{fraud['days_measured']} days at a review load of {_percent(row['review_share'])}"
            )
        else:
            parts.append(
                f"{row['label']} met it on {fraud['days_met']} of {fraud['days_measured']} days "
                f"(review load {_percent(row['review_share'])})"
            )
    for row in rows:
        if row.get("fraud") is None:
            parts.append(f"{row['label']} gives no label sets (review load {_percent(row['review_share'])})")
    if not parts:
        return "No method was replayed."
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]
