"""Coverage figures of the report, on hand-computed cases and a seeded simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from fraudcal.coverage import (
    automation,
    certificate_positions,
    certified_replay,
    coverage,
    interval_covers,
    label_set_mix,
    realized_against_targets,
    report_status,
    threshold_replay,
    triage_figures,
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


# ----------------------------------------------------------------------------- certified triage

Z95 = 1.959963984540054


def _wilson_by_formula(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def _side(name, threshold, target):
    return {
        "side": name,
        "certified": threshold is not None,
        "threshold": threshold,
        "target": target,
        "confidence": 0.9,
        "lower_bound": None,
        "n_automated": 0,
        "n_correct": 0,
        "n_window": 100,
        "candidates_tested": 1,
        "reason": "certified" if threshold is not None else f"no {name} threshold",
    }


def _certificate(as_of, ticket, clear, ticket_target=0.95, clear_target=0.99):
    return {
        "as_of": np.datetime64(as_of, "us"),
        "confidence": 0.9,
        "status": "in_force",
        "ticket": _side("ticket", ticket, ticket_target),
        "clear": _side("clear", clear, clear_target),
    }


CERTIFICATES = [
    _certificate("2025-02-01T00:00", 0.9, 0.05),
    _certificate("2025-02-02T12:00", None, 0.02),  # no auto-ticket threshold certified
    _certificate("2025-02-03T00:00", 0.4, 0.6, ticket_target=0.8),  # overlapping sides: review
]


def test_the_certificate_in_force_is_the_newest_with_as_of_at_or_before_the_prediction():
    as_ofs = np.array([row["as_of"] for row in CERTIFICATES])
    times = np.array(
        ["2025-01-31T23:59", "2025-02-01T00:00", "2025-02-02T11:59", "2025-02-02T12:00", "2025-02-09"],
        dtype="datetime64[us]",
    )
    assert certificate_positions(times, as_ofs).tolist() == [-1, 0, 0, 1, 2]
    with pytest.raises(ValueError, match="strictly increasing"):
        certificate_positions(times, as_ofs[::-1])


def _plain_triage(when, p, y, certificates):
    """Per day and in all, by a loop: tickets / frauds, cleared / legitimate, reviews, rows without a row in force."""
    days = {}
    for moment, score, fraud in zip(when, p, y, strict=True):
        for key in (str(moment.astype("datetime64[D]")), "all"):
            day = days.setdefault(key, dict.fromkeys(("n", "t", "tf", "c", "cl", "r", "none"), 0))
            day["n"] += 1
            chosen = None
            for row in certificates:
                if row["as_of"] <= moment:
                    chosen = row
            if chosen is None:
                day["none"] += 1
                continue
            ticket = chosen["ticket"]["threshold"] if chosen["ticket"]["certified"] else None
            clear = chosen["clear"]["threshold"] if chosen["clear"]["certified"] else None
            above = ticket is not None and score >= ticket
            below = clear is not None and score <= clear
            if above and not below:
                day["t"] += 1
                day["tf"] += int(fraud)
            elif below and not above:
                day["c"] += 1
                day["cl"] += int(not fraud)
            else:
                day["r"] += 1
    return days


def test_triage_figures_equal_a_plain_count_per_day():
    rng = np.random.default_rng(5)
    n = 4_000
    when = np.datetime64("2025-01-31T00:00", "us") + np.sort(rng.integers(0, 5 * 86_400, n)) * np.timedelta64(1, "s")
    p = rng.random(n)
    y = rng.random(n) < p
    days = np.arange(np.datetime64("2025-01-31"), np.datetime64("2025-02-07"))  # two days without predictions
    figures = triage_figures(
        model_version="v1", predicted_at=when, probabilities=p, labels=y, certificates=CERTIFICATES, days=days
    )
    expected = _plain_triage(when, p, y, CERTIFICATES)
    assert [row["day"] for row in figures["by_day"]] == [str(day) for day in days]
    empty = dict.fromkeys(("n", "t", "tf", "c", "cl", "r", "none"), 0)
    for row in [*figures["by_day"], {**figures, "day": "all"}]:
        day = expected.get(row["day"], empty)
        assert (row["n"], row["without_certificate"], row["review"]["n"]) == (day["n"], day["none"], day["r"])
        assert (row["ticket"]["n"], row["ticket"]["correct"]) == (day["t"], day["tf"])
        assert (row["clear"]["n"], row["clear"]["correct"]) == (day["c"], day["cl"])
        for figure, (k, total) in ((row["ticket"], (day["tf"], day["t"])), (row["clear"], (day["cl"], day["c"]))):
            if total:
                assert figure["rate"] == k / total
                assert (figure["wilson_low"], figure["wilson_high"]) == pytest.approx(
                    _wilson_by_formula(k, total), abs=1e-12
                )
            else:
                assert figure["rate"] is None and figure["violated"] is False
    by_day = {row["day"]: row for row in figures["by_day"]}
    assert by_day["2025-01-31"]["certificates"] == [] and by_day["2025-02-02"]["certificates"] == [0, 1]
    assert by_day["2025-02-06"]["certificates"] == [2] and by_day["2025-02-06"]["n"] == 0
    assert figures["ticket"]["thresholds"] == [0.4, 0.9] and figures["ticket"]["certified_targets"] == [0.8, 0.95]
    # Each ticket is judged against the target it was made under, one group per target.
    groups = {group["target"]: group for group in figures["ticket"]["groups"]}
    assert sum(group["n"] for group in groups.values()) == expected["all"]["t"]
    assert figures["recorded"] and figures["with_certificate"] == n - expected["all"]["none"]


def test_a_version_without_certificates_is_judged_by_nothing():
    figures = triage_figures(
        model_version="old",
        predicted_at=np.array(["2025-02-01T10"], dtype="datetime64[us]"),
        probabilities=[0.99],
        labels=[1],
        certificates=[],
    )
    assert figures["recorded"] is False and figures["without_certificate"] == 1 and figures["with_certificate"] == 0
    assert figures["ticket"]["n"] == figures["clear"]["n"] == figures["review"]["n"] == 0
    assert math.isnan(figures["review"]["share"]) and not figures["violated"]


def test_a_certificate_is_violated_only_below_target_beyond_the_wilson_interval():
    # 90 of 100 frauds against 0.95: Wilson upper 0.945 < 0.95, violated. 93 of 100: upper 0.966, not.
    assert _wilson_by_formula(90, 100)[1] < 0.95 < _wilson_by_formula(93, 100)[1]
    violated = realized_against_targets([True] * 90 + [False] * 10, [0.95] * 100)
    held = realized_against_targets([True] * 93 + [False] * 7, [0.95] * 100)
    assert violated["violated"] and not held["violated"]
    # Two targets: the 0.8 tickets (8 of 10) hold, the 0.95 ones (90 of 100) do not.
    mixed = realized_against_targets([True] * 98 + [False] * 12, [0.95] * 90 + [0.8] * 10 + [0.95] * 10)
    assert mixed["targets"] == [0.8, 0.95] and mixed["violated"]
    assert [(g["target"], g["n"], g["correct"], g["violated"]) for g in mixed["groups"]] == [
        (0.8, 10, 8, False),
        (0.95, 100, 90, True),
    ]
    assert (mixed["n"], mixed["correct"]) == (110, 98)


def test_the_certified_replay_row_counts_like_the_replay():
    rng = np.random.default_rng(8)
    p = rng.random(500)
    y = rng.random(500) < p
    high = p >= 0.5
    thresholds = np.where(np.arange(500) < 100, np.nan, np.where(np.arange(500) < 300, 0.9, 0.8))
    clear = np.full(500, 0.85)  # overlaps the 0.8 threshold on [0.8, 0.85]: those go to review
    row = certified_replay(p, high, y, thresholds, clear)
    tickets = [i for i in range(500) if not math.isnan(thresholds[i]) and p[i] >= thresholds[i] and not p[i] <= 0.85]
    assert row["auto_tickets"] == len(tickets)
    assert row["legitimate_auto_tickets"] == sum(not y[i] for i in tickets)
    assert row["missed_frauds"] == sum(bool(y[i]) and i not in tickets for i in range(500))
    assert row["automation_rate"] == len(tickets) / int(high.sum())
    assert row["thresholds"] == [0.8, 0.9] and row["without_threshold"] == 100


# ----------------------------------------------------------------------------- label arrival


def _snapshot_rows(seed: int = 4) -> list[dict]:
    """Three snapshot days of one version (the last after the report's end), 30 cohorts each,
    counts drawn at random: the label-arrival table must come from 2025-03-10 alone."""
    from datetime import date, timedelta

    rng = np.random.default_rng(seed)
    rows = []
    for snapshot in (date(2025, 3, 8), date(2025, 3, 10), date(2025, 3, 12)):
        for back in range(30):
            n = int(rng.integers(0, 200))
            labeled = int(rng.integers(0, n + 1))
            rows.append(
                {
                    "prediction_day": snapshot - timedelta(days=back),
                    "snapshot_day": snapshot,
                    "n_predictions": n,
                    "n_labeled": labeled,
                    "n_fraud": int(rng.integers(0, labeled + 1)),
                }
            )
    return rows


def test_the_label_arrival_table_sums_the_newest_snapshot_at_or_before_the_day_by_age():
    from datetime import date

    import pandas as pd

    from fraudcal.coverage import label_arrival
    from fraudcal.maturity import AUTO, arrival_curve, resolve_label_maturity

    rows = _snapshot_rows()
    end = date(2025, 3, 11)  # the 2025-03-12 snapshot lies after the report's end
    arrival = label_arrival(pd.DataFrame(rows), end, max_age=21)
    assert arrival["snapshot_day"] == date(2025, 3, 10) and arrival["oldest_age"] == 29
    newest = [row for row in rows if row["snapshot_day"] == date(2025, 3, 10)]

    def plain(ages):
        chosen = [row for row in newest if (row["snapshot_day"] - row["prediction_day"]).days in ages]
        n, labeled, frauds = (sum(row[key] for row in chosen) for key in ("n_predictions", "n_labeled", "n_fraud"))
        return len(chosen), n, labeled, frauds

    expected = [plain({age}) for age in range(22)] + [plain(set(range(22, 30)))]
    assert [row["ages"] for row in arrival["rows"]] == [str(age) for age in range(22)] + ["22\u201329"]
    for row, (cohorts, n, labeled, frauds) in zip(arrival["rows"], expected, strict=True):
        assert (row["cohorts"], row["n_predictions"], row["n_labeled"], row["n_fraud"]) == (cohorts, n, labeled, frauds)
        assert row["labeled_share"] == (labeled / n if n else pytest.approx(math.nan, nan_ok=True))
        assert row["fraud_share"] == (frauds / labeled if labeled else pytest.approx(math.nan, nan_ok=True))
    # "auto" reads every snapshot up to the day, never the later one.
    seen = pd.DataFrame([row for row in rows if row["snapshot_day"] <= end])
    assert arrival["auto"] == resolve_label_maturity(AUTO, arrival_curve(seen), fallback_days=0).to_dict()


def test_label_arrival_by_version_gives_none_to_a_version_without_a_snapshot_that_old():
    from datetime import date

    import pandas as pd

    from fraudcal.coverage import NO_LABEL_SNAPSHOTS, label_arrival_by_version

    frame = pd.DataFrame(_snapshot_rows()).assign(model_version="v1")
    late = frame[frame["snapshot_day"] == date(2025, 3, 12)].assign(model_version="v3")  # only after the end
    arrival = label_arrival_by_version(pd.concat([frame, late]), ["v1", "v2", "v3"], date(2025, 3, 11), max_age=3)
    assert arrival["v2"] is None and arrival["v3"] is None  # v2: none at all; v3: none up to the day
    assert [row["ages"] for row in arrival["v1"]["rows"]] == ["0", "1", "2", "3", "4\u201329"]
    assert "calibrate_fraud_model records one per day" in NO_LABEL_SNAPSHOTS
    with pytest.raises(ValueError, match="model_version"):
        label_arrival_by_version(frame.drop(columns="model_version"), ["v1"], date(2025, 3, 11))


def test_label_arrival_refuses_a_datetime_day_and_a_negative_max_age():
    from datetime import UTC, date, datetime

    import pandas as pd

    from fraudcal.coverage import label_arrival

    frame = pd.DataFrame(_snapshot_rows())
    with pytest.raises(ValueError, match="as_of_day must be a date"):
        label_arrival(frame, datetime(2025, 3, 11, tzinfo=UTC))
    with pytest.raises(ValueError, match="max_age"):
        label_arrival(frame, date(2025, 3, 11), max_age=-1)
