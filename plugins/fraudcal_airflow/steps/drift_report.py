"""The steps of ``report_drift``: measure and judge each version's day, notify, request retraining.

For each model version and day: the day's scores and the reference window's scores (PSI, KS),
the day's labeled outcomes with the residual and Mondrian sets in force (coverage per method
and class, PR-AUC, ...), one row in ``fraudcal.model_health_daily``; then the alert rules of
:mod:`fraudcal.drift` against the reference days' stored rows. The coverage rule judges the
Param ``default_method``'s coverage of confirmed frauds and of legitimate cases, each on the
day and the two calendar days before it (a day not stored counts as not measured). The
certificate rule judges the auto-tickets of the judged day and the 6 before under the certified
thresholds in force when each prediction was made, computed on the fly from the prediction log
and ``fraudcal.triage_certificates`` (:func:`certificate_block`).

The judged day is chosen in one place, :func:`monitor` (:func:`fraudcal.drift.judged_day`): the
run's day (the day before ``as_of``) with the Param ``label_maturity_days = 0`` (the default,
the behaviour before label maturity, figure for figure), else the newest *matured* day, the
run's day minus ``m`` (``"auto"``: ``m`` read from ``fraudcal.label_snapshots`` up to the run's
day, :func:`label_maturity`). Every rule counts back from the judged day, so the reference
window moves with it: alerts come ``m`` days later, but they are not raised by labels that have
not arrived yet. Each result also carries the maturity applied and, per version, the labeled
share by cohort age from the newest label snapshot (:func:`fraudcal.coverage.label_arrival`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fraudcal.defaults import DEFAULT_LABEL_MATURITY_DAYS, DEFAULT_METHOD, SUPPORTED_LEVELS
from fraudcal_airflow.dates import midnight
from fraudcal_airflow.db import prediction_log
from fraudcal_airflow.db.prediction_log import VersionPeriod
from fraudcal_airflow.errors import ReportInputError
from fraudcal_airflow.runtime import RunInfo

if TYPE_CHECKING:
    import pandas as pd
    import psycopg

    from fraudcal.drift import DriftThresholds
    from fraudcal.maturity import MaturityChoice

#: PR-AUC is judged on the trailing week: one day's ~100 frauds make a daily PR-AUC too noisy
#: for a 10 % rule (on the synthetic log a stable model's daily PR-AUC moved by +-15 %).
PR_AUC_BLOCK_DAYS = 7


@dataclass(frozen=True)
class DriftRequest:
    """The Params of ``report_drift``, checked."""

    model_type: str
    model_versions: tuple[str, ...]
    source: str
    reference_days: int
    thresholds: DriftThresholds
    recipients: tuple[str, ...]
    send_digest: bool
    #: ``label_maturity_days`` as requested: ``"auto"`` or the days (0: the run's own day is judged).
    label_maturity_days: str | int = DEFAULT_LABEL_MATURITY_DAYS

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DriftRequest:
        """Read the Params.

        Raises
        ------
        ReportInputError
            When ``psi_warn`` exceeds ``psi_alert``, or ``label_maturity_days`` is neither
            ``"auto"`` nor an integer in 0..365 (``"400"`` passes the form's pattern), naming
            the value; before any connection, so nothing is judged or stored.
        """
        from fraudcal.drift import DriftThresholds
        from fraudcal.maturity import InvalidMaturityError, resolve_label_maturity

        if params["psi_warn"] > params["psi_alert"]:
            raise ReportInputError(f"psi_warn={params['psi_warn']} must not exceed psi_alert={params['psi_alert']}")
        maturity = params.get("label_maturity_days", DEFAULT_LABEL_MATURITY_DAYS)
        try:
            resolve_label_maturity(maturity, None)
        except InvalidMaturityError as error:
            raise ReportInputError(f"Param {error}; nothing was judged or stored") from None
        return cls(
            model_type=params["model_type"],
            model_versions=tuple(params["model_versions"] or ()),
            source=params["source"],
            reference_days=int(params["reference_days"]),
            thresholds=DriftThresholds(
                pr_auc_drop=params["pr_auc_drop"],
                psi_warn=params["psi_warn"],
                psi_alert=params["psi_alert"],
                band_sigmas=params["band_sigmas"],
                coverage_level=params["coverage_level"],
                coverage_method=params.get("default_method", DEFAULT_METHOD),
            ),
            recipients=tuple(params["recipients"]),
            send_digest=bool(params["send_digest"]),
            label_maturity_days=maturity,
        )


def _in_force(copy_conn: Any, source: str, model_type: str, version: str, start, end) -> dict:
    """Labeled predictions with the quantiles in force; rows without a usable probability left out."""
    period = prediction_log.VersionPeriod(source, model_type, version, start, end)
    rows = prediction_log.labeled_predictions_in_force(copy_conn, period, SUPPORTED_LEVELS)
    return prediction_log.without_unusable_probabilities(rows)[0]


def compute_day(
    copy_conn: Any, source: str, model_type: str, version: str, day: date, reference_days: int
) -> dict[str, Any]:
    """The figures of one version on one day (nothing stored)."""
    from fraudcal.drift import day_metrics

    start, end = midnight(day), midnight(day) + timedelta(days=1)
    scores = prediction_log.scores(copy_conn, VersionPeriod(source, model_type, version, start, end))
    reference_start = start - timedelta(days=reference_days)
    reference_scores = prediction_log.scores(copy_conn, VersionPeriod(source, model_type, version, reference_start, start))
    labeled = _in_force(copy_conn, source, model_type, version, start, end)
    return day_metrics(
        scores,
        reference_scores[reference_scores == reference_scores],  # NULL probabilities arrive as NaN
        labeled["probability"],
        labeled["label"],
        {level: labeled[prediction_log.quantile_column(level)] for level in SUPPORTED_LEVELS},
        mondrian_quantiles=prediction_log.mondrian_in_force(labeled, SUPPORTED_LEVELS)[0],
    )


def block_range(day: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of the trailing week that ends with ``day`` (UTC): the PR-AUC and certificate rules' days."""
    return midnight(day) - timedelta(days=PR_AUC_BLOCK_DAYS - 1), midnight(day) + timedelta(days=1)


def pr_auc_block_and_baseline(
    copy_conn: Any,
    source: str,
    model_type: str,
    version: str,
    day: date,
    reference_days: int,
    block_rows: dict | None = None,
) -> tuple[float, float]:
    """PR-AUC of the last 7 days (this day included) and of the reference days before them.

    ``block_rows``: the week's labeled predictions when already read (:func:`_in_force`).
    """
    from fraudcal.drift import average_precision

    block_start, block_end = block_range(day)
    if block_rows is None:
        block_rows = _in_force(copy_conn, source, model_type, version, block_start, block_end)
    baseline = _in_force(copy_conn, source, model_type, version, block_start - timedelta(days=reference_days), block_start)
    return (
        average_precision(block_rows["probability"], block_rows["label"]),
        average_precision(baseline["probability"], baseline["label"]),
    )


def certificate_block(
    conn: psycopg.Connection, model_type: str, version: str, day: date, block_rows: dict
) -> dict[str, Any]:
    """The week's auto-tickets under the certified thresholds in force each day (the certificate rule's figure).

    Each labeled prediction of the judged day and the 6 before is judged with the thresholds in
    force when it was made (:func:`fraudcal_airflow.db.triage.in_force_during`), computed on the
    fly from the prediction log and the triage table (nothing stored).
    """
    import numpy as np

    from fraudcal.coverage import ticket_precision_block
    from fraudcal_airflow.db.triage import in_force_during

    start, end = block_range(day)
    certificates = in_force_during(conn, model_type, version, start, end)
    days = np.arange(np.datetime64(start.date(), "D"), np.datetime64(day, "D") + np.timedelta64(1, "D"))
    return ticket_precision_block(
        block_rows["predicted_at"], block_rows["probability"], block_rows["label"], certificates, days
    )


def _nan_from_none(row: dict) -> dict:
    return {key: (float("nan") if value is None else value) for key, value in row.items()}


def monitor_day(
    conn: psycopg.Connection,
    copy_conn: Any,
    *,
    model_type: str,
    version: str,
    day: date,
    reference_days: int,
    thresholds: DriftThresholds,
    run_id: str | None,
    source: str = "fraud_log",
) -> dict[str, Any]:
    """Compute, judge and store one version's day; return metrics, alerts, warnings, notes."""
    from psycopg.types.json import Jsonb

    from fraudcal.drift import COVERAGE_CLASSES, class_coverage_days, evaluate_day
    from fraudcal_airflow.db.model_health import stored_days, upsert_day
    from fraudcal_airflow.reporting.render import json_ready

    metrics = compute_day(copy_conn, source, model_type, version, day, reference_days)
    block_rows = _in_force(copy_conn, source, model_type, version, *block_range(day))
    metrics["pr_auc_7d"], baseline = pr_auc_block_and_baseline(
        copy_conn, source, model_type, version, day, reference_days, block_rows
    )
    certificate = certificate_block(conn, model_type, version, day, block_rows)
    history = [
        _nan_from_none(row) for row in stored_days(conn, model_type, version, day - timedelta(days=reference_days), day)
    ]
    # The coverage rule's days: the two calendar days before this one, as stored (None: not stored), and this one.
    stored = {row["day"]: row for row in history}
    days = [stored.get(day - timedelta(days=back)) for back in (2, 1)] + [metrics]
    level, method = thresholds.coverage_level, thresholds.coverage_method
    recent = {group: class_coverage_days(days, method, level, group) for group in COVERAGE_CLASSES}
    verdict = evaluate_day(metrics, history, baseline, thresholds, recent, certificate)
    metrics["pr_auc_baseline"] = baseline
    metrics["coverage_method"] = method
    values = json_ready({**metrics, "model_type": model_type, "model_version": version, "day": day, "run_id": run_id})
    values["day"] = day
    values["class_coverage"] = Jsonb(values["class_coverage"])
    values["alerts"] = Jsonb(json_ready(verdict["alerts"]))
    values["notes"] = Jsonb(
        verdict["notes"] + [f"warning: {w['rule']} {w['value']:.3f} > {w['threshold']}" for w in verdict["warnings"]]
    )
    upsert_day(conn, values)
    return {
        "model_version": version,
        "day": day.isoformat(),
        "metrics": json_ready(metrics),
        "certificate": json_ready(certificate),
        **json_ready(verdict),
    }


def label_maturity(requested: str | int, snapshots: pd.DataFrame, run_day: date) -> MaturityChoice:
    """The label maturity the run applies, and why (:func:`fraudcal.maturity.resolve_label_maturity`).

    A number is taken as it is. ``"auto"`` reads the arrival curve of ``snapshots``: the label
    snapshots of the model type's judged versions, pooled, recorded up to ``run_day``
    (:func:`fraudcal.maturity.snapshot_day_for` of ``as_of``). Without a curve that tells (no
    snapshots, too little history) it falls back to 0 days, and the reason says so.
    """
    from dataclasses import replace

    from fraudcal.maturity import AUTO, arrival_curve, resolve_label_maturity

    if requested != AUTO:
        return resolve_label_maturity(requested, None)
    curve = arrival_curve(snapshots) if len(snapshots) else None
    choice = resolve_label_maturity(AUTO, curve, fallback_days=0)
    seen = (
        f"label snapshots of {snapshots['snapshot_day'].nunique()} day(s) up to {run_day}"
        if len(snapshots)
        else f"no label snapshot up to {run_day}"
    )
    return replace(choice, reason=f"{choice.reason} [{seen}]")


def maturity_summary(choice: MaturityChoice, run_day: date, day: date) -> dict[str, Any]:
    """What each result carries about the maturity: the choice, the run's day and the judged day."""
    return {**choice.to_dict(), "run_day": run_day.isoformat(), "judged_day": day.isoformat()}


def monitor(request: DriftRequest, run: RunInfo) -> list[dict[str, Any]]:
    """Compute, store and judge each version's day against its reference window.

    The judged day is :func:`fraudcal.drift.judged_day`: the run's data interval (the day
    before ``as_of``) with ``label_maturity_days = 0``, else the newest matured day, the run's
    day minus the maturity; chosen here, once, for every version and rule.
    """
    from fraudcal.coverage import label_arrival_by_version
    from fraudcal.drift import judged_day
    from fraudcal.maturity import snapshot_day_for
    from fraudcal_airflow.connections import fraud_db_connection, fraud_db_copy_connection
    from fraudcal_airflow.db.maturity import read_snapshots
    from fraudcal_airflow.db.migrations import apply_migrations
    from fraudcal_airflow.reporting.drift import ARRIVAL_MAX_AGE
    from fraudcal_airflow.reporting.render import json_ready

    run_day = snapshot_day_for(run.as_of)
    copy_conn = fraud_db_copy_connection()
    try:
        with fraud_db_connection() as conn:
            apply_migrations(conn)
            versions = prediction_log.requested_or_known_versions(
                conn, request.source, request.model_type, request.model_versions, ReportInputError
            )
            snapshots = read_snapshots(conn, request.model_type, versions, run_day)
            maturity = label_maturity(request.label_maturity_days, snapshots, run_day)
            day = judged_day(run.as_of, maturity.days)
            print(f"label maturity: {maturity.reason}; judged day {day} (the run's day {run_day})")
            results = [
                monitor_day(
                    conn,
                    copy_conn,
                    model_type=request.model_type,
                    version=version,
                    day=day,
                    reference_days=request.reference_days,
                    thresholds=request.thresholds,
                    run_id=run.run_id,
                    source=request.source,
                )
                for version in versions
            ]
    finally:
        copy_conn.close()
    arrival = label_arrival_by_version(snapshots, versions, run_day, max_age=ARRIVAL_MAX_AGE)
    for result in results:
        rules = ", ".join(f"{a['rule']} ({a['metric']}={a['value']:.4f})" for a in result["alerts"]) or "no alert"
        print(f"{result['model_version']} {result['day']}: {rules}; " + "; ".join(result["notes"]))
        result["label_maturity"] = maturity_summary(maturity, run_day, day)
        result["label_arrival"] = json_ready(arrival[result["model_version"]])
    return results


def notify(request: DriftRequest, results: list[dict[str, Any]], run_url: str) -> str | None:
    """Send the [ALERT] mail naming only the alerting versions and rules, with charts; else a
    digest when asked. Returns the subject sent, or None when nothing was to be sent."""
    from fraudcal_airflow.connections import SMTP_CONN_ID, fraud_db_connection
    from fraudcal_airflow.reporting import drift as report
    from fraudcal_airflow.reporting.mail import build_message, send_message

    alerting = [result for result in results if result["alerts"]]
    if not alerting and not request.send_digest:
        return None
    day = date.fromisoformat(results[0]["day"]) if results else None
    if alerting:
        subject = report.alert_subject(request.model_type, alerting, day)
        with fraud_db_connection() as conn:
            charts = report.alert_charts(
                conn, request.model_type, alerting, request.reference_days, request.thresholds.band_sigmas
            )
    else:
        subject = f"[OK] {request.model_type} model health on {day}: no alert"
        charts = {}
    html = report.render_html(
        subject,
        request.model_type,
        day,
        results,
        charts,
        run_url,
        request.thresholds.coverage_level,
        request.thresholds.coverage_method,
    )
    message = build_message(
        subject=subject, sender=None, recipients=list(request.recipients), html=html, charts=charts, csv_text=None
    )
    send_message(message, SMTP_CONN_ID)
    print(f"sent: {subject}")
    return subject


def retraining_request(model_type: str, results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The extra of the ``fraud_model_retraining_requested`` event, or None without an alert.

    Names the model type, the day and, per alerting version, the rules that fired and their values.
    """
    alerting = {
        result["model_version"]: {
            "rules": sorted({alert["rule"] for alert in result["alerts"]}),
            "values": {alert["metric"]: alert["value"] for alert in result["alerts"]},
        }
        for result in results
        if result["alerts"]
    }
    if not alerting:
        return None
    return {"model_type": model_type, "day": results[0]["day"], "versions": alerting}
