"""The calibration methods side by side on the same labeled outcomes.

Every labeled prediction of a report period is judged by each method with **that method's**
set in force when the prediction was made (the newest set of the method with ``as_of <=
predicted_at``; DESIGN.md section 4), so that the methods are compared on exactly the same
outcomes and none of them ever sees the label it is judged on.

What each method is judged on
-----------------------------
residual
    The interval ``[p - q, p + q]`` (:func:`fraudcal.conformal.interval_bounds`) holds label 0
    when its lower end is 0 and label 1 when its upper end is 1: its label set. An
    auto-ticket is a HIGH/CRITICAL prediction whose interval is narrower than the narrow
    threshold (the rule the online service applies today).
mondrian
    The label set ``{c : |p - c| <= q_c}`` with the per-class quantiles of the set in force
    (:mod:`fraudcal.mondrian`; the same comparisons as :func:`fraudcal.mondrian.label_sets`).
    An auto-ticket is a HIGH/CRITICAL prediction whose label set is ``{1}``. A window with
    fewer frauds than :func:`fraudcal.mondrian.minimum_class_size` at a level gives ``q_1 =
    1``: fraud is then in every set, its coverage is 100 % by construction and says nothing;
    the figures count the predictions judged with such a set (``too_few_frauds``).
venn_abers
    No label set and no auto-ticket: the width ``p1 - p0`` measures how much calibration
    data lies near the score, not how wrong the score may be (:mod:`fraudcal.venn_abers`), so
    it is no ticket signal. It is judged on the reliability of the merged probability ``p``:
    the ECE of the raw score against the ECE of ``p`` on the same outcomes (and Brier). Every
    HIGH/CRITICAL prediction goes to human review under it.

For the two label-set methods: coverage per level overall, of the legitimate cases and of the
confirmed frauds, each with a 95 % Wilson interval (:mod:`fraudcal.coverage`); the label-set
mix ``{0}``, ``{1}``, ``{0,1}``, empty; the auto-tickets, how many were legitimate, and the
human-review load (HIGH/CRITICAL predictions that were not auto-ticketed), as
:func:`fraudcal.coverage.automation` counts them; coverage per day.

Each method gets the verdict it would get as the default method (:func:`method_verdict`);
the version's status follows the default method (:func:`combined_verdict`), and
:func:`recommend` says which method's decisions a fraud lead should trust.

Examples
--------
>>> holds_zero, holds_one = mondrian_label_sets([0.05, 0.5, 0.97], [0.1, 0.1, 0.1], [0.4, 0.4, 0.4])
>>> label_set_counts(holds_zero, holds_one)
{'{0}': 1, '{1}': 1, '{0,1}': 0, 'empty': 1}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fraudcal.conformal import interval_bounds
from fraudcal.coverage import STATUS_ORDER, Coverage, automation, percent, plural, reliability_bins, wilson_interval
from fraudcal.defaults import DEFAULT_METHOD, MONDRIAN_METHOD, REPORTED_METHODS, RESIDUAL_METHOD, VENN_ABERS_METHOD
from fraudcal.inputs import checked_column, checked_outcomes
from fraudcal.metrics import brier_score, expected_calibration_error
from fraudcal.mondrian import LABEL_SET_NAMES, minimum_class_size

if TYPE_CHECKING:
    from fraudcal.venn_abers import VennAbersSet

# fraudcal.venn_abers (SciPy's isotonic regression) is imported inside venn_abers_in_force:
# fraudcal.drift uses the label-set functions here and should not pay for it.

#: The methods whose label sets decide auto-tickets, in the order the report lists them.
LABEL_SET_METHODS = (RESIDUAL_METHOD, MONDRIAN_METHOD)
#: How the findings name what each method gives a prediction.
METHOD_WORDS = {
    RESIDUAL_METHOD: "residual intervals",
    MONDRIAN_METHOD: "Mondrian label sets",
    VENN_ABERS_METHOD: "Venn-Abers probabilities",
}
#: How the findings name each method.
METHOD_NAMES = {RESIDUAL_METHOD: "residual", MONDRIAN_METHOD: "Mondrian", VENN_ABERS_METHOD: "Venn-Abers"}
#: Coverage groups, in the order a problem is worst: frauds, all, legitimate cases.
GROUPS = ("fraud", "overall", "legitimate")


# ------------------------------------------------------------------ label sets of each method


def residual_label_sets(
    probabilities: ArrayLike, quantile: ArrayLike
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Return whether each residual interval holds label 0 and whether it holds label 1.

    On the clamped bounds of :func:`fraudcal.conformal.interval_bounds`, so that the sets
    agree with :func:`fraudcal.coverage.interval_covers`. A NaN ``q`` (no set in force)
    holds neither.

    Examples
    --------
    >>> holds_zero, holds_one = residual_label_sets([0.0625, 0.5, 0.9375], 0.125)
    >>> holds_zero.tolist(), holds_one.tolist()
    ([True, False, False], [False, False, True])
    """
    lower, upper = interval_bounds(probabilities, quantile)
    return lower <= 0.0, upper >= 1.0


def mondrian_label_sets(
    probabilities: ArrayLike, q_zero: ArrayLike, q_one: ArrayLike
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Return whether each Mondrian label set holds 0 (``p <= q_0``) and 1 (``1 - p <= q_1``).

    Each row with its own quantiles (the set in force when it was predicted); the same
    comparisons, on the same floats, as :func:`fraudcal.mondrian.label_sets`. A NaN quantile
    holds nothing.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    return p <= np.asarray(q_zero, dtype=np.float64), (1.0 - p) <= np.asarray(q_one, dtype=np.float64)


def label_set_counts(holds_zero: ArrayLike, holds_one: ArrayLike) -> dict[str, int]:
    """Count the label sets ``{0}``, ``{1}``, ``{0,1}`` and empty."""
    zero, one = np.asarray(holds_zero, dtype=bool), np.asarray(holds_one, dtype=bool)
    counts = (zero & ~one, one & ~zero, zero & one, ~zero & ~one)
    return {name: int(members.sum()) for name, members in zip(LABEL_SET_NAMES, counts, strict=True)}


def coverage_of_counts(covered: int, n: int, target: float) -> Coverage:
    """A :class:`fraudcal.coverage.Coverage` from counts (what pooling over versions sums).

    Examples
    --------
    >>> coverage_of_counts(45, 50, 0.9).rate
    0.9
    """
    low, high = wilson_interval(covered, n)
    return Coverage(n=n, covered=covered, rate=covered / n if n else float("nan"), low=low, high=high, target=target)


def class_coverage(labels: ArrayLike, holds_zero: ArrayLike, holds_one: ArrayLike, target: float) -> dict[str, dict]:
    """Coverage ``overall``, of the ``legitimate`` cases and of the ``fraud`` cases (JSON-ready).

    A label is covered when its label set holds it.

    Examples
    --------
    >>> figures = class_coverage([0, 0, 1, 1], [True, False, True, True], [False, False, True, False], 0.9)
    >>> figures["legitimate"]["covered"], figures["fraud"]["covered"], figures["overall"]["rate"]
    (1, 1, 0.5)
    """
    y = np.asarray(labels, dtype=bool)
    covered = np.where(y, np.asarray(holds_one, dtype=bool), np.asarray(holds_zero, dtype=bool))
    return {
        "overall": coverage_of_counts(int(covered.sum()), int(covered.size), target).as_dict(),
        "legitimate": coverage_of_counts(int(covered[~y].sum()), int((~y).sum()), target).as_dict(),
        "fraud": coverage_of_counts(int(covered[y].sum()), int(y.sum()), target).as_dict(),
    }


# ------------------------------------------------------------------ Venn-Abers in force


def venn_abers_in_force(
    predicted_at: ArrayLike,
    scores: ArrayLike,
    as_ofs: ArrayLike,
    sets: Sequence[VennAbersSet | Mapping[str, Any]],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Return ``p0``, ``p1`` and the merged ``p`` of each score from the set in force when it was made.

    Parameters
    ----------
    predicted_at : array-like of datetime64, shape (n,)
        When each prediction was made (UTC).
    scores : array-like of shape (n,)
        The model's scores, finite and in [0, 1].
    as_ofs : array-like of datetime64, shape (m,)
        The sets' ``as_of``, strictly increasing (UTC).
    sets : sequence of VennAbersSet or its ``to_dict`` form, length m

    Returns
    -------
    p0, p1, p : ndarray of float64, shape (n,)
        From the newest set with ``as_of <= predicted_at`` (one
        :func:`fraudcal.venn_abers.venn_abers_probabilities` call per set); NaN where no set
        was in force.

    Raises
    ------
    ValueError
        If ``as_ofs`` and ``sets`` differ in length or ``as_ofs`` is not strictly increasing.
    fraudcal.inputs.InvalidOutcomesError
        If a score is not in [0, 1], or ``predicted_at`` differs in length.

    Examples
    --------
    >>> from fraudcal.venn_abers import fit_venn_abers
    >>> early, late = fit_venn_abers([0.2, 0.8], [0, 1]), fit_venn_abers([0.2, 0.8], [1, 0])
    >>> times = np.array(["2025-01-01T12", "2025-01-02T00", "2025-01-02T12"], dtype="datetime64[us]")
    >>> as_ofs = np.array(["2025-01-02", "2025-01-03"], dtype="datetime64[us]")
    >>> p0, p1, p = venn_abers_in_force(times, [0.8, 0.8, 0.8], as_ofs, [early, late])
    >>> p0.tolist()  # the first prediction has no set in force; the other two use the early one
    [nan, 0.5, 0.5]
    """
    from fraudcal.venn_abers import VennAbersSet, venn_abers_probabilities

    s = np.asarray(scores, dtype=np.float64)
    when = checked_column(predicted_at, s.size, "predicted_at").astype("datetime64[us]")
    times = np.asarray(as_ofs).astype("datetime64[us]")
    if times.size != len(sets):
        raise ValueError(f"{times.size} as_of values but {len(sets)} Venn-Abers sets")
    if times.size > 1 and not np.all(times[1:] > times[:-1]):
        raise ValueError("as_ofs must be strictly increasing (one current set per as_of)")
    position = np.searchsorted(times, when, side="right") - 1  # -1: before the first set
    p0, p1, p = (np.full(s.size, np.nan) for _ in range(3))
    for index in np.unique(position[position >= 0]):
        chosen = sets[int(index)]
        venn_abers = chosen if isinstance(chosen, VennAbersSet) else VennAbersSet.from_dict(chosen)
        members = position == index
        p0[members], p1[members], p[members] = venn_abers_probabilities(s[members], venn_abers)
    return p0, p1, p


# ------------------------------------------------------------------ figures per method


def label_set_figures(
    *,
    labels: NDArray[np.bool_],
    days: NDArray[np.datetime64],
    is_high_risk: NDArray[np.bool_],
    holds: Mapping[int, tuple[NDArray[np.bool_], NDArray[np.bool_]]],
    in_force: Mapping[int, NDArray[np.bool_]],
    level: int,
    auto_ticket: NDArray[np.bool_],
) -> dict[str, Any]:
    """The figures of one label-set method over the rows with its set in force.

    Parameters
    ----------
    labels, days, is_high_risk : ndarray of shape (n,)
        Checked columns of the labeled predictions.
    holds : dict of int to (holds_zero, holds_one)
        Per level, each row's label set.
    in_force : dict of int to ndarray of bool
        Per level, whether a set of the method with that level was in force for the row.
    level : int
        The level of the label-set mix, the automation and the days.
    auto_ticket : ndarray of bool
        Whether each row would have been auto-ticketed (read only where in force at ``level``).

    Returns
    -------
    dict
        ``n`` (rows in force at ``level``), ``without_set_in_force``, ``coverage`` (per level:
        :func:`class_coverage` over the rows in force at that level), ``label_sets``,
        ``automation`` and ``by_day`` at ``level``.
    """
    rows = in_force[level]
    figures: dict[str, Any] = {"n": int(rows.sum()), "without_set_in_force": int((~rows).sum())}
    figures["coverage"] = {
        str(lvl): class_coverage(labels[in_force[lvl]], zero[in_force[lvl]], one[in_force[lvl]], lvl / 100)
        for lvl, (zero, one) in sorted(holds.items())
    }
    zero, one = holds[level][0][rows], holds[level][1][rows]
    y, high, day = labels[rows], is_high_risk[rows], days[rows]
    figures["label_sets"] = label_set_counts(zero, one)
    figures["automation"] = automation(high, auto_ticket[rows], y)
    covered = np.where(y, one, zero)
    figures["by_day"] = []
    for current in np.unique(day):
        members = day == current
        overall = coverage_of_counts(int(covered[members].sum()), int(members.sum()), level / 100)
        frauds = members & y
        figures["by_day"].append(
            {
                "day": str(current),
                **overall.as_dict(),
                "fraud_n": int(frauds.sum()),
                "fraud_covered": int(covered[frauds].sum()),
            }
        )
    return figures


def venn_abers_figures(
    scores: ArrayLike, labels: ArrayLike, p0: ArrayLike, p1: ArrayLike, p: ArrayLike, is_high_risk: ArrayLike
) -> dict[str, Any]:
    """Reliability of Venn-Abers' merged probability against the raw score, on the rows with a set.

    Parameters
    ----------
    scores, labels : array-like of shape (n,)
        The raw model scores and the labels.
    p0, p1, p : array-like of shape (n,)
        From :func:`venn_abers_in_force` (NaN: no set in force; such rows are left out).
    is_high_risk : array-like of bool, shape (n,)

    Returns
    -------
    dict
        ``n``, ``without_set_in_force``, ``frauds``, ``observed_rate``; ``ece_raw`` and
        ``ece_p`` (10 equal-mass bins, :func:`fraudcal.metrics.expected_calibration_error`),
        ``brier_raw`` and ``brier_p``; ``mean_raw`` and ``mean_p``; ``mean_width`` and
        ``median_width`` of ``[p0, p1]``; ``reliability`` (bins of ``p``); ``automation``:
        no auto-ticket, every HIGH/CRITICAL prediction to human review.

    Examples
    --------
    >>> figures = venn_abers_figures([0.1, 0.9], [0, 1], [0.0, 0.5], [0.5, 1.0], [1 / 3, 2 / 3], [False, True])
    >>> figures["n"], figures["automation"]["auto_tickets"], figures["automation"]["human_reviews"]
    (2, 0, 1)
    """
    s, y = checked_outcomes(scores, labels)
    low = checked_column(p0, s.size, "p0").astype(np.float64)
    high = checked_column(p1, s.size, "p1").astype(np.float64)
    merged = checked_column(p, s.size, "p").astype(np.float64)
    risky = checked_column(is_high_risk, s.size, "is_high_risk").astype(bool)
    rows = np.isfinite(merged)
    s, y, low, high, merged, risky = s[rows], y[rows], low[rows], high[rows], merged[rows], risky[rows]
    n = int(s.size)
    nan = float("nan")
    width = high - low
    return {
        "n": n,
        "without_set_in_force": int((~rows).sum()),
        "frauds": int(y.sum()),
        "observed_rate": float(y.mean()) if n else nan,
        "ece_raw": expected_calibration_error(s, y),
        "ece_p": expected_calibration_error(merged, y),
        "brier_raw": brier_score(s, y),
        "brier_p": brier_score(merged, y),
        "mean_raw": float(s.mean()) if n else nan,
        "mean_p": float(merged.mean()) if n else nan,
        "mean_width": float(width.mean()) if n else nan,
        "median_width": float(np.median(width)) if n else nan,
        "reliability": reliability_bins(merged, y),
        "automation": automation(risky, np.zeros(n, dtype=bool), y),
    }


# ------------------------------------------------------------------ verdicts


def _worse(current: str, candidate: str) -> str:
    return max(current, candidate, key=STATUS_ORDER.index)


def _stale(age: float | None, stale_after_hours: float) -> bool:
    return age is None or age > stale_after_hours


def method_verdict(
    method: str,
    figures: Mapping[str, Any],
    *,
    model_version: str,
    level: int,
    newest_set_age_hours: float | None,
    stale_after_hours: float,
) -> tuple[str, list[str]]:
    """The status a method would give its version as the default method, and the findings why.

    Label-set methods (residual, Mondrian): **red** when the confirmed frauds or all
    predictions are covered below target beyond the Wilson interval at ``level``, or the
    method's newest set is missing or older than ``stale_after_hours``; **amber** for
    legitimate cases below target, days below target, no prediction with a set in force, or
    (Mondrian) predictions judged with a set that had too few frauds at ``level`` to ever
    leave fraud out; **green** otherwise. Venn-Abers makes no coverage claim: red only when
    stale, amber without a set in force; its reliability is stated, not judged.

    Parameters
    ----------
    method : str
        One of :data:`fraudcal.defaults.REPORTED_METHODS`.
    figures : dict
        The method's entry of :func:`compare_methods` (:func:`label_set_figures` or
        :func:`venn_abers_figures`, Mondrian's with ``too_few_frauds``).
    model_version : str
        Named at the start of every finding.
    level : int
        The level whose coverage decides.
    newest_set_age_hours : float or None
        Age of the method's newest set of the version (None: no set recorded: red, said once).
    stale_after_hours : float

    Returns
    -------
    status : str
        ``green``, ``amber`` or ``red``.
    findings : list of str
        Plain sentences, worst first, each starting with the version.
    """
    words = METHOD_WORDS[method]
    status, findings = "green", []
    if newest_set_age_hours is None:
        # Nothing recorded at all: one sentence says it (not also "nothing in force" and "stale").
        return "red", [f"{model_version}: no {METHOD_NAMES[method]} calibration set is recorded"]
    if figures["n"] == 0:
        findings.append(
            f"{model_version}: no labeled prediction had a {METHOD_NAMES[method]} set in force, so the {words} "
            "cannot be judged"
        )
        status = "amber"
    elif method in LABEL_SET_METHODS:
        chosen = figures["coverage"][str(level)]
        for group, wording in (
            ("fraud", "of the confirmed frauds"),
            ("overall", "of all labeled predictions"),
            ("legitimate", "of the legitimate cases"),
        ):
            entry = chosen[group]
            if entry["n"] and entry["high"] < entry["target"]:
                findings.append(
                    f"{model_version}: the {level} % {words} contained {percent(entry['rate'])} {wording} "
                    f"({entry['covered']:,} of {entry['n']:,}; target {level} %; 95 % Wilson interval "
                    f"{percent(entry['low'])} to {percent(entry['high'])})"
                )
                status = _worse(status, "amber" if group == "legitimate" else "red")
        low_days = [row["day"] for row in figures["by_day"] if row["n"] and row["high"] < row["target"]]
        if low_days:
            findings.append(
                f"{model_version}: the {words}' coverage was below target beyond the Wilson interval on "
                f"{plural(len(low_days), 'day')}: {', '.join(low_days)}"
            )
            status = _worse(status, "amber")
        for lvl, entry in figures.get("too_few_frauds", {}).items():
            findings.append(
                f"{model_version}: {plural(entry['predictions'], 'prediction')} (on {', '.join(entry['days'])}) "
                f"{'was' if entry['predictions'] == 1 else 'were'} judged with a Mondrian set whose window had "
                f"only {plural(entry['fewest_frauds'], 'confirmed fraud')}; at {lvl} % a window needs at least "
                f"{entry['needed']:,} for the label sets ever to leave fraud out, so for them fraud was in every "
                "set and their fraud coverage says nothing"
            )
            if lvl == str(level):
                status = _worse(status, "amber")
    else:
        if figures["ece_p"] > figures["ece_raw"]:
            findings.append(
                f"{model_version}: Venn-Abers' probability was less calibrated than the raw score here "
                f"(ECE {figures['ece_p']:.4f} against {figures['ece_raw']:.4f})"
            )
    if _stale(newest_set_age_hours, stale_after_hours):
        findings.append(
            f"{model_version}: stale {METHOD_NAMES[method]} calibration (the newest set is "
            f"{newest_set_age_hours:.0f} h old; limit {stale_after_hours:.0f} h)"
        )
        status = "red"
    return status, findings


def compare_methods(
    *,
    model_version: str,
    days: ArrayLike,
    probabilities: ArrayLike,
    labels: ArrayLike,
    is_high_risk: ArrayLike,
    residual_quantiles: Mapping[int, ArrayLike],
    mondrian_quantiles: Mapping[int, tuple[ArrayLike, ArrayLike]],
    mondrian_frauds: Mapping[int, ArrayLike],
    venn_abers: tuple[ArrayLike, ArrayLike, ArrayLike] | None,
    level: int,
    narrow_threshold: float,
    set_ages: Mapping[str, float | None],
    stale_after_hours: float,
) -> dict[str, Any]:
    """Every method's figures on one version's labeled predictions, each with its own set in force.

    Parameters
    ----------
    days : array-like of datetime64[D]
        The day of each prediction.
    probabilities, labels : array-like of shape (n,)
        The labeled predictions (:mod:`fraudcal.inputs`).
    is_high_risk : array-like of bool
        Whether each prediction was HIGH or CRITICAL.
    residual_quantiles : dict of int to array-like
        Per level, the residual ``q`` in force for each prediction (NaN: none).
    mondrian_quantiles : dict of int to (array-like, array-like)
        Per level, the Mondrian ``(q_0, q_1)`` in force (NaN: none). A level missing here has
        no Mondrian set in force anywhere.
    mondrian_frauds : dict of int to array-like
        Per level, the frauds ``n_1`` of the window of the Mondrian set in force (NaN: none).
    venn_abers : (p0, p1, p) or None
        From :func:`venn_abers_in_force`; None: no Venn-Abers set at all.
    level : int
        The level of the mix, the automation and the days; must be a key of ``residual_quantiles``.
    narrow_threshold : float
        The residual auto-ticket rule: width below this on HIGH/CRITICAL.
    set_ages : dict of str to float or None
        Per method, the age in hours of the version's newest set (absent or None: no set).

    Returns
    -------
    dict
        ``level`` and ``methods``: per method (:data:`fraudcal.defaults.REPORTED_METHODS` order) its
        figures (:func:`label_set_figures` or :func:`venn_abers_figures`) with
        ``newest_set_age_hours``, ``status`` and ``findings`` (:func:`method_verdict`), and
        for Mondrian ``too_few_frauds``: per level where it happened, the predictions judged
        with a set whose window had fewer frauds than the level needs, their days, the fewest
        frauds and the number needed.

    Raises
    ------
    fraudcal.inputs.InvalidOutcomesError
        If a probability or label breaks the input contract or a column's length differs.
    ValueError
        If ``level`` has no residual quantiles.

    Examples
    --------
    >>> figures = compare_methods(
    ...     model_version="v1", days=np.array(["2025-02-01"] * 2, dtype="datetime64[D]"),
    ...     probabilities=[0.05, 0.9], labels=[0, 1], is_high_risk=[False, True],
    ...     residual_quantiles={50: [0.1, 0.1]}, mondrian_quantiles={50: ([0.1, 0.1], [0.2, 0.2])},
    ...     mondrian_frauds={50: [1.0, 1.0]}, venn_abers=None, level=50, narrow_threshold=0.2,
    ...     set_ages={"residual": 1.0, "mondrian": 1.0}, stale_after_hours=36)
    >>> figures["methods"]["mondrian"]["label_sets"], figures["methods"]["mondrian"]["automation"]["auto_tickets"]
    ({'{0}': 1, '{1}': 1, '{0,1}': 0, 'empty': 0}, 1)
    """
    p, y = checked_outcomes(probabilities, labels)
    high = checked_column(is_high_risk, p.size, "is_high_risk").astype(bool)
    day = checked_column(days, p.size, "days").astype("datetime64[D]")
    residual = {
        int(lvl): checked_column(values, p.size, f"residual_quantiles[{lvl}]").astype(np.float64)
        for lvl, values in residual_quantiles.items()
    }
    if level not in residual:
        raise ValueError(f"level {level} has no quantiles (levels given: {sorted(residual)})")
    nan = np.full(p.size, np.nan)
    mondrian = {}
    frauds = {}
    for lvl in residual:
        q_zero, q_one = mondrian_quantiles.get(lvl, (nan, nan))
        mondrian[lvl] = (
            checked_column(q_zero, p.size, f"mondrian_quantiles[{lvl}][0]").astype(np.float64),
            checked_column(q_one, p.size, f"mondrian_quantiles[{lvl}][1]").astype(np.float64),
        )
        frauds[lvl] = checked_column(mondrian_frauds.get(lvl, nan), p.size, f"mondrian_frauds[{lvl}]").astype(np.float64)

    methods: dict[str, dict[str, Any]] = {}
    lower, upper = interval_bounds(p, residual[level])
    methods[RESIDUAL_METHOD] = label_set_figures(
        labels=y,
        days=day,
        is_high_risk=high,
        holds={lvl: residual_label_sets(p, q) for lvl, q in residual.items()},
        in_force={lvl: np.isfinite(q) for lvl, q in residual.items()},
        level=level,
        auto_ticket=high & ((upper - lower) < narrow_threshold),
    )
    holds = {lvl: mondrian_label_sets(p, q_zero, q_one) for lvl, (q_zero, q_one) in mondrian.items()}
    in_force = {lvl: np.isfinite(q_zero) & np.isfinite(q_one) for lvl, (q_zero, q_one) in mondrian.items()}
    zero, one = holds[level]
    methods[MONDRIAN_METHOD] = label_set_figures(
        labels=y, days=day, is_high_risk=high, holds=holds, in_force=in_force, level=level, auto_ticket=high & one & ~zero
    )
    methods[MONDRIAN_METHOD]["too_few_frauds"] = _too_few_frauds(frauds, in_force, day)
    if venn_abers is None:
        venn_abers = (nan, nan, nan)
    methods[VENN_ABERS_METHOD] = venn_abers_figures(p, y, *venn_abers, high)
    for method, figures in methods.items():
        age = set_ages.get(method)
        status, findings = method_verdict(
            method,
            figures,
            model_version=model_version,
            level=level,
            newest_set_age_hours=age,
            stale_after_hours=stale_after_hours,
        )
        figures.update(newest_set_age_hours=age, set_stale=_stale(age, stale_after_hours), status=status, findings=findings)
    return {"level": level, "methods": methods}


def _too_few_frauds(
    frauds: Mapping[int, NDArray[np.float64]], in_force: Mapping[int, NDArray[np.bool_]], day: NDArray[np.datetime64]
) -> dict[str, dict[str, Any]]:
    """Per level, the predictions judged with a Mondrian set whose window had too few frauds."""
    flagged = {}
    for lvl, count in sorted(frauds.items()):
        needed = minimum_class_size(lvl)
        rows = in_force[lvl] & (count < needed)
        if rows.any():
            flagged[str(lvl)] = {
                "predictions": int(rows.sum()),
                "days": [str(value) for value in np.unique(day[rows])],
                "fewest_frauds": int(count[rows].min()),
                "needed": needed,
            }
    return flagged


# ------------------------------------------------------------------ the version and the report


def combined_verdict(
    residual_figures: Mapping[str, Any], comparison: Mapping[str, Any], default_method: str
) -> tuple[str, list[str], list[str]]:
    """The version's status and findings, following the default method.

    With ``residual`` as the default the status and findings are those of
    :func:`fraudcal.coverage.version_figures` (the residual report as it always was). Otherwise
    they are the default method's (:func:`method_verdict`), and the residual report's findings
    move to the other methods' findings: stated, not deciding the status, since the online
    service does not act on them.

    Returns
    -------
    status : str
    findings : list of str
        What decides the status (the default method), worst first.
    other_findings : list of str
        The other methods' findings.

    Raises
    ------
    ValueError
        If ``default_method`` is not a calibration method.
    """
    if default_method not in REPORTED_METHODS:
        raise ValueError(f"default_method {default_method!r} is not a calibration method; expected one of {list(REPORTED_METHODS)}")
    methods = comparison["methods"]
    others = [method for method in REPORTED_METHODS if method not in (default_method, RESIDUAL_METHOD)]
    other_findings = [finding for method in others for finding in methods[method]["findings"]]
    if default_method == RESIDUAL_METHOD:
        return residual_figures["status"], list(residual_figures["findings"]), other_findings
    chosen = methods[default_method]
    return chosen["status"], list(chosen["findings"]), list(residual_figures["findings"]) + other_findings


def pool_comparisons(comparisons: Sequence[Mapping[str, Any]], level: int) -> dict[str, dict[str, Any]]:
    """The label-set methods' figures summed over versions (counts add; rates and Wilson recomputed).

    Parameters
    ----------
    comparisons : sequence of dict
        :func:`compare_methods` results of the measured versions.
    level : int
        The level whose label sets and automation are pooled.

    Returns
    -------
    dict
        Per label-set method: ``n``, ``coverage`` (per level and group, as
        :func:`class_coverage`), ``label_sets`` and ``automation`` (as
        :func:`fraudcal.coverage.automation`), and for Mondrian ``too_few_frauds`` (levels
        where some version had such predictions, with their count). Venn-Abers figures are
        not additive: compute them on the pooled rows with :func:`venn_abers_figures`.

    Examples
    --------
    >>> one = {"n": 2, "coverage": {"50": {g: {"n": 2, "covered": 1} for g in GROUPS}},
    ...        "label_sets": {"{0}": 2}, "automation": {"high_risk": 1, "auto_tickets": 1, "human_reviews": 0,
    ...        "legitimate_auto_tickets": 0, "legitimate_reviews": 0}}
    >>> pooled = pool_comparisons([{"methods": {"residual": one, "mondrian": one}}] * 2, 50)
    >>> pooled["mondrian"]["coverage"]["50"]["fraud"]["rate"], pooled["mondrian"]["automation"]["auto_tickets"]
    (0.5, 2)
    """
    pooled: dict[str, dict[str, Any]] = {}
    for method in LABEL_SET_METHODS:
        parts = [comparison["methods"][method] for comparison in comparisons]
        coverage_sums: dict[str, dict[str, list[int]]] = {}
        for part in parts:
            for lvl, groups in part["coverage"].items():
                for group in GROUPS:
                    sums = coverage_sums.setdefault(lvl, {}).setdefault(group, [0, 0])
                    sums[0] += groups[group]["covered"]
                    sums[1] += groups[group]["n"]
        counts = ("high_risk", "auto_tickets", "human_reviews", "legitimate_auto_tickets", "legitimate_reviews")
        tickets = {name: sum(part["automation"][name] for part in parts) for name in counts}
        pooled[method] = {
            "n": sum(part["n"] for part in parts),
            "coverage": {
                lvl: {
                    group: coverage_of_counts(covered, n, int(lvl) / 100).as_dict()
                    for group, (covered, n) in groups.items()
                }
                for lvl, groups in sorted(coverage_sums.items(), key=lambda item: float(item[0]))
            },
            "label_sets": {name: sum(part["label_sets"].get(name, 0) for part in parts) for name in LABEL_SET_NAMES},
            "automation": {**tickets, **_shares(tickets)},
        }
    too_few: dict[str, int] = {}
    for comparison in comparisons:
        for lvl, entry in comparison["methods"][MONDRIAN_METHOD].get("too_few_frauds", {}).items():
            too_few[lvl] = too_few.get(lvl, 0) + entry["predictions"]
    pooled[MONDRIAN_METHOD]["too_few_frauds"] = too_few
    return pooled


def _shares(tickets: Mapping[str, int]) -> dict[str, float]:
    """The rates of :func:`fraudcal.coverage.automation` from its counts."""
    nan = float("nan")
    return {
        "automation_rate": tickets["auto_tickets"] / tickets["high_risk"] if tickets["high_risk"] else nan,
        "auto_ticket_legitimate_share": (
            tickets["legitimate_auto_tickets"] / tickets["auto_tickets"] if tickets["auto_tickets"] else nan
        ),
        "review_legitimate_share": (
            tickets["legitimate_reviews"] / tickets["human_reviews"] if tickets["human_reviews"] else nan
        ),
    }


def _on_target(coverage_at_level: Mapping[str, Mapping[str, Any]]) -> bool:
    """Frauds measured, and no group below target beyond its Wilson interval."""
    fraud = coverage_at_level["fraud"]
    return fraud["n"] > 0 and not any(
        coverage_at_level[group]["n"] and coverage_at_level[group]["high"] < coverage_at_level[group]["target"]
        for group in GROUPS
    )


def recommend(pooled: Mapping[str, Mapping[str, Any]], level: int, default_method: str = DEFAULT_METHOD) -> dict[str, Any]:
    """Which label-set method's decisions a fraud lead should trust, from the pooled figures.

    A method is *on target* when the period had confirmed frauds with its set in force and
    none of its groups (frauds, all, legitimate cases) is below target beyond the Wilson
    interval at ``level``. One on target and the other not: trust that one. Both: trust the
    default method (Mondrian when the default is Venn-Abers, which decides no tickets).
    Neither: trust no auto-ticket.

    Returns
    -------
    dict
        ``method`` (``residual``, ``mondrian`` or None), ``reason`` (``only_one``,
        ``both``, ``neither``, ``no_frauds``: no confirmed fraud with a set in force) and
        ``measured``: the label-set methods with predictions in force.

    Examples
    --------
    >>> def at(rate):
    ...     return {"n": 1} | {"coverage": {"50": {g: {"n": 100, "covered": int(rate * 100), "rate": rate,
    ...             "high": rate + 0.05, "target": 0.5} for g in GROUPS}}}
    >>> recommend({"residual": at(0.1), "mondrian": at(0.6)}, 50)["method"]
    'mondrian'
    >>> recommend({"residual": at(0.1), "mondrian": at(0.1)}, 50)["reason"]
    'neither'
    """
    measured = [method for method in LABEL_SET_METHODS if pooled[method]["n"]]
    if not any(pooled[method]["coverage"][str(level)]["fraud"]["n"] for method in measured):
        return {"method": None, "reason": "no_frauds", "measured": measured}
    good = [method for method in measured if _on_target(pooled[method]["coverage"][str(level)])]
    if not good:
        return {"method": None, "reason": "neither", "measured": measured}
    if len(good) == 1:
        return {"method": good[0], "reason": "only_one", "measured": measured}
    preferred = default_method if default_method in good else MONDRIAN_METHOD
    return {"method": preferred, "reason": "both", "measured": measured}
