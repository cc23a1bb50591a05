"""The core's input contract (fraudcal.inputs), and that every entry point enforces it.

Each bad input below was accepted silently before the contract existed: a NaN probability
was counted in n, a label 2, NaN or '0' was read as fraud, unequal lengths went unnoticed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from fraudcal.calibration_set import compute_calibration_set
from fraudcal.conformal import residual_scores
from fraudcal.coverage import version_figures
from fraudcal.drift import average_precision, day_metrics, roc_auc
from fraudcal.inputs import (
    InvalidOutcomesError,
    checked_column,
    checked_labels,
    checked_outcomes,
    checked_probabilities,
)
from fraudcal.metrics import brier_score, expected_calibration_error, outcome_statistics

# ---------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    ("bad", "shown"),
    [(float("nan"), "nan"), (float("inf"), "inf"), (-0.25, "-0.25"), (1.5, "1.5"), (-np.inf, "-inf")],
)
def test_probability_outside_0_1_or_not_finite_names_index_value_and_rule(bad, shown):
    values = [0.1, 0.2, bad, 0.3, bad]
    with pytest.raises(InvalidOutcomesError) as error:
        checked_probabilities(values)
    message = str(error.value)
    assert f"index 2 is {shown}" in message
    assert "finite numbers in [0, 1]" in message
    assert "2 of 5 values" in message


@pytest.mark.parametrize(
    ("values", "index", "shown"),
    [
        (["0.5", "0.25"], 0, "'0.5'"),  # numpy would happily convert these strings to floats
        ([0.5, 0.25, "0.5"], 2, "'0.5'"),  # the index is the caller's, not that of numpy's str array
        ([0.5, None], 1, "None"),
        ([True, False], 0, "True"),  # a boolean column passed as probabilities is a mix-up
        (np.array([0.5, True], dtype=object), 1, "True"),
        (np.array(["2025-01-01"], dtype="datetime64[D]"), 0, "datetime.date"),
    ],
)
def test_probabilities_that_are_not_numbers_are_refused(values, index, shown):
    with pytest.raises(InvalidOutcomesError, match=rf"index {index} is {re.escape(shown)}"):
        checked_probabilities(values)


def test_probabilities_of_any_real_dtype_become_float64():
    for values in ([0, 1], np.array([0.25, 0.5], dtype=np.float32), pd.Series([0.125, 1.0]), np.array([0.5], object)):
        checked = checked_probabilities(values)
        assert checked.dtype == np.float64
        assert checked.tolist() == [float(v) for v in np.asarray(values)]


@pytest.mark.parametrize(
    ("bad", "shown"),
    [(2, "2"), (-1, "-1"), (float("nan"), "nan"), (0.5, "0.5"), ("0", "'0'"), ("1", "'1'"), (None, "None")],
)
def test_label_other_than_0_or_1_names_index_value_and_rule(bad, shown):
    with pytest.raises(InvalidOutcomesError) as error:
        checked_labels([0, 1, bad, 1])
    message = str(error.value)
    assert f"index 2 is {shown}" in message
    assert "exactly 0 or 1" in message


def test_string_label_arrays_are_refused_even_when_they_read_as_0_and_1():
    with pytest.raises(InvalidOutcomesError, match="index 0 is '0'"):
        checked_labels(np.array(["0", "1"]))
    with pytest.raises(InvalidOutcomesError, match="<NA>"):
        checked_labels(pd.array([True, None], dtype="boolean"))


@pytest.mark.parametrize(
    "labels",
    [
        [False, True, True],
        np.array([0, 1, 1], dtype=np.int16),
        np.array([0.0, 1.0, 1.0]),
        np.array([0, 1, 1], dtype=np.uint8),
        pd.array([False, True, True], dtype="boolean"),
        np.array([0, True, 1.0], dtype=object),
    ],
)
def test_labels_of_0_and_1_in_any_honest_form_are_accepted(labels):
    assert checked_labels(labels).tolist() == [False, True, True]


def test_lengths_and_dimensions_must_match():
    with pytest.raises(InvalidOutcomesError, match="same length; got 3 and 2"):
        checked_outcomes([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(InvalidOutcomesError, match=r"one-dimensional; got shape \(2, 2\)"):
        checked_outcomes([[0.1, 0.2], [0.3, 0.4]], [[0, 1], [1, 0]])
    with pytest.raises(InvalidOutcomesError, match=r"quantiles\[95\] must hold one value per outcome \(3\); got 2"):
        checked_column([0.1, 0.2], 3, "quantiles[95]")


def test_empty_outcomes_are_valid():
    p, y = checked_outcomes([], [])
    assert p.size == y.size == 0 and p.dtype == np.float64 and y.dtype == bool


# ---------------------------------------------------------------- every entry point enforces them

P = np.linspace(0.01, 0.99, 40)
Y = (np.arange(40) % 4 == 0).astype(int)


def _with(values: np.ndarray, index: int, value) -> np.ndarray:
    changed = values.astype(object if isinstance(value, str) else np.float64)
    changed[index] = value
    return changed


def _figures(p, y):
    n = len(p)
    return version_figures(
        model_version="v1",
        days=np.full(n, np.datetime64("2025-02-01")),
        probabilities=p,
        labels=y,
        is_high_risk=np.zeros(n, bool),
        quantiles={90: np.full(n, 0.25)},
        level=90,
        narrow_threshold=0.2,
        newest_set_age_hours=1.0,
        stale_after_hours=36,
    )


def _day(p, y):
    n = len(p)
    return day_metrics(P, P, p, y, {level: np.full(n, 0.25) for level in (90, 95, 99)})


def _calibration_set(p, y):
    return compute_calibration_set(
        p,
        y,
        model_type="m",
        model_version="v",
        window_start=datetime(2025, 1, 1, tzinfo=UTC),
        window_end=datetime(2025, 2, 1, tzinfo=UTC),
    )


ENTRY_POINTS = {
    "residual_scores": residual_scores,
    "compute_calibration_set": _calibration_set,
    "expected_calibration_error": expected_calibration_error,
    "brier_score": brier_score,
    "outcome_statistics": outcome_statistics,
    "version_figures": _figures,
    "day_metrics": _day,
    "average_precision": average_precision,
    "roc_auc": roc_auc,
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(
    ("p", "y", "message"),
    [
        (_with(P, 7, np.nan), Y, "probabilities must be finite numbers in [0, 1]: index 7 is nan"),
        (_with(P, 7, 1.25), Y, "probabilities must be finite numbers in [0, 1]: index 7 is 1.25"),
        (P, _with(Y, 5, 2), "labels must be exactly 0 or 1 (bool, or a number equal to 0 or 1): index 5 is 2.0"),
        (P, _with(Y, 5, np.nan), "labels must be exactly 0 or 1 (bool, or a number equal to 0 or 1): index 5 is nan"),
        (P, _with(Y, 5, "0"), "labels must be exactly 0 or 1 (bool, or a number equal to 0 or 1): index 5 is '0'"),
        (P, Y[:-1], "probabilities and labels must be of the same length; got 40 and 39"),
    ],
    ids=["p-nan", "p-above-1", "label-2", "label-nan", "label-string", "lengths"],
)
def test_every_entry_point_refuses_bad_outcomes_with_the_same_message(entry, p, y, message):
    with pytest.raises(InvalidOutcomesError) as error:
        ENTRY_POINTS[entry](p, y)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_accepts_boolean_and_float_labels_alike(entry):
    def plain(result):
        return result.tolist() if isinstance(result, np.ndarray) else result

    as_bool = plain(ENTRY_POINTS[entry](P, Y.astype(bool)))
    as_float = plain(ENTRY_POINTS[entry](P, Y.astype(float)))
    # repr: NaN-safe equality of nested results (a NaN figure equals itself here).
    assert repr(as_bool) == repr(as_float)


def test_quantile_columns_must_match_the_outcomes_in_the_reports():
    with pytest.raises(InvalidOutcomesError, match=r"quantiles\[95\] must hold one value per outcome \(40\); got 39"):
        day_metrics(P, P, P, Y, {90: np.full(40, 0.25), 95: np.full(39, 0.25), 99: np.full(40, 0.25)})
    with pytest.raises(InvalidOutcomesError, match=r"days must hold one value per outcome \(40\); got 1"):
        version_figures(
            model_version="v1",
            days=np.array(["2025-02-01"], dtype="datetime64[D]"),
            probabilities=P,
            labels=Y,
            is_high_risk=np.zeros(40, bool),
            quantiles={90: np.full(40, 0.25)},
            level=90,
            narrow_threshold=0.2,
            newest_set_age_hours=1.0,
            stale_after_hours=36,
        )
