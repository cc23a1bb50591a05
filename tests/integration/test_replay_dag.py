"""``replay_methods`` end to end: real PostgreSQL, a real SMTP server (aiosmtpd) in the test.

The history is two seeded :mod:`fraudcal.scenarios` logs loaded into the fraud log (v1 drifts
from day 35, v2 does not; labels arrive late, some never; v2 has predictions without a risk
level or a probability). The rows the DAG stores in ``fraudcal.replay_daily`` are checked
against an independent recomputation: the version's whole log read back with a plain SQL
query (not the DAG's COPY, not its date range) and replayed with :func:`fraudcal.replay.replay`.
"""

from __future__ import annotations

import io
import math
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest

from fraudcal.replay import MethodConfig, comparison_sentence, replay, verdict, verdict_sentence
from fraudcal.scenarios import ScenarioConfig, generate
from fraudcal.synthetic import risk_levels
from fraudcal_dev.dagtest import load_dag, run_dag, task_states, xcom_values
from fraudcal_dev.synthetic_load import load_prediction_log, truncate_prediction_logs

DAG_ID = "replay_methods"
HISTORY_DAYS = 60  # 2025-01-01 .. 2025-03-01; labels as known at the end of the history
SCENARIOS = {
    "v1": ScenarioConfig(
        days=HISTORY_DAYS,
        rows_per_day=400,
        fraud_rate=0.06,
        seed=11,
        drift_start_day=35,
        concept_drift_logit=1.5,
        concept_drift_days=5,
        label_delay_days=2.0,
        label_horizon_days=25,
        fraud_label_speedup=2.0,
    ),
    "v2": ScenarioConfig(days=HISTORY_DAYS, rows_per_day=300, fraud_rate=0.05, seed=12, label_delay_days=1.0),
}
CONF = {
    "date_from": "2025-02-01",
    "date_to": "2025-03-01",
    "window_days": 20,
    "label_maturity_days": 2,
    "aci_gamma": 0.1,
    "recipients": ["ops@example.com"],
}
FLOATS = ("quantile", "alpha", "ticket_threshold", "clear_threshold", "ece_raw", "ece_p")
INTEGERS = ("n", "covered", "set_0", "set_1", "set_both", "set_empty", "high_risk", "tickets", "tickets_fraud")
INTEGERS += ("cleared", "cleared_legit", "review", "window_n")
BOOLEANS = ("saturated", "too_few_frauds")


def scenario_log(version: str, config: ScenarioConfig) -> pd.DataFrame:
    """The scenario as rows of noc_fraud_prediction_log; v2 gets rows without a risk level or a probability."""
    frame = generate(config)
    rng = np.random.default_rng([config.seed, 99])
    known = frame["label_day"] <= HISTORY_DAYS
    log = pd.DataFrame(
        {
            "person_id": rng.integers(1, 10_000, len(frame)),
            "site_id": rng.integers(1, 50, len(frame)),
            "model_type": "fraud_detector",
            "model_version": version,
            "predicted_at": frame["predicted_at"],
            "fraud_probability": frame["probability"],
            "risk_level": risk_levels(frame["probability"].to_numpy()),
            "actual_fraud_detected": frame["label"].astype("boolean").where(known),
        }
    )
    if version == "v2":
        log.loc[rng.random(len(log)) < 0.01, "risk_level"] = None
        log.loc[rng.choice(len(log), 5, replace=False), "fraud_probability"] = np.nan
    return log


@pytest.fixture(scope="module")
def history(db_url):
    with psycopg.connect(db_url) as conn:
        truncate_prediction_logs(conn)
        load_prediction_log(conn, pd.concat([scenario_log(v, config) for v, config in SCENARIOS.items()]))
    return db_url


@pytest.fixture
def prepared(history, airflow_db):
    with psycopg.connect(history, autocommit=True) as conn:
        conn.execute("DELETE FROM fraudcal.report_runs WHERE report_type = 'replay'") if conn.execute(
            "SELECT to_regclass('fraudcal.report_runs')"
        ).fetchone()[0] else None
        if conn.execute("SELECT to_regclass('fraudcal.replay_daily')").fetchone()[0]:
            conn.execute("TRUNCATE fraudcal.replay_daily")
    return history


SQL_HISTORY = """
SELECT predicted_at, fraud_probability, actual_fraud_detected,
       coalesce(risk_level IN ('HIGH', 'CRITICAL'), false) AS high
  FROM noc_fraud_prediction_log
 WHERE model_type = 'fraud_detector' AND model_version = %s AND fraud_probability BETWEEN 0 AND 1
"""


def recomputed(db_url: str, version: str, conf: dict, methods=None) -> pd.DataFrame:
    """The replay of the version's whole log (read by a plain query) over the conf's days."""
    with psycopg.connect(db_url) as conn:
        records = conn.execute(SQL_HISTORY, (version,)).fetchall()
    frame = pd.DataFrame(records, columns=["predicted_at", "probability", "label", "is_high_risk"])
    frame["label"] = frame["label"].astype("boolean")
    epoch = date(1970, 1, 1)
    first = (date.fromisoformat(conf["date_from"]) - epoch).days
    last = (date.fromisoformat(conf["date_to"]) - epoch).days
    configs = [
        MethodConfig(method, method, {"gamma": conf.get("aci_gamma", 0.05)} if method == "mondrian_aci" else {})
        for method in (methods or ["residual", "mondrian", "mondrian_aci", "venn_abers"])
    ]
    return replay(
        frame,
        days=range(first, last + 1),
        configs=configs,
        # the calibration's window keeps its length and ends `maturity` days before as_of; the core's ends
        # there and starts window_days before as_of
        window_days=conf["window_days"] + int(conf["label_maturity_days"]),
        label_maturity_days=int(conf["label_maturity_days"]),
        level=conf.get("coverage_level", 90),
    )


def stored_rows(db_url: str, run_id: str | None = None) -> pd.DataFrame:
    query = "SELECT * FROM fraudcal.replay_daily" + (" WHERE run_id = %s" if run_id else "")
    with psycopg.connect(db_url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return pd.DataFrame(cur.execute(query, (run_id,) if run_id else ()).fetchall())


def is_missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def same(expected, stored) -> bool:
    """Equal values; missing (pandas shows a NULL of a float column as NaN; NaN is never stored, see below)."""
    if is_missing(expected) or is_missing(stored):
        return is_missing(expected) and is_missing(stored)
    if isinstance(expected, float):
        return math.isclose(expected, stored, rel_tol=1e-12, abs_tol=1e-15)
    return expected == stored


def assert_rows_equal(stored: pd.DataFrame, expected: pd.DataFrame, version: str) -> None:
    rows = stored[stored["model_version"] == version]
    assert len(rows) == len(expected)
    by_key = {(row["day"].isoformat(), row["config"], row["class"]): row for row in rows.to_dict("records")}
    for row in expected.to_dict("records"):
        got = by_key[(row["date"], row["config"], row["class"])]
        assert got["method"] == row["method"]
        for name in (*INTEGERS, *FLOATS, *BOOLEANS):
            assert same(row[name], got[name]), (
                version,
                row["date"],
                row["config"],
                row["class"],
                name,
                row[name],
                got[name],
            )


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def test_stored_rows_equal_an_independent_replay_and_the_mail_says_it(prepared, smtp_sink):
    dag_run = run_dag(DAG_ID, "2025-03-05", CONF, retries=0)
    assert dag_run.state == "success", task_states(dag_run)

    stored = stored_rows(prepared, dag_run.run_id)
    assert set(stored["model_version"]) == {"v1", "v2"}
    assert set(stored["dag_id"]) == {DAG_ID}
    assert (stored["level"] == 90).all() and (stored["window_days"] == 20).all()
    assert (stored["label_maturity_days"] == 2).all()
    aci = stored[stored["method"] == "mondrian_aci"]
    assert all(options == {"gamma": 0.1} for options in aci["options"])
    expected = {version: recomputed(prepared, version, CONF) for version in SCENARIOS}
    for version, frame in expected.items():
        assert_rows_equal(stored, frame, version)
    assert expected["v1"]["n"].sum() > 0 and expected["v1"]["alpha"].notna().any()
    with psycopg.connect(prepared) as conn:  # a missing number is NULL, never a NaN that sorts above everything
        nans = conn.execute(
            "SELECT count(*) FROM fraudcal.replay_daily WHERE 'NaN' IN (quantile, alpha, ticket_threshold, "
            "clear_threshold, ece_raw, ece_p)"
        ).fetchone()[0]
    assert nans == 0

    # one extraction per version, of the days the windows and the replayed days need
    (extracted,) = xcom_values(dag_run, "extract")
    assert set(extracted["snapshots"]) == {"v1", "v2"}
    for path in extracted["snapshots"].values():
        with np.load(path) as data:
            days = data["predicted_at"].astype("datetime64[us]").astype("datetime64[D]")
        assert str(days.min()) == "2025-01-10" and str(days.max()) == "2025-03-01"  # date_from - 2 - 20 .. date_to

    assert len(smtp_sink.messages) == 1
    message = smtp_sink.messages[0]
    html = html_of(message)
    first_sentence = comparison_sentence(verdict(expected["v1"], 90))
    assert message["Subject"].startswith("[")
    assert " fraud_detector replay 2025-02-01..2025-03-01: " in message["Subject"]
    assert first_sentence.split("; ")[0] in message["Subject"]
    assert html.index(first_sentence) < html.index("<img")  # the verdict in plain words before any chart
    for version in SCENARIOS:
        for row in verdict(expected[version], 90):
            assert verdict_sentence(row) in html, verdict_sentence(row)
    assert "Labels as known now" in html and "no label timestamps" in html
    assert dag_run.run_id in html  # the mail says which run
    cids = set(re.findall(r'src="cid:([^"]+)"', html))
    assert len(cids) == 4  # daily coverage per class and daily review load, per version
    parts = {part["Content-ID"].strip("<>"): part for part in message.walk() if part["Content-ID"]}
    assert cids == set(parts)
    for cid in cids:
        assert parts[cid].get_content_type() == "image/png" and parts[cid].get_content().startswith(b"\x89PNG")
    assert {name.split("-")[1] for name in cids} == {"coverage", "review"}
    (attachment,) = [part for part in message.iter_attachments() if part.get_content_type() == "text/csv"]
    assert attachment.get_filename() == "replay_report.csv"
    table = pd.read_csv(io.StringIO(attachment.get_content()), keep_default_na=False)
    daily, totals = table[table["date"] != "all"], table[table["date"] == "all"]
    assert len(daily) == len(stored) and len(totals) == 2 * 4 * 2  # versions x methods x classes
    for row in totals.to_dict("records"):
        expected_rows = expected[row["model_version"]]
        part = expected_rows[(expected_rows["config"] == row["config"]) & (expected_rows["class"] == row["class"])]
        assert (row["n"], row["tickets"], row["review"]) == (
            part["n"].sum(),
            part["tickets"].sum(),
            part["review"].sum(),
        )

    with psycopg.connect(prepared) as conn:
        status, sent_at, html_path, run_id = conn.execute(
            "SELECT status, sent_at, html_path, run_id FROM fraudcal.report_runs WHERE report_type = 'replay'"
        ).fetchone()
    assert sent_at is not None and Path(html_path).is_file() and run_id == dag_run.run_id
    assert message["Subject"].startswith(f"[{status.upper()}]")


def test_a_rerun_replaces_its_own_rows_and_keeps_the_other_runs(prepared, smtp_sink):
    run_after = "2025-03-05T06:00:00+00:00"  # the same run_after is the same run id: a re-run of that run
    first = run_dag(DAG_ID, "2025-03-05", {**CONF, "date_from": "2025-02-20"}, retries=0, run_after=run_after)
    other = run_dag(DAG_ID, "2025-03-06", {**CONF, "methods": ["mondrian"], "date_from": "2025-02-25"}, retries=0)
    assert first.state == other.state == "success"
    assert first.run_id != other.run_id
    others_before = stored_rows(prepared, other.run_id).drop(columns="created_at")

    narrower = {**CONF, "methods": ["residual", "mondrian_aci"], "date_from": "2025-02-26", "label_maturity_days": 0}
    again = run_dag(DAG_ID, "2025-03-05", narrower, retries=0, run_after=run_after)
    assert again.state == "success" and again.run_id == first.run_id

    rows = stored_rows(prepared, first.run_id)
    assert set(rows["config"]) == {"residual", "mondrian_aci"}
    assert min(rows["day"]).isoformat() == "2025-02-26" and (rows["label_maturity_days"] == 0).all()
    for version in SCENARIOS:
        assert_rows_equal(rows, recomputed(prepared, version, narrower, ["residual", "mondrian_aci"]), version)
    pd.testing.assert_frame_equal(stored_rows(prepared, other.run_id).drop(columns="created_at"), others_before)
    assert len(stored_rows(prepared)) == len(rows) + len(others_before)


def test_a_bad_date_range_fails_at_once_naming_it_and_writes_nothing(prepared, smtp_sink):
    from fraudcal_airflow.errors import ReplayInputError
    from fraudcal_airflow.steps.replay_methods import ReplayRequest

    conf = {**CONF, "date_from": "2025-03-01", "date_to": "2025-02-01"}
    dag_run = run_dag(DAG_ID, "2025-03-07", conf)  # the DAG's own retries: an input error must not use them
    states = task_states(dag_run)
    assert dag_run.state == "failed" and states["plan"] == "failed", states
    assert {states[task] for task in ("extract", "replay", "build_report", "send_report")} == {"upstream_failed"}
    (plan_ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == "plan"]
    assert plan_ti.try_number == 1
    assert stored_rows(prepared).empty and not smtp_sink.messages
    with psycopg.connect(prepared) as conn:
        assert conn.execute("SELECT count(*) FROM fraudcal.report_runs WHERE report_type = 'replay'").fetchone()[0] == 0
    params = dict(load_dag(DAG_ID).params.dump()) | conf
    with pytest.raises(ReplayInputError, match="date_from=2025-03-01 is after date_to=2025-02-01"):
        ReplayRequest.from_params(params)


@pytest.mark.parametrize(
    ("conf", "value"),
    [
        ({"methods": ["mondrian", "conformal_magic"]}, "conformal_magic"),
        ({"label_maturity_days": "seven"}, "seven"),
        ({"label_maturity_days": 400}, "400"),
        ({"label_maturity_days": -1}, "-1"),
        ({"window_days": 0}, "0"),
    ],
)
def test_a_bad_param_is_refused_before_a_run_naming_the_value(prepared, smtp_sink, conf, value):
    import pendulum
    from airflow.sdk.exceptions import ParamValidationError

    param = next(iter(conf))
    with pytest.raises(ParamValidationError, match=f"Invalid input for param {param}:.*{re.escape(value)}"):
        load_dag(DAG_ID).test(logical_date=pendulum.datetime(2025, 3, 8, tz="UTC"), run_conf={**CONF, **conf})
    assert stored_rows(prepared).empty and not smtp_sink.messages


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"label_maturity_days": "seven"}, "label_maturity_days must be 'auto' or an integer in 0..365; got 'seven'"),
        ({"label_maturity_days": "400"}, "label_maturity_days must be 'auto' or an integer in 0..365; got '400'"),
        ({"date_from": "2025-02-01", "date_to": None}, "give both date_from and date_to"),
        ({"methods": ["mondrian", "oracle"]}, r"\['oracle'\] unknown"),
    ],
)
def test_the_step_names_the_bad_value_too(params, message):
    """What a caller that bypasses the form's schema (a test, a script) is told."""
    from fraudcal_airflow.errors import ReplayInputError
    from fraudcal_airflow.params import replay_methods
    from fraudcal_airflow.steps.replay_methods import ReplayRequest

    defaults = {name: param.value for name, param in replay_methods().items()}
    with pytest.raises(ReplayInputError, match=message):
        ReplayRequest.from_params({**defaults, **CONF, **params})


def replace_label_snapshots(db_url: str, rows: list[tuple]) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM fraudcal.label_snapshots WHERE model_type = 'fraud_detector'")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO fraudcal.label_snapshots (model_type, model_version, prediction_day, snapshot_day, "
                "n_predictions, n_labeled, n_fraud, source) VALUES ('fraud_detector', %s, %s, %s, %s, %s, %s, "
                "'fraud_log')",
                rows,
            )


def test_auto_maturity_reads_the_label_snapshots(prepared, smtp_sink):
    # One snapshot on 2025-03-04 (the run's as_of is 2025-03-05): 20 % of a day's labels in at age 0,
    # 50 % at 1, 80 % at 2, 90 % (all that ever come) from 3 on: 95 % of them arrive within 3 days.
    snapshot_day = date(2025, 3, 4)
    shares = {0: 0.2, 1: 0.5, 2: 0.8}
    rows = [
        ("v1", snapshot_day - pd.Timedelta(days=age), snapshot_day, 400, int(400 * shares.get(age, 0.9)), 20)
        for age in range(63)
    ]
    replace_label_snapshots(prepared, rows)
    conf = {**CONF, "label_maturity_days": "auto"}
    dag_run = run_dag(DAG_ID, "2025-03-05", conf, retries=0)
    assert dag_run.state == "success", task_states(dag_run)
    stored = stored_rows(prepared, dag_run.run_id)
    assert (stored["label_maturity_days"] == 3).all()
    for version in SCENARIOS:
        assert_rows_equal(stored, recomputed(prepared, version, {**conf, "label_maturity_days": 3}), version)
    html = html_of(smtp_sink.messages[0])
    assert "labels arrive within 3 days (curve from 63 cohorts)" in html


def test_auto_maturity_without_snapshots_falls_back_and_the_mail_says_so(prepared, smtp_sink):
    replace_label_snapshots(prepared, [])
    dag_run = run_dag(DAG_ID, "2025-03-05", {**CONF, "label_maturity_days": "auto"}, retries=0)
    assert dag_run.state == "success", task_states(dag_run)
    html = html_of(smtp_sink.messages[0])
    assert "auto requested but there is no arrival curve (no label snapshots): fell back to 0 days" in html
    assert (stored_rows(prepared, dag_run.run_id)["label_maturity_days"] == 0).all()
