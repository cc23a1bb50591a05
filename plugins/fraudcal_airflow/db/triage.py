"""The table ``fraudcal.triage_certificates``: certified auto-ticket / auto-clear thresholds.

One current row per (model version, ``as_of``) holds the two certificates of that calibration
window (:meth:`fraudcal.triage.ThresholdCertificate.to_dict`) and whether they took force
(migration 0006). Rows are never rewritten except for an operator's decision: a changed
certificate supersedes the current row. The thresholds in force at time t are those of the
newest row with ``as_of <= t`` whose status is ``in_force`` or ``approved`` (the view
``fraudcal.triage_in_force``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fraudcal_airflow.db.sql import load_sql

if TYPE_CHECKING:
    import psycopg

#: Statuses under which a row's thresholds are in force.
IN_FORCE_STATUSES = ("in_force", "approved")
#: A certified threshold that waits for an operator.
PENDING = "pending_approval"


def record_certificate(conn: psycopg.Connection, values: dict[str, Any]) -> dict[str, Any]:
    """Record one window's triage row in one transaction and return the current row.

    ``values`` holds every column of ``insert_certificate.sql`` (``ticket`` and ``clear`` as
    plain dicts). An identical current row (a re-run over unchanged data) is returned as it
    is, its status and decision included; a different one is superseded by the new row.
    """
    from psycopg.rows import dict_row
    from psycopg.types.json import Jsonb

    bound = {**values, "ticket": Jsonb(values["ticket"]), "clear": Jsonb(values["clear"])}
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        while True:
            current = cur.execute(load_sql("triage/current_certificate_for_update"), bound).fetchone()
            if current is None:
                inserted = cur.execute(load_sql("triage/insert_certificate"), bound).fetchone()
                if inserted is not None:
                    return dict(inserted)
                continue  # another run inserted the key meanwhile: compare with its row
            if not current.pop("differs"):
                return dict(current)
            cur.execute(load_sql("triage/supersede_certificate"), {"id": current["id"]})
            return dict(cur.execute(load_sql("triage/insert_certificate"), bound).fetchone())


def _one(conn: psycopg.Connection, statement: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Run one statement, commit, and return its first row (or None)."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(load_sql(statement), params).fetchone()
    conn.commit()
    return None if row is None else dict(row)


def in_force_before(conn: psycopg.Connection, model_type: str, model_version: str, as_of: datetime) -> dict | None:
    """The row whose thresholds were in force before the window ending at ``as_of`` (or None)."""
    return _one(
        conn, "triage/in_force_before", {"model_type": model_type, "model_version": model_version, "as_of": as_of}
    )


def in_force_at(conn: psycopg.Connection, model_type: str, model_version: str, as_of: datetime) -> dict | None:
    """The row whose thresholds are in force once the window ending at ``as_of`` is recorded (or None)."""
    return _one(conn, "triage/in_force_at", {"model_type": model_type, "model_version": model_version, "as_of": as_of})


def current_at(conn: psycopg.Connection, model_type: str, model_version: str, as_of: datetime) -> dict | None:
    """The current row of the window ending at ``as_of``, whatever its status (or None)."""
    return _one(conn, "triage/current_at", {"model_type": model_type, "model_version": model_version, "as_of": as_of})


def pending_of_run(conn: psycopg.Connection, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """The current rows a run recorded that wait for an operator's approval."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(load_sql("triage/pending_of_run"), {"dag_id": dag_id, "run_id": run_id}).fetchall()
    conn.commit()
    return [dict(row) for row in rows]


def decide(conn: psycopg.Connection, certificate_id: int, *, approved: bool, decided_by: str) -> dict | None:
    """Record an operator's answer; returns the row, or None when it was no longer pending and current."""
    return _one(
        conn,
        "triage/decide_certificate",
        {"id": certificate_id, "status": "approved" if approved else "rejected", "decided_by": decided_by},
    )


def in_force_during(
    conn: psycopg.Connection, model_type: str, model_version: str, time_from: datetime, time_to: datetime
) -> list[dict[str, Any]]:
    """The in-force rows of a version for predictions made in ``[time_from, time_to)``, oldest first.

    Each row: ``as_of`` (naive UTC), ``ticket`` and ``clear`` (certificate dicts), ``confidence``.
    """
    from psycopg.rows import dict_row

    params = {"model_type": model_type, "model_version": model_version, "time_from": time_from, "time_to": time_to}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(load_sql("triage/in_force_during"), params).fetchall()
    conn.commit()
    return [{**row, "as_of": row["as_of"].astimezone(UTC).replace(tzinfo=None)} for row in rows]
