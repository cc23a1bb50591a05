"""The table ``fraudcal.aci_state``: where each model version's adaptive (ACI) levels stand.

One current row per (model type, model version, coverage level, ``as_of``) (migration 0008):
the :class:`fraudcal.aci.AciState` a calibration run with that ``as_of`` reached, the matured
prediction days it applied, and the ``mondrian_aci`` set it produced. A run starts from the
newest state with an earlier ``as_of`` (:func:`previous_states`), so a re-run of the same date
reaches the same state and :func:`record_state` writes nothing; other numbers supersede the
current row, which stays, as for calibration sets.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from fraudcal_airflow.db.sql import load_sql

if TYPE_CHECKING:
    import psycopg

#: Columns stored as jsonb.
JSON_COLUMNS = ("state", "applied")


def previous_states(
    conn: psycopg.Connection, model_type: str, model_version: str, as_of: datetime
) -> dict[str, dict[str, Any]]:
    """Per level (``"90"``), the newest current state row of the version with an ``as_of`` before ``as_of``."""
    from psycopg.rows import dict_row

    params = {"model_type": model_type, "model_version": model_version, "as_of": as_of}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(load_sql("aci/previous_states"), params).fetchall()
    conn.commit()
    return {row["level"]: dict(row) for row in rows}


def record_state(conn: psycopg.Connection, values: dict[str, Any]) -> dict[str, Any]:
    """Record one state in one transaction and return the current row of its key.

    ``values`` holds every column of ``include/sql/aci/insert_state.sql`` (``state`` and
    ``applied`` as plain JSON values). An identical current row (a re-run over unchanged data)
    is returned as it is; a different one is superseded by the new row.
    """
    from psycopg.rows import dict_row
    from psycopg.types.json import Jsonb

    bound = {**values, **{column: Jsonb(values[column]) for column in JSON_COLUMNS}}
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        while True:
            current = cur.execute(load_sql("aci/current_state_for_update"), bound).fetchone()
            if current is None:
                inserted = cur.execute(load_sql("aci/insert_state"), bound).fetchone()
                if inserted is not None:
                    return dict(inserted)
                continue  # another run inserted the key meanwhile: compare with its row
            if not current.pop("differs"):
                return dict(current)
            cur.execute(load_sql("aci/supersede_state"), {"id": current["id"]})
            return dict(cur.execute(load_sql("aci/insert_state"), bound).fetchone())
