"""What the online service does with a calibration payload and a new score.

This is the reference implementation of the service's side of the Redis contract
(DESIGN.md section 3.3), kept here so that the batch side and its tests use the same rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from fraudcal.conformal import coverage_fraction, prediction_intervals
from fraudcal.defaults import DEFAULT_LEVEL


def _level_number(level: str) -> int | float:
    """A payload's level key as a number: ``"90"`` -> 90, ``"99.5"`` -> 99.5."""
    exact = Fraction(level)
    return int(exact) if exact.denominator == 1 else float(exact)


def interval_for_score(
    payload: Mapping[str, Any] | None, score: float, coverage_level: int | float | str = DEFAULT_LEVEL
) -> dict[str, Any] | None:
    """Return the interval of one new score, or ``None`` without a calibration set.

    Parameters
    ----------
    payload : mapping or None
        The decoded Redis payload of the model version, or ``None`` when Redis had none
        (expired, never published, or Redis unreachable).
    score : float
        The model's fraud probability, in [0, 1].
    coverage_level : int, float or str, default=DEFAULT_LEVEL
        Which level of the payload to use (its key, e.g. ``90`` or ``"99.5"``).

    Returns
    -------
    dict or None
        ``{lower_bound, upper_bound, width, calibration_score, coverage_level,
        quantile_value, is_narrow}``; ``None`` tells the service to fall back to the point
        prediction.

    Raises
    ------
    ValueError
        If the score is outside [0, 1] or the payload lacks the level.
    """
    if payload is None:
        return None
    if not 0.0 <= score <= 1.0:  # also rejects NaN
        raise ValueError(f"score {score!r} must be a probability in [0, 1]")
    level = str(coverage_level)
    if level not in payload["levels"]:
        raise ValueError(
            f"coverage_level {level} is not in the calibration set "
            f"(it has {sorted(payload['levels'], key=coverage_fraction)})"
        )
    quantile = float(payload["levels"][level]["quantile"])
    interval = prediction_intervals([score], quantile, float(payload["narrow_threshold"]))
    return {
        "lower_bound": float(interval.lower[0]),
        "upper_bound": float(interval.upper[0]),
        "width": float(interval.width[0]),
        "calibration_score": payload.get("calibration_score"),
        "coverage_level": _level_number(level),
        "quantile_value": quantile,
        "is_narrow": bool(interval.is_narrow[0]),
    }
