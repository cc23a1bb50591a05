"""The coverage report's presentation: per-version figures, charts, subject, HTML and CSV.

The figures come from the core (:func:`fraudcal.coverage.version_figures`), fed with the rows of
:func:`fraudcal_airflow.db.prediction_log.labeled_predictions_in_force`; this module draws the
charts (PNG, matplotlib), renders ``coverage_report.html.j2`` and writes a long-format CSV of
every table. :mod:`fraudcal_airflow.steps.coverage_report` runs it; archiving and mailing are
shared with the drift report (:mod:`fraudcal_airflow.reporting.archive`, ``.mail``).

Label arrival: per version, the labeled share (and the fraud share among the labeled) by cohort
age, ages 0..:data:`fraudcal.coverage.LABEL_ARRIVAL_MAX_AGE` and the older ages pooled, from the
newest label snapshot at or before the report's end, with the maturity ``"auto"`` would choose and
why (:func:`fraudcal.coverage.label_arrival`); a version without snapshots says
:data:`fraudcal.coverage.NO_LABEL_SNAPSHOTS`. It informs; the status does not follow it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from datetime import date
from typing import Any

from fraudcal.defaults import MONDRIAN_METHOD, REPORTED_METHODS, RESIDUAL_METHOD, SUPPORTED_LEVELS, VENN_ABERS_METHOD
from fraudcal_airflow.db.prediction_log import mondrian_in_force, quantile_column, without_unusable_probabilities
from fraudcal_airflow.reporting.render import figure_png, new_figure, render_template

REPORT_TYPE = "coverage"


def build_figures(
    rows_by_version: dict[str, dict[str, Any]],
    *,
    ages: dict[str, float],
    level: int,
    narrow_threshold: float,
    stale_after_hours: float,
    default_method: str,
    method_ages: Mapping[str, Mapping[str, float]] | None = None,
    venn_abers_by_version: Mapping[str, tuple[Any, list[dict[str, Any]]]] | None = None,
    triage_by_version: Mapping[str, list[dict[str, Any]]] | None = None,
    period: tuple[date, date] | None = None,
    label_arrival: Mapping[str, dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """Per-version figures (core), the methods side by side, the certified triage, the status and the headline.

    Parameters
    ----------
    rows_by_version : dict
        :func:`fraudcal_airflow.db.prediction_log.labeled_predictions_in_force` per version.
    ages : dict
        Hours since each version's newest residual set (absent: none).
    default_method : str
        The method the online service acts on: the status and the headline follow it.
    method_ages : dict, optional
        Per other method, the same ages (absent: no set of that method).
    venn_abers_by_version : dict, optional
        Per version, ``(as_ofs, levels)`` of the Venn-Abers sets in force in the period
        (:func:`fraudcal_airflow.db.calibration_sets.sets_in_force_during`).
    triage_by_version : dict, optional
        Per version, the triage certificate rows in force in the period, oldest first
        (:func:`fraudcal_airflow.db.triage.in_force_during`; ``[]``: none recorded). Absent:
        the report has no certified-triage part. A violated certificate makes the version red.
    period : (date, date), optional
        The report's inclusive days: the triage table lists each of them (default: the days
        with a labeled prediction).
    label_arrival : dict, optional
        Per version (every version of the report, measured or not), :func:`fraudcal.coverage.label_arrival`
        of its snapshots up to the report's end, or None without one
        (:func:`fraudcal.coverage.label_arrival_by_version`). Absent: no label-arrival part.
        Becomes ``figures["label_arrival"]``: ``[{"model_version", "arrival"}]`` in version order.
    """
    import numpy as np

    from fraudcal.comparison import (
        combined_verdict,
        compare_methods,
        pool_comparisons,
        recommend,
        venn_abers_figures,
        venn_abers_in_force,
    )
    from fraudcal.coverage import coverage, interval_covers, report_status, version_figures

    method_ages = {RESIDUAL_METHOD: ages, **(method_ages or {})}
    venn_abers_by_version = venn_abers_by_version or {}
    versions = []
    pooled_covered, pooled_fraud = [], []
    comparisons, pooled_venn_abers = [], []
    for version, all_rows in sorted(rows_by_version.items()):
        rows, unusable = without_unusable_probabilities(all_rows)
        if rows["id"].size == 0:
            continue
        try:
            quantiles = {level: rows[quantile_column(level)] for level in SUPPORTED_LEVELS}
            mondrian_quantiles, mondrian_frauds = mondrian_in_force(rows, SUPPORTED_LEVELS)
            days = rows["predicted_at"].astype("datetime64[D]")
            venn_abers = None
            as_ofs, sets = venn_abers_by_version.get(version, ((), []))
            if len(sets):
                venn_abers = venn_abers_in_force(rows["predicted_at"], rows["probability"], as_ofs, sets)
            figures = version_figures(
                model_version=version,
                days=days,
                probabilities=rows["probability"],
                labels=rows["label"],
                is_high_risk=rows["high_risk"],
                quantiles=quantiles,
                level=level,
                narrow_threshold=narrow_threshold,
                newest_set_age_hours=ages.get(version),
                stale_after_hours=stale_after_hours,
                suggest_mondrian=not any(np.isfinite(q_zero).any() for q_zero, _ in mondrian_quantiles.values()),
            )
            comparison = compare_methods(
                model_version=version,
                days=days,
                probabilities=rows["probability"],
                labels=rows["label"],
                is_high_risk=rows["high_risk"],
                residual_quantiles=quantiles,
                mondrian_quantiles=mondrian_quantiles,
                mondrian_frauds=mondrian_frauds,
                venn_abers=venn_abers,
                level=level,
                narrow_threshold=narrow_threshold,
                set_ages={method: method_ages.get(method, {}).get(version) for method in REPORTED_METHODS},
                stale_after_hours=stale_after_hours,
            )
            status, findings, other_findings = combined_verdict(figures, comparison, default_method)
            usable = np.isfinite(quantiles[level])
            hits = interval_covers(rows["probability"][usable], rows["label"][usable], quantiles[level][usable])
        except Exception as error:  # noqa: BLE001 - one version's failure is reported; the others go out
            versions.append(failed_version(version, error, int(rows["id"].size), ages.get(version)))
            continue
        figures.update(
            residual_status=figures["status"],
            status=status,
            findings=findings,
            other_findings=other_findings,
            default_method=default_method,
            comparison=comparison,
        )
        if triage_by_version is not None:
            _add_triage(figures, rows, list(triage_by_version.get(version, [])), usable, period)
        figures["unusable_probability"] = unusable
        if unusable:
            figures["findings"].append(
                f"{version}: {unusable:,} labeled predictions have no usable probability (NULL, NaN or outside "
                "[0, 1]) and are left out of every figure"
            )
        versions.append(figures)
        pooled_covered.append(hits)
        pooled_fraud.append(hits[rows["label"][usable]])
        comparisons.append(comparison)
        if venn_abers is not None:
            pooled_venn_abers.append((rows["probability"], rows["label"], *venn_abers, rows["high_risk"]))
    overall = coverage(np.concatenate(pooled_covered) if pooled_covered else np.array([], bool), level / 100)
    fraud = coverage(np.concatenate(pooled_fraud) if pooled_fraud else np.array([], bool), level / 100)
    findings = [finding for figures in versions for finding in figures.get("findings", [])]
    other_findings = [finding for figures in versions for finding in figures.get("other_findings", [])]
    if not versions:
        findings = ["no labeled outcomes in this period: nothing could be measured"]
    methods = pool_comparisons(comparisons, level)
    empty = np.array([], dtype=np.float64)
    columns = list(zip(*pooled_venn_abers, strict=True)) if pooled_venn_abers else [(empty,)] * 6
    methods[VENN_ABERS_METHOD] = venn_abers_figures(*(np.concatenate(column) for column in columns))
    arrival = {}
    if label_arrival is not None:
        arrival["label_arrival"] = [
            {"model_version": version, "arrival": entry} for version, entry in sorted(label_arrival.items())
        ]
    return {
        "status": report_status(versions),
        "level": level,
        "narrow_threshold": narrow_threshold,
        "default_method": default_method,
        "overall": overall.as_dict(),
        "fraud": fraud.as_dict(),
        "methods": methods,
        "recommendation": recommend(methods, level, default_method),
        "versions": versions,
        "findings": findings,
        "other_findings": other_findings,
        **arrival,
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


def _add_triage(
    figures: dict[str, Any],
    rows: dict[str, Any],
    certificates: list[dict[str, Any]],
    usable: Any,
    period: tuple[date, date] | None,
) -> None:
    """Add the certified triage of one version to its figures: the core's figures, the certified row
    of the threshold replay (over the replay's own predictions, ``usable``), and a violated
    certificate as a red finding. A failure here is the version's red finding, never the report's end."""
    import numpy as np

    from fraudcal.coverage import certified_replay, triage_figures, triage_in_force

    version = figures["model_version"]
    days = None
    if period is not None:
        days = np.arange(np.datetime64(period[0], "D"), np.datetime64(period[1], "D") + np.timedelta64(1, "D"))
    try:
        triage = triage_figures(
            model_version=version,
            predicted_at=rows["predicted_at"],
            probabilities=rows["probability"],
            labels=rows["label"],
            certificates=certificates,
            days=days,
        )
        columns = triage_in_force(rows["predicted_at"], certificates)
        if triage["recorded"]:
            figures["certified_replay"] = certified_replay(
                rows["probability"][usable],
                rows["high_risk"][usable],
                rows["label"][usable],
                columns["ticket_threshold"][usable],
                columns["clear_threshold"][usable],
            )
    except Exception as error:  # noqa: BLE001 - the coverage figures stay; the triage says it failed
        triage = {"model_version": version, "error": f"{type(error).__name__}: {error}"}
    figures["triage"] = triage
    for line in triage_lines(triage):
        if line["alarm"] and (triage.get("error") or triage.get("violated")):
            figures["findings"].append(line["text"])
            figures["status"] = "red"


#: What each method's output is called in the headline, findings and tables.
METHOD_NOUNS = {
    RESIDUAL_METHOD: "intervals",
    MONDRIAN_METHOD: "Mondrian label sets",
    VENN_ABERS_METHOD: "Venn-Abers probabilities",
}
#: The method's name as a heading or a table row says it.
METHOD_TITLES = {RESIDUAL_METHOD: "Residual", MONDRIAN_METHOD: "Mondrian", VENN_ABERS_METHOD: "Venn-Abers"}


def _default_figures(version: dict[str, Any], method: str) -> dict[str, Any] | None:
    """The figures of a version that judge ``method``: the residual report, or the comparison's entry."""
    if method == RESIDUAL_METHOD:
        return version
    return version.get("comparison", {}).get("methods", {}).get(method)


def _pooled_group(figures: dict[str, Any], method: str, group: str) -> dict[str, Any] | None:
    """The coverage of ``group`` pooled over the versions, for the default method (None: not pooled)."""
    if method == RESIDUAL_METHOD:
        return figures.get(group)  # overall and fraud are pooled for the residual headline
    return figures.get("methods", {}).get(method, {}).get("coverage", {}).get(str(figures["level"]), {}).get(group)


def problems(figures: dict[str, Any]) -> list[str]:
    """What is wrong, worst first, as short phrases for the subject and the banner ([] when all is well).

    Everything here judges the default method (``figures["default_method"]``), the one the
    online service acts on. Red reasons (a version that could not be measured, confirmed frauds
    or all predictions below target beyond the Wilson interval, a stale or missing calibration
    set) come before amber ones (legitimate cases below target, a version without measurable
    outcomes, days below target, Mondrian sets with too few frauds at the level). A coverage
    shortfall shared by every measured version is said once with the pooled figure; otherwise
    per version.
    """
    from fraudcal.coverage import percent, plural

    level = figures["level"]
    method = figures.get("default_method", RESIDUAL_METHOD)
    noun = METHOD_NOUNS[method]
    versions = figures["versions"]
    judged = [(v, _default_figures(v, method)) for v in versions if "error" not in v]
    judged = [(v, entry) for v, entry in judged if entry is not None]
    measured = [(v, entry) for v, entry in judged if entry.get("n") and "coverage" in entry]
    red: list[str] = [f"{v['model_version']} could not be measured" for v in versions if "error" in v]
    red.extend(certificate_problems(versions))
    amber: list[str] = []
    for group, words, found in (
        ("fraud", "confirmed frauds", red),
        ("overall", "all labeled predictions", red),
        ("legitimate", "legitimate cases", amber),
    ):
        below = [(v, entry) for v, entry in measured if entry["coverage"][str(level)][group]["below_target"]]
        pooled = _pooled_group(figures, method, group)
        if below and len(below) == len(measured) and pooled and pooled.get("n"):
            found.append(f"the {level} % {noun} contained {percent(pooled['rate'])} of {words} (target {level} %)")
            continue
        found.extend(
            f"{v['model_version']}: the {level} % {noun} contained "
            f"{percent(entry['coverage'][str(level)][group]['rate'])} of {words} (target {level} %)"
            for v, entry in below
        )
    stale = [(v["model_version"], entry.get("newest_set_age_hours")) for v, entry in judged if entry.get("set_stale")]
    kind = "calibration set" if method == RESIDUAL_METHOD else f"{METHOD_TITLES[method]} set"
    if len(stale) == 1:
        name, age = stale[0]
        red.append(f"{name} has no {kind}" if age is None else f"{name}'s newest {kind} is {age:.0f} h old (stale)")
    elif stale:
        ages = ", ".join(f"{name} ({'no set' if age is None else f'{age:.0f} h old'})" for name, age in stale)
        red.append(f"stale {kind}s: {ages}")
    amber.extend(
        f"{v['model_version']} has no labeled outcomes with a {kind} in force"
        for v, entry in judged
        if not entry.get("n") and not entry.get("set_stale")
    )
    for v, entry in measured:
        low_days = [row for row in entry["by_day"] if row["below_target"]]
        if low_days:
            amber.append(f"{v['model_version']}: coverage below target on {plural(len(low_days), 'day')}")
        too_few = entry.get("too_few_frauds", {}).get(str(level))
        if too_few:
            amber.append(
                f"{v['model_version']}: {plural(too_few['predictions'], 'prediction')} judged with Mondrian sets "
                f"that had too few frauds at {level} %"
            )
    return red + amber


def headline(figures: dict[str, Any]) -> str:
    """The one line the subject and the banner share: what is wrong first, the good news only when all is well.

    At most two problems are named (then how many more); the default method's overall coverage
    follows as context.
    """
    from fraudcal.coverage import percent, plural

    if not figures["versions"]:
        return "no labeled outcomes"
    level = figures["level"]
    method = figures.get("default_method", RESIDUAL_METHOD)
    overall = _pooled_group(figures, method, "overall") or {"n": 0}
    found = problems(figures)
    if not found and method == VENN_ABERS_METHOD and figures["methods"][method]["n"]:
        venn_abers = figures["methods"][method]
        return (
            f"Venn-Abers probabilities of {venn_abers['n']:,} labeled predictions: ECE {venn_abers['ece_p']:.4f} "
            f"(raw score {venn_abers['ece_raw']:.4f}); no coverage target, no auto-tickets"
        )
    if not found and overall["n"]:
        if method == RESIDUAL_METHOD:
            fraud = figures["fraud"]
            frauds = (
                f" and {percent(fraud['rate'])} of confirmed frauds" if fraud["n"] else "; no confirmed frauds to measure"
            )
            return f"the {level} % intervals contained {percent(overall['rate'])} of all labeled predictions{frauds} (target {level} %)"
        fraud, legitimate = (_pooled_group(figures, method, group) for group in ("fraud", "legitimate"))
        frauds = f"{percent(fraud['rate'])} of confirmed frauds and " if fraud["n"] else "no confirmed frauds to measure; "
        return (
            f"the {level} % {METHOD_NOUNS[method]} contained {frauds}{percent(legitimate['rate'])} of legitimate "
            f"cases (target {level} %)"
        )
    if not found:  # not green, yet no reason found: never pretend all is well
        return "see the findings"
    text = "; ".join(found[:2])
    if len(found) > 2:
        text += f"; {plural(len(found) - 2, 'more problem')} in the report"
    if overall["n"] and "of all labeled predictions" not in text:
        text += f"; overall {percent(overall['rate'])}"
    return text


#: How a sentence names what a method gives, with the possessive.
METHOD_PHRASES = {
    RESIDUAL_METHOD: "the residual intervals",
    MONDRIAN_METHOD: "Mondrian's label sets",
    VENN_ABERS_METHOD: "Venn-Abers' probabilities",
}


def trust_question(figures: dict[str, Any]) -> str:
    """The first screen's question, about what the online service acts on."""
    method = figures.get("default_method", RESIDUAL_METHOD)
    if method == RESIDUAL_METHOD:
        return "Are the intervals trustworthy today?"
    return f"Are {METHOD_PHRASES[method]} (the default method) trustworthy today?"


def trust_sentences(figures: dict[str, Any]) -> list[str]:
    """In plain words: which method's decisions a fraud lead should trust, and why (first screen).

    From the pooled figures and :func:`fraudcal.comparison.recommend`: the fraud coverage that
    decided it, the other method's for contrast, what the trusted method would have
    auto-ticketed, a Mondrian level with too few frauds, a default method that is not the one
    to trust, and what Venn-Abers' probability did (never an auto-ticket signal).
    """
    from fraudcal.comparison import LABEL_SET_METHODS
    from fraudcal.coverage import percent, plural
    from fraudcal.mondrian import minimum_class_size

    if not figures["versions"] or "recommendation" not in figures:
        return []
    level, methods = figures["level"], figures["methods"]
    recommendation, default = figures["recommendation"], figures.get("default_method", RESIDUAL_METHOD)
    measured = recommendation["measured"]

    def held(method: str) -> str:
        fraud = methods[method]["coverage"][str(level)]["fraud"]
        return f"{METHOD_PHRASES[method]} held {percent(fraud['rate'])} of confirmed frauds ({fraud['covered']:,} of {fraud['n']:,})"

    sentences = []
    chosen, reason = recommendation["method"], recommendation["reason"]
    missing = [METHOD_TITLES[method] for method in LABEL_SET_METHODS if method not in measured]
    compare = f" (no {' or '.join(missing)} set was in force to compare with)" if missing else ""
    if reason == "no_frauds":
        sentences.append(
            "No confirmed fraud had a residual or Mondrian set in force in this period, so which method covers "
            "frauds cannot be told yet; send HIGH/CRITICAL predictions to human review."
        )
    elif reason == "neither":
        sentences.append(
            f"Trust no auto-ticket: at {level} % {' and '.join(held(method) for method in measured)}, below the "
            f"{level} % target{compare}; send HIGH/CRITICAL predictions to human review."
        )
    else:
        entry = methods[chosen]["coverage"][str(level)]
        fraud = entry["fraud"]
        why = (
            f"at {level} % they held {percent(fraud['rate'])} of confirmed frauds ({fraud['covered']:,} of "
            f"{fraud['n']:,}; target {level} %, 95 % Wilson interval {percent(fraud['low'])} to "
            f"{percent(fraud['high'])}) and {percent(entry['legitimate']['rate'])} of legitimate cases"
        )
        others = [method for method in measured if method != chosen]
        if reason == "both":
            contrast = f"; {held(others[0])}, on target too"
        elif others:
            contrast = f", where {held(others[0])}"
        else:
            contrast = compare
        sentences.append(f"Trust {METHOD_PHRASES[chosen]}: {why}{contrast}.")
        tickets = methods[chosen]["automation"]
        rule = "a {1} label set" if chosen == MONDRIAN_METHOD else f"an interval narrower than {figures['narrow_threshold']:g}"
        if tickets["high_risk"]:
            legitimate = (
                f", {tickets['legitimate_auto_tickets']:,} of them legitimate "
                f"({percent(tickets['auto_ticket_legitimate_share'])}: covering the frauds does not make a ticket "
                "precise)"
                if tickets["auto_tickets"]
                else ""
            )
            sentences.append(
                f"With {rule} on a HIGH/CRITICAL score they would have auto-ticketed "
                f"{plural(tickets['auto_tickets'], 'prediction')}{legitimate}, and sent "
                f"{tickets['human_reviews']:,} to human review."
            )
        if chosen != default:
            sentences.append(
                f"The online service acts on the default method, {METHOD_TITLES[default]}: set the calibration "
                f"Param default_method to {chosen}."
            )
    too_few = methods[MONDRIAN_METHOD].get("too_few_frauds", {}).get(str(level))
    if too_few:
        sentences.append(
            f"Caution: {plural(too_few, 'prediction')} {'was' if too_few == 1 else 'were'} judged with Mondrian sets "
            f"whose window had fewer than {minimum_class_size(level)} confirmed frauds (1/\u03b1 \u2212 1 at {level} %): "
            "fraud was in each of their label sets, so their fraud coverage says nothing."
        )
    venn_abers = methods[VENN_ABERS_METHOD]
    if venn_abers["n"]:
        better = "better" if venn_abers["ece_p"] < venn_abers["ece_raw"] else "not better"
        sentences.append(
            f"Venn-Abers' probability had ECE {venn_abers['ece_p']:.4f} against {venn_abers['ece_raw']:.4f} for the "
            f"raw score on the same {venn_abers['n']:,} predictions, every version together ({better} calibrated; "
            "each version's below). Its interval [p0, p1] is "
            "narrow where much calibration data lies near a score and wide where little does: it measures data "
            "density, not error, so it decides no auto-tickets."
        )
    return sentences


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


# ----------------------------------------------------------------------------- certified triage


def share_text(values: list[float]) -> str:
    """``95 %`` for one share, ``90\u201395 %`` for several, ``?`` for none (targets, confidences).

    Examples
    --------
    >>> share_text([0.95]), share_text([0.9, 0.995]), share_text([])
    ('95 %', '90\u201399.5 %', '?')
    """
    if not values:
        return "?"
    low, high = (f"{value * 100:.3f}".rstrip("0").rstrip(".") for value in (min(values), max(values)))
    return f"{low} %" if low == high else f"{low}\u2013{high} %"


def interval_text(figure: dict[str, Any]) -> str:
    """``96.1 % (95 % CI 93.8\u201397.6 %)``: a realized rate with its 95 % Wilson interval."""
    from fraudcal.coverage import percent

    low, high = percent(figure["wilson_low"]), percent(figure["wilson_high"])
    return f"{percent(figure['rate'])} (95 % CI {low.removesuffix(' %')}\u2013{high})"


def _thresholds_text(values: list[float], sign: str) -> str:
    return " or ".join(f"{sign} {value:.3f}" for value in values)


def _uncertified_reasons(triage: dict[str, Any], side: str) -> list[str]:
    """The distinct reasons of the rows in force that did not certify ``side``."""
    reasons = []
    for certificate in triage.get("certificates", []):
        entry = certificate[side]
        if not entry["certified"] and entry.get("reason") and entry["reason"] not in reasons:
            reasons.append(entry["reason"])
    return reasons


def triage_lines(triage: dict[str, Any]) -> list[dict[str, Any]]:
    """The first screen's sentences on one version's certified triage: ``{"text", "alarm"}``.

    The auto-tickets (how many, at what certified precision, realized with its 95 % Wilson
    interval), the auto-cleared (the same with the NPV) and the human review load. ``alarm``
    (shown in red): a certificate violated (realized below target beyond its Wilson interval),
    no auto-ticket threshold certified, or the triage could not be measured.
    """
    from fraudcal.coverage import percent, plural

    name = triage["model_version"]
    if "error" in triage:
        return [{"text": f"{name}: certified triage could not be measured ({triage['error']})", "alarm": True}]
    if not triage["recorded"]:
        return [{"text": f"{name}: no certified thresholds recorded", "alarm": False}]
    if not triage["with_certificate"]:
        first = triage["certificates"][0]["as_of"] if triage["certificates"] else "?"
        return [
            {
                "text": f"{name}: no certified thresholds were in force for the {plural(triage['n'], 'labeled prediction')} "
                f"of this period (the first took force at {first} UTC)",
                "alarm": False,
            }
        ]
    lines = []
    ticket, clear, review = triage["ticket"], triage["clear"], triage["review"]
    if not ticket["under_certificate"]:
        reasons = _uncertified_reasons(triage, "ticket")
        lines.append(
            {
                "text": f"{name}: no auto-ticket threshold certified: every HIGH/CRITICAL score went to human review"
                + (f" ({'; '.join(reasons)})" if reasons else ""),
                "alarm": True,
            }
        )
    else:
        text = (
            f"{name}: {plural(ticket['n'], 'auto-ticket')} at a certified precision of \u2265 "
            f"{share_text(ticket['certified_targets'])} ({share_text(ticket['confidences'])} confidence)"
        )
        if ticket["n"]:
            text += f"; realized {interval_text(ticket)}"
        else:
            rule = _thresholds_text(ticket["thresholds"], "score \u2265")
            text += f"; no labeled score reached the threshold ({rule}), so the realized precision cannot be measured"
        if ticket["violated"]:
            text += ": certificate violated, the realized precision is below its target beyond the 95 % Wilson interval"
        uncertified = triage["with_certificate"] - ticket["under_certificate"]
        if uncertified:
            reasons = _uncertified_reasons(triage, "ticket")
            text += (
                f"; {plural(uncertified, 'more labeled prediction')} had no certified auto-ticket threshold in force"
                + (f" ({'; '.join(reasons)})" if reasons else "")
                + ": their HIGH/CRITICAL scores went to human review"
            )
        lines.append({"text": text, "alarm": ticket["violated"]})
    if not clear["under_certificate"]:
        reasons = _uncertified_reasons(triage, "clear")
        lines.append(
            {
                "text": f"{name}: no auto-clear threshold certified: nothing was auto-cleared"
                + (f" ({'; '.join(reasons)})" if reasons else ""),
                "alarm": False,
            }
        )
    else:
        text = (
            f"{name}: {clear['n']:,} auto-cleared at a certified NPV of \u2265 {share_text(clear['certified_targets'])} "
            f"({share_text(clear['confidences'])} confidence)"
        )
        text += f"; realized {interval_text(clear)}" if clear["n"] else "; none to measure"
        if clear["violated"]:
            text += ": certificate violated, the realized NPV is below its target beyond the 95 % Wilson interval"
        lines.append({"text": text, "alarm": clear["violated"]})
    text = (
        f"{name}: {review['n']:,} of the {plural(triage['with_certificate'], 'labeled prediction')} judged by "
        f"certified thresholds went to human review ({percent(review['share'])})"
    )
    if triage["without_certificate"]:
        text += f"; {triage['without_certificate']:,} more were made before any certified threshold took force"
    lines.append({"text": text, "alarm": False})
    return lines


def certificate_problems(versions: list[dict[str, Any]]) -> list[str]:
    """Short phrases for the subject and banner: each violated certificate, with its realized rate."""
    from fraudcal.coverage import percent

    found = []
    for version in versions:
        triage = version.get("triage") or {}
        if "error" in triage:
            found.append(f"{version['model_version']}: certified triage could not be measured")
            continue
        for side, words in (("ticket", "auto-ticket precision"), ("clear", "auto-clear NPV")):
            entry = triage.get(side)
            if entry and entry["violated"]:
                targets = share_text([group["target"] for group in entry["groups"] if group["violated"]])
                found.append(
                    f"{version['model_version']}: {words} {percent(entry['rate'])} below the certified {targets} "
                    "(certificate violated)"
                )
    return found


def _certificate_cell(triage: dict[str, Any], indices: list[int], side: str) -> str:
    """The thresholds in force on one day of one side, as the triage table writes them."""
    if not indices:
        return "none in force"
    sign = "\u2265" if side == "ticket" else "\u2264"
    parts = []
    for index in indices:
        entry = triage["certificates"][index][side]
        part = (
            f"{sign} {entry['threshold']:.3f} (target {share_text([entry['target']])})"
            if entry["certified"]
            else "not certified"
        )
        if not parts or parts[-1] != part:
            parts.append(part)
    return ", then ".join(parts)


def triage_day_rows(triage: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-day rows of the certified-triage table of one version, then the period's total."""
    if "error" in triage or not triage.get("recorded"):
        return []
    rows = []
    for day in triage["by_day"]:
        rows.append(
            {
                "day": day["day"],
                "ticket_rule": _certificate_cell(triage, day["certificates"], "ticket"),
                "clear_rule": _certificate_cell(triage, day["certificates"], "clear"),
                **{key: day[key] for key in ("n", "without_certificate", "ticket", "clear", "review")},
                "total": False,
            }
        )
    rows.append(
        {
            "day": "all days",
            "ticket_rule": _thresholds_text(triage["ticket"]["thresholds"], "\u2265") or "not certified",
            "clear_rule": _thresholds_text(triage["clear"]["thresholds"], "\u2264") or "not certified",
            **{key: triage[key] for key in ("n", "without_certificate", "ticket", "clear", "review")},
            "total": True,
        }
    )
    return rows


def certified_replay_row(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """The threshold replay's certified row as the table shows it (None: no certificate recorded)."""
    if row is None:
        return None
    rule = _thresholds_text(row["thresholds"], "score \u2265") or "no threshold certified"
    return {**row, "label": f"certified: {rule}"}


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
        "auto-ticket: a ticket opened without a human look; in the methods' tables, for a HIGH/CRITICAL prediction "
        "whose interval is narrower than {narrow_threshold:g} (residual) or whose Mondrian label set is {{1}}; under "
        "the triage thresholds (where recorded), for a score at or above the auto-ticket threshold; any other goes "
        "to human review",
    ),
    (
        "certified",
        "certified threshold: chosen on a calibration window (Learn-Then-Test, exact binomial tests) so that, with "
        "the stated confidence, at least the target share of the auto-tickets (every score at or above it) are "
        "frauds (precision); an auto-clear threshold likewise for the share of legitimate cases among the "
        "auto-cleared (every score at or below it; NPV); every other score goes to human review",
    ),
    (
        "% CI",
        "95 % CI: the 95 % Wilson interval of a realized share; a certificate is violated when even its upper end "
        "is below the certified target",
    ),
    (
        "Mondrian",
        "Mondrian label sets: the confirmed frauds and the legitimate cases each get their own quantile, computed "
        "from that class alone, so each class is covered at the target on its own; a label set {{1}} says only "
        "fraud is plausible, {{0,1}} decides nothing. A window needs at least 1/\u03b1 \u2212 1 frauds "
        "({frauds_needed} at {level} %) before fraud can ever be left out",
    ),
    (
        "Venn-Abers",
        "Venn-Abers: a calibrated fraud probability p with an interval [p0, p1]; the interval's width shows how "
        "much calibration data lies near the score, not how wrong the score may be, so it decides no tickets",
    ),
    (
        "label set",
        "label set: the outcomes a method allows for a prediction: {{0}} legitimate only, {{1}} fraud only, "
        "{{0,1}} either (no decision), empty neither",
    ),
)


def glossary(texts: list[str], *, level: int, narrow_threshold: float, measured: bool) -> list[str]:
    """The explanations of the glossary's words that ``texts`` use, in the glossary's order.

    With ``measured`` versions the words every version's tables use (intervals, Wilson interval,
    calibration set) are explained whether or not a finding names them.
    """
    from fraudcal.mondrian import minimum_class_size

    values = {"level": level, "narrow_threshold": narrow_threshold, "frauds_needed": minimum_class_size(level)}
    explanations = {word: explanation.format(**values) for word, explanation in GLOSSARY}
    chosen = {"% intervals", "Wilson interval", "calibration"} if measured else set()
    chosen |= {word for word in explanations if any(word in text for text in texts)}
    while True:  # an explanation that uses another listed word brings that word's explanation along
        used = {word for word in explanations if any(word in explanations[other] for other in chosen)} - chosen
        if not used:
            break
        chosen |= used
    return [explanation for word, explanation in explanations.items() if word in chosen]


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
        version["certified_row"] = certified_replay_row(version.get("certified_replay"))
        version["triage_rows"] = triage_day_rows(version["triage"]) if version.get("triage") else []
        if version.get("comparison"):
            version["method_rows"] = method_rows(version["comparison"], figures.get("default_method"))
            version["decision_rows"] = decision_rows(version["comparison"], figures.get("default_method"))
    line = headline(figures)
    trust = trust_sentences(figures)
    triage = [entry for version in versions if version.get("triage") for entry in triage_lines(version["triage"])]
    other_findings = figures.get("other_findings", [])
    return render_template(
        "coverage_report.html.j2",
        **context,
        label_arrival=label_arrival_views(figures.get("label_arrival")),
        status=figures["status"],
        headline=line,
        question=trust_question(figures),
        trust=trust,
        triage=triage,
        findings=figures["findings"],
        other_findings=other_findings,
        glossary=glossary(
            [line, *trust, *(entry["text"] for entry in triage), *figures["findings"], *other_findings],
            level=figures["level"],
            narrow_threshold=figures["narrow_threshold"],
            measured=any(version.get("n") for version in versions),
        ),
        versions=versions,
        default_method_title=METHOD_TITLES[figures.get("default_method", RESIDUAL_METHOD)],
        default_method=figures.get("default_method", RESIDUAL_METHOD),
    )


def label_arrival_views(entries: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The label-arrival tables as the report shows them: per version its rows and the ``auto``
    sentence, or the sentence saying it has no snapshot yet ([] when the figures have no such part)."""
    from fraudcal.coverage import NO_LABEL_SNAPSHOTS, auto_maturity_sentence
    from fraudcal_airflow.reporting.render import json_ready

    views = []
    for entry in entries or []:
        arrival = json_ready(entry["arrival"])  # NaN shares as None: the table shows a dash
        if arrival is None:
            views.append({"model_version": entry["model_version"], "none": NO_LABEL_SNAPSHOTS})
            continue
        views.append(
            {
                "model_version": entry["model_version"],
                "none": None,
                "snapshot_day": arrival["snapshot_day"],
                "rows": arrival["rows"],
                "auto": auto_maturity_sentence(arrival["auto"]),
            }
        )
    return views


def method_rows(comparison: dict[str, Any], default_method: str | None) -> list[dict[str, Any]]:
    """The side-by-side coverage table of one version: per label-set method and level, the three groups."""
    from fraudcal.comparison import LABEL_SET_METHODS

    rows = []
    for method in LABEL_SET_METHODS:
        entry = comparison["methods"][method]
        common = {"method": method, "title": METHOD_TITLES[method], "default": method == default_method}
        if not entry["n"]:  # one row says it, instead of a row of dashes per level
            rows.append({**common, "first": True, "status": entry["status"], "no_set": True})
            continue
        for index, (level, groups) in enumerate(entry["coverage"].items()):
            rows.append(
                {
                    **common,
                    "first": index == 0,
                    "status": entry["status"],
                    "no_set": False,
                    "level": level,
                    "too_few_frauds": level in entry.get("too_few_frauds", {}),
                    **{group: groups[group] for group in ("fraud", "legitimate", "overall")},
                }
            )
    return rows


def decision_rows(comparison: dict[str, Any], default_method: str | None) -> list[dict[str, Any]]:
    """Per method at the report's level: label-set mix, auto-tickets, legitimate ones, human reviews."""
    rows = []
    for method in REPORTED_METHODS:
        entry = comparison["methods"][method]
        rows.append(
            {
                "method": method,
                "title": METHOD_TITLES[method],
                "default": method == default_method,
                "status": entry["status"],
                "n": entry["n"],
                "label_sets": entry.get("label_sets"),
                "automation": entry["automation"],
            }
        )
    return rows


def figures_csv(figures: dict[str, Any]) -> str:
    """Every table of the report in one long-format CSV: table, model_version, row, column, value.

    The methods side by side: ``method_coverage`` (row ``method/level/group``),
    ``method_label_sets`` and ``method_automation`` (row = method), ``method_status`` and
    ``venn_abers`` (Venn-Abers' reliability figures; its bins as ``venn_abers_reliability``).
    """
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
        _comparison_csv(writer, name, version.get("comparison"))
        _triage_csv(writer, name, version.get("triage"), version.get("certified_replay"))
    _label_arrival_csv(writer, figures.get("label_arrival"))
    return buffer.getvalue()


#: The columns of one label-arrival row the CSV keeps.
LABEL_ARRIVAL_CSV_COLUMNS = (
    "first_age", "last_age", "cohorts", "n_predictions", "n_labeled", "labeled_share", "n_fraud", "fraud_share",
)


def _label_arrival_csv(writer: Any, entries: list[dict[str, Any]] | None) -> None:
    """Table ``label_arrival``: per version, one row per age (``0``, ``1``, ... and the pooled
    ``22-N``, an ASCII hyphen: the mail's CSV part declares no charset) and row ``auto``
    (``snapshot_day``, ``days``, ``reason``); a version without snapshots has row ``auto`` with
    ``snapshot_day`` empty and the sentence as its ``reason``."""
    from fraudcal.coverage import NO_LABEL_SNAPSHOTS

    for entry in entries or []:
        name, arrival = entry["model_version"], entry["arrival"]
        if arrival is None:
            writer.writerow(["label_arrival", name, "auto", "snapshot_day", ""])
            writer.writerow(["label_arrival", name, "auto", "reason", NO_LABEL_SNAPSHOTS])
            continue
        for row in arrival["rows"]:
            for column in LABEL_ARRIVAL_CSV_COLUMNS:
                ages = str(row["first_age"]) if row["first_age"] == row["last_age"] else f"{row['first_age']}-{row['last_age']}"
                writer.writerow(["label_arrival", name, ages, column, row[column]])
        writer.writerow(["label_arrival", name, "auto", "snapshot_day", str(arrival["snapshot_day"])])
        writer.writerow(["label_arrival", name, "auto", "days", arrival["auto"]["days"]])
        writer.writerow(["label_arrival", name, "auto", "reason", arrival["auto"]["reason"]])


#: The figures of one side of the certified triage the CSV keeps, per day and for the period.
TRIAGE_CSV_COLUMNS = ("n", "correct", "rate", "wilson_low", "wilson_high", "violated", "thresholds", "certified_targets")


def _triage_csv(writer: Any, name: str, triage: dict[str, Any] | None, replay: dict[str, Any] | None) -> None:
    """The certified triage of one version: ``triage`` (row = day, or ``all``) and ``certified_replay``."""
    if not triage:
        return
    if "error" in triage:
        writer.writerow(["triage", name, "all", "error", triage["error"]])
        return
    writer.writerow(["triage", name, "all", "recorded", triage["recorded"]])
    for row_name, entry in [*((day["day"], day) for day in triage.get("by_day", [])), ("all", triage)]:
        for column in ("n", "with_certificate", "without_certificate"):
            writer.writerow(["triage", name, row_name, column, entry[column]])
        for side in ("ticket", "clear"):
            for column in TRIAGE_CSV_COLUMNS:
                value = entry[side][column]
                if isinstance(value, list):
                    value = " ".join(str(float(item)) for item in value)
                writer.writerow(["triage", name, row_name, f"{side}_{column}", value])
        writer.writerow(["triage", name, row_name, "review_n", entry["review"]["n"]])
        writer.writerow(["triage", name, row_name, "review_share", entry["review"]["share"]])
    for column, value in (replay or {}).items():
        if isinstance(value, list):
            value = " ".join(str(float(item)) for item in value)
        writer.writerow(["certified_replay", name, "certified", column, value])


def _comparison_csv(writer: Any, name: str, comparison: dict[str, Any] | None) -> None:
    """The comparison's tables of one version in the long format."""
    if not comparison:
        return
    for method, entry in comparison["methods"].items():
        writer.writerow(["method_status", name, method, "status", entry["status"]])
        writer.writerow(["method_status", name, method, "n", entry["n"]])
        for level, groups in entry.get("coverage", {}).items():
            for group, values in groups.items():
                for column, value in values.items():
                    writer.writerow(["method_coverage", name, f"{method}/{level}/{group}", column, value])
        for column, value in (entry.get("label_sets") or {}).items():
            writer.writerow(["method_label_sets", name, method, column, value])
        for column, value in entry["automation"].items():
            writer.writerow(["method_automation", name, method, column, value])
        for level, flagged in entry.get("too_few_frauds", {}).items():
            for column, value in flagged.items():
                writer.writerow(["mondrian_too_few_frauds", name, level, column, value])
        if method == VENN_ABERS_METHOD:
            for column, value in entry.items():
                if column not in ("reliability", "automation", "findings"):
                    writer.writerow(["venn_abers", name, "", column, value])
            for index, row in enumerate(entry["reliability"]):
                for column, value in row.items():
                    writer.writerow(["venn_abers_reliability", name, index, column, value])
