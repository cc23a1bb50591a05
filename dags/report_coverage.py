"""
### Coverage report: how often the intervals really contained the truth

Runs after every calibration (scheduled on the `fraudcal_calibration_sets` Asset) and on
demand. For each model version, over the period (default: the last 7 days that have labels),
every labeled prediction gets the interval of the calibration set **in force when it was
made**, and the report says:

* empirical coverage per level (90/95/99), for **fraud and legitimate cases apart**, with a
  95 % Wilson interval, and per day; a class below target beyond the Wilson interval is stated
  in plain words ("the 90 % intervals contained 0.3 % of the confirmed frauds");
* the label sets the intervals carry ({0}, {1}, {0,1}, empty) and the width distribution;
* the automation rate (narrow among HIGH/CRITICAL) and the false-positive rates of auto-tickets
  and of human reviews; a replay of narrow thresholds 0.05-0.50;
* ECE and a reliability diagram; the age of the newest calibration set (stale is flagged).

The e-mail opens with a status (green/amber/red) and the headline, is static HTML with `cid:`
charts (no JavaScript, no remote or base64 images) and a CSV of every table. Each report is
archived first (`fraudcal.report_runs` and the artifacts folder), then sent through the
`smtp_default` connection: a failed send loses nothing and is retried.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from fraudcal_airflow.assets import CALIBRATION_SETS
from fraudcal_airflow.defaults import DEFAULT_ARGS, START_DATE
from fraudcal_airflow.params import (
    coverage_level_param,
    model_type_param,
    model_versions_param,
    narrow_threshold_param,
    recipients_param,
)


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
    params={
        "model_type": model_type_param(),
        "model_versions": model_versions_param("Empty: every version of the model type."),
        "date_from": Param(
            None,
            type=["null", "string"],
            format="date",
            title="From (inclusive)",
            description="YYYY-MM-DD. Empty (with date_to): the last 7 days with labels.",
        ),
        "date_to": Param(None, type=["null", "string"], format="date", title="To (inclusive)"),
        "coverage_level": coverage_level_param(
            "Coverage level (%)", "The level of the per-day, width, automation and replay figures."
        ),
        "narrow_threshold": narrow_threshold_param(),
        "recipients": recipients_param(),
        "stale_after_hours": Param(36, type="integer", minimum=1, maximum=720, title="Stale set after (hours)"),
    },
)
def report_coverage():
    @task(task_display_name="Build and archive the report", multiple_outputs=False)
    def build_report() -> dict[str, Any]:
        """Compute the figures, draw the charts, render the HTML and archive everything."""
        from datetime import UTC, datetime

        from airflow.sdk.exceptions import AirflowFailException

        from fraudcal_airflow import calibration_steps as steps
        from fraudcal_airflow import coverage_report as report
        from fraudcal_airflow import outcomes
        from fraudcal_airflow.connections import fraud_db_connection, fraud_db_copy_connection
        from fraudcal_airflow.errors import CalibrationInputError
        from fraudcal_airflow.paths import artifacts_dir
        from fraudcal_airflow.store import apply_migrations

        context = get_current_context()
        params, dag_id, run_id = context["params"], context["dag"].dag_id, context["run_id"]
        now = datetime.now(UTC)
        copy_conn = fraud_db_copy_connection()
        try:
            with fraud_db_connection() as conn:
                apply_migrations(conn)
                versions = outcomes.requested_or_known_versions(
                    conn, "fraud_log", params["model_type"], params["model_versions"]
                )
                first, last = report.report_period(
                    conn, params["model_type"], versions, params["date_from"], params["date_to"]
                )
                rows = {
                    v: report.extract_report_rows(copy_conn, params["model_type"], v, first, last) for v in versions
                }
                figures = report.build_figures(
                    rows,
                    ages=report.newest_set_ages(conn, params["model_type"], versions, now),
                    level=params["coverage_level"],
                    narrow_threshold=params["narrow_threshold"],
                    stale_after_hours=params["stale_after_hours"],
                )
                subject = report.subject_line(figures, params["model_type"], versions, first, last)
                charts = report.render_charts(figures)
                html = report.render_html(
                    figures,
                    {
                        "subject": subject,
                        "model_type": params["model_type"],
                        "date_from": first,
                        "date_to": last,
                        "dag_id": dag_id,
                        "run_id": run_id,
                        "run_url": report.run_url(dag_id, run_id),
                    },
                )
                folder = steps.run_folder(artifacts_dir(), "reports", dag_id, run_id, "coverage")
                report_id = report.archive_report(
                    conn,
                    folder,
                    html=html,
                    charts=charts,
                    csv_text=report.figures_csv(figures),
                    row={
                        "dag_id": dag_id,
                        "run_id": run_id,
                        "model_type": params["model_type"],
                        "model_versions": versions,
                        "date_from": first,
                        "date_to": last,
                        "status": figures["status"],
                        "subject": subject,
                        "recipients": params["recipients"],
                        "figures": figures,
                    },
                )
        except CalibrationInputError as error:
            raise AirflowFailException(str(error)) from error
        finally:
            copy_conn.close()
        print(f"{subject}\narchived as fraudcal.report_runs id {report_id}: {folder / 'report.html'}")
        for finding in figures["findings"]:
            print(f"finding: {finding}")
        return {
            "report_id": report_id,
            "folder": str(folder),
            "subject": subject,
            "status": figures["status"],
            "recipients": params["recipients"],
            "charts": sorted(charts),
        }

    @task(task_display_name="E-mail the report")
    def send_report(archived: dict[str, Any]) -> str:
        """Send the archived report through smtp_default; record when the server accepted it."""
        from pathlib import Path

        from fraudcal_airflow import coverage_report as report
        from fraudcal_airflow.connections import SMTP_CONN_ID, fraud_db_connection
        from fraudcal_airflow.sql import load_sql

        folder = Path(archived["folder"])
        message = report.build_message(
            subject=archived["subject"],
            sender=None,
            recipients=archived["recipients"],
            html=(folder / "report.html").read_text(encoding="utf-8"),
            charts={name: (folder / name).read_bytes() for name in archived["charts"]},
            csv_text=(folder / "report.csv").read_text(encoding="utf-8"),
        )
        report.send_message(message, SMTP_CONN_ID)
        with fraud_db_connection() as conn:
            conn.execute(load_sql("report/mark_report_sent"), {"id": archived["report_id"]})
            conn.commit()
        print(f"sent to {', '.join(archived['recipients'])}: {archived['subject']}")
        return message["Message-ID"]

    send_report(build_report())


report_coverage_dag = report_coverage()
