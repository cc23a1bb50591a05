"""The methods side by side: each figure against a brute-force recomputation, and the verdicts."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right

import numpy as np
import pytest

from fraudcal.comparison import (
    combined_verdict,
    compare_methods,
    method_verdict,
    pool_comparisons,
    recommend,
    venn_abers_figures,
    venn_abers_in_force,
)
from fraudcal.coverage import version_figures
from fraudcal.mondrian import compute_mondrian, label_set_names
from fraudcal.venn_abers import fit_venn_abers

LEVELS = (90, 95, 99)
DAY = np.datetime64("2025-02-01", "D")


def _window(rng, n, fraud_rate=0.1):
    p = rng.beta(0.5, 4.5, n)
    return p, rng.random(n) < np.clip(p + fraud_rate - 0.1, 0, 1)


def _history(seed=0, n=3_000, sets=4):
    """Labeled predictions over 4 days; each day has its own Mondrian and Venn-Abers set, fitted
    on a window of its own; the first 500 rows come before the first set."""
    rng = np.random.default_rng(seed)
    p, y = _window(rng, n)
    p[:7] = [0.0, 1.0, 0.5, 0.25, 0.75, 0.125, 0.875]  # exact values and the ends of [0, 1]
    when = np.datetime64("2025-02-01T00:00", "us") + np.sort(rng.integers(0, 4 * 86_400_000_000, n)).astype("timedelta64[us]")
    as_ofs = np.datetime64("2025-02-01T06:00", "us") + np.arange(sets) * np.timedelta64(1, "D")
    windows = [_window(rng, int(rng.integers(40, 400))) for _ in range(sets)]
    mondrian = [compute_mondrian(wp, wy) for wp, wy in windows]
    venn_abers = [fit_venn_abers(wp, wy) for wp, wy in windows]
    return p, y, when, as_ofs, mondrian, venn_abers, rng


def _in_force(when, as_ofs):
    """Brute force: index of the newest as_of <= t, or None."""
    return [max((i for i, a in enumerate(as_ofs) if a <= t), default=None) for t in when]


def _arrays(p, when, as_ofs, mondrian):
    """Per level the (q0, q1) and n1 of the Mondrian set in force, NaN before the first set."""
    position = _in_force(when, as_ofs)
    quantiles, frauds = {}, {}
    for level in LEVELS:
        q0 = np.array([math.nan if i is None else mondrian[i].quantiles(level)[0] for i in position])
        q1 = np.array([math.nan if i is None else mondrian[i].quantiles(level)[1] for i in position])
        quantiles[level] = (q0, q1)
        frauds[level] = np.array([math.nan if i is None else mondrian[i].levels[str(level)]["1"]["n"] for i in position])
    return quantiles, frauds


def _compare(p, y, high, residual, quantiles, frauds, venn_abers=None, day=None, **changes):
    arguments = {
        "model_version": "v1",
        "days": np.full(p.size, DAY) if day is None else day,
        "probabilities": p,
        "labels": y,
        "is_high_risk": high,
        "residual_quantiles": residual,
        "mondrian_quantiles": quantiles,
        "mondrian_frauds": frauds,
        "venn_abers": venn_abers,
        "level": 90,
        "narrow_threshold": 0.2,
        "set_ages": {"residual": 1.0, "mondrian": 1.0, "venn_abers": 1.0},
        "stale_after_hours": 36,
    }
    return compare_methods(**{**arguments, **changes})


def test_mondrian_figures_equal_a_row_by_row_recomputation_with_the_set_in_force():
    p, y, when, as_ofs, mondrian, _, _ = _history()
    high = p > 0.4
    quantiles, frauds = _arrays(p, when, as_ofs, mondrian)
    residual = {level: np.full(p.size, 0.3) for level in LEVELS}
    figures = _compare(p, y, high, residual, quantiles, frauds)["methods"]["mondrian"]
    position = _in_force(when, as_ofs)
    for level in LEVELS:
        expected = {"fraud": [0, 0], "legitimate": [0, 0]}
        for score, label, index in zip(p.tolist(), y.tolist(), position, strict=True):
            if index is None:
                continue
            # The label set as fraudcal.mondrian names it for this one score and its own set.
            name = label_set_names([score], mondrian[index], level)[0]
            group = expected["fraud" if label else "legitimate"]
            group[1] += 1
            group[0] += name in (("{1}", "{0,1}") if label else ("{0}", "{0,1}"))
        got = figures["coverage"][str(level)]
        assert [got["fraud"]["covered"], got["fraud"]["n"]] == expected["fraud"], level
        assert [got["legitimate"]["covered"], got["legitimate"]["n"]] == expected["legitimate"], level
        assert got["overall"]["n"] == sum(position_ is not None for position_ in position)
    names = [None if i is None else label_set_names([s], mondrian[i], 90)[0] for s, i in zip(p, position, strict=True)]
    assert figures["label_sets"] == {name: names.count(name) for name in ("{0}", "{1}", "{0,1}", "empty")}
    tickets = [i for i, name in enumerate(names) if name == "{1}" and high[i]]
    assert figures["automation"]["auto_tickets"] == len(tickets)
    assert figures["automation"]["legitimate_auto_tickets"] == sum(not y[i] for i in tickets)
    reviews = [i for i, name in enumerate(names) if name is not None and name != "{1}" and high[i]]
    assert figures["automation"]["human_reviews"] == len(reviews)
    assert figures["without_set_in_force"] == names.count(None) > 0


def test_the_residual_entry_agrees_with_the_residual_report():
    p, y, when, as_ofs, mondrian, _, rng = _history(seed=1)
    residual = {level: np.where(np.arange(p.size) < 300, np.nan, rng.uniform(0.05, 0.6, p.size)) for level in LEVELS}
    high = p > 0.4
    quantiles, frauds = _arrays(p, when, as_ofs, mondrian)
    entry = _compare(p, y, high, residual, quantiles, frauds)["methods"]["residual"]
    report = version_figures(
        model_version="v1", days=np.full(p.size, DAY), probabilities=p, labels=y, is_high_risk=high,
        quantiles=residual, level=90, narrow_threshold=0.2, newest_set_age_hours=1.0, stale_after_hours=36,
    )
    for level in LEVELS:
        for group in ("overall", "legitimate", "fraud"):
            assert entry["coverage"][str(level)][group] == report["coverage"][str(level)][group]
    assert entry["label_sets"] == report["label_sets"] and entry["automation"] == report["automation"]
    assert entry["status"] == report["status"]


def test_venn_abers_in_force_equals_a_lookup_per_row_in_plain_python():
    p, y, when, as_ofs, _, venn_abers, _ = _history(seed=2)
    p0, p1, merged = venn_abers_in_force(when, p, as_ofs, [va.to_dict() for va in venn_abers])
    for i, index in enumerate(_in_force(when, as_ofs)):
        if index is None:
            assert math.isnan(p0[i]) and math.isnan(p1[i]) and math.isnan(merged[i])
            continue
        # The representation of fraudcal.venn_abers, read with bisect (its module docstring).
        stored = venn_abers[index].to_dict()
        low = bisect_right(stored["p0"]["lower"], p[i]) - 1
        expected_p0 = stored["p0"]["value"][low] if low >= 0 else 0.0
        high = bisect_left(stored["p1"]["upper"], p[i])
        expected_p1 = stored["p1"]["value"][high] if high < len(stored["p1"]["upper"]) else 1.0
        assert (p0[i], p1[i]) == (expected_p0, expected_p1), i
        assert merged[i] == expected_p1 / (1.0 - expected_p0 + expected_p1)


def _brute_force_ece(p, y, bins=10):
    order = sorted(range(len(p)), key=lambda i: (p[i], y[i]))
    total = 0.0
    for part in np.array_split(np.asarray(order), bins):
        total += abs(sum(p[i] for i in part) - sum(y[i] for i in part))
    return total / len(p)


def test_venn_abers_figures_are_the_reliability_of_p_against_the_raw_score():
    p, y, when, as_ofs, _, venn_abers, _ = _history(seed=3)
    high = p > 0.4
    p0, p1, merged = venn_abers_in_force(when, p, as_ofs, venn_abers)
    figures = venn_abers_figures(p, y, p0, p1, merged, high)
    rows = np.isfinite(merged)
    assert figures["n"] == rows.sum() and figures["without_set_in_force"] == (~rows).sum() > 0
    assert figures["ece_raw"] == pytest.approx(_brute_force_ece(p[rows].tolist(), y[rows].astype(float).tolist()), abs=1e-12)
    assert figures["ece_p"] == pytest.approx(_brute_force_ece(merged[rows].tolist(), y[rows].astype(float).tolist()), abs=1e-12)
    assert figures["brier_p"] == pytest.approx(np.mean((merged[rows] - y[rows]) ** 2), abs=1e-15)
    assert figures["mean_width"] == pytest.approx(np.mean(p1[rows] - p0[rows]), abs=1e-15)
    # No auto-ticket: every HIGH/CRITICAL prediction with a set in force goes to human review.
    assert figures["automation"]["auto_tickets"] == 0
    assert figures["automation"]["human_reviews"] == (high & rows).sum()
    assert figures["automation"]["legitimate_reviews"] == (high & rows & ~y).sum()


def test_pooling_over_versions_equals_the_figures_of_the_pooled_rows():
    parts = []
    for seed in (4, 5, 6):
        p, y, when, as_ofs, mondrian, _, _ = _history(seed=seed, n=800)
        quantiles, frauds = _arrays(p, when, as_ofs, mondrian)
        parts.append((p, y, p > 0.4, {level: np.full(p.size, 0.3) for level in LEVELS}, quantiles, frauds))
    pooled = pool_comparisons([_compare(*part) for part in parts], 90)

    def joined(index):
        return np.concatenate([part[index] for part in parts])

    together = _compare(
        joined(0), joined(1), joined(2),
        {level: np.concatenate([part[3][level] for part in parts]) for level in LEVELS},
        {level: tuple(np.concatenate([part[4][level][k] for part in parts]) for k in (0, 1)) for level in LEVELS},
        {level: np.concatenate([part[5][level] for part in parts]) for level in LEVELS},
    )["methods"]
    for method in ("residual", "mondrian"):
        for level in LEVELS:
            for group in ("overall", "legitimate", "fraud"):
                assert pooled[method]["coverage"][str(level)][group] == together[method]["coverage"][str(level)][group]
        assert pooled[method]["label_sets"] == together[method]["label_sets"]
        assert pooled[method]["automation"] == pytest.approx(together[method]["automation"], nan_ok=True)


def test_a_window_with_too_few_frauds_is_flagged_per_level_and_makes_the_default_amber():
    # 8 frauds in the window: one too few at 90 % (9), far too few at 95 % (19) and 99 % (99).
    window = compute_mondrian([0.5] * 8 + [0.1] * 100, [1] * 8 + [0] * 100)
    p = np.array([0.05, 0.3, 0.6, 0.9])
    y = np.array([0, 0, 1, 1])
    quantiles = {level: tuple(np.full(4, q) for q in window.quantiles(level)) for level in LEVELS}
    frauds = {level: np.full(4, 8.0) for level in LEVELS}
    figures = _compare(p, y, np.zeros(4, bool), {level: np.full(4, 0.3) for level in LEVELS}, quantiles, frauds)
    mondrian = figures["methods"]["mondrian"]
    assert mondrian["too_few_frauds"]["90"] == {"predictions": 4, "days": ["2025-02-01"], "fewest_frauds": 8, "needed": 9}
    assert set(mondrian["too_few_frauds"]) == {"90", "95", "99"}
    assert mondrian["coverage"]["90"]["fraud"]["rate"] == 1.0  # q1 = 1: fraud in every set, by construction
    assert mondrian["status"] == "amber"
    assert any("only 8 confirmed frauds; at 90 % a window needs at least 9" in finding for finding in mondrian["findings"])


def _coverage(rate, n=100, level=90):
    covered = round(rate * n)
    from fraudcal.comparison import coverage_of_counts

    return coverage_of_counts(covered, n, level / 100).as_dict()


def _method(fraud, legitimate=0.9, n=1_000):
    groups = {"fraud": _coverage(fraud), "legitimate": _coverage(legitimate, n), "overall": _coverage(legitimate, n)}
    return {"n": n, "coverage": {"90": groups}, "label_sets": {}, "automation": {}}


def test_recommend_trusts_the_method_that_covers_the_frauds():
    assert recommend({"residual": _method(0.0), "mondrian": _method(0.91)}, 90) == {
        "method": "mondrian", "reason": "only_one", "measured": ["residual", "mondrian"],
    }
    assert recommend({"residual": _method(0.92), "mondrian": _method(0.70)}, 90)["method"] == "residual"
    neither = recommend({"residual": _method(0.0), "mondrian": _method(0.70)}, 90)
    assert (neither["method"], neither["reason"]) == (None, "neither")
    assert recommend({"residual": _method(0.93), "mondrian": _method(0.92)}, 90, "residual")["method"] == "residual"
    assert recommend({"residual": _method(0.93), "mondrian": _method(0.92)}, 90, "venn_abers")["method"] == "mondrian"
    absent = {**_method(0.0), "n": 0}
    assert recommend({"residual": _method(0.0), "mondrian": absent}, 90)["measured"] == ["residual"]


def test_the_status_follows_the_default_method():
    # Residual misses every fraud; Mondrian covers them.
    p = np.array([0.05] * 950 + [0.3] * 50)
    y = np.array([0] * 950 + [1] * 50)
    residual = {level: np.full(1_000, 0.1) for level in LEVELS}
    quantiles = {level: (np.full(1_000, 0.1), np.full(1_000, 0.8)) for level in LEVELS}
    frauds = {level: np.full(1_000, 200.0) for level in LEVELS}
    comparison = _compare(p, y, np.zeros(1_000, bool), residual, quantiles, frauds)
    report = version_figures(
        model_version="v1", days=np.full(1_000, DAY), probabilities=p, labels=y, is_high_risk=np.zeros(1_000, bool),
        quantiles=residual, level=90, narrow_threshold=0.2, newest_set_age_hours=1.0, stale_after_hours=36,
    )
    assert report["status"] == "red"
    status, findings, others = combined_verdict(report, comparison, "residual")
    assert status == "red" and findings == report["findings"]
    status, findings, others = combined_verdict(report, comparison, "mondrian")
    assert status == "green" and findings == []
    assert report["findings"][0] in others  # the residual shortfall is still said
    status, findings, _ = combined_verdict(report, comparison, "venn_abers")
    assert status == "amber" and "no labeled prediction had a Venn-Abers set in force" in findings[0]
    with pytest.raises(ValueError, match="default_method 'isotonic' is not a calibration method"):
        combined_verdict(report, comparison, "isotonic")


def test_a_method_without_any_set_is_said_once_and_red():
    status, findings = method_verdict(
        "mondrian", {"n": 0}, model_version="v2", level=90, newest_set_age_hours=None, stale_after_hours=36
    )
    assert (status, findings) == ("red", ["v2: no Mondrian calibration set is recorded"])


@pytest.mark.statistical
def test_on_rare_fraud_mondrian_covers_the_frauds_and_is_the_one_to_trust():
    """Seeded: a calibrated model with rare fraud (p ~ Beta(0.3, 9.7), y ~ Bernoulli(p)). Daily sets
    from 5,000-row windows (about 150 frauds); 10 days of 5,000 fresh rows each judged with the
    previous day's set. Mondrian's 90 % fraud coverage is at least 0.9 in expectation; over about
    1,500 frauds its sd is below 0.008, so 0.87 is a 3.75-sd tolerance. Residual covers a fraud only
    when p >= 1 - q, and q is about 0.1 here: below 5 %."""
    rng = np.random.default_rng(11)
    parts = {"p": [], "y": [], "q": [], "q0": [], "q1": [], "n1": []}
    for _ in range(10):
        calibration_p = rng.beta(0.3, 9.7, 5_000)
        calibration_y = rng.random(5_000) < calibration_p
        residual_q = np.sort(np.where(calibration_y, 1 - calibration_p, calibration_p))[math.ceil(5_001 * 0.9) - 1]
        mondrian = compute_mondrian(calibration_p, calibration_y, levels=["90"])
        p = rng.beta(0.3, 9.7, 5_000)
        parts["p"].append(p)
        parts["y"].append(rng.random(5_000) < p)
        parts["q"].append(np.full(5_000, residual_q))
        for name, value in zip(("q0", "q1"), mondrian.quantiles(90), strict=True):
            parts[name].append(np.full(5_000, value))
        parts["n1"].append(np.full(5_000, float(calibration_y.sum())))
    joined = {name: np.concatenate(values) for name, values in parts.items()}
    comparison = compare_methods(
        model_version="v1", days=np.full(joined["p"].size, DAY), probabilities=joined["p"], labels=joined["y"],
        is_high_risk=joined["p"] > 0.5, residual_quantiles={90: joined["q"]},
        mondrian_quantiles={90: (joined["q0"], joined["q1"])}, mondrian_frauds={90: joined["n1"]}, venn_abers=None,
        level=90, narrow_threshold=0.2, set_ages={"residual": 1.0, "mondrian": 1.0}, stale_after_hours=36,
    )
    mondrian, residual = comparison["methods"]["mondrian"], comparison["methods"]["residual"]
    assert mondrian["coverage"]["90"]["fraud"]["rate"] >= 0.87
    assert residual["coverage"]["90"]["fraud"]["rate"] < 0.05
    assert residual["coverage"]["90"]["overall"]["rate"] == pytest.approx(0.9, abs=0.01)  # marginally on target
    assert recommend(pool_comparisons([comparison], 90), 90)["method"] == "mondrian"
