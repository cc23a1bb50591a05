"""The drift report's presentation: alert charts, subject and HTML of ``report_drift``.

The figures and rules come from the core (:mod:`fraudcal.drift`); the daily rows are computed
and stored by :mod:`fraudcal_airflow.steps.drift_report`.

An alert chart shows the metric's daily values, the judged day, the alert threshold where the
rule has one, and a *reference band*: the mean +- ``band_sigmas`` sd of the metric over the
reference days only (the days before the judged day; for the trailing-week PR-AUC, the days
before its 7-day block), the days the band rule itself compares with, clipped to the values
the metric can take (PSI is never negative; rates, AUCs and KS lie in [0, 1]). The certificate
alert's chart is drawn from the alert's own per-day counts (the auto-tickets' precision under the
thresholds in force each day, with Wilson bars, and the certified target): nothing of it is stored.

Label maturity: with ``label_maturity_days`` above 0 (or ``"auto"``) the mail says, before any
figure, which day was judged and why (:func:`maturity_sentence`). Every mail ends with a compact
table per version of the labeled share by cohort age, ages 0..:data:`ARRIVAL_MAX_AGE` and the
older ages pooled, from the newest label snapshot up to the run's day, with the maturity
``"auto"`` would choose for the version (:func:`arrival_view`; numbers from
:func:`fraudcal.coverage.label_arrival`). Results without these keys (from before label
maturity) render exactly the mail of old.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from fraudcal.defaults import DEFAULT_LEVEL, DEFAULT_METHOD
from fraudcal_airflow.db.model_health import stored_days
from fraudcal_airflow.reporting.render import figure_png, new_figure, render_template

if TYPE_CHECKING:
    import psycopg

#: Fewer finite reference values than this: no band (the band rule needs as many).
MIN_BAND_DAYS = 7
#: The stored daily column drawn for an alert's metric: the trailing-week PR-AUC is not stored,
#: so its chart draws the daily PR-AUC and marks the judged week's value.
SERIES_COLUMN = {"pr_auc_7d": "pr_auc"}
#: Ages (days) the mail's label-arrival table lists one by one; older ages share its last column.
ARRIVAL_MAX_AGE = 7
#: The rules that have a threshold line, and its legend.
THRESHOLD_NAMES = {
    "PSI": "alert threshold (psi_alert)",
    "PR-AUC": "alert threshold for the 7 days: (1 \u2212 pr_auc_drop) \u00d7 reference PR-AUC",
    "coverage": "coverage target",
}


def table_metrics(level: int, method: str = DEFAULT_METHOD) -> list[str]:
    """Daily figures shown in the mail's table, in this order, at coverage ``level``.

    The coverage of confirmed frauds and of legitimate cases of ``method`` (the default method,
    what the coverage rule judges) comes after the residual intervals' figures. The health
    table stores the mean width at :data:`~fraudcal.defaults.DEFAULT_LEVEL` only.
    """
    from fraudcal.drift import CLASS_COVERAGE_METHODS, class_coverage_metric

    judged = (
        [class_coverage_metric(method, group, level) for group in ("fraud", "legitimate")]
        if method in CLASS_COVERAGE_METHODS
        else []
    )
    return [
        "predictions",
        "labeled",
        "fraud_rate",
        "pr_auc",
        "pr_auc_7d",
        "pr_auc_baseline",
        "roc_auc",
        "brier",
        "ece",
        "mean_probability",
        "psi",
        "ks",
        f"coverage_{level}",
        f"coverage_fraud_{level}",
        *judged,
        f"mean_width_{DEFAULT_LEVEL}",
    ]


#: The method names of the per-class coverage metrics, as the mail writes them.
METHOD_TITLES = {"residual": "Residual", "mondrian": "Mondrian"}


def class_coverage_parts(metric: str) -> tuple[str, str, str] | None:
    """``(method, group, level)`` of a per-class coverage metric (``mondrian_coverage_fraud_90``), else None."""
    from fraudcal.drift import CLASS_COVERAGE_METHODS, COVERAGE_CLASSES

    for method in CLASS_COVERAGE_METHODS:
        for group in COVERAGE_CLASSES:
            prefix = f"{method}_coverage_{group}_"
            if metric.startswith(prefix) and metric.removeprefix(prefix).isdigit():
                return method, group, metric.removeprefix(prefix)
    return None


def row_value(row: dict[str, Any], metric: str) -> float:
    """A stored day's value of ``metric`` (NaN when absent): a column, or a per-class coverage
    computed from the row's ``class_coverage`` counts (migration 0005)."""
    parts = class_coverage_parts(metric)
    if parts is not None:
        method, group, level = parts
        entry = (row.get("class_coverage") or {}).get(method, {}).get(level, {}).get(group)
        return entry["covered"] / entry["n"] if entry and entry["n"] else math.nan
    value = row.get(SERIES_COLUMN.get(metric, metric))
    return math.nan if value is None else float(value)


def metric_label(name: str) -> str:
    """A daily figure's name in plain words, with what it measures (the table's first column)."""
    labels = {
        "predictions": "predictions",
        "labeled": "labeled outcomes",
        "fraud_rate": "fraud rate (confirmed frauds among labeled outcomes)",
        "pr_auc": "PR-AUC of the day (how well scores rank frauds first; 1 is perfect)",
        "pr_auc_7d": "PR-AUC of the trailing 7 days (what the PR-AUC rule judges)",
        "pr_auc_baseline": "PR-AUC of the reference days before those 7",
        "roc_auc": "ROC-AUC (0.5 is chance, 1 is perfect)",
        "brier": "Brier score (mean squared error of the probabilities; lower is better)",
        "ece": "ECE (mean gap between predicted and observed fraud rate; 0 is perfect)",
        "mean_probability": "mean predicted probability",
        "psi": "PSI (how far the day's scores moved from the reference days'; 0 is no move)",
        "ks": "KS statistic (largest gap between the day's and the reference score distributions, 0 to 1)",
    }
    if name in labels:
        return labels[name]
    parts = class_coverage_parts(name)
    if parts is not None:
        method, group, level = parts
        cases = "confirmed frauds" if group == "fraud" else "legitimate cases"
        sets = "intervals" if method == "residual" else "label sets"
        return f"{METHOD_TITLES[method]} {level} % {sets}: coverage of the {cases} (the coverage rule judges it)"
    for prefix, words in (
        ("coverage_fraud_", "coverage of the {} % intervals, confirmed frauds only"),
        ("coverage_", "coverage of the {} % intervals (all labeled outcomes)"),
        ("mean_width_", "mean width of the {} % intervals"),
    ):
        if name.startswith(prefix):
            return words.format(name.removeprefix(prefix))
    return name


def metric_range(metric: str) -> tuple[float | None, float | None]:
    """The values ``metric`` can take: PSI is >= 0 and unbounded; rates, AUCs, KS, ECE and Brier lie in [0, 1]."""
    if metric == "psi":
        return 0.0, None
    bounded = {"fraud_rate", "pr_auc", "pr_auc_7d", "roc_auc", "brier", "ece", "mean_probability", "ks"}
    if metric in bounded or metric.startswith(("coverage_", "mean_width_")) or class_coverage_parts(metric):
        return 0.0, 1.0
    return None, None


def reference_days_of(metric: str, day: date, reference_days: int) -> tuple[date, date]:
    """``[first, end)``: the reference days the band of ``metric`` on the judged ``day`` is made of.

    The ``reference_days`` before the judged day, as the band rule uses; for the trailing-week
    PR-AUC, the ``reference_days`` before its 7-day block (the PR-AUC rule's baseline window),
    so the band never holds a day of what is being judged.
    """
    from fraudcal_airflow.steps.drift_report import PR_AUC_BLOCK_DAYS

    end = day - timedelta(days=PR_AUC_BLOCK_DAYS - 1) if metric == "pr_auc_7d" else day
    return end - timedelta(days=reference_days), end


@dataclass(frozen=True)
class ReferenceBand:
    """Mean +- k sd of a metric over its reference days, clipped to the metric's range."""

    low: float
    high: float
    first_day: date
    last_day: date
    days: int
    clipped_low: bool
    clipped_high: bool

    def label(self, sigmas: float, series: str) -> str:
        """The legend's words: which days, which rule, and any clipping."""
        clipped = [f"at {bound}" for bound, done in (("0", self.clipped_low), ("1", self.clipped_high)) if done]
        return (
            f"{series}: mean \u00b1 {sigmas:g} sd of {self.days} reference days "
            f"{self.first_day:%m-%d}\u2013{self.last_day:%m-%d}"
            + (f", clipped {' and '.join(clipped)}" if clipped else "")
        )


def reference_band(
    rows: list[dict[str, Any]], metric: str, day: date, reference_days: int, sigmas: float
) -> ReferenceBand | None:
    """The band of ``metric`` on the judged ``day`` from the stored daily ``rows``, or None.

    Only rows of :func:`reference_days_of` count; for the fraud rate only days with enough
    labels (as the band rule). None with fewer than :data:`MIN_BAND_DAYS` finite values.
    """
    import numpy as np

    from fraudcal.drift import enough_labels

    first, end = reference_days_of(metric, day, reference_days)
    kept = [
        (row["day"], row_value(row, metric))
        for row in rows
        if first <= row["day"] < end
        and math.isfinite(row_value(row, metric))
        and (metric != "fraud_rate" or enough_labels(row["labeled"], row["frauds"]))
    ]
    if len(kept) < MIN_BAND_DAYS:
        return None
    values = np.array([value for _, value in kept])
    mean, spread = float(values.mean()), float(values.std(ddof=1))
    low, high = mean - sigmas * spread, mean + sigmas * spread
    floor, ceiling = metric_range(metric)
    clipped_low = floor is not None and low < floor
    clipped_high = ceiling is not None and high > ceiling
    return ReferenceBand(
        low=floor if clipped_low else low,
        high=ceiling if clipped_high else high,
        first_day=kept[0][0],
        last_day=kept[-1][0],
        days=len(kept),
        clipped_low=clipped_low,
        clipped_high=clipped_high,
    )


def alert_chart_data(
    rows: list[dict[str, Any]], result: dict[str, Any], alert: dict[str, Any], reference_days: int, sigmas: float
) -> dict[str, Any]:
    """What one alert chart draws: the daily series, the judged value, the band and the threshold."""
    day = date.fromisoformat(result["day"])
    metric = alert["metric"]
    series = [(row["day"], row_value(row, metric)) for row in rows]
    if metric == "pr_auc_7d":
        series_name = "daily PR-AUC"
        judged_name = "PR-AUC of the trailing 7 days (judged)"
    else:
        series_name = metric_label(metric).split(" (")[0]
        judged_name = f"{series_name} on {day} (judged)"
    return {
        "title": f"{result['model_version']}: {metric_label(metric).split(' (')[0]} ({alert['rule']} alert)",
        "series": series,
        "series_name": series_name,
        "judged": (day, alert["value"]),
        "judged_name": judged_name,
        "band": reference_band(rows, metric, day, reference_days, sigmas),
        "band_name": f"band rule: {series_name}" if alert["rule"] == "band" else f"reference {series_name}",
        "threshold": alert["threshold"] if alert["rule"] in THRESHOLD_NAMES else None,
        "threshold_name": THRESHOLD_NAMES.get(alert["rule"]),
    }


def alert_charts(
    conn: psycopg.Connection, model_type: str, results: list[dict], reference_days: int, band_sigmas: float
) -> dict[str, bytes]:
    """PNG time series (value, reference band, threshold) of every metric an alert names."""
    from fraudcal.drift import CERTIFICATE_RULE
    from fraudcal_airflow.steps.drift_report import PR_AUC_BLOCK_DAYS

    charts = {}
    for result in results:
        day = date.fromisoformat(result["day"])
        rows = stored_days(
            conn,
            model_type,
            result["model_version"],
            day - timedelta(days=reference_days + PR_AUC_BLOCK_DAYS - 1),
            day + timedelta(days=1),
        )
        for alert in result["alerts"]:
            if alert["rule"] == CERTIFICATE_RULE:
                charts[alert_chart_name(result["model_version"], alert["metric"])] = draw_certificate_chart(
                    result["model_version"], alert
                )
                continue
            data = alert_chart_data(rows, result, alert, reference_days, band_sigmas)
            charts[alert_chart_name(result["model_version"], alert["metric"])] = draw_alert_chart(
                data, alert["metric"], band_sigmas
            )
    return charts


def draw_alert_chart(data: dict[str, Any], metric: str, band_sigmas: float) -> bytes:
    """One alert chart (PNG) from :func:`alert_chart_data`."""
    figure, axis = new_figure(6.8, 2.6)
    axis.plot(
        [when for when, _ in data["series"]], [value for _, value in data["series"]], "o-", color="#1a5fb4",
        markersize=3, label=data["series_name"],
    )
    if data["judged"][1] is not None:
        axis.plot([data["judged"][0]], [data["judged"][1]], "D", color="#b3261e", markersize=6, label=data["judged_name"])
    band = data["band"]
    if band is not None:
        axis.axhspan(band.low, band.high, color="#1a5fb4", alpha=0.12, label=band.label(band_sigmas, data["band_name"]))
    if data["threshold"] is not None:
        axis.axhline(data["threshold"], color="#b3261e", linestyle="--", label=data["threshold_name"])
    floor, _ = metric_range(metric)
    if floor is not None:
        axis.set_ylim(bottom=floor)
    axis.set_title(data["title"], fontsize=10)
    axis.legend(fontsize=7)
    axis.tick_params(labelsize=7)
    figure.autofmt_xdate()
    return figure_png(figure)


def certificate_chart_data(alert: dict[str, Any]) -> dict[str, Any]:
    """What the certificate alert's chart draws: per day the auto-tickets' precision with its 95 %
    Wilson interval (days without an auto-ticket left out), the week's pooled value and the target."""
    from fraudcal.coverage import wilson_interval

    days, rates, lows, highs = [], [], [], []
    for entry in alert.get("days", []):
        if not entry["tickets"]:
            continue
        low, high = wilson_interval(entry["frauds"], entry["tickets"])
        days.append(date.fromisoformat(entry["day"]))
        rates.append(entry["frauds"] / entry["tickets"])
        lows.append(low)
        highs.append(high)
    return {"days": days, "rates": rates, "lows": lows, "highs": highs, "value": alert["value"],
            "week": (alert["wilson_low"], alert["wilson_high"]), "target": alert["threshold"]}


def draw_certificate_chart(model_version: str, alert: dict[str, Any]) -> bytes:
    """The certificate alert's chart (PNG): daily auto-ticket precision with Wilson bars, the week's value, the target."""
    data = certificate_chart_data(alert)
    figure, axis = new_figure(6.8, 2.6)
    if data["days"]:
        errors = [
            [rate - low for rate, low in zip(data["rates"], data["lows"], strict=True)],
            [high - rate for rate, high in zip(data["rates"], data["highs"], strict=True)],
        ]
        axis.errorbar(data["days"], data["rates"], yerr=errors, fmt="o", color="#1a5fb4", capsize=3,
                      label="auto-tickets' precision per day (bars: 95 % Wilson interval)")
    low, high = data["week"]
    axis.axhspan(low, high, color="#b3261e", alpha=0.12,
                 label=f"the 7 days: {data['value'] * 100:.1f} % (95 % Wilson {low * 100:.1f}\u2013{high * 100:.1f} %)")
    axis.axhline(data["target"], color="#b3261e", linestyle="--", label=f"certified target {data['target'] * 100:g} %")
    axis.set_ylim(-0.03, 1.03)
    axis.set_title(f"{model_version}: auto-ticket precision (certificate violated)", fontsize=10)
    axis.legend(fontsize=7, loc="lower left")
    axis.tick_params(labelsize=7)
    figure.autofmt_xdate()
    return figure_png(figure)


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


def _days(count: int) -> str:
    return f"{count} day{'' if count == 1 else 's'}"


def maturity_sentence(summary: dict[str, Any] | None) -> str | None:
    """What the mail says about the label maturity applied (None: 0 days requested, the mail of old).

    ``summary`` is a result's ``label_maturity``
    (:func:`fraudcal_airflow.steps.drift_report.maturity_summary`).
    """
    from fraudcal.maturity import AUTO

    if not summary or (summary["days"] == 0 and summary["requested"] != AUTO):
        return None
    days, run_day, judged = summary["days"], summary["run_day"], summary["judged_day"]
    if days == 0:
        return (
            f"Label maturity: 0 days, so the judged day is this run's day, {judged}, whose labels may still be "
            f"arriving ({summary['reason']})."
        )
    return (
        f"Label maturity: {_days(days)} ({summary['reason']}). The judged day is {judged}, {_days(days)} before this "
        f"run's day {run_day}: the newest prediction day whose labels have matured. Every rule, and the reference "
        f"days, count back from it: alerts come {_days(days)} later, but they are not raised by labels that have "
        "not arrived yet."
    )


def arrival_view(model_version: str, entry: dict[str, Any] | None) -> dict[str, Any]:
    """One version's compact label-arrival table: ages as columns, labeled and fraud shares as rows."""
    from fraudcal.coverage import NO_LABEL_SNAPSHOTS, auto_maturity_sentence
    from fraudcal_airflow.reporting.render import json_ready

    entry = json_ready(entry)  # NaN shares as None: the table shows a dash
    if entry is None:
        return {"model_version": model_version, "none": NO_LABEL_SNAPSHOTS}
    return {
        "model_version": model_version,
        "none": None,
        "snapshot_day": entry["snapshot_day"],
        "rows": entry["rows"],
        "auto": auto_maturity_sentence(entry["auto"]),
    }


def render_html(
    subject: str,
    model_type: str,
    day: date,
    results: list[dict],
    charts: dict[str, bytes],
    run_url: str,
    level: int = DEFAULT_LEVEL,
    method: str = DEFAULT_METHOD,
) -> str:
    """The alert or digest e-mail (static HTML, cid: charts); the table at coverage ``level``, with
    the per-class coverage of ``method`` (the default method, what the coverage rule judges).

    The label maturity (each result's ``label_maturity``: :func:`maturity_sentence`) and the
    label-arrival tables (``label_arrival``: :func:`arrival_view`) are shown when the results
    carry them.
    """
    summary = next((result["label_maturity"] for result in results if "label_maturity" in result), None)
    return render_template(
        "drift_report.html.j2",
        subject=subject,
        model_type=model_type,
        day=day,
        results=results,
        charts=sorted(charts),
        run_url=run_url,
        metrics=[(name, metric_label(name)) for name in table_metrics(level, method)],
        maturity=maturity_sentence(summary),
        arrival=[
            arrival_view(result["model_version"], result["label_arrival"])
            for result in results
            if "label_arrival" in result
        ],
        arrival_max_age=ARRIVAL_MAX_AGE,
        arrival_day=summary["run_day"] if summary else None,
    )
