"""A synthetic prediction log with one calibration set per day and version (test data)."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from fraudcal.calibration_set import compute_calibration_set
from fraudcal.synthetic import SyntheticConfig, generate_prediction_log
from fraudcal_airflow.db.calibration_sets import record_calibration_set
from fraudcal_dev.synthetic_load import load_prediction_log, truncate_prediction_logs

CONFIG = SyntheticConfig(n_events=30_000, days=60)
FIRST_SET_DAY = 20  # sets exist from 2025-01-21 on: earlier predictions have none in force


def load_history(db_url: str, config: SyntheticConfig = CONFIG, first_set_day: int = FIRST_SET_DAY):
    """Replace the logs with ``config``'s log and record daily sets from ``first_set_day`` on."""
    log = generate_prediction_log(config)
    with psycopg.connect(db_url) as conn:
        truncate_prediction_logs(conn)
        load_prediction_log(conn, log)
        conn.execute("TRUNCATE fraudcal.calibration_sets RESTART IDENTITY")
        conn.commit()
        labeled = log.dropna(subset=["actual_fraud_detected"])
        for day in range(first_set_day, config.days + 1):
            as_of = config.start + timedelta(days=day)
            for version in ("v1", "v2"):
                window = labeled[
                    (labeled["model_version"] == version)
                    & (labeled["predicted_at"] >= as_of - timedelta(days=30))
                    & (labeled["predicted_at"] < as_of)
                ]
                if len(window) < 30:
                    continue
                calibration_set = compute_calibration_set(
                    window["fraud_probability"].to_numpy(),
                    window["actual_fraud_detected"].astype(int).to_numpy(),
                    model_type="fraud_detector",
                    model_version=version,
                    window_start=as_of - timedelta(days=30),
                    window_end=as_of,
                )
                record_calibration_set(conn, calibration_set, dag_id="test", run_id=f"set-{day}")
    return log
