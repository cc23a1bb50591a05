"""Migrations and the calibration-set upsert on real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import psycopg
import pytest

from fraudcal.calibration_set import compute_calibration_set
from fraudcal_airflow.db.calibration_sets import record_calibration_set
from fraudcal_airflow.db.migrations import OWNED_MIGRATIONS, apply_migrations, migration_names


def _set(seed: int = 0):
    rng = np.random.default_rng(seed)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    return compute_calibration_set(
        p,
        y,
        model_type="fraud_detector",
        model_version="v1",
        window_start=datetime(2024, 12, 1, tzinfo=UTC),
        window_end=datetime(2025, 1, 2, tzinfo=UTC),
    )


def test_migrations_apply_once_and_are_recorded(pg, db_url):
    with psycopg.connect(db_url) as conn:
        assert apply_migrations(conn, (OWNED_MIGRATIONS,)) == []  # the session already applied them
    recorded = {row[0] for row in pg.execute("SELECT name FROM fraudcal.schema_migrations")}
    assert set(migration_names(OWNED_MIGRATIONS)) <= recorded


def test_recording_is_idempotent_and_keeps_run_id_when_nothing_changed(pg, db_url):
    with psycopg.connect(db_url) as conn:
        first = record_calibration_set(conn, _set(), dag_id="d", run_id="run-1")
        again = record_calibration_set(conn, _set(), dag_id="d", run_id="run-2")
    assert again == first  # same id, same computed_at, still run-1
    assert pg.execute("SELECT count(*) FROM fraudcal.calibration_sets").fetchone()[0] == 1


def test_new_numbers_supersede_the_current_row_and_keep_it(pg, db_url):
    with psycopg.connect(db_url) as conn:
        first = record_calibration_set(conn, _set(seed=0), dag_id="d", run_id="run-1")
        changed = record_calibration_set(conn, _set(seed=1), dag_id="d", run_id="run-2")
    assert changed["id"] != first["id"] and changed["run_id"] == "run-2" and changed["levels"] != first["levels"]
    rows = pg.execute(
        "SELECT id, levels, run_id, superseded_at IS NOT NULL FROM fraudcal.calibration_sets ORDER BY id"
    ).fetchall()
    # the first set is still there, with its own numbers, retired; the new one is current
    assert rows == [(first["id"], first["levels"], "run-1", True), (changed["id"], changed["levels"], "run-2", False)]
    current = pg.execute("SELECT id FROM fraudcal.current_calibration_sets").fetchall()
    assert current == [(changed["id"],)]


def test_a_set_from_another_source_never_erases_the_stored_one(pg, db_url):
    from dataclasses import replace

    from fraudcal_airflow.db.calibration_sets import OtherSourceError

    with psycopg.connect(db_url) as conn:
        from_log = record_calibration_set(conn, _set(seed=0), dag_id="d", run_id="log")
        from_csv = replace(_set(seed=1), source="csv")
        with pytest.raises(OtherSourceError, match="computed from source 'fraud_log'.*replace_other_source=true"):
            record_calibration_set(conn, from_csv, dag_id="d", run_id="csv")
        assert pg.execute("SELECT id, run_id FROM fraudcal.calibration_sets").fetchall() == [(from_log["id"], "log")]
        replaced = record_calibration_set(conn, from_csv, dag_id="d", run_id="csv", replace_other_source=True)
    sources = pg.execute(
        "SELECT source, superseded_at IS NOT NULL FROM fraudcal.calibration_sets ORDER BY id"
    ).fetchall()
    assert sources == [("fraud_log", True), ("csv", False)] and replaced["source"] == "csv"


def test_a_set_violating_the_table_rules_is_not_stored(pg, db_url):
    bad = _set()
    object.__setattr__(bad, "window_start", bad.window_end)  # empty window: CHECK constraint
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        record_calibration_set(conn, bad, dag_id="d", run_id="r")
    assert pg.execute("SELECT count(*) FROM fraudcal.calibration_sets").fetchone()[0] == 0


def test_the_health_table_stores_every_supported_level(pg):
    # The drift figures are keyed by fraudcal.defaults.SUPPORTED_LEVELS; the table (migration
    # 0003) has one column per level and figure. A new level needs a migration, and this says so.
    from fraudcal.defaults import DEFAULT_LEVEL, SUPPORTED_LEVELS
    from fraudcal_airflow.db.sql import load_sql

    columns = {
        row[0]
        for row in pg.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'fraudcal' AND table_name = 'model_health_daily'"
        )
    }
    upsert = load_sql("drift/upsert_daily_health")
    for level in SUPPORTED_LEVELS:
        for figure in (f"covered_{level}", f"coverage_{level}", f"coverage_fraud_{level}"):
            assert figure in columns and f"%({figure})s" in upsert, figure
    assert f"mean_width_{DEFAULT_LEVEL}" in columns
