"""Coverage figures of the report, on hand-computed cases and a seeded simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from fraudcal.coverage import (
    automation,
    coverage,
    interval_covers,
    label_set_mix,
    report_status,
    threshold_replay,
    version_figures,
    width_buckets,
    wilson_interval,
)


def test_wilson_interval_by_hand():
    # p = 0.5, n = 100, z = 1.96: centre 0.5, half-width 1.96*sqrt(0.25/100 + 1.96^2/40000)/(1 + 1.96^2/100)
    low, high = wilson_interval(50, 100)
    half = 1.959963984540054 * math.sqrt(0.0025 + 1.959963984540054**2 / 40_000) / (1 + 1.959963984540054**2 / 100)
    assert (low, high) == pytest.approx((0.5 - half, 0.5 + half), abs=1e-12)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert all(math.isnan(value) for value in wilson_interval(0, 0))


def test_wilson_interval_covers_like_an_exact_test_would():
    # Wilson 95 % lies within (and close to) the Clopper-Pearson exact interval's neighbourhood.
    for k, n in [(3, 40), (180, 200), (1, 500)]:
        low, high = wilson_interval(k, n)
        exact = binomtest(k, n).proportion_ci(0.95, method="exact")
        assert exact.low - 0.03 <= low <= k / n <= high <= exact.high + 0.03


def test_below_target_only_beyond_the_interval():
    assert coverage([True] * 85 + [False] * 15, 0.9).below_target is False  # 0.85, Wilson upper ~0.91
    assert coverage([True] * 80 + [False] * 20, 0.9).below_target is True
    assert coverage([], 0.9).below_target is False


def test_label_sets_and_coverage_by_hand():
    p = np.array([0.05, 0.5, 0.95, 0.5])
    q = np.array([0.1, 0.1, 0.1, 0.6])
    assert label_set_mix(p, q) == {"{0}": 1, "{1}": 1, "{0,1}": 1, "empty": 1}
    assert interval_covers(p, [0, 0, 1, 1], q).tolist() == [True, False, True, True]


def test_width_buckets_automation_and_replay_by_hand():
    width = np.array([0.05, 0.15, 0.15, 0.25, 0.5])
    p = np.array([0.01, 0.6, 0.7, 0.8, 0.5])
    buckets = width_buckets(width, p)
    assert [row["n"] for row in buckets] == [1, 2, 1, 0, 1]
    assert buckets[1]["mean_probability"] == pytest.approx(0.65)
    high = np.array([False, True, True, True, True])
    y = np.array([0, 1, 0, 1, 1])
    figures = automation(high, width < 0.2, y)
    # auto-tickets: rows 1 (fraud) and 2 (legitimate); human reviews: rows 3 and 4 (both frauds).
    assert (figures["high_risk"], figures["auto_tickets"], figures["legitimate_auto_tickets"]) == (4, 2, 1)
    assert figures["automation_rate"] == 0.5 and figures["auto_ticket_legitimate_share"] == 0.5
    assert (figures["human_reviews"], figures["legitimate_reviews"], figures["review_legitimate_share"]) == (2, 0, 0.0)
    replay = {row["narrow_threshold"]: row for row in threshold_replay(width, high, y, thresholds=(0.1, 0.2, 0.3))}
    assert replay[0.1]["auto_tickets"] == 0 and replay[0.1]["missed_frauds"] == 3
    assert math.isnan(replay[0.1]["legitimate_share"])
    assert (replay[0.2]["auto_tickets"], replay[0.2]["legitimate_auto_tickets"], replay[0.2]["missed_frauds"]) == (2, 1, 2)
    assert replay[0.2]["legitimate_share"] == 0.5
    assert (replay[0.3]["auto_tickets"], replay[0.3]["legitimate_share"], replay[0.3]["missed_frauds"]) == (3, 1 / 3, 1)


@pytest.mark.statistical
def test_the_report_shows_the_residual_method_missing_frauds():
    """Seeded: marginal coverage on target, fraud coverage near 0 -> red, with the sentence."""
    rng = np.random.default_rng(3)
    n = 30_000
    p = rng.beta(0.3, 9.7, n)
    y = rng.random(n) < p
    scores = np.where(y, 1 - p, p)
    q = np.sort(scores)[math.ceil((n + 1) * 0.9) - 1]
    figures = version_figures(
        model_version="v1",
        days=np.full(n, np.datetime64("2025-02-01")),
        probabilities=p,
        labels=y,
        is_high_risk=p > 0.5,
        quantiles={90: np.full(n, q), 95: np.full(n, q), 99: np.full(n, 1.0)},
        level=90,
        narrow_threshold=0.2,
        newest_set_age_hours=3.0,
        stale_after_hours=36,
    )
    overall, fraud = figures["coverage"]["90"]["overall"], figures["coverage"]["90"]["fraud"]
    assert abs(overall["rate"] - 0.9) < 0.01 and not overall["below_target"]  # in-sample: on target, tolerance 1 pt
    assert fraud["below_target"] and fraud["rate"] < 0.2
    assert figures["status"] == "red"
    assert any(
        f"contained {fraud['rate'] * 100:.1f} % of the confirmed frauds ({fraud['covered']:,} of {fraud['n']:,};"
        in finding
        for finding in figures["findings"]
    )
    assert "confirmed frauds" in figures["findings"][0]  # what is worst comes first


def test_stale_set_is_red_and_status_is_the_worst():
    figures = version_figures(
        model_version="v1",
        days=np.array(["2025-02-01"] * 4, dtype="datetime64[D]"),
        probabilities=[0.0] * 4,
        labels=[0] * 4,
        is_high_risk=[False] * 4,
        quantiles={90: [0.1] * 4},
        level=90,
        narrow_threshold=0.2,
        newest_set_age_hours=50.0,
        stale_after_hours=36,
    )
    assert figures["set_stale"] and figures["status"] == "red"
    assert report_status([{"status": "green"}, {"status": "amber"}]) == "amber"
    assert report_status([]) == "amber"


def _figures_by_hand(quantiles, **changes):
    """Nine labeled predictions (dyadic probabilities, so every bound is exact)."""
    arguments = {
        "model_version": "v1",
        "days": np.array(["2025-02-01"] * 9, dtype="datetime64[D]"),
        "probabilities": [0.0625, 0.0625, 0.5, 0.5, 0.9375, 0.0625, 0.0625, 0.9375, 0.5],
        "labels": [0, 0, 0, 0, 1, 1, 0, 1, 1],
        "is_high_risk": [False] * 9,
        "quantiles": quantiles,
        "level": 90,
        "narrow_threshold": 0.2,
        "newest_set_age_hours": 1.0,
        "stale_after_hours": 36,
    }
    return version_figures(**{**arguments, **changes})


def test_a_level_missing_from_the_set_in_force_is_left_out_of_that_levels_coverage():
    nan = float("nan")
    figures = _figures_by_hand(
        {
            90: [0.125] * 8 + [nan],  # the last row has no set in force at all
            95: [0.25] * 6 + [nan, nan, 0.25],  # rows 6 and 7: their set was made without 95
        }
    )
    assert (figures["labeled"], figures["without_set_in_force"], figures["n"]) == (9, 1, 8)
    # 90 % (q = 0.125) over the 8 rows in force: |p - y| <= 0.125 for rows 0, 1, 4, 6, 7.
    at_90 = figures["coverage"]["90"]
    assert (at_90["overall"]["n"], at_90["overall"]["covered"], at_90["without_quantile"]) == (8, 5, 0)
    # 95 % (q = 0.25) only over rows 0-5: covered 0, 1 (legitimate) and 4 (fraud); rows 6
    # and 7 are neither hits nor misses (before, they were counted as misses: 3 of 8).
    at_95 = figures["coverage"]["95"]
    assert (at_95["overall"]["n"], at_95["overall"]["covered"], at_95["without_quantile"]) == (6, 3, 2)
    assert (at_95["legitimate"]["n"], at_95["legitimate"]["covered"]) == (4, 2)
    assert (at_95["fraud"]["n"], at_95["fraud"]["covered"]) == (2, 1)
    assert at_95["overall"]["rate"] == 0.5


def test_widths_of_the_report_are_the_clamped_intervals():
    figures = _figures_by_hand({90: [0.125] * 9})
    # widths: 0.0625 -> [0, 0.1875]; 0.5 -> [0.375, 0.625]; 0.9375 -> [0.8125, 1]
    buckets = {row["bucket"]: row["n"] for row in figures["width_buckets"]}
    assert buckets == {"<0.1": 0, "0.1-0.2": 6, "0.2-0.3": 3, "0.3-0.4": 0, ">=0.4": 0}
    assert figures["label_sets"] == {"{0}": 4, "{1}": 2, "{0,1}": 0, "empty": 3}


def test_a_level_without_quantiles_is_named():
    with pytest.raises(ValueError, match=r"level 95 has no quantiles \(levels given: \[90\]\)"):
        _figures_by_hand({90: [0.125] * 9}, level=95)


def test_findings_count_in_words_that_agree_with_the_number():
    # One HIGH prediction with a narrow interval (p = 0.9375, q = 0.125: width 0.0625 + 0.125), one
    # day below target (9 rows, 5 covered: rows 0-4; |0.5 - y| > q for rows 5-8).
    figures = _figures_by_hand(
        {90: [0.125] * 9}, is_high_risk=[False] * 4 + [True] + [False] * 4, probabilities=[0.0625] * 4 + [0.9375] + [0.5] * 4
    )
    findings = " | ".join(figures["findings"])
    assert figures["automation"]["auto_tickets"] == 1
    assert "v1: 1 auto-ticket (100 % of HIGH/CRITICAL); 0 of them on legitimate cases (0.0 %)" in findings
    assert "1 auto-tickets" not in findings and "false" not in findings.lower()
    assert figures["by_day"][0]["below_target"]
    assert "on 1 day: 2025-02-01" in findings and "1 days" not in findings
