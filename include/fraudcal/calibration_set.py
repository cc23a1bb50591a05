"""One calibration set: computed from a window of labeled outcomes, shaped for Redis.

A calibration set with ``as_of = T`` is computed from the outcomes predicted in
``[T - window, T)``. It holds, per coverage level, the conformal quantile ``q`` and its rank
``k``, plus the calibration metrics of the window. :func:`compute_calibration_set` does the
numbers; :func:`calibration_payload` turns a stored set into the JSON document the online
service reads (DESIGN.md section 3.3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fraudcal.conformal import conformal_quantiles, residual_scores
from fraudcal.metrics import (
    OutcomeStatistics,
    brier_score,
    expected_calibration_error,
    outcome_statistics,
)

#: Version of the Redis payload layout; bump it on any incompatible change.
PAYLOAD_SCHEMA_VERSION = 1
#: The method of DESIGN.md section 4.
RESIDUAL_METHOD = "residual"
#: Coverage levels the project supports (percent).
SUPPORTED_LEVELS = (90, 95, 99)


class InsufficientOutcomesError(ValueError):
    """Raised when a window holds fewer labeled outcomes than ``min_samples``."""


@dataclass(frozen=True)
class CalibrationSet:
    """The numbers of one calibration set, before it is stored."""

    model_type: str
    model_version: str
    as_of: datetime
    window_start: datetime
    window_end: datetime
    levels: dict[str, dict[str, float | int]]
    narrow_threshold: float
    calibration_score: float
    ece: float
    brier: float
    statistics: OutcomeStatistics
    source: str
    method: str = RESIDUAL_METHOD
    validation: dict[str, Any] = field(default_factory=dict)


def compute_calibration_set(
    probabilities: ArrayLike,
    labels: ArrayLike,
    *,
    model_type: str,
    model_version: str,
    window_start: datetime,
    window_end: datetime,
    levels: Sequence[int] = SUPPORTED_LEVELS,
    narrow_threshold: float = 0.2,
    min_samples: int = 30,
    source: str = "fraud_log",
) -> CalibrationSet:
    """Compute the residual conformal calibration set of one window.

    Parameters
    ----------
    probabilities, labels : array-like of shape (n,)
        The labeled outcomes of the window (already validated).
    model_type, model_version : str
        Which model the set belongs to.
    window_start, window_end : datetime
        The window ``[window_start, window_end)``; ``as_of`` is ``window_end``.
    levels : sequence of int, default=(90, 95, 99)
        Coverage levels in percent.
    narrow_threshold : float, default=0.2
        Width below which an interval counts as narrow; stored with the set so the online
        service and the reports use the same value.
    min_samples : int, default=30
        Fewer labeled outcomes than this raise :class:`InsufficientOutcomesError`.
    source : str
        Where the outcomes came from (``fraud_log``, ``prediction_log`` or ``csv``).

    Returns
    -------
    CalibrationSet
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels)
    if p.size < min_samples:
        raise InsufficientOutcomesError(
            f"{model_type}/{model_version}: {p.size} labeled outcomes in "
            f"[{window_start:%Y-%m-%d}, {window_end:%Y-%m-%d}); at least min_samples="
            f"{min_samples} are needed, so no calibration set is made"
        )
    if window_end <= window_start:
        raise ValueError(f"window_end {window_end} must be after window_start {window_start}")
    quantiles = conformal_quantiles(residual_scores(p, y), list(levels))
    ece = expected_calibration_error(p, y)
    return CalibrationSet(
        model_type=model_type,
        model_version=model_version,
        as_of=window_end,
        window_start=window_start,
        window_end=window_end,
        levels={str(level): {"quantile": q, "k": k} for level, (q, k) in sorted(quantiles.items())},
        narrow_threshold=float(narrow_threshold),
        calibration_score=1.0 - ece,
        ece=ece,
        brier=brier_score(p, y),
        statistics=outcome_statistics(p, y),
        source=source,
    )


def utc_timestamp(moment: datetime) -> str:
    """Return ``moment`` as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds).

    One fixed-width format, so that timestamps compare correctly as strings (the Redis
    publish script compares ``as_of`` values that way).
    """
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {moment!r} has no time zone; fraudcal works in UTC")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN: store a missing metric as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def calibration_payload(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return the Redis payload (DESIGN.md 3.3) for a stored calibration set.

    Parameters
    ----------
    record : mapping
        A row of ``fraudcal.calibration_sets`` (column name to value).

    Returns
    -------
    dict
        JSON-ready: ``schema_version``, the model, method, window, ``n``, ``n_positive``,
        ``levels`` (``{"90": {"quantile": q, "k": k}, ...}``), ``narrow_threshold``,
        metrics, ``calibration_set_id``, ``source``, ``computed_at`` and ``run_id``.
    """
    return {
        "schema_version": PAYLOAD_SCHEMA_VERSION,
        "model_type": record["model_type"],
        "model_version": record["model_version"],
        "method": record["method"],
        "as_of": utc_timestamp(record["as_of"]),
        "window_start": utc_timestamp(record["window_start"]),
        "window_end": utc_timestamp(record["window_end"]),
        "n": int(record["n"]),
        "n_positive": int(record["n_positive"]),
        "levels": {
            str(level): {"quantile": float(entry["quantile"]), "k": int(entry["k"])}
            for level, entry in sorted(record["levels"].items(), key=lambda item: int(item[0]))
        },
        "narrow_threshold": float(record["narrow_threshold"]),
        "calibration_score": _finite_or_none(float(record["calibration_score"])),
        "ece": _finite_or_none(float(record["ece"])),
        "brier": _finite_or_none(float(record["brier"])),
        "calibration_set_id": int(record["id"]),
        "source": record["source"],
        "computed_at": record["computed_at"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "run_id": record["run_id"],
    }


def calibration_set_to_values(calibration_set: CalibrationSet) -> dict[str, Any]:
    """Return the set as JSON-ready values (timestamps as ISO 8601), e.g. for XCom."""
    return {
        "model_type": calibration_set.model_type,
        "model_version": calibration_set.model_version,
        "method": calibration_set.method,
        "as_of": calibration_set.as_of.isoformat(),
        "window_start": calibration_set.window_start.isoformat(),
        "window_end": calibration_set.window_end.isoformat(),
        "levels": calibration_set.levels,
        "narrow_threshold": calibration_set.narrow_threshold,
        "calibration_score": calibration_set.calibration_score,
        "ece": calibration_set.ece,
        "brier": calibration_set.brier,
        "statistics": calibration_set.statistics.as_dict(),
        "source": calibration_set.source,
        "validation": calibration_set.validation,
    }


def calibration_set_from_values(values: Mapping[str, Any]) -> CalibrationSet:
    """Inverse of :func:`calibration_set_to_values`."""
    return CalibrationSet(
        model_type=values["model_type"],
        model_version=values["model_version"],
        method=values["method"],
        as_of=datetime.fromisoformat(values["as_of"]),
        window_start=datetime.fromisoformat(values["window_start"]),
        window_end=datetime.fromisoformat(values["window_end"]),
        levels={str(level): dict(entry) for level, entry in values["levels"].items()},
        narrow_threshold=float(values["narrow_threshold"]),
        calibration_score=float(values["calibration_score"]),
        ece=float(values["ece"]),
        brier=float(values["brier"]),
        statistics=OutcomeStatistics(**values["statistics"]),
        source=values["source"],
        validation=dict(values.get("validation") or {}),
    )
