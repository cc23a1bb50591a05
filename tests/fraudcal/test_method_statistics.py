"""Seeded simulations: Mondrian covers each class at the target, the residual method does not.

Data: a calibrated model with rare fraud. Scores ``p ~ Beta(0.3, 9.7)`` (mean 0.03) and
labels ``y ~ Bernoulli(p)``, so that given the class the scores are ``Beta(1.3, 9.7)``
(frauds) and ``Beta(0.3, 10.7)`` (legitimate cases). Each window calibrates on 2,000 rows
(about 60 frauds, well above the 9 that 90 % needs) and is judged on 20,000 fresh rows; 200
windows are averaged. Tolerances are stated per test and derived in the docstrings.
"""

from __future__ import annotations

import numpy as np
import pytest

from fraudcal.conformal import conformal_quantile, interval_contains, prediction_intervals, residual_scores
from fraudcal.mondrian import compute_mondrian, mondrian_covers

pytestmark = pytest.mark.statistical

LEVEL = "90"
TARGET = 0.90
WINDOWS = 200
CALIBRATION_ROWS = 2_000
TEST_ROWS = 20_000


def _draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    p = rng.beta(0.3, 9.7, size=n)
    return p, rng.random(n) < p


def _draw_with_fraud_rate(rng: np.random.Generator, n: int, fraud_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Label shift: the class is drawn first at ``fraud_rate``, then the score from its class's law."""
    y = rng.random(n) < fraud_rate
    return np.where(y, rng.beta(1.3, 9.7, size=n), rng.beta(0.3, 10.7, size=n)), y


def _simulate(seed: int, test_draw) -> dict[str, np.ndarray]:
    """Per window: Mondrian coverage of frauds and of legitimate cases, residual fraud coverage, 1/(n_c + 1)."""
    rng = np.random.default_rng(seed)
    figures: dict[str, list[float]] = {name: [] for name in ("fraud", "legit", "residual_fraud", "residual_all")}
    figures.update(slack_fraud=[], slack_legit=[])
    for _ in range(WINDOWS):
        p_cal, y_cal = _draw(rng, CALIBRATION_ROWS)
        p_test, y_test = test_draw(rng)
        covered = mondrian_covers(p_test, y_test, compute_mondrian(p_cal, y_cal, levels=[LEVEL]), LEVEL)
        figures["fraud"].append(covered[y_test].mean())
        figures["legit"].append(covered[~y_test].mean())
        q, _ = conformal_quantile(residual_scores(p_cal, y_cal), LEVEL)
        intervals = prediction_intervals(p_test, q, 0.2)
        residual = interval_contains(intervals.lower, intervals.upper, y_test)
        figures["residual_fraud"].append(residual[y_test].mean())
        figures["residual_all"].append(residual.mean())
        figures["slack_fraud"].append(1 / (y_cal.sum() + 1))
        figures["slack_legit"].append(1 / ((~y_cal).sum() + 1))
    return {name: np.asarray(values) for name, values in figures.items()}


@pytest.fixture(scope="module")
def exchangeable() -> dict[str, np.ndarray]:
    return _simulate(20250301, lambda rng: _draw(rng, TEST_ROWS))


def _mean_and_standard_error(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


def test_mondrian_covers_frauds_at_the_target(exchangeable):
    """Mean fraud coverage over 200 windows in [0.90 - 0.012, 0.90 + E[1/(n_1+1)] + 0.012].

    Per window the fraud coverage given the calibration set is Beta(k, n_1 + 1 - k) with
    n_1 ~ 60 (sd ~ 0.038), plus test noise over ~600 frauds (sd ~ 0.012): sd ~ 0.04, so the
    mean of 200 has a Monte-Carlo SE ~ 0.0028; the tolerance 0.012 is over 4 SE. The SE is
    also measured and must stay below 0.004, so that the tolerance keeps its meaning.
    """
    mean, standard_error = _mean_and_standard_error(exchangeable["fraud"])
    assert standard_error < 0.004, standard_error
    assert TARGET - 0.012 <= mean <= TARGET + exchangeable["slack_fraud"].mean() + 0.012, (mean, standard_error)


def test_mondrian_covers_legitimate_cases_at_the_target(exchangeable):
    """Mean legitimate coverage in [0.90 - 0.003, 0.90 + E[1/(n_0+1)] + 0.003].

    n_0 ~ 1,940: per-window sd ~ 0.007 (calibration) and ~ 0.002 (test), SE of the mean of
    200 ~ 0.0005; the tolerance 0.003 is 6 SE. Measured SE must stay below 0.001.
    """
    mean, standard_error = _mean_and_standard_error(exchangeable["legit"])
    assert standard_error < 0.001, standard_error
    assert TARGET - 0.003 <= mean <= TARGET + exchangeable["slack_legit"].mean() + 0.003, (mean, standard_error)


def test_the_residual_method_is_on_target_overall_yet_misses_the_frauds(exchangeable):
    """The weakness of DESIGN.md section 4 on the same windows.

    Marginal coverage within 0.005 of 0.90 (SE ~ 0.0005), but mean fraud coverage below
    0.10: with q ~ 0.1 a fraud is covered only if p >= 0.9, which Beta(1.3, 9.7) almost
    never gives (the measured value is about 0). Mondrian's fraud coverage is over 0.85
    higher on the same windows.
    """
    assert abs(exchangeable["residual_all"].mean() - TARGET) < 0.005
    assert exchangeable["residual_fraud"].mean() < 0.10
    assert exchangeable["fraud"].mean() - exchangeable["residual_fraud"].mean() > 0.75


def test_mondrian_keeps_per_class_coverage_under_label_shift():
    """Test windows with 15 % fraud (calibrated on 3 %): same class-conditional laws.

    Podkopaev & Ramdas (2021): per-class coverage does not depend on the class frequencies.
    Fraud coverage now averages over ~3,000 test frauds per window (test sd ~ 0.005), so the
    SE of the mean stays ~ 0.0028 and the same tolerance, 0.012, applies.
    """
    shifted = _simulate(20250302, lambda rng: _draw_with_fraud_rate(rng, TEST_ROWS, 0.15))
    mean, standard_error = _mean_and_standard_error(shifted["fraud"])
    assert standard_error < 0.004, standard_error
    assert TARGET - 0.012 <= mean <= TARGET + shifted["slack_fraud"].mean() + 0.012, (mean, standard_error)
    legit_mean, _ = _mean_and_standard_error(shifted["legit"])
    assert TARGET - 0.003 <= legit_mean <= TARGET + shifted["slack_legit"].mean() + 0.003, legit_mean
