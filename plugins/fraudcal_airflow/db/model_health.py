"""The table ``fraudcal.model_health_daily``: one row per model version and day."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from fraudcal_airflow.db.sql import load_sql

if TYPE_CHECKING:
    import psycopg


def stored_days(conn: psycopg.Connection, model_type: str, version: str, day_from: date, day_to: date) -> list[dict]:
    """Stored daily rows of ``[day_from, day_to)``, oldest first."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            load_sql("drift/stored_days"),
            {"model_type": model_type, "model_version": version, "day_from": day_from, "day_to": day_to},
        ).fetchall()
    conn.commit()
    return rows


def upsert_day(conn: psycopg.Connection, values: dict[str, Any]) -> None:
    """Record one version's day (a re-run rewrites it: labels arrive late); one transaction."""
    with conn.transaction():
        conn.execute(load_sql("drift/upsert_daily_health"), values)


def recent_coverage(conn: psycopg.Connection, model_type: str, version: str) -> list[dict]:
    """The last 7 stored days' coverage of one version, newest first; [] before the first drift run."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        if not cur.execute(load_sql("ui/table_exists"), {"table": "fraudcal.model_health_daily"}).fetchone()["present"]:
            rows = []
        else:
            rows = cur.execute(
                load_sql("ui/recent_coverage"), {"model_type": model_type, "model_version": version}
            ).fetchall()
    conn.commit()
    return rows
