"""Model health over time: ranking quality, score and label drift, and the alert rules.

Plain numpy/scipy on arrays: the figures are few and standard (average precision and
ROC-AUC as scikit-learn defines them, the population stability index, the two-sample
Kolmogorov-Smirnov statistic of ``scipy.stats.ks_2samp``), and monitoring libraries such as
Evidently, NannyML or whylogs do not track conformal coverage, which is the figure this
project exists for. Each alert rule is its own small function so it can be read and tested
alone; :func:`evaluate_day` applies them to one day against its reference window.

The coverage rule judges the **default method** (:data:`fraudcal.defaults.DEFAULT_METHOD`, or
the ``coverage_method`` of :class:`DriftThresholds`) per class: the confirmed frauds and the
legitimate cases apart, each with its own Wilson interval, from the per-method, per-class
counts :func:`day_metrics` returns (``class_coverage``). Overall coverage is not judged: with
rare fraud the residual method is on target overall while it covers almost no fraud
(DESIGN.md section 4), which is exactly what a rule must not miss.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from numpy.typing import ArrayLike

from fraudcal.comparison import class_coverage, mondrian_label_sets, residual_label_sets
from fraudcal.conformal import interval_bounds
from fraudcal.coverage import interval_covers, wilson_interval
from fraudcal.defaults import (
    DEFAULT_BAND_SIGMAS,
    DEFAULT_LEVEL,
    DEFAULT_METHOD,
    DEFAULT_PR_AUC_DROP,
    DEFAULT_PSI_ALERT,
    DEFAULT_PSI_WARN,
    MONDRIAN_METHOD,
    RESIDUAL_METHOD,
    SUPPORTED_LEVELS,
)
from fraudcal.inputs import checked_column, checked_outcomes
from fraudcal.metrics import brier_score, expected_calibration_error

# scipy.stats is imported inside the two functions that use it: it takes about a second to
# import, and callers that only need DriftThresholds (DAG Params) should not pay for it.

#: PSI bins: deciles of the reference scores, outer edges open (-inf, +inf).
PSI_BINS = 10
#: Empty-bin rule of the PSI: every bin proportion is floored at this value before the log,
#: so an empty bin on either side contributes a large but finite term.
PSI_FLOOR = 1e-4
#: Fewer labeled outcomes (or frauds) than this on a day: label-based rules say "not enough labels".
MIN_LABELED = 200
MIN_FRAUDS = 5
#: The classes the coverage rule judges, each on its own.
COVERAGE_CLASSES = ("fraud", "legitimate")
#: Methods whose per-class coverage :func:`day_metrics` measures (Venn-Abers has no label set).
CLASS_COVERAGE_METHODS = (RESIDUAL_METHOD, MONDRIAN_METHOD)


def average_precision(probabilities: ArrayLike, labels: ArrayLike) -> float:
    """PR-AUC as average precision: sum over thresholds of (recall step) x precision.

    Tied scores form one threshold (as scikit-learn's ``average_precision_score``). NaN when
    there is no positive.

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If a score is not a probability in [0, 1] or a label is not 0/1.
    """
    p, y = checked_outcomes(probabilities, labels)
    positives = int(y.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-p, kind="mergesort")
    p_sorted, y_sorted = p[order], y[order]
    last_of_threshold = np.r_[np.flatnonzero(np.diff(p_sorted)), p_sorted.size - 1]
    true_positives = np.cumsum(y_sorted)[last_of_threshold]
    predicted = last_of_threshold + 1
    precision = true_positives / predicted
    recall = true_positives / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(probabilities: ArrayLike, labels: ArrayLike) -> float:
    """ROC-AUC by the Mann-Whitney U statistic with average ranks for ties.

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If a score is not a probability in [0, 1] or a label is not 0/1 (ranks need clean input).
    """
    from scipy.stats import rankdata

    p, y = checked_outcomes(probabilities, labels)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def psi(reference: ArrayLike, current: ArrayLike, bins: int = PSI_BINS) -> float:
    """Population stability index of ``current`` against ``reference``.

    Bins are the reference's deciles (duplicate edges merged), the outer bins open to
    -inf/+inf; proportions are floored at :data:`PSI_FLOOR` (the stated empty-bin rule).
    ``PSI = sum (c - r) * ln(c / r)``.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_share = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=inner.size + 1) / ref.size
    cur_share = np.bincount(np.searchsorted(inner, cur, side="right"), minlength=inner.size + 1) / cur.size
    ref_share, cur_share = np.maximum(ref_share, PSI_FLOOR), np.maximum(cur_share, PSI_FLOOR)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def ks_statistic(reference: ArrayLike, current: ArrayLike) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (``scipy.stats.ks_2samp``)."""
    from scipy.stats import ks_2samp

    ref, cur = np.asarray(reference, dtype=np.float64), np.asarray(current, dtype=np.float64)
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    return float(ks_2samp(ref, cur).statistic)


# ----------------------------------------------------------------------------- alert rules


def pr_auc_rule(current: float, baseline: float, drop: float) -> bool:
    """PR-AUC below ``(1 - drop) x baseline`` (baseline: the reference window's PR-AUC)."""
    return math.isfinite(current) and math.isfinite(baseline) and current < (1 - drop) * baseline


def psi_rule(value: float, threshold: float) -> bool:
    """PSI above the alert threshold."""
    return math.isfinite(value) and value > threshold


def band_rule(value: float, reference_values: Sequence[float], sigmas: float) -> bool:
    """Outside the reference days' mean +- ``sigmas`` standard deviations (NannyML's rule).

    Needs at least 7 finite reference values; a zero spread never alerts.
    """
    history = np.asarray([v for v in reference_values if v is not None and math.isfinite(v)], dtype=np.float64)
    if history.size < 7 or value is None or not math.isfinite(value):
        return False
    mean, spread = history.mean(), history.std(ddof=1)
    if spread <= 1e-12 * max(1.0, abs(mean)):  # constant history (up to rounding): no band to leave
        return False
    return bool(abs(value - mean) > sigmas * spread)


def coverage_rule(days: Sequence[tuple[int, int]], target: float, consecutive: int = 3) -> bool:
    """Coverage below target beyond the Wilson interval on the last ``consecutive`` days.

    ``days``: (covered, n) per day, oldest first.
    """
    if len(days) < consecutive:
        return False
    return all(n > 0 and wilson_interval(covered, n)[1] < target for covered, n in days[-consecutive:])


#: The certificate rule's name (an alert's ``rule``) and metric (an alert's ``metric``).
CERTIFICATE_RULE = "certificate violated"
CERTIFICATE_METRIC = "ticket_precision_7d"


def certificate_rule(groups: Sequence[Mapping]) -> bool:
    """The auto-tickets' realized precision below its certified target beyond the 95 % Wilson interval.

    ``groups``: per certified target, ``{"target", "n", "correct"}`` (the auto-tickets made under
    certificates with that target and how many were frauds): violated when any group's Wilson
    interval lies wholly below its target (:func:`fraudcal.triage.certificate_violated`). No
    auto-ticket, no alert.
    """
    from fraudcal.triage import certificate_violated

    return any(
        bool(certificate_violated(int(group["correct"]), int(group["n"]), float(group["target"]))) for group in groups
    )


def certificate_alert(block: Mapping | None) -> dict | None:
    """The "certificate violated" alert of a block of days, or None when the certificate held.

    ``block``: :func:`fraudcal.coverage.ticket_precision_block` over the judged day and the 6
    before (None or no certificate row: nothing to judge). The alert says the numbers: how
    many auto-tickets, how many were frauds, the realized precision with its 95 % Wilson
    interval, the target(s) and the threshold(s) in force.
    """
    if not block or not block.get("recorded") or not certificate_rule(block.get("groups", ())):
        return None
    targets = [group["target"] for group in block["groups"] if certificate_rule([group])]
    return {
        "rule": CERTIFICATE_RULE,
        "metric": CERTIFICATE_METRIC,
        "value": block["rate"],
        "threshold": min(targets),
        "tickets": block["n"],
        "frauds": block["correct"],
        "wilson_low": block["wilson_low"],
        "wilson_high": block["wilson_high"],
        "targets": block["targets"],
        "thresholds": block.get("thresholds", []),
        "confidences": block.get("confidences", []),
        "days": block.get("days", []),
        "message": certificate_sentence(block),
    }


def certificate_sentence(block: Mapping) -> str:
    """The auto-tickets of a block in one sentence: tickets, frauds, realized precision with CI, target, thresholds.

    Examples
    --------
    >>> block = {"n": 40, "correct": 30, "rate": 0.75, "wilson_low": 0.598, "wilson_high": 0.858,
    ...          "targets": [0.95], "confidences": [0.9], "thresholds": [0.873],
    ...          "days": [{"day": "2025-02-04"}, {"day": "2025-02-10"}]}
    >>> print(certificate_sentence(block))  # doctest: +NORMALIZE_WHITESPACE
    40 auto-tickets on 2025-02-04..2025-02-10 (score \u2265 0.873), 30 of them frauds: realized precision
    75.0 % (95 % Wilson interval 59.8\u201385.8 %); certified target 95 % (90 % confidence)
    >>> print(certificate_sentence({**block, "n": 0, "correct": 0, "targets": [], "thresholds": []}))
    0 auto-tickets on 2025-02-04..2025-02-10 (no auto-ticket threshold certified): nothing to measure
    """
    from fraudcal.coverage import percent

    days = block.get("days") or []
    span = f" on {days[0]['day']}..{days[-1]['day']}" if days else ""
    thresholds = block.get("thresholds") or []
    rule = (
        f"score \u2265 {', '.join(f'{value:.3f}' for value in thresholds)}"
        if thresholds
        else "no auto-ticket threshold certified"
    )
    n, correct = int(block["n"]), int(block["correct"])
    if n == 0:
        return f"0 auto-tickets{span} ({rule}): nothing to measure"
    if n == 1:
        counted = "1 auto-ticket" + span + f" ({rule}), " + ("a fraud" if correct else "a legitimate case")
    else:
        counted = f"{n:,} auto-tickets{span} ({rule}), {correct:,} of them frauds"
    low, high = percent(block["wilson_low"]), percent(block["wilson_high"])
    return (
        f"{counted}: realized precision {percent(block['rate'])} (95 % Wilson interval "
        f"{low.removesuffix(' %')}\u2013{high}); certified target {_shares(block.get('targets', []))} "
        f"({_shares(block.get('confidences', []))} confidence)"
    )


def _shares(values: Sequence[float]) -> str:
    """``95 %`` or ``90-95 %`` for the distinct shares given (``?`` for none)."""
    if not values:
        return "?"
    texts = [f"{value * 100:.3f}".rstrip("0").rstrip(".") for value in (min(values), max(values))]
    return f"{texts[0]} %" if texts[0] == texts[1] else f"{texts[0]}\u2013{texts[1]} %"


def class_coverage_metric(method: str, group: str, level: int | str) -> str:
    """The name of a method's per-class coverage in :func:`day_metrics` (``mondrian_coverage_fraud_90``)."""
    return f"{method}_coverage_{group}_{level}"


def class_coverage_days(
    days: Sequence[Mapping | None], method: str, level: int | str, group: str
) -> list[tuple[int, int]]:
    """``(covered, n)`` of one method, level and class per day, from ``class_coverage`` dicts.

    A day without the figure (not measured, stored before the figure existed, or ``None``
    for a missing day) gives ``(0, 0)``, which the coverage rule never counts as below target.

    Examples
    --------
    >>> day = {"class_coverage": {"mondrian": {"90": {"fraud": {"covered": 4, "n": 5}}}}}
    >>> class_coverage_days([day, None, {}], "mondrian", 90, "fraud")
    [(4, 5), (0, 0), (0, 0)]
    """
    counts = []
    for day in days:
        entry = ((day or {}).get("class_coverage") or {}).get(method, {}).get(str(level), {}).get(group)
        counts.append((int(entry["covered"]), int(entry["n"])) if entry else (0, 0))
    return counts


def judged_day(as_of: datetime, label_maturity_days: int = 0) -> date:
    """Return the day a ``report_drift`` run with ``as_of`` judges under a label maturity of ``m`` days.

    The run's own day is its data interval, the day before ``as_of``; with ``m > 0`` the judged
    day is the newest *matured* prediction day, ``m`` days before the run's day
    (:func:`fraudcal.maturity.matured_until`: a day is matured once the run's day is ``m`` days
    after it). Every rule counts its days back from the judged day (the reference days, the
    trailing week, the coverage rule's three days), so the whole judgement moves with it: an
    alert comes ``m`` days later, but it is never raised by labels that have not arrived yet.
    ``m = 0`` is ``(as_of - 1 day).date()``, exactly the day judged before label maturity.

    Raises
    ------
    ValueError
        If ``as_of`` has no time zone or ``label_maturity_days`` is not an integer in 0..365.

    Examples
    --------
    >>> from datetime import UTC
    >>> as_of = datetime(2025, 2, 11, tzinfo=UTC)
    >>> judged_day(as_of), judged_day(as_of, 3)
    (datetime.date(2025, 2, 10), datetime.date(2025, 2, 7))
    """
    from fraudcal.maturity import matured_until

    return (matured_until(as_of, label_maturity_days) - timedelta(days=1)).date()


def enough_labels(labeled: int, frauds: int) -> bool:
    """Whether a day has the labels that label-based rules need."""
    return labeled >= MIN_LABELED and frauds >= MIN_FRAUDS


@dataclass(frozen=True)
class DriftThresholds:
    """The alert thresholds of ``report_drift`` (its Params); defaults from :mod:`fraudcal.defaults`."""

    pr_auc_drop: float = DEFAULT_PR_AUC_DROP
    psi_warn: float = DEFAULT_PSI_WARN
    psi_alert: float = DEFAULT_PSI_ALERT
    band_sigmas: float = DEFAULT_BAND_SIGMAS
    coverage_level: int = DEFAULT_LEVEL
    #: The method whose per-class coverage the coverage rule judges: the one the online service acts on.
    coverage_method: str = DEFAULT_METHOD


#: Metrics the band rule watches (daily values against the reference days' values).
BAND_METRICS = ("fraud_rate", "mean_probability")


def evaluate_day(
    day: dict,
    reference_days: list[dict],
    baseline_pr_auc: float,
    thresholds: DriftThresholds,
    recent_coverage: Mapping[str, Sequence[tuple[int, int]]],
    certificate: Mapping | None = None,
) -> dict:
    """Apply every rule to one day's metrics; return fired rules, warnings and notes.

    The PR-AUC rule uses ``day["pr_auc_7d"]`` (the trailing week) when present, else the day's.

    Parameters
    ----------
    recent_coverage : dict of str to list of (covered, n)
        Per class (``fraud``, ``legitimate``), the coverage of ``thresholds.coverage_method``
        at ``thresholds.coverage_level`` on the consecutive days up to this one, oldest first
        (:func:`class_coverage_days`). The coverage rule judges each class on its own; an
        alert's metric is :func:`class_coverage_metric`.
    certificate : dict, optional
        The auto-tickets of the judged day and the 6 before under the certified thresholds in
        force (:func:`fraudcal.coverage.ticket_precision_block`). Judged whatever the day's
        label count (the Wilson interval carries the sample size): :func:`certificate_alert`.
        Its figures are added to the notes when a certificate row exists.

    Returns
    -------
    dict
        ``{"alerts": [{"rule", "metric", "value", "threshold"}...], "warnings": [...],
        "notes": [...]}``; label-based rules are replaced by the note "not enough labels" on a
        day without enough labels.
    """
    verdict = _label_and_score_rules(day, reference_days, baseline_pr_auc, thresholds, recent_coverage)
    alert = certificate_alert(certificate)
    if alert is not None:
        verdict["alerts"].append(alert)
    elif certificate and certificate.get("recorded"):
        verdict["notes"].append(f"certificate not violated: {certificate_sentence(certificate)}")
    return verdict


def _label_and_score_rules(
    day: dict,
    reference_days: list[dict],
    baseline_pr_auc: float,
    thresholds: DriftThresholds,
    recent_coverage: Mapping[str, Sequence[tuple[int, int]]],
) -> dict:
    """The rules of :func:`evaluate_day` other than the certificate rule."""
    alerts, warnings, notes = [], [], []
    labeled_enough = enough_labels(day["labeled"], day["frauds"])
    if psi_rule(day["psi"], thresholds.psi_alert):
        alerts.append({"rule": "PSI", "metric": "psi", "value": day["psi"], "threshold": thresholds.psi_alert})
    elif psi_rule(day["psi"], thresholds.psi_warn):
        warnings.append({"rule": "PSI", "metric": "psi", "value": day["psi"], "threshold": thresholds.psi_warn})
    for metric in BAND_METRICS:
        if metric == "fraud_rate" and not labeled_enough:
            continue
        history = [
            d[metric] for d in reference_days if metric != "fraud_rate" or enough_labels(d["labeled"], d["frauds"])
        ]
        if band_rule(day[metric], history, thresholds.band_sigmas):
            alerts.append({"rule": "band", "metric": metric, "value": day[metric], "threshold": thresholds.band_sigmas})
    if not labeled_enough:
        notes.append(
            f"not enough labels ({day['labeled']} labeled, {day['frauds']} frauds; need "
            f"{MIN_LABELED} and {MIN_FRAUDS}): PR-AUC, fraud rate and coverage not judged"
        )
        return {"alerts": alerts, "warnings": warnings, "notes": notes}
    pr_auc_metric = "pr_auc_7d" if "pr_auc_7d" in day else "pr_auc"
    if pr_auc_rule(day[pr_auc_metric], baseline_pr_auc, thresholds.pr_auc_drop):
        alerts.append(
            {
                "rule": "PR-AUC",
                "metric": pr_auc_metric,
                "value": day[pr_auc_metric],
                "threshold": (1 - thresholds.pr_auc_drop) * baseline_pr_auc,
            }
        )
    for group in COVERAGE_CLASSES:
        if coverage_rule(list(recent_coverage.get(group, ())), thresholds.coverage_level / 100):
            metric = class_coverage_metric(thresholds.coverage_method, group, thresholds.coverage_level)
            alerts.append(
                {
                    "rule": "coverage",
                    "metric": metric,
                    "value": day.get(metric),
                    "threshold": thresholds.coverage_level / 100,
                }
            )
    return {"alerts": alerts, "warnings": warnings, "notes": notes}


def day_metrics(
    scores: ArrayLike,
    reference_scores: ArrayLike,
    probabilities: ArrayLike,
    labels: ArrayLike,
    quantiles: dict[int, ArrayLike],
    width_level: int = DEFAULT_LEVEL,
    mondrian_quantiles: Mapping[int, tuple[ArrayLike, ArrayLike]] | None = None,
) -> dict:
    """Every figure of one model version on one day.

    Parameters
    ----------
    scores : array-like
        Probabilities of all the day's predictions (labeled or not); NaN (a prediction
        without a probability) is left out.
    reference_scores : array-like
        Probabilities of all predictions of the reference window (for PSI and KS).
    probabilities, labels : array-like of shape (n,)
        The day's labeled outcomes: finite probabilities in [0, 1], labels exactly 0 or 1
        (:mod:`fraudcal.inputs`).
    quantiles : dict of int to array-like of shape (n,)
        For each of :data:`~fraudcal.defaults.SUPPORTED_LEVELS`, the q of the set in force
        for each labeled outcome (NaN: no set in force, or the set lacks the level).
    width_level : int, default=DEFAULT_LEVEL
        The level whose rows with a set make ``with_set`` and whose intervals make
        ``mean_width_{width_level}``.
    mondrian_quantiles : dict of int to (array-like, array-like), optional
        Per supported level, the Mondrian ``(q_0, q_1)`` of the set in force for each labeled
        outcome (NaN: none). Absent: no Mondrian set in force.

    Returns
    -------
    dict
        Counts, rates and scores of the day; per supported level ``covered_{level}``,
        ``coverage_{level}`` and ``coverage_fraud_{level}`` over the rows with a quantile at
        that level; ``with_set`` (rows with a quantile at ``width_level``) and
        ``mean_width_{width_level}``. With the default ``width_level`` the keys are columns
        of ``fraudcal.model_health_daily``. ``class_coverage``: per method of
        :data:`CLASS_COVERAGE_METHODS`, per supported level, ``fraud`` and ``legitimate``
        counts ``{"covered", "n"}`` over the rows with that method's set in force (stored as
        jsonb, what the coverage rule reads back), and their rates as
        ``<method>_coverage_<class>_<level>`` (:func:`class_coverage_metric`; NaN without rows).

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If a labeled probability or label breaks the input contract, or a quantile array's
        length differs from theirs.
    """
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    p, y = checked_outcomes(probabilities, labels)
    q = {
        level: checked_column(quantiles[level], p.size, f"quantiles[{level}]").astype(np.float64)
        for level in dict.fromkeys((*SUPPORTED_LEVELS, width_level))
    }
    labeled, frauds = int(p.size), int(y.sum())
    low, high = wilson_interval(frauds, labeled)
    metrics = {
        "predictions": int(s.size),
        "labeled": labeled,
        "frauds": frauds,
        "fraud_rate": frauds / labeled if labeled else float("nan"),
        "fraud_rate_low": low,
        "fraud_rate_high": high,
        "pr_auc": average_precision(p, y),
        "roc_auc": roc_auc(p, y),
        "brier": brier_score(p, y),
        "ece": expected_calibration_error(p, y) if labeled else float("nan"),
        "mean_probability": float(s.mean()) if s.size else float("nan"),
        "psi": psi(reference_scores, s),
        "ks": ks_statistic(reference_scores, s),
    }
    with_set = np.isfinite(q[width_level])
    metrics["with_set"] = int(with_set.sum())
    for level in SUPPORTED_LEVELS:
        usable = np.isfinite(q[level])
        covered = interval_covers(p[usable], y[usable], q[level][usable])
        metrics[f"covered_{level}"] = int(covered.sum())
        metrics[f"coverage_{level}"] = float(covered.mean()) if covered.size else float("nan")
        fraud_hits = covered[y[usable]]
        metrics[f"coverage_fraud_{level}"] = float(fraud_hits.mean()) if fraud_hits.size else float("nan")
    lower, upper = interval_bounds(p[with_set], q[width_level][with_set])
    widths = upper - lower
    metrics[f"mean_width_{width_level}"] = float(widths.mean()) if widths.size else float("nan")
    nan = np.full(p.size, np.nan)
    mondrian = {
        level: tuple(
            checked_column(values, p.size, f"mondrian_quantiles[{level}]").astype(np.float64)
            for values in (mondrian_quantiles or {}).get(level, (nan, nan))
        )
        for level in SUPPORTED_LEVELS
    }
    # Per method and level: which rows had a set in force, and each row's label set.
    sets = {
        RESIDUAL_METHOD: {
            level: (np.isfinite(q[level]), residual_label_sets(p, q[level])) for level in SUPPORTED_LEVELS
        },
        MONDRIAN_METHOD: {
            level: (np.isfinite(q_zero) & np.isfinite(q_one), mondrian_label_sets(p, q_zero, q_one))
            for level, (q_zero, q_one) in mondrian.items()
        },
    }
    metrics["class_coverage"] = {}
    for method, per_level in sets.items():
        metrics["class_coverage"][method] = {}
        for level, (usable, (holds_zero, holds_one)) in per_level.items():
            groups = class_coverage(y[usable], holds_zero[usable], holds_one[usable], level / 100)
            metrics["class_coverage"][method][str(level)] = {
                group: {"covered": groups[group]["covered"], "n": groups[group]["n"]} for group in COVERAGE_CLASSES
            }
            for group in COVERAGE_CLASSES:
                metrics[class_coverage_metric(method, group, level)] = groups[group]["rate"]
    return metrics
