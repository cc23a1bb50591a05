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


def problems(figures: dict[str, Any]) -> list[str]:
    """What is wrong, worst first, as short phrases for the subject and the banner ([] when all is well).

    Red reasons (a version that could not be measured, confirmed frauds or all predictions
    below target beyond the Wilson interval, a stale or missing calibration set) come before
    amber ones (legitimate cases below target, a version without measurable outcomes, days
    below target). A coverage shortfall shared by every measured version is said once with the
    pooled figure; otherwise per version.
    """
    from fraudcal.coverage import percent, plural

    level = figures["level"]
    versions = figures["versions"]
    measured = [version for version in versions if version.get("n") and "coverage" in version]
    red: list[str] = [f"{v['model_version']} could not be measured" for v in versions if "error" in v]
    amber: list[str] = []
    for group, words, found in (
        ("fraud", "confirmed frauds", red),
        ("overall", "all labeled predictions", red),
        ("legitimate", "legitimate cases", amber),
    ):
        below = [v for v in measured if v["coverage"][str(level)][group]["below_target"]]
        pooled = figures.get(group)
        if below and len(below) == len(measured) and pooled and pooled.get("n"):
            found.append(f"the {level} % intervals contained {percent(pooled['rate'])} of {words} (target {level} %)")
            continue
        found.extend(
            f"{v['model_version']}: the {level} % intervals contained "
            f"{percent(v['coverage'][str(level)][group]['rate'])} of {words} (target {level} %)"
            for v in below
        )
    stale = [(v["model_version"], v.get("newest_set_age_hours")) for v in versions if v.get("set_stale")]
    if len(stale) == 1:
        name, age = stale[0]
        red.append(f"{name} has no calibration set" if age is None else f"{name}'s newest calibration set is {age:.0f} h old (stale)")
    elif stale:
        ages = ", ".join(f"{name} ({'no set' if age is None else f'{age:.0f} h old'})" for name, age in stale)
        red.append(f"stale calibration sets: {ages}")
    amber.extend(
        f"{v['model_version']} has no labeled outcomes with a calibration set in force"
        for v in versions
        if not v.get("n") and "error" not in v and not v.get("set_stale")
    )
    for version in measured:
        low_days = [row for row in version["by_day"] if row["below_target"]]
        if low_days:
            amber.append(f"{version['model_version']}: coverage below target on {plural(len(low_days), 'day')}")
    return red + amber


def headline(figures: dict[str, Any]) -> str:
    """The one line the subject and the banner share: what is wrong first, the good news only when all is well.

    At most two problems are named (then how many more); the overall coverage follows as context.
    """
    from fraudcal.coverage import percent, plural

    if not figures["versions"]:
        return "no labeled outcomes"
    level, overall, fraud = figures["level"], figures["overall"], figures["fraud"]
    found = problems(figures)
    if not found and overall["n"]:
        frauds = (
            f" and {percent(fraud['rate'])} of confirmed frauds" if fraud["n"] else "; no confirmed frauds to measure"
        )
        return f"the {level} % intervals contained {percent(overall['rate'])} of all labeled predictions{frauds} (target {level} %)"
    if not found:  # not green, yet no reason found: never pretend all is well
        return "see the findings"
    text = "; ".join(found[:2])
    if len(found) > 2:
        text += f"; {plural(len(found) - 2, 'more problem')} in the report"
    if overall["n"] and "of all labeled predictions" not in text:
        text += f"; overall {percent(overall['rate'])}"
    return text


def subject_line(figures: dict[str, Any], model_type: str, versions: list[str], first: date, last: date) -> str:
    """``[STATUS] model versions first..last: headline``."""
    return (
        f"[{figures['status'].upper()}] {model_type} {','.join(versions) or '-'} {first}..{last}: {headline(figures)}"
    )


def automation_sentences(automation: dict[str, Any], narrow_threshold: float) -> list[str]:
    """The auto-tickets and human reviews of one version in sentences that read right for 0, 1 and many.

    Names the one figure of the report on wrong tickets: the *share of auto-tickets that were
    legitimate* (legitimate cases / auto-tickets), and the same share for human reviews.
    """
    from fraudcal.coverage import percent

    high, tickets, reviews = automation["high_risk"], automation["auto_tickets"], automation["human_reviews"]
    if not high:
        return [
            "No prediction in this period was HIGH/CRITICAL (a prediction log without risk levels marks none): "
            "no auto-tickets, no human reviews."
        ]
    narrow = f"an interval narrower than {narrow_threshold:g}"
    sentences = []
    if not tickets:
        sentences.append(
            f"The only HIGH/CRITICAL prediction did not have {narrow}: no auto-tickets."
            if high == 1
            else f"None of the {high:,} HIGH/CRITICAL predictions had {narrow}: no auto-tickets."
        )
    else:
        became = "became an auto-ticket" if tickets == 1 else "became auto-tickets"
        sentences.append(
            f"{_sentence_start(_of_the(tickets, high, 'HIGH/CRITICAL prediction'))} had {narrow} and {became} "
            f"(automation rate {percent(automation['automation_rate'])})."
        )
        sentences.append(
            _legitimate_sentence(
                tickets, automation["legitimate_auto_tickets"], "auto-ticket", "auto-tickets",
                f"the share of auto-tickets that were legitimate is {percent(automation['auto_ticket_legitimate_share'])}",
            )
        )
    if not reviews:
        sentences.append("None went to human review.")
    else:
        sentences.append(
            _legitimate_sentence(
                reviews, automation["legitimate_reviews"], "prediction sent to human review",
                "predictions sent to human review",
                f"{'for comparison, ' if tickets else ''}the share of human reviews that were legitimate is "
                f"{percent(automation['review_legitimate_share'])}",
            )
        )
    return sentences


def _of_the(count: int, total: int, noun: str) -> str:
    """``the only <noun>``, ``all 5 <noun>s`` or ``2 of the 5 <noun>s`` (``count`` >= 1)."""
    if total == 1:
        return f"the only {noun}"
    if count == total:
        return f"all {total:,} {noun}s"
    return f"{count:,} of the {total:,} {noun}s"


def _sentence_start(text: str) -> str:
    """``text`` with its first letter upper-case (``str.capitalize`` would lower HIGH/CRITICAL)."""
    return text[:1].upper() + text[1:]


def _legitimate_sentence(total: int, legitimate: int, noun: str, nouns: str, share: str) -> str:
    """How many of ``total`` were legitimate, then ``share``, for 1 and for many."""
    if total == 1:
        return f"The one {noun} was {'a legitimate case' if legitimate else 'a confirmed fraud'}: {share}."
    if legitimate == 0:
        counted = f"None of the {total:,} {nouns} was a legitimate case"
    elif legitimate == total:
        counted = f"All {total:,} {nouns} were legitimate cases"
    elif legitimate == 1:
        counted = f"1 of the {total:,} {nouns} was a legitimate case"
    else:
        counted = f"{legitimate:,} of the {total:,} {nouns} were legitimate cases"
    return f"{counted}: {share}."


#: Columns of a replay row that make its outcome; thresholds with equal values merge into one row.
REPLAY_OUTCOME = ("auto_tickets", "legitimate_auto_tickets", "missed_frauds")


def replay_rows(replay: list[dict[str, Any]], narrow_threshold: float) -> list[dict[str, Any]]:
    """The threshold replay as the report shows it: consecutive thresholds with identical outcomes in one row.

    The core's replay (and the CSV) keeps one row per threshold; here a run of thresholds that
    ticket exactly the same predictions becomes one row whose ``thresholds`` reads
    ``0.05\u20130.15``. ``current`` marks the row holding this report's ``narrow_threshold``.
    """
    merged: list[dict[str, Any]] = []
    for row in replay:
        if merged and all(merged[-1][key] == row[key] for key in REPLAY_OUTCOME):
            merged[-1]["last"] = row["narrow_threshold"]
            merged[-1]["members"].append(row["narrow_threshold"])
            continue
        merged.append({**row, "first": row["narrow_threshold"], "last": row["narrow_threshold"],
                       "members": [row["narrow_threshold"]]})
    for row in merged:
        row["thresholds"] = (
            f"{row['first']:.2f}" if row["first"] == row["last"] else f"{row['first']:.2f}\u2013{row['last']:.2f}"
        )
        row["current"] = any(math.isclose(member, narrow_threshold) for member in row.pop("members"))
    return merged


#: One-line explanations of the words the findings use, shown under them: (word as it appears, explanation).
GLOSSARY = (
    (
        "% intervals",
        "{level} % interval: the range [p \u2212 q, p + q] around a predicted fraud probability p that should "
        "hold the true outcome (0 legitimate, 1 fraud) for at least {level} % of predictions; coverage is how "
        "often it did",
    ),
    (
        "Wilson interval",
        "95 % Wilson interval: the range the true coverage lies in with 95 % confidence, given how many cases "
        "were counted; below target means even its upper end is below the target",
    ),
    (
        "calibration",
        "calibration set: the quantiles q computed each day from recent labeled outcomes; every prediction is "
        "judged with the set in force when it was made",
    ),
    (
        "auto-ticket",
        "auto-ticket: a HIGH/CRITICAL prediction whose interval is narrower than {narrow_threshold:g}, which "
        "opens a ticket without a human look; a wider one goes to human review",
    ),
)


def glossary(texts: list[str], *, level: int, narrow_threshold: float, measured: bool) -> list[str]:
    """The explanations of the glossary's words that ``texts`` use, in the glossary's order.

    With ``measured`` versions the words every version's tables use (intervals, Wilson interval,
    calibration set) are explained whether or not a finding names them.
    """
    always = {"% intervals", "Wilson interval", "calibration"} if measured else set()
    return [
        explanation.format(level=level, narrow_threshold=narrow_threshold)
        for word, explanation in GLOSSARY
        if word in always or any(word in text for text in texts)
    ]


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
    positions = list(range(len(days)))  # days as positions with day labels (not "categorical units")
    axis.set_xticks(positions, days, rotation=45 if len(days) > 10 else 0)
    axis.errorbar(
        positions, rates, yerr=errors, fmt="o-", color="#1a5fb4", capsize=3,
        label="all predictions (bars: 95 % Wilson interval)",
    )
    axis.axhline(level / 100, color="#b3261e", linestyle="--", label=f"target {level} %")
    fraud = [row["fraud_covered"] / row["fraud_n"] if row["fraud_n"] else math.nan for row in version["by_day"]]
    axis.plot(positions, fraud, "s:", color="#b26a00", label="confirmed frauds")
    axis.set_ylim(-0.03, 1.03)  # a 0 % day of frauds stays visible above the axis
    axis.set_ylabel("coverage")
    axis.set_title(f"{name}: {level} % intervals per day", fontsize=10)
    axis.legend(fontsize=7, loc="center left")  # the middle is free: coverage near the top, frauds near 0
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
        if version.get("n"):
            version["automation_sentences"] = automation_sentences(version["automation"], version["narrow_threshold"])
            version["replay_rows"] = replay_rows(version["threshold_replay"], version["narrow_threshold"])
    line = headline(figures)
    return render_template(
        "coverage_report.html.j2",
        **context,
        status=figures["status"],
        headline=line,
        findings=figures["findings"],
        glossary=glossary(
            [line, *figures["findings"]],
            level=figures["level"],
            narrow_threshold=figures["narrow_threshold"],
            measured=any(version.get("n") for version in versions),
        ),
        versions=versions,
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
