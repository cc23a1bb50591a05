"""The steps of ``report_coverage``: build and archive the report, then e-mail it.

The figures are the core's (:func:`fraudcal.coverage.version_figures` for the residual
intervals, :func:`fraudcal.comparison.compare_methods` for the methods side by side) over one
binary COPY per version, which carries the residual and the Mondrian sets in force, plus one
small query per version for the Venn-Abers sets in force in the period, and one for the
certified triage thresholds in force in it (:func:`fraudcal_airflow.db.triage.in_force_during`;
each prediction judged with the thresholds in force when it was made,
:func:`fraudcal.coverage.triage_figures`). The status follows the Param ``default_method``, and
is red when a certificate was violated. One more small query reads the label snapshots of the
versions up to the report's end (:func:`fraudcal_airflow.db.maturity.read_snapshots`): the
labeled share by cohort age and the maturity ``"auto"`` would choose
(:func:`fraudcal.coverage.label_arrival_by_version`). Presentation is
:mod:`fraudcal_airflow.reporting.coverage`; archiving and mail are shared with the drift report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fraudcal.defaults import (
    DEFAULT_REPORT_DAYS,
    REPORTED_METHODS,
    RESIDUAL_METHOD,
    SUPPORTED_LEVELS,
    VENN_ABERS_METHOD,
)
from fraudcal_airflow.dates import parse_day
from fraudcal_airflow.errors import ReportInputError
from fraudcal_airflow.runtime import RunInfo


def report_period(
    date_from: str | None, date_to: str | None, latest_labeled_day: date | None, today: date
) -> tuple[date, date]:
    """The report's inclusive dates: as given, or the last 7 days that end with a label.

    Raises
    ------
    ReportInputError
        When only one date is given, a date is not ``YYYY-MM-DD``, or the range is reversed.
    """
    if bool(date_from) != bool(date_to):
        raise ReportInputError(
            f"give both date_from and date_to, or neither (default: the last {DEFAULT_REPORT_DAYS} labeled days)"
        )
    if date_from:
        first, last = parse_day("date_from", date_from, ReportInputError), parse_day("date_to", date_to, ReportInputError)
        if first > last:
            raise ReportInputError(f"date_from={date_from} is after date_to={date_to}; the range is inclusive")
        return first, last
    last = latest_labeled_day or today
    return last - timedelta(days=DEFAULT_REPORT_DAYS - 1), last


def news(run_type: str, triggering_extras: Sequence[Mapping[str, Any]]) -> str | None:
    """Why this run has something new to mail, or None.

    A run triggered by calibration-set events mails only when one of them recorded a new or
    changed set (``changed`` in the event's extra): re-running a calibration over unchanged data,
    or three triggers in a row, must not send three identical mails. Manual and scheduled runs
    always mail.
    """
    if run_type != "asset_triggered":
        return f"a {run_type} run"
    changed = [extra for extra in triggering_extras if extra.get("changed", True)]
    if not changed:
        return None
    names = sorted({f"{extra.get('model_version')} as_of {extra.get('as_of')}" for extra in changed})
    return f"new calibration set(s): {', '.join(names)}"


def skip_without_news(run: RunInfo) -> str:
    """Return :func:`news` of the run; skip the run's report when there is none."""
    from airflow.sdk.exceptions import AirflowSkipException

    reason = news(run.run_type, run.triggering_extras)
    if reason is None:
        raise AirflowSkipException(
            f"{len(run.triggering_extras)} calibration-set event(s), none with a new or changed set: "
            "the last report still says everything; no mail"
        )
    print(f"reporting because of {reason}")
    return reason


@dataclass(frozen=True)
class ArchivedReport:
    """A report archived in ``fraudcal.report_runs`` and ``folder``, ready to send."""

    report_id: int
    folder: str
    subject: str
    status: str
    recipients: list[str]
    charts: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_report(params: Mapping[str, Any], run: RunInfo, *, folder: Path, now: datetime | None = None) -> ArchivedReport:
    """Compute the figures, draw the charts, render the HTML and archive everything in ``folder``."""
    from fraudcal.coverage import label_arrival_by_version
    from fraudcal_airflow.connections import fraud_db_connection, fraud_db_copy_connection
    from fraudcal_airflow.dates import utc_day_range
    from fraudcal_airflow.db import prediction_log
    from fraudcal_airflow.db.calibration_sets import newest_set_ages, sets_in_force_during
    from fraudcal_airflow.db.maturity import read_snapshots
    from fraudcal_airflow.db.migrations import apply_migrations
    from fraudcal_airflow.db.triage import in_force_during
    from fraudcal_airflow.reporting import coverage as report
    from fraudcal_airflow.reporting.archive import archive_report
    from fraudcal_airflow.reporting.mail import run_url

    now = now or datetime.now(UTC)
    model_type, source = params["model_type"], params["source"]
    copy_conn = fraud_db_copy_connection()
    try:
        with fraud_db_connection() as conn:
            apply_migrations(conn)
            versions = prediction_log.requested_or_known_versions(
                conn, source, model_type, params["model_versions"], ReportInputError
            )
            latest = prediction_log.latest_labeled_day(conn, source, model_type, versions)
            first, last = report_period(params["date_from"], params["date_to"], latest, now.date())
            time_from, time_to = utc_day_range(first, last, ReportInputError)
            rows = {
                version: prediction_log.labeled_predictions_in_force(
                    copy_conn,
                    prediction_log.VersionPeriod(source, model_type, version, time_from, time_to),
                    SUPPORTED_LEVELS,
                )
                for version in versions
            }
            venn_abers = {
                version: sets_in_force_during(conn, model_type, version, VENN_ABERS_METHOD, time_from, time_to)
                for version in versions
            }
            triage = {
                version: in_force_during(conn, model_type, version, time_from, time_to) for version in versions
            }
            ages = {method: newest_set_ages(conn, model_type, versions, method, now) for method in REPORTED_METHODS}
            snapshots = read_snapshots(conn, model_type, versions, last)
            figures = report.build_figures(
                rows,
                ages=ages[RESIDUAL_METHOD],
                level=params["coverage_level"],
                narrow_threshold=params["narrow_threshold"],
                stale_after_hours=params["stale_after_hours"],
                default_method=params["default_method"],
                method_ages=ages,
                venn_abers_by_version=venn_abers,
                triage_by_version=triage,
                period=(first, last),
                label_arrival=label_arrival_by_version(snapshots, versions, last),
            )
            subject = report.subject_line(figures, model_type, versions, first, last)
            charts = report.render_charts(figures)
            html = report.render_html(
                figures,
                {
                    "subject": subject,
                    "model_type": model_type,
                    "date_from": first,
                    "date_to": last,
                    "dag_id": run.dag_id,
                    "run_id": run.run_id,
                    "run_url": run_url(run.dag_id, run.run_id),
                    "chart_files": sorted(charts),
                },
            )
            report_id = archive_report(
                conn,
                folder,
                report_type=report.REPORT_TYPE,
                html=html,
                charts=charts,
                csv_text=report.figures_csv(figures),
                row={
                    "dag_id": run.dag_id,
                    "run_id": run.run_id,
                    "model_type": model_type,
                    "model_versions": versions,
                    "date_from": first,
                    "date_to": last,
                    "status": figures["status"],
                    "subject": subject,
                    "recipients": params["recipients"],
                    "figures": figures,
                },
            )
    finally:
        copy_conn.close()
    print(f"{subject}\narchived as fraudcal.report_runs id {report_id}: {folder / 'report.html'}")
    for finding in figures["findings"]:
        print(f"finding: {finding}")
    return ArchivedReport(report_id, str(folder), subject, figures["status"], list(params["recipients"]), sorted(charts))


def send_report(archived: Mapping[str, Any]) -> str:
    """Send the archived report through ``smtp_default``; record when the server accepted it.

    Returns the Message-ID (:func:`fraudcal_airflow.reporting.archive.send_archived`).
    """
    from fraudcal_airflow.reporting.archive import send_archived

    return send_archived(dict(archived), csv_name="coverage_report.csv")
