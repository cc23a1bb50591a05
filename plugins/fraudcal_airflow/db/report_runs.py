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


def latest_reports(conn: psycopg.Connection) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest coverage report of each (model_type, model_version); {} before the first report."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        if not cur.execute(load_sql("ui/table_exists"), {"table": "fraudcal.report_runs"}).fetchone()["present"]:
            return {}
        rows = cur.execute(load_sql("report/latest_report_per_version")).fetchall()
    conn.commit()
    return {(row["model_type"], row["model_version"]): row for row in rows}


def report_by_id(conn: psycopg.Connection, report_id: int) -> dict[str, Any] | None:
    """One archived report's row (id, report_type, html_path, subject), or None."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(load_sql("report/report_by_id"), {"id": report_id}).fetchone()
    conn.commit()
    return row
