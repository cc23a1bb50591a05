"""The prediction-log registry: every statement composes for every log, and runs on it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from fraudcal.defaults import SUPPORTED_LEVELS
from fraudcal.synthetic import SyntheticConfig, generate_prediction_log
from fraudcal_airflow.db import prediction_log
from fraudcal_airflow.db.sources import DB_SOURCES, PREDICTION_LOGS
from fraudcal_airflow.db.sql import log_statement
from fraudcal_airflow.errors import InputError
from fraudcal_airflow.paths import SQL_DIR
from fraudcal_dev.synthetic_load import load_prediction_log, truncate_prediction_logs

START, END = datetime(2025, 1, 20, tzinfo=UTC), datetime(2025, 2, 19, tzinfo=UTC)
#: Every statement written against the registry's placeholders.
LOG_STATEMENTS = sorted(
    f"{path.parent.name}/{path.stem}"
    for folder in ("prediction_log", "intervals")
    for path in (SQL_DIR / folder).glob("*.sql")
    if "{" in path.read_text()
)


def test_every_log_statement_is_known():
    assert "prediction_log/labeled_outcomes" in LOG_STATEMENTS and "intervals/apply_chunk" in LOG_STATEMENTS


@pytest.mark.parametrize("source", DB_SOURCES)
@pytest.mark.parametrize("name", LOG_STATEMENTS)
def test_each_statement_composes_for_each_log_with_its_own_names(pg, name, source):
    text = log_statement(name, source, SUPPORTED_LEVELS).as_string(pg)
    log = PREDICTION_LOGS[source]
    assert "{" not in text.replace("'{", "") and f'"{log.table}"' in text
    other_tables = {entry.table for entry in PREDICTION_LOGS.values()} - {log.table}
    assert not any(table in text for table in other_tables)


def test_an_unknown_source_is_refused_naming_the_known_ones():
    with pytest.raises(InputError, match=r"source 'csv' is not a prediction log; expected one of \['fraud_log'"):
        log_statement("prediction_log/known_versions", "csv")


@pytest.fixture
def both_logs(pg):
    log = generate_prediction_log(SyntheticConfig(n_events=20_000, days=60))
    truncate_prediction_logs(pg)
    load_prediction_log(pg, log, also_generic=True)
    return log


@pytest.fixture
def copy_conn(db_url):
    import psycopg2

    conn = psycopg2.connect(db_url)
    yield conn
    conn.close()


def test_the_report_rows_read_the_generic_log_as_well(both_logs, pg, copy_conn):
    # Before the registry the report SQL named the fraud log: a prediction_log model could be
    # calibrated but not reported. Both logs hold the same predictions here.
    rows = {
        source: prediction_log.labeled_predictions_in_force(
            copy_conn, prediction_log.VersionPeriod(source, "fraud_detector", "v1", START, END), SUPPORTED_LEVELS
        )
        for source in DB_SOURCES
    }
    fraud, generic = rows["fraud_log"], rows["prediction_log"]
    expected = both_logs[
        (both_logs["model_version"] == "v1")
        & (both_logs["predicted_at"] >= START)
        & (both_logs["predicted_at"] < END)
        & both_logs["actual_fraud_detected"].notna()
    ]
    assert generic["id"].size == fraud["id"].size == len(expected) > 1000
    assert np.array_equal(np.sort(generic["probability"]), np.sort(fraud["probability"]))
    assert int(generic["label"].sum()) == int(fraud["label"].sum()) == int(expected["actual_fraud_detected"].sum())
    assert fraud["high_risk"].any() and not generic["high_risk"].any()  # the generic log has no risk level
    assert all(np.isnan(generic[f"q{level}"]).all() for level in SUPPORTED_LEVELS)  # no set recorded yet
    day = prediction_log.latest_labeled_day(pg, "prediction_log", "fraud_detector", ["v1"])
    assert day == prediction_log.latest_labeled_day(pg, "fraud_log", "fraud_detector", ["v1"]) is not None


def test_unusable_probabilities_are_left_out_and_counted():
    rows = {"id": np.arange(5), "probability": np.array([0.1, np.nan, 1.5, -0.1, 1.0])}
    kept, dropped = prediction_log.without_unusable_probabilities(rows)
    assert dropped == 3 and kept["id"].tolist() == [0, 4]
