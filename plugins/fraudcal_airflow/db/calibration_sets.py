"""The table ``fraudcal.calibration_sets``: record a set, and read the sets back.

The table is the audit trail of every set computed, the fallback when Redis is down, and
the as-of source of backfills and reports (DESIGN.md 3.2). Its columns are the fields of
:class:`fraudcal.calibration_set.CalibrationSet` (``to_dict``) plus the run that wrote it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fraudcal_airflow.db.sql import load_sql

if TYPE_CHECKING:
    import psycopg

    from fraudcal.calibration_set import CalibrationSet

#: Columns stored as jsonb.
JSON_COLUMNS = ("levels", "validation")


def record_calibration_set(
    conn: psycopg.Connection, calibration_set: CalibrationSet, *, dag_id: str | None, run_id: str | None
) -> dict[str, Any]:
    """Upsert one calibration set in one transaction and return the stored row.

    When an identical set is already stored (a re-run of the same date over the same data),
    the row is left exactly as it is, ``run_id`` and ``computed_at`` included.
    """
    from psycopg.rows import dict_row
    from psycopg.types.json import Jsonb

    values = calibration_set.to_dict()
    values.update({column: Jsonb(values[column]) for column in JSON_COLUMNS}, dag_id=dag_id, run_id=run_id)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(load_sql("calibration/upsert_calibration_set"), values)
        row = cur.fetchone()
        if row is None:  # identical set already stored: nothing was written
            cur.execute(load_sql("calibration/calibration_set_by_key"), values)
            row = cur.fetchone()
    return dict(row)


def sets_of_model(
    conn: psycopg.Connection, model_type: str, method: str
) -> dict[str, tuple[list[datetime], list[dict[str, Any]]]]:
    """All stored sets of a model and method, per version: (as_of list, set list), oldest first."""
    sets: dict[str, tuple[list[datetime], list[dict[str, Any]]]] = {}
    with conn.cursor() as cur:
        for version, as_of, levels, score in cur.execute(
            load_sql("calibration/sets_of_model"), {"model_type": model_type, "method": method}
        ):
            times, entries = sets.setdefault(version, ([], []))
            times.append(as_of)
            entries.append({"levels": levels, "calibration_score": score})
    conn.commit()
    return sets


def versions_with_set_at(
    conn: psycopg.Connection, model_type: str, versions: Sequence[str], method: str, as_of: datetime
) -> list[str]:
    """Versions that have a set of ``method`` with exactly this ``as_of``."""
    rows = conn.execute(
        load_sql("calibration/versions_with_set_at"),
        {"model_type": model_type, "model_versions": list(versions), "method": method, "as_of": as_of},
    ).fetchall()
    conn.commit()
    return [row[0] for row in rows]


def newest_set_ages(
    conn: psycopg.Connection, model_type: str, versions: Sequence[str], method: str, now: datetime
) -> dict[str, float]:
    """Hours since the newest set of each version (versions without a set are absent)."""
    rows = conn.execute(
        load_sql("calibration/newest_set_per_version"),
        {"model_type": model_type, "model_versions": list(versions), "method": method},
    ).fetchall()
    conn.commit()
    return {version: (now - as_of).total_seconds() / 3600 for version, as_of in rows}


def versions_with_sets(conn: psycopg.Connection, method: str) -> list[dict[str, Any]]:
    """Every (model_type, model_version) with a set of ``method``, with its newest ``as_of``."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(load_sql("calibration/versions_with_sets"), {"method": method}).fetchall()
    conn.commit()
    return rows
