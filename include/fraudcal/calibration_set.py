"""One calibration set: computed from a window of labeled outcomes, shaped for Redis.

A calibration set with ``as_of = T`` is computed from the outcomes predicted in
``[T - window, T)``. It holds, per coverage level, the conformal quantile ``q`` and its rank
``k``, plus the calibration metrics of the window. :func:`compute_calibration_set` does the
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
    DEFAULT_MIN_SAMPLES,
    DEFAULT_NARROW_THRESHOLD,
    METHODS,
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
    raise ValueError(f"method {method!r} is not a calibration method; expected one of {list(METHODS)}")


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
    One window gives one set per method, with every other field equal. ``calibration_score`` is ``1 - ece``: a measure of probability
    calibration over 10 equal-mass bins, reported alongside; it is not a coverage figure,
    and a set with a high ``calibration_score`` can still give intervals that miss most
    frauds (DESIGN.md section 4).

    Raises
    ------
    ValueError
        If a timestamp has no time zone, the window is empty, ``as_of`` differs from
        ``window_end``, or the counts are impossible (the table's constraints, checked here
        so that a bad set fails before it reaches the database).
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

    def __post_init__(self) -> None:
        """Check the constraints listed under Raises; put ``levels`` in its method's canonical form."""
        object.__setattr__(self, "levels", method_levels(self.method, self.levels))
        for name in ("as_of", "window_start", "window_end"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"{name} {getattr(self, name)!r} has no time zone; fraudcal works in UTC")
        if not self.window_start < self.window_end:
            raise ValueError(f"window_end {self.window_end} must be after window_start {self.window_start}")
        if self.as_of != self.window_end:
            raise ValueError(f"as_of {self.as_of} must equal window_end {self.window_end}")
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
        The window ``[window_start, window_end)``; ``as_of`` is ``window_end``.
    levels : sequence of int, float or str, default=SUPPORTED_LEVELS
        Coverage levels in percent, e.g. ``(90, 95, 99)`` or ``(90, "99.5")``.
    narrow_threshold : float, default=DEFAULT_NARROW_THRESHOLD
        Width below which an interval counts as narrow; stored with the set so the online
        service and the reports use the same value.
    min_samples : int, default=DEFAULT_MIN_SAMPLES
        Fewer labeled outcomes than this raise :class:`InsufficientOutcomesError`.
    source : str
        Where the outcomes came from (``fraud_log``, ``prediction_log`` or ``csv``).

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
        as_of=window_end,
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
