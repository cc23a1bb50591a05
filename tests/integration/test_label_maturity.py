"""Label maturity in ``calibrate_fraud_model``: the daily label snapshots, and the window they move.

Real PostgreSQL and Redis through ``dag.test()``. The log is built here with a known label
delay: row ``i`` (in time order) gets its label at the end of its prediction day plus
``DELAYS[i % 100]`` days, and every seventh row is never labeled. So the share of a day's
eventual labels that has arrived at age a is known by construction (30 %, 50 %, 65 %, 80 %,
97 %, 100 % at ages 0..5), and ``"auto"`` (95 % of the eventual labels) must choose 4 days.
Every figure is checked against a count written here (pandas or SQL), not against the code
under test.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import jsonschema
import numpy as np
import pandas as pd
import psycopg
import pytest

from fraudcal.synthetic import risk_levels
from fraudcal_airflow.db.maturity import read_snapshots, record_snapshot
from fraudcal_airflow.publish import live_key, publish_calibration_set
from fraudcal_dev.dagtest import load_dag, run_dag, task_states, xcom_values
from fraudcal_dev.synthetic_load import load_prediction_log, truncate_prediction_logs

DAG_ID = "calibrate_fraud_model"
START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 50  # predictions on 2025-01-01 .. 2025-02-19
#: The last day whose labels the loaded log holds (labels that arrive by its end).
LABELS_AS_OF = date(2025, 2, 19)
#: Days from a prediction's day to the end of the day its label arrives, per row index mod 100.
DELAYS = np.repeat([0, 1, 2, 3, 4, 5], [30, 20, 15, 15, 17, 3])
#: Share of the eventual labels in by age 0, 1, ...: the youngest age at or above 95 % is 4.
ARRIVED_BY_AGE = np.cumsum(np.bincount(DELAYS)) / DELAYS.size
AUTO_MATURITY = int(np.flatnonzero(ARRIVED_BY_AGE >= 0.95)[0])


def build_log() -> pd.DataFrame:
    """Two versions, ~900 predictions a day, in time order; ``label_day`` is when each label arrives (None: never)."""
    rng = np.random.default_rng(15)
    n = int(rng.poisson(900, DAYS).sum())
    offsets = np.sort(rng.integers(0, DAYS * 86_400_000_000, n))  # microseconds into the period
    predicted_at = pd.Timestamp(START) + pd.to_timedelta(offsets, unit="us")
    day = offsets // 86_400_000_000
    prediction_day = np.datetime64(START.date(), "D") + day.astype("timedelta64[D]")
    probability = rng.beta(0.6, 6.0, n)
    fraud = rng.random(n) < probability
    index = np.arange(n)
    ever = index % 7 != 0
    arrival = prediction_day + DELAYS[index % 100].astype("timedelta64[D]")
    labeled = ever & (arrival <= np.datetime64(LABELS_AS_OF, "D"))
    return pd.DataFrame(
        {
            "person_id": rng.integers(10_000, 60_000, n),
            "site_id": rng.integers(1, 9, n),
            "model_type": "fraud_detector",
            "model_version": np.where(rng.random(n) < 0.35, "v2", "v1"),
            "predicted_at": predicted_at,
            "fraud_probability": probability,
            "risk_level": risk_levels(probability),
            "actual_fraud_detected": pd.array(np.where(labeled, fraud, False), dtype="boolean"),
            "truth": fraud,
            "label_day": [day.item() if known else None for day, known in zip(arrival, ever, strict=True)],
            "prediction_day": prediction_day.astype(object),
        }
    ).assign(actual_fraud_detected=lambda frame: frame["actual_fraud_detected"].where(labeled))


@pytest.fixture(scope="module")
def log(db_url):
    frame = build_log()
    with psycopg.connect(db_url) as conn:
        truncate_prediction_logs(conn)
        load_prediction_log(conn, frame)
    return frame.assign(id=np.arange(1, len(frame) + 1))  # ids restart at 1, in load order


@pytest.fixture
def clean(pg, redis_client, log, airflow_db):
    """The module's log as loaded; no sets, snapshots or ACI states; no fraudcal keys in Redis."""
    pg.execute("TRUNCATE fraudcal.label_snapshots, fraudcal.aci_state RESTART IDENTITY")
    yield pg, redis_client


def live(redis_client, version: str = "v1") -> dict | None:
    raw = redis_client.get(live_key("fraud_detector", version))
    return None if raw is None else json.loads(raw)


def snapshot_rows(pg) -> list[tuple]:
    return pg.execute(
        "SELECT model_version, prediction_day, snapshot_day, n_predictions, n_labeled, n_fraud, source, recorded_at "
        "FROM fraudcal.label_snapshots ORDER BY 1, 2, 3"
    ).fetchall()


def expected_snapshot(log: pd.DataFrame, snapshot_day: date, horizon_days: int = 90) -> list[tuple]:
    """The snapshot counted in pandas from the frame as loaded (labels as of LABELS_AS_OF)."""
    rows = log[
        (log["prediction_day"] <= snapshot_day) & (log["prediction_day"] > snapshot_day - timedelta(days=horizon_days))
    ]
    labeled = rows["actual_fraud_detected"].notna()
    grouped = (
        rows.assign(labeled=labeled, fraud=labeled & rows["actual_fraud_detected"].fillna(False))
        .groupby(["model_version", "prediction_day"])
        .agg(n=("id", "size"), n_labeled=("labeled", "sum"), n_fraud=("fraud", "sum"))
    )
    return [
        (version, day, snapshot_day, int(row.n), int(row.n_labeled), int(row.n_fraud))
        for (version, day), row in grouped.iterrows()
    ]


# ---------------------------------------------------------------- the daily snapshot


def test_the_snapshot_counts_each_prediction_day_once_and_a_rerun_adds_nothing(clean, log):
    pg, _ = clean
    first = run_dag(DAG_ID, "2025-02-10")
    assert first.state == "success", task_states(first)
    rows = snapshot_rows(pg)
    # snapshot day = the day before as_of; predictions of as_of's day and later are not counted
    assert [row[:6] for row in rows] == expected_snapshot(log, date(2025, 2, 9))
    assert {row[6] for row in rows} == {"fraud_log"} and max(row[1] for row in rows) == date(2025, 2, 9)
    assert xcom_values(first, "snapshot_labels") == [
        {"snapshot_day": "2025-02-09", "rows_written": len(rows), "horizon_days": 90, "skipped": None}
    ]
    second = run_dag(DAG_ID, "2025-02-10")
    assert second.state == "success", task_states(second)
    assert snapshot_rows(pg) == rows  # the same rows, recorded_at included: never rewritten
    assert xcom_values(second, "snapshot_labels")[0]["rows_written"] == 0


def test_a_snapshot_is_as_of_its_day_and_read_back_only_up_to_a_day(clean, log, db_url):
    pg, _ = clean
    with psycopg.connect(db_url) as conn:
        # an old date, as an Airflow backfill run writes it: only predictions before its as_of count
        written = record_snapshot(conn, "fraud_log", "fraud_detector", datetime(2025, 1, 20, 7, tzinfo=UTC), 10)
        later = record_snapshot(conn, "fraud_log", "fraud_detector", datetime(2025, 1, 25, tzinfo=UTC), 10)
        again = record_snapshot(conn, "fraud_log", "fraud_detector", datetime(2025, 1, 25, 23, tzinfo=UTC), 10)
        early = read_snapshots(conn, "fraud_detector", None, date(2025, 1, 19))
        both = read_snapshots(conn, "fraud_detector", ["v2"], date(2025, 1, 24))
        none = read_snapshots(conn, "fraud_detector", [], date(2025, 1, 24))
    assert (written, later, again) == (20, 20, 0)  # 10 days x 2 versions each; the same day again: nothing
    assert list(early.columns) == [
        "model_version",
        "prediction_day",
        "snapshot_day",
        "n_predictions",
        "n_labeled",
        "n_fraud",
    ]
    expected = expected_snapshot(log, date(2025, 1, 19), 10)
    assert [tuple(row) for row in early.itertuples(index=False)] == expected
    assert early["prediction_day"].min() == date(2025, 1, 10) and early["n_predictions"].dtype == np.int64
    assert set(both["model_version"]) == {"v2"} and set(both["snapshot_day"]) == {date(2025, 1, 19), date(2025, 1, 24)}
    assert none.empty and list(none.columns) == list(early.columns)


def test_a_csv_source_records_no_snapshot_and_says_so(clean, log, import_dir, capfd):
    pg, _ = clean
    rows = log[log["actual_fraud_detected"].notna() & (log["model_version"] == "v1")]
    pd.DataFrame(
        {
            "id": rows["id"],
            "model_type": "fraud_detector",
            "model_version": "v1",
            "predicted_at": rows["predicted_at"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "probability": rows["fraud_probability"],
            "label": rows["actual_fraud_detected"].astype(float),
        }
    ).to_csv(import_dir / "maturity_v1.csv", index=False, float_format="%.17g")
    dag_run = run_dag(DAG_ID, "2025-02-10", {"source": "csv", "csv_path": "maturity_v1.csv"})
    assert dag_run.state == "success", task_states(dag_run)
    assert snapshot_rows(pg) == []
    assert "a CSV source has no prediction log to count labels in" in "".join(capfd.readouterr())


# ---------------------------------------------------------------- the window


def payload_and_rows(pg, redis_client) -> tuple[bytes, list[tuple]]:
    raw = redis_client.get(live_key("fraud_detector", "v1"))
    return raw, pg.execute("SELECT * FROM fraudcal.calibration_sets ORDER BY id").fetchall()


def test_maturity_zero_is_the_window_set_and_payload_of_a_run_without_the_param(clean):
    pg, redis_client = clean
    without = run_dag(DAG_ID, "2025-02-12", {"model_versions": ["v1"]})
    assert without.state == "success", task_states(without)
    before = payload_and_rows(pg, redis_client)
    payload = json.loads(before[0])
    # the window as it always was: [as_of - 30 days, as_of)
    assert (payload["window_start"], payload["window_end"], payload["as_of"]) == (
        "2025-01-13T00:00:00Z",
        "2025-02-12T00:00:00Z",
        "2025-02-12T00:00:00Z",
    )
    assert payload["label_maturity_days"] == 0
    assert pg.execute("SELECT DISTINCT label_maturity_days FROM fraudcal.calibration_sets").fetchall() == [(0,)]
    for value in (0, "0"):
        again = run_dag(DAG_ID, "2025-02-12", {"model_versions": ["v1"], "label_maturity_days": value})
        assert again.state == "success", task_states(again)
        assert xcom_values(again, "calibrate_version.publish") == ["unchanged"]
        assert payload_and_rows(pg, redis_client) == before  # byte for byte, ids and run_id included


SQL_WINDOW = """
SELECT count(*), count(*) FILTER (WHERE actual_fraud_detected)
  FROM noc_fraud_prediction_log
 WHERE model_version = 'v1' AND actual_fraud_detected IS NOT NULL
   AND predicted_at >= %(start)s AND predicted_at < %(end)s
"""


def test_a_maturity_of_seven_days_moves_the_window_back_and_says_so(clean):
    from tests.integration.test_calibrate_dag import sql_recomputation

    pg, redis_client = clean
    dag_run = run_dag(DAG_ID, "2025-02-15", {"model_versions": ["v1"], "label_maturity_days": "7"})
    assert dag_run.state == "success", task_states(dag_run)
    payload = live(redis_client)
    # the window keeps its 30 days and ends 7 days before as_of's date; the set is in force from as_of
    assert (payload["as_of"], payload["window_start"], payload["window_end"], payload["label_maturity_days"]) == (
        "2025-02-15T00:00:00Z",
        "2025-01-09T00:00:00Z",
        "2025-02-08T00:00:00Z",
        7,
    )
    expected = sql_recomputation(pg, "v1", "2025-01-09", "2025-02-08")
    assert (payload["n"], payload["n_positive"]) == (expected["n"], expected["n_positive"])
    assert payload["levels"] == {
        level: {"quantile": entry["quantile"], "k": entry["k"]} for level, entry in expected["levels"].items()
    }
    rows = pg.execute(
        "SELECT method, as_of, window_start, window_end, label_maturity_days FROM fraudcal.calibration_sets ORDER BY id"
    ).fetchall()
    assert {row[1:] for row in rows} == {
        (
            datetime(2025, 2, 15, tzinfo=UTC),
            datetime(2025, 1, 9, tzinfo=UTC),
            datetime(2025, 2, 8, tzinfo=UTC),
            7,
        )
    }
    assert sorted(row[0] for row in rows) == ["mondrian", "residual", "venn_abers"]
    # a triage certificate is from the same (matured) window
    assert pg.execute("SELECT window_start, n FROM fraudcal.triage_certificates").fetchone() == (
        datetime(2025, 1, 9, tzinfo=UTC),
        expected["n"],
    )


def test_the_table_refuses_a_window_that_ends_after_its_as_of(clean):
    pg, _ = clean
    assert run_dag(DAG_ID, "2025-02-15", {"model_versions": ["v1"], "label_maturity_days": 7}).state == "success"
    with pytest.raises(psycopg.errors.CheckViolation, match="calibration_sets_window_ck"):
        pg.execute("UPDATE fraudcal.calibration_sets SET label_maturity_days = 0 WHERE method = 'residual'")
    with pytest.raises(psycopg.errors.CheckViolation, match="calibration_sets_window_ck"):
        pg.execute("UPDATE fraudcal.calibration_sets SET window_end = as_of + interval '1 hour'")


# ---------------------------------------------------------------- "auto"


def write_history_of_snapshots(db_url: str, log: pd.DataFrame, days: list[date]) -> None:
    """Record a snapshot on each of ``days`` with the labels that had arrived by then; the log ends as loaded.

    The log holds labels as of LABELS_AS_OF (= the last day); for the first day the labels
    arriving after it are taken out, then put back one day at a time, as investigators would
    have recorded them, with a snapshot at the end of each day.
    """
    assert days[-1] == LABELS_AS_OF
    arrival = np.array([np.datetime64("NaT") if day is None else np.datetime64(day, "D") for day in log["label_day"]])
    known = log["actual_fraud_detected"].notna().to_numpy()
    ids, truth = log["id"].to_numpy(), log["truth"].to_numpy()

    def put_back(conn, rows) -> None:
        for value in (True, False):
            conn.execute(
                "UPDATE noc_fraud_prediction_log SET actual_fraud_detected = %s WHERE id = ANY(%s)",
                (value, ids[rows & (truth == value)].tolist()),
            )
        conn.commit()

    with psycopg.connect(db_url) as conn:
        later = known & (arrival > np.datetime64(days[0], "D"))
        conn.execute(
            "UPDATE noc_fraud_prediction_log SET actual_fraud_detected = NULL WHERE id = ANY(%s)",
            (ids[later].tolist(),),
        )
        conn.commit()
        try:
            for index, day in enumerate(days):
                if index:
                    put_back(
                        conn,
                        known & (arrival > np.datetime64(days[index - 1], "D")) & (arrival <= np.datetime64(day, "D")),
                    )
                as_of = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
                assert record_snapshot(conn, "fraud_log", "fraud_detector", as_of, 90) > 0
        except BaseException:
            put_back(conn, later)  # leave the module's log as loaded for the next tests
            raise


def test_the_simulated_history_has_the_arrival_curve_it_was_built_with(clean, log, db_url):
    pg, _ = clean
    write_history_of_snapshots(db_url, log, [LABELS_AS_OF - timedelta(days=k) for k in range(5, -1, -1)])
    # in every snapshot, a cohort of age a holds ARRIVED_BY_AGE[a] of its eventual labels (within rounding)
    rows = pd.DataFrame(
        pg.execute(
            "SELECT snapshot_day - prediction_day AS age, sum(n_labeled), sum(n_predictions) "
            "FROM fraudcal.label_snapshots GROUP BY 1 ORDER BY 1"
        ).fetchall(),
        columns=["age", "labeled", "predictions"],
    )
    eventual = rows[rows["age"] >= 10]["labeled"].sum() / rows[rows["age"] >= 10]["predictions"].sum()
    share = (rows["labeled"] / rows["predictions"] / eventual).to_numpy()
    np.testing.assert_allclose(share[:6], ARRIVED_BY_AGE, atol=0.02)
    assert eventual == pytest.approx(6 / 7, abs=0.01)


def test_auto_resolves_from_snapshots_of_several_days_and_the_plan_says_why(clean, log, db_url, capfd):
    pg, redis_client = clean
    snapshot_days = [LABELS_AS_OF - timedelta(days=k) for k in range(5, -1, -1)]
    write_history_of_snapshots(db_url, log, snapshot_days)
    assert pg.execute("SELECT count(DISTINCT snapshot_day) FROM fraudcal.label_snapshots").fetchone()[0] == 6
    capfd.readouterr()
    # as_of 2025-02-21: its own snapshot day is 02-20; auto reads the snapshots of the days before it
    dag_run = run_dag(DAG_ID, "2025-02-21", {"model_versions": ["v1"], "label_maturity_days": "auto"})
    assert dag_run.state == "success", task_states(dag_run)
    output = "".join(capfd.readouterr())
    assert AUTO_MATURITY == 4
    assert f"label maturity: auto: 95 % of a cohort's eventual labels arrive within {AUTO_MATURITY} days" in output, (
        output[-3000:]
    )
    assert "[snapshots of 6 day(s) up to 2025-02-19]" in output
    payload = live(redis_client)
    assert (payload["label_maturity_days"], payload["window_end"], payload["window_start"]) == (
        AUTO_MATURITY,
        "2025-02-17T00:00:00Z",
        "2025-01-18T00:00:00Z",
    )
    n, _ = pg.execute(SQL_WINDOW, {"start": "2025-01-18", "end": "2025-02-17"}).fetchone()
    assert payload["n"] == n
    # the run wrote its own snapshot (02-20) after the plan; a re-run reads the same days and changes nothing
    assert pg.execute("SELECT max(snapshot_day) FROM fraudcal.label_snapshots").fetchone()[0] == date(2025, 2, 20)
    rerun = run_dag(DAG_ID, "2025-02-21", {"model_versions": ["v1"], "label_maturity_days": "auto"})
    assert xcom_values(rerun, "calibrate_version.publish") == ["unchanged"]


def test_auto_without_snapshots_falls_back_to_every_labeled_day_and_says_so(clean, capfd):
    _, redis_client = clean
    dag_run = run_dag(DAG_ID, "2025-02-12", {"model_versions": ["v1"], "label_maturity_days": "auto"})
    assert dag_run.state == "success", task_states(dag_run)
    assert (
        "label maturity: auto requested but there is no arrival curve (no label snapshots): fell back to 0 days"
        in "".join(capfd.readouterr())
    )
    payload = live(redis_client)
    assert (payload["label_maturity_days"], payload["window_end"]) == (0, "2025-02-12T00:00:00Z")


# ---------------------------------------------------------------- bad values


SENTINEL = {
    "schema_version": 1,
    "model_type": "fraud_detector",
    "model_version": "v1",
    "method": "residual",
    "as_of": "2025-02-11T00:00:00Z",
    "levels": {"90": {"quantile": 0.04, "k": 1}},
    "calibration_set_id": 0,
    "narrow_threshold": 0.2,
}


@pytest.mark.parametrize("value", ["seven", 400, -1, "7.5", True])
def test_the_form_refuses_a_bad_maturity_before_any_run(clean, value):
    from airflow.sdk.exceptions import ParamValidationError

    pg, _ = clean
    with pytest.raises(ParamValidationError, match="Invalid input for param label_maturity_days"):
        run_dag(DAG_ID, "2025-02-12", {"label_maturity_days": value})
    assert snapshot_rows(pg) == []


@pytest.mark.parametrize("value", ["400", "366"])
def test_a_maturity_the_form_lets_through_fails_the_plan_at_once_naming_it(clean, capfd, value):
    pg, redis_client = clean
    publish_calibration_set(redis_client, SENTINEL, ttl_hours=36)
    sentinel = redis_client.get(live_key("fraud_detector", "v1"))
    jsonschema.validate(value, load_dag(DAG_ID).params.get_param("label_maturity_days").schema)  # 3 digits pass
    dag_run = run_dag(DAG_ID, "2025-02-12", {"label_maturity_days": value}, retries=0)
    states = task_states(dag_run)
    assert dag_run.state == "failed" and states["plan"] == "failed", states
    assert states["snapshot_labels"] == "upstream_failed"
    assert f"Param label_maturity_days must be 'auto' or an integer in 0..365; got {value!r}" in "".join(
        capfd.readouterr()
    )
    assert pg.execute("SELECT count(*) FROM fraudcal.calibration_sets").fetchone()[0] == 0
    assert snapshot_rows(pg) == []
    assert redis_client.get(live_key("fraud_detector", "v1")) == sentinel


@pytest.mark.parametrize("value", ["auto", "0", "7", "365", 0, 7, 365])
def test_the_form_accepts_auto_and_whole_days(value):
    from fraudcal_airflow.params import label_maturity_param

    jsonschema.validate(value, label_maturity_param().schema)
