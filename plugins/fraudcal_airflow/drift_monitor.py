"""Daily model health: extract one day, compute its figures (core), store them, judge them.

For each model version and day: the day's scores and the reference window's scores (PSI, KS),
the day's labeled outcomes with the quantiles of the set in force (coverage, PR-AUC, ...),
one row in ``fraudcal.model_health_daily``; then the alert rules of :mod:`fraudcal.drift`
against the reference days' stored rows.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fraudcal_airflow.coverage_report import REPORT_COLUMNS, json_ready
from fraudcal_airflow.pgcopy import copy_to_numpy
from fraudcal_airflow.sql import load_sql

if TYPE_CHECKING:
    import psycopg
    import psycopg2.extensions

    from fraudcal.drift import DriftThresholds


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _copy(copy_conn, name: str, params: dict[str, Any], columns) -> dict[str, Any]:
    return copy_to_numpy(copy_conn, load_sql(name), params, columns)


def compute_day(
    copy_conn: psycopg2.extensions.connection, model_type: str, version: str, day: date, reference_days: int
) -> dict[str, Any]:
    """The figures of one version on one day (nothing stored)."""
    from fraudcal.drift import day_metrics

    key = {"model_type": model_type, "model_version": version}
    today = {**key, "time_from": _midnight(day), "time_to": _midnight(day) + timedelta(days=1)}
    reference = {**key, "time_from": _midnight(day) - timedelta(days=reference_days), "time_to": _midnight(day)}
    scores = _copy(copy_conn, "drift/scores", today, [("probability", "float8")])["probability"]
    reference_scores = _copy(copy_conn, "drift/scores", reference, [("probability", "float8")])["probability"]
    labeled = _copy(copy_conn, "report/labeled_predictions_in_force", today, REPORT_COLUMNS)
    return day_metrics(
        scores,
        reference_scores[reference_scores == reference_scores],
        labeled["probability"],
        labeled["label"],
        {90: labeled["q90"], 95: labeled["q95"], 99: labeled["q99"]},
    )


#: PR-AUC is judged on the trailing week: one day's ~100 frauds make a daily PR-AUC too noisy
#: for a 10 % rule (on the synthetic log a stable model's daily PR-AUC moved by +-15 %).
PR_AUC_BLOCK_DAYS = 7


def pr_auc_block_and_baseline(
    copy_conn, model_type: str, version: str, day: date, reference_days: int
) -> tuple[float, float]:
    """PR-AUC of the last 7 days (this day included) and of the reference days before them."""
    from fraudcal.drift import average_precision

    block_start = _midnight(day) - timedelta(days=PR_AUC_BLOCK_DAYS - 1)
    windows = {
        "block": (block_start, _midnight(day) + timedelta(days=1)),
        "baseline": (block_start - timedelta(days=reference_days), block_start),
    }
    values = {}
    for name, (start, end) in windows.items():
        rows = _copy(
            copy_conn,
            "report/labeled_predictions_in_force",
            {"model_type": model_type, "model_version": version, "time_from": start, "time_to": end},
            REPORT_COLUMNS,
        )
        values[name] = average_precision(rows["probability"], rows["label"])
    return values["block"], values["baseline"]


def stored_days(conn: psycopg.Connection, model_type: str, version: str, day_from: date, day_to: date) -> list[dict]:
    """Stored daily rows of ``[day_from, day_to)``, oldest first."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            load_sql("drift/stored_days"),
            {"model_type": model_type, "model_version": version, "day_from": day_from, "day_to": day_to},
        ).fetchall()
    conn.commit()
    return rows


def _nan_from_none(row: dict) -> dict:
    return {key: (float("nan") if value is None else value) for key, value in row.items()}


def monitor_day(
    conn: psycopg.Connection,
    copy_conn,
    *,
    model_type: str,
    version: str,
    day: date,
    reference_days: int,
    thresholds: DriftThresholds,
    run_id: str | None,
) -> dict[str, Any]:
    """Compute, judge and store one version's day; return metrics, alerts, warnings, notes."""
    from psycopg.types.json import Jsonb

    from fraudcal.drift import evaluate_day

    metrics = compute_day(copy_conn, model_type, version, day, reference_days)
    metrics["pr_auc_7d"], baseline = pr_auc_block_and_baseline(copy_conn, model_type, version, day, reference_days)
    history = [
        _nan_from_none(row) for row in stored_days(conn, model_type, version, day - timedelta(days=reference_days), day)
    ]
    level = thresholds.coverage_level
    recent = [(row[f"covered_{level}"] or 0, row["with_set"]) for row in history[-2:]]
    recent.append((metrics[f"covered_{level}"], metrics["with_set"]))
    verdict = evaluate_day(metrics, history, baseline, thresholds, recent)
    metrics["pr_auc_baseline"] = baseline
    values = json_ready({**metrics, "model_type": model_type, "model_version": version, "day": day, "run_id": run_id})
    values["day"] = day
    values["alerts"] = Jsonb(json_ready(verdict["alerts"]))
    values["notes"] = Jsonb(
        verdict["notes"] + [f"warning: {w['rule']} {w['value']:.3f} > {w['threshold']}" for w in verdict["warnings"]]
    )
    with conn.transaction():
        conn.execute(load_sql("drift/upsert_daily_health"), values)
    return {"model_version": version, "day": day.isoformat(), "metrics": json_ready(metrics), **json_ready(verdict)}


def alert_charts(
    conn: psycopg.Connection, model_type: str, results: list[dict], reference_days: int, band_sigmas: float
) -> dict[str, bytes]:
    """PNG time series (value, reference band, threshold) of every metric an alert names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
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
            figure, axis = plt.subplots(figsize=(6.8, 2.4), dpi=100)
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
            figure.tight_layout()
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png")
            plt.close(figure)
            charts[f"{result['model_version']}-{metric}.png"] = buffer.getvalue()
    return charts


def alert_subject(model_type: str, results: list[dict], day: date) -> str:
    """``[ALERT] model v1 (PR-AUC, PSI), v2 (band) on day`` naming only the alerting versions."""
    parts = [
        f"{r['model_version']} ({', '.join(sorted({a['rule'] for a in r['alerts']}))})" for r in results if r["alerts"]
    ]
    return f"[ALERT] {model_type} {'; '.join(parts)} on {day}: retraining requested"


def render_html(
    subject: str, model_type: str, day: date, results: list[dict], charts: dict[str, bytes], run_url: str
) -> str:
    """The alert or digest e-mail (static HTML, cid: charts)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    from fraudcal_airflow.paths import TEMPLATES_DIR

    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined
    )
    return environment.get_template("drift_report.html.j2").render(
        subject=subject,
        model_type=model_type,
        day=day,
        results=results,
        charts=sorted(charts),
        run_url=run_url,
        metric_names=json.loads(
            json.dumps(
                [
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
                    "coverage_90",
                    "coverage_fraud_90",
                    "mean_width_90",
                ]
            )
        ),
    )
