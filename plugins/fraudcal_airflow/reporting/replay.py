"""The replay report's presentation: verdicts per method, charts, subject, HTML and CSV.

The numbers are the core's (:func:`fraudcal.replay.verdict`, :func:`fraudcal.replay.guarantee`,
:func:`fraudcal.replay.comparison_sentence`, :func:`fraudcal.replay.daily_figures`) over the
rows the run stored in ``fraudcal.replay_daily``, read back
(:func:`fraudcal_airflow.db.replay_daily.rows_of_run`), so that the mail says exactly what the
table holds. This module draws the two charts per version (daily coverage per class and method,
daily review load per method), renders ``replay_report.html.j2`` and writes a long-format CSV of
the verdicts and of every stored row. :mod:`fraudcal_airflow.steps.replay_methods` runs it;
archiving and mailing are shared with the other reports.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from fraudcal.defaults import MONDRIAN_ACI_METHOD, MONDRIAN_METHOD, RESIDUAL_METHOD, VENN_ABERS_METHOD
from fraudcal_airflow.reporting.render import figure_png, json_ready, new_figure, render_template

if TYPE_CHECKING:
    import pandas as pd

REPORT_TYPE = "replay"
#: Line colours of the methods in the charts (the same in both).
METHOD_COLOURS = {
    RESIDUAL_METHOD: "#b26a00",
    MONDRIAN_METHOD: "#1a5fb4",
    MONDRIAN_ACI_METHOD: "#1e7b34",
    VENN_ABERS_METHOD: "#7b3294",
}
_STATUS_ORDER = {"green": 0, "amber": 1, "red": 2}


# ------------------------------------------------------------------ figures


def build_figures(
    rows_by_version: Mapping[str, pd.DataFrame],
    facts_by_version: Mapping[str, Mapping[str, Any]],
    *,
    plan: Mapping[str, Any],
) -> dict[str, Any]:
    """Per version: the verdict of each method, its promise kept or broken, the daily figures and the findings.

    Parameters
    ----------
    rows_by_version : dict of str to DataFrame
        The stored rows of each version (:func:`fraudcal_airflow.db.replay_daily.rows_of_run`).
    facts_by_version : dict
        Per version, :class:`fraudcal_airflow.steps.replay_methods.VersionFacts` as a dict.
    plan : dict
        :class:`fraudcal_airflow.steps.replay_methods.ReplayPlan` as a dict.

    Returns
    -------
    dict
        ``status`` (red: a method broke its promise; amber: nothing could be judged; green),
        ``headline``, ``level``, the plan's settings, ``versions`` and ``findings``.
    """
    from fraudcal.replay import comparison_sentence, daily_figures, guarantee, verdict, verdict_sentence

    level = int(plan["level"])
    versions = []
    for version in plan["versions"]:
        frame = rows_by_version.get(version)
        facts = dict(facts_by_version.get(version, {}))
        entry: dict[str, Any] = {"model_version": version, "facts": facts, "verdicts": [], "daily": []}
        if frame is None or frame.empty or not int(frame["n"].sum()):
            entry.update(status="amber", comparison=f"{version}: no labeled prediction in the replayed days")
            entry["findings"] = _findings(version, frame, facts, plan) + [entry["comparison"]]
            versions.append(entry)
            continue
        rows = verdict(frame, level)
        for row in rows:
            row["sentence"] = verdict_sentence(row)
            row["guarantee"] = guarantee(row, target_precision=plan["ticket_precision"], target_npv=plan["clear_npv"])
            row["overall"] = _overall(row)
        broken = [text for row in rows for text in row["guarantee"]["broken"]]
        entry.update(
            status="red" if broken else "green",
            comparison=comparison_sentence(rows),
            verdicts=rows,
            broken=broken,
            daily=_records(daily_figures(frame)),
            findings=_findings(version, frame, facts, plan),
        )
        versions.append(entry)
    status = max((entry["status"] for entry in versions), key=_STATUS_ORDER.__getitem__, default="amber")
    findings = [finding for entry in versions for finding in entry["findings"]]
    if not versions:
        findings = [f"no model version of {plan['model_type']} in {plan['source']}: nothing was replayed"]
    return json_ready(
        {
            "status": status,
            "headline": headline(versions),
            "level": level,
            "plan": dict(plan),
            "versions": versions,
            "findings": findings,
        }
    )


def percent(share: float, digits: int = 1) -> str:
    """``93.3 %`` (the reports' style: a space before the sign)."""
    return f"{100 * share:.{digits}f} %"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as dicts with None for every missing value (pandas NA, NaN)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _overall(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """Coverage of both classes together (the residual method's promise), None for Venn-Abers."""
    from fraudcal.coverage import wilson_interval

    if row.get("fraud") is None:
        return None
    successes = sum(int(row[name]["coverage"]["successes"]) for name in ("fraud", "legitimate"))
    n = sum(int(row[name]["coverage"]["n"]) for name in ("fraud", "legitimate"))
    low, high = wilson_interval(successes, n)
    return {"n": n, "successes": successes, "rate": successes / n if n else math.nan, "low": low, "high": high}


def _findings(version: str, frame: pd.DataFrame | None, facts: Mapping[str, Any], plan: Mapping[str, Any]) -> list[str]:
    """The numbers about the history that a reader needs beside the verdicts, inconvenient or not."""
    first, last = date.fromisoformat(plan["date_from"]), date.fromisoformat(plan["date_to"])
    days = (last - first).days + 1
    findings = []
    predictions, labeled = facts.get("predictions", 0), facts.get("labeled", 0)
    if predictions:
        findings.append(
            f"{version}: {labeled:,} of the {predictions:,} predictions of the replayed days have a label now "
            f"({percent(labeled / predictions)}); the {predictions - labeled:,} others are not judged."
        )
    else:
        findings.append(f"{version}: no prediction in the replayed days.")
    if frame is not None and not frame.empty:
        per_day = frame.groupby("day")["n"].max()
        empty = int((per_day == 0).sum())
        if empty:
            findings.append(
                f"{version}: {empty} of {days} replayed days have no labeled prediction (nothing to judge)."
            )
        limited = frame[
            frame["method"].isin([MONDRIAN_METHOD, MONDRIAN_ACI_METHOD]) & frame["too_few_frauds"].fillna(False)
        ]
        for config, part in limited.groupby("config", sort=False):
            findings.append(
                f"{version}: {config}'s window held too few frauds to ever exclude a label on "
                f"{part['day'].nunique()} of {days} days (sets then always hold fraud)."
            )
    if facts.get("unusable_probability"):
        findings.append(
            f"{version}: {facts['unusable_probability']:,} of the predictions read (windows and replayed days) have "
            "no usable probability (NULL, NaN or outside [0, 1]) and are left out of every window and day."
        )
    if facts.get("without_risk_level"):
        findings.append(
            f"{version}: {facts['without_risk_level']:,} predictions of the replayed days have no risk level: "
            "residual and Mondrian never auto-ticket them."
        )
    start = facts.get("first_prediction_day")
    window = int(plan["window_days"])
    if start and date.fromisoformat(start) > date.fromisoformat(plan["extract_from"]):
        full_from = date.fromisoformat(start) + timedelta(days=window)
        short = max(0, min((full_from - first).days, days))
        if short:
            findings.append(
                f"{version}: the log starts on {start}, so the windows of the first {short} replayed days held "
                f"less than {window} days of history."
            )
    return findings


def headline(versions: list[dict[str, Any]]) -> str:
    """The plain-words verdict first: the first version's comparison (named when there are several)."""
    if not versions:
        return "nothing was replayed"
    entry = next((entry for entry in versions if entry["verdicts"]), versions[0])
    text = entry["comparison"]
    if len(versions) > 1 and not text.startswith(entry["model_version"]):
        text = f"{entry['model_version']}: {text}"
    return text


def subject_line(figures: Mapping[str, Any], model_type: str, first: date, last: date) -> str:
    """``[RED] fraud_detector replay 2025-01-01..2025-03-31: <the first two clauses of the headline>``."""
    clauses = figures["headline"].rstrip(".").split("; ")
    short = "; ".join(clauses[:2])
    return f"[{figures['status'].upper()}] {model_type} replay {first}..{last}: {short}"


# ------------------------------------------------------------------ charts


def chart_names(model_version: str) -> dict[str, str]:
    """File (and ``cid:``) names of a version's charts: from :func:`fraudcal_airflow.paths.safe_name`, never the raw version."""
    from fraudcal_airflow.paths import safe_name

    name = safe_name(model_version)
    return {"coverage": f"replay-coverage-{name}.png", "review": f"replay-review-{name}.png"}


def render_charts(figures: dict[str, Any]) -> dict[str, bytes]:
    """Per version with judged days: daily coverage per class and method, and daily review load per method.

    A version whose charts cannot be drawn gets a finding instead; the others keep theirs.
    """
    charts: dict[str, bytes] = {}
    for entry in figures["versions"]:
        if not entry["daily"]:
            continue
        try:
            charts.update(_version_charts(entry, figures["level"]))
        except Exception as error:  # noqa: BLE001 - one version's chart must not cost the others their report
            entry["findings"].append(f"{entry['model_version']}: charts could not be drawn ({error!r})")
            figures["findings"].append(entry["findings"][-1])
    return charts


def _series(daily: list[dict[str, Any]], key: str) -> dict[str, tuple[str, list[str], list[float]]]:
    """Per config: its method, the days and the values of ``key`` (NaN where missing)."""
    series: dict[str, tuple[str, list[str], list[float]]] = {}
    for row in daily:
        method, days, values = series.setdefault(row["config"], (row["method"], [], []))
        days.append(row["date"])
        value = row[key]
        values.append(math.nan if value is None else float(value))
    return series


def _day_ticks(axis: Any, dates: list[str]) -> None:
    """At most about 12 labelled days on the x axis (positions, not categorical units)."""
    step = max(1, math.ceil(len(dates) / 12))
    positions = list(range(0, len(dates), step))
    axis.set_xticks(positions, [dates[index][5:] for index in positions], rotation=45 if len(positions) > 6 else 0)


def _version_charts(entry: dict[str, Any], level: int) -> dict[str, bytes]:
    """The two charts of one version."""
    names = chart_names(entry["model_version"])
    charts: dict[str, bytes] = {}
    figure, axis = new_figure(6.8, 4.6)
    axis.remove()
    panels = figure.subplots(2, 1, sharex=True)
    dates: list[str] = []
    for panel, class_name, title in (
        (panels[0], "fraud", "confirmed frauds"),
        (panels[1], "legitimate", "legitimate cases"),
    ):
        for config, (method, days, values) in _series(entry["daily"], f"{class_name}_coverage").items():
            if method == VENN_ABERS_METHOD:
                continue  # no label sets, no coverage
            dates = days
            panel.plot(
                range(len(days)),
                values,
                marker="o",
                markersize=2.5,
                linewidth=1.2,
                color=METHOD_COLOURS.get(method),
                label=config,
            )
        panel.axhline(level / 100, color="#b3261e", linestyle="--", linewidth=1, label=f"target {level} %")
        panel.set_ylim(-0.03, 1.03)
        panel.set_ylabel("coverage", fontsize=8)
        panel.set_title(f"{entry['model_version']}: daily coverage of {title}", fontsize=9)
        panel.tick_params(labelsize=7)
    panels[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: no line hidden
    _day_ticks(panels[1], dates)
    charts[names["coverage"]] = figure_png(figure)

    figure, axis = new_figure(6.8, 2.6)
    for config, (method, days, values) in _series(entry["daily"], "review_share").items():
        dates = days
        axis.plot(
            range(len(days)),
            values,
            marker="o",
            markersize=2.5,
            linewidth=1.2,
            color=METHOD_COLOURS.get(method),
            label=config,
        )
    axis.set_ylim(-0.02, 1.02)
    axis.set_ylabel("share sent to human review", fontsize=8)
    axis.set_title(f"{entry['model_version']}: daily review load", fontsize=9)
    axis.tick_params(labelsize=7)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _day_ticks(axis, dates)
    charts[names["review"]] = figure_png(figure)
    return charts


# ------------------------------------------------------------------ HTML and CSV


def _cell(rate: Mapping[str, Any] | None, target: float, promised: bool) -> dict[str, Any] | None:
    """A pooled figure for the table: red when below target beyond its Wilson interval and promised, amber when not promised."""
    if rate is None:
        return None
    below = bool(rate["n"]) and rate["high"] is not None and rate["high"] < target
    return {**rate, "colour": ("red" if promised else "amber") if below else None}


def table_rows(entry: Mapping[str, Any], plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The verdict table of one version: one row per method, each figure coloured by the promise it tests."""
    target = int(plan["level"]) / 100
    rows = []
    for row in entry["verdicts"]:
        method = row["method"]
        per_class = method in (MONDRIAN_METHOD, MONDRIAN_ACI_METHOD)
        rows.append(
            {
                "label": row["label"],
                "method": method,
                "promise": row["guarantee"]["promise"],
                "holds": row["guarantee"]["holds"],
                "fraud": row["fraud"],
                "legitimate": row["legitimate"],
                "fraud_cell": _cell(row["fraud"] and row["fraud"]["coverage"], target, per_class),
                "legitimate_cell": _cell(row["legitimate"] and row["legitimate"]["coverage"], target, per_class),
                "overall_cell": _cell(row["overall"], target, method == RESIDUAL_METHOD),
                "review_share": row["review_share"],
                "review_share_pooled": row["review_share_pooled"],
                "tickets": row["tickets"],
                "precision_cell": _cell(row["ticket_precision"], plan["ticket_precision"], method == VENN_ABERS_METHOD),
                "cleared": row["cleared"],
                "npv_cell": _cell(row["npv"], plan["clear_npv"], method == VENN_ABERS_METHOD),
                "saturated_days": row["saturated_days"],
                "days": row["days"],
            }
        )
    return rows


def assumptions(plan: Mapping[str, Any]) -> list[str]:
    """What the replay assumes, in plain words (the mail states them before any figure)."""
    maturity, window = int(plan["label_maturity_days"]), int(plan["window_days"])
    return [
        "Labels as known now: the prediction log keeps no label timestamps, so every label is taken as the log "
        f"holds it today. The window of a day D (the {window} days predicted from D - {maturity + window} to "
        f"D - {maturity + 1}) uses their labels as if they had all been in by D. Where labels really took longer "
        f"than {maturity} day(s), production had fewer of them (and, as frauds are confirmed faster than legitimate "
        "cases are cleared, a different class mix) than this replay credits it with.",
        f"Label maturity: {plan['maturity_reason']}.",
        "Each day is judged on its predictions that have a label now; predictions never labeled are not judged. "
        "Days are UTC; the set of as_of D (midnight) serves the whole day D, as a daily calibration at 00:00 UTC would.",
        f"A day met a class's coverage when the 95 % Wilson interval of that day's coverage reaches {plan['level']} % "
        "(its upper end is at least the target); over-coverage counts as met and costs review load, shown beside it.",
        "Auto-tickets need a HIGH or CRITICAL prediction (residual: a narrow interval, width below "
        f"{plan['narrow_threshold']}; Mondrian: the set {{1}}); auto-clear is the set {{0}}; everything else goes to "
        "human review. Venn-Abers decides with certified triage thresholds fitted on each window (target precision "
        f"{percent(plan['ticket_precision'])}, NPV {percent(plan['clear_npv'], 2)}, confidence "
        f"{percent(plan['triage_confidence'], 0)}).",
        "Mondrian + ACI starts at the first replayed day at the target level and moves each class's level with "
        "every prediction day that has matured.",
    ]


def render_html(figures: Mapping[str, Any], context: Mapping[str, Any]) -> str:
    """Render ``include/templates/replay_report.html.j2`` (autoescaped).

    ``context["chart_files"]`` names the charts that were drawn; the others are not referenced.
    """
    context = dict(context)
    drawn = set(context.pop("chart_files", []))
    plan = figures["plan"]
    versions = []
    for entry in figures["versions"]:
        charts = {kind: name for kind, name in chart_names(entry["model_version"]).items() if name in drawn}
        versions.append({**entry, "charts": charts, "table": table_rows(entry, plan)})
    return render_template(
        "replay_report.html.j2",
        **context,
        status=figures["status"],
        headline=figures["headline"],
        level=figures["level"],
        plan=plan,
        findings=figures["findings"],
        assumptions=assumptions(plan),
        versions=versions,
        configs=", ".join(config["name"] for config in plan["configs"]),
    )


def figures_csv(stored: pd.DataFrame) -> str:
    """Every stored row of the run, one line per (version, day, config, class), every column; then per
    (version, config, class) a line ``date = all`` with the counts summed over the replayed days.

    The verdicts (days met, Wilson intervals) are the report's; from these lines each can be recomputed.
    """
    from fraudcal.replay import COUNT_COLUMNS

    buffer = io.StringIO()
    columns = [column for column in stored.columns if column != "day"]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for record in stored.to_dict("records"):
        writer.writerow([_csv_value(record[column]) for column in columns])
    keys = ["model_version", "config", "method", "class"]
    totals = stored.groupby(keys, sort=False)[list(COUNT_COLUMNS)].sum(min_count=1).reset_index()
    for record in totals.to_dict("records"):
        writer.writerow([_csv_value("all" if column == "date" else record.get(column)) for column in columns])
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    """Empty for missing values (None, NaN, pandas NA); JSON-like text for options."""
    value = json_ready(value)
    if value is None:
        return ""
    try:
        import pandas as pd

        if value is pd.NA:
            return ""
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, dict):
        import json

        return json.dumps(value, sort_keys=True)
    return value
