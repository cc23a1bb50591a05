"""What the intervals really did: coverage per class, widths, automation, threshold replay.

Every function works on arrays of labeled predictions, each with the quantile ``q`` of the
calibration set in force when it was made. Coverage is reported with a Wilson score interval
(Wilson 1927; recommended over the normal approximation by Brown, Cai & DasGupta 2001), so
that "below target" means below target beyond sampling noise, and it is reported for fraud
and legitimate cases apart: with binary labels the residual method can be on target overall
while containing almost no confirmed fraud (DESIGN.md section 4; per-class coverage is the
Mondrian conformal idea of Vovk, Gammerman & Shafer 2005), and these figures exist to show it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from fraudcal.conformal import interval_bounds, interval_contains
from fraudcal.inputs import checked_column, checked_outcomes
from fraudcal.metrics import expected_calibration_error

if TYPE_CHECKING:
    import pandas as pd

#: Width buckets of the report: [0, 0.1), [0.1, 0.2), ..., [0.4, 1].
WIDTH_EDGES = (0.0, 0.1, 0.2, 0.3, 0.4)
#: Narrow thresholds replayed: 0.05, 0.10, ..., 0.50.
REPLAY_THRESHOLDS = tuple(round(0.05 * step, 2) for step in range(1, 11))
#: z for a two-sided 95 % Wilson interval.
Z_95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Return the Wilson score interval of a proportion (NaN, NaN for n = 0).

    Parameters
    ----------
    successes, n : int
        Counts, ``0 <= successes <= n``.
    z : float, default=1.96
        Normal quantile (1.96 for 95 %).

    Examples
    --------
    >>> low, high = wilson_interval(45, 50)
    >>> round(low, 4), round(high, 4)
    (0.7864, 0.9565)
    >>> wilson_interval(0, 20)[0], wilson_interval(20, 20)[1]
    (0.0, 1.0)
    """
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At p = 0 (p = 1) the lower (upper) end is exactly 0 (1); say so instead of 1e-17 off.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class Coverage:
    """Empirical coverage of a group against its target."""

    n: int
    covered: int
    rate: float
    low: float
    high: float
    target: float

    @property
    def below_target(self) -> bool:
        """True when even the Wilson interval's upper end is below the target."""
        return self.n > 0 and self.high < self.target

    def as_dict(self) -> dict[str, float | int | bool]:
        return {**asdict(self), "below_target": self.below_target}


def coverage(covered: ArrayLike, target: float) -> Coverage:
    """Coverage of a boolean array of "interval contained the label" against ``target``."""
    hits = np.asarray(covered, dtype=bool)
    n, k = int(hits.size), int(hits.sum())
    low, high = wilson_interval(k, n)
    return Coverage(n=n, covered=k, rate=k / n if n else float("nan"), low=low, high=high, target=target)


def label_set_mix(probabilities: ArrayLike, quantile: ArrayLike) -> dict[str, int]:
    """Count the label sets the intervals carry: {0}, {1}, {0,1} or empty.

    With binary labels ``[p - q, p + q]`` holds 0 iff ``p <= q`` and 1 iff ``p >= 1 - q``
    (DESIGN.md section 4); the clamped bounds of :func:`fraudcal.conformal.interval_bounds`
    are used so the sets agree with coverage.
    """
    lower, upper = interval_bounds(probabilities, quantile)
    holds_zero = lower <= 0.0
    holds_one = upper >= 1.0
    return {
        "{0}": int((holds_zero & ~holds_one).sum()),
        "{1}": int((holds_one & ~holds_zero).sum()),
        "{0,1}": int((holds_zero & holds_one).sum()),
        "empty": int((~holds_zero & ~holds_one).sum()),
    }


def width_buckets(width: ArrayLike, probabilities: ArrayLike) -> list[dict[str, float | int | str]]:
    """Rows per width bucket (<0.1, 0.1-0.2, 0.2-0.3, 0.3-0.4, >=0.4) and their mean probability."""
    w = np.asarray(width, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    bucket = np.searchsorted(np.asarray(WIDTH_EDGES[1:]), w, side="right")
    labels = ["<0.1", "0.1-0.2", "0.2-0.3", "0.3-0.4", ">=0.4"]
    rows = []
    for index, label in enumerate(labels):
        members = bucket == index
        count = int(members.sum())
        rows.append(
            {
                "bucket": label,
                "n": count,
                "share": count / w.size if w.size else float("nan"),
                "mean_probability": float(p[members].mean()) if count else float("nan"),
            }
        )
    return rows


def automation(is_high_risk: ArrayLike, is_narrow: ArrayLike, labels: ArrayLike) -> dict[str, float | int]:
    """Count the auto-tickets and human reviews, and how many of each were legitimate cases.

    An auto-ticket is a HIGH/CRITICAL prediction with a narrow interval; a wide one goes to
    human review. The share of auto-tickets that were legitimate is legitimate cases /
    auto-tickets: one minus the tickets' precision (in classification terms their false
    discovery rate, which is *not* a false-positive rate: that would divide by every
    legitimate case). The report uses this one name for it; the same share is given for the
    human reviews.

    Parameters
    ----------
    is_high_risk, is_narrow : array-like of bool, shape (n,)
        Whether each prediction was HIGH/CRITICAL, and whether its interval was narrow.
    labels : array-like of shape (n,)
        1 for a confirmed fraud, 0 for a legitimate case.

    Returns
    -------
    dict
        ``high_risk``, ``auto_tickets``, ``human_reviews`` (counts); ``automation_rate``
        (auto-tickets / HIGH+CRITICAL); ``legitimate_auto_tickets`` and
        ``auto_ticket_legitimate_share``; ``legitimate_reviews`` and ``review_legitimate_share``.
        A share of nothing is NaN.

    Examples
    --------
    >>> figures = automation([True, True, True, False], [True, True, False, True], [1, 0, 0, 0])
    >>> figures["auto_tickets"], figures["legitimate_auto_tickets"], figures["auto_ticket_legitimate_share"]
    (2, 1, 0.5)
    """
    high = np.asarray(is_high_risk, dtype=bool)
    narrow = np.asarray(is_narrow, dtype=bool)
    y = np.asarray(labels).astype(bool)
    tickets, reviews = high & narrow, high & ~narrow
    n_high, n_tickets, n_reviews = int(high.sum()), int(tickets.sum()), int(reviews.sum())
    legitimate_tickets, legitimate_reviews = int((tickets & ~y).sum()), int((reviews & ~y).sum())
    return {
        "high_risk": n_high,
        "auto_tickets": n_tickets,
        "human_reviews": n_reviews,
        "automation_rate": n_tickets / n_high if n_high else float("nan"),
        "legitimate_auto_tickets": legitimate_tickets,
        "auto_ticket_legitimate_share": legitimate_tickets / n_tickets if n_tickets else float("nan"),
        "legitimate_reviews": legitimate_reviews,
        "review_legitimate_share": legitimate_reviews / n_reviews if n_reviews else float("nan"),
    }


def threshold_replay(
    width: ArrayLike, is_high_risk: ArrayLike, labels: ArrayLike, thresholds: tuple[float, ...] = REPLAY_THRESHOLDS
) -> list[dict[str, float | int]]:
    """What each narrow threshold would have done: auto-tickets, how many were legitimate, missed frauds.

    One row per threshold, in the order given (the CSV keeps every one; the report merges
    consecutive thresholds with identical outcomes into one row). Missed frauds are confirmed
    frauds that got no auto-ticket (wide interval, or not HIGH/CRITICAL): they depended on a
    human noticing.

    Parameters
    ----------
    width : array-like of shape (n,)
        Each prediction's interval width (upper minus lower bound).
    is_high_risk : array-like of bool, shape (n,)
        Whether each prediction was HIGH/CRITICAL.
    labels : array-like of shape (n,)
        1 for a confirmed fraud, 0 for a legitimate case.
    thresholds : tuple of float, default=REPLAY_THRESHOLDS
        An interval narrower than the threshold is narrow.

    Returns
    -------
    list of dict
        ``narrow_threshold``, ``auto_tickets``, ``automation_rate``, ``legitimate_auto_tickets``,
        ``legitimate_share`` (of the auto-tickets, as in :func:`automation`; NaN without
        tickets) and ``missed_frauds``.
    """
    w = np.asarray(width, dtype=np.float64)
    high = np.asarray(is_high_risk, dtype=bool)
    y = np.asarray(labels).astype(bool)
    n_high = int(high.sum())
    rows = []
    for threshold in thresholds:
        tickets = high & (w < threshold)
        n_tickets = int(tickets.sum())
        legitimate = int((tickets & ~y).sum())
        rows.append(
            {
                "narrow_threshold": threshold,
                "auto_tickets": n_tickets,
                "automation_rate": n_tickets / n_high if n_high else float("nan"),
                "legitimate_auto_tickets": legitimate,
                "legitimate_share": legitimate / n_tickets if n_tickets else float("nan"),
                "missed_frauds": int((y & ~tickets).sum()),
            }
        )
    return rows


def reliability_bins(probabilities: ArrayLike, labels: ArrayLike, n_bins: int = 10) -> list[dict[str, float | int]]:
    """Equal-mass bins for a reliability diagram: mean probability vs observed fraud rate."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if p.size == 0:
        return []
    order = np.lexsort((y, p))
    return [
        {"n": int(part.size), "mean_probability": float(p[part].mean()), "observed_rate": float(y[part].mean())}
        for part in np.array_split(order, min(n_bins, p.size))
    ]


def interval_covers(probabilities: ArrayLike, labels: ArrayLike, quantile: ArrayLike) -> np.ndarray:
    """Whether each prediction's interval (with its own q) contains its label.

    A NaN ``q`` (no set in force) gives NaN bounds, which contain nothing: filter such rows
    out first when they are not to count as misses.
    """
    return interval_contains(*interval_bounds(probabilities, quantile), labels)


STATUS_ORDER = ("green", "amber", "red")


def version_figures(
    *,
    model_version: str,
    days: ArrayLike,
    probabilities: ArrayLike,
    labels: ArrayLike,
    is_high_risk: ArrayLike,
    quantiles: dict[int, ArrayLike],
    level: int,
    narrow_threshold: float,
    newest_set_age_hours: float | None,
    stale_after_hours: float,
    suggest_mondrian: bool = True,
) -> dict:
    """All figures of one model version over the report period, and its status.

    Parameters
    ----------
    days : array-like of datetime64[D]
        The day of each prediction.
    probabilities, labels : array-like of shape (n,)
        The labeled predictions: finite probabilities in [0, 1], labels exactly 0 or 1
        (:mod:`fraudcal.inputs`).
    is_high_risk : array-like of bool, shape (n,)
        Whether each prediction was HIGH or CRITICAL.
    quantiles : dict of int to array-like
        Per coverage level, the q of the set in force for each prediction (NaN: none).
    level : int
        The level the day-by-day, width, automation and replay figures use. The report
        covers the rows with a quantile at this level (a calibration set in force).
    newest_set_age_hours : float or None
        Age of the version's newest calibration set at report time (None: no set at all).
    suggest_mondrian : bool, default=True
        Whether a fraud class below target adds the sentence on what per-class (Mondrian)
        calibration would do. Off when the report measures Mondrian's own sets
        (:mod:`fraudcal.comparison`): their figures say it better than a promise.

    Returns
    -------
    dict
        JSON-ready figures, ``status`` (green/amber/red) and ``findings`` (plain sentences).
        ``coverage[str(level)]`` holds, for every level of ``quantiles``, the coverage
        ``overall``, of the ``legitimate`` cases and of the ``fraud`` cases, computed only
        over the report's rows that have a quantile for that level, and ``without_quantile``:
        how many of the report's rows have none (their set was made without that level).
        Such a row is left out of that level's coverage, not counted as a miss.

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If a probability or label breaks the input contract, or a column's length differs.
    ValueError
        If ``level`` is not one of the levels of ``quantiles``.
    """
    p, y = checked_outcomes(probabilities, labels)
    high = checked_column(is_high_risk, p.size, "is_high_risk").astype(bool)
    day = checked_column(days, p.size, "days").astype("datetime64[D]")
    q = {
        int(lvl): checked_column(values, p.size, f"quantiles[{lvl}]").astype(np.float64)
        for lvl, values in quantiles.items()
    }
    if level not in q:
        raise ValueError(f"level {level} has no quantiles (levels given: {sorted(q)})")
    in_force = np.isfinite(q[level])
    findings: list[str] = []
    figures: dict = {
        "model_version": model_version,
        "labeled": int(p.size),
        "without_set_in_force": int((~in_force).sum()),
        "level": level,
        "narrow_threshold": narrow_threshold,
    }
    p, y, high, day = p[in_force], y[in_force], high[in_force], day[in_force]
    q = {lvl: values[in_force] for lvl, values in q.items()}
    figures["n"] = int(p.size)
    # Said whether or not anything could be measured: a newly deployed version with labels but
    # no set yet is exactly the case a reader must see.
    figures["newest_set_age_hours"] = newest_set_age_hours
    figures["set_stale"] = newest_set_age_hours is None or newest_set_age_hours > stale_after_hours
    if p.size == 0:
        findings = [f"{model_version}: no labeled outcomes with a calibration set in force"]
        if figures["set_stale"]:
            findings.append(_stale_finding(model_version, newest_set_age_hours, stale_after_hours))
        figures.update(status="red" if figures["set_stale"] else "amber", findings=findings)
        return figures

    figures["coverage"] = {}
    for lvl, values in sorted(q.items()):
        # A row whose set has no quantile at this level says nothing about this level.
        has_quantile = np.isfinite(values)
        covered = interval_covers(p[has_quantile], y[has_quantile], values[has_quantile])
        is_fraud = y[has_quantile]
        target = lvl / 100
        figures["coverage"][str(lvl)] = {
            "overall": coverage(covered, target).as_dict(),
            "legitimate": coverage(covered[~is_fraud], target).as_dict(),
            "fraud": coverage(covered[is_fraud], target).as_dict(),
            "without_quantile": int((~has_quantile).sum()),
        }
    chosen = figures["coverage"][str(level)]
    covered = interval_covers(p, y, q[level])
    figures["by_day"] = []
    for current in np.unique(day):
        members = day == current
        overall = coverage(covered[members], level / 100)
        fraud = coverage(covered[members & y], level / 100)
        figures["by_day"].append(
            {"day": str(current), **overall.as_dict(), "fraud_n": fraud.n, "fraud_covered": fraud.covered}
        )
    lower, upper = interval_bounds(p, q[level])
    width = upper - lower
    figures["label_sets"] = label_set_mix(p, q[level])
    figures["width_buckets"] = width_buckets(width, p)
    figures["automation"] = automation(high, width < narrow_threshold, y)
    figures["threshold_replay"] = threshold_replay(width, high, y)
    figures["reliability"] = reliability_bins(p, y)
    figures["ece"] = expected_calibration_error(p, y)

    status = "green"
    for group, wording in (
        ("fraud", "of the confirmed frauds"),
        ("overall", "of all labeled predictions"),
        ("legitimate", "of the legitimate cases"),
    ):
        entry = chosen[group]
        if entry["below_target"]:
            findings.append(
                f"{model_version}: the {level} % intervals contained {percent(entry['rate'])} {wording} "
                f"({entry['covered']:,} of {entry['n']:,}; target {level} %; 95 % Wilson interval "
                f"{percent(entry['low'])} to {percent(entry['high'])})"
            )
            status = _worse(status, "amber" if group == "legitimate" else "red")
    low_days = [row["day"] for row in figures["by_day"] if row["below_target"]]
    if low_days:
        findings.append(
            f"{model_version}: coverage below target beyond the Wilson interval on "
            f"{plural(len(low_days), 'day')}: {', '.join(low_days)}"
        )
        status = _worse(status, "amber")
    if figures["set_stale"]:
        findings.append(_stale_finding(model_version, newest_set_age_hours, stale_after_hours))
        status = _worse(status, "red")
    tickets = figures["automation"]
    if tickets["auto_tickets"]:
        findings.append(
            f"{model_version}: {plural(tickets['auto_tickets'], 'auto-ticket')} "
            f"({percent(tickets['automation_rate'], 0)} of HIGH/CRITICAL); "
            f"{tickets['legitimate_auto_tickets']:,} of them on legitimate cases "
            f"({percent(tickets['auto_ticket_legitimate_share'])})"
        )
    if chosen["fraud"]["below_target"] and suggest_mondrian:
        findings.append(
            f"{model_version}: per-class (Mondrian) calibration would give the confirmed frauds and the "
            "legitimate cases each their own quantile, computed from that class alone, and so each its own "
            "coverage guarantee; narrow intervals on HIGH/CRITICAL scores are not trustworthy until then"
        )
    figures.update(status=status, findings=findings)
    return figures


def percent(share: float, decimals: int = 1) -> str:
    """A share as the report writes it: ``0.0 %`` (NaN: ``n/a``).

    Examples
    --------
    >>> percent(0.9012), percent(1.0, 0), percent(float("nan"))
    ('90.1 %', '100 %', 'n/a')
    """
    if share is None or not math.isfinite(share):
        return "n/a"
    return f"{share * 100:.{decimals}f} %"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and the noun, singular for exactly one.

    Examples
    --------
    >>> plural(1, "day"), plural(0, "day"), plural(1_200, "auto-ticket")
    ('1 day', '0 days', '1,200 auto-tickets')
    """
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


def _stale_finding(model_version: str, newest_set_age_hours: float | None, stale_after_hours: float) -> str:
    """The sentence for a version whose newest set is missing or older than the limit."""
    age = "no calibration set" if newest_set_age_hours is None else f"newest set is {newest_set_age_hours:.0f} h old"
    return f"{model_version}: stale calibration ({age}; limit {stale_after_hours:.0f} h)"


def _worse(current: str, candidate: str) -> str:
    return max(current, candidate, key=STATUS_ORDER.index)


def report_status(per_version: list[dict]) -> str:
    """The worst status over the versions (amber when there are none)."""
    if not per_version:
        return "amber"
    return max((figures["status"] for figures in per_version), key=STATUS_ORDER.index)


# ----------------------------------------------------------------------------- certified triage
#
# The thresholds certified by :mod:`fraudcal.triage` (Learn-Then-Test) promise, per calibration
# window, that the auto-tickets (score >= ticket threshold) are frauds at least at the target
# precision and the auto-cleared cases (score <= clear threshold) legitimate at least at the
# target NPV. A prediction is judged with the thresholds in force when it was made: those of the
# newest in-force row with ``as_of <= predicted_at`` (DESIGN.md section 4's as-of rule). What the
# thresholds really did is measured on the labeled outcomes with a 95 % Wilson interval
# (:func:`fraudcal.triage.realized_rate`); a certificate is violated when even the interval's
# upper end is below its target (:func:`fraudcal.triage.certificate_violated`).

#: The two sides of a triage certificate.
TRIAGE_SIDES = ("ticket", "clear")


def certificate_positions(predicted_at: ArrayLike, as_ofs: ArrayLike) -> np.ndarray:
    """For each prediction, the index of the certificate row in force when it was made (-1: none).

    The row in force is the newest with ``as_of <= predicted_at``.

    Raises
    ------
    ValueError
        If ``as_ofs`` is not strictly increasing (one current row per as_of).

    Examples
    --------
    >>> as_ofs = np.array(["2025-02-01", "2025-02-02"], dtype="datetime64[us]")
    >>> times = np.array(["2025-01-31T23", "2025-02-01T00", "2025-02-02T06"], dtype="datetime64[us]")
    >>> certificate_positions(times, as_ofs).tolist()
    [-1, 0, 1]
    """
    times = np.asarray(as_ofs).astype("datetime64[us]")
    if times.size > 1 and not np.all(times[1:] > times[:-1]):
        raise ValueError("certificate as_ofs must be strictly increasing (one current row per as_of)")
    when = np.asarray(predicted_at).astype("datetime64[us]")
    return np.searchsorted(times, when, side="right") - 1


def certified_threshold(certificate: dict, side: str) -> float:
    """The threshold a certificate row puts in force on ``side`` (NaN when that side is not certified)."""
    entry = certificate.get(side) or {}
    threshold = entry.get("threshold")
    return float(threshold) if entry.get("certified") and threshold is not None else float("nan")


def _side_target(certificate: dict, side: str) -> float:
    target = (certificate.get(side) or {}).get("target")
    return float("nan") if target is None else float(target)


def _confidence(certificate: dict, side: str) -> float:
    value = certificate.get("confidence", (certificate.get(side) or {}).get("confidence"))
    return float("nan") if value is None else float(value)


def triage_in_force(predicted_at: ArrayLike, certificates: list[dict]) -> dict[str, np.ndarray]:
    """Per prediction, the row in force (``position``, -1 none) and per side its threshold, target
    and confidence (NaN where no row is in force or the side is not certified)."""
    as_ofs = np.array([np.datetime64(row["as_of"], "us") for row in certificates], dtype="datetime64[us]")
    position = certificate_positions(predicted_at, as_ofs)
    in_force = position >= 0
    columns: dict[str, np.ndarray] = {"position": position}
    for side in TRIAGE_SIDES:
        per_row = {
            "threshold": [certified_threshold(row, side) for row in certificates],
            "target": [_side_target(row, side) for row in certificates],
            "confidence": [_confidence(row, side) for row in certificates],
        }
        for name, values in per_row.items():
            column = np.full(position.size, np.nan)
            column[in_force] = np.asarray(values, dtype=np.float64)[position[in_force]]
            if name != "threshold":  # a target or confidence counts only where the side is certified
                column[in_force] = np.where(
                    np.isfinite(np.asarray(per_row["threshold"], dtype=np.float64)[position[in_force]]),
                    column[in_force],
                    np.nan,
                )
            columns[f"{side}_{name}"] = column
    return columns


def triage_decisions(
    probabilities: ArrayLike, ticket_threshold: ArrayLike, clear_threshold: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Which predictions the thresholds auto-ticketed (``p >= ticket``) and auto-cleared (``p <= clear``).

    A NaN threshold (not certified, or no row in force) decides nothing. A score on both sides
    (thresholds that overlap, possible only on odd data) goes to human review, as
    :meth:`fraudcal.triage.TriageCertificate.actions` decides it.

    Examples
    --------
    >>> ticket, clear = triage_decisions([0.95, 0.5, 0.01, 0.9], [0.9, 0.9, 0.9, np.nan], [0.02, 0.02, 0.02, 0.02])
    >>> ticket.tolist(), clear.tolist()
    ([True, False, False, False], [False, False, True, False])
    >>> [mask.tolist() for mask in triage_decisions([0.5], [0.4], [0.6])]  # overlapping: review
    [[False], [False]]
    """
    p = np.asarray(probabilities, dtype=np.float64)
    above = p >= np.asarray(ticket_threshold, dtype=np.float64)  # NaN compares False
    below = p <= np.asarray(clear_threshold, dtype=np.float64)
    return above & ~below, below & ~above


def realized_against_targets(correct: ArrayLike, targets: ArrayLike) -> dict:
    """The realized rate of automated decisions, each judged against the target it was made under.

    Parameters
    ----------
    correct : array-like of bool
        One entry per automated decision: was it right (a fraud for a ticket, a legitimate case
        for a clear)?
    targets : array-like of float
        The target precision (NPV) of the certificate each decision was made under.

    Returns
    -------
    dict
        :func:`fraudcal.triage.realized_rate` of all of them (``n``, ``correct``, ``rate``,
        ``wilson_low``, ``wilson_high``), ``groups``: per distinct target its ``n``, ``correct``
        and whether the certificate is ``violated`` (:func:`fraudcal.triage.certificate_violated`),
        ``targets`` (sorted) and ``violated`` (any group).
    """
    from fraudcal.triage import certificate_violated, realized_rate

    right = np.asarray(correct, dtype=bool)
    goal = np.asarray(targets, dtype=np.float64)
    figure = dict(realized_rate(int(right.sum()), int(right.size)))
    groups = []
    for target in np.unique(goal[np.isfinite(goal)]):
        members = goal == target
        n, k = int(members.sum()), int(right[members].sum())
        violated = bool(certificate_violated(k, n, float(target)))
        groups.append({"target": float(target), "n": n, "correct": k, "violated": violated})
    figure.update(
        groups=groups, targets=[group["target"] for group in groups], violated=any(g["violated"] for g in groups)
    )
    return figure


def _distinct(values: ArrayLike) -> list[float]:
    array = np.asarray(values, dtype=np.float64)
    return [float(value) for value in np.unique(array[np.isfinite(array)])]


def _side_figures(
    correct: np.ndarray, automated: np.ndarray, columns: dict[str, np.ndarray], side: str, members: np.ndarray
) -> dict:
    """One side's figures over ``members``: realized rate judged per target, thresholds, confidences."""
    chosen = members & automated
    figure = realized_against_targets(correct[chosen], columns[f"{side}_target"][chosen])
    certified = members & np.isfinite(columns[f"{side}_threshold"])
    figure.update(
        # every threshold and confidence that judged a prediction here, whether or not it automated one
        thresholds=_distinct(columns[f"{side}_threshold"][certified]),
        certified_targets=_distinct(columns[f"{side}_target"][certified]),
        confidences=_distinct(columns[f"{side}_confidence"][certified]),
        under_certificate=int(certified.sum()),
    )
    return figure


def day_certificates(certificates: list[dict], day: np.datetime64) -> list[int]:
    """Indices of the certificate rows in force at some moment of ``day`` (UTC), oldest first."""
    as_ofs = np.array([np.datetime64(row["as_of"], "us") for row in certificates], dtype="datetime64[us]")
    start = np.datetime64(day, "D").astype("datetime64[us]")
    end = start + np.timedelta64(1, "D")
    first = max(int(np.searchsorted(as_ofs, start, side="right")) - 1, 0)
    last = int(np.searchsorted(as_ofs, end, side="left"))  # rows with as_of < end
    return [index for index in range(first, last) if as_ofs[index] < end]


def certificate_summary(certificate: dict) -> dict:
    """The JSON-ready facts of one certificate row the report shows."""
    summary: dict = {"as_of": str(np.datetime64(certificate["as_of"], "s")), "status": certificate.get("status")}
    for side in TRIAGE_SIDES:
        entry = certificate.get(side) or {}
        summary[side] = {
            "certified": bool(entry.get("certified")) and entry.get("threshold") is not None,
            "threshold": entry.get("threshold"),
            "target": entry.get("target"),
            "confidence": _confidence(certificate, side),
            "lower_bound": entry.get("lower_bound"),
            "n_automated": entry.get("n_automated"),
            "n_window": entry.get("n_window"),
            "reason": entry.get("reason"),
        }
    return summary


def triage_figures(
    *,
    model_version: str,
    predicted_at: ArrayLike,
    probabilities: ArrayLike,
    labels: ArrayLike,
    certificates: list[dict],
    days: ArrayLike | None = None,
) -> dict:
    """What the certified thresholds did with one version's labeled predictions, per day and in all.

    Every prediction is judged with the thresholds in force when it was made
    (:func:`triage_in_force`): auto-ticket when ``p >= ticket``, auto-clear when ``p <= clear``,
    human review otherwise (:func:`triage_decisions`). Predictions made before the first row
    (or of a version without rows) have no thresholds in force: they are counted
    (``without_certificate``) and judged by nothing.

    Parameters
    ----------
    predicted_at : array-like of datetime64, shape (n,)
        When each prediction was made (UTC).
    probabilities, labels : array-like of shape (n,)
        The labeled predictions (:mod:`fraudcal.inputs`).
    certificates : list of dict
        The rows in force in the period, oldest first, with strictly increasing ``as_of``:
        ``as_of``, ``ticket`` and ``clear`` (:meth:`fraudcal.triage.ThresholdCertificate.to_dict`),
        ``confidence``; ``[]`` for a version with no certified thresholds recorded.
    days : array-like of datetime64[D], optional
        The days to report (default: the days with a labeled prediction).

    Returns
    -------
    dict
        ``recorded`` (any row at all), ``n``, ``with_certificate``, ``without_certificate``,
        ``certificates`` (:func:`certificate_summary` of each row), ``ticket`` and ``clear``
        (:func:`realized_against_targets` of the automated decisions plus the ``thresholds``,
        ``certified_targets`` and ``confidences`` that judged predictions, and
        ``under_certificate``: how many predictions a certified threshold of that side judged),
        ``review`` (``n`` and ``share`` of the predictions with a row in force), ``by_day`` (the
        same per day, with ``certificates``: the indices of the rows in force that day) and
        ``violated`` (either side).

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If a probability or label breaks the input contract, or a column's length differs.
    """
    p, y = checked_outcomes(probabilities, labels)
    when = checked_column(predicted_at, p.size, "predicted_at").astype("datetime64[us]")
    columns = triage_in_force(when, certificates)
    in_force = columns["position"] >= 0
    ticket, clear = triage_decisions(p, columns["ticket_threshold"], columns["clear_threshold"])
    review = in_force & ~ticket & ~clear
    correct = {"ticket": y, "clear": ~y}
    automated = {"ticket": ticket, "clear": clear}
    day = when.astype("datetime64[D]")
    report_days = np.unique(day) if days is None else np.unique(np.asarray(days).astype("datetime64[D]"))

    def summary(members: np.ndarray) -> dict:
        with_certificate = int((members & in_force).sum())
        figures = {
            "n": int(members.sum()),
            "with_certificate": with_certificate,
            "without_certificate": int((members & ~in_force).sum()),
            "review": {
                "n": int((members & review).sum()),
                "share": int((members & review).sum()) / with_certificate if with_certificate else float("nan"),
            },
        }
        for side in TRIAGE_SIDES:
            figures[side] = _side_figures(correct[side], automated[side], columns, side, members)
        return figures

    figures = {
        "model_version": model_version,
        "recorded": bool(certificates),
        "certificates": [certificate_summary(row) for row in certificates],
        **summary(np.ones(p.size, dtype=bool)),
    }
    figures["by_day"] = [
        {"day": str(current), "certificates": day_certificates(certificates, current), **summary(day == current)}
        for current in report_days
    ]
    figures["violated"] = figures["ticket"]["violated"] or figures["clear"]["violated"]
    return figures


def certified_replay(
    probabilities: ArrayLike,
    is_high_risk: ArrayLike,
    labels: ArrayLike,
    ticket_threshold: ArrayLike,
    clear_threshold: ArrayLike | None = None,
) -> dict[str, float | int | list]:
    """The certified auto-ticket rule as one row of the threshold replay (:func:`threshold_replay`).

    Auto-ticket when ``p >= ticket_threshold`` (the threshold in force for each prediction; NaN:
    none certified) and not also ``p <= clear_threshold`` (:func:`triage_decisions`). The row has the replay's columns, counted the same way over the same
    predictions: ``auto_tickets``, ``automation_rate`` (auto-tickets / HIGH/CRITICAL predictions,
    the replay's denominator, although the certified rule tickets any score at or above its
    threshold), ``legitimate_auto_tickets``, ``legitimate_share`` and ``missed_frauds``; plus
    ``thresholds`` (the distinct thresholds in force) and ``without_threshold``.

    Examples
    --------
    >>> row = certified_replay([0.95, 0.9, 0.5, 0.2], [True, True, True, False], [1, 0, 1, 0], [0.9] * 4)
    >>> row["auto_tickets"], row["legitimate_auto_tickets"], row["missed_frauds"]
    (2, 1, 1)
    """
    p = np.asarray(probabilities, dtype=np.float64)
    high = np.asarray(is_high_risk, dtype=bool)
    y = np.asarray(labels).astype(bool)
    thresholds = np.asarray(ticket_threshold, dtype=np.float64)
    clear = np.full(p.size, np.nan) if clear_threshold is None else clear_threshold
    tickets, _ = triage_decisions(p, thresholds, clear)
    n_high, n_tickets = int(high.sum()), int(tickets.sum())
    legitimate = int((tickets & ~y).sum())
    return {
        "rule": "certified",
        "thresholds": _distinct(thresholds),
        "without_threshold": int((~np.isfinite(thresholds)).sum()),
        "auto_tickets": n_tickets,
        "automation_rate": n_tickets / n_high if n_high else float("nan"),
        "legitimate_auto_tickets": legitimate,
        "legitimate_share": legitimate / n_tickets if n_tickets else float("nan"),
        "missed_frauds": int((y & ~tickets).sum()),
    }


def ticket_precision_block(
    predicted_at: ArrayLike, probabilities: ArrayLike, labels: ArrayLike, certificates: list[dict], days: ArrayLike
) -> dict:
    """The auto-tickets of a block of days under the thresholds in force, for the drift rule.

    Returns :func:`realized_against_targets` of the block's auto-tickets, with ``thresholds``,
    ``confidences``, ``recorded`` (any certificate row) and ``days``: per day ``day``,
    ``tickets`` and ``frauds``.
    """
    figures = triage_figures(
        model_version="", predicted_at=predicted_at, probabilities=probabilities, labels=labels,
        certificates=certificates, days=days,
    )
    block = {key: value for key, value in figures["ticket"].items()}
    block["recorded"] = figures["recorded"]
    block["labeled"] = figures["n"]
    block["days"] = [
        {"day": row["day"], "tickets": row["ticket"]["n"], "frauds": row["ticket"]["correct"]}
        for row in figures["by_day"]
    ]
    return block


# ----------------------------------------------------------------------------- label arrival
#
# A prediction's label arrives days or weeks after it (fraudcal.maturity): the youngest days of
# any period hold only the labels that came fast. The reports show, per model version, how far
# each cohort (prediction day) had got by its age in the newest label snapshot at or before the
# report's end (fraudcal.maturity.labeled_share_by_age), and the label maturity that
# ``label_maturity_days = "auto"`` would choose from the snapshots up to that day.

#: Ages (days) the label-arrival table lists one by one; the older ages are pooled into one row.
LABEL_ARRIVAL_MAX_AGE = 21
#: What a version without a label snapshot (up to the report's end) says instead of a table.
NO_LABEL_SNAPSHOTS = "no label snapshots yet (calibrate_fraud_model records one per day)"


def _arrival_row(part: pd.DataFrame, first: int, last: int) -> dict:
    """One row of :func:`label_arrival`: the ages ``first..last`` of ``labeled_share_by_age`` pooled."""
    n, labeled = int(part["n_predictions"].sum()), int(part["n_labeled"].sum())
    frauds = int(part["n_fraud"].sum()) if "n_fraud" in part.columns else None
    return {
        "ages": f"{first}" if first == last else f"{first}\u2013{last}",
        "first_age": first,
        "last_age": last,
        "cohorts": int(part["cohorts"].sum()),
        "n_predictions": n,
        "n_labeled": labeled,
        "labeled_share": labeled / n if n else math.nan,
        "n_fraud": frauds,
        "fraud_share": frauds / labeled if frauds is not None and labeled else math.nan,
    }


def label_arrival(snapshots: pd.DataFrame, as_of_day: date, *, max_age: int = LABEL_ARRIVAL_MAX_AGE) -> dict | None:
    """How far each cohort's labels had arrived, by age, at ``as_of_day``; and what "auto" would choose.

    Parameters
    ----------
    snapshots : pandas.DataFrame
        One model version's label snapshots (:func:`fraudcal.maturity.arrival_curve`'s columns,
        ``n_fraud`` optional); rows of snapshot days after ``as_of_day`` are left out.
    as_of_day : datetime.date
        The report's end: the newest snapshot at or before it gives the table.
    max_age : int, default=LABEL_ARRIVAL_MAX_AGE
        Ages ``0..max_age`` get a row each; the older ages of the snapshot (where the labeled share
        has reached its plateau, when the history tells) are pooled into one last row.

    Returns
    -------
    dict or None
        None when no snapshot is that old. Otherwise ``snapshot_day`` (the newest snapshot day at
        or before ``as_of_day``), ``oldest_age``, ``rows`` (per row ``ages`` as text, ``first_age``,
        ``last_age``, ``cohorts``, ``n_predictions``, ``n_labeled``, ``labeled_share``, ``n_fraud``
        and ``fraud_share``: frauds among the labeled; sums over the row's ages, shares NaN without
        a denominator, ``n_fraud`` None without that column), ``auto``: the
        :class:`fraudcal.maturity.MaturityChoice` of ``"auto"`` (fallback 0 days) from the arrival
        curve of every snapshot up to ``as_of_day``, as a dict, and that curve's ``eventual_share``,
        ``plateau_age``, ``cohorts`` and ``snapshot_days``.

    Raises
    ------
    fraudcal.maturity.InvalidSnapshotsError
        As :func:`fraudcal.maturity.arrival_curve`.
    ValueError
        If ``as_of_day`` is not a date or ``max_age`` not an integer >= 0.

    Examples
    --------
    >>> from datetime import date
    >>> import pandas as pd
    >>> snapshots = pd.DataFrame({
    ...     "prediction_day": ["2025-03-01", "2025-03-02", "2025-03-03"], "snapshot_day": "2025-03-03",
    ...     "n_predictions": [100, 100, 50], "n_labeled": [90, 60, 5], "n_fraud": [3, 3, 1]})
    >>> arrival = label_arrival(snapshots, date(2025, 3, 4), max_age=1)
    >>> [(row["ages"], row["labeled_share"], row["fraud_share"]) for row in arrival["rows"]]
    [('0', 0.1, 0.2), ('1', 0.6, 0.05), ('2', 0.9, 0.03333333333333333)]
    >>> arrival["auto"]["days"], arrival["auto"]["reason"][:40]
    (0, 'auto requested but the arrival curve is ')
    """
    import pandas as pd

    from fraudcal.maturity import AUTO, arrival_curve, labeled_share_by_age, resolve_label_maturity

    if isinstance(as_of_day, datetime) or not isinstance(as_of_day, date):
        raise ValueError(f"as_of_day must be a date; got {as_of_day!r}")
    if isinstance(max_age, bool) or not isinstance(max_age, int | np.integer) or max_age < 0:
        raise ValueError(f"max_age must be an integer >= 0; got {max_age!r}")
    by_age = labeled_share_by_age(snapshots, as_of_day)  # checks every row of the snapshots
    if by_age.empty:
        return None
    snapshot_days = pd.to_datetime(snapshots["snapshot_day"], utc=True).dt.date
    seen = snapshots[(snapshot_days <= as_of_day).to_numpy()]
    curve = arrival_curve(seen)
    choice = resolve_label_maturity(AUTO, curve, fallback_days=0)
    oldest = int(by_age["age"].max())
    rows = [_arrival_row(by_age[by_age["age"] == age], age, age) for age in range(min(oldest, max_age) + 1)]
    if oldest > max_age:
        rows.append(_arrival_row(by_age[by_age["age"] > max_age], max_age + 1, oldest))
    return {
        "snapshot_day": max(day for day in snapshot_days if day <= as_of_day),
        "oldest_age": oldest,
        "rows": rows,
        "auto": choice.to_dict(),
        "eventual_share": curve.eventual_share,
        "plateau_age": curve.plateau_age,
        "cohorts": curve.n_cohorts,
        "snapshot_days": curve.n_snapshot_days,
    }


def auto_maturity_sentence(auto: dict) -> str:
    """What a report says of :func:`label_arrival`'s ``auto`` choice.

    Examples
    --------
    >>> auto_maturity_sentence({"requested": "auto", "days": 1, "reason": "auto: 95 % ... within 1 day"})
    'label_maturity_days = auto would choose 1 day; auto: 95 % ... within 1 day'
    """
    days = auto["days"]
    return f"label_maturity_days = auto would choose {days} day{'' if days == 1 else 's'}; {auto['reason']}"


def label_arrival_by_version(
    snapshots: pd.DataFrame, versions: list[str], as_of_day: date, *, max_age: int = LABEL_ARRIVAL_MAX_AGE
) -> dict[str, dict | None]:
    """:func:`label_arrival` of each of ``versions`` from the snapshots of several (column ``model_version``).

    A version without a snapshot at or before ``as_of_day`` gets None (the reports then say
    :data:`NO_LABEL_SNAPSHOTS`); rows of other versions are ignored.

    Raises
    ------
    ValueError
        If ``snapshots`` has no ``model_version`` column; else as :func:`label_arrival`.
    """
    if "model_version" not in snapshots.columns:
        raise ValueError(f"snapshots need a model_version column; they have {list(snapshots.columns)}")
    arrival: dict[str, dict | None] = {}
    for version in versions:
        rows = snapshots[(snapshots["model_version"] == version).to_numpy()]
        arrival[version] = label_arrival(rows, as_of_day, max_age=max_age) if len(rows) else None
    return arrival
