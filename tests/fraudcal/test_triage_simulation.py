"""Seeded simulations: certified triage keeps its guarantee, automates most of what an oracle would.

Data: a calibrated model by construction. Scores ``p = expit(MU + SIGMA z)``, ``z ~ N(0, 1)``
(logistic-normal, :data:`MU` = -6.5, :data:`SIGMA` = 3.5: 4.94 % fraud), labels ``y ~
Bernoulli(p)``, so ``P(fraud | score) = score``, non-decreasing as the method assumes. Windows
of 40,000 rows, confidence 0.90; ticket target precision 0.90, clear target NPV 0.999.

The truth comes from the generating law, by numerical integration over ``z`` (:class:`Law`):
the true precision of a threshold ``t`` is ``E[p | p >= t]``, its true automation ``P(p >=
t)``; the oracle threshold is the loosest one whose true precision meets the target (0.7900,
automating 1.27 % of scores; the clear oracle 0.005974 clears 65.4 %).

Tolerances. A window violates when it certifies a threshold whose true precision (NPV) is
below the target; the guarantee is ``P(violation) <= 0.10``. Over ``W`` windows the violation
rate's Monte-Carlo standard error at 0.10 is ``sqrt(0.1 * 0.9 / W)`` (0.0095 at W = 1,000), so
the tests allow ``0.10 + 2 SE``. Certification must reach 95 % of windows and the median
automation 0.75 of the oracle's (the issue's first try: about 0.8 of the oracle, 99 %
certified, 8.5 % violated; ``pytest -s`` prints what this run measures).

What was measured (``pytest -s tests/fraudcal/test_triage_simulation.py``; seeded, so these
are the figures every run prints):

- ticket at 0.90 (1,000 windows): violated in 7.8 % of windows, certified in 99.2 %, median
  automation 0.794 of the oracle's (mean 0.766); median true precision when certified 0.922;
- clear at 0.999 (1,000 windows): violated in 7.3 %, certified in 100 %, median automation
  0.931 of the oracle's;
- candidate sequences on 300 other windows (ticket): the 0.5 % grid 0.792 of the oracle, every
  row 0.792, steps of 5 % 0.785, every row from 100 selected rows (the issue's first try)
  0.796; all certified 99 %. A fixed start at 100 rows cannot serve the clear side: an NPV of
  0.999 needs at least 2,302 rows;
- a sequence starting at the 10 highest scores certifies nothing (100 windows);
- prior shift: on days whose fraud rate is half the window's (4.94 % -> 2.47 %, same score law
  per class), the certified ticket thresholds' true precision has median 0.853 (0.766 to
  0.986) and the realized precision over all their tickets is 0.848, against a target of
  0.90: the guarantee needs the day to look like the window;
- ties (scores rounded to 2 decimals, 300 windows): ticket violated 6 %, certified 99 %;
  clear violated 0 %, certified only 25 % (a tie group is taken whole or not at all).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from fraudcal.triage import CANDIDATE_STEP_DIVISOR, certify_ticket_threshold, certify_triage, first_count

pytestmark = [pytest.mark.statistical, pytest.mark.slow]

MU, SIGMA = -6.5, 3.5
ROWS = 40_000
WINDOWS = 1_000
TARGET_PRECISION, TARGET_NPV, CONFIDENCE = 0.90, 0.999, 0.90
#: Two Monte-Carlo standard errors of a violation rate of 1 - CONFIDENCE over WINDOWS windows.
VIOLATION_TOLERANCE = 2 * np.sqrt(CONFIDENCE * (1 - CONFIDENCE) / WINDOWS)


def draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    p = special.expit(MU + SIGMA * rng.standard_normal(n))
    return p, rng.random(n) < p


class Law:
    """The generating law's truth: masses and fraud masses above or below a score.

    ``E[p 1{z <= x}]`` is integrated once on a grid of ``z`` (step 1e-4 over [-14, 14], Simpson's
    rule) and read by linear interpolation (error below 2e-9); ``P(p >= t)`` is the normal tail.
    Vectorised over thresholds. Checked against :func:`scipy.integrate.quad` and a large sample.
    """

    def __init__(self) -> None:
        self.z = np.linspace(-14.0, 14.0, 280_001)
        density = special.expit(MU + SIGMA * self.z) * stats.norm.pdf(self.z)
        self.cumulative = integrate.cumulative_simpson(density, x=self.z, initial=0.0)
        self.fraud_rate = float(self.cumulative[-1])

    @staticmethod
    def _z(score):
        return (special.logit(score) - MU) / SIGMA

    def above(self, t):
        """``P(p >= t)`` and ``E[p 1{p >= t}]``."""
        z = self._z(t)
        return stats.norm.sf(z), self.fraud_rate - np.interp(z, self.z, self.cumulative)

    def below(self, c):
        """``P(p <= c)`` and ``E[p 1{p <= c}]``."""
        z = self._z(c)
        return stats.norm.cdf(z), np.interp(z, self.z, self.cumulative)

    def precision(self, t):
        mass, frauds = self.above(t)
        return frauds / mass

    def npv(self, c):
        mass, frauds = self.below(c)
        return 1 - frauds / mass

    def shifted_precision(self, t, factor: float):
        """Precision of ``score >= t`` when the fraud rate is ``factor`` x as high, per-class score laws unchanged."""
        mass, frauds = self.above(t)
        rate = factor * self.fraud_rate
        # P(S >= t | fraud) = frauds / fraud_rate; P(S >= t | legitimate) = (mass - frauds) / (1 - fraud_rate).
        fraud_part = rate * frauds / self.fraud_rate
        legitimate_part = (1 - rate) * (mass - frauds) / (1 - self.fraud_rate)
        return fraud_part / (fraud_part + legitimate_part)

    def oracle_ticket(self) -> tuple[float, float]:
        """The loosest threshold whose true precision is the target, and the share it automates."""
        t = optimize.brentq(lambda t: self.precision(t) - TARGET_PRECISION, 0.01, 0.999, xtol=1e-14)
        return t, float(self.above(t)[0])

    def oracle_clear(self) -> tuple[float, float]:
        c = optimize.brentq(lambda c: self.npv(c) - TARGET_NPV, 1e-6, 0.5, xtol=1e-16)
        return c, float(self.below(c)[0])


@pytest.fixture(scope="module")
def law() -> Law:
    return Law()


def test_the_generator_is_what_the_docstring_says(law):
    rng = np.random.default_rng(1)
    p, y = draw(rng, 2_000_000)
    assert law.fraud_rate == pytest.approx(0.0494, abs=5e-4)
    assert y.mean() == pytest.approx(law.fraud_rate, abs=5 * np.sqrt(law.fraud_rate / p.size))
    t, share = law.oracle_ticket()
    assert (round(t, 4), round(share, 4)) == (0.79, 0.0127)
    # The integration against a large sample: precision and automation at the oracle threshold.
    assert y[p >= t].mean() == pytest.approx(TARGET_PRECISION, abs=0.006)
    assert (p >= t).mean() == pytest.approx(share, abs=5e-4)
    c, cleared = law.oracle_clear()
    assert 1 - y[p <= c].mean() == pytest.approx(TARGET_NPV, abs=1e-4)
    assert (round(c, 6), round(cleared, 3)) == (0.005974, 0.654)
    # The grid integration against adaptive quadrature, at both oracles.
    for score in (t, c):
        z = (special.logit(score) - MU) / SIGMA
        below, _ = integrate.quad(
            lambda x: special.expit(MU + SIGMA * x) * stats.norm.pdf(x), -np.inf, z, epsabs=1e-14, epsrel=1e-12
        )
        assert law.below(score)[1] == pytest.approx(below, rel=1e-7, abs=1e-12)


@pytest.fixture(scope="module")
def simulation(law) -> dict[str, np.ndarray]:
    """Per window: each side's certified threshold (NaN: none), and one day with half the fraud rate."""
    rng = np.random.default_rng(20250314)
    keep = (1 - law.fraud_rate) / (2 - law.fraud_rate)  # thinning frauds by this halves the fraud rate
    figures: dict[str, list] = {
        name: [] for name in ("ticket", "clear", "shifted_tickets", "shifted_frauds", "day_rate")
    }
    for _ in range(WINDOWS):
        p, y = draw(rng, ROWS)
        triage = certify_triage(p, y, target_precision=TARGET_PRECISION, target_npv=TARGET_NPV, confidence=CONFIDENCE)
        for side in ("ticket", "clear"):
            certificate = getattr(triage, side)
            figures[side].append(certificate.threshold if certificate.certified else np.nan)
        # One day drawn from the shifted law: frauds thinned, legitimate cases kept.
        day_p, day_y = draw(rng, ROWS)
        kept = ~day_y | (rng.random(ROWS) < keep)
        day_p, day_y = day_p[kept], day_y[kept]
        tickets = triage.ticket.automates(day_p)
        figures["shifted_tickets"].append(int(tickets.sum()))
        figures["shifted_frauds"].append(int(day_y[tickets].sum()))
        figures["day_rate"].append(day_y.mean())
    result = {name: np.asarray(values, dtype=float) for name, values in figures.items()}
    for side, truth in (("ticket", law.above), ("clear", law.below)):
        certified = ~np.isnan(result[side])
        mass, frauds = truth(np.where(certified, result[side], 0.5))
        rate = frauds / mass if side == "ticket" else 1 - frauds / mass
        result[f"{side}_certified"] = certified
        result[f"{side}_rate"] = np.where(certified, rate, np.nan)
        result[f"{side}_share"] = np.where(certified, mass, 0.0)
    result["shifted_precision"] = law.shifted_precision(result["ticket"][result["ticket_certified"]], 0.5)
    return result


def _report(side: str, certified: np.ndarray, true_rate: np.ndarray, share: np.ndarray, target: float, oracle: float):
    violated = certified & (true_rate < target)
    figures = {
        "violation_rate": float(violated.mean()),
        "certified_rate": float(certified.mean()),
        "median_automation_over_oracle": float(np.median(share) / oracle),
        "mean_automation_over_oracle": float(share.mean() / oracle),
        "median_true_rate_when_certified": float(np.median(true_rate[certified])),
    }
    print(f"\n{side} ({WINDOWS} windows of {ROWS:,} rows, target {target}, confidence {CONFIDENCE}): {figures}")
    return figures


def test_ticket_side_meets_its_guarantee_and_automates(simulation, law):
    """Violations <= 0.10 + 2 SE; certified in >= 95 % of windows; median automation >= 0.75 of the oracle's."""
    figures = _report(
        "ticket",
        simulation["ticket_certified"],
        simulation["ticket_rate"],
        simulation["ticket_share"],
        TARGET_PRECISION,
        law.oracle_ticket()[1],
    )
    assert figures["violation_rate"] <= (1 - CONFIDENCE) + VIOLATION_TOLERANCE, figures
    assert figures["certified_rate"] >= 0.95, figures
    assert figures["median_automation_over_oracle"] >= 0.75, figures


def test_clear_side_meets_its_guarantee(simulation, law):
    """Violations <= 0.10 + 2 SE at an NPV of 0.999; certification and automation are reported."""
    figures = _report(
        "clear",
        simulation["clear_certified"],
        simulation["clear_rate"],
        simulation["clear_share"],
        TARGET_NPV,
        law.oracle_clear()[1],
    )
    assert figures["violation_rate"] <= (1 - CONFIDENCE) + VIOLATION_TOLERANCE, figures
    assert figures["certified_rate"] >= 0.95, figures
    assert figures["median_automation_over_oracle"] >= 0.75, figures


def test_a_day_with_half_the_fraud_rate_breaks_the_precision(simulation, law):
    """Prior shift: the certificate assumed the day looks like the window, and it does not.

    The odds of fraud halve at every score: the certified thresholds' true precision (about
    0.92 on days like the window) falls to about 0.85. Asserted: the figures are computed, in
    range, below the target (what the reports must show), and the realized precision of the
    days agrees with the law's within 0.02; recorded in the docstrings, printed with ``-s``.
    """
    shifted = simulation["shifted_precision"]
    realized = simulation["shifted_frauds"].sum() / simulation["shifted_tickets"].sum()
    day_rate = float(simulation["day_rate"].mean())
    print(
        f"\nfraud rate halved ({law.fraud_rate:.4f} -> {day_rate:.4f} on the days): true precision of the "
        f"certified ticket thresholds, median {np.median(shifted):.3f} (min {shifted.min():.3f}, max "
        f"{shifted.max():.3f}); realized over {int(simulation['shifted_tickets'].sum()):,} tickets: {realized:.3f}"
    )
    assert day_rate == pytest.approx(law.fraud_rate / 2, rel=0.02)
    assert shifted.size == simulation["ticket_certified"].sum() and np.all((shifted > 0) & (shifted < 1))
    assert 0 < realized < TARGET_PRECISION
    assert np.median(shifted) < TARGET_PRECISION
    assert realized == pytest.approx(np.median(shifted), abs=0.02)


def test_a_sequence_starting_at_the_ten_highest_scores_certifies_nothing():
    """10 frauds out of 10 have p-value 0.9**10 = 0.35 > 0.10: the walk stops before it starts.

    On the same kind of windows the module's sequence certifies (checked alongside).
    """
    rng = np.random.default_rng(77)
    naive, default = [], []
    for _ in range(100):
        p, y = draw(rng, ROWS)
        naive_counts = np.arange(10, ROWS + 1)
        kwargs = {"target_precision": TARGET_PRECISION, "confidence": CONFIDENCE}
        naive.append(certify_ticket_threshold(p, y, counts=naive_counts, **kwargs).certified)
        default.append(certify_ticket_threshold(p, y, **kwargs).certified)
    print(
        f"\nstarting at the 10 highest scores: {np.mean(naive):.0%} certified; the module's sequence: {np.mean(default):.0%}"
    )
    assert not any(naive)
    assert np.mean(default) >= 0.95


def test_the_grid_loses_nothing_measurable_to_testing_every_row(law):
    """Median automation of the 0.5 % grid within 0.02 of the oracle's of testing every count.

    Also printed, on the same 300 windows: steps of 5 %, and every row from 100 selected rows
    (the issue's first try), with their certification and violation rates.
    """
    rng = np.random.default_rng(4242)
    first = first_count(ROWS, TARGET_PRECISION, CONFIDENCE)
    sequences = {
        "0.5 % steps (default)": None,
        "every row": np.arange(first, ROWS + 1),
        "5 % steps": _geometric(first, 20),
        "every row from 100": np.arange(100, ROWS + 1),
    }
    assert CANDIDATE_STEP_DIVISOR == 200  # the default this test compares
    thresholds: dict[str, list[float]] = {name: [] for name in sequences}
    for _ in range(300):
        p, y = draw(rng, ROWS)
        for name, counts in sequences.items():
            certificate = certify_ticket_threshold(
                p, y, target_precision=TARGET_PRECISION, confidence=CONFIDENCE, counts=counts
            )
            thresholds[name].append(certificate.threshold if certificate.certified else np.nan)
    oracle = law.oracle_ticket()[1]
    figures = {}
    for name, values in thresholds.items():
        values = np.asarray(values)
        certified = ~np.isnan(values)
        mass, frauds = law.above(np.where(certified, values, 0.5))
        share = np.where(certified, mass, 0.0)
        figures[name] = {
            "median_automation_over_oracle": round(float(np.median(share) / oracle), 4),
            "certified_rate": float(certified.mean()),
            "violation_rate": float((certified & (frauds / mass < TARGET_PRECISION)).mean()),
        }
    print(f"\ncandidate sequences on 300 windows: {figures}")
    default, every_row = figures["0.5 % steps (default)"], figures["every row"]
    assert default["median_automation_over_oracle"] >= every_row["median_automation_over_oracle"] - 0.02, figures


def _geometric(first: int, divisor: int) -> np.ndarray:
    counts = [first]
    while counts[-1] < ROWS:
        counts.append(min(ROWS, counts[-1] + max(1, counts[-1] // divisor)))
    return np.asarray(counts)


def test_ties_rounded_scores_keep_the_guarantee_here_but_cost_automation(law):
    """Scores rounded to 2 decimals (big tie groups): violations <= 0.10 + 2 SE over 300 windows.

    The validity argument needs continuous scores; this measures one tied case rather than
    proving anything. A rounded score ``r`` stands for ``p`` in ``[r - 0.005, r + 0.005)``, so
    the true precision of ``score >= r`` is that of ``p >= r - 0.005`` (and the NPV of ``score
    <= r`` that of ``p < r + 0.005``). Printed: the clear side rarely certifies, because the
    tie group at 0.01 holds too many frauds to be taken whole.
    """
    rng = np.random.default_rng(99)
    windows = 300
    tolerance = 2 * np.sqrt(CONFIDENCE * (1 - CONFIDENCE) / windows)
    counts = {"ticket_certified": 0, "ticket_violated": 0, "clear_certified": 0, "clear_violated": 0}
    for _ in range(windows):
        p, y = draw(rng, ROWS)
        triage = certify_triage(
            np.round(p, 2), y, target_precision=TARGET_PRECISION, target_npv=TARGET_NPV, confidence=CONFIDENCE
        )
        if triage.ticket.certified:
            counts["ticket_certified"] += 1
            counts["ticket_violated"] += int(
                law.precision(max(triage.ticket.threshold - 0.005, 1e-12)) < TARGET_PRECISION
            )
        if triage.clear.certified:
            counts["clear_certified"] += 1
            counts["clear_violated"] += int(law.npv(triage.clear.threshold + 0.005) < TARGET_NPV)
    rates = {name: round(count / windows, 4) for name, count in counts.items()}
    print(f"\nscores rounded to 2 decimals ({windows} windows): {rates}")
    assert rates["ticket_violated"] <= (1 - CONFIDENCE) + tolerance, rates
    assert rates["clear_violated"] <= (1 - CONFIDENCE) + tolerance, rates
    assert rates["ticket_certified"] >= 0.95, rates
