"""The table ``fraudcal.report_runs``: every rendered report, archived before it is sent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fraudcal_airflow.db.sql import load_sql

if TYPE_CHECKING:
    import psycopg


def upsert_report_run(conn: psycopg.Connection, values: dict[str, Any]) -> int:
    """Insert (or, for a re-run, replace) one report's row in one transaction; return its id.

    ``values`` holds the columns of ``report/upsert_report_run.sql``; ``figures`` as jsonb.
    """
    with conn.transaction():
        report_id = conn.execute(load_sql("report/upsert_report_run"), values).fetchone()[0]
    return int(report_id)


def mark_report_sent(conn: psycopg.Connection, report_id: int) -> None:
    """Record that the SMTP server accepted the report."""
    with conn.transaction():
        conn.execute(load_sql("report/mark_report_sent"), {"id": report_id})
