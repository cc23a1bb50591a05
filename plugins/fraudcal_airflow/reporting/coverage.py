"""The coverage report's presentation: per-version figures, charts, subject, HTML and CSV.

The figures come from the core (:func:`fraudcal.coverage.version_figures`), fed with the rows of
:func:`fraudcal_airflow.db.prediction_log.labeled_predictions_in_force`; this module draws the
charts (PNG, matplotlib), renders ``coverage_report.html.j2`` and writes a long-format CSV of
every table. :mod:`fraudcal_airflow.steps.coverage_report` runs it; archiving and mailing are
shared with the drift report (:mod:`fraudcal_airflow.reporting.archive`, ``.mail``).
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date
from typing import Any

from fraudcal.defaults import SUPPORTED_LEVELS
from fraudcal_airflow.db.prediction_log import quantile_column, without_unusable_probabilities
from fraudcal_airflow.reporting.render import figure_png, new_figure, render_template

REPORT_TYPE = "coverage"


def build_figures(
    rows_by_version: dict[str, dict[str, Any]],
    *,
    ages: dict[str, float],
    level: int,
    narrow_threshold: float,
    stale_after_hours: float,
) -> dict[str, Any]:
    """Per-version figures (core), the overall status and the pooled headline."""
    import numpy as np

    from fraudcal.coverage import coverage, interval_covers, report_status, version_figures

    versions = []
    pooled_covered, pooled_fraud = [], []
    for version, all_rows in sorted(rows_by_version.items()):
        rows, unusable = without_unusable_probabilities(all_rows)
        if rows["id"].size == 0:
            continue
        try:
            quantiles = {level: rows[quantile_column(level)] for level in SUPPORTED_LEVELS}
            figures = version_figures(
                model_version=version,
                days=rows["predicted_at"].astype("datetime64[D]"),
                probabilities=rows["probability"],
                labels=rows["label"],
                is_high_risk=rows["high_risk"],
                quantiles=quantiles,
                level=level,
                narrow_threshold=narrow_threshold,
                newest_set_age_hours=ages.get(version),
                stale_after_hours=stale_after_hours,
            )
            usable = np.isfinite(quantiles[level])
            hits = interval_covers(rows["probability"][usable], rows["label"][usable], quantiles[level][usable])
        except Exception as error:  # noqa: BLE001 - one version's failure is reported; the others go out
            versions.append(failed_version(version, error, int(rows["id"].size), ages.get(version)))
            continue
        figures["unusable_probability"] = unusable
        if unusable:
            figures["findings"].append(
                f"{version}: {unusable:,} labeled predictions have no usable probability (NULL, NaN or outside "
                "[0, 1]) and are left out of every figure"
            )
        versions.append(figures)
        pooled_covered.append(hits)
        pooled_fraud.append(hits[rows["label"][usable]])
    overall = coverage(np.concatenate(pooled_covered) if pooled_covered else np.array([], bool), level / 100)
    fraud = coverage(np.concatenate(pooled_fraud) if pooled_fraud else np.array([], bool), level / 100)
    findings = [finding for figures in versions for finding in figures.get("findings", [])]
    if not versions:
        findings = ["no labeled outcomes in this period: nothing could be measured"]
    return {
        "status": report_status(versions),
        "level": level,
        "narrow_threshold": narrow_threshold,
        "overall": overall.as_dict(),
        "fraud": fraud.as_dict(),
        "versions": versions,
        "findings": findings,
    }


def failed_version(model_version: str, error: Exception, labeled: int, newest_set_age_hours: float | None) -> dict:
    """The report entry of a version whose figures could not be computed: red, with the error."""
    return {
        "model_version": model_version,
        "status": "red",
        "labeled": labeled,
        "n": 0,
        "without_set_in_force": 0,
        "newest_set_age_hours": newest_set_age_hours,
        "set_stale": False,
        "error": f"{type(error).__name__}: {error}",
        "findings": [f"{model_version}: could not be measured ({type(error).__name__}: {error})"],
    }


def headline(figures: dict[str, Any]) -> str:
    """The one line the subject and the banner share."""
    if not figures["versions"] or not figures["overall"]["n"]:
        return "no labeled outcomes"
    level = figures["level"]
    return (
        f"{level}% intervals covered {figures['overall']['rate']:.1%} "
        f"(fraud {figures['fraud']['rate']:.1%}, target {level}%)"
    )


def subject_line(figures: dict[str, Any], model_type: str, versions: list[str], first: date, last: date) -> str:
    """``[STATUS] model versions first..last: headline``."""
    return (
        f"[{figures['status'].upper()}] {model_type} {','.join(versions) or '-'} {first}..{last}: {headline(figures)}"
    )


def render_charts(figures: dict[str, Any]) -> dict[str, bytes]:
    """PNG charts per version: coverage per day with Wilson bars and target; reliability.

    A version whose charts cannot be drawn gets a finding instead; the others keep theirs.
    """
    charts: dict[str, bytes] = {}
    for version in figures["versions"]:
        if not version.get("n"):
            continue
        try:
            charts.update(_version_charts(version))
        except Exception as error:  # noqa: BLE001 - one version's chart must not cost the others their report
            version["findings"].append(f"{version['model_version']}: charts could not be drawn ({error!r})")
            figures["findings"].append(version["findings"][-1])
    return charts


def _version_charts(version: dict[str, Any]) -> dict[str, bytes]:
    """The two charts of one version."""
    charts: dict[str, bytes] = {}
    level, name = version["level"], version["model_version"]
    days = [row["day"][5:] for row in version["by_day"]]
    rates = [row["rate"] for row in version["by_day"]]
    errors = [
        [row["rate"] - row["low"] for row in version["by_day"]],
        [row["high"] - row["rate"] for row in version["by_day"]],
    ]
    figure, axis = new_figure(6.8, 2.4)
    axis.errorbar(days, rates, yerr=errors, fmt="o-", color="#1a5fb4", capsize=3, label="coverage (95 % Wilson)")
    axis.axhline(level / 100, color="#b3261e", linestyle="--", label=f"target {level} %")
    fraud = [row["fraud_covered"] / row["fraud_n"] if row["fraud_n"] else math.nan for row in version["by_day"]]
    axis.plot(days, fraud, "s:", color="#b26a00", label="confirmed frauds")
    axis.set_ylim(0, 1.02)
    axis.set_ylabel("coverage")
    axis.set_title(f"{name}: {level} % intervals per day", fontsize=10)
    axis.legend(fontsize=7, loc="lower left")
    axis.tick_params(labelsize=8)
    charts[chart_names(name)["coverage"]] = figure_png(figure)

    figure, axis = new_figure(3.4, 3.0)
    means = [row["mean_probability"] for row in version["reliability"]]
    observed = [row["observed_rate"] for row in version["reliability"]]
    top = max([*means, *observed, 0.05]) * 1.05
    axis.plot([0, top], [0, top], color="#999", linewidth=1)
    axis.plot(means, observed, "o-", color="#1a5fb4")
    axis.set_xlim(0, top)
    axis.set_ylim(0, top)
    axis.set_xlabel("mean predicted probability", fontsize=8)
    axis.set_ylabel("observed fraud rate", fontsize=8)
    axis.set_title(f"{name}: reliability (ECE {version['ece']:.4f})", fontsize=9)
    axis.tick_params(labelsize=7)
    charts[chart_names(name)["reliability"]] = figure_png(figure)
    return charts


def chart_names(model_version: str) -> dict[str, str]:
    """File (and ``cid:``) names of a version's charts, shared by the charts and the template.

    Built with :func:`fraudcal_airflow.paths.safe_name` (readable part + hash), never from the
    raw version: a version read from the log may hold ``/``, ``..``, ``<`` or CR/LF.
    """
    from fraudcal_airflow.paths import safe_name

    name = safe_name(model_version)
    return {"coverage": f"coverage-{name}.png", "reliability": f"reliability-{name}.png"}


def render_html(figures: dict[str, Any], context: dict[str, Any]) -> str:
    """Render ``include/templates/coverage_report.html.j2`` (autoescaped).

    ``context["chart_files"]``, when given, names the charts that were drawn; the others are
    not referenced (no broken image for a version whose chart failed).
    """
    context = dict(context)
    versions = [{**version, "charts": chart_names(version["model_version"])} for version in figures["versions"]]
    drawn = context.pop("chart_files", None)
    if drawn is None:
        drawn = [name for version in versions for name in version["charts"].values()]
    for version in versions:  # a chart that could not be drawn is not referenced
        version["charts"] = {kind: name for kind, name in version["charts"].items() if name in drawn}
    return render_template(
        "coverage_report.html.j2",
        **context,
        status=figures["status"], headline=headline(figures), findings=figures["findings"], versions=versions
    )


def figures_csv(figures: dict[str, Any]) -> str:
    """Every table of the report in one long-format CSV: table, model_version, row, column, value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["table", "model_version", "row", "column", "value"])
    for version in figures["versions"]:
        name = version["model_version"]
        for level, groups in version.get("coverage", {}).items():
            for group, values in groups.items():
                if not isinstance(values, dict):  # a count of the level, e.g. without_quantile
                    writer.writerow(["coverage", name, level, group, values])
                    continue
                for column, value in values.items():
                    writer.writerow(["coverage", name, f"{level}/{group}", column, value])
        for table, key in (
            ("by_day", "day"),
            ("width_buckets", "bucket"),
            ("threshold_replay", "narrow_threshold"),
            ("reliability", None),
        ):
            for index, row in enumerate(version.get(table, [])):
                for column, value in row.items():
                    writer.writerow([table, name, row[key] if key else index, column, value])
        for column, value in version.get("automation", {}).items():
            writer.writerow(["automation", name, "", column, value])
        for column, value in version.get("label_sets", {}).items():
            writer.writerow(["label_sets", name, "", column, value])
    return buffer.getvalue()
