"""Load a synthetic prediction log (:mod:`fraudcal.synthetic`) into PostgreSQL with COPY.

For demos, tests and benchmarks only: production tables are written by the application.
One CSV COPY per table; a million rows load in a few seconds.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from fraudcal_airflow.db.sql import load_sql

if TYPE_CHECKING:
    import pandas as pd
    import psycopg

FRAUD_LOG_COLUMNS = [
    "person_id",
    "site_id",
    "model_type",
    "model_version",
    "predicted_at",
    "fraud_probability",
    "risk_level",
    "actual_fraud_detected",
]


def _copy_csv(conn: psycopg.Connection, statement: str, frame: pd.DataFrame) -> None:
    text = io.StringIO()
    # repr-exact floats: what is stored must be what the generator produced.
    frame.to_csv(text, header=False, index=False, float_format="%.17g", date_format="%Y-%m-%dT%H:%M:%S.%f%z")
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(text.getvalue())


def load_prediction_log(conn: psycopg.Connection, log: pd.DataFrame, *, also_generic: bool = False) -> int:
    """Append ``log`` to ``noc_fraud_prediction_log`` (and ``ml_prediction_log``), ANALYZE them; commit.

    The ANALYZE gives the planner the new rows' statistics at once, as after any bulk load: a
    server with autovacuum off (or not yet run) would otherwise plan the backfill's UPDATE for
    an empty table, and a freshly created scratch database has no statistics at all.

    Returns
    -------
    int
        Rows written to the fraud log.
    """
    with conn.transaction():
        _copy_csv(conn, load_sql("dev/copy_into_fraud_prediction_log"), log[FRAUD_LOG_COLUMNS])
        conn.execute(load_sql("dev/analyze_prediction_logs"))
        if also_generic:
            generic = log[["model_type", "model_version", "predicted_at", "fraud_probability"]].assign(
                actual_outcome=log["actual_fraud_detected"].astype("Int16")
            )
            _copy_csv(conn, load_sql("dev/copy_into_ml_prediction_log"), generic)
            conn.execute(load_sql("dev/analyze_ml_prediction_log"))
    return len(log)


def truncate_prediction_logs(conn: psycopg.Connection) -> None:
    """Empty both prediction logs (dev and tests only)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(load_sql("dev/truncate_prediction_logs"))
