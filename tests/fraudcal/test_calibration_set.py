"""Computing a calibration set, its one serialisation, and the payload it becomes."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction

import numpy as np
import pytest

from fraudcal.calibration_set import (
    CalibrationSet,
    InsufficientOutcomesError,
    calibration_payload,
    compute_calibration_set,
    utc_timestamp,
)

START, END = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 3, tzinfo=UTC)

#: The columns of fraudcal.calibration_sets that a set owns (migration 0001, and 0007's
#: label_maturity_days), in table order; the database adds id, dag_id, run_id, computed_at and created_at.
TABLE_COLUMNS = [
    "model_type",
    "model_version",
    "method",
    "as_of",
    "window_start",
    "window_end",
    "n",
    "n_positive",
    "levels",
    "narrow_threshold",
    "calibration_score",
    "ece",
    "brier",
    "mean_prediction",
    "std_prediction",
    "mean_actual",
    "source",
    "validation",
    "label_maturity_days",
]


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
    assert cset.n == 100 and cset.n_positive == int(y.sum())
    assert cset.mean_prediction == pytest.approx(p.mean(), abs=1e-15)
    assert cset.std_prediction == pytest.approx(p.std(), abs=1e-15)
    assert cset.mean_actual == pytest.approx(y.mean(), abs=1e-15)


def test_level_with_k_above_n_is_stored_as_quantile_one():
    _, _, cset = _compute(98)  # ceil(99 * 0.99) = 99 > 98
    assert cset.levels["99"] == {"quantile": 1.0, "k": 99}


def test_too_few_outcomes_names_the_count_and_min_samples():
    with pytest.raises(InsufficientOutcomesError, match=r"29 labeled outcomes .* min_samples=30"):
        _compute(29, min_samples=30)


def test_default_levels_and_min_samples_are_the_project_defaults():
    # The documented contract (DESIGN.md section 4): 90/95/99, at least 30 outcomes.
    _, _, cset = _compute(200)
    assert list(cset.levels) == ["90", "95", "99"]
    assert cset.narrow_threshold == 0.2
    with pytest.raises(InsufficientOutcomesError, match="min_samples=30"):
        _compute(29)


# ---------------------------------------------------------------- to_dict / from_dict


def test_to_dict_keys_are_exactly_the_table_columns_a_set_owns():
    _, _, cset = _compute(200)
    values = cset.to_dict()
    assert list(values) == TABLE_COLUMNS
    assert [field.name for field in dataclasses.fields(CalibrationSet)] == TABLE_COLUMNS


def test_to_dict_is_json_ready_with_offset_timestamps():
    _, y, cset = _compute(200)
    values = cset.to_dict()
    assert values["as_of"] == "2025-03-03T00:00:00+00:00"
    assert values["window_start"] == "2025-02-01T00:00:00+00:00"
    assert (values["n"], values["n_positive"]) == (200, int(y.sum()))
    assert json.loads(json.dumps(values, allow_nan=False)) == values


def test_to_dict_returns_copies_that_cannot_change_the_set():
    _, _, cset = _compute(200)
    values = cset.to_dict()
    values["levels"]["90"]["quantile"] = -1.0
    values["validation"]["x"] = 1
    assert cset.levels["90"]["quantile"] != -1.0 and cset.validation == {}


def test_round_trip_through_to_dict_and_json():
    _, _, cset = _compute(200, levels=(90, 95))
    cset = dataclasses.replace(cset, validation={"success": True, "statistics": {"evaluated_expectations": 7}})
    assert CalibrationSet.from_dict(cset.to_dict()) == cset
    assert CalibrationSet.from_dict(json.loads(json.dumps(cset.to_dict()))) == cset


def test_from_dict_takes_a_database_row_as_it_is():
    _, _, cset = _compute(200)
    row = {
        **cset.to_dict(),
        # as the driver returns them: datetimes (in the session's time zone), extra columns
        "as_of": END.astimezone(timezone(timedelta(hours=1))),
        "window_start": START,
        "window_end": END,
        "id": 7,
        "dag_id": "calibrate_fraud_model",
        "run_id": "scheduled__2025-03-02",
        "computed_at": datetime(2025, 3, 3, 0, 5, tzinfo=UTC),
        "created_at": datetime(2025, 3, 3, 0, 5, tzinfo=UTC),
    }
    assert CalibrationSet.from_dict(row) == cset


def test_from_dict_reads_null_metrics_as_nan_and_names_missing_fields():
    _, _, cset = _compute(200)
    values = {**cset.to_dict(), "ece": None, "calibration_score": None}
    restored = CalibrationSet.from_dict(values)
    assert math.isnan(restored.ece) and math.isnan(restored.calibration_score)
    incomplete = {key: value for key, value in cset.to_dict().items() if key not in ("n", "levels")}
    with pytest.raises(KeyError, match="n, levels"):
        CalibrationSet.from_dict(incomplete)


def test_from_dict_refuses_timestamps_without_time_zone():
    _, _, cset = _compute(200)
    with pytest.raises(ValueError, match="no time zone"):
        CalibrationSet.from_dict({**cset.to_dict(), "as_of": "2025-03-03T00:00:00"})


def test_a_set_states_the_tables_constraints():
    _, _, cset = _compute(200)
    with pytest.raises(ValueError, match="must equal window_end"):
        dataclasses.replace(cset, as_of=END - timedelta(hours=1))
    # with a label maturity the window ends before as_of (migration 0007), never after it
    matured = dataclasses.replace(cset, as_of=END + timedelta(days=7), label_maturity_days=7)
    assert (matured.as_of, matured.window_end) == (END + timedelta(days=7), END)
    with pytest.raises(ValueError, match="must not be after as_of"):
        dataclasses.replace(cset, as_of=END - timedelta(days=1), label_maturity_days=7)
    with pytest.raises(ValueError, match="must be before as_of with label_maturity_days=7"):
        dataclasses.replace(cset, label_maturity_days=7)
    with pytest.raises(ValueError, match="label_maturity_days=366 must be in 0..365"):
        dataclasses.replace(cset, as_of=END + timedelta(days=1), label_maturity_days=366)
    with pytest.raises(ValueError, match="must be after window_start"):
        dataclasses.replace(cset, window_start=END, as_of=END)
    with pytest.raises(ValueError, match="n_positive=201"):
        dataclasses.replace(cset, n_positive=201)


# ---------------------------------------------------------------- the payload


def _record(**changes):
    """A row of fraudcal.calibration_sets written out by hand (dyadic numbers: exact in JSON)."""
    return {
        "id": 7,
        "model_type": "fraud_detector",
        "model_version": "v1",
        "method": "residual",
        "as_of": END,
        "window_start": START,
        "window_end": END,
        "n": 200,
        "n_positive": 6,
        "levels": {
            "99": {"quantile": 0.5, "k": 199},
            "90": {"quantile": 0.125, "k": 181},
            "95": {"quantile": 0.25, "k": 191},
        },
        "narrow_threshold": 0.2,
        "calibration_score": 0.96875,
        "ece": 0.03125,
        "brier": 0.0625,
        "mean_prediction": 0.03125,
        "std_prediction": 0.0625,
        "mean_actual": 0.03,
        "source": "fraud_log",
        "validation": {"success": True},
        "dag_id": "calibrate_fraud_model",
        "run_id": "r",
        "computed_at": datetime(2025, 3, 3, 0, 5, 1, 250, tzinfo=UTC),
        "created_at": datetime(2025, 3, 3, 0, 5, 1, 250, tzinfo=UTC),
        **changes,
    }


def test_payload_is_the_layout_of_design_3_3_byte_for_byte():
    payload = calibration_payload(_record())
    expected = (
        '{"as_of":"2025-03-03T00:00:00Z","brier":0.0625,"calibration_score":0.96875,"calibration_set_id":7,'
        '"computed_at":"2025-03-03T00:05:01.000250Z","ece":0.03125,'
        '"levels":{"90":{"k":181,"quantile":0.125},"95":{"k":191,"quantile":0.25},"99":{"k":199,"quantile":0.5}},'
        '"method":"residual","model_type":"fraud_detector","model_version":"v1","n":200,"n_positive":6,'
        '"narrow_threshold":0.2,"run_id":"r","schema_version":1,"source":"fraud_log",'
        '"window_end":"2025-03-03T00:00:00Z","window_start":"2025-02-01T00:00:00Z"}'
    )
    assert json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False) == expected
    assert list(payload["levels"]) == ["90", "95", "99"]  # numeric order, whatever the stored order


def test_payload_timestamps_are_fixed_width_utc_from_any_offset_or_string():
    payload = calibration_payload(
        _record(
            as_of=datetime(2025, 3, 3, 1, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=1))),
            window_end="2025-03-03T00:00:00.999999+00:00",
            computed_at="2025-03-03T01:05:01+01:00",
        )
    )
    assert payload["as_of"] == payload["window_end"] == "2025-03-03T00:00:00Z"
    assert payload["computed_at"] == "2025-03-03T00:05:01Z"


def test_payload_turns_missing_metrics_into_null():
    payload = calibration_payload(_record(ece=None, calibration_score=float("nan")))
    assert payload["ece"] is None and payload["calibration_score"] is None
    json.dumps(payload, allow_nan=False)


def test_a_non_integer_level_goes_through_compute_dict_and_payload():
    p, y, cset = _compute(300, levels=(99.5, 90))
    # k = ceil(301 * 0.995) = ceil(299.495) = 300 <= n, and ceil(301 * 0.9) = 271, exactly.
    assert cset.levels["99.5"]["k"] == math.ceil(Fraction(301) * Fraction(995, 1000)) == 300
    assert cset.levels["90"]["k"] == 271
    assert cset.levels["99.5"]["quantile"] == np.sort(np.abs(p - y))[299]
    stored = CalibrationSet.from_dict(json.loads(json.dumps(cset.to_dict())))  # as through XCom
    payload = calibration_payload({**stored.to_dict(), "id": 1, "computed_at": END, "run_id": "r"})
    assert list(payload["levels"]) == ["90", "99.5"]
    text = json.dumps(payload, allow_nan=False)
    assert json.loads(text)["levels"]["99.5"] == {"quantile": cset.levels["99.5"]["quantile"], "k": 300}


def test_levels_sort_by_exact_value_not_by_text():
    levels = {"99.9": {"quantile": 0.75, "k": 3}, "99": {"quantile": 0.5, "k": 2}, "9.5": {"quantile": 0.0625, "k": 1}}
    payload = calibration_payload(_record(levels=levels))
    assert list(payload["levels"]) == ["9.5", "99", "99.9"]  # as text "9.5" > "99" would not hold


def test_timestamps_without_time_zone_are_refused():
    with pytest.raises(ValueError, match="no time zone"):
        utc_timestamp(datetime(2025, 1, 1))
