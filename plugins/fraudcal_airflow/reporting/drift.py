"""The drift report's presentation: alert charts, subject and HTML of ``report_drift``.

The figures and rules come from the core (:mod:`fraudcal.drift`); the daily rows are computed
and stored by :mod:`fraudcal_airflow.steps.drift_report`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from fraudcal.defaults import DEFAULT_LEVEL
from fraudcal_airflow.db.model_health import stored_days
from fraudcal_airflow.reporting.render import figure_png, new_figure, render_template

if TYPE_CHECKING:
    import psycopg

def table_metrics(level: int) -> list[str]:
    """Daily figures shown in the mail's table, in this order, at coverage ``level``.

    The health table stores the mean width at :data:`~fraudcal.defaults.DEFAULT_LEVEL` only.
    """
    return [
        "predictions",
        "labeled",
        "fraud_rate",
        "pr_auc",
        "roc_auc",
        "brier",
        "ece",
        "mean_probability",
        "psi",
        "ks",
        f"coverage_{level}",
        f"coverage_fraud_{level}",
        f"mean_width_{DEFAULT_LEVEL}",
    ]


def alert_charts(
    conn: psycopg.Connection, model_type: str, results: list[dict], reference_days: int, band_sigmas: float
) -> dict[str, bytes]:
    """PNG time series (value, reference band, threshold) of every metric an alert names."""
    import numpy as np

    charts = {}
    for result in results:
        day = date.fromisoformat(result["day"])
        rows = stored_days(
            conn, model_type, result["model_version"], day - timedelta(days=reference_days), day + timedelta(days=1)
        )
        for alert in result["alerts"]:
            metric = alert["metric"]
            days = [row["day"] for row in rows]
            values = [np.nan if row.get(metric) is None else row[metric] for row in rows]
            reference = np.array(values[:-1], dtype=float)
            reference = reference[np.isfinite(reference)]
            figure, axis = new_figure(6.8, 2.4)
            axis.plot(days, values, "o-", color="#1a5fb4", markersize=3, label=metric)
            if reference.size >= 2:
                mean, spread = reference.mean(), reference.std(ddof=1)
                axis.axhspan(
                    mean - band_sigmas * spread,
                    mean + band_sigmas * spread,
                    color="#1a5fb4",
                    alpha=0.12,
                    label=f"reference mean \u00b1 {band_sigmas:g} sd",
                )
            if alert["rule"] in ("PSI", "PR-AUC", "coverage"):
                axis.axhline(alert["threshold"], color="#b3261e", linestyle="--", label="alert threshold")
            axis.set_title(f"{result['model_version']}: {metric} ({alert['rule']} alert)", fontsize=10)
            axis.legend(fontsize=7)
            axis.tick_params(labelsize=7)
            figure.autofmt_xdate()
            charts[alert_chart_name(result["model_version"], metric)] = figure_png(figure)
    return charts


def alert_chart_name(model_version: str, metric: str) -> str:
    """File (and ``cid:``) name of one alert chart.

    The version goes through :func:`fraudcal_airflow.paths.safe_name` (readable part + hash),
    never raw: a version read from the log may hold ``/``, ``..``, ``<`` or CR/LF. A metric is
    one of the core's fixed names, kept readable when it is a safe name.
    """
    from fraudcal.names import is_safe_name
    from fraudcal_airflow.paths import safe_name

    return f"{safe_name(model_version)}-{metric if is_safe_name(metric) else safe_name(metric)}.png"


def alert_subject(model_type: str, results: list[dict], day: date) -> str:
    """``[ALERT] model v1 (PR-AUC, PSI), v2 (band) on day`` naming only the alerting versions."""
    parts = [
        f"{r['model_version']} ({', '.join(sorted({a['rule'] for a in r['alerts']}))})" for r in results if r["alerts"]
    ]
    return f"[ALERT] {model_type} {'; '.join(parts)} on {day}: retraining requested"


def render_html(
    subject: str,
    model_type: str,
    day: date,
    results: list[dict],
    charts: dict[str, bytes],
    run_url: str,
    level: int = DEFAULT_LEVEL,
) -> str:
    """The alert or digest e-mail (static HTML, cid: charts)."""
    return render_template(
        "drift_report.html.j2",
        subject=subject,
        model_type=model_type,
        day=day,
        results=results,
        charts=sorted(charts),
        run_url=run_url,
        metric_names=table_metrics(level),
    )
