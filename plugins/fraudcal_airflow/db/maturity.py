"""The table ``fraudcal.label_snapshots``: how far each prediction day's labels have arrived.

Once a day ``calibrate_fraud_model`` (task ``snapshot_labels``) records, for the snapshot day
of its ``as_of`` (:func:`fraudcal.maturity.snapshot_day_for`: the day before it), one row per
(model version, prediction day) of the model type over the
:data:`fraudcal.defaults.LABEL_SNAPSHOT_HORIZON_DAYS` prediction days up to that day:
predictions, labeled, frauds (migration 0007). The table is append-only: a row is never
rewritten, and a re-run of the day adds nothing. :func:`read_snapshots` gives them back up to a
day, in the form :func:`fraudcal.maturity.arrival_curve` takes, so that ``label_maturity_days =
"auto"`` can read how long labels take to arrive (the calibration, and the replay).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from fraudcal_airflow.db.sql import load_sql, log_statement

if TYPE_CHECKING:
    import pandas as pd
    import psycopg

#: The columns of :func:`read_snapshots`, in order.
SNAPSHOT_COLUMNS = ("model_version", "prediction_day", "snapshot_day", "n_predictions", "n_labeled", "n_fraud")


def snapshot_period(as_of: datetime, horizon_days: int) -> tuple[date, datetime, datetime]:
    """The snapshot day of a run with ``as_of`` and its predictions' period ``[time_from, time_to)``.

    ``time_to`` is the end of the snapshot day (midnight UTC after it), so only predictions
    made before ``as_of``'s date count, and ``time_from`` is ``horizon_days`` days earlier: the
    ``horizon_days`` prediction days up to and including the snapshot day.

    Raises
    ------
    ValueError
        If ``horizon_days`` is not a whole number >= 1, or ``as_of`` has no time zone.

    Examples
    --------
    >>> from datetime import UTC
    >>> day, start, end = snapshot_period(datetime(2025, 3, 2, 6, tzinfo=UTC), 90)
    >>> day.isoformat(), start.isoformat(), end.isoformat()
    ('2025-03-01', '2024-12-02T00:00:00+00:00', '2025-03-02T00:00:00+00:00')
    """
    from fraudcal.maturity import snapshot_day_for
    from fraudcal_airflow.dates import midnight

    if isinstance(horizon_days, bool) or int(horizon_days) != horizon_days or horizon_days < 1:
        raise ValueError(f"horizon_days={horizon_days!r} must be a whole number of days >= 1")
    day = snapshot_day_for(as_of)
    time_to = midnight(day + timedelta(days=1))
    return day, time_to - timedelta(days=int(horizon_days)), time_to


def record_snapshot(conn: psycopg.Connection, source: str, model_type: str, as_of: datetime, horizon_days: int) -> int:
    """Record the label snapshot of ``as_of``'s snapshot day for every version of ``model_type``.

    One ``INSERT ... SELECT ... GROUP BY`` over the prediction log ``source``
    (``include/sql/maturity/record_snapshot.sql``), in one transaction: per version and UTC
    prediction day of :func:`snapshot_period`, ``n_predictions``, ``n_labeled`` (label not
    NULL) and ``n_fraud``, as the log stands now. Rows already recorded for a (version,
    prediction day, snapshot day) are kept as they were.

    Returns
    -------
    int
        Rows written now (0 on a re-run of the same snapshot day).

    Raises
    ------
    InputError
        If ``source`` is not a prediction log of the registry.
    """
    day, time_from, time_to = snapshot_period(as_of, horizon_days)
    statement = log_statement("maturity/record_snapshot", source)
    params = {
        "model_type": model_type,
        "snapshot_day": day,
        "time_from": time_from,
        "time_to": time_to,
        "source": source,
    }
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(statement, params)
        return max(cur.rowcount, 0)


def read_snapshots(
    conn: psycopg.Connection, model_type: str, model_versions: Sequence[str] | None, until_day: date
) -> pd.DataFrame:
    """The label snapshots of ``model_type`` recorded for snapshot days up to ``until_day``.

    Parameters
    ----------
    conn : psycopg.Connection
    model_type : str
    model_versions : sequence of str or None
        The versions to read; None reads every version (an empty sequence reads none).
    until_day : date
        The newest snapshot day to read (inclusive): a run reads no snapshot from its future.

    Returns
    -------
    pandas.DataFrame
        Columns ``model_version`` (str), ``prediction_day`` and ``snapshot_day``
        (``datetime.date``), ``n_predictions``, ``n_labeled``, ``n_fraud`` (int64), ordered by
        version, snapshot day and prediction day; no rows when nothing is recorded. Versions
        pooled, it is what :func:`fraudcal.maturity.arrival_curve` takes.
    """
    import numpy as np
    import pandas as pd

    params = {
        "model_type": model_type,
        "model_versions": None if model_versions is None else list(model_versions),
        "until_day": until_day,
    }
    rows = conn.execute(load_sql("maturity/read_snapshots"), params).fetchall()
    conn.commit()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in SNAPSHOT_COLUMNS]
    frame = {name: list(values) for name, values in zip(SNAPSHOT_COLUMNS, columns, strict=True)}
    return pd.DataFrame(
        {
            "model_version": pd.Series(frame["model_version"], dtype=object),
            "prediction_day": pd.Series(frame["prediction_day"], dtype=object),
            "snapshot_day": pd.Series(frame["snapshot_day"], dtype=object),
            **{name: np.asarray(frame[name], dtype=np.int64) for name in SNAPSHOT_COLUMNS[3:]},
        }
    )
