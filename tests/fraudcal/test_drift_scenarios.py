"""Seeded drift scenarios: what each method does when the world moves (print the figures with ``pytest -s``).

Every history comes from :mod:`fraudcal.scenarios` (scores and labels drawn directly, no
model) and is replayed by :func:`fraudcal.replay.replay` as production would have run it:
a 28-day window whose youngest 7 days are left out until mature (``label_maturity_days =
7``), labels known as of each day. Label delays are exponential per class (legitimate cases
3 days on average, frauds 1.5), and a case not closed within 7 days is never labeled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudcal.defaults import DEFAULT_LEVEL, DEFAULT_TICKET_PRECISION
from fraudcal.replay import MethodConfig, default_configs, replay, replay_benchmark, verdict, verdict_sentence
from fraudcal.scenarios import ScenarioConfig, generate
from fraudcal.triage import certificate_violated

pytestmark = [pytest.mark.statistical, pytest.mark.slow]

WINDOW_DAYS = 28
MATURITY_DAYS = 7
DELAYS = {"label_delay_days": 3.0, "label_horizon_days": 7, "fraud_label_speedup": 2.0}
TARGET = DEFAULT_LEVEL / 100
DRIFT_START = 45
PRIOR_SHIFT = 60


def rolling_fraud_coverage(replayed: pd.DataFrame, config: str, days: int = 7) -> pd.Series:
    """Fraud-class coverage over the trailing ``days`` days, per day."""
    fraud = replayed[(replayed["config"] == config) & (replayed["class"] == "fraud")].set_index("day")
    covered = fraud["covered"].astype("float64").rolling(days).sum()
    return covered / fraud["n"].astype("float64").rolling(days).sum()


def share_within(coverage: pd.Series, first_day: int, tolerance: float = 0.03) -> tuple[float, int, int]:
    """Share of days from ``first_day`` whose coverage is within ``tolerance`` of the target."""
    after = coverage[coverage.index >= first_day]
    within = (after - TARGET).abs() <= tolerance
    return float(within.mean()), int(within.sum()), int(within.size)


# ------------------------------------------------------------------ gradual concept drift


@pytest.fixture(scope="module")
def concept_drift() -> pd.DataFrame:
    config = ScenarioConfig(
        days=150,
        rows_per_day=20_000,
        fraud_rate=0.03,
        seed=0,
        drift_start_day=DRIFT_START,
        concept_drift_logit=1.5,
        concept_drift_days=60,
        **DELAYS,
    )
    configs = [
        MethodConfig("static", "mondrian", {"frozen_as_of": DRIFT_START}),
        MethodConfig("rolling", "mondrian"),
        MethodConfig("aci", "mondrian_aci", {"gamma": 0.05}),
    ]
    return replay(
        generate(config),
        days=range(35, 150),
        configs=configs,
        window_days=WINDOW_DAYS,
        label_maturity_days=MATURITY_DAYS,
    )


def test_mondrian_aci_tracks_fraud_coverage_through_gradual_concept_drift(concept_drift):
    """Frauds' score logits slide down 1.5 over 60 days from day 45 (20,000 rows a day, 3 % fraud).

    Judged: the share of the 105 post-shift days (45 to 149) whose rolling 7-day fraud-class
    coverage is within +-3 pp of 90 %. Tolerance: Mondrian + ACI (gamma 0.05) on at least 85 %
    of them; Mondrian calibrated once at day 45 and never updated at most 35 %; the 28-day
    rolling window at most 75 %, and ACI at least 20 points above it.

    Measured (seed 0): ACI 95.2 % (100 of 105 days), static 12.4 % (13), rolling window 49.5 %
    (52); seeds 1 to 3: ACI 99.0 / 97.1 / 94.3 %, static 16.2 / 19.0 / 17.1 %, rolling
    59.0 / 55.2 / 62.9 %. (A similar simulation quoted in issue 15: ACI 87.5 %, static about
    12 %, rolling about 49 %.) gamma 0.2 oscillated here (56 %): with an 8-day feedback delay
    a large step overshoots before its own errors come back. The price of ACI is review load:
    32 % of predictions against 28 % for the rolling window (``pytest -s`` prints it).
    """
    figures = {}
    for name in ("static", "rolling", "aci"):
        share, within, days = share_within(rolling_fraud_coverage(concept_drift, name), DRIFT_START)
        figures[name] = share
        per_day = concept_drift[concept_drift["config"] == name].groupby("day")[["review", "n"]].sum()
        review = float((per_day["review"] / per_day["n"]).mean())
        print(
            f"concept drift, {name}: within +-3 pp on {within} of {days} post-shift days ({share:.1%}); "
            f"mean review share {review:.1%}"
        )
    for row in verdict(concept_drift):
        print(verdict_sentence(row))
    assert figures["aci"] >= 0.85
    assert figures["static"] <= 0.35
    assert figures["rolling"] <= 0.75
    assert figures["aci"] - figures["rolling"] >= 0.20
    aci = concept_drift[concept_drift["config"] == "aci"]
    assert not aci["saturated"].any()  # the clip never bound: the long-run bound applies throughout


def test_legitimate_coverage_is_untouched_by_a_drift_of_the_frauds(concept_drift):
    """The drift moves only the frauds' scores: every method's legitimate coverage stays at 90 %.

    Tolerance: pooled legitimate coverage over the replayed days within 0.5 pp of 90 %
    (measured 89.97 % to 90.00 %; about 2.3M legitimate cases, standard error 0.02 pp).
    """
    legitimate = concept_drift[concept_drift["class"] == "legitimate"].groupby("config")[["covered", "n"]].sum()
    rates = legitimate["covered"] / legitimate["n"]
    print("concept drift, legitimate coverage:", rates.round(4).to_dict())
    assert ((rates - TARGET).abs() < 0.005).all()


# ------------------------------------------------------------------ prior shift


def prior_shift_replays(multiplier: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Days 35-59 before and 60-119 after the fraud odds are multiplied; triage frozen at the start of each."""
    frame = generate(
        ScenarioConfig(
            days=120,
            rows_per_day=20_000,
            fraud_rate=0.03,
            seed=0,
            prior_shift_day=PRIOR_SHIFT,
            prior_multiplier=multiplier,
            **DELAYS,
        )
    )
    common = {"window_days": WINDOW_DAYS, "label_maturity_days": MATURITY_DAYS}
    mondrian = MethodConfig("mondrian", "mondrian")
    before = replay(
        frame,
        days=range(35, PRIOR_SHIFT),
        configs=[mondrian, MethodConfig("triage", "venn_abers", {"frozen_as_of": 35})],
        **common,
    )
    after = replay(
        frame,
        days=range(PRIOR_SHIFT, 120),
        configs=[mondrian, MethodConfig("triage", "venn_abers", {"frozen_as_of": PRIOR_SHIFT})],
        **common,
    )
    return before, after


def pooled_coverage(replayed: pd.DataFrame, class_name: str) -> float:
    part = replayed[(replayed["config"] == "mondrian") & (replayed["class"] == class_name)]
    return float(part["covered"].sum() / part["n"].sum())


def realized_precision(replayed: pd.DataFrame) -> tuple[int, int]:
    part = replayed[replayed["config"] == "triage"]
    return int(part["tickets_fraud"].sum()), int(part["tickets"].sum())


@pytest.mark.parametrize(
    ("multiplier", "precision_moves"),
    [(0.5, "falls below target"), (2.0, "rises")],
    ids=["fraud-rate-halves", "fraud-rate-doubles"],
)
def test_prior_shift_leaves_mondrian_coverage_and_moves_the_certified_precision(multiplier, precision_moves):
    """The fraud odds halve (about 3 % to 1.5 %) or double at day 60; what frauds and legitimate cases look like does not change.

    Mondrian: pooled per-class coverage over days 35-59 against days 60-119 (15,000 and
    18,000 frauds when it halves, 69,000 when it doubles; 440,000 and 1M legitimate cases).
    Tolerance: each class moves by less than 1 pp. Measured (seed 0): frauds 90.36 % ->
    89.96 % (halves) and 89.95 % (doubles); legitimate 90.06 % -> 89.99 % in both; seeds 1
    and 2 moved frauds by at most 0.52 pp.

    Certified triage (fraudcal.triage, target precision 0.95 at confidence 0.90): the
    thresholds certified on the window of as_of 35 (resp. 60, just before the shift's days
    enter any window) are applied unchanged, and the tickets' realized precision is computed
    before and after, with whether the certificate is violated (95 % Wilson interval entirely
    below target). The certificate promises nothing once the days stop looking like the
    window: when the fraud rate halves, the precision at a fixed score threshold falls with the
    fraud odds, and the replay reports it. Measured (seed 0): 94.6 % before (1,180 of 1,247
    tickets); after the halving 92.7 % (1,200 of 1,294; Wilson 91.2 % to 94.0 %: violated);
    after the doubling 98.1 % (4,526 of 4,615). Seeds 1 and 2 after the halving: 93.9 % and
    91.6 %. Asserted: below the target after the halving, above the before figure after the
    doubling.
    """
    before, after = prior_shift_replays(multiplier)
    for class_name in ("fraud", "legitimate"):
        old, new = pooled_coverage(before, class_name), pooled_coverage(after, class_name)
        print(
            f"prior x{multiplier}: Mondrian {class_name} coverage {old:.2%} -> {new:.2%} ({100 * (new - old):+.2f} pp)"
        )
        assert abs(new - old) < 0.01
    (frauds_before, tickets_before), (frauds_after, tickets_after) = (
        realized_precision(before),
        realized_precision(after),
    )
    precision_before, precision_after = frauds_before / tickets_before, frauds_after / tickets_after
    violated = certificate_violated(frauds_after, tickets_after, DEFAULT_TICKET_PRECISION)
    print(
        f"prior x{multiplier}: certified ticket precision (target {DEFAULT_TICKET_PRECISION:.0%}) realized "
        f"{precision_before:.1%} before ({frauds_before} of {tickets_before}), {precision_after:.1%} after "
        f"({frauds_after} of {tickets_after}); violated after: {violated}"
    )
    for row in verdict(after):
        print(f"prior x{multiplier}, after:", verdict_sentence(row))
    if precision_moves == "falls below target":
        assert precision_after < DEFAULT_TICKET_PRECISION
    else:
        assert precision_after > precision_before


# ------------------------------------------------------------------ determinism and speed


def test_the_same_config_gives_the_same_frame_bit_for_bit():
    config = ScenarioConfig(
        days=20, rows_per_day=3_000, seed=7, drift_start_day=5, concept_drift_logit=1.0, prior_multiplier=0.5, **DELAYS
    )
    first, second = generate(config), generate(config)
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    assert not generate(ScenarioConfig(days=20, rows_per_day=3_000, seed=8)).equals(first)
    assert first["predicted_at"].is_monotonic_increasing
    assert np.isinf(first["label_day"]).any() and (first["label_day"] >= first["day"]).all()


def test_prior_shift_keeps_the_class_conditional_scores():
    """The classes' score distributions before and after a prior shift are the same law.

    Tolerance: a two-sample Kolmogorov-Smirnov p-value above 0.001 per class (the fraud
    rate halves at day 30 of 60; 30,000 rows a day). And the fraud rate does halve in odds:
    within 0.2 pp of the exact rate.
    """
    from scipy.stats import ks_2samp

    config = ScenarioConfig(days=60, rows_per_day=30_000, seed=3, prior_shift_day=30, prior_multiplier=0.5)
    frame = generate(config)
    after = frame["day"] >= 30
    for fraud in (True, False):
        members = frame["label"] == fraud
        result = ks_2samp(frame.loc[members & ~after, "probability"], frame.loc[members & after, "probability"])
        assert result.pvalue > 0.001
    odds = 0.5 * 0.03 / 0.97
    assert abs(frame.loc[after, "label"].mean() - odds / (1 + odds)) < 0.002


def test_the_replay_of_a_300k_row_history_is_fast():
    """90 days x the four default configurations on 300,000 rows (120 days of 2,500).

    Tolerance: under 60 s. Measured on a shared 2-core machine: 1.4 to 3.4 s, 44 to 47 times
    one argsort and one per-class quantile pass over the same rows (0.03 to 0.07 s); without
    Venn-Abers (the daily triage certificate and isotonic fit on a 51,000-row window, with the
    ECE of the raw score and of its p) 0.8 to 1.2 s, 14 to 22 times.
    """
    frame = generate(ScenarioConfig(days=120, rows_per_day=2_500, seed=0, **DELAYS))
    figures = replay_benchmark(
        frame,
        days=range(30, 120),
        configs=default_configs(),
        window_days=WINDOW_DAYS,
        label_maturity_days=MATURITY_DAYS,
    )
    print(
        f"replay of {figures['rows']} rows, {figures['days']} days x {len(figures['configs'])} configurations: "
        f"{figures['replay_seconds']:.2f} s; one pass {figures['single_pass_seconds']:.3f} s; ratio {figures['ratio']:.0f}"
    )
    assert figures["replay_seconds"] < 60
