"""
### Drift monitoring: daily model health, alerts, and a retraining request

For each model version, the data interval's day (the day before) is measured against the
`reference_days` before it and stored in `fraudcal.model_health_daily`: predictions, labeled
outcomes, fraud rate with a Wilson interval, PR-AUC (of the day, and of the trailing week),
ROC-AUC, Brier, ECE, PSI and KS of the scores, interval coverage per level and for the fraud
class, mean interval width.

Alert rules (each a tested function in `fraudcal.drift`):
* **PR-AUC**: the trailing week's PR-AUC below (1 − `pr_auc_drop`) × the reference window's;
* **PSI**: the score PSI above `psi_alert` (`psi_warn` is noted);
* **band**: fraud rate or mean score outside the reference days' mean ± `band_sigmas` sd;
* **coverage**: coverage below target beyond the Wilson interval on 3 consecutive days.

A day without enough labels says "not enough labels" instead of judging label-based rules.
On alert: an e-mail whose subject starts with `[ALERT]` and names only the alerting versions
and their rules, with time-series charts, and an Asset event
`fraud_model_retraining_requested` (extra: versions, rules, values) that a retraining DAG can
be scheduled on. Without an alert, a short digest only when `send_digest` is on.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from fraudcal_airflow.assets import RETRAINING_REQUESTED
from fraudcal_airflow.defaults import DEFAULT_ARGS, START_DATE
from fraudcal_airflow.params import coverage_level_param, model_type_param, model_versions_param, recipients_param


@dag(
    dag_id="report_drift",
    dag_display_name="Drift monitoring",
    description="Daily PR-AUC, score, label and calibration drift per model version; alerts and retraining requests.",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["fraudcal", "monitoring", "drift"],
    params={
        "model_type": model_type_param(),
        "model_versions": model_versions_param("Empty: every version of the model type."),
        "reference_days": Param(28, type="integer", minimum=7, maximum=365, title="Reference window (days)"),
        "pr_auc_drop": Param(0.10, type="number", exclusiveMinimum=0, maximum=1, title="PR-AUC drop (relative)"),
        "psi_warn": Param(0.1, type="number", minimum=0, maximum=10, title="PSI warning"),
        "psi_alert": Param(0.25, type="number", minimum=0, maximum=10, title="PSI alert"),
        "band_sigmas": Param(3, type="number", minimum=1, maximum=10, title="Band width (sd)"),
        "coverage_level": coverage_level_param(
            "Coverage level (%)", "The level whose coverage the coverage rule judges."
        ),
        "recipients": recipients_param(),
        "send_digest": Param(False, type="boolean", title="Daily digest without alerts"),
    },
)
def report_drift():
    @task(task_display_name="Measure and judge the day")
    def monitor() -> list[dict[str, Any]]:
        """Compute, store and judge each version's day against its reference window."""
        from datetime import timedelta

        from airflow.sdk.exceptions import AirflowFailException

        from fraudcal.drift import DriftThresholds
        from fraudcal_airflow import calibration_steps as steps
        from fraudcal_airflow import drift_monitor, outcomes
        from fraudcal_airflow.connections import fraud_db_connection, fraud_db_copy_connection
        from fraudcal_airflow.errors import CalibrationInputError
        from fraudcal_airflow.store import apply_migrations

        context = get_current_context()
        params = context["params"]
        if params["psi_warn"] > params["psi_alert"]:
            raise AirflowFailException(f"psi_warn={params['psi_warn']} must not exceed psi_alert={params['psi_alert']}")
        as_of = steps.as_of_for_run(context.get("data_interval_end"), context["dag_run"].run_after)
        day = (as_of - timedelta(days=1)).date()
        thresholds = DriftThresholds(
            pr_auc_drop=params["pr_auc_drop"],
            psi_warn=params["psi_warn"],
            psi_alert=params["psi_alert"],
            band_sigmas=params["band_sigmas"],
            coverage_level=params["coverage_level"],
        )
        copy_conn = fraud_db_copy_connection()
        try:
            with fraud_db_connection() as conn:
                apply_migrations(conn)
                versions = outcomes.requested_or_known_versions(
                    conn, "fraud_log", params["model_type"], params["model_versions"]
                )
                results = [
                    drift_monitor.monitor_day(
                        conn,
                        copy_conn,
                        model_type=params["model_type"],
                        version=version,
                        day=day,
                        reference_days=params["reference_days"],
                        thresholds=thresholds,
                        run_id=context["run_id"],
                    )
                    for version in versions
                ]
        except CalibrationInputError as error:
            raise AirflowFailException(str(error)) from error
        finally:
            copy_conn.close()
        for result in results:
            rules = ", ".join(f"{a['rule']} ({a['metric']}={a['value']:.4f})" for a in result["alerts"]) or "no alert"
            print(f"{result['model_version']} {result['day']}: {rules}; " + "; ".join(result["notes"]))
        return results

    @task(task_display_name="E-mail alert or digest")
    def notify(results: list[dict[str, Any]]) -> str:
        """[ALERT] mail naming only the alerting versions and rules, with charts; else a digest if asked."""
        from datetime import date

        from airflow.sdk.exceptions import AirflowSkipException

        from fraudcal_airflow import coverage_report, drift_monitor
        from fraudcal_airflow.connections import SMTP_CONN_ID, fraud_db_connection

        context = get_current_context()
        params = context["params"]
        alerting = [result for result in results if result["alerts"]]
        if not alerting and not params["send_digest"]:
            raise AirflowSkipException("no alert, and no digest asked for")
        day = date.fromisoformat(results[0]["day"]) if results else None
        if alerting:
            subject = drift_monitor.alert_subject(params["model_type"], alerting, day)
            with fraud_db_connection() as conn:
                charts = drift_monitor.alert_charts(
                    conn, params["model_type"], alerting, params["reference_days"], params["band_sigmas"]
                )
        else:
            subject = f"[OK] {params['model_type']} model health on {day}: no alert"
            charts = {}
        html = drift_monitor.render_html(
            subject,
            params["model_type"],
            day,
            results,
            charts,
            coverage_report.run_url(context["dag"].dag_id, context["run_id"]),
        )
        message = coverage_report.build_message(
            subject=subject, sender=None, recipients=params["recipients"], html=html, charts=charts, csv_text=None
        )
        coverage_report.send_message(message, SMTP_CONN_ID)
        print(f"sent: {subject}")
        return subject

    @task(task_display_name="Request retraining", outlets=[RETRAINING_REQUESTED])
    def request_retraining(results: list[dict[str, Any]]) -> dict[str, Any]:
        """Emit fraud_model_retraining_requested when a version alerts (skipped otherwise)."""
        from airflow.sdk.exceptions import AirflowSkipException

        context = get_current_context()
        alerting = {
            result["model_version"]: {
                "rules": sorted({alert["rule"] for alert in result["alerts"]}),
                "values": {alert["metric"]: alert["value"] for alert in result["alerts"]},
            }
            for result in results
            if result["alerts"]
        }
        if not alerting:
            raise AirflowSkipException("no alert: no retraining requested")
        extra = {"model_type": context["params"]["model_type"], "day": results[0]["day"], "versions": alerting}
        context["outlet_events"][RETRAINING_REQUESTED].extra = extra
        print(f"retraining requested: {extra}")
        return extra

    results = monitor()
    notify(results)
    request_retraining(results)


report_drift_dag = report_drift()
