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
With `label_maturity_days` = m > 0 (or `auto`, read from the label snapshots) the judged day is
the newest matured day, m days before the data interval's, and the reference window moves with
it: alerts come m days later, but they are not raised by labels that have not arrived yet. The
mail ends with the labeled share by cohort age per version.
On alert: an e-mail whose subject starts with `[ALERT]` and names only the alerting versions
and their rules, with time-series charts, and an Asset event
`fraud_model_retraining_requested` (extra: versions, rules, values) that a retraining DAG can
be scheduled on. Without an alert, a short digest only when `send_digest` is on.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, task

from fraudcal_airflow import params
from fraudcal_airflow.assets import RETRAINING_REQUESTED
from fraudcal_airflow.defaults import DEFAULT_ARGS, START_DATE


def _request():
    """The Params as a checked DriftRequest, and the run (inside a task only)."""
    from fraudcal_airflow.runtime import current_request
    from fraudcal_airflow.steps.drift_report import DriftRequest

    return current_request(DriftRequest)


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
    params=params.report_drift(),
)
def report_drift():
    @task(task_display_name="Measure and judge the day")
    def monitor() -> list[dict[str, Any]]:
        """Compute, store and judge each version's day (the data interval's) against its reference window."""
        from fraudcal_airflow.steps import drift_report

        return drift_report.monitor(*_request())

    @task(task_display_name="E-mail alert or digest")
    def notify(results: list[dict[str, Any]]) -> str:
        """[ALERT] mail naming only the alerting versions and rules, with charts; else a digest if asked."""
        from airflow.sdk.exceptions import AirflowSkipException

        from fraudcal_airflow.reporting.mail import run_url
        from fraudcal_airflow.steps import drift_report

        request, run = _request()
        subject = drift_report.notify(request, results, run_url(run.dag_id, run.run_id))
        if subject is None:
            raise AirflowSkipException("no alert, and no digest asked for")
        return subject

    @task(task_display_name="Request retraining", outlets=[RETRAINING_REQUESTED])
    def request_retraining(results: list[dict[str, Any]]) -> dict[str, Any]:
        """Emit fraud_model_retraining_requested when a version alerts (skipped otherwise)."""
        from airflow.sdk.exceptions import AirflowSkipException

        from fraudcal_airflow.runtime import set_asset_extra
        from fraudcal_airflow.steps import drift_report

        request, _ = _request()
        extra = drift_report.retraining_request(request.model_type, results)
        if extra is None:
            raise AirflowSkipException("no alert: no retraining requested")
        set_asset_extra(RETRAINING_REQUESTED, extra)
        print(f"retraining requested: {extra}")
        return extra

    results = monitor()
    notify(results)
    request_retraining(results)


report_drift_dag = report_drift()
