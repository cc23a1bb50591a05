"""``backfill_prediction_intervals`` (and the daily repair) on real PostgreSQL.

The reference for every filled row is an as-of join written independently in SQL (the newest
set per version with ``as_of <= predicted_at`` found with ``max()``, not the DAG's LATERAL
``ORDER BY ... LIMIT 1``), compared row for row.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from fraudcal_dev.dagtest import load_dag, run_dag, task_states, xcom_values
from tests.integration.history import load_history

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "backfill_prediction_intervals"
RANGE = {"date_from": "2025-01-10", "date_to": "2025-02-28"}

REFERENCE = """
WITH in_force AS (
    SELECT p.id, max(cs.as_of) AS as_of
      FROM noc_fraud_prediction_log AS p
      JOIN fraudcal.calibration_sets AS cs
        ON cs.model_type = p.model_type AND cs.model_version = p.model_version
       AND cs.method = 'residual' AND cs.as_of <= p.predicted_at
     WHERE p.predicted_at >= '2025-01-10' AND p.predicted_at < '2025-03-01'
     GROUP BY p.id)
SELECT p.id,
       greatest(0, p.fraud_probability - (cs.levels -> %(level)s ->> 'quantile')::float8),
       least(1, p.fraud_probability + (cs.levels -> %(level)s ->> 'quantile')::float8),
       cs.calibration_score
  FROM noc_fraud_prediction_log AS p
  JOIN in_force USING (id)
  JOIN fraudcal.calibration_sets AS cs
    ON cs.model_type = p.model_type AND cs.model_version = p.model_version
   AND cs.method = 'residual' AND cs.as_of = in_force.as_of
 ORDER BY p.id
"""


def reference(pg, level: str = "90") -> dict[int, tuple]:
    return {row[0]: (row[1], row[2], row[2] - row[1], row[3]) for row in pg.execute(REFERENCE, {"level": level})}


def stored(pg) -> dict[int, tuple]:
    rows = pg.execute(
        "SELECT id, prediction_lower_bound, prediction_upper_bound, confidence_interval_width, calibration_score "
        "FROM noc_fraud_prediction_log WHERE prediction_lower_bound IS NOT NULL ORDER BY id"
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def other_columns_checksum(pg) -> str:
    return pg.execute(
        "SELECT md5(string_agg(concat_ws('|', id, person_id, site_id, model_type, model_version, predicted_at, "
        "fraud_probability, risk_level, actual_fraud_detected), ',' ORDER BY id)) FROM noc_fraud_prediction_log"
    ).fetchone()[0]


def clear_intervals(pg) -> None:
    pg.execute(
        "UPDATE noc_fraud_prediction_log SET prediction_lower_bound = NULL, prediction_upper_bound = NULL, "
        "confidence_interval_width = NULL, calibration_score = NULL"
    )


@pytest.fixture(scope="module")
def history(db_url):
    """The synthetic log plus one calibration set per day and version from day 20 on."""
    return load_history(db_url)


@pytest.fixture
def log_without_intervals(history, db_url, airflow_db):
    with psycopg.connect(db_url, autocommit=True) as conn:
        clear_intervals(conn)
        yield conn


def test_backfill_fills_each_row_from_the_set_in_force_when_it_was_made(log_without_intervals):
    pg = log_without_intervals
    before = other_columns_checksum(pg)
    dag_run = run_dag(DAG_ID, "2025-03-05", RANGE)
    assert dag_run.state == "success", task_states(dag_run)
    expected = reference(pg)
    assert len(expected) > 10_000
    assert stored(pg) == expected
    assert other_columns_checksum(pg) == before  # only the four interval columns were written
    summary = xcom_values(dag_run, "verify")[0]
    assert summary["rows_written"] == len(expected)
    assert summary["sample"]["sampled"] == 1000 and summary["sample"]["mismatch_count"] == 0
    no_set_before = pg.execute(
        "SELECT count(*) FROM noc_fraud_prediction_log p WHERE predicted_at >= '2025-01-10' AND predicted_at < '2025-03-01' "
        "AND predicted_at < (SELECT min(as_of) FROM fraudcal.calibration_sets c WHERE c.model_version = p.model_version)"
    ).fetchone()[0]
    assert summary["unfilled"] == {"no calibration set before this prediction": no_set_before}
    outside = pg.execute(
        "SELECT count(*) FROM noc_fraud_prediction_log WHERE prediction_lower_bound IS NOT NULL "
        "AND NOT (predicted_at >= '2025-01-10' AND predicted_at < '2025-03-01')"
    ).fetchone()[0]
    assert outside == 0


def test_no_row_gets_a_set_whose_window_contains_it(log_without_intervals):
    pg = log_without_intervals
    assert run_dag(DAG_ID, "2025-03-05", RANGE).state == "success"
    # A set used for a row must have as_of <= predicted_at: its window [as_of - 30d, as_of) ends before the row.
    # Cross-check with a deliberately wrong rule: the set with the smallest as_of > predicted_at (whose window
    # contains the row) must give different values for most rows, so the test would notice that mistake.
    leaking = pg.execute(
        """SELECT count(*) FILTER (WHERE p.prediction_lower_bound = greatest(0, p.fraud_probability
                  - (cs.levels -> '90' ->> 'quantile')::float8)), count(*)
             FROM noc_fraud_prediction_log p
             JOIN LATERAL (SELECT levels FROM fraudcal.calibration_sets c
                            WHERE c.model_version = p.model_version AND c.as_of > p.predicted_at
                            ORDER BY c.as_of LIMIT 1) cs ON true
            WHERE p.prediction_lower_bound IS NOT NULL AND p.fraud_probability > 0.2"""
    ).fetchone()
    assert leaking[1] > 100 and leaking[0] < 0.2 * leaking[1]


def test_dry_run_counts_and_writes_nothing(log_without_intervals):
    pg = log_without_intervals
    dag_run = run_dag(DAG_ID, "2025-03-05", {**RANGE, "dry_run": True})
    assert dag_run.state == "success", task_states(dag_run)
    assert stored(pg) == {}
    summary = xcom_values(dag_run, "verify")[0]
    assert summary["rows_written"] == 0 and summary["dry_run"] is True
    assert (
        summary["rows_considered"]
        == pg.execute(
            "SELECT count(*) FROM noc_fraud_prediction_log WHERE predicted_at >= '2025-01-10' AND predicted_at < '2025-03-01'"
        ).fetchone()[0]
    )


@pytest.mark.parametrize("overwrite", [False, True])
def test_rerunning_a_finished_backfill_changes_zero_rows(log_without_intervals, overwrite):
    pg = log_without_intervals
    assert run_dag(DAG_ID, "2025-03-05", {**RANGE, "chunk_size": 5000}).state == "success"
    before = stored(pg)
    again = run_dag(DAG_ID, "2025-03-05", {**RANGE, "chunk_size": 5000, "overwrite": overwrite})
    assert again.state == "success", task_states(again)
    assert sum(xcom_values(again, "apply_chunk")) == 0
    assert stored(pg) == before


def test_coverage_level_and_version_selection(log_without_intervals):
    pg = log_without_intervals
    dag_run = run_dag(DAG_ID, "2025-03-05", {**RANGE, "coverage_level": 95, "model_versions": ["v2"]})
    assert dag_run.state == "success", task_states(dag_run)
    expected = {
        row_id: values
        for row_id, values in reference(pg, "95").items()
        if pg.execute("SELECT model_version FROM noc_fraud_prediction_log WHERE id = %s", (row_id,)).fetchone()[0]
        == "v2"
    }
    assert stored(pg) == expected


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"date_from": "2025-02-10", "date_to": "2025-02-01"}, "date_from=2025-02-10 is after date_to=2025-02-01"),
        ({"model_versions": ["v9"]}, "unknown model_version(s) ['v9']"),
    ],
)
def test_bad_params_fail_the_plan_and_write_nothing(log_without_intervals, capfd, conf, message):
    pg = log_without_intervals
    dag_run = run_dag(DAG_ID, "2025-03-05", {**RANGE, **conf})
    assert dag_run.state == "failed"
    assert task_states(dag_run)["plan"] == "failed"
    assert message in "".join(capfd.readouterr())
    assert stored(pg) == {}


@pytest.mark.parametrize(
    ("conf", "param"),
    [
        ({"chunk_size": 10}, "chunk_size"),
        ({"date_from": "2025-02-30"}, "date_from"),
        ({"date_to": "31/01/2025"}, "date_to"),
        ({"coverage_level": 80}, "coverage_level"),
    ],
)
def test_invalid_params_are_refused_before_a_run(airflow_db, conf, param):
    import pendulum
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=param):
        load_dag(DAG_ID).test(logical_date=pendulum.datetime(2025, 3, 5, tz="UTC"), run_conf={**RANGE, **conf})


# ----------------------------------------------------------------------------- faults

KILLABLE_WORKER = r"""
import sys, psycopg
from fraudcal_airflow.db import intervals
request = intervals.BackfillRequest.from_dict(__import__("json").loads(sys.argv[2]))
with psycopg.connect(sys.argv[1], application_name="fraudcal-killable-worker") as conn:
    chunks, _ = intervals.plan_chunks(conn, request)
    for chunk in chunks:
        intervals.apply_chunk(conn, request, chunk)
        print("chunk done", flush=True)
"""


def test_worker_killed_mid_chunk_then_retriggered_ends_equal_to_an_uninterrupted_run(log_without_intervals, db_url):
    pg = log_without_intervals
    assert run_dag(DAG_ID, "2025-03-05", RANGE).state == "success"
    uninterrupted = stored(pg)
    clear_intervals(pg)

    from fraudcal_airflow.dates import parse_date_range
    from fraudcal_airflow.db.intervals import BackfillRequest

    time_from, time_to = parse_date_range(RANGE["date_from"], RANGE["date_to"])
    request = BackfillRequest("fraud_log", "fraud_detector", ("v1", "v2"), time_from, time_to, chunk_size=1500)
    # Hold a lock on a row of a chunk well inside the range, so that the worker is certainly
    # in the middle of that chunk's UPDATE (waiting on the row) when it is killed.
    blocked_id = pg.execute(
        "SELECT id FROM noc_fraud_prediction_log WHERE predicted_at >= '2025-02-01' ORDER BY id LIMIT 1"
    ).fetchone()[0]
    blocker = psycopg.connect(db_url)
    blocker.execute("SELECT 1 FROM noc_fraud_prediction_log WHERE id = %s FOR UPDATE", (blocked_id,))
    worker = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_WORKER, db_url, json.dumps(request.as_dict())],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        waiting = pg.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fraudcal-killable-worker' "
            "AND wait_event_type = 'Lock'"
        ).fetchone()[0]
        if waiting:
            break
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    blocker.rollback()
    blocker.close()
    assert waiting, "the worker never reached the locked row"
    while pg.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fraudcal-killable-worker'"
    ).fetchone()[0]:
        time.sleep(0.05)
    partial = stored(pg)
    assert 0 < len(partial) < len(uninterrupted)  # committed chunks stay, the killed one rolled back
    assert all(uninterrupted[row_id] == values for row_id, values in partial.items())

    resumed = run_dag(DAG_ID, "2025-03-05", RANGE)
    assert resumed.state == "success", task_states(resumed)
    assert sum(xcom_values(resumed, "apply_chunk")) == len(uninterrupted) - len(partial)
    assert stored(pg) == uninterrupted


def test_dropped_database_connection_makes_the_chunk_retry_and_complete(log_without_intervals, db_url):
    """A row lock held by the test keeps the chunk's UPDATE waiting; while it waits, its
    backend is terminated (as a failover or a network cut would). The task fails, Airflow
    retries it, and the run completes with the right values."""
    pg = log_without_intervals
    dag = load_dag(DAG_ID)
    apply_task = dag.get_task("apply_chunk")
    saved = (apply_task.retry_delay, apply_task.retry_exponential_backoff)
    apply_task.retry_delay, apply_task.retry_exponential_backoff = timedelta(seconds=1), False
    first_id = pg.execute("SELECT min(id) FROM noc_fraud_prediction_log WHERE predicted_at >= '2025-02-01'").fetchone()[
        0
    ]
    blocker = psycopg.connect(db_url)
    blocker.execute("SELECT 1 FROM noc_fraud_prediction_log WHERE id = %s FOR UPDATE", (first_id,))
    terminated = []

    def terminate_the_waiting_chunk():
        deadline = time.monotonic() + 60
        with psycopg.connect(db_url, autocommit=True) as killer:
            while time.monotonic() < deadline and not terminated:
                pids = [
                    row[0]
                    for row in killer.execute(
                        # in this test database only the chunk's UPDATE can be waiting on a row lock
                        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                ]
                for pid in pids:
                    killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    terminated.append(pid)
                time.sleep(0.02)
        blocker.rollback()

    killer_thread = threading.Thread(target=terminate_the_waiting_chunk)
    killer_thread.start()
    try:
        dag_run = run_dag(DAG_ID, "2025-03-05", RANGE)
    finally:
        killer_thread.join()
        blocker.close()
        apply_task.retry_delay, apply_task.retry_exponential_backoff = saved
    assert terminated, "the chunk never waited on the lock"
    assert dag_run.state == "success", task_states(dag_run)
    tries = [ti.try_number for ti in dag_run.get_task_instances() if ti.task_id == "apply_chunk"]
    assert max(tries) >= 2
    assert stored(pg) == reference(pg)


CONCURRENT_WRITER = r"""
import json, random, sys, time, psycopg
from datetime import datetime, timezone
url, seconds = sys.argv[1], float(sys.argv[2])
ids = json.loads(open(sys.argv[3]).read())
rng = random.Random(7)
labels, inserted, errors = {}, 0, []
stop = time.monotonic() + seconds
with psycopg.connect(url, application_name="fraudcal-writer") as conn:
    while time.monotonic() < stop:
        try:
            with conn.transaction():
                # an investigator tool: a batch of labels in random order, locks held a few ms
                batch = rng.sample(ids, 25)
                for row_id in batch:
                    value = rng.random() < 0.5
                    conn.execute("UPDATE noc_fraud_prediction_log SET actual_fraud_detected = %s WHERE id = %s", (value, row_id))
                    labels[row_id] = value
                time.sleep(0.005)
            with conn.transaction():
                # the online service: new predictions inside the backfilled range, bounds NULL
                for _ in range(20):
                    conn.execute(
                        "INSERT INTO noc_fraud_prediction_log (model_type, model_version, predicted_at, fraud_probability, risk_level) "
                        "VALUES ('fraud_detector', 'v1', '2025-02-15T12:00:00Z', 0.42, 'MEDIUM')")
                inserted += 20
        except Exception as error:  # noqa: BLE001
            errors.append(repr(error))
print(json.dumps({"labels": {str(k): v for k, v in labels.items()}, "inserted": inserted, "errors": errors}))
"""


def test_concurrent_writers_lose_nothing_and_never_deadlock(log_without_intervals, db_url, tmp_path):
    pg = log_without_intervals
    rows_before = pg.execute("SELECT count(*) FROM noc_fraud_prediction_log").fetchone()[0]
    ids = [
        row[0]
        for row in pg.execute(
            "SELECT id FROM noc_fraud_prediction_log WHERE predicted_at >= '2025-01-21' AND predicted_at < '2025-03-01'"
        )
    ]
    (tmp_path / "ids.json").write_text(json.dumps(ids))
    writer = subprocess.Popen(
        [sys.executable, "-c", CONCURRENT_WRITER, db_url, "20", str(tmp_path / "ids.json")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    time.sleep(1)
    dag_run = run_dag(DAG_ID, "2025-03-05", {**RANGE, "chunk_size": 2000})
    report = json.loads(writer.communicate(timeout=120)[0])
    assert dag_run.state == "success", task_states(dag_run)
    assert report["errors"] == []  # no deadlock, no lock timeout on the writer's side
    assert report["inserted"] > 0 and len(report["labels"]) > 100
    final_labels = dict(
        pg.execute(
            "SELECT id, actual_fraud_detected FROM noc_fraud_prediction_log WHERE id = ANY(%s)",
            ([int(k) for k in report["labels"]],),
        ).fetchall()
    )
    assert {str(k): v for k, v in final_labels.items()} == report["labels"]  # every label update kept
    assert pg.execute("SELECT count(*) FROM noc_fraud_prediction_log").fetchone()[0] == rows_before + report["inserted"]
    filled = stored(pg)
    expected = reference(pg)
    # Every row the backfill filled has the as-of value; rows inserted after planning may stay NULL.
    assert all(expected[row_id] == values for row_id, values in filled.items())
    original = {row_id: values for row_id, values in expected.items() if row_id <= rows_before}
    assert {row_id: filled.get(row_id) for row_id in original} == original
    pg.execute("DELETE FROM noc_fraud_prediction_log WHERE id > %s", (rows_before,))


# ------------------------------------------------------------------ history and repair


def test_historical_calibration_runs_record_each_day_and_never_replace_the_live_set(
    log_without_intervals, redis_client
):
    pg = log_without_intervals  # keeps the module's calibration sets (the `pg` fixture would empty them)
    assert run_dag("calibrate_fraud_model", "2025-03-01", {"model_versions": ["v1"]}).state == "success"
    live = redis_client.get("fraudcal:calibration:fraud_detector:v1")
    days = ("2025-02-05", "2025-02-06", "2025-02-07")
    pg.execute(
        "DELETE FROM fraudcal.calibration_sets WHERE model_version = 'v1' AND as_of::date = ANY(%s::date[])",
        (list(days),),
    )
    for day in days:  # what `airflow backfill create --from-date 2025-02-05 --to-date 2025-02-07` runs
        dag_run = run_dag("calibrate_fraud_model", day, {"model_versions": ["v1"]})
        assert dag_run.state == "success", task_states(dag_run)
        assert xcom_values(dag_run, "calibrate_version.publish") == ["stale"]
    recorded = pg.execute(
        "SELECT as_of::date::text, dag_id FROM fraudcal.calibration_sets WHERE model_version = 'v1' "
        "AND as_of::date = ANY(%s::date[]) ORDER BY as_of",
        (list(days),),
    ).fetchall()
    assert recorded == [(day, "calibrate_fraud_model") for day in days]
    assert redis_client.get("fraudcal:calibration:fraud_detector:v1") == live


def test_daily_run_repairs_yesterdays_null_intervals_with_the_set_in_force_then(log_without_intervals, redis_client):
    pg = log_without_intervals
    assert run_dag(DAG_ID, "2025-03-05", RANGE).state == "success"
    expected = stored(pg)
    day = "predicted_at >= '2025-02-14' AND predicted_at < '2025-02-15'"
    # The online service could not reach Redis on 2025-02-14: those rows have no interval.
    pg.execute(
        f"UPDATE noc_fraud_prediction_log SET prediction_lower_bound = NULL, prediction_upper_bound = NULL, "
        f"confidence_interval_width = NULL, calibration_score = NULL WHERE {day}"
    )
    nulled = pg.execute(f"SELECT count(*) FROM noc_fraud_prediction_log WHERE {day}").fetchone()[0]
    dag_run = run_dag("calibrate_fraud_model", "2025-02-15")  # data interval [02-14, 02-15)
    assert dag_run.state == "success", task_states(dag_run)
    assert xcom_values(dag_run, "repair_intervals") == [nulled]
    assert stored(pg) == expected  # repaired from the 02-14 set, not from the 02-15 set computed in the run


def test_repair_waits_for_the_days_own_set_and_is_skipped_when_asked(log_without_intervals):
    pg = log_without_intervals
    day = "predicted_at >= '2025-02-14' AND predicted_at < '2025-02-15'"
    removed = pg.execute(
        "DELETE FROM fraudcal.calibration_sets WHERE model_version = 'v2' AND as_of = '2025-02-14' RETURNING *"
    ).fetchall()
    try:
        dag_run = run_dag("calibrate_fraud_model", "2025-02-15", {"model_versions": ["v1", "v2"]})
        assert dag_run.state == "success", task_states(dag_run)
        filled = dict(
            pg.execute(
                f"SELECT model_version, count(prediction_lower_bound) FROM noc_fraud_prediction_log WHERE {day} GROUP BY 1"
            ).fetchall()
        )
        assert filled["v1"] > 0 and filled["v2"] == 0  # v2's 02-14 set is missing: an older one is not used
        clear_intervals(pg)
        skipped = run_dag("calibrate_fraud_model", "2025-02-15", {"repair": False})
        assert xcom_values(skipped, "repair_intervals") == [0]
        assert stored(pg) == {}
    finally:
        columns = [column.name for column in pg.execute("SELECT * FROM fraudcal.calibration_sets LIMIT 0").description]
        for row in removed:
            values = dict(zip(columns, row, strict=True))
            values["levels"] = json.dumps(values["levels"])
            values["validation"] = json.dumps(values["validation"])
            pg.execute(
                f"INSERT INTO fraudcal.calibration_sets ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
                list(values.values()),
            )
