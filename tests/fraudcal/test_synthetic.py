"""The synthetic prediction log: deterministic, about 3 % fraud, realistic label delay."""

from __future__ import annotations

import pandas as pd
import pytest

from fraudcal.synthetic import SyntheticConfig, generate_prediction_log, with_drift

CONFIG = SyntheticConfig(n_events=40_000, days=60)


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return generate_prediction_log(CONFIG)


def test_same_config_gives_identical_rows(log):
    pd.testing.assert_frame_equal(log, generate_prediction_log(CONFIG))


def test_fraud_rate_is_about_three_percent(log):
    labeled = log["actual_fraud_detected"].dropna().astype(float)
    assert 0.02 <= labeled.mean() <= 0.04  # target 3 %, sampling sd ~ 0.001


def test_old_rows_are_mostly_labeled_and_recent_ones_mostly_not(log):
    age_days = (CONFIG.end - log["predicted_at"]).dt.total_seconds() / 86_400
    labeled = log["actual_fraud_detected"].notna()
    assert labeled[age_days > 30].mean() > 0.99
    assert labeled[age_days < 1].mean() < 0.25


def test_two_versions_several_sites_and_valid_risk_levels(log):
    assert set(log["model_version"]) == {"v1", "v2"}
    assert log["site_id"].nunique() == CONFIG.n_sites
    assert set(log["risk_level"]) <= {"LOW", "MEDIUM", "HIGH", "CRITICAL"}
    assert log["fraud_probability"].between(0, 1).all()
    assert log["predicted_at"].is_monotonic_increasing


def test_model_ranks_fraud_above_legitimate(log):
    labeled = log.dropna(subset=["actual_fraud_detected"])
    fraud = labeled["actual_fraud_detected"].astype(bool)
    assert labeled["fraud_probability"][fraud].mean() > 3 * labeled["fraud_probability"][~fraud].mean()


def test_covariate_shift_moves_scores_after_the_drift_day():
    drifted = generate_prediction_log(with_drift(CONFIG, drift_day=30, covariate_shift=1.5))
    day = (drifted["predicted_at"] - CONFIG.start).dt.days
    before, after = drifted["fraud_probability"][day < 30], drifted["fraud_probability"][day >= 30]
    assert after.mean() > 1.5 * before.mean()
