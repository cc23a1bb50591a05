"""Drift monitoring on synthetic scenarios, and ``report_drift`` end to end.

Each scenario is the same seeded synthetic log (400k events over 60 days, every label known),
with drift injected from day 40 where the scenario says so. Days 2..59 are measured in order
(as the daily DAG would, so that each day's reference days are stored); days 30..59 are judged.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import psycopg
import psycopg2
import pytest

from fraudcal.drift import DriftThresholds
from fraudcal.synthetic import SyntheticConfig, generate_prediction_log, with_drift
from fraudcal_airflow.reporting.drift import alert_subject
from fraudcal_airflow.steps.drift_report import monitor_day
from fraudcal_dev.dagtest import run_dag, task_states, xcom_values
from fraudcal_dev.synthetic_load import load_prediction_log, truncate_prediction_logs
from tests.integration.history import load_history

pytestmark = pytest.mark.slow

BASE = SyntheticConfig(n_events=400_000, days=60, labels_as_of=datetime(2025, 4, 1, tzinfo=UTC))
DRIFT_DAY = 40
SCENARIOS = {
    "stable": BASE,
    "covariate_shift": with_drift(BASE, drift_day=DRIFT_DAY, covariate_shift=1.0),
    "concept_drift": with_drift(BASE, drift_day=DRIFT_DAY, concept_shift=1.0),
    "fraud_rate_up_a_third": with_drift(BASE, drift_day=DRIFT_DAY, fraud_rate_multiplier=4 / 3),
    "labels_stop": with_drift(BASE, labels_as_of=BASE.start + timedelta(days=45)),
}


def load(db_url: str, config: SyntheticConfig) -> None:
    """The scenario's log, with no calibration set and no stored health (each scenario starts clean)."""
    with psycopg.connect(db_url) as conn:
        truncate_prediction_logs(conn)
        conn.execute("TRUNCATE fraudcal.calibration_sets, fraudcal.triage_certificates RESTART IDENTITY")
        conn.execute("DELETE FROM fraudcal.model_health_daily") if conn.execute(
            "SELECT to_regclass('fraudcal.model_health_daily')"
        ).fetchone()[0] else None
        conn.commit()
        load_prediction_log(conn, generate_prediction_log(config))


def measure(db_url: str, last_day: int = 59, versions=("v1",)) -> dict[int, dict]:
    """Run the daily monitor for days 2..last_day; return the judged days (>= 30)."""
    judged = {}
    with psycopg.connect(db_url) as conn:
        from fraudcal_airflow.db.migrations import apply_migrations

        apply_migrations(conn)
        copy_conn = psycopg2.connect(db_url)
        for offset in range(2, last_day + 1):
            for version in versions:
                result = monitor_day(
                    conn,
                    copy_conn,
                    model_type="fraud_detector",
                    version=version,
                    day=date(2025, 1, 1) + timedelta(days=offset),
                    reference_days=28,
                    thresholds=DriftThresholds(),
                    run_id="test",
                )
                if offset >= 30:
                    judged.setdefault(offset, {})[version] = result
        copy_conn.close()
    return judged


def fired(judged: dict[int, dict], version: str = "v1") -> dict[int, set[str]]:
    return {
        day: {a["rule"] for a in results[version]["alerts"]}
        for day, results in judged.items()
        if results[version]["alerts"]
    }


@pytest.fixture(scope="module")
def scenario_results(db_url):
    results = {}
    for name, config in SCENARIOS.items():
        load(db_url, config)
        results[name] = measure(db_url)
    return results


def test_stable_model_raises_no_alert_over_30_days(scenario_results):
    assert fired(scenario_results["stable"]) == {}


def test_covariate_shift_raises_a_psi_alert_from_the_drift_day(scenario_results):
    alerts = fired(scenario_results["covariate_shift"])
    assert min(alerts) == DRIFT_DAY and "PSI" in alerts[DRIFT_DAY]


def test_concept_drift_raises_a_pr_auc_alert(scenario_results):
    alerts = fired(scenario_results["concept_drift"])
    assert min(alerts) >= DRIFT_DAY
    assert any("PR-AUC" in rules for day, rules in alerts.items() if day <= DRIFT_DAY + 3)


def test_fraud_rate_rise_of_a_third_raises_a_band_alert(scenario_results):
    alerts = fired(scenario_results["fraud_rate_up_a_third"])
    assert min(alerts) >= DRIFT_DAY
    band_days = [day for day, rules in alerts.items() if "band" in rules]
    assert band_days, alerts
    metrics = {
        alert["metric"] for day in band_days for alert in scenario_results["fraud_rate_up_a_third"][day]["v1"]["alerts"]
    }
    assert "fraud_rate" in metrics


def test_labels_stopping_says_not_enough_labels_and_does_not_alert(scenario_results):
    judged = scenario_results["labels_stop"]
    assert fired(judged) == {}
    for day in range(46, 60):
        assert judged[day]["v1"]["notes"][0].startswith("not enough labels")


def test_alert_subject_names_only_the_alerting_versions():
    results = [
        {"model_version": "v1", "alerts": [{"rule": "PSI"}, {"rule": "PR-AUC"}]},
        {"model_version": "v2", "alerts": []},
    ]
    assert alert_subject("fraud_detector", [r for r in results if r["alerts"]], date(2025, 2, 10)) == (
        "[ALERT] fraud_detector v1 (PR-AUC, PSI) on 2025-02-10: retraining requested"
    )


def test_the_dag_mails_an_alert_and_requests_retraining(db_url, airflow_db, smtp_sink):
    load(db_url, SCENARIOS["covariate_shift"])
    measure(db_url, last_day=DRIFT_DAY - 1, versions=("v1", "v2"))  # the days before, as earlier daily runs
    quiet = run_dag("report_drift", "2025-02-10", {"model_versions": ["v1", "v2"]}, retries=0)  # judges day 39
    assert quiet.state == "success", task_states(quiet)
    assert task_states(quiet)["request_retraining"] == "skipped" and smtp_sink.messages == []

    dag_run = run_dag("report_drift", "2025-02-11", {"model_versions": ["v1", "v2"]}, retries=0)  # judges day 40
    assert dag_run.state == "success", task_states(dag_run)
    results = xcom_values(dag_run, "monitor")[0]
    alerting = {r["model_version"]: sorted({a["rule"] for a in r["alerts"]}) for r in results if r["alerts"]}
    assert "v1" in alerting and "PSI" in alerting["v1"]
    message = smtp_sink.messages[0]
    assert message["Subject"].startswith("[ALERT] fraud_detector ")
    for version, rules in alerting.items():
        assert f"{version} ({', '.join(rules)})" in message["Subject"]
    html = message.get_body(preferencelist=("html",)).get_content()
    cids = {part["Content-ID"].strip("<>") for part in message.walk() if part["Content-ID"]}
    assert cids and all(f"cid:{cid}" in html for cid in cids)

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == "fraud_model_retraining_requested", AssetEvent.source_run_id == dag_run.run_id)
            .all()
        )
        extra = events[0].extra
    assert len(events) == 1 and extra["day"] == "2025-02-10"
    assert {version: info["rules"] for version, info in extra["versions"].items()} == alerting
    with psycopg.connect(db_url) as conn:
        stored = conn.execute(
            "SELECT count(*), max(psi) FROM fraudcal.model_health_daily WHERE day = '2025-02-10'"
        ).fetchone()
    assert stored[0] == 2 and stored[1] > 0.25
    json.dumps(extra)  # JSON-serialisable for the REST API and downstream DAGs


def test_the_coverage_rule_judges_the_default_methods_fraud_class(db_url):
    """Daily residual and Mondrian sets on a stable log: the residual intervals cover almost no
    confirmed fraud (on target overall), Mondrian's label sets cover them. The coverage rule
    judges the default method per class, so it alerts when the default is residual and not when
    it is Mondrian, on the same stored days."""
    from fraudcal.comparison import coverage_of_counts
    from fraudcal.drift import coverage_rule
    from fraudcal_airflow.db.migrations import apply_migrations

    config = SyntheticConfig(n_events=100_000, days=32)
    with psycopg.connect(db_url) as conn:
        apply_migrations(conn)
        conn.execute("DELETE FROM fraudcal.model_health_daily")
        conn.execute("TRUNCATE fraudcal.triage_certificates")
        conn.commit()
    load_history(db_url, config, first_set_day=20, methods=("residual", "mondrian"))  # sets from 2025-01-21
    days = [date(2025, 1, 1) + timedelta(days=offset) for offset in range(21, 29)]
    alerts: dict[str, dict[date, list[dict]]] = {}
    with psycopg.connect(db_url) as conn:
        copy_conn = psycopg2.connect(db_url)
        try:
            for method in ("residual", "mondrian"):  # the second pass rewrites the same rows, as a re-run does
                for day in days:
                    result = monitor_day(
                        conn, copy_conn, model_type="fraud_detector", version="v1", day=day, reference_days=14,
                        thresholds=DriftThresholds(coverage_method=method), run_id="test",
                    )
                    alerts.setdefault(method, {})[day] = [a for a in result["alerts"] if a["rule"] == "coverage"]
        finally:
            copy_conn.close()
            conn.execute("TRUNCATE fraudcal.calibration_sets RESTART IDENTITY")
            conn.commit()
        stored = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT day, class_coverage, coverage_method, coverage_fraud_90, covered_90, with_set "
                "FROM fraudcal.model_health_daily WHERE model_version = 'v1' AND day >= '2025-01-22'"
            )
        }
    residual_fraud = {day: stored[day][0]["residual"]["90"]["fraud"] for day in days}
    mondrian_fraud = {day: stored[day][0]["mondrian"]["90"]["fraud"] for day in days}
    assert all(entry["n"] >= 5 for entry in residual_fraud.values())  # every day has enough frauds to judge
    # What the rule sees, recomputed from the stored counts: residual far below 90 %, Mondrian not.
    assert all(coverage_of_counts(e["covered"], e["n"], 0.9).high < 0.9 for e in residual_fraud.values())
    assert not any(coverage_of_counts(e["covered"], e["n"], 0.9).high < 0.9 for e in mondrian_fraud.values())
    assert all(stored[day][2] == entry["covered"] / entry["n"] for day, entry in residual_fraud.items())
    # The rule of old judged residual coverage of all labeled outcomes: on target here, it stayed quiet.
    overall = [(stored[day][3], stored[day][4]) for day in days]
    assert not any(coverage_rule(overall[: end + 1], 0.9) for end in range(len(overall)))
    # From the third day with sets on, residual's fraud coverage alerts every day; Mondrian's never.
    for day in days[2:]:
        metrics = [alert["metric"] for alert in alerts["residual"][day]]
        assert "residual_coverage_fraud_90" in metrics, (day, alerts["residual"][day])
    assert alerts["residual"][days[0]] == [] and alerts["residual"][days[1]] == []  # fewer than 3 days with sets
    assert all(found == [] for found in alerts["mondrian"].values()), alerts["mondrian"]  # frauds and legitimate cases
    assert all(stored[day][1] == "mondrian" for day in days)  # the method the last pass judged
