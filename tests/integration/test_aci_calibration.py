"""Per-class ACI (method ``mondrian_aci``) in ``calibrate_fraud_model``, on real PostgreSQL and Redis.

Two consecutive daily runs: the first starts at the nominal level (and so equals Mondrian), the
second applies the first day's matured errors, each judged with the set that was in force when
it was predicted. The new levels are checked against the recursion written out by hand from
counts taken here in SQL, and the set's quantiles against ranks and order statistics computed
here too; never against the code under test.

The log is built here: every label known at once (the label delay is the maturity tests'
subject), v1 with frauds its scores do not see from 2025-02-15 on (a concept drift: the fraud
class misses above target, so ACI widens it; a mere change of the fraud rate would not, since
Mondrian survives label shift), and v3 whose frauds of 2025-02-20 all get a score of 0.01
(every one missed: its fraud level saturates).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from fractions import Fraction

import numpy as np
import pandas as pd
import psycopg
import pytest

from fraudcal.defaults import SUPPORTED_LEVELS
from fraudcal.synthetic import risk_levels
from fraudcal_airflow.publish import live_key
from fraudcal_dev.dagtest import run_dag, task_states, xcom_values
from fraudcal_dev.synthetic_load import load_prediction_log, truncate_prediction_logs

DAG_ID = "calibrate_fraud_model"
START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 52  # 2025-01-01 .. 2025-02-21
METHODS = ["residual", "mondrian", "mondrian_aci"]
GAMMA = 0.2


def build_log() -> pd.DataFrame:
    rng = np.random.default_rng(20250220)
    frames = []
    for version, per_day in (("v1", 700), ("v3", 160)):
        n = per_day * DAYS
        offsets = np.sort(rng.integers(0, DAYS * 86_400_000_000, n))
        predicted_at = pd.Timestamp(START) + pd.to_timedelta(offsets, unit="us")
        day = offsets // 86_400_000_000
        probability = rng.beta(0.6, 6.0, n)
        # from 2025-02-15 on, v1 also sees frauds its scores do not know of (4 % of cases, any score)
        drifted = (day >= 45) & (version == "v1")
        fraud = (rng.random(n) < probability) | (drifted & (rng.random(n) < 0.04))
        if version == "v3":
            probability = np.where((day == 50) & fraud, 0.01, probability)  # 2025-02-20: every fraud scored 0.01
        frames.append(
            pd.DataFrame(
                {
                    "person_id": rng.integers(10_000, 60_000, n),
                    "site_id": rng.integers(1, 9, n),
                    "model_type": "fraud_detector",
                    "model_version": version,
                    "predicted_at": predicted_at,
                    "fraud_probability": probability,
                    "risk_level": risk_levels(probability),
                    "actual_fraud_detected": pd.array(fraud, dtype="boolean"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True).sort_values("predicted_at", ignore_index=True)


@pytest.fixture(scope="module")
def log(db_url):
    frame = build_log()
    with psycopg.connect(db_url) as conn:
        truncate_prediction_logs(conn)
        load_prediction_log(conn, frame)
    return frame


@pytest.fixture
def clean(pg, redis_client, log, airflow_db):
    """The module's log; no sets, states or snapshots; no fraudcal keys in Redis."""
    pg.execute("TRUNCATE fraudcal.label_snapshots, fraudcal.aci_state RESTART IDENTITY")
    yield pg, redis_client


def run(day: str, version: str = "v1", **conf):
    dag_run = run_dag(DAG_ID, day, {"model_versions": [version], "methods": METHODS, "aci_gamma": GAMMA, **conf})
    assert dag_run.state == "success", task_states(dag_run)
    return dag_run


def set_levels(pg, version: str, method: str, as_of: str) -> dict:
    return pg.execute(
        "SELECT levels FROM fraudcal.current_calibration_sets WHERE model_version = %s AND method = %s AND as_of = %s",
        (version, method, as_of),
    ).fetchone()[0]


def states(pg, version: str = "v1") -> list[tuple]:
    return pg.execute(
        "SELECT * FROM fraudcal.aci_state WHERE model_version = %s ORDER BY as_of, level, id", (version,)
    ).fetchall()


SQL_DAY_ERRORS = """
WITH s AS (
    SELECT (levels -> %(level)s -> '0' ->> 'quantile')::float8 AS q0,
           (levels -> %(level)s -> '1' ->> 'quantile')::float8 AS q1
      FROM fraudcal.current_calibration_sets
     WHERE model_version = %(version)s AND method = 'mondrian_aci' AND as_of = %(set_as_of)s),
d AS (
    SELECT fraud_probability AS p, actual_fraud_detected AS y
      FROM noc_fraud_prediction_log
     WHERE model_version = %(version)s AND actual_fraud_detected IS NOT NULL
       AND predicted_at >= %(day)s::date AND predicted_at < %(day)s::date + 1)
SELECT count(*) FILTER (WHERE NOT y), count(*) FILTER (WHERE NOT y AND p > q0),
       count(*) FILTER (WHERE y), count(*) FILTER (WHERE y AND 1 - p > q1)
  FROM d CROSS JOIN s
"""

SQL_CLASS_SCORES = """
SELECT CASE WHEN actual_fraud_detected THEN 1 - fraud_probability ELSE fraud_probability END AS score
  FROM noc_fraud_prediction_log
 WHERE model_version = %(version)s AND actual_fraud_detected = %(fraud)s
   AND predicted_at >= %(start)s AND predicted_at < %(end)s
 ORDER BY score
"""


def day_errors(pg, version: str, level: int, day: str, set_as_of: str) -> tuple[dict, dict]:
    """Misses and labeled rows per class of one prediction day, under the ACI set of ``set_as_of`` (SQL)."""
    params = {"level": str(level), "version": version, "set_as_of": set_as_of, "day": day}
    n0, m0, n1, m1 = pg.execute(SQL_DAY_ERRORS, params).fetchone()
    return {"0": m0, "1": m1}, {"0": n0, "1": n1}


def class_scores(pg, version: str, fraud: bool, start: str, end: str) -> list[float]:
    rows = pg.execute(SQL_CLASS_SCORES, {"version": version, "fraud": fraud, "start": start, "end": end}).fetchall()
    return [row[0] for row in rows]


def rank(n: int, alpha: float) -> int:
    """ceil((n + 1)(1 - alpha)) with alpha read as its shortest decimal, exactly."""
    return math.ceil((n + 1) * (1 - Fraction(repr(alpha))))


def test_two_daily_runs_adapt_each_class_by_the_first_days_matured_errors(clean):
    from tests.integration.test_calibrate_dag import sql_mondrian_recomputation, sql_recomputation

    pg, redis_client = clean
    run("2025-02-20")
    # day 1: no state and no ACI set in force before: the nominal level, i.e. Mondrian's numbers exactly
    first_states = states(pg)
    assert [(row[3], row[4]) for row in first_states] == [
        (str(level), datetime(2025, 2, 20, tzinfo=UTC)) for level in SUPPORTED_LEVELS
    ]
    aci_1, mondrian_1 = (
        set_levels(pg, "v1", "mondrian_aci", "2025-02-20"),
        set_levels(pg, "v1", "mondrian", "2025-02-20"),
    )
    for level in map(str, SUPPORTED_LEVELS):
        target = float(Fraction(100 - int(level), 100))
        for label in ("0", "1"):
            assert {key: aci_1[level][label][key] for key in ("n", "k", "quantile")} == mondrian_1[level][label]
            assert (aci_1[level][label]["alpha"], aci_1[level][label]["saturated"]) == (target, False)
        assert (aci_1[level]["updated_through"], aci_1[level]["gamma"]) == (None, GAMMA)
    assert {
        row[0]: json.loads(json.dumps(row[1])) for row in pg.execute("SELECT level, applied FROM fraudcal.aci_state")
    } == {str(level): [] for level in SUPPORTED_LEVELS}

    second = run("2025-02-21")
    aci_2 = set_levels(pg, "v1", "mondrian_aci", "2025-02-21")
    window = {"start": "2025-01-22", "end": "2025-02-21"}
    scores = {label: class_scores(pg, "v1", label == "1", **window) for label in ("0", "1")}
    moved = []
    for level in SUPPORTED_LEVELS:
        key = str(level)
        target = float(Fraction(100 - level, 100))
        misses, counts = day_errors(pg, "v1", level, "2025-02-20", "2025-02-20")
        assert counts["1"] > 30 and counts["0"] > 300
        for label in ("0", "1"):
            # the hand recursion: alpha_1 = alpha_0 + gamma (target - misses / count), alpha_0 = target
            expected = target + GAMMA * (target - misses[label] / counts[label])
            n = len(scores[label])
            assert min(target, 1 / (n + 1)) < expected < max(target, n / (n + 1))  # inside the band: no clip
            entry = aci_2[key][label]
            assert entry["alpha"] == pytest.approx(expected, rel=0, abs=1e-15), (level, label)
            assert entry["saturated"] is False and entry["n"] == n
            k = rank(n, entry["alpha"])
            assert entry["k"] == k and entry["quantile"] == (scores[label][k - 1] if k <= n else 1.0)
            moved.append(entry["alpha"] != target)
        assert aci_2[key]["updated_through"] == "2025-02-20"
        # the state persisted: where the next run starts
        row = pg.execute(
            "SELECT state, applied, gamma, updated_through, updates, legitimate_alpha, fraud_alpha, "
            "legitimate_saturated, fraud_saturated, calibration_set_id FROM fraudcal.current_aci_state "
            "WHERE model_version = 'v1' AND level = %s AND as_of = '2025-02-21'",
            (key,),
        ).fetchone()
        state, applied, gamma, through, updates, alpha_0, alpha_1, saturated_0, saturated_1, set_id = row
        assert applied == [{"day": "2025-02-20", "misses": misses, "counts": counts}]
        assert (gamma, str(through), updates) == (GAMMA, "2025-02-20", 1)
        assert (
            (alpha_0, alpha_1)
            == (aci_2[key]["0"]["alpha"], aci_2[key]["1"]["alpha"])
            == (
                state["alpha"]["0"],
                state["alpha"]["1"],
            )
        )
        assert (saturated_0, saturated_1) == (False, False)
        assert set_id == xcom_values(second, "calibrate_version.record")[0]["calibration_set_ids"]["mondrian_aci"]
    assert any(moved)
    # v1's new frauds are missed: the fraud class missed above target, and ACI widened it
    fraud_90 = aci_2["90"]["1"]
    assert fraud_90["alpha"] < 0.1 and fraud_90["k"] >= set_levels(pg, "v1", "mondrian", "2025-02-21")["90"]["1"]["k"]

    # the other methods are the methods they were: their SQL recomputation
    payload = json.loads(redis_client.get(live_key("fraud_detector", "v1")))
    expected = sql_recomputation(pg, "v1", window["start"], window["end"])
    assert payload["levels"] == {
        level: {"quantile": entry["quantile"], "k": entry["k"]} for level, entry in expected["levels"].items()
    }
    for level, classes in sql_mondrian_recomputation(pg, "v1", window["start"], window["end"]).items():
        assert {label: payload["methods"]["mondrian"]["levels"][level][label] for label in ("0", "1")} == classes
    assert sorted(payload["methods"]) == sorted(METHODS) and payload["methods"]["mondrian_aci"]["levels"] == aci_2

    # the online reader answers the batch side's sets, score by score
    from fraudcal.online import load

    calibration = load(redis_client.get, "fraud_detector", "v1")
    grid = np.concatenate([np.linspace(0, 1, 1001), [aci_2["90"]["0"]["quantile"], 1 - aci_2["90"]["1"]["quantile"]]])
    for level in SUPPORTED_LEVELS:
        q_zero, q_one = aci_2[str(level)]["0"]["quantile"], aci_2[str(level)]["1"]["quantile"]
        holds_zero, holds_one = grid <= q_zero, (1.0 - grid) <= q_one
        for index, score in enumerate(grid.tolist()):
            batch = [label for label, held in ((0, holds_zero[index]), (1, holds_one[index])) if held]
            assert calibration.label_set(score, level, method="mondrian_aci") == batch

    # a re-run of the second day changes nothing: same states, same sets, same payload
    before = (states(pg), pg.execute("SELECT * FROM fraudcal.calibration_sets ORDER BY id").fetchall())
    raw = redis_client.get(live_key("fraud_detector", "v1"))
    again = run("2025-02-21")
    assert xcom_values(again, "calibrate_version.publish") == ["unchanged"]
    assert (states(pg), pg.execute("SELECT * FROM fraudcal.calibration_sets ORDER BY id").fetchall()) == before
    assert redis_client.get(live_key("fraud_detector", "v1")) == raw


def test_a_class_that_misses_every_case_saturates_and_the_run_says_so(clean, capfd):
    pg, _ = clean
    run("2025-02-20", "v3", aci_gamma=0.5)
    run("2025-02-21", "v3", aci_gamma=0.5)
    output = "".join(capfd.readouterr())
    frauds = class_scores(pg, "v3", True, "2025-01-22", "2025-02-21")
    misses, counts = day_errors(pg, "v3", 90, "2025-02-20", "2025-02-20")
    assert misses["1"] == counts["1"] > 0  # every fraud of the day scored 0.01: all missed
    entry = set_levels(pg, "v3", "mondrian_aci", "2025-02-21")["90"]["1"]
    # 0.1 + 0.5 (0.1 - 1) = -0.35 is below the band: clipped to 1 / (n_1 + 1), the loosest level that still ranks a score
    assert entry["saturated"] is True and entry["alpha"] == pytest.approx(1 / (len(frauds) + 1), rel=1e-12)
    assert entry["k"] == len(frauds) and entry["quantile"] == frauds[-1]
    assert pg.execute(
        "SELECT fraud_saturated FROM fraudcal.current_aci_state WHERE model_version = 'v3' AND level = '90' "
        "AND as_of = '2025-02-21'"
    ).fetchone() == (True,)
    assert "mondrian_aci 90 %: the fraud class SATURATED" in output


def test_without_mondrian_aci_no_state_is_kept_and_the_payload_has_no_entry(clean):
    pg, redis_client = clean
    dag_run = run_dag(DAG_ID, "2025-02-21", {"model_versions": ["v1"]})
    assert dag_run.state == "success", task_states(dag_run)
    assert states(pg) == []
    payload = json.loads(redis_client.get(live_key("fraud_detector", "v1")))
    assert sorted(payload["methods"]) == ["mondrian", "residual", "venn_abers"]
