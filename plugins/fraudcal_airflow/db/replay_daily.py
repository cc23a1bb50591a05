"""The table ``fraudcal.replay_daily``: what each method would have done, day by day, per run.

One row per (run, model version, day, method configuration, class), the numbers of
:func:`fraudcal.replay.replay`. A run writes all its rows in one transaction that first removes
the rows of the same ``run_id``: a re-run replaces its own rows and never touches another run's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from fraudcal.replay import COUNT_COLUMNS
from fraudcal_airflow.db.sql import load_sql

if TYPE_CHECKING:
    import pandas as pd
    import psycopg

#: The columns ``replay/copy_replay_daily`` writes, in its order.
COLUMNS = (
    "dag_id",
    "run_id",
    "model_type",
    "model_version",
    "day",
    "config",
    "method",
    "options",
    "class",
    "level",
    "window_days",
    "label_maturity_days",
    *COUNT_COLUMNS,
    "quantile",
    "window_n",
    "alpha",
    "saturated",
    "too_few_frauds",
    "ticket_threshold",
    "clear_threshold",
    "ece_raw",
    "ece_p",
)
#: Integer columns as read back (nullable: ``covered`` and the set counts are NULL for Venn-Abers).
INTEGER_COLUMNS = (
    "level",
    "window_days",
    "label_maturity_days",
    *COUNT_COLUMNS,
    "window_n",
)
FLOAT_COLUMNS = ("quantile", "alpha", "ticket_threshold", "clear_threshold", "ece_raw", "ece_p")
BOOLEAN_COLUMNS = ("saturated", "too_few_frauds")


def database_value(value: Any) -> Any:
    """A value as the table stores it: NaN, pandas NA and None as NULL, numpy scalars as Python values."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover - pandas is a runtime requirement
        pass
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def replace_run_rows(conn: psycopg.Connection, run_id: str, rows: Iterable[Sequence[Any]]) -> int:
    """Replace every row of ``run_id`` with ``rows`` (tuples in :data:`COLUMNS` order), in one transaction.

    Returns the number of rows written. A failure leaves the run's previous rows as they were.
    """
    from psycopg.types.json import Jsonb

    options = COLUMNS.index("options")
    written = 0
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(load_sql("replay/delete_run_rows"), {"run_id": run_id})
        with cur.copy(load_sql("replay/copy_replay_daily")) as copy:
            for row in rows:
                values = [database_value(value) for value in row]
                values[options] = Jsonb(values[options] or {})
                copy.write_row(values)
                written += 1
    return written


def rows_of_run(conn: psycopg.Connection, run_id: str, model_type: str, configs: Sequence[str]) -> pd.DataFrame:
    """The rows of one run, typed as :func:`fraudcal.replay.replay` returns them (plus ``model_version``).

    ``day`` holds the date (``datetime.date``) and ``date`` its ISO text; rows come per version,
    day, configuration (in the order of ``configs``) and class (fraud first).
    """
    import pandas as pd
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        records = cur.execute(
            load_sql("replay/rows_of_run"), {"run_id": run_id, "model_type": model_type, "configs": list(configs)}
        ).fetchall()
    conn.commit()
    frame = pd.DataFrame.from_records(records, columns=[column for column in COLUMNS if column not in _RUN_KEY])
    frame.insert(2, "date", frame["day"].map(lambda day: day.isoformat()))
    for name in INTEGER_COLUMNS:
        frame[name] = frame[name].astype("Int64")
    for name in FLOAT_COLUMNS:
        frame[name] = pd.to_numeric(frame[name], errors="raise").astype("float64")
    for name in BOOLEAN_COLUMNS:
        frame[name] = frame[name].astype("boolean")
    return frame


_RUN_KEY = ("dag_id", "run_id", "model_type")
