"""One calibration set: computed from a window of labeled outcomes, shaped for Redis.

A calibration set with ``as_of = T`` is computed from the outcomes predicted in
``[T - window, T)``; with a label maturity of ``m > 0`` days, in ``[E - window, E)`` where ``E =
fraudcal.maturity.matured_until(T, m)`` (the window keeps its length and ends ``m`` days before
T's date, so that only prediction days whose labels are in count; the set is still in force
from T). It holds, per coverage level, the conformal quantile ``q`` and its rank ``k``, plus
the calibration metrics of the window. :func:`compute_calibration_set` does the
numbers; :meth:`CalibrationSet.to_dict` and :meth:`CalibrationSet.from_dict` are its one
serialisation (the columns of ``fraudcal.calibration_sets``); :func:`calibration_payload`
turns a stored set into the JSON document the online service reads (DESIGN.md section 3.3).

Two meanings are kept apart. The *calibration set* is the conformal quantiles of a window:
they decide the intervals and therefore their coverage. Its field ``calibration_score``
(``1 - ECE``, see :mod:`fraudcal.metrics`) measures *probability calibration*, whether a
predicted 0.3 is fraud about 30 % of the time; it says nothing about interval coverage.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime
from functools import cache
from typing import Any, get_type_hints

from numpy.typing import ArrayLike

from fraudcal.conformal import conformal_quantiles, coverage_fraction, residual_scores
from fraudcal.defaults import (
    DEFAULT_LABEL_MATURITY_DAYS,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_NARROW_THRESHOLD,
    METHODS,
    MONDRIAN_ACI_METHOD,
    MONDRIAN_METHOD,
    RESIDUAL_METHOD,
    SUPPORTED_LEVELS,
    VENN_ABERS_METHOD,
)
from fraudcal.inputs import checked_outcomes
from fraudcal.metrics import brier_score, expected_calibration_error, outcome_statistics

#: Version of the Redis payload layout; bump it on any incompatible change.
PAYLOAD_SCHEMA_VERSION = 1


class InsufficientOutcomesError(ValueError):
    """Raised when a window holds fewer labeled outcomes than ``min_samples``."""


# ------------------------------------------------------------------ reading stored values


def _as_timestamp(value: datetime | str) -> datetime:
    """A time-zone-aware datetime from a datetime or an ISO 8601 string."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError(f"timestamp {value!r} must be a datetime or an ISO 8601 string")
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone; fraudcal works in UTC")
    return moment


def _as_int(value: Any) -> int:
    """An int, refusing a value that would lose a fraction on the way."""
    number = int(value)
    if number != value:
        raise ValueError(f"{value!r} is not a whole number")
    return number


def _as_float(value: Any) -> float:
    """A float; NULL (a metric the database does not have) reads as NaN."""
    return float("nan") if value is None else float(value)


def _as_str(value: Any) -> str:
    """A str, refusing None and other types instead of spelling them out."""
    if not isinstance(value, str):
        raise TypeError(f"{value!r} must be a string")
    return value


def _as_levels(levels: Mapping[Any, Mapping[str, Any]]) -> dict[str, dict[str, float | int]]:
    """``{"90": {"quantile": q, "k": k}, ...}``: str keys in numeric order, float q, int k.

    The order is that of the exact level value (``"99.5"`` after ``"99"``), so the layout a
    payload shows does not depend on how the levels were given.
    """
    ordered = sorted(levels.items(), key=lambda item: coverage_fraction(item[0]))
    return {str(level): {"quantile": float(entry["quantile"]), "k": _as_int(entry["k"])} for level, entry in ordered}


def _as_json_object(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of a JSON object (NULL reads as empty)."""
    return copy.deepcopy(dict(value or {}))


#: How a stored value of each field type is read back (the type comes from the annotations).
_READERS: dict[Any, Callable[[Any], Any]] = {datetime: _as_timestamp, int: _as_int, float: _as_float, str: _as_str}


# ------------------------------------------------------------------ the set


def method_levels(method: str, levels: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``levels`` in the canonical form of ``method``'s numbers, checked.

    Raises
    ------
    ValueError
        If ``method`` is not a calibration method, or ``levels`` is not that method's form.
    """
    from fraudcal.mondrian import MondrianSet
    from fraudcal.venn_abers import VennAbersSet

    if method == RESIDUAL_METHOD:
        return _as_levels(levels)
    if method == MONDRIAN_METHOD:
        return MondrianSet.from_dict({"levels": levels}).to_dict()["levels"]
    if method == VENN_ABERS_METHOD:
        return VennAbersSet.from_dict(levels).to_dict()
    if method == MONDRIAN_ACI_METHOD:
        return aci_levels(levels)
    raise ValueError(f"method {method!r} is not a calibration method; expected one of {list(METHODS)}")


#: Per level of a ``mondrian_aci`` set, besides the two classes and ``too_few_frauds``.
ACI_LEVEL_FIELDS = ("gamma", "updated_through")


def aci_levels(levels: Mapping[Any, Mapping[str, Any]]) -> dict[str, Any]:
    """Return the levels of a ``mondrian_aci`` set in canonical form, checked.

    The layout is Mondrian's (:class:`fraudcal.mondrian.MondrianSet`) with, per class, the
    working level ``alpha`` the quantile was taken at and whether the clip bound at the
    class's latest update (``saturated``), and, per level, the step size ``gamma`` and the
    newest prediction day applied (``updated_through``, ISO date or None)::

        {"90": {"0": {"n", "k", "quantile", "alpha", "saturated"}, "1": {...},
                "too_few_frauds": bool, "gamma": 0.05, "updated_through": "2025-03-01"}}

    Raises
    ------
    ValueError
        If a class entry is missing, ``k`` is not :func:`fraudcal.aci.aci_rank` of ``n`` and
        ``alpha``, the quantile is impossible for ``k`` and ``n``, ``too_few_frauds``
        disagrees with Mondrian's rule at the nominal level, or a field is missing.

    Examples
    --------
    >>> aci_levels({"90": {"0": {"n": 9, "k": 9, "quantile": 0.5, "alpha": 0.1, "saturated": False},
    ...                    "1": {"n": 0, "k": 1, "quantile": 1.0, "alpha": 0.1, "saturated": False},
    ...                    "gamma": 0.05, "updated_through": None}})["90"]["too_few_frauds"]
    True
    """
    from fraudcal.aci import aci_rank
    from fraudcal.mondrian import CLASSES, TOO_FEW_FRAUDS, minimum_class_size

    checked: dict[str, Any] = {}
    for level, entry in sorted(levels.items(), key=lambda item: coverage_fraction(item[0])):
        missing = [name for name in (*CLASSES, *ACI_LEVEL_FIELDS) if name not in entry]
        if missing:
            raise ValueError(f"mondrian_aci level {level}: {missing} missing (the entry has {sorted(entry)})")
        classes = {}
        for label in CLASSES:
            values = entry[label]
            n, k = _as_int(values["n"]), _as_int(values["k"])
            quantile, alpha = float(values["quantile"]), float(values["alpha"])
            if k != aci_rank(n, alpha):
                raise ValueError(
                    f"mondrian_aci level {level}, class {label}: k={k} is not the rank of n={n} at alpha={alpha!r}"
                )
            if not 0.0 <= quantile <= 1.0 or (k > n and quantile != 1.0):
                raise ValueError(
                    f"mondrian_aci level {level}, class {label}: quantile {quantile!r} is impossible for k={k}, n={n}"
                )
            classes[label] = {
                "n": n,
                "k": k,
                "quantile": quantile,
                "alpha": alpha,
                "saturated": bool(values["saturated"]),
            }
        too_few = classes["1"]["n"] < minimum_class_size(level)
        if TOO_FEW_FRAUDS in entry and bool(entry[TOO_FEW_FRAUDS]) != too_few:
            raise ValueError(
                f"mondrian_aci level {level}: {TOO_FEW_FRAUDS}={entry[TOO_FEW_FRAUDS]!r} but n_1={classes['1']['n']}"
            )
        through = entry["updated_through"]
        checked[str(level)] = {
            **classes,
            TOO_FEW_FRAUDS: too_few,
            "gamma": float(entry["gamma"]),
            "updated_through": None if through is None else _as_str(through),
        }
    return checked


@dataclass(frozen=True, kw_only=True)
class CalibrationSet:
    """The numbers of one calibration set: the conformal quantiles of one window.

    The fields are exactly the columns of ``fraudcal.calibration_sets`` that a set owns, in
    the table's order; the database adds ``id``, ``dag_id``, ``run_id``, ``computed_at`` and
    ``created_at``. :meth:`to_dict` and :meth:`from_dict` are the one serialisation.

    ``levels`` holds the method's numbers (:func:`method_levels`): for ``residual``
    ``{"90": {"quantile": q, "k": k}, ...}``, what the online service uses for its intervals;
    for ``mondrian`` the per-class quantiles (:class:`fraudcal.mondrian.MondrianSet`); for
    ``venn_abers`` the step functions p0 and p1 (:class:`fraudcal.venn_abers.VennAbersSet`).
    ``mondrian_aci`` the same per-class layout at the adapted levels (:func:`aci_levels`).
    One window gives one set per method, with every other field equal. ``calibration_score`` is ``1 - ece``: a measure of probability
    calibration over 10 equal-mass bins, reported alongside; it is not a coverage figure,
    and a set with a high ``calibration_score`` can still give intervals that miss most
    frauds (DESIGN.md section 4).

    ``label_maturity_days`` is the maturity the window was cut with (``m``): with ``m = 0``
    the window ends at ``as_of``; with ``m > 0`` it ends ``m`` days before as_of's date
    (:func:`fraudcal.maturity.matured_until`), and the set is still in force from ``as_of``.

    Raises
    ------
    ValueError
        If a timestamp has no time zone, the window is empty, ``window_end`` is after
        ``as_of``, ``as_of`` differs from ``window_end`` with ``label_maturity_days = 0`` (or
        equals it with a maturity), the maturity is outside 0..365, or the counts are
        impossible (the table's constraints, checked here so that a bad set fails before it
        reaches the database).
    """

    model_type: str
    model_version: str
    method: str = RESIDUAL_METHOD
    as_of: datetime
    window_start: datetime
    window_end: datetime
    n: int
    n_positive: int
    levels: dict[str, Any] = field(metadata={"reader": _as_json_object})
    narrow_threshold: float
    calibration_score: float
    ece: float
    brier: float
    mean_prediction: float
    std_prediction: float
    mean_actual: float
    source: str
    validation: dict[str, Any] = field(default_factory=dict, metadata={"reader": _as_json_object})
    label_maturity_days: int = 0

    def __post_init__(self) -> None:
        """Check the constraints listed under Raises; put ``levels`` in its method's canonical form."""
        from fraudcal.maturity import MAX_LABEL_MATURITY_DAYS

        object.__setattr__(self, "levels", method_levels(self.method, self.levels))
        for name in ("as_of", "window_start", "window_end"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"{name} {getattr(self, name)!r} has no time zone; fraudcal works in UTC")
        if not self.window_start < self.window_end:
            raise ValueError(f"window_end {self.window_end} must be after window_start {self.window_start}")
        if not 0 <= self.label_maturity_days <= MAX_LABEL_MATURITY_DAYS:
            raise ValueError(
                f"label_maturity_days={self.label_maturity_days!r} must be in 0..{MAX_LABEL_MATURITY_DAYS}"
            )
        if self.label_maturity_days == 0 and self.as_of != self.window_end:
            raise ValueError(
                f"as_of {self.as_of} must equal window_end {self.window_end} when label_maturity_days is 0"
            )
        if self.window_end > self.as_of:
            raise ValueError(f"window_end {self.window_end} must not be after as_of {self.as_of}")
        if self.label_maturity_days > 0 and self.as_of == self.window_end:
            raise ValueError(
                f"window_end {self.window_end} must be before as_of with label_maturity_days={self.label_maturity_days}"
            )
        if not 0 <= self.n_positive <= self.n:
            raise ValueError(f"n_positive={self.n_positive} must be between 0 and n={self.n}")

    def to_dict(self) -> dict[str, Any]:
        """Return the set as a flat, JSON-ready dict keyed by the table's column names.

        Timestamps become ISO 8601 strings with their offset; ``levels`` and ``validation``
        are copies. Metrics stay floats (a NaN stays NaN; :func:`calibration_payload` turns
        it into null).
        """
        return {item.name: _json_ready(getattr(self, item.name)) for item in fields(self)}

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> CalibrationSet:
        """Return the set held by ``mapping``: a :meth:`to_dict` result or a database row.

        Parameters
        ----------
        mapping : mapping
            Field name to value. Timestamps may be datetimes or ISO 8601 strings; NULL
            metrics read as NaN. Keys that are not fields (``id``, ``computed_at``,
            ``dag_id``, ``run_id``, ``created_at``, ...) are ignored, so a row of
            ``fraudcal.calibration_sets`` can be passed as it is.

        Raises
        ------
        KeyError
            If a field without a default is missing, naming every missing one.
        """
        readers = _field_readers(cls)
        missing = [name for name, (_, required) in readers.items() if required and name not in mapping]
        if missing:
            raise KeyError(f"a calibration set needs {', '.join(missing)}; the mapping has {sorted(mapping)}")
        return cls(**{name: read(mapping[name]) for name, (read, _) in readers.items() if name in mapping})


@cache
def _field_readers(cls: type[CalibrationSet]) -> dict[str, tuple[Callable[[Any], Any], bool]]:
    """Per field: how to read a stored value, and whether the field is required."""
    hints = get_type_hints(cls)
    readers = {}
    for item in fields(cls):
        read = item.metadata.get("reader") or _READERS[hints[item.name]]
        required = item.default is MISSING and item.default_factory is MISSING
        readers[item.name] = (read, required)
    return readers


def _json_ready(value: Any) -> Any:
    """ISO 8601 for timestamps, a deep copy for JSON objects, the value itself otherwise."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return copy.deepcopy(value)
    return value


# ------------------------------------------------------------------ computing a set


def compute_calibration_set(
    probabilities: ArrayLike,
    labels: ArrayLike,
    *,
    model_type: str,
    model_version: str,
    window_start: datetime,
    window_end: datetime,
    levels: Sequence[float | int | str] = SUPPORTED_LEVELS,
    narrow_threshold: float = DEFAULT_NARROW_THRESHOLD,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    source: str = "fraud_log",
    as_of: datetime | None = None,
    label_maturity_days: int = DEFAULT_LABEL_MATURITY_DAYS,
) -> CalibrationSet:
    """Compute the residual conformal calibration set of one window.

    Parameters
    ----------
    probabilities, labels : array-like of shape (n,)
        The labeled outcomes of the window: finite probabilities in [0, 1] and labels
        exactly 0 or 1 (checked by :func:`fraudcal.inputs.checked_outcomes`).
    model_type, model_version : str
        Which model the set belongs to.
    window_start, window_end : datetime
        The window ``[window_start, window_end)``.
    levels : sequence of int, float or str, default=SUPPORTED_LEVELS
        Coverage levels in percent, e.g. ``(90, 95, 99)`` or ``(90, "99.5")``.
    narrow_threshold : float, default=DEFAULT_NARROW_THRESHOLD
        Width below which an interval counts as narrow; stored with the set so the online
        service and the reports use the same value.
    min_samples : int, default=DEFAULT_MIN_SAMPLES
        Fewer labeled outcomes than this raise :class:`InsufficientOutcomesError`.
    source : str
        Where the outcomes came from (``fraud_log``, ``prediction_log`` or ``csv``).
    as_of : datetime, optional
        From when the set is in force; default ``window_end``. Later than ``window_end``
        exactly when ``label_maturity_days > 0``.
    label_maturity_days : int, default=DEFAULT_LABEL_MATURITY_DAYS
        The maturity the window was cut with (stored with the set, so readers know).

    Returns
    -------
    CalibrationSet

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If a probability or label breaks the input contract (nothing is computed).
    InsufficientOutcomesError
        If the window holds fewer than ``min_samples`` outcomes.
    ValueError
        If the window is empty or a timestamp has no time zone (see :class:`CalibrationSet`).
    """
    p, y = checked_outcomes(probabilities, labels)
    if p.size < min_samples:
        raise InsufficientOutcomesError(
            f"{model_type}/{model_version}: {p.size} labeled outcomes in "
            f"[{window_start:%Y-%m-%d}, {window_end:%Y-%m-%d}); at least min_samples="
            f"{min_samples} are needed, so no calibration set is made"
        )
    quantiles = conformal_quantiles(residual_scores(p, y), list(levels))
    ece = expected_calibration_error(p, y)
    statistics = outcome_statistics(p, y)
    return CalibrationSet(
        model_type=model_type,
        model_version=model_version,
        method=RESIDUAL_METHOD,
        as_of=window_end if as_of is None else as_of,
        window_start=window_start,
        window_end=window_end,
        n=statistics.n,
        n_positive=statistics.n_positive,
        levels=_as_levels({level: {"quantile": q, "k": k} for level, (q, k) in quantiles.items()}),
        narrow_threshold=float(narrow_threshold),
        calibration_score=1.0 - ece,
        ece=ece,
        brier=brier_score(p, y),
        mean_prediction=statistics.mean_prediction,
        std_prediction=statistics.std_prediction,
        mean_actual=statistics.mean_actual,
        source=source,
        label_maturity_days=int(label_maturity_days),
    )


# ------------------------------------------------------------------ the Redis payload


def utc_timestamp(moment: datetime | str) -> str:
    """Return ``moment`` as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds).

    One fixed-width format, so that timestamps compare correctly as strings (the Redis
    publish script compares ``as_of`` values that way).

    Parameters
    ----------
    moment : datetime or str
        A time-zone-aware datetime, or an ISO 8601 string with an offset.

    Examples
    --------
    >>> utc_timestamp("2025-03-03T01:00:00.5+01:00")
    '2025-03-03T00:00:00Z'
    """
    return _as_timestamp(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_isoformat(moment: datetime | str) -> str:
    """ISO 8601 in UTC with a ``Z``, keeping the microseconds (how ``computed_at`` is shown)."""
    return _as_timestamp(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN: store a missing metric as null."""
    return value if math.isfinite(value) else None


def calibration_payload(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return the Redis payload (DESIGN.md 3.3) for a stored calibration set.

    Parameters
    ----------
    record : mapping
        A row of ``fraudcal.calibration_sets`` (column name to value): the fields of
        :class:`CalibrationSet` plus ``id``, ``computed_at`` and ``run_id``.

    Returns
    -------
    dict
        JSON-ready (no NaN): ``schema_version``, the model, method, window (fixed-width
        ``YYYY-MM-DDTHH:MM:SSZ``), ``n``, ``n_positive``, ``levels``
        (``{"90": {"quantile": q, "k": k}, ...}`` in numeric order of the level),
        ``narrow_threshold``, metrics (null when missing), ``calibration_set_id``,
        ``source``, ``computed_at`` and ``run_id``.
    """
    values = CalibrationSet.from_dict(record).to_dict()
    return {
        "schema_version": PAYLOAD_SCHEMA_VERSION,
        "model_type": values["model_type"],
        "model_version": values["model_version"],
        "method": values["method"],
        "as_of": utc_timestamp(values["as_of"]),
        "window_start": utc_timestamp(values["window_start"]),
        "window_end": utc_timestamp(values["window_end"]),
        "n": values["n"],
        "n_positive": values["n_positive"],
        "levels": values["levels"],  # from_dict put them in numeric order
        "narrow_threshold": values["narrow_threshold"],
        "calibration_score": _finite_or_none(values["calibration_score"]),
        "ece": _finite_or_none(values["ece"]),
        "brier": _finite_or_none(values["brier"]),
        "calibration_set_id": _as_int(record["id"]),
        "source": values["source"],
        "computed_at": _utc_isoformat(record["computed_at"]),
        "run_id": record["run_id"],
    }
