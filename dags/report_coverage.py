"""
### Coverage report: how often the intervals really contained the truth

Runs after every calibration that recorded a new or changed set (scheduled on the
`fraudcal_calibration_sets` Asset; events of re-runs over unchanged data are skipped, so three
triggers never send three identical mails) and on demand. For each model version, over the period (default: the last 7 days that have labels),
every labeled prediction gets the interval of the calibration set **in force when it was
made**, and the report says:

* empirical coverage per level (90/95/99), for **fraud and legitimate cases apart**, with a
  95 % Wilson interval, and per day; a class below target beyond the Wilson interval is stated
  in plain words ("the 90 % intervals contained 0.3 % of the confirmed frauds");
* the label sets the intervals carry ({0}, {1}, {0,1}, empty) and the width distribution;
* the automation rate (narrow among HIGH/CRITICAL), the share of auto-tickets that were
  legitimate and the same share among human reviews; a replay of narrow thresholds 0.05-0.50;
* ECE and a reliability diagram; the age of the newest calibration set (stale is flagged).

The e-mail opens with a status (green/amber/red) and the headline, is static HTML with `cid:`
charts (no JavaScript, no remote or base64 images) and a CSV of every table. Each report is
archived first (`fraudcal.report_runs` and the artifacts folder), then sent through the
`smtp_default` connection: a failed send loses nothing and is retried.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from fraudcal_airflow import params
from fraudcal_airflow.assets import CALIBRATION_SETS
from fraudcal_airflow.defaults import DEFAULT_ARGS, START_DATE


@dag(
    dag_id="report_coverage",
    dag_display_name="Coverage report",
    description="Daily HTML e-mail: interval coverage per class, widths, automation, threshold replay.",
    doc_md=__doc__,
    schedule=[CALIBRATION_SETS],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["fraudcal", "report", "conformal"],
    params=params.report_coverage(),
)
def report_coverage():
    @task(task_display_name="Build and archive the report")
    def build_report() -> dict[str, Any]:
        """Compute the figures, draw the charts, render the HTML and archive everything."""
        from fraudcal_airflow.paths import run_folder
        from fraudcal_airflow.runtime import current_run
        from fraudcal_airflow.steps import coverage_report

        run = current_run()
        coverage_report.skip_without_news(run)
        folder = run_folder("reports", run.dag_id, run.run_id, "coverage")
        return coverage_report.build_report(run.params, run, folder=folder).as_dict()

    @task(task_display_name="E-mail the report")
    def send_report(archived: dict[str, Any]) -> str:
        """Send the archived report through smtp_default; record when the server accepted it."""
        from fraudcal_airflow.steps import coverage_report

        return coverage_report.send_report(archived)

    send_report(build_report())


report_coverage_dag = report_coverage()
