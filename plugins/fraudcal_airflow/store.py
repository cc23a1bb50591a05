"""PostgreSQL side of fraudcal: numbered migrations and the calibration-set table.

Migrations are the files ``include/sql/migrations/<group>/NNNN_name.sql``, applied in name
order, each in its own transaction together with its row in ``fraudcal.schema_migrations``,
under an advisory lock so that two runs starting together cannot both apply one. Group
``fraudcal`` is the schema this project owns (applied by the DAGs too); group ``dev`` mirrors
the application's prediction logs for local runs and tests (``make schema`` only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fraudcal_airflow.paths import SQL_DIR
from fraudcal_airflow.sql import load_sql

if TYPE_CHECKING:
    import psycopg

    from fraudcal.calibration_set import CalibrationSet

OWNED_MIGRATIONS = "fraudcal"
DEV_MIGRATIONS = "dev"


def migration_names(group: str) -> list[str]:
    """Return the migrations of ``group`` in the order they apply (``"fraudcal/0001_..."``)."""
    folder = SQL_DIR / "migrations" / group
    return [f"{group}/{path.stem}" for path in sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql"))]


def apply_migrations(conn: psycopg.Connection, groups: tuple[str, ...] = (OWNED_MIGRATIONS,)) -> list[str]:
    """Apply the migrations of ``groups`` not yet applied; return the names applied now."""
    applied_now: list[str] = []
    with conn.cursor() as cur:
        with conn.transaction():
            cur.execute(load_sql("migrations/create_migrations_table"))
        for group in groups:
            for name in migration_names(group):
                with conn.transaction():
                    cur.execute(load_sql("migrations/lock_migrations"))
                    cur.execute(load_sql("migrations/applied_migrations"))
                    if name in {row[0] for row in cur.fetchall()}:
                        continue
                    cur.execute(load_sql(f"migrations/{name}"))
                    cur.execute(load_sql("migrations/record_migration"), {"name": name})
                    applied_now.append(name)
    return applied_now


def record_calibration_set(
    conn: psycopg.Connection, calibration_set: CalibrationSet, *, dag_id: str | None, run_id: str | None
) -> dict[str, Any]:
    """Upsert one calibration set in one transaction and return the stored row.

    When an identical set is already stored (a re-run of the same date over the same data),
    the row is left exactly as it is, ``run_id`` and ``computed_at`` included.
    """
    from psycopg.rows import dict_row
    from psycopg.types.json import Jsonb

    statistics = calibration_set.statistics
    values = {
        "model_type": calibration_set.model_type,
        "model_version": calibration_set.model_version,
        "method": calibration_set.method,
        "as_of": calibration_set.as_of,
        "window_start": calibration_set.window_start,
        "window_end": calibration_set.window_end,
        "n": statistics.n,
        "n_positive": statistics.n_positive,
        "levels": Jsonb(calibration_set.levels),
        "narrow_threshold": calibration_set.narrow_threshold,
        "calibration_score": calibration_set.calibration_score,
        "ece": calibration_set.ece,
        "brier": calibration_set.brier,
        "mean_prediction": statistics.mean_prediction,
        "std_prediction": statistics.std_prediction,
        "mean_actual": statistics.mean_actual,
        "source": calibration_set.source,
        "validation": Jsonb(calibration_set.validation),
        "dag_id": dag_id,
        "run_id": run_id,
    }
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(load_sql("calibration/upsert_calibration_set"), values)
        row = cur.fetchone()
        if row is None:  # identical set already stored: nothing was written
            cur.execute(load_sql("calibration/calibration_set_by_key"), values)
            row = cur.fetchone()
    return dict(row)
