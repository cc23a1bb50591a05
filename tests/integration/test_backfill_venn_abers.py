"""``backfill_prediction_intervals`` with ``method=venn_abers``: [p0, p1] of the set in force.

The four columns get p0, p1, p1 - p0 and the set's calibration_score. Checked against the
online service's own pure-Python reader of the stored Venn-Abers set (``fraudcal.online``,
bisection over the step functions), an implementation independent of the numpy path the
backfill uses, with the set in force found by SQL.
"""

from __future__ import annotations

import psycopg
import pytest

from fraudcal.defaults import RESIDUAL_METHOD, VENN_ABERS_METHOD
from fraudcal_dev.dagtest import run_dag, task_states, xcom_values
from tests.integration.history import load_history

DAG_ID = "backfill_prediction_intervals"
RANGE = {"date_from": "2025-01-25", "date_to": "2025-02-28"}

IN_FORCE = """
SELECT s.levels, s.calibration_score
  FROM fraudcal.current_calibration_sets AS s
 WHERE s.model_type = 'fraud_detector' AND s.model_version = %(version)s AND s.method = 'venn_abers'
   AND s.as_of <= %(predicted_at)s
 ORDER BY s.as_of DESC
 LIMIT 1
"""


@pytest.fixture(scope="module")
def history_with_venn_abers(db_url):
    return load_history(db_url, methods=(RESIDUAL_METHOD, VENN_ABERS_METHOD))


def test_a_venn_abers_backfill_writes_p0_p1_of_the_set_in_force(history_with_venn_abers, db_url, airflow_db):
    from fraudcal.online import _VennAbersSteps

    with psycopg.connect(db_url, autocommit=True) as pg:
        pg.execute(
            "UPDATE noc_fraud_prediction_log SET prediction_lower_bound = NULL, prediction_upper_bound = NULL, "
            "confidence_interval_width = NULL, calibration_score = NULL"
        )
        dag_run = run_dag(DAG_ID, "2025-03-05", {**RANGE, "method": "venn_abers", "chunk_size": 5000})
        assert dag_run.state == "success", task_states(dag_run)
        summary = xcom_values(dag_run, "verify")[0]
        assert summary["rows_written"] > 10_000 and summary["sample"]["mismatch_count"] == 0
        rows = pg.execute(
            "SELECT model_version, predicted_at, fraud_probability, prediction_lower_bound, prediction_upper_bound, "
            "confidence_interval_width, calibration_score FROM noc_fraud_prediction_log "
            "WHERE prediction_lower_bound IS NOT NULL ORDER BY random() LIMIT 300"
        ).fetchall()
        assert len(rows) == 300
        for version, predicted_at, probability, lower, upper, width, score in rows:
            levels, expected_score = pg.execute(IN_FORCE, {"version": version, "predicted_at": predicted_at}).fetchone()
            expected = _VennAbersSteps(levels).probabilities(probability)
            assert (lower, upper, width, score) == (expected["p0"], expected["p1"], expected["p1"] - expected["p0"], expected_score)
        # a re-run writes nothing: every value is already the set's
        again = run_dag(DAG_ID, "2025-03-05", {**RANGE, "method": "venn_abers", "overwrite": True})
        assert again.state == "success" and xcom_values(again, "verify")[0]["rows_written"] == 0
