"""The Great Expectations suite: each broken rule gives a message naming value and rule."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from fraudcal_airflow.validation import validate_outcomes

START, END = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 3, tzinfo=UTC)


def good_frame(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "probability": np.linspace(0.01, 0.99, n),
            "label": np.r_[np.zeros(n - 4), np.ones(4)],
            "predicted_at": pd.date_range(START, periods=n, freq="h"),
        }
    )


def run(frame: pd.DataFrame, min_samples: int = 30, docs_dir=None):
    return validate_outcomes(
        frame, name="fraud_detector/v1", min_samples=min_samples, window_start=START, window_end=END, docs_dir=docs_dir
    )


def test_good_outcomes_pass_and_data_docs_are_written(tmp_path):
    report = run(good_frame(), docs_dir=tmp_path)
    assert report.success and report.failures == []
    assert report.statistics["evaluated_expectations"] == 7
    assert report.data_docs == tmp_path / "index.html" and report.data_docs.is_file()
    assert list((tmp_path / "validations").rglob("*.html"))


def _broken(column: str, row: int, value) -> pd.DataFrame:
    frame = good_frame()
    frame[column] = frame[column].astype(object) if column != "probability" else frame[column]
    frame.loc[row, column] = value
    if column == "label":
        frame[column] = pd.to_numeric(frame[column])
    return frame


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (
            _broken("probability", 3, 1.5),
            "probability must be in [0, 1]: 1 of 40 rows break it (e.g. id 4: probability=1.5)",
        ),
        (
            _broken("probability", 3, np.nan),
            "probability must not be NULL or NaN: 1 of 40 rows break it (e.g. id 4: probability=nan)",
        ),
        (_broken("label", 3, np.nan), "label must not be NULL: 1 of 40 rows break it (e.g. id 4: label=nan)"),
        (_broken("label", 3, 2), "label must be 0 or 1: 1 of 40 rows break it (e.g. id 4: label=2.0)"),
        (_broken("id", 3, 1), "prediction id must be unique: 2 of 40 rows break it (e.g. id 1; id 1)"),
    ],
    ids=["probability-1.5", "probability-nan", "label-null", "label-2", "duplicate-id"],
)
def test_each_broken_rule_is_named_with_its_value(frame, expected):
    report = run(frame)
    assert not report.success
    assert report.failures == [expected]


def test_too_few_rows_names_the_count_and_min_samples():
    report = run(good_frame(12), min_samples=30)
    assert report.failures == ["row count must be at least min_samples=30: observed 12"]


def test_prediction_outside_the_window_is_named():
    frame = good_frame()
    frame.loc[0, "predicted_at"] = END
    report = run(frame)
    assert len(report.failures) == 1
    assert report.failures[0].startswith(
        "predicted_at must be in the window [2025-03-01T00:00:00+00:00, 2025-03-03T00:00:00+00:00)"
    )
    assert "id 1: predicted_at=2025-03-03 00:00:00+00:00" in report.failures[0]


def test_a_failed_validation_logs_the_error_not_great_expectations_chatter(tmp_path):
    # Found by a new user: the failed validate log was 229 lines, 214 of them GX's import-time
    # INFO lines ("Skipping registering function ...") before the error. Airflow's task logger
    # runs at INFO, as this subprocess does.
    import subprocess
    import sys

    program = (
        "import logging\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from datetime import UTC, datetime\n"
        "import numpy as np, pandas as pd\n"
        "from fraudcal_airflow.validation import validate_outcomes\n"
        "frame = pd.DataFrame({'id': np.arange(50), 'probability': np.r_[np.full(49, 0.5), 1.5],\n"
        "                      'label': np.zeros(50), 'predicted_at': pd.Timestamp('2025-01-05', tz='UTC')})\n"
        "report = validate_outcomes(frame, name='m/v1', min_samples=30, window_start=datetime(2025, 1, 1, tzinfo=UTC),\n"
        "                           window_end=datetime(2025, 1, 10, tzinfo=UTC))\n"
        "print('FAILED:', report.failures[0])\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "FAILED: probability must be in [0, 1]: 1 of 50 rows break it" in output
    assert "Skipping registering function" not in output
    assert len(output.splitlines()) < 15, output
