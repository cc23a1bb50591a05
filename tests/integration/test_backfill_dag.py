"""``backfill_prediction_intervals`` (and the daily repair) on real PostgreSQL.

The reference for every filled row is an as-of join written independently in SQL (the newest
set per version with ``as_of <= predicted_at`` found with ``max()``, not the DAG's
``width_bucket`` binary search), compared row for row.
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
# verify's reasons for a row left unfilled
NO_SET = "no calibration set before this prediction"
AFTER_PLANNING = "inserted after the backfill was planned: left for the next run"
HELD = "held by a concurrent writer through every pass (or committed after its chunk ran): left for the next run"
DRY_RUN = "dry run: would be filled"
# a new prediction inside RANGE that a set is in force for
INSERT_PREDICTION = (
    "INSERT INTO noc_fraud_prediction_log (model_type, model_version, predicted_at, fraud_probability, risk_level) "
    "VALUES ('fraud_detector', 'v1', %s, 0.42, 'MEDIUM') RETURNING id"
)

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


def written(dag_run) -> int:
    return sum(applied["written"] for applied in xcom_values(dag_run, "apply_chunk"))


def no_set_before(pg) -> int:
    return pg.execute(
        "SELECT count(*) FROM noc_fraud_prediction_log p WHERE predicted_at >= '2025-01-10' AND predicted_at < '2025-03-01' "
        "AND predicted_at < (SELECT min(as_of) FROM fraudcal.calibration_sets c WHERE c.model_version = p.model_version)"
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
    assert summary["rows_written"] == len(expected) and summary["rows_left_locked"] == 0
    assert summary["sample"]["sampled"] == 1000 and summary["sample"]["mismatch_count"] == 0
    assert summary["unfilled"] == {NO_SET: no_set_before(pg)}
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
    # what a real run would fill, and what it could not (before: every fillable row was
    # reported as "the set in force has no quantile for this coverage level")
    assert summary["unfilled"] == {NO_SET: no_set_before(pg), DRY_RUN: len(reference(pg))}


@pytest.mark.parametrize("overwrite", [False, True])
def test_rerunning_a_finished_backfill_changes_zero_rows(log_without_intervals, overwrite):
    pg = log_without_intervals
    assert run_dag(DAG_ID, "2025-03-05", {**RANGE, "chunk_size": 5000}).state == "success"
    before = stored(pg)
    again = run_dag(DAG_ID, "2025-03-05", {**RANGE, "chunk_size": 5000, "overwrite": overwrite})
    assert again.state == "success", task_states(again)
    assert written(again) == 0
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
import json, sys, time, psycopg
from fraudcal_airflow.db import intervals

class PausingCursor(psycopg.Cursor):
    # After the statement of the first chunk past id argv[3] has written its rows, before its
    # transaction commits, say so and wait to be killed.
    def execute(self, query, params=None, **kwargs):
        result = super().execute(query, params, **kwargs)
        if isinstance(params, dict) and "id_to" in params and params["id_to"] > int(sys.argv[3]):
            print("PAUSED", json.dumps({"id_from": params["id_from"], "id_to": params["id_to"]}), flush=True)
            time.sleep(120)  # the test kills it long before
        return result

request = intervals.BackfillRequest.from_dict(json.loads(sys.argv[2]))
with psycopg.connect(sys.argv[1], application_name="fraudcal-killable-worker", cursor_factory=PausingCursor) as conn:
    chunks, _ = intervals.plan_chunks(conn, request)
    for chunk in chunks:
        intervals.fill_chunk(conn, request, chunk)
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
    # a chunk well inside the range, after chunks that have sets in force and committed
    pause_at = pg.execute(
        "SELECT id FROM noc_fraud_prediction_log WHERE predicted_at >= '2025-02-01' ORDER BY id LIMIT 1"
    ).fetchone()[0]
    worker = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_WORKER, db_url, json.dumps(request.as_dict()), str(pause_at)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        # The worker stops once that chunk has written its rows, before the chunk commits.
        line = next(line for line in worker.stdout if line.startswith("PAUSED "))
        chunk = json.loads(line.removeprefix("PAUSED "))
        in_chunk = "FROM noc_fraud_prediction_log WHERE id >= %(id_from)s AND id < %(id_to)s"
        rows = pg.execute(f"SELECT count(*) {in_chunk}", chunk).fetchone()[0]
        free = pg.execute(f"SELECT count(*) FROM (SELECT id {in_chunk} FOR UPDATE SKIP LOCKED) AS f", chunk).fetchone()
        state = pg.execute(
            "SELECT state FROM pg_stat_activity WHERE application_name = 'fraudcal-killable-worker' "
            "AND datname = current_database()"
        ).fetchone()[0]
        assert state == "idle in transaction" and rows - free[0] > 100  # its written rows: locked, not committed
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    while pg.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fraudcal-killable-worker' "
        "AND datname = current_database()"
    ).fetchone()[0]:
        time.sleep(0.05)
    partial = stored(pg)
    assert 0 < len(partial) < len(uninterrupted)  # committed chunks stay, the killed one rolled back
    assert not any(chunk["id_from"] <= row_id < chunk["id_to"] for row_id in partial)
    assert all(uninterrupted[row_id] == values for row_id, values in partial.items())

    resumed = run_dag(DAG_ID, "2025-03-05", RANGE)
    assert resumed.state == "success", task_states(resumed)
    assert written(resumed) == len(uninterrupted) - len(partial)
    assert stored(pg) == uninterrupted


def test_dropped_database_connection_makes_the_chunk_retry_and_complete(log_without_intervals, db_url):
    """A SHARE lock the test holds on the log (what a CREATE INDEX takes) keeps the chunk's
    statement waiting for the table (it never waits for a row); while it waits, its backend
    is terminated (as a failover or a network cut would). The task fails, Airflow retries it,
    and the run completes with the right values."""
    pg = log_without_intervals
    dag = load_dag(DAG_ID)
    apply_task = dag.get_task("apply_chunk")
    saved = (apply_task.retry_delay, apply_task.retry_exponential_backoff)
    apply_task.retry_delay, apply_task.retry_exponential_backoff = timedelta(seconds=1), False
    blocker = psycopg.connect(db_url)
    blocker.execute("LOCK TABLE noc_fraud_prediction_log IN SHARE MODE")  # reads pass, writes wait
    terminated = []

    def terminate_the_waiting_chunk():
        deadline = time.monotonic() + 60
        with psycopg.connect(db_url, autocommit=True) as killer:
            while time.monotonic() < deadline and not terminated:
                pids = [
                    row[0]
                    for row in killer.execute(
                        # in this test database only the chunk's statement can be waiting on a lock
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


BUSY_WRITER = r"""
import json, os, random, sys, time, psycopg
url, kind, ids_file, stop_file = sys.argv[1:5]
ids = json.loads(open(ids_file).read())
rng = random.Random(kind)
labels, inserted, errors, commits = {}, [], [], []
give_up = time.monotonic() + 50  # only if the test died: it stops the writer long before
with psycopg.connect(url, application_name=f"fraudcal-{kind}-writer") as conn:
    while not os.path.exists(stop_file) and time.monotonic() < give_up:
        # a batch of labels in random order: the row locks are taken in random order
        batch = rng.sample(ids, 300 if kind == "heavy" else 20)
        values = [(rng.random() < 0.5, row_id) for row_id in batch]
        new = []
        try:
            with conn.transaction(), conn.cursor() as cur:
                started = time.monotonic()
                cur.executemany("UPDATE noc_fraud_prediction_log SET actual_fraud_detected = %s WHERE id = %s", values)
                if kind == "light":  # and the online service's new predictions, bounds NULL
                    for _ in range(2):
                        new.append(cur.execute(
                            "INSERT INTO noc_fraud_prediction_log (model_type, model_version, predicted_at, "
                            "fraud_probability, risk_level) VALUES ('fraud_detector', 'v1', '2025-02-15T12:00:00Z', "
                            "0.42, 'MEDIUM') RETURNING id").fetchone()[0])
                else:
                    time.sleep(max(0.0, 0.05 - (time.monotonic() - started)))  # hold the locks ~50 ms
        except psycopg.Error as error:
            errors.append(repr(error))
            continue
        commits.append(time.time())
        labels.update({str(row_id): value for value, row_id in values})
        inserted += [[row_id, commits[-1]] for row_id in new]
        if len(commits) == 1:
            open(f"{stop_file}.{kind}.ready", "w").close()
        if kind == "light":
            time.sleep(0.1)  # about 7 transactions a second
print(json.dumps({"labels": labels, "inserted": inserted, "errors": errors, "commits": commits}))
"""


@pytest.mark.parametrize("chunk_size", [None, 5000], ids=["default-chunks", "chunks-of-5000"])
def test_busy_writers_neither_starve_nor_deadlock_the_backfill(log_without_intervals, db_url, tmp_path, chunk_size):
    """Two writers run throughout the backfill: a heavy one (300 random labels per transaction,
    locks held ~50 ms, back to back) and a light one (20 labels + 2 inserts per transaction,
    ~7 a second). Before, every chunk waited for their locks and they for the chunk's: the
    chunks failed with LockNotAvailable and the writers got "deadlock detected". The writers
    update disjoint rows (even and odd ids), so that they cannot deadlock each other."""
    pg = log_without_intervals
    original_labels = dict(pg.execute("SELECT id, actual_fraud_detected FROM noc_fraud_prediction_log").fetchall())
    rows_before = pg.execute("SELECT count(*) FROM noc_fraud_prediction_log").fetchone()[0]
    ids = [
        row[0]
        for row in pg.execute(
            "SELECT id FROM noc_fraud_prediction_log WHERE predicted_at >= '2025-01-10' AND predicted_at < '2025-03-01'"
        )
    ]
    stop = tmp_path / "stop"
    writers = {}
    for kind, parity in (("heavy", 0), ("light", 1)):
        (tmp_path / f"{kind}.json").write_text(json.dumps([row_id for row_id in ids if row_id % 2 == parity]))
        writers[kind] = subprocess.Popen(
            [sys.executable, "-c", BUSY_WRITER, db_url, kind, str(tmp_path / f"{kind}.json"), str(stop)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )
    try:
        deadline = time.monotonic() + 30
        while not all((tmp_path / f"stop.{kind}.ready").exists() for kind in writers):
            assert time.monotonic() < deadline, "the writers never committed"
            time.sleep(0.05)
        time.sleep(0.5)
        conf = {**RANGE} if chunk_size is None else {**RANGE, "chunk_size": chunk_size}
        started = time.time()
        dag_run = run_dag(DAG_ID, "2025-03-05", conf, retries=0)  # no Airflow retry: each chunk must succeed at once
        ended = time.time()
        time.sleep(0.5)
    finally:
        stop.touch()
        reports = {kind: json.loads(writer.communicate(timeout=60)[0]) for kind, writer in writers.items()}
    try:
        assert dag_run.state == "success", task_states(dag_run)
        for kind, report in reports.items():
            assert report["errors"] == [], kind  # no deadlock, nothing lost on the writers' side
            assert min(report["commits"]) < started and max(report["commits"]) > ended, kind  # busy throughout
        heavy_during = sum(started <= at <= ended for at in reports["heavy"]["commits"])
        assert heavy_during >= 20, heavy_during
        labels = {**reports["heavy"]["labels"], **reports["light"]["labels"]}
        final = pg.execute(
            "SELECT id, actual_fraud_detected FROM noc_fraud_prediction_log WHERE id = ANY(%s)",
            ([int(k) for k in labels],),
        ).fetchall()
        assert {str(row_id): value for row_id, value in final} == labels  # every label update kept
        inserted = [row_id for row_id, _ in reports["light"]["inserted"]]
        assert len(inserted) > 0
        assert pg.execute("SELECT count(*) FROM noc_fraud_prediction_log").fetchone()[0] == rows_before + len(inserted)

        span = xcom_values(dag_run, "plan")[0]["span"]
        summary = xcom_values(dag_run, "verify")[0]
        expected, filled = reference(pg), stored(pg)
        assert all(expected[row_id] == values for row_id, values in filled.items())  # the as-of values
        # every row that existed at planning is filled, except those writers held through every pass
        held = sorted(row_id for row_id in expected if row_id < span["id_to"] and row_id not in filled)
        assert len(held) == summary["rows_left_locked"] == summary["unfilled"].get(HELD, 0)
        late = [row_id for row_id in inserted if row_id >= span["id_to"]]
        assert late and not any(row_id in filled for row_id in late)
        # verify counts the rows inserted after planning that were there when it looked
        looked = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "verify")
        committed = [at for row_id, at in reports["light"]["inserted"] if row_id >= span["id_to"]]
        seen = summary["unfilled"].pop(AFTER_PLANNING)
        assert sum(at < looked.start_date.timestamp() for at in committed) <= seen
        assert 0 < seen <= sum(at < looked.end_date.timestamp() for at in committed)
        assert summary["unfilled"] == {NO_SET: no_set_before(pg)} | ({HELD: len(held)} if held else {})
        # a second run (overwrite off) fills what was left, and everything is as-of
        again = run_dag(DAG_ID, "2025-03-05", conf, retries=0)
        assert again.state == "success", task_states(again)
        assert written(again) == len(held) + len(late)
        assert stored(pg) == reference(pg)
    finally:
        pg.execute(
            "DELETE FROM noc_fraud_prediction_log WHERE id = ANY(%s)",
            ([row_id for row_id, _ in reports["light"]["inserted"]],),
        )
        with pg.cursor() as cur:
            cur.executemany(
                "UPDATE noc_fraud_prediction_log SET actual_fraud_detected = %s WHERE id = %s",
                [
                    (original_labels[int(row_id)], int(row_id))
                    for report in reports.values()
                    for row_id in report["labels"]
                ],
            )


def test_a_row_held_through_the_run_is_skipped_counted_and_filled_by_the_next_run(log_without_intervals, db_url):
    """A writer holds one row for the whole run. Before, the chunk waited for it, timed out six
    times and failed; now the chunk never waits (nothing in the database waits on a lock during
    the run), fills everything else, and verify counts the one row; the next run fills it."""
    pg = log_without_intervals
    held_id = pg.execute(
        "SELECT id FROM noc_fraud_prediction_log WHERE predicted_at >= '2025-02-01' ORDER BY id LIMIT 1"
    ).fetchone()[0]
    writer = psycopg.connect(db_url)
    writer.execute("UPDATE noc_fraud_prediction_log SET actual_fraud_detected = true WHERE id = %s", (held_id,))
    waits, done = [], threading.Event()

    def watch_lock_waits():
        with psycopg.connect(db_url, autocommit=True) as watcher:
            while not done.is_set():
                waits.extend(
                    watcher.execute(
                        "SELECT pid, query FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()"
                    ).fetchall()
                )
                time.sleep(0.01)

    watcher_thread = threading.Thread(target=watch_lock_waits)
    watcher_thread.start()
    try:
        dag_run = run_dag(DAG_ID, "2025-03-05", {**RANGE, "chunk_size": 5000}, retries=0)
    finally:
        done.set()
        watcher_thread.join()
        writer.rollback()
        writer.close()
    assert dag_run.state == "success", task_states(dag_run)
    assert waits == []
    expected = reference(pg)
    assert stored(pg) == {row_id: values for row_id, values in expected.items() if row_id != held_id}
    summary = xcom_values(dag_run, "verify")[0]
    assert summary["rows_left_locked"] == 1
    assert summary["unfilled"] == {NO_SET: no_set_before(pg), HELD: 1}
    again = run_dag(DAG_ID, "2025-03-05", {**RANGE, "chunk_size": 5000}, retries=0)
    assert written(again) == 1 and stored(pg) == expected


def test_verify_names_rows_inserted_after_planning(log_without_intervals):
    """Rows inserted while a backfill runs were reported as "the set in force has no quantile
    for this coverage level"; they are outside the planned id span, and said to be so."""
    from fraudcal_airflow.steps import backfill

    pg = log_without_intervals
    params = {**load_dag(DAG_ID).params.dump(), **RANGE}

    late: list[int] = []

    def run_steps() -> tuple[dict, list[int], backfill.Verification]:
        planned = backfill.plan(params).as_dict()
        inserted = [
            pg.execute(INSERT_PREDICTION, (at,)).fetchone()[0]
            for at in ("2025-02-15T12:00Z", "2025-02-20T08:00Z", "2025-01-12T00:00Z")  # the last: no set in force
        ]
        late.extend(inserted)
        applied = [backfill.apply_batch(planned["request"], batch).as_dict() for batch in planned["batches"]]
        return planned, inserted, backfill.verify(planned, applied)

    try:
        planned, inserted, first = run_steps()
        assert all(row_id >= planned["span"]["id_to"] for row_id in inserted)
        assert first.unfilled == {NO_SET: no_set_before(pg) - 1, AFTER_PLANNING: 3}
        # the next run fills the two it can, and says why the third stays empty
        _, inserted, second = run_steps()
        assert second.rows_written == 2
        assert second.unfilled == {NO_SET: no_set_before(pg) - 1, AFTER_PLANNING: 3}
        assert stored(pg) == {row_id: values for row_id, values in reference(pg).items() if row_id not in inserted}
    finally:
        pg.execute("DELETE FROM noc_fraud_prediction_log WHERE id = ANY(%s)", (late,))


# ------------------------------------------------------------- more chunks than Airflow maps


def test_batches_stay_under_the_mapping_limit_and_cover_each_id_once():
    from fraudcal_airflow.db.intervals import Chunk, cut_chunks
    from fraudcal_airflow.steps.backfill import MAX_MAPPED_TASKS, chunk_batches

    assert MAX_MAPPED_TASKS <= 1024 // 2  # well under Airflow's default [core] max_map_length
    for span, chunk_size in [
        (Chunk(17, 2_000_017), 1000),  # the case that failed: 2,000 chunks
        (Chunk(1, 102_000_001), 100_000),  # default chunks over a ~102M id span: 1,020 chunks
        (Chunk(5, 256_005), 1000),  # exactly the bound: one chunk per task
        (Chunk(5, 256_006), 1000),  # one chunk more
        (Chunk(10, 12_345), 1000),  # few chunks: one each, as before
        (Chunk(1, 200_000_001), 1000),  # 200,000 chunks
    ]:
        batches = chunk_batches(span, chunk_size)
        assert 1 <= len(batches) <= MAX_MAPPED_TASKS
        chunks = [chunk for batch in batches for chunk in cut_chunks(batch, chunk_size)]
        assert chunks == cut_chunks(span, chunk_size)  # the same chunks as without batching, in order
        assert chunks[0].id_from == span.id_from and chunks[-1].id_to == span.id_to
        assert all(a.id_to == b.id_from for a, b in zip(chunks, chunks[1:], strict=False))  # each id exactly once
        assert all(0 < chunk.id_to - chunk.id_from <= chunk_size for chunk in chunks)
        sizes = [len(cut_chunks(batch, chunk_size)) for batch in batches]
        assert max(sizes[:-1], default=sizes[-1]) == sizes[0] >= sizes[-1]  # as even as the chunk grid allows
        if len(chunks) <= MAX_MAPPED_TASKS:
            assert batches == tuple(chunks)
    assert chunk_batches(None, 1000) == ()
    assert chunk_batches(Chunk(1, 10_001), 1000, max_batches=3) == (
        Chunk(1, 4001),
        Chunk(4001, 8001),
        Chunk(8001, 10_001),
    )


def test_a_backfill_of_more_chunks_than_airflow_can_map(log_without_intervals, monkeypatch):
    """Three rows with ids 400k apart stretch the id span to ~1.2M ids: 1,2xx chunks of 1,000,
    more than Airflow's 1,024 mapped tasks (before, planning failed with
    unmappable_return_value_length). The bound is lowered to 16 mapped tasks here so that the
    run stays short (dag.test runs each task instance in turn); the bound itself is checked
    above."""
    from fraudcal_airflow.steps import backfill

    monkeypatch.setattr(backfill, "MAX_MAPPED_TASKS", 16, raising=False)  # raising=False: so that it runs on old code
    pg = log_without_intervals
    top = pg.execute("SELECT max(id) FROM noc_fraud_prediction_log").fetchone()[0]
    far = [top + 400_000 * step for step in (1, 2, 3)]
    for row_id in far:
        pg.execute(
            "INSERT INTO noc_fraud_prediction_log (id, model_type, model_version, predicted_at, fraud_probability, "
            "risk_level) VALUES (%s, 'fraud_detector', 'v2', '2025-02-20T10:00Z', 0.7, 'HIGH')",
            (row_id,),
        )
    try:
        dag_run = run_dag(DAG_ID, "2025-03-05", {**RANGE, "chunk_size": 1000})
        assert dag_run.state == "success", task_states(dag_run)
        span = xcom_values(dag_run, "plan")[0]["span"]
        chunks = -(-(span["id_to"] - span["id_from"]) // 1000)
        assert chunks > 1024
        applied = xcom_values(dag_run, "apply_chunk")
        assert len(applied) == 16 and sum(batch["chunks"] for batch in applied) == chunks
        assert stored(pg) == reference(pg) and all(row_id in stored(pg) for row_id in far)
    finally:
        pg.execute("DELETE FROM noc_fraud_prediction_log WHERE id = ANY(%s)", (far,))


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
        "SELECT as_of::date::text, dag_id FROM fraudcal.current_calibration_sets WHERE model_version = 'v1' "
        "AND method = 'residual' AND as_of::date = ANY(%s::date[]) ORDER BY as_of",
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
