"""Label maturity: how long labels take to arrive, and which prediction days have had long enough.

The problem
-----------
A prediction's label stays NULL until an investigator records it, days or weeks later, and
not every case takes as long: frauds are often confirmed in a couple of days while legitimate
cases are closed after a week or two. The youngest days of a calibration window therefore hold
mostly the labels that came fast, and a window (or a drift judgement) that uses them sees a
biased mix: here, too many frauds. Leaving out the prediction days that are not yet *mature*
(most of their eventual labels in) removes that bias.

Conventions
-----------
- A **day** is a UTC date; a prediction's day is the UTC date of its ``predicted_at``.
- A **snapshot** on day ``D`` records, for each prediction day ``d <= D`` of one model
  version, ``n_predictions``, ``n_labeled`` and ``n_fraud`` as they stand at the end of ``D``:
  what a run with ``as_of`` at ``D + 1`` 00:00 UTC sees (:func:`snapshot_day_for`).
  :func:`snapshot_rows` counts those rows from one extraction; the table of them is append-only,
  one row per (prediction day, snapshot day) and version.
- The **age** of cohort ``d`` in snapshot ``D`` is ``D - d`` days: 0 is the prediction day
  itself, seen at its end.
- Prediction day ``d`` is **mature** at ``as_of`` under a maturity of ``m`` days iff
  ``snapshot_day_for(as_of) - d >= m``, i.e. iff ``d`` falls before
  ``matured_until(as_of, m)``. ``m = 0`` keeps every labeled day, as before this module.

The arrival curve
-----------------
:func:`arrival_curve` pools, at each age ``a``, every (cohort, snapshot) pair observed at that
age: ``labeled_share(a) = sum n_labeled / sum n_predictions``. With many snapshot days each
cohort contributes its own trajectory; with a single snapshot day the curve is the
cross-section "labeled share by age today", which estimates the same curve only if the
arrival process has been stationary over the ages observed (each age is then a different
cohort). The *eventual share* is the pooled labeled share of the ages from ``plateau_age`` on,
and ``share_of_eventual = fit / eventual_share`` capped at 1, where ``fit`` is the isotonic
(non-decreasing, weighted by predictions) fit of ``labeled_share``: a cohort's labels only
accumulate, so the true curve never falls, and the fit keeps one noisy age from ending or
delaying maturity. The maturity ``"auto"`` chooses is the youngest age at which
``share_of_eventual`` reaches :data:`AUTO_MATURITY_SHARE`.

The plateau (default rule)
--------------------------
Let ``0..A`` be the ages observed and the *oldest third* the ages from ``ceil(2A / 3)``; its
pooled share is the reference ``r``. The tolerance is the larger of
:data:`PLATEAU_TOLERANCE` (2 %) and :data:`PLATEAU_SIGMAS` (3) binomial standard errors of
``r`` (relative; each cohort of the oldest third counted once). ``plateau_age`` is the youngest
age at which the fit reaches ``(1 - tolerance) r``. The curve counts as known only if

- at least :data:`MIN_AGES` ages were observed;
- the plateau starts no later than the oldest third: the curve was flat across at least a
  third of the history (otherwise labels were still arriving at the oldest ages observed);
- at least ``min_cohorts`` cohorts were observed at the plateau.

Otherwise ``eventual_share`` is None, :meth:`ArrivalCurve.maturity_days` returns None and
``unknown_reason`` says which condition failed; :func:`resolve_label_maturity` then falls back
and says so.

Assumptions
-----------
- Labels arrive within two thirds of the observed history (the plateau check catches a rise
  of more than the tolerance within the oldest third, not a trickle that starts later).
- Which cases are *eventually* labeled does not depend on the class beyond the delay: maturity
  removes the bias of late arrival, not that of selective labeling.
- For the single-snapshot (cross-section) curve, and for pooling trajectories of cohorts of
  different dates, the arrival process is stationary over the history used.

Examples
--------
Ten cohorts of 100 predictions in one snapshot: the two youngest still lack labels.

>>> snapshot = pd.DataFrame({
...     "prediction_day": pd.date_range("2025-01-01", periods=10), "snapshot_day": "2025-01-10",
...     "n_predictions": 100, "n_labeled": [80] * 8 + [60, 20]})
>>> curve = arrival_curve(snapshot)
>>> curve.eventual_share, curve.plateau_age, curve.maturity_days()
(0.8, 2, 2)
>>> resolve_label_maturity("auto", curve).reason
"auto: 95 % of a cohort's eventual labels arrive within 2 days (curve from 10 cohorts)"
>>> matured_until(datetime(2025, 1, 11, tzinfo=UTC), 2)
datetime.datetime(2025, 1, 9, 0, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import isotonic_regression

from fraudcal.defaults import DEFAULT_LABEL_MATURITY_DAYS
from fraudcal.inputs import InvalidOutcomesError, checked_column, checked_labels

#: Share of a cohort's eventual labels at which it counts as mature under "auto".
AUTO_MATURITY_SHARE = 0.95
#: The ``label_maturity_days`` value that asks for the maturity read from the arrival curve.
AUTO = "auto"
#: Largest maturity, in days, that ``label_maturity_days`` accepts.
MAX_LABEL_MATURITY_DAYS = 365
#: Least relative tolerance of the plateau rule: the plateau starts where the fit reaches 98 %.
PLATEAU_TOLERANCE = 0.02
#: Standard errors of the reference share the plateau tolerance is at least (noise of small cohorts).
PLATEAU_SIGMAS = 3.0
#: Fewest ages observed (0..2) before the default rule looks for a plateau.
MIN_AGES = 3
#: Columns every snapshot table has; ``n_fraud`` is optional.
SNAPSHOT_COLUMNS = ("prediction_day", "snapshot_day", "n_predictions", "n_labeled")
#: The optional column of confirmed frauds among the labeled.
FRAUD_COLUMN = "n_fraud"
#: Columns of :func:`labeled_share_by_age` (plus ``n_fraud`` and ``fraud_share`` when present).
BY_AGE_COLUMNS = ("age", "cohorts", "n_predictions", "n_labeled", "labeled_share")

# A share of eventual labels computed as 0.72 / 0.8 is 0.8999999999999999: rounding must not
# move the maturity by a day.
_SHARE_SLACK = 1e-9
_UNIX_EPOCH = np.datetime64("1970-01-01", "D")
#: bincount over day offsets is O(n); beyond this span (days) np.unique is used instead.
_MAX_BINCOUNT_SPAN = 1 << 16


class InvalidSnapshotsError(ValueError):
    """Raised when label snapshots, or the rows they are counted from, break their rules."""


class InvalidMaturityError(ValueError):
    """Raised when ``label_maturity_days`` is neither ``"auto"`` nor an integer in 0..365."""


# ------------------------------------------------------------------ reading days and counts


def _shown(value: Any) -> Any:
    """A plain Python value for messages (``-1``, not ``np.int64(-1)``)."""
    return value.item() if isinstance(value, np.generic) else value


def _refuse(rule: str, offending: NDArray[np.bool_], describe: Callable[[int], str]) -> InvalidSnapshotsError:
    """The error naming the first offending row, what it holds and how many rows break the rule."""
    row = int(np.argmax(offending))
    return InvalidSnapshotsError(
        f"{rule}: row {row} has {describe(row)} ({int(offending.sum())} of {offending.size} rows break the rule)"
    )


def _numbers_in(series: pd.Series) -> NDArray[np.bool_]:
    """Which values are numbers (bools too); missing values are left to the NaT check."""
    if series.dtype.kind in "biufc":
        return np.ones(len(series), dtype=bool)
    if series.dtype.kind != "O":
        return np.zeros(len(series), dtype=bool)
    # NaN is a float but means "no value": value == value is False only for NaN.
    return np.fromiter(
        (isinstance(value, numbers.Number) and value == value for value in series), dtype=bool, count=len(series)
    )


def _utc_days(values: ArrayLike, name: str) -> NDArray[np.int64]:
    """Days since 1970-01-01 of each value's UTC date; naive values are read as UTC.

    Numbers are refused: pandas would read them as nanoseconds since 1970 and every day would
    silently become 1970-01-01.
    """
    if np.ndim(values) != 1:
        raise InvalidSnapshotsError(f"{name} must be one-dimensional; got shape {np.shape(values)}")
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        # numpy datetimes carry no zone (UTC here) and need no parsing: the extraction's fast path.
        missing = np.isnat(values)
        if missing.any():
            raise _refuse(f"{name} must hold dates or timestamps", missing, lambda i: "no value (NULL/NaT)")
        return (values.astype("datetime64[D]") - _UNIX_EPOCH).astype(np.int64)
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    not_dates = _numbers_in(series)
    if not_dates.any():
        raise _refuse(
            f"{name} must hold dates or timestamps, not numbers", not_dates, lambda i: repr(_shown(series.iloc[i]))
        )
    try:
        stamps = pd.to_datetime(series, utc=True)
    except (ValueError, TypeError, OverflowError) as error:
        raise InvalidSnapshotsError(f"{name} must hold dates or timestamps: {error}") from None
    missing = stamps.isna().to_numpy()
    if missing.any():
        raise _refuse(f"{name} must hold dates or timestamps", missing, lambda i: "no value (NULL/NaT)")
    days = stamps.dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    return (days - _UNIX_EPOCH).astype(np.int64)


def _utc_day(value: Any, name: str) -> int:
    """One date-like value as days since 1970-01-01 (its UTC date)."""
    if isinstance(value, pd.Series | np.ndarray | list | tuple):
        raise InvalidSnapshotsError(f"{name} must be one date; got {type(value).__name__}")
    return int(_utc_days([value], name)[0])


def _as_dates(days: NDArray[np.int64]) -> NDArray[np.object_]:
    """Days since 1970-01-01 as ``datetime.date`` objects (what a SQL ``date`` column holds)."""
    return (_UNIX_EPOCH + days.astype("timedelta64[D]")).astype(object)


def _checked_counts(series: pd.Series, name: str) -> NDArray[np.int64]:
    """A column of counts as int64, refusing booleans, non-numbers, NaN, fractions and negatives."""
    values = series.to_numpy()
    rule = f"{name} must be whole numbers >= 0"
    if values.dtype.kind == "b":
        raise _refuse(f"{rule}, not booleans", np.ones(values.size, bool), lambda i: repr(_shown(values[i])))
    if values.dtype.kind not in "iuf":
        not_numbers = np.fromiter(
            (not isinstance(value, numbers.Real) or isinstance(value, bool | np.bool_) for value in values),
            dtype=bool,
            count=values.size,
        )
        if not_numbers.any():
            raise _refuse(rule, not_numbers, lambda i: repr(_shown(values[i])))
        values = values.astype(np.float64)
    numbers_ = values.astype(np.float64)
    # NaN fails every comparison, so one test covers NULLs, infinities, fractions and signs.
    bad = ~((numbers_ >= 0) & (numbers_ == np.floor(numbers_)) & np.isfinite(numbers_))
    if bad.any():
        raise _refuse(rule, bad, lambda i: repr(_shown(values[i])))
    return values.astype(np.int64)


def _checked_snapshots(snapshots: pd.DataFrame) -> pd.DataFrame:
    """The snapshots as integer days, ages and counts, every rule of the module docstring checked."""
    if not isinstance(snapshots, pd.DataFrame):
        raise InvalidSnapshotsError(f"snapshots must be a pandas DataFrame; got {type(snapshots).__name__}")
    missing = [column for column in SNAPSHOT_COLUMNS if column not in snapshots.columns]
    if missing:
        raise InvalidSnapshotsError(f"snapshots lack column(s) {missing}; they have {list(snapshots.columns)}")
    prediction = _utc_days(snapshots["prediction_day"], "snapshots.prediction_day")
    snapshot = _utc_days(snapshots["snapshot_day"], "snapshots.snapshot_day")
    early = snapshot < prediction
    if early.any():
        raise _refuse(
            "snapshots: snapshot_day must not be before prediction_day",
            early,
            lambda i: (
                f"prediction_day {_as_dates(prediction[i : i + 1])[0]} and snapshot_day {_as_dates(snapshot[i : i + 1])[0]}"
            ),
        )
    counted = [column for column in (*SNAPSHOT_COLUMNS[2:], FRAUD_COLUMN) if column in snapshots.columns]
    counts = {column: _checked_counts(snapshots[column], f"snapshots.{column}") for column in counted}
    _check_nested(counts, "n_labeled", "n_predictions")
    if FRAUD_COLUMN in counts:
        _check_nested(counts, FRAUD_COLUMN, "n_labeled")
    return pd.DataFrame(
        {"prediction_day": prediction, "snapshot_day": snapshot, "age": snapshot - prediction, **counts}
    )


def _check_nested(counts: Mapping[str, NDArray[np.int64]], part: str, whole: str) -> None:
    """Refuse rows where the count ``part`` exceeds the count ``whole`` of the same row."""
    over = counts[part] > counts[whole]
    if over.any():
        raise _refuse(
            f"snapshots: {part} must not exceed {whole}",
            over,
            lambda i: f"{part}={counts[part][i]} and {whole}={counts[whole][i]}",
        )


def _checked_whole(value: Any, name: str, minimum: int, maximum: int | None = None) -> int:
    """An int (numpy ints too, never a bool) in ``minimum..maximum``, or a ValueError naming it."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"in {minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{name} must be {bound}; got {value!r}")
    return int(value)


# ------------------------------------------------------------------ the arrival curve


def _nan_to_none(values: NDArray[np.float64]) -> list[float | None]:
    """A float array as a JSON-ready list, NaN as None."""
    return [None if math.isnan(value) else value for value in values.tolist()]


def _frozen(values: ArrayLike, dtype: type, name: str) -> np.ndarray:
    """A read-only one-dimensional copy, NaN for None when floats are asked for."""
    raw = [np.nan if value is None else value for value in values] if dtype is np.float64 else values
    array = np.array(raw, dtype=dtype)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {array.shape}")
    array.setflags(write=False)
    return array


def _check_shares(values: NDArray[np.float64], name: str) -> None:
    """Shares are NaN (unknown) or in [0, 1]."""
    bad = ~(np.isnan(values) | ((values >= 0) & (values <= 1)))
    if bad.any():
        index = int(np.argmax(bad))
        raise ValueError(f"{name} must be in [0, 1] or NaN: age {index} has {_shown(values[index])!r}")


@dataclass(frozen=True, eq=False)
class ArrivalCurve:
    """How a cohort's labels arrive with its age, and the plateau they reach.

    Attributes
    ----------
    ages : ndarray of int
        ``0..max_age``, the ages observed.
    labeled_share : ndarray of float
        Pooled labeled share (labeled / predictions) of the cohorts observed at each age;
        NaN at an age with no predictions.
    share_of_eventual : ndarray of float
        The isotonic fit of ``labeled_share`` divided by ``eventual_share``, capped at 1;
        NaN where unknown (everywhere when ``eventual_share`` is None).
    cohorts : ndarray of int
        Number of cohorts (prediction days) observed at each age.
    eventual_share : float or None
        The plateau: pooled labeled share of the ages from ``plateau_age`` on; None when the
        history does not tell it (``unknown_reason`` says why).
    plateau_age : int or None
        The age from which cohorts count as "eventual".
    n_cohorts, n_snapshot_days : int
        Distinct prediction days and snapshot days the curve was made from.
    unknown_reason : str or None
        Why ``eventual_share`` is None; None when it is known.

    Raises
    ------
    ValueError
        If the arrays differ in length, ``ages`` is not ``0..n-1``, a share lies outside
        [0, 1], a count is negative, or ``eventual_share`` and ``unknown_reason`` are both
        given or both missing.
    """

    ages: NDArray[np.int64]
    labeled_share: NDArray[np.float64]
    share_of_eventual: NDArray[np.float64]
    cohorts: NDArray[np.int64]
    eventual_share: float | None
    plateau_age: int | None
    n_cohorts: int = 0
    n_snapshot_days: int = 0
    unknown_reason: str | None = None

    def __post_init__(self) -> None:
        """Freeze the arrays and check the invariants listed under Raises."""
        for name, dtype in (("ages", np.int64), ("cohorts", np.int64)):
            object.__setattr__(self, name, _frozen(getattr(self, name), dtype, name))
        for name in ("labeled_share", "share_of_eventual"):
            object.__setattr__(self, name, _frozen(getattr(self, name), np.float64, name))
            _check_shares(getattr(self, name), name)
        size = self.ages.size
        if any(getattr(self, name).size != size for name in ("labeled_share", "share_of_eventual", "cohorts")):
            raise ValueError("ages, labeled_share, share_of_eventual and cohorts must have the same length")
        if not np.array_equal(self.ages, np.arange(size)) or (self.cohorts < 0).any():
            raise ValueError(f"ages must be 0..{size - 1} and cohorts >= 0")
        _checked_whole(self.n_cohorts, "n_cohorts", 0)
        _checked_whole(self.n_snapshot_days, "n_snapshot_days", 0)
        if self.plateau_age is not None:
            _checked_whole(self.plateau_age, "plateau_age", 0)
        self._check_eventual()

    def _check_eventual(self) -> None:
        """Exactly one of ``eventual_share`` and ``unknown_reason``; nothing relative to an unknown plateau."""
        if (self.eventual_share is None) == (self.unknown_reason is None):
            raise ValueError(
                f"give eventual_share or unknown_reason, not both or neither; got {self.eventual_share!r} "
                f"and {self.unknown_reason!r}"
            )
        if self.eventual_share is None:
            if not np.isnan(self.share_of_eventual).all():
                raise ValueError("share_of_eventual must be NaN throughout when eventual_share is unknown")
            return
        if not 0 < self.eventual_share <= 1:
            raise ValueError(f"eventual_share must be in (0, 1]; got {self.eventual_share!r}")
        if self.plateau_age is None or self.plateau_age >= self.ages.size:
            raise ValueError(f"a known plateau needs a plateau_age among the ages; got {self.plateau_age!r}")

    def __eq__(self, other: object) -> bool:
        """Equal when every field is equal (NaN equal to NaN)."""
        if not isinstance(other, ArrivalCurve):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # arrays inside: not a dict key

    def maturity_days(self, share: float = AUTO_MATURITY_SHARE) -> int | None:
        """Return the youngest age at which cohorts hold ``share`` of their eventual labels.

        Parameters
        ----------
        share : float, default=AUTO_MATURITY_SHARE
            In (0, 1].

        Returns
        -------
        int or None
            None when the plateau is unknown (too little history) or no age reaches ``share``.

        Raises
        ------
        ValueError
            If ``share`` is not a number in (0, 1].

        Examples
        --------
        >>> curve = ArrivalCurve([0, 1, 2], [0.4, 0.72, 0.8], [0.5, 0.9, 1.0], [3, 3, 3], 0.8, 2)
        >>> curve.maturity_days(), curve.maturity_days(0.9), curve.maturity_days(0.3)
        (2, 1, 0)
        """
        if isinstance(share, bool) or not isinstance(share, numbers.Real) or not 0 < share <= 1:
            raise ValueError(f"share must be a number in (0, 1]; got {share!r}")
        if self.eventual_share is None:
            return None
        reached = np.flatnonzero(self.share_of_eventual >= share - _SHARE_SLACK)
        return int(reached[0]) if reached.size else None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form: the fields by name, arrays as lists, NaN as None."""
        return {
            "ages": self.ages.tolist(),
            "labeled_share": _nan_to_none(self.labeled_share),
            "share_of_eventual": _nan_to_none(self.share_of_eventual),
            "cohorts": self.cohorts.tolist(),
            "eventual_share": None if self.eventual_share is None else float(self.eventual_share),
            "plateau_age": None if self.plateau_age is None else int(self.plateau_age),
            "n_cohorts": int(self.n_cohorts),
            "n_snapshot_days": int(self.n_snapshot_days),
            "unknown_reason": self.unknown_reason,
        }

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> ArrivalCurve:
        """Return the curve held by a :meth:`to_dict` result (or its JSON, decoded).

        Raises
        ------
        KeyError
            If a field is missing, naming the fields the mapping has.
        """
        required = ("ages", "labeled_share", "share_of_eventual", "cohorts", "eventual_share", "plateau_age")
        missing = [name for name in required if name not in mapping]
        if missing:
            raise KeyError(f"an arrival curve needs {missing}; the mapping has {sorted(mapping)}")
        optional = {
            name: mapping[name] for name in ("n_cohorts", "n_snapshot_days", "unknown_reason") if name in mapping
        }
        return cls(**{name: mapping[name] for name in required}, **optional)


def _pooled_by_age(table: pd.DataFrame) -> pd.DataFrame:
    """Per age ``0..max``: summed predictions and labels, and the number of cohorts observed."""
    ages = pd.RangeIndex(int(table["age"].max()) + 1, name="age")
    grouped = table.groupby("age")
    pooled = grouped[["n_predictions", "n_labeled"]].sum().reindex(ages, fill_value=0)
    pooled["cohorts"] = grouped["prediction_day"].nunique().reindex(ages, fill_value=0)
    return pooled


def _monotone_fit(shares: NDArray[np.float64], weights: NDArray[np.int64]) -> NDArray[np.float64]:
    """The isotonic (non-decreasing) fit of the shares weighted by predictions; NaN where none."""
    fit = np.full(shares.shape, np.nan)
    known = weights > 0
    if known.any():
        fit[known] = isotonic_regression(shares[known], weights=weights[known].astype(np.float64)).x
    return fit


def _cohort_predictions(table: pd.DataFrame, first_age: int) -> int:
    """Predictions of the cohorts observed at ``first_age`` or older, each cohort counted once.

    A cohort seen in many snapshots is one sample of labels, not many: its repeated
    observations would shrink the standard error of the plateau below its real noise.
    """
    rows = table[table["age"] >= first_age]
    per_snapshot = rows.groupby(["prediction_day", "snapshot_day"])["n_predictions"].sum()
    return int(per_snapshot.groupby(level="prediction_day").max().sum())


def _default_plateau(
    table: pd.DataFrame, pooled: pd.DataFrame, fit: NDArray[np.float64]
) -> tuple[int | None, str | None]:
    """The plateau age of the module docstring's rule, or None and the reason."""
    last = len(pooled) - 1
    if last + 1 < MIN_AGES:
        return None, f"only ages 0..{last} observed; the plateau rule needs at least {MIN_AGES} ages"
    third = -((-2 * last) // 3)  # ceil(2 * last / 3) in integers
    tail = pooled.loc[third:]
    predictions, labeled = int(tail["n_predictions"].sum()), int(tail["n_labeled"].sum())
    if labeled == 0:
        return None, f"no cohort has a label at ages {third}..{last}"
    reference = labeled / predictions
    noise = PLATEAU_SIGMAS * math.sqrt((1 - reference) / (reference * _cohort_predictions(table, third)))
    tolerance = max(PLATEAU_TOLERANCE, noise)
    # The fit's mean over the oldest third is at least the reference, so some age reaches it.
    plateau = int(np.flatnonzero(fit >= (1 - tolerance) * reference)[0])
    if plateau > third:
        return None, (
            f"labels were still arriving at the oldest ages observed: the labeled share reaches "
            f"{1 - tolerance:.0%} of that of ages {third}..{last} only at age {plateau}"
        )
    return plateau, None


def _eventual_share(table: pd.DataFrame, plateau: int, min_cohorts: int) -> tuple[float | None, str | None]:
    """Pooled labeled share of the ages from ``plateau`` on, if enough cohorts reached it."""
    rows = table[table["age"] >= plateau]
    cohorts = int(rows["prediction_day"].nunique())
    if cohorts < min_cohorts:
        return None, f"only {cohorts} cohort(s) observed at age {plateau} or older, {min_cohorts} needed"
    labeled = int(rows["n_labeled"].sum())
    if labeled == 0:
        return None, f"no cohort has a label at age {plateau} or older"
    return labeled / int(rows["n_predictions"].sum()), None


def arrival_curve(snapshots: pd.DataFrame, *, plateau_age: int | None = None, min_cohorts: int = 3) -> ArrivalCurve:
    """Return the label-arrival curve of one model version's snapshots (or of versions pooled).

    Each (cohort, snapshot) pair is one observation at age ``snapshot_day - prediction_day``;
    the pairs of an age are pooled (sum labeled / sum predictions). Several snapshot days give
    each cohort's trajectory; a single snapshot day gives the cross-section "labeled share by
    age today", which estimates the curve only under stationarity (see the module docstring).
    Rows sharing a prediction day and a snapshot day (versions pooled) are summed.

    Parameters
    ----------
    snapshots : pandas.DataFrame
        Columns ``prediction_day``, ``snapshot_day`` (dates, timestamps or ISO strings; their
        UTC date counts), ``n_predictions``, ``n_labeled`` (and optionally ``n_fraud``):
        whole numbers, ``n_fraud <= n_labeled <= n_predictions``.
    plateau_age : int, optional
        The age from which cohorts count as eventual; by default the rule of the module
        docstring finds it (and may find none).
    min_cohorts : int, default=3
        Fewest cohorts observed at the plateau for the eventual share to be known.

    Returns
    -------
    ArrivalCurve
        With ``eventual_share`` None (and ``unknown_reason``) when the history is too short.

    Raises
    ------
    InvalidSnapshotsError
        If a column is missing, a day is not a date, a count is negative or not whole,
        ``n_labeled > n_predictions``, ``n_fraud > n_labeled`` or ``snapshot_day <
        prediction_day``; the message names the column, the row and the value.
    ValueError
        If ``plateau_age`` or ``min_cohorts`` is not a whole number (>= 0, >= 1).

    Examples
    --------
    Two days of snapshots are too little history to tell where labels stop arriving:

    >>> two_days = pd.DataFrame({
    ...     "prediction_day": ["2025-03-01", "2025-03-01", "2025-03-02"],
    ...     "snapshot_day": ["2025-03-01", "2025-03-02", "2025-03-02"],
    ...     "n_predictions": [100, 100, 120], "n_labeled": [10, 40, 15]})
    >>> curve = arrival_curve(two_days)
    >>> curve.labeled_share.tolist(), curve.maturity_days(), curve.unknown_reason
    ([0.11363636363636363, 0.4], None, 'only ages 0..1 observed; the plateau rule needs at least 3 ages')
    """
    table = _checked_snapshots(snapshots)
    min_cohorts = _checked_whole(min_cohorts, "min_cohorts", 1)
    if plateau_age is not None:
        plateau_age = _checked_whole(plateau_age, "plateau_age", 0)
    counts = {
        "n_cohorts": int(table["prediction_day"].nunique()),
        "n_snapshot_days": int(table["snapshot_day"].nunique()),
    }
    if table.empty:
        return ArrivalCurve([], [], [], [], None, plateau_age, **counts, unknown_reason="no snapshots")
    pooled = _pooled_by_age(table)
    predictions = pooled["n_predictions"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(predictions > 0, pooled["n_labeled"].to_numpy() / predictions, np.nan)
    fit = _monotone_fit(shares, predictions)
    plateau, reason = (plateau_age, None) if plateau_age is not None else _default_plateau(table, pooled, fit)
    eventual = None
    if plateau is not None:
        eventual, reason = _eventual_share(table, plateau, min_cohorts)
    share_of_eventual = np.full(shares.shape, np.nan) if eventual is None else np.minimum(fit / eventual, 1.0)
    return ArrivalCurve(
        ages=np.arange(len(pooled)),
        labeled_share=shares,
        share_of_eventual=share_of_eventual,
        cohorts=pooled["cohorts"].to_numpy(),
        eventual_share=eventual,
        plateau_age=plateau,
        unknown_reason=reason,
        **counts,
    )


# ------------------------------------------------------------------ the maturity a run applies


def _parsed_request(requested: Any) -> str | int:
    """``"auto"`` or the number of days of ``label_maturity_days``; InvalidMaturityError otherwise."""
    rule = f"label_maturity_days must be {AUTO!r} or an integer in 0..{MAX_LABEL_MATURITY_DAYS}; got {requested!r}"
    if isinstance(requested, bool | np.bool_):
        raise InvalidMaturityError(f"{rule} (a boolean is not a number of days)")
    if isinstance(requested, str):
        if requested == AUTO:
            return AUTO
        # The trigger form may send the number as text; only plain ASCII digits are a number.
        if not (requested.isascii() and requested.isdigit()):
            raise InvalidMaturityError(rule)
        days = int(requested)
    elif isinstance(requested, numbers.Integral):
        days = int(requested)
    else:
        raise InvalidMaturityError(rule)
    if not 0 <= days <= MAX_LABEL_MATURITY_DAYS:
        raise InvalidMaturityError(rule)
    return days


def _days_phrase(days: int) -> str:
    """``"7 days"``, and what 0 means."""
    return "0 days (every labeled day counts)" if days == 0 else f"{days} day{'s' if days != 1 else ''}"


def _percent(share: float) -> str:
    """``0.95`` as ``"95 %"``."""
    return f"{share * 100:g} %"


@dataclass(frozen=True)
class MaturityChoice:
    """The label maturity a run applies, and why.

    Attributes
    ----------
    requested : str or int
        The Param as given (``"auto"``, ``7`` or ``"7"``).
    days : int
        The maturity applied, in 0..365 (0 = every labeled day counts).
    reason : str
        One plain sentence for the run's log and the reports.

    Raises
    ------
    InvalidMaturityError
        If ``requested`` is not a valid ``label_maturity_days``.
    ValueError
        If ``days`` is not an integer in 0..365 or ``reason`` is empty.
    """

    requested: str | int
    days: int
    reason: str

    def __post_init__(self) -> None:
        """Check the invariants listed under Raises."""
        _parsed_request(self.requested)
        object.__setattr__(self, "days", _checked_whole(self.days, "days", 0, MAX_LABEL_MATURITY_DAYS))
        if not isinstance(self.reason, str) or not self.reason:
            raise ValueError(f"reason must be a non-empty sentence; got {self.reason!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"requested", "days", "reason"}``, JSON-ready (a numpy integer as an int)."""
        requested = self.requested if isinstance(self.requested, str) else int(self.requested)
        return {"requested": requested, "days": self.days, "reason": self.reason}

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> MaturityChoice:
        """Return the choice held by a :meth:`to_dict` result.

        Raises
        ------
        KeyError
            If a field is missing, naming the fields the mapping has.
        """
        missing = [name for name in ("requested", "days", "reason") if name not in mapping]
        if missing:
            raise KeyError(f"a maturity choice needs {missing}; the mapping has {sorted(mapping)}")
        return cls(requested=mapping["requested"], days=mapping["days"], reason=mapping["reason"])


def resolve_label_maturity(
    requested: str | int, curve: ArrivalCurve | None, *, fallback_days: int = DEFAULT_LABEL_MATURITY_DAYS
) -> MaturityChoice:
    """Return the maturity a run applies for the Param ``label_maturity_days``.

    Parameters
    ----------
    requested : str or int
        ``"auto"``, an integer in 0..365, or a string of ASCII digits (the trigger form's text).
    curve : ArrivalCurve or None
        The arrival curve of the snapshots up to the run's ``as_of``; needed only for ``"auto"``.
    fallback_days : int, default=DEFAULT_LABEL_MATURITY_DAYS
        What ``"auto"`` applies when the curve is unknown (by default the Param's default, 0);
        the reason then says so.

    Returns
    -------
    MaturityChoice

    Raises
    ------
    InvalidMaturityError
        If ``requested`` is anything else (a bool, a float, ``"seven"``, -1, 400), naming the
        value and the rule.
    ValueError
        If ``fallback_days`` is not an integer in 0..365.

    Examples
    --------
    >>> resolve_label_maturity("7", None)
    MaturityChoice(requested='7', days=7, reason='label_maturity_days = 7: a prediction day counts once it is 7 days old')
    >>> resolve_label_maturity("auto", None, fallback_days=3).reason
    'auto requested but there is no arrival curve (no label snapshots): fell back to 3 days'
    >>> resolve_label_maturity(True, None)
    Traceback (most recent call last):
    ...
    fraudcal.maturity.InvalidMaturityError: label_maturity_days must be 'auto' or an integer in 0..365; got True (a boolean is not a number of days)
    """
    parsed = _parsed_request(requested)
    fallback = _checked_whole(fallback_days, "fallback_days", 0, MAX_LABEL_MATURITY_DAYS)
    if parsed != AUTO:
        if parsed == 0:
            return MaturityChoice(requested, 0, "label_maturity_days = 0: every labeled day counts")
        return MaturityChoice(
            requested,
            parsed,
            f"label_maturity_days = {parsed}: a prediction day counts once it is {_days_phrase(parsed)} old",
        )
    if curve is None:
        why = "there is no arrival curve (no label snapshots)"
        return MaturityChoice(requested, fallback, f"auto requested but {why}: fell back to {_days_phrase(fallback)}")
    days = curve.maturity_days(AUTO_MATURITY_SHARE)
    if days is None:
        why = curve.unknown_reason or f"no age reaches {_percent(AUTO_MATURITY_SHARE)} of the eventual share"
        return MaturityChoice(
            requested,
            fallback,
            f"auto requested but the arrival curve is unknown ({why}; snapshots on {curve.n_snapshot_days} "
            f"day(s)): fell back to {_days_phrase(fallback)}",
        )
    reason = (
        f"auto: {_percent(AUTO_MATURITY_SHARE)} of a cohort's eventual labels arrive within {_days_phrase(days)} "
        f"(curve from {curve.n_cohorts} cohorts)"
    )
    if days > MAX_LABEL_MATURITY_DAYS:
        reason += f"; capped at {MAX_LABEL_MATURITY_DAYS} days"
        days = MAX_LABEL_MATURITY_DAYS
    return MaturityChoice(requested, days, reason)


# ------------------------------------------------------------------ days and windows


def _aware(as_of: datetime | date) -> datetime:
    """``as_of`` as an aware datetime: a date is its midnight UTC; a naive datetime is refused."""
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None or as_of.utcoffset() is None:
            raise ValueError(f"as_of {as_of!r} has no time zone; fraudcal works in UTC")
        return as_of
    if isinstance(as_of, date):
        return datetime.combine(as_of, time(), tzinfo=UTC)
    raise ValueError(f"as_of must be a datetime or a date; got {as_of!r}")


def snapshot_day_for(as_of: datetime | date) -> date:
    """Return the snapshot day of a run with ``as_of``: the UTC day before as_of's UTC date.

    A daily run at ``D + 1`` 00:00 UTC records the labels of prediction days up to ``D``, as
    they stand at the end of ``D``. A run later in a day records the same day (a few hours'
    fresher labels): the as_of's own day has not ended.

    Raises
    ------
    ValueError
        If ``as_of`` is a naive datetime or not a date.

    Examples
    --------
    >>> snapshot_day_for(datetime(2025, 3, 2, tzinfo=UTC)), snapshot_day_for(datetime(2025, 3, 2, 14, 30, tzinfo=UTC))
    (datetime.date(2025, 3, 1), datetime.date(2025, 3, 1))
    """
    return _aware(as_of).astimezone(UTC).date() - timedelta(days=1)


def matured_until(as_of: datetime | date, maturity_days: int) -> datetime:
    """Return the exclusive end of the matured prediction days at ``as_of``.

    ``maturity_days = 0`` returns ``as_of`` itself, unchanged (a date becomes its midnight
    UTC): today's behaviour exactly. Otherwise midnight UTC of as_of's UTC date minus
    ``maturity_days``: prediction day ``d`` is before it iff ``snapshot_day_for(as_of) - d >=
    maturity_days``.

    Parameters
    ----------
    as_of : datetime (time-zone aware) or date
    maturity_days : int
        In 0..365, from :func:`resolve_label_maturity`.

    Returns
    -------
    datetime

    Raises
    ------
    ValueError
        If ``as_of`` is naive or ``maturity_days`` is not an integer in 0..365.

    Examples
    --------
    >>> as_of = datetime(2025, 3, 10, 6, 0, tzinfo=UTC)
    >>> matured_until(as_of, 0) is as_of, matured_until(as_of, 7)
    (True, datetime.datetime(2025, 3, 3, 0, 0, tzinfo=datetime.timezone.utc))
    """
    days = _checked_whole(maturity_days, "maturity_days", 0, MAX_LABEL_MATURITY_DAYS)
    moment = _aware(as_of)
    if days == 0:
        return moment
    return datetime.combine(moment.astimezone(UTC).date() - timedelta(days=days), time(), tzinfo=UTC)


# ------------------------------------------------------------------ snapshots and the report


def _empty_by_age(with_fraud: bool) -> pd.DataFrame:
    """The table of :func:`labeled_share_by_age` with no rows, columns typed."""
    names = [*BY_AGE_COLUMNS, *((FRAUD_COLUMN, "fraud_share") if with_fraud else ())]
    return pd.DataFrame(
        {name: np.array([], dtype=np.float64 if name.endswith("share") else np.int64) for name in names}
    )


def _ratio(numerator: NDArray[np.int64], denominator: NDArray[np.int64]) -> NDArray[np.float64]:
    """``numerator / denominator``, NaN where the denominator is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def labeled_share_by_age(snapshots: pd.DataFrame, as_of_day: date | datetime | str) -> pd.DataFrame:
    """Return the labeled share by cohort age in the newest snapshot at or before ``as_of_day``.

    Parameters
    ----------
    snapshots : pandas.DataFrame
        As for :func:`arrival_curve`.
    as_of_day : date-like
        The newest snapshot day to read, e.g. ``snapshot_day_for(as_of)`` of the report.

    Returns
    -------
    pandas.DataFrame
        One row per age ``0..N`` (N the oldest age in that snapshot; an age without a cohort
        has zero counts and a NaN share): ``age``, ``cohorts``, ``n_predictions``,
        ``n_labeled``, ``labeled_share``, and, when the snapshots carry ``n_fraud``,
        ``n_fraud`` and ``fraud_share`` (frauds among the labeled). No rows when no snapshot
        is that old.

    Raises
    ------
    InvalidSnapshotsError
        As :func:`arrival_curve`, and if ``as_of_day`` is not a date.

    Examples
    --------
    >>> snapshots = pd.DataFrame({
    ...     "prediction_day": ["2025-03-01", "2025-03-01", "2025-03-03"],
    ...     "snapshot_day": ["2025-03-01", "2025-03-03", "2025-03-03"],
    ...     "n_predictions": [100, 100, 50], "n_labeled": [10, 70, 5]})
    >>> labeled_share_by_age(snapshots, "2025-03-04").to_dict("list")
    {'age': [0, 1, 2], 'cohorts': [1, 0, 1], 'n_predictions': [50, 0, 100], 'n_labeled': [5, 0, 70], 'labeled_share': [0.1, nan, 0.7]}
    """
    table = _checked_snapshots(snapshots)
    day = _utc_day(as_of_day, "as_of_day")
    with_fraud = FRAUD_COLUMN in table.columns
    seen = table.loc[table["snapshot_day"] <= day, "snapshot_day"]
    if seen.empty:
        return _empty_by_age(with_fraud)
    rows = table[table["snapshot_day"] == seen.max()]
    ages = pd.RangeIndex(int(rows["age"].max()) + 1, name="age")
    counted = ["n_predictions", "n_labeled", *([FRAUD_COLUMN] if with_fraud else [])]
    grouped = rows.groupby("age")
    by_age = grouped[counted].sum().reindex(ages, fill_value=0)
    by_age.insert(0, "cohorts", grouped["prediction_day"].nunique().reindex(ages, fill_value=0))
    by_age.insert(3, "labeled_share", _ratio(by_age["n_labeled"].to_numpy(), by_age["n_predictions"].to_numpy()))
    if with_fraud:
        by_age["fraud_share"] = _ratio(by_age[FRAUD_COLUMN].to_numpy(), by_age["n_labeled"].to_numpy())
    return by_age.reset_index().astype({name: np.int64 for name in ("age", "cohorts", *counted)})


def _count_by_day(
    days: NDArray[np.int64], flags: list[NDArray[np.bool_]]
) -> tuple[NDArray[np.int64], list[NDArray[np.int64]]]:
    """The distinct days, the rows of each, and the rows of each where each flag is set."""
    first = int(days.min())
    span = int(days.max()) - first + 1
    if span <= max(_MAX_BINCOUNT_SPAN, days.size):
        # O(n) and no sort: the days of one extraction are a short run of consecutive dates.
        unique, index = np.arange(first, first + span), days - first
    else:
        unique, index = np.unique(days, return_inverse=True)
    totals = [np.bincount(index, minlength=unique.size)]
    totals += [np.bincount(index[flag], minlength=unique.size) for flag in flags]
    present = np.flatnonzero(totals[0])
    return unique[present], [total[present].astype(np.int64) for total in totals]


def snapshot_rows(
    prediction_day: ArrayLike,
    labeled: ArrayLike,
    *,
    snapshot_day: date | datetime | str,
    fraud: ArrayLike | None = None,
) -> pd.DataFrame:
    """Return the rows of one day's snapshot, counted from one extraction of predictions.

    Parameters
    ----------
    prediction_day : array-like of shape (n,)
        Each prediction's day or ``predicted_at`` (its UTC date counts; naive values are read
        as UTC): every prediction of the prediction days to snapshot, labeled or not.
    labeled : array-like of bool, shape (n,)
        Whether the prediction has a label at the snapshot.
    snapshot_day : date-like
        The snapshot's day, ``snapshot_day_for(as_of)`` of the run; no prediction may be later.
    fraud : array-like of bool, shape (n,), optional
        Whether the label is fraud; False wherever ``labeled`` is False.

    Returns
    -------
    pandas.DataFrame
        One row per prediction day present, in day order: ``snapshot_day``,
        ``prediction_day`` (``datetime.date``), ``n_predictions``, ``n_labeled`` and, with
        ``fraud``, ``n_fraud``: the rows the snapshot table receives.

    Raises
    ------
    InvalidSnapshotsError
        If a day is missing or not a date, or a prediction day is after ``snapshot_day``.
    fraudcal.inputs.InvalidOutcomesError
        If a flag is not 0/1, the lengths differ, or a fraud flag is set on an unlabeled row.

    Examples
    --------
    >>> days = ["2025-03-01T23:59:00Z", "2025-03-02T00:30:00+02:00", "2025-03-02T08:00:00Z"]
    >>> snapshot_rows(days, [True, False, True], fraud=[False, False, True], snapshot_day="2025-03-02").to_dict("list")
    {'snapshot_day': [datetime.date(2025, 3, 2), datetime.date(2025, 3, 2)], 'prediction_day': [datetime.date(2025, 3, 1), datetime.date(2025, 3, 2)], 'n_predictions': [2, 1], 'n_labeled': [1, 1], 'n_fraud': [0, 1]}
    """
    days = _utc_days(prediction_day, "prediction_day")
    flags = [checked_column(checked_labels(labeled, "labeled"), days.size, "labeled")]
    if fraud is not None:
        frauds = checked_column(checked_labels(fraud, "fraud"), days.size, "fraud")
        _refuse_unlabeled_fraud(frauds, flags[0])
        flags.append(frauds)
    last = _utc_day(snapshot_day, "snapshot_day")
    late = days > last
    if late.any():
        shown = _as_dates(np.array([last]))[0]
        raise _refuse(
            f"prediction_day must not be after snapshot_day {shown}", late, lambda i: f"{_as_dates(days[i : i + 1])[0]}"
        )
    names = ["n_predictions", "n_labeled", *([FRAUD_COLUMN] if fraud is not None else [])]
    if days.size == 0:
        present, totals = np.array([], dtype=np.int64), [np.array([], dtype=np.int64) for _ in names]
    else:
        present, totals = _count_by_day(days, flags)
    return pd.DataFrame(
        {
            "snapshot_day": _as_dates(np.full(present.size, last, dtype=np.int64)),
            "prediction_day": _as_dates(present),
            **dict(zip(names, totals, strict=True)),
        }
    )


def _refuse_unlabeled_fraud(frauds: NDArray[np.bool_], labeled: NDArray[np.bool_]) -> None:
    """A fraud flag on a row without a label is a mix-up of columns: refuse it."""
    unlabeled = frauds & ~labeled
    if unlabeled.any():
        index = int(np.argmax(unlabeled))
        raise InvalidOutcomesError(
            f"fraud must be False where labeled is False: index {index} is a fraud without a label "
            f"({int(unlabeled.sum())} of {unlabeled.size} rows break the rule)"
        )
