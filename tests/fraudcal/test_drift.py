"""Drift metrics against brute-force references, and each alert rule on its own."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp

from fraudcal.drift import (
    PSI_FLOOR,
    DriftThresholds,
    average_precision,
    band_rule,
    certificate_alert,
    certificate_rule,
    class_coverage_days,
    coverage_rule,
    day_metrics,
    enough_labels,
    evaluate_day,
    ks_statistic,
    pr_auc_rule,
    psi,
    psi_rule,
    roc_auc,
)


def brute_force_average_precision(p, y):
    """Sum over distinct thresholds t (descending) of (recall(t) - recall(previous)) * precision(t)."""
    total, previous_recall = 0.0, 0.0
    for threshold in sorted(set(p), reverse=True):
        selected = [label for score, label in zip(p, y, strict=True) if score >= threshold]
        recall = sum(selected) / sum(y)
        total += (recall - previous_recall) * (sum(selected) / len(selected))
        previous_recall = recall
    return total


def brute_force_roc_auc(p, y):
    """P(score of a random positive > score of a random negative) + half the ties."""
    positives = [s for s, label in zip(p, y, strict=True) if label]
    negatives = [s for s, label in zip(p, y, strict=True) if not label]
    wins = sum((a > b) + 0.5 * (a == b) for a in positives for b in negatives)
    return wins / (len(positives) * len(negatives))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pr_auc_and_roc_auc_equal_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    p = np.round(rng.random(300), 1)  # heavy ties
    y = (rng.random(300) < p).astype(int)
    assert average_precision(p, y) == pytest.approx(brute_force_average_precision(p.tolist(), y.tolist()), abs=1e-12)
    assert roc_auc(p, y) == pytest.approx(brute_force_roc_auc(p.tolist(), y.tolist()), abs=1e-12)


def test_pr_auc_without_positives_is_nan():
    assert math.isnan(average_precision([0.1, 0.2], [0, 0]))


def test_psi_by_hand_with_the_empty_bin_rule():
    reference = np.arange(1000) / 1000  # deciles at 0.1, 0.2, ...
    assert psi(reference, reference) == pytest.approx(0.0, abs=1e-12)
    current = np.full(100, 0.05)  # everything in the first bin
    expected = (1 - 0.1) * math.log(1 / 0.1) + 9 * (PSI_FLOOR - 0.1) * math.log(PSI_FLOOR / 0.1)
    assert psi(reference, current) == pytest.approx(expected, rel=1e-9)


def test_psi_outer_bins_are_open():
    reference = np.random.default_rng(0).random(10_000)
    outside = np.r_[np.full(50, -5.0), np.full(50, 7.0)]  # beyond the reference range on both sides
    assert math.isfinite(psi(reference, outside))


def test_ks_is_scipys_statistic():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=500), rng.normal(0.3, size=700)
    assert ks_statistic(a, b) == ks_2samp(a, b).statistic


def test_pr_auc_rule_is_relative_to_the_baseline():
    assert pr_auc_rule(0.44, 0.50, 0.10) is True  # below 0.45
    assert pr_auc_rule(0.46, 0.50, 0.10) is False
    assert pr_auc_rule(float("nan"), 0.50, 0.10) is False


def test_psi_rule():
    assert psi_rule(0.26, 0.25) and not psi_rule(0.25, 0.25) and not psi_rule(float("nan"), 0.25)


def test_band_rule_needs_history_and_spread():
    history = [0.030, 0.031, 0.029, 0.030, 0.032, 0.028, 0.030, 0.031]
    spread = np.std(history, ddof=1)
    assert band_rule(np.mean(history) + 3.1 * spread, history, 3) is True
    assert band_rule(np.mean(history) + 2.9 * spread, history, 3) is False
    assert band_rule(1.0, history[:6], 3) is False  # fewer than 7 reference days
    assert band_rule(1.0, [0.03] * 10, 3) is False  # no spread


def test_coverage_rule_needs_three_consecutive_days_below_beyond_wilson():
    low = (800, 1000)  # 0.80, Wilson upper ~0.82 < 0.9
    fine = (895, 1000)
    assert coverage_rule([fine, low, low, low], 0.9) is True
    assert coverage_rule([low, low, fine], 0.9) is False
    assert coverage_rule([low, low], 0.9) is False


def _day(**values):
    return {
        "labeled": 1000,
        "frauds": 30,
        "psi": 0.01,
        "fraud_rate": 0.03,
        "mean_probability": 0.03,
        "pr_auc": 0.5,
        "coverage_90": 0.9,
        **values,
    }


def _classes(fraud, legitimate):
    """Per-class (covered, n) of the coverage rule's three days."""
    return {"fraud": [fraud] * 3, "legitimate": [legitimate] * 3}


def test_evaluate_day_fires_the_right_rules_and_notes_missing_labels():
    reference = [_day(fraud_rate=0.03 + 0.001 * (i % 3), mean_probability=0.03 + 0.0005 * (i % 2)) for i in range(28)]
    quiet = evaluate_day(_day(), reference, 0.5, DriftThresholds(), _classes((27, 30), (900, 1000)))
    assert quiet == {"alerts": [], "warnings": [], "notes": []}
    loud = evaluate_day(
        _day(psi=0.3, pr_auc=0.3, fraud_rate=0.05), reference, 0.5, DriftThresholds(), _classes((10, 30), (800, 1000))
    )
    assert sorted(alert["rule"] for alert in loud["alerts"]) == ["PR-AUC", "PSI", "band", "coverage", "coverage"]
    unlabeled = evaluate_day(
        _day(labeled=20, frauds=0, pr_auc=0.1), reference, 0.5, DriftThresholds(), _classes((0, 1), (1, 20))
    )
    assert unlabeled["alerts"] == [] and unlabeled["notes"][0].startswith("not enough labels")
    assert enough_labels(200, 5) and not enough_labels(199, 5) and not enough_labels(500, 4)


def _stored_day(residual_fraud, mondrian_fraud, legitimate=(900, 1000)):
    """A stored day's class_coverage: residual and Mondrian at 90 %, (covered, n) per class."""
    def entry(fraud, legit):
        return {"fraud": {"covered": fraud[0], "n": fraud[1]}, "legitimate": {"covered": legit[0], "n": legit[1]}}

    return {
        "class_coverage": {
            "residual": {"90": entry(residual_fraud, (1000, 1000))},
            "mondrian": {"90": entry(mondrian_fraud, legitimate)},
        }
    }


def test_the_coverage_rule_judges_the_default_methods_fraud_class():
    # Residual: 0 of 30 frauds and every legitimate case (overall 1000/1030 = 97 %, on target: the
    # rule of old, on overall coverage, was quiet). Mondrian: 27 of 30 frauds, 900 of 1000 legitimate.
    days = [_stored_day((0, 30), (27, 30))] * 3
    verdicts = {}
    for method in ("residual", "mondrian"):
        thresholds = DriftThresholds(coverage_method=method)
        recent = {group: class_coverage_days(days, method, 90, group) for group in ("fraud", "legitimate")}
        today = {**_day(), f"{method}_coverage_fraud_90": 0.0 if method == "residual" else 0.9}
        verdicts[method] = evaluate_day(today, [_day()] * 28, 0.5, thresholds, recent)["alerts"]
    assert verdicts["residual"] == [
        {"rule": "coverage", "metric": "residual_coverage_fraud_90", "value": 0.0, "threshold": 0.9}
    ]
    assert verdicts["mondrian"] == []


def test_the_coverage_rule_judges_legitimate_cases_apart_and_needs_three_stored_days():
    low_legitimate = _stored_day((0, 30), (27, 30), legitimate=(800, 1000))  # Wilson upper ~0.82 < 0.9
    recent = {group: class_coverage_days([low_legitimate] * 3, "mondrian", 90, group) for group in ("fraud", "legitimate")}
    alerts = evaluate_day(_day(), [_day()] * 28, 0.5, DriftThresholds(coverage_method="mondrian"), recent)["alerts"]
    assert [alert["metric"] for alert in alerts] == ["mondrian_coverage_legitimate_90"]
    # A day not stored (None) or stored before migration 0005 ({}) is not measured: no alert.
    for gap in (None, {}):
        recent = {
            group: class_coverage_days([low_legitimate, gap, low_legitimate], "mondrian", 90, group)
            for group in ("fraud", "legitimate")
        }
        assert evaluate_day(_day(), [_day()] * 28, 0.5, DriftThresholds(coverage_method="mondrian"), recent)["alerts"] == []


def _day_by_hand(**kwargs):
    nan = float("nan")
    return day_metrics(
        scores=[0.0625, 0.5, 0.9375, 0.5, nan],  # NaN: a prediction without a probability, left out
        reference_scores=np.linspace(0, 1, 101),
        probabilities=[0.0625, 0.5, 0.9375, 0.5],
        labels=[0, 0, 1, 1],
        quantiles={90: [0.125, 0.125, 0.125, nan], 95: [0.25, 0.25, nan, nan], 99: [0.5] * 4},
        **kwargs,
    )


def test_day_coverage_per_level_uses_the_rows_with_a_quantile_at_that_level():
    metrics = _day_by_hand()
    assert metrics["predictions"] == 4 and metrics["with_set"] == 3
    # 90: rows 0-2; |p - y| = 0.0625, 0.5, 0.0625 against q = 0.125
    assert (metrics["covered_90"], metrics["coverage_90"], metrics["coverage_fraud_90"]) == (2, 2 / 3, 1.0)
    # 95: rows 0-1, no fraud among them
    assert (metrics["covered_95"], metrics["coverage_95"]) == (1, 0.5)
    assert math.isnan(metrics["coverage_fraud_95"])
    # 99: q = 0.5 holds every label (|p - y| <= 0.5 everywhere)
    assert (metrics["covered_99"], metrics["coverage_99"], metrics["coverage_fraud_99"]) == (4, 1.0, 1.0)


def test_day_mean_width_is_named_after_its_level():
    # widths at 90 (q = 0.125): 0.1875, 0.25, 0.1875 (clamped at 1)
    assert _day_by_hand()["mean_width_90"] == pytest.approx((0.1875 + 0.25 + 0.1875) / 3, abs=1e-15)
    at_95 = _day_by_hand(width_level=95)
    # widths at 95 (q = 0.25): [0, 0.3125] and [0.25, 0.75]
    assert at_95["mean_width_95"] == pytest.approx((0.3125 + 0.5) / 2, abs=1e-15)
    assert at_95["with_set"] == 2 and "mean_width_90" not in at_95


def test_day_metrics_keys_are_the_model_health_columns():
    columns = {"covered", "coverage", "coverage_fraud"}
    keys = set(_day_by_hand())
    assert {f"{name}_{level}" for name in columns for level in (90, 95, 99)} <= keys
    assert {"with_set", "mean_width_90", "labeled", "frauds", "psi", "ks", "pr_auc", "roc_auc"} <= keys


def test_day_class_coverage_per_method_by_hand():
    nan = float("nan")
    metrics = _day_by_hand(
        # Mondrian at 90: rows 0-2 with q0 = 0.125, q1 = 0.5; row 3 has no Mondrian set in force.
        mondrian_quantiles={90: ([0.125, 0.125, 0.125, nan], [0.5, 0.5, 0.5, nan])},
    )
    # p = 0.0625 (y 0): 0.0625 <= 0.125 holds 0, covered. p = 0.5 (y 0): 0.5 > 0.125, missed.
    # p = 0.9375 (y 1): 1 - p = 0.0625 <= 0.5, covered. Row 3 (p 0.5, y 1) left out.
    mondrian = metrics["class_coverage"]["mondrian"]["90"]
    assert mondrian == {"fraud": {"covered": 1, "n": 1}, "legitimate": {"covered": 1, "n": 2}}
    assert (metrics["mondrian_coverage_fraud_90"], metrics["mondrian_coverage_legitimate_90"]) == (1.0, 0.5)
    assert metrics["class_coverage"]["mondrian"]["95"] == {
        "fraud": {"covered": 0, "n": 0}, "legitimate": {"covered": 0, "n": 0}
    }
    assert math.isnan(metrics["mondrian_coverage_fraud_95"])
    # Residual at 90 (q = 0.125, rows 0-2; row 3 has none): legitimate 1 of 2, fraud 1 of 1, as coverage_fraud_90.
    assert metrics["class_coverage"]["residual"]["90"] == {
        "fraud": {"covered": 1, "n": 1}, "legitimate": {"covered": 1, "n": 2}
    }


# ----------------------------------------------------------------------------- the certificate rule


def _block(tickets, frauds, target=0.95, recorded=True):
    """A week's auto-tickets as fraudcal.coverage.ticket_precision_block gives them (counts by hand)."""
    import fraudcal.coverage as coverage_module

    as_of = np.datetime64("2025-02-01", "us")
    certificates = (
        [
            {
                "as_of": as_of,
                "confidence": 0.9,
                "ticket": {"certified": True, "threshold": 0.8, "target": target},
                "clear": {"certified": False, "threshold": None, "target": 0.99},
            }
        ]
        if recorded
        else []
    )
    p = np.array([0.9] * tickets + [0.5] * 20)
    y = np.array([1] * frauds + [0] * (tickets - frauds) + [0] * 20)
    when = np.datetime64("2025-02-04T10", "us") + np.arange(p.size) * np.timedelta64(1, "h")
    days = np.arange(np.datetime64("2025-02-04"), np.datetime64("2025-02-11"))
    return coverage_module.ticket_precision_block(when, p, y, certificates, days)


def test_the_certificate_rule_fires_only_below_target_beyond_the_wilson_interval():
    # 90 of 100 against 0.95: Wilson upper 0.945, violated; 93 of 100: upper 0.966, held.
    alert = certificate_alert(_block(100, 90))
    assert alert["rule"] == "certificate violated" and alert["metric"] == "ticket_precision_7d"
    assert (alert["tickets"], alert["frauds"], alert["value"], alert["threshold"]) == (100, 90, 0.9, 0.95)
    assert alert["thresholds"] == [0.8] and alert["wilson_high"] < 0.95
    assert sum(day["tickets"] for day in alert["days"]) == 100 and len(alert["days"]) == 7
    assert alert["message"].startswith(
        "100 auto-tickets on 2025-02-04..2025-02-10 (score \u2265 0.800), 90 of them frauds"
    )
    assert certificate_alert(_block(100, 93)) is None
    assert certificate_alert(_block(0, 0)) is None  # no auto-ticket, nothing to judge
    assert certificate_alert(_block(100, 0, recorded=False)) is None  # no certificate row: nothing was promised
    assert certificate_rule([{"target": 0.95, "n": 1, "correct": 0}])  # one legitimate ticket is already beyond it
    assert not certificate_rule([{"target": 0.95, "n": 1, "correct": 1}])


def test_evaluate_day_adds_the_certificate_alert_whatever_the_days_labels():
    reference = [_day()] * 28
    classes = _classes((27, 30), (900, 1000))
    loud = evaluate_day(_day(), reference, 0.5, DriftThresholds(), classes, _block(100, 90))
    assert [alert["rule"] for alert in loud["alerts"]] == ["certificate violated"]
    # A day with too few labels still has its week judged; "not enough labels" stays the first note.
    sparse = evaluate_day(_day(labeled=20, frauds=0), reference, 0.5, DriftThresholds(), classes, _block(100, 90))
    assert [alert["rule"] for alert in sparse["alerts"]] == ["certificate violated"]
    assert sparse["notes"][0].startswith("not enough labels")
    held = evaluate_day(_day(), reference, 0.5, DriftThresholds(), classes, _block(100, 93))
    assert held["alerts"] == [] and held["notes"][0].startswith("certificate not violated: 100 auto-tickets")
    # Without a certificate row (or without the figure), nothing is said about certificates.
    assert evaluate_day(_day(), reference, 0.5, DriftThresholds(), classes, _block(100, 0, recorded=False)) == {
        "alerts": [],
        "warnings": [],
        "notes": [],
    }


def test_the_judged_day_is_the_runs_day_at_maturity_0_and_m_days_earlier_otherwise():
    from datetime import UTC, datetime, timedelta

    from fraudcal.drift import judged_day

    for as_of in (
        datetime(2025, 2, 11, tzinfo=UTC),
        datetime(2025, 2, 11, 6, 30, tzinfo=UTC),
        datetime(2025, 2, 11, 23, 59, tzinfo=UTC),
    ):
        assert judged_day(as_of) == judged_day(as_of, 0) == (as_of - timedelta(days=1)).date()  # as before
        for m in (1, 3, 365):
            assert judged_day(as_of, m) == (as_of - timedelta(days=1)).date() - timedelta(days=m)
    with pytest.raises(ValueError, match="maturity_days"):
        judged_day(datetime(2025, 2, 11, tzinfo=UTC), 400)
