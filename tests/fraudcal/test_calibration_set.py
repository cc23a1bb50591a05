"""Computing a calibration set and shaping its payload."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from fraudcal.calibration_set import (
    InsufficientOutcomesError,
    calibration_payload,
    calibration_set_from_values,
    calibration_set_to_values,
    compute_calibration_set,
    utc_timestamp,
)

START, END = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 3, tzinfo=UTC)


def _compute(n: int, **kwargs):
    rng = np.random.default_rng(n)
    p = rng.random(n)
    y = (rng.random(n) < p).astype(int)
    return (
        p,
        y,
        compute_calibration_set(
            p, y, model_type="fraud_detector", model_version="v1", window_start=START, window_end=END, **kwargs
        ),
    )


def test_levels_hold_the_kth_smallest_score_and_k():
    p, y, cset = _compute(100)
    scores = np.sort(np.abs(p - y))
    assert cset.levels["90"] == {"quantile": scores[90], "k": 91}  # ceil(101 * 0.9) = 91
    assert cset.levels["99"] == {"quantile": scores[99], "k": 100}  # ceil(101 * 0.99) = 100 <= n
    assert cset.as_of == END
    assert cset.calibration_score == pytest.approx(1 - cset.ece)
    assert cset.statistics.n == 100 and cset.statistics.n_positive == int(y.sum())


def test_level_with_k_above_n_is_stored_as_quantile_one():
    _, _, cset = _compute(98)  # ceil(99 * 0.99) = 99 > 98
    assert cset.levels["99"] == {"quantile": 1.0, "k": 99}


def test_too_few_outcomes_names_the_count_and_min_samples():
    with pytest.raises(InsufficientOutcomesError, match=r"29 labeled outcomes .* min_samples=30"):
        _compute(29, min_samples=30)


def test_values_round_trip_and_payload_is_json_shaped():
    _, _, cset = _compute(200, levels=(90, 95))
    assert calibration_set_from_values(calibration_set_to_values(cset)) == cset
    record = {
        **calibration_set_to_values(cset),
        "as_of": cset.as_of,
        "window_start": cset.window_start,
        "window_end": cset.window_end,
        "n": 200,
        "n_positive": cset.statistics.n_positive,
        "id": 7,
        "run_id": "r",
        "computed_at": datetime(2025, 3, 3, 0, 5, 1, 250, tzinfo=UTC),
    }
    payload = calibration_payload(record)
    assert payload["schema_version"] == 1
    assert payload["as_of"] == "2025-03-03T00:00:00Z"
    assert list(payload["levels"]) == ["90", "95"]
    assert payload["calibration_set_id"] == 7
    assert payload["computed_at"] == "2025-03-03T00:05:01.000250Z"


def test_timestamps_without_time_zone_are_refused():
    with pytest.raises(ValueError, match="no time zone"):
        utc_timestamp(datetime(2025, 1, 1))
