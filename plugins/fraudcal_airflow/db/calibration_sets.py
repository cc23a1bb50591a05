"""The table ``fraudcal.calibration_sets``: record a set, and read the current sets back.

The table is the audit trail of every set recorded (rows are never rewritten: a changed set
supersedes the current row, migration 0004), the fallback when Redis is down, and the as-of
source of backfills and reports, which read the view ``fraudcal.current_calibration_sets``
(DESIGN.md 3.2). Its columns are the fields of :class:`fraudcal.calibration_set.CalibrationSet`
(``to_dict``) plus the run that wrote it, ``superseded_at`` and ``published_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fraudcal_airflow.db.sql import load_sql
from fraudcal_airflow.errors import InputError

if TYPE_CHECKING:
    import psycopg

    from fraudcal.calibration_set import CalibrationSet

#: Columns stored as jsonb.
JSON_COLUMNS = ("levels", "validation")


class OtherSourceError(InputError):
    """A set would replace the current set of its key, which another source computed."""


def record_calibration_set(
    conn: psycopg.Connection,
    calibration_set: CalibrationSet,
    *,
    dag_id: str | None,
    run_id: str | None,
    replace_other_source: bool = False,
) -> dict[str, Any]:
    """Record one calibration set in one transaction and return its current row.

    Rows are never rewritten. When an identical set is already current for the key (a re-run
    of the same date over the same data), nothing is written and that row is returned,
    ``id``, ``run_id`` and ``computed_at`` included. When the numbers differ (late labels), the
    current row is superseded (kept, with ``superseded_at``) and the new set gets a row of its
    own, so the record of every set that was ever live survives.

    Raises
    ------
    OtherSourceError
        When the current row came from another source (e.g. the fraud log, and this set from a
        CSV) and ``replace_other_source`` is off; nothing is written.
    """
    from psycopg.rows import dict_row
    from psycopg.types.json import Jsonb

    values = calibration_set.to_dict()
    values.update({column: Jsonb(values[column]) for column in JSON_COLUMNS}, dag_id=dag_id, run_id=run_id)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        while True:
            current = cur.execute(load_sql("calibration/current_set_for_update"), values).fetchone()
            if current is None:
                inserted = cur.execute(load_sql("calibration/insert_calibration_set"), values).fetchone()
                if inserted is not None:
                    return dict(inserted)
                continue  # another run inserted the key meanwhile: compare with its row
            differs = current.pop("differs")
            if not differs:
                return dict(current)
            if current["source"] != calibration_set.source and not replace_other_source:
                raise OtherSourceError(
                    f"{calibration_set.model_type}/{calibration_set.model_version} as_of "
                    f"{calibration_set.as_of:%Y-%m-%d %H:%M}: the stored set (id {current['id']}, n={current['n']:,}) "
                    f"was computed from source {current['source']!r}; a set from {calibration_set.source!r} "
                    "replaces it only with the Param replace_other_source=true. Nothing was recorded or published."
                )
            cur.execute(load_sql("calibration/supersede_set"), {"id": current["id"]})
            return dict(cur.execute(load_sql("calibration/insert_calibration_set"), values).fetchone())


def mark_published(conn: psycopg.Connection, calibration_set_id: int) -> None:
    """Record that the set is (or was found) live in Redis."""
    with conn.transaction():
        conn.execute(load_sql("calibration/mark_published"), {"id": calibration_set_id})


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


def sets_in_force_during(
    conn: psycopg.Connection,
    model_type: str,
    model_version: str,
    method: str,
    time_from: datetime,
    time_to: datetime,
) -> tuple[Any, list[dict[str, Any]]]:
    """The current sets of one version and method that were in force in ``[time_from, time_to)``.

    Returns
    -------
    as_ofs : ndarray of datetime64[us]
        Their ``as_of`` (UTC), oldest first: the newest set with ``as_of <= time_from`` and
        every later one before ``time_to``.
    levels : list of dict
        Their ``levels`` jsonb (for Venn-Abers, :meth:`fraudcal.venn_abers.VennAbersSet.to_dict`).
    """
    import numpy as np

    rows = conn.execute(
        load_sql("calibration/sets_in_force_during"),
        {
            "model_type": model_type,
            "model_version": model_version,
            "method": method,
            "time_from": time_from,
            "time_to": time_to,
        },
    ).fetchall()
    conn.commit()
    as_ofs = np.array([as_of.astimezone(UTC).replace(tzinfo=None) for as_of, _ in rows], dtype="datetime64[us]")
    return as_ofs, [levels for _, levels in rows]


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


def sets_by_id(conn: psycopg.Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Recorded sets by id (superseded ones included: an id always names the same numbers)."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(load_sql("calibration/sets_by_id"), {"ids": list(ids)}).fetchall()
    conn.commit()
    return {int(row["id"]): row for row in rows}
