"""A synthetic prediction log with one calibration set per day, version and method (test data)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta

import psycopg

from fraudcal.calibration_set import compute_calibration_set
from fraudcal.defaults import MONDRIAN_METHOD, RESIDUAL_METHOD, VENN_ABERS_METHOD
from fraudcal.mondrian import compute_mondrian
from fraudcal.synthetic import SyntheticConfig, generate_prediction_log
from fraudcal.venn_abers import fit_venn_abers
from fraudcal_airflow.db.calibration_sets import record_calibration_set
from fraudcal_dev.synthetic_load import load_prediction_log, truncate_prediction_logs

CONFIG = SyntheticConfig(n_events=30_000, days=60)
FIRST_SET_DAY = 20  # sets exist from 2025-01-21 on: earlier predictions have none in force


def method_levels(method: str, probabilities, labels) -> dict:
    """The ``levels`` a calibration run records for ``method`` on one window (the core's numbers)."""
    if method == MONDRIAN_METHOD:
        return compute_mondrian(probabilities, labels).to_dict()["levels"]
    if method == VENN_ABERS_METHOD:
        return fit_venn_abers(probabilities, labels).to_dict()
    raise ValueError(f"no levels of {method!r} here: the residual set is compute_calibration_set's")


def load_history(
    db_url: str,
    config: SyntheticConfig = CONFIG,
    first_set_day: int = FIRST_SET_DAY,
    methods: Sequence[str] = (RESIDUAL_METHOD,),
):
    """Replace the logs with ``config``'s log and record daily sets from ``first_set_day`` on.

    One row per method in ``methods`` for each version and as_of, as ``calibrate_fraud_model``
    records them: every column of the window the same, ``method`` and ``levels`` the method's.
    """
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
                probabilities = window["fraud_probability"].to_numpy()
                labels = window["actual_fraud_detected"].astype(int).to_numpy()
                calibration_set = compute_calibration_set(
                    probabilities,
                    labels,
                    model_type="fraud_detector",
                    model_version=version,
                    window_start=as_of - timedelta(days=30),
                    window_end=as_of,
                )
                for method in methods:
                    recorded = (
                        calibration_set
                        if method == RESIDUAL_METHOD
                        else dataclasses.replace(
                            calibration_set, method=method, levels=method_levels(method, probabilities, labels)
                        )
                    )
                    record_calibration_set(conn, recorded, dag_id="test", run_id=f"set-{day}")
    return log
