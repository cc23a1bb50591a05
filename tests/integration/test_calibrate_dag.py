"""``calibrate_fraud_model`` end to end with ``dag.test()`` on real PostgreSQL and Redis.

Every figure the DAG publishes is checked against an independent recomputation written
directly in SQL (ranks with exact numeric arithmetic, quantiles by ORDER BY/OFFSET, ECE with
``ntile``), not against the Python code under test.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from fraudcal.synthetic import SyntheticConfig, generate_prediction_log
from fraudcal_airflow.publish import live_key, previous_key, publish_calibration_set
from fraudcal_dev.dagtest import load_dag, run_dag, task_states, xcom_values
from fraudcal_dev.synthetic_load import load_prediction_log, truncate_prediction_logs

DAG_ID = "calibrate_fraud_model"
CONFIG = SyntheticConfig(n_events=30_000, days=60)

SQL_RECOMPUTATION = """
WITH w AS (
    SELECT fraud_probability AS p, actual_fraud_detected::int AS y
      FROM noc_fraud_prediction_log
     WHERE model_type = %(model_type)s AND model_version = %(model_version)s
       AND predicted_at >= %(start)s AND predicted_at < %(end)s
       AND actual_fraud_detected IS NOT NULL),
scores AS (SELECT CASE WHEN y = 1 THEN 1 - p ELSE p END AS score FROM w),
total AS (SELECT count(*) AS n, sum(y) AS n_positive, avg((p - y) ^ 2) AS brier FROM w),
ranks AS (SELECT level, ceil((total.n + 1) * level / 100.0)::int AS k FROM total, unnest(%(levels)s::int[]) AS level),
bins AS (SELECT abs(sum(p) - sum(y)) AS gap FROM (SELECT ntile(10) OVER (ORDER BY p, y) AS bin, p, y FROM w) b GROUP BY bin)
SELECT total.n, total.n_positive, total.brier,
       (SELECT sum(gap) FROM bins) / total.n AS ece,
       (SELECT json_object_agg(level, json_build_object(
            'k', k, 'quantile', coalesce((SELECT score FROM scores ORDER BY score OFFSET k - 1 LIMIT 1), 1.0)))
          FROM ranks) AS levels
  FROM total
"""


def sql_recomputation(pg, model_version: str, start: str, end: str, levels=(90, 95, 99)) -> dict:
    row = pg.execute(
        SQL_RECOMPUTATION,
        {
            "model_type": "fraud_detector",
            "model_version": model_version,
            "start": start,
            "end": end,
            "levels": list(levels),
        },
    ).fetchone()
    n, n_positive, brier, ece, level_values = row
    return {"n": n, "n_positive": n_positive, "brier": brier, "ece": float(ece), "levels": level_values}


@pytest.fixture(scope="module")
def synthetic_log(db_url):
    import psycopg

    log = generate_prediction_log(CONFIG)
    with psycopg.connect(db_url) as conn:
        truncate_prediction_logs(conn)
        load_prediction_log(conn, log, also_generic=True)
    return log


@pytest.fixture
def clean(pg, redis_client, synthetic_log, airflow_db):
    """The module's log, no calibration sets, no fraudcal keys in Redis."""
    yield pg, redis_client


def live(redis_client, version: str = "v1") -> dict | None:
    raw = redis_client.get(live_key("fraud_detector", version))
    return None if raw is None else json.loads(raw)


def stored_sets(pg) -> list[tuple]:
    return pg.execute("SELECT * FROM fraudcal.calibration_sets ORDER BY id").fetchall()


def test_daily_run_publishes_sets_equal_to_an_sql_recomputation(clean):
    pg, redis_client = clean
    dag_run = run_dag(DAG_ID, "2025-02-20")
    assert dag_run.state == "success", task_states(dag_run)
    # CronDataIntervalTimetable: the run covers the day before; as_of is its end.
    assert (dag_run.data_interval_start, dag_run.data_interval_end) == (
        datetime(2025, 2, 19, tzinfo=UTC),
        datetime(2025, 2, 20, tzinfo=UTC),
    )
    for version in ("v1", "v2"):
        payload = live(redis_client, version)
        expected = sql_recomputation(pg, version, "2025-01-21", "2025-02-20")
        assert payload["as_of"] == "2025-02-20T00:00:00Z" and payload["window_start"] == "2025-01-21T00:00:00Z"
        # label_maturity_days 0 (the default): the window ends at as_of, as it always did
        assert payload["window_end"] == payload["as_of"] and payload["label_maturity_days"] == 0
        assert (payload["n"], payload["n_positive"]) == (expected["n"], expected["n_positive"])
        assert payload["levels"] == {
            level: {"quantile": entry["quantile"], "k": entry["k"]} for level, entry in expected["levels"].items()
        }
        assert payload["ece"] == pytest.approx(expected["ece"], abs=1e-12)
        assert payload["calibration_score"] == pytest.approx(1 - expected["ece"], abs=1e-12)
        assert payload["brier"] == pytest.approx(expected["brier"], abs=1e-12)
        # schema version 2: every version-1 field as it was (the residual set), plus every method
        assert payload["schema_version"] == 2 and payload["method"] == "residual"
        assert payload["default_method"] == "mondrian" and sorted(payload["methods"]) == [
            "mondrian",
            "residual",
            "venn_abers",
        ]
        assert payload["methods"]["residual"]["levels"] == payload["levels"]
        mondrian = payload["methods"]["mondrian"]["levels"]
        for level, classes in sql_mondrian_recomputation(pg, version, "2025-01-21", "2025-02-20").items():
            assert {c: mondrian[level][c] for c in ("0", "1")} == classes, level
        assert payload["narrow_threshold"] == 0.2 and payload["source"] == "fraud_log"
        assert 0 < redis_client.ttl(live_key("fraud_detector", version)) <= 36 * 3600
    assert xcom_values(dag_run, "calibrate_version.publish") == ["created", "created"]
    # one row per method and version
    assert pg.execute(
        "SELECT model_version, array_agg(method ORDER BY method) FROM fraudcal.calibration_sets GROUP BY 1 ORDER BY 1"
    ).fetchall() == [(v, ["mondrian", "residual", "venn_abers"]) for v in ("v1", "v2")]


SQL_MONDRIAN = """
WITH w AS (
    SELECT actual_fraud_detected::int AS y,
           CASE WHEN actual_fraud_detected THEN 1 - fraud_probability ELSE fraud_probability END AS score
      FROM noc_fraud_prediction_log
     WHERE model_type = 'fraud_detector' AND model_version = %(model_version)s
       AND predicted_at >= %(start)s AND predicted_at < %(end)s AND actual_fraud_detected IS NOT NULL),
classes AS (SELECT y, count(*) AS n FROM w GROUP BY y),
ranks AS (SELECT level, y, n, ceil((n + 1) * level / 100.0)::int AS k FROM classes, unnest(%(levels)s::int[]) AS level)
SELECT level::text, y::text, n, k,
       coalesce((SELECT score FROM w WHERE w.y = ranks.y ORDER BY score OFFSET k - 1 LIMIT 1), 1.0) AS quantile
  FROM ranks
"""


def sql_mondrian_recomputation(pg, model_version: str, start: str, end: str, levels=(90, 95, 99)) -> dict:
    """Per level and class, {n, k, quantile}: the k-th smallest |p - c| of the class, computed in SQL."""
    result: dict = {}
    rows = pg.execute(
        SQL_MONDRIAN, {"model_version": model_version, "start": start, "end": end, "levels": list(levels)}
    ).fetchall()
    for level, label, n, k, quantile in rows:
        # 1 - p in SQL and in Python are the same IEEE operation: exact equality is expected
        result.setdefault(level, {})[label] = {"n": n, "k": k, "quantile": float(quantile) if k <= n else 1.0}
    return result


def test_the_published_payload_serves_a_version_1_reader_and_the_online_loader(clean):
    from fraudcal.online import interval_for_score, load

    pg, redis_client = clean
    assert run_dag(DAG_ID, "2025-02-20").state == "success"
    payload = live(redis_client)
    v1_payload = {**payload, "schema_version": 1}
    v1_payload.pop("methods"), v1_payload.pop("default_method")
    view = load(redis_client.get, "fraud_detector", "v1")
    for score in (0.0, 0.03, 0.2, 0.5, 0.92, 1.0):
        # a reader written for version 1 gets exactly the version-1 answer from the version-2 payload
        assert interval_for_score(payload, score) == interval_for_score(v1_payload, score)
        assert view.interval(score) == interval_for_score(payload, score)
        q0 = payload["methods"]["mondrian"]["levels"]["90"]["0"]["quantile"]
        q1 = payload["methods"]["mondrian"]["levels"]["90"]["1"]["quantile"]
        expected = [label for label, distance, q in ((0, score, q0), (1, 1 - score, q1)) if distance <= q]
        assert view.label_set(score) == expected
        venn_abers = view.venn_abers(score)
        assert venn_abers["p0"] <= venn_abers["p"] <= venn_abers["p1"]


def test_run_records_the_set_emits_the_asset_event_and_writes_data_docs(clean):
    pg, redis_client = clean
    dag_run = run_dag(DAG_ID, "2025-02-20", {"model_versions": ["v2"]})
    assert dag_run.state == "success", task_states(dag_run)
    row = pg.execute(
        "SELECT id, dag_id, run_id, validation->>'success', validation->>'data_docs' FROM fraudcal.calibration_sets"
    ).fetchone()
    assert row[0] == live(redis_client, "v2")["calibration_set_id"]
    assert row[1:4] == (DAG_ID, dag_run.run_id, "true")
    from pathlib import Path

    assert Path(row[4]).is_file() and Path(row[4]).name == "index.html"

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == "fraudcal_calibration_sets", AssetEvent.source_run_id == dag_run.run_id)
            .all()
        )
        extras = [event.extra for event in events]
    assert extras == [
        {
            "model_type": "fraud_detector",
            "model_version": "v2",
            "as_of": "2025-02-20T00:00:00Z",
            "calibration_set_id": row[0],
            "calibration_set_ids": {"residual": row[0], "mondrian": row[0] + 1, "venn_abers": row[0] + 2},
            "changed": True,
            "triage_status": "in_force",  # the version's first certificates take force at once
        }
    ]


def test_run_certifies_triage_and_the_online_reader_acts_on_it(clean):
    """The window's certificates are recorded and published; decide() follows them, score by score."""
    from fraudcal.online import decide, load
    from fraudcal.triage import TriageCertificate

    pg, redis_client = clean
    dag_run = run_dag(DAG_ID, "2025-02-20", {"model_versions": ["v1"]})
    assert dag_run.state == "success"
    states = task_states(dag_run)
    # nothing waited for an operator: the approval path was skipped
    assert states["approve_triage"] == "skipped" and states["apply_triage"] == "skipped"
    status, ticket, clear = pg.execute(
        "SELECT status, ticket, clear FROM fraudcal.triage_certificates WHERE model_version = 'v1'"
    ).fetchone()
    calibration = load(redis_client.get, "fraud_detector", "v1")
    assert status == "in_force" and calibration.payload["triage"]["ticket"] == ticket
    certificate = TriageCertificate.from_dict(calibration.payload["triage"])
    scores = np.linspace(0, 1, 2001)
    assert [decide(calibration, float(s))["action"] for s in scores] == list(certificate.actions(scores))
    assert clear == calibration.payload["triage"]["clear"]


def test_second_run_of_the_same_date_changes_nothing(clean):
    pg, redis_client = clean
    first = run_dag(DAG_ID, "2025-02-20")
    assert first.state == "success"
    rows, raw = stored_sets(pg), redis_client.get(live_key("fraud_detector", "v1"))
    second = run_dag(DAG_ID, "2025-02-20")
    assert second.state == "success", task_states(second)
    assert stored_sets(pg) == rows  # same rows, same ids, same computed_at and run_id
    assert redis_client.get(live_key("fraud_detector", "v1")) == raw
    assert not redis_client.exists(previous_key("fraud_detector", "v1"))
    assert xcom_values(second, "calibrate_version.publish") == ["unchanged", "unchanged"]


def test_an_older_date_is_recorded_but_never_replaces_the_live_set(clean):
    pg, redis_client = clean
    assert run_dag(DAG_ID, "2025-02-20", {"model_versions": ["v1"]}).state == "success"
    live_before = redis_client.get(live_key("fraud_detector", "v1"))
    older = run_dag(DAG_ID, "2025-02-10", {"model_versions": ["v1"]})
    assert older.state == "success", task_states(older)
    assert xcom_values(older, "calibrate_version.publish") == ["stale"]
    assert redis_client.get(live_key("fraud_detector", "v1")) == live_before
    assert not redis_client.exists(previous_key("fraud_detector", "v1"))
    as_ofs = [
        row[0]
        for row in pg.execute("SELECT as_of FROM fraudcal.calibration_sets WHERE method = 'residual' ORDER BY as_of")
    ]
    assert as_ofs == [datetime(2025, 2, 10, tzinfo=UTC), datetime(2025, 2, 20, tzinfo=UTC)]


def test_a_newer_date_replaces_the_live_set_and_keeps_it_as_previous(clean):
    _, redis_client = clean
    assert run_dag(DAG_ID, "2025-02-10", {"model_versions": ["v1"]}).state == "success"
    assert run_dag(DAG_ID, "2025-02-11", {"model_versions": ["v1"]}).state == "success"
    assert live(redis_client)["as_of"] == "2025-02-11T00:00:00Z"
    assert json.loads(redis_client.get(previous_key("fraud_detector", "v1")))["as_of"] == "2025-02-10T00:00:00Z"


def test_prediction_log_source_gives_the_same_set_as_the_fraud_log(clean):
    pg, redis_client = clean
    assert run_dag(DAG_ID, "2025-02-20", {"model_versions": ["v1"]}).state == "success"
    from_fraud_log = live(redis_client)
    redis_client.delete(live_key("fraud_detector", "v1"))
    pg.execute("TRUNCATE fraudcal.calibration_sets")
    dag_run = run_dag(DAG_ID, "2025-02-20", {"model_versions": ["v1"], "source": "prediction_log"})
    assert dag_run.state == "success", task_states(dag_run)
    from_generic_log = live(redis_client)
    assert from_generic_log["source"] == "prediction_log"
    for key in ("n", "n_positive", "levels", "ece", "brier", "as_of"):
        assert from_generic_log[key] == from_fraud_log[key], key


def test_csv_source_inside_the_import_folder(clean, import_dir):
    pg, redis_client = clean
    rows = pg.execute(
        "SELECT id, model_type, model_version, predicted_at, fraud_probability, actual_fraud_detected::int "
        "FROM noc_fraud_prediction_log WHERE actual_fraud_detected IS NOT NULL AND model_version = 'v1'"
    ).fetchall()
    csv = pd.DataFrame(rows, columns=["id", "model_type", "model_version", "predicted_at", "probability", "label"])
    csv["predicted_at"] = pd.to_datetime(csv["predicted_at"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    csv.to_csv(import_dir / "outcomes_v1.csv", index=False, float_format="%.17g")
    dag_run = run_dag(DAG_ID, "2025-02-20", {"source": "csv", "csv_path": "outcomes_v1.csv"})
    assert dag_run.state == "success", task_states(dag_run)
    payload = live(redis_client)
    expected = sql_recomputation(pg, "v1", "2025-01-21", "2025-02-20")
    assert payload["source"] == "csv"
    assert (payload["n"], payload["levels"]) == (expected["n"], expected["levels"])
    assert live(redis_client, "v2") is None  # the CSV held v1 only


def test_publish_false_records_without_touching_redis(clean):
    pg, redis_client = clean
    dag_run = run_dag(DAG_ID, "2025-02-20", {"model_versions": ["v1"], "publish": False})
    assert dag_run.state == "success", task_states(dag_run)
    assert len(stored_sets(pg)) == 3  # one set per method
    assert redis_client.keys("fraudcal:*") == []


# ---------------------------------------------------------------- bad input, nothing lost


SENTINEL = {
    "schema_version": 1,
    "model_type": "fraud_detector",
    "model_version": "v1",
    "method": "residual",
    "as_of": "2025-02-19T00:00:00Z",
    "levels": {"90": {"quantile": 0.04, "k": 1}},
    "calibration_set_id": 0,
    "narrow_threshold": 0.2,
}


@pytest.fixture
def live_sentinel(clean):
    """A live v1 set from the day before, which a failed run must leave byte for byte."""
    _, redis_client = clean
    publish_calibration_set(redis_client, SENTINEL, ttl_hours=36)
    return redis_client.get(live_key("fraud_detector", "v1"))


#: The task a failed validation fails (the first, and here only, mapped version).
VALIDATE = "calibrate_version.validate[0]"


def assert_failed_and_nothing_lost(
    dag_run, failed_task: str, pg, redis_client, sentinel: bytes, output: str, message: str
):
    states = task_states(dag_run)
    assert dag_run.state == "failed"
    assert states[failed_task] == "failed", states
    assert message in output, f"{message!r} not in the task log"
    assert pg.execute("SELECT count(*) FROM fraudcal.calibration_sets").fetchone()[0] == 0
    assert redis_client.get(live_key("fraud_detector", "v1")) == sentinel
    assert not redis_client.exists(previous_key("fraud_detector", "v1"))


def first_labeled_id(pg, version: str = "v1") -> int:
    return pg.execute(
        "SELECT min(id) FROM noc_fraud_prediction_log WHERE model_version = %s AND actual_fraud_detected IS NOT NULL "
        "AND predicted_at >= '2025-01-21' AND predicted_at < '2025-02-20'",
        (version,),
    ).fetchone()[0]


@pytest.mark.parametrize(
    ("bad_value", "message"),
    [
        ("1.5", "probability must be in [0, 1]: 1 of"),
        ("NaN", "probability must not be NULL or NaN: 1 of"),
        (None, "probability must not be NULL or NaN: 1 of"),
    ],
    ids=["1.5", "NaN", "NULL"],
)
def test_bad_probability_fails_validation(clean, live_sentinel, capfd, bad_value, message):
    pg, redis_client = clean
    row_id = first_labeled_id(pg)
    original = pg.execute("SELECT fraud_probability FROM noc_fraud_prediction_log WHERE id = %s", (row_id,)).fetchone()[
        0
    ]
    pg.execute("UPDATE noc_fraud_prediction_log SET fraud_probability = %s::float8 WHERE id = %s", (bad_value, row_id))
    try:
        dag_run = run_dag(DAG_ID, "2025-02-20", {"model_versions": ["v1"]})
    finally:
        pg.execute("UPDATE noc_fraud_prediction_log SET fraud_probability = %s WHERE id = %s", (original, row_id))
    output = "".join(capfd.readouterr())
    assert_failed_and_nothing_lost(
        dag_run, "calibrate_version.validate[0]", pg, redis_client, live_sentinel, output, message
    )
    assert f"id {row_id}: probability=" in output


def test_label_outside_0_1_fails_validation(clean, live_sentinel, capfd):
    pg, redis_client = clean
    row_id = pg.execute(
        "SELECT min(id) FROM ml_prediction_log WHERE model_version = 'v1' AND actual_outcome IS NOT NULL "
        "AND predicted_at >= '2025-01-21' AND predicted_at < '2025-02-20'"
    ).fetchone()[0]
    pg.execute("UPDATE ml_prediction_log SET actual_outcome = 2 WHERE id = %s", (row_id,))
    try:
        dag_run = run_dag(DAG_ID, "2025-02-20", {"model_versions": ["v1"], "source": "prediction_log"})
    finally:
        pg.execute("UPDATE ml_prediction_log SET actual_outcome = 0 WHERE id = %s", (row_id,))
    output = "".join(capfd.readouterr())
    assert_failed_and_nothing_lost(dag_run, VALIDATE, pg, redis_client, live_sentinel, output, "label must be 0 or 1: 1 of")


def _csv_rows(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "model_type": "fraud_detector",
            "model_version": "v1",
            "predicted_at": "2025-02-10T12:00:00Z",
            "probability": rng.random(n).round(3),
            "label": (rng.random(n) < 0.1).astype(float),
        }
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda frame: frame.assign(label=frame["label"].where(frame["id"] != 5)),
            "label must not be NULL: 1 of 50 rows break it (e.g. id 5: label=nan)",
        ),
        (
            lambda frame: frame.assign(id=frame["id"].where(frame["id"] != 7, 6)),
            "prediction id must be unique: 2 of 50 rows break it (e.g. id 6; id 6)",
        ),
    ],
    ids=["null-label", "duplicate-id"],
)
def test_bad_csv_rows_fail_validation(clean, live_sentinel, capfd, import_dir, change, message):
    pg, redis_client = clean
    change(_csv_rows(50)).to_csv(import_dir / "bad.csv", index=False)
    dag_run = run_dag(DAG_ID, "2025-02-20", {"source": "csv", "csv_path": "bad.csv"})
    assert_failed_and_nothing_lost(
        dag_run, "calibrate_version.validate[0]", pg, redis_client, live_sentinel, "".join(capfd.readouterr()), message
    )


def test_too_few_outcomes_fails_validation(clean, live_sentinel, capfd):
    pg, redis_client = clean
    dag_run = run_dag(DAG_ID, "2025-02-20", {"model_versions": ["v1"], "min_samples": 1_000_000})
    message = "row count must be at least min_samples=1000000: observed"
    assert_failed_and_nothing_lost(dag_run, VALIDATE, pg, redis_client, live_sentinel, "".join(capfd.readouterr()), message)


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"model_versions": ["v9"]}, "unknown model_version(s) ['v9'] for model_type 'fraud_detector'"),
        ({"source": "csv", "csv_path": "../../etc/passwd"}, "csv_path '../../etc/passwd' resolves to"),
        (
            {"source": "csv", "csv_path": "missing_columns.csv"},
            "lacks the required column(s) ['predicted_at', 'label']",
        ),
        ({"csv_path": "x.csv"}, "csv_path 'x.csv' is only read with source='csv'"),
    ],
    ids=["unknown-version", "path-outside-import-folder", "csv-missing-columns", "csv-path-without-csv-source"],
)
def test_bad_params_fail_the_plan(clean, live_sentinel, capfd, import_dir, conf, message):
    pg, redis_client = clean
    (import_dir / "missing_columns.csv").write_text(
        "id,model_type,model_version,probability\n1,fraud_detector,v1,0.5\n"
    )
    dag_run = run_dag(DAG_ID, "2025-02-20", conf)
    assert_failed_and_nothing_lost(
        dag_run, "plan", pg, redis_client, live_sentinel, "".join(capfd.readouterr()), message
    )


def test_sql_injection_in_model_versions_is_refused_by_the_form_and_bound_as_data_below_it(
    clean, live_sentinel, synthetic_log
):
    from airflow.sdk.exceptions import ParamValidationError

    pg, redis_client = clean
    attack = "v1'; DROP TABLE noc_fraud_prediction_log; --"
    # the trigger form's name pattern refuses it before a run exists ...
    with pytest.raises(ParamValidationError, match="model_versions"):
        run_dag(DAG_ID, "2025-02-20", {"model_versions": [attack]})
    # ... and so does the step below it, before any statement uses it (tests/plugins/test_outcomes.py
    # shows that a value reaching SQL is bound as data)
    from fraudcal_airflow.errors import InputError
    from fraudcal_airflow.steps import calibrate

    request = calibrate.CalibrationRequest.from_params(
        {**load_dag(DAG_ID).params.dump(), "model_versions": [attack]}
    )
    with pytest.raises(InputError, match="is not a safe name"):
        calibrate.plan(request, datetime(2025, 2, 20, tzinfo=UTC))
    assert pg.execute("SELECT count(*) FROM noc_fraud_prediction_log").fetchone()[0] == len(synthetic_log)
    assert redis_client.get(live_key("fraud_detector", "v1")) == live_sentinel

def _csv_of_log_rows(synthetic_log, n: int) -> pd.DataFrame:
    """``n`` of the log's own v1 outcomes of the window before 2025-02-20, as a CSV source."""
    window = synthetic_log[
        (synthetic_log["model_version"] == "v1")
        & (synthetic_log["predicted_at"] >= "2025-01-21")
        & (synthetic_log["predicted_at"] < "2025-02-20")
        & synthetic_log["actual_fraud_detected"].notna()
    ].head(n)
    return pd.DataFrame(
        {
            "id": np.arange(1, len(window) + 1),
            "model_type": "fraud_detector",
            "model_version": "v1",
            "predicted_at": window["predicted_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "probability": window["fraud_probability"].to_numpy(),
            "label": window["actual_fraud_detected"].astype(float).to_numpy(),
        }
    )


@pytest.mark.parametrize("publish", [True, False], ids=["publish", "record-only"])
def test_a_csv_set_never_erases_the_record_of_the_live_set(clean, synthetic_log, import_dir, publish):
    # Found by probing: a 500-row CSV calibration of v1 for the same as_of overwrote the row of
    # the live set computed from the log, and with publish=false Redis kept serving a payload
    # whose calibration_set_id then pointed at the CSV's numbers.
    pg, redis_client = clean
    assert run_dag(DAG_ID, "2025-02-20", {"model_versions": ["v1"]}).state == "success"
    live_before, rows_before = redis_client.get(live_key("fraud_detector", "v1")), stored_sets(pg)
    _csv_of_log_rows(synthetic_log, 500).to_csv(import_dir / "v1.csv", index=False)
    conf = {"source": "csv", "csv_path": "v1.csv", "publish": publish}
    refused = run_dag(DAG_ID, "2025-02-20", conf)
    assert refused.state == "failed" and task_states(refused)["calibrate_version.record[0]"] == "failed"
    assert stored_sets(pg) == rows_before  # the live set's row, byte for byte
    assert redis_client.get(live_key("fraud_detector", "v1")) == live_before

    replaced = run_dag(DAG_ID, "2025-02-20", {**conf, "replace_other_source": True})
    assert replaced.state == "success", task_states(replaced)
    kept = pg.execute(
        "SELECT id, source, n, superseded_at IS NOT NULL, published_at IS NOT NULL "
        "FROM fraudcal.calibration_sets WHERE method = 'residual' ORDER BY id"
    ).fetchall()
    live_id = json.loads(live_before)["calibration_set_id"]
    # the set that was live keeps its row and its numbers, marked published and superseded
    assert kept[0] == (live_id, "fraud_log", rows_before[0][7], True, True)
    assert kept[1][1:4] == ("csv", 500, False)
    payload = live(redis_client)
    if publish:
        assert payload["calibration_set_id"] == kept[1][0] and payload["source"] == "csv"
    else:
        # still the log's set, and its id still points at the log's numbers
        assert redis_client.get(live_key("fraud_detector", "v1")) == live_before
        n_of_live = pg.execute("SELECT n FROM fraudcal.calibration_sets WHERE id = %s", (live_id,)).fetchone()[0]
        assert n_of_live == payload["n"] == rows_before[0][7]


def test_a_newer_csv_set_does_not_replace_a_live_set_from_the_log_unasked(clean, synthetic_log, import_dir):
    pg, redis_client = clean
    assert run_dag(DAG_ID, "2025-02-19", {"model_versions": ["v1"]}).state == "success"
    live_before = redis_client.get(live_key("fraud_detector", "v1"))
    _csv_of_log_rows(synthetic_log, 500).to_csv(import_dir / "v1.csv", index=False)
    dag_run = run_dag(DAG_ID, "2025-02-20", {"source": "csv", "csv_path": "v1.csv"})
    assert task_states(dag_run)["calibrate_version.publish[0]"] == "failed"
    assert redis_client.get(live_key("fraud_detector", "v1")) == live_before
    # recorded for the audit trail, never published
    assert pg.execute(
        "SELECT DISTINCT source, published_at IS NULL FROM fraudcal.calibration_sets WHERE as_of = '2025-02-20'"
    ).fetchall() == [("csv", True)]


def test_a_run_for_a_future_date_is_refused(clean, capfd):
    pg, redis_client = clean
    future = (datetime.now(UTC).date() + pd.Timedelta(days=3)).isoformat()
    dag_run = run_dag(DAG_ID, future, {"model_versions": ["v1"]})
    assert dag_run.state == "failed" and task_states(dag_run)["plan"] == "failed"
    assert "is later than now" in "".join(capfd.readouterr())
    assert pg.execute("SELECT count(*) FROM fraudcal.calibration_sets").fetchone()[0] == 0
    assert live(redis_client) is None


def test_the_asset_event_says_whether_the_set_is_new(clean):
    # report_coverage mails only for events with changed=True: an identical re-run must say false.
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    def extras_of(dag_run) -> list[dict]:
        with create_session() as session:
            events = session.query(AssetEvent).filter(AssetEvent.source_run_id == dag_run.run_id).all()
            return sorted((event.extra for event in events), key=lambda extra: extra["model_version"])

    first = run_dag(DAG_ID, "2025-02-20")
    second = run_dag(DAG_ID, "2025-02-20")
    assert [(e["model_version"], e["changed"]) for e in extras_of(first)] == [("v1", True), ("v2", True)]
    assert [(e["model_version"], e["changed"]) for e in extras_of(second)] == [("v1", False), ("v2", False)]
    assert [e["calibration_set_id"] for e in extras_of(first)] == [e["calibration_set_id"] for e in extras_of(second)]


def test_mapped_tasks_are_named_by_their_model_version_in_the_ui(clean):
    dag_run = run_dag(DAG_ID, "2025-02-20")
    assert dag_run.state == "success", task_states(dag_run)
    labels = {
        (ti.task_id, ti.map_index, ti.rendered_map_index)
        for ti in dag_run.get_task_instances()
        if ti.task_id.startswith("calibrate_version.")
    }
    steps = ("extract", "validate", "compute", "record", "publish")
    # the plan lists versions sorted: map index 0 is v1, 1 is v2
    assert labels == {(f"calibrate_version.{step}", i, f"v{i + 1}") for step in steps for i in (0, 1)}
