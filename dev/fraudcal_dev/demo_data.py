"""The demo's prediction log, shared by ``make demo`` and ``make airflow``.

Both write into the database they are given (synthetic rows, the dev tables), so both refuse a
database that is not scratch (:mod:`fraudcal_dev.scratch`) before touching it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


def ensure_demo_data(db_url: str, events: int, today: datetime) -> str:
    """Apply the schema; fill an empty fraud prediction log with ``events`` synthetic predictions.

    The log covers the 90 days before ``today`` (two model versions, ~3 % fraud, labels arriving
    with a delay). A log that holds rows is used as it is: nothing is ever deleted. Returns a
    sentence saying which of the two happened.

    Raises
    ------
    fraudcal_dev.scratch.NotScratchError
        If the database is neither marked as scratch nor declared so with ``FRAUDCAL_SCRATCH=1``;
        nothing is written.
    """
    import psycopg

    from fraudcal.synthetic import SyntheticConfig, generate_prediction_log
    from fraudcal_airflow.db.sql import load_sql
    from fraudcal_dev.synthetic_load import load_prediction_log

    apply_schema(db_url)
    with psycopg.connect(db_url) as conn:
        existing = conn.execute(load_sql("dev/count_fraud_log_rows")).fetchone()[0]
        if existing:
            return f"prediction log already holds {existing:,} rows: using them (nothing deleted)"
        started = time.perf_counter()
        config = SyntheticConfig(
            n_events=events, start=today - timedelta(days=90), days=90, labels_as_of=datetime.now(UTC)
        )
        log = generate_prediction_log(config)
        load_prediction_log(conn, log, also_generic=True)
        labeled = int(log["actual_fraud_detected"].notna().sum())
        return (
            f"generated and loaded {len(log):,} synthetic predictions ({labeled:,} labeled, "
            f"{log['actual_fraud_detected'].dropna().astype(float).mean():.1%} fraud) in {time.perf_counter() - started:.1f}s"
        )


def apply_schema(db_url: str) -> None:
    """fraudcal's migrations and the dev mirror of the prediction logs, idempotently; scratch only.

    Raises
    ------
    fraudcal_dev.scratch.NotScratchError
        If the database is not scratch; nothing is written.
    """
    import psycopg

    from fraudcal_airflow.db.migrations import DEV_MIGRATIONS, OWNED_MIGRATIONS, apply_migrations
    from fraudcal_dev.scratch import require_scratch_database

    require_scratch_database(db_url)

    with psycopg.connect(db_url) as conn:
        apply_migrations(conn, (OWNED_MIGRATIONS, DEV_MIGRATIONS))
