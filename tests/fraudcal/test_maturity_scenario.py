"""Seeded scenario: late labels bias a window's fraud rate, and label maturity removes the bias.

The generator (:func:`scenario`, seeded): 20,000 predictions a day for 90 days, 3 % fraud;
85 % of the predictions of either class are ever labeled; a label is recorded ``k`` days
after its prediction day, ``k`` drawn per class over 0..14 days: frauds are confirmed fast
(:data:`FRAUD_DELAY`, 85 % within 2 days), legitimate cases cleared slowly
(:data:`LEGIT_DELAY`, mean 7.1 days). Every day ``D`` the append-only snapshot table receives,
through :func:`fraudcal.maturity.snapshot_rows`, each prediction day's counts as they stand at
the end of ``D`` (labels recorded on a day ``<= D``).

For a run with ``as_of`` at day 60 or 90 (00:00 UTC), the curve is made from the snapshots up
to ``snapshot_day_for(as_of)``, ``"auto"`` resolves the maturity, and the 28 prediction days
before ``matured_until(as_of, maturity)`` form the window. Its labeled rows' fraud rate is
compared with the true fraud rate of the same days (every prediction, labeled or not).

Tolerances: the auto maturity is within 1 day of the generator's true 95 % arrival age (12
days, from :data:`FRAUD_DELAY` and :data:`LEGIT_DELAY` alone); the matured window's fraud rate
is within +-10 % (relative) of the true rate; the window that ignores maturity (the 28 days
before as_of, every label up to as_of) is more than 10 % above it and at least 5 times as
biased. Measured (``python -m tests.fraudcal.test_maturity_scenario`` prints them): auto
chooses 12 days at both as_of (true 12; 12 from the single newest snapshot too). With maturity
the window's labeled fraud rate is 3.056 % against a true 3.049 % (+0.2 %) at day 60 and
3.009 % against 3.012 % (-0.1 %) at day 90; without maturity 3.807 % against 3.027 % (+25.8 %)
and 3.798 % against 3.017 % (+25.9 %).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

from fraudcal.maturity import (
    AUTO_MATURITY_SHARE,
    arrival_curve,
    matured_until,
    resolve_label_maturity,
    snapshot_day_for,
    snapshot_rows,
)

pytestmark = pytest.mark.statistical

SEED = 20250415
DAYS = 90
PER_DAY = 20_000
FRAUD_RATE = 0.03
LABEL_PROBABILITY = 0.85
WINDOW_DAYS = 28
START = date(2025, 1, 1)
#: Probability that a fraud's label is recorded k = 0..14 days after its prediction day.
FRAUD_DELAY = np.array([30, 35, 20, 8, 4, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0]) / 100
#: The same for a legitimate case: cleared after a week or two.
LEGIT_DELAY = np.array([1, 3, 5, 7, 9, 10, 11, 11, 10, 9, 8, 7, 5, 2, 2]) / 100
NEVER = np.iinfo(np.int64).max
AS_OF_DAYS = (60, 90)


@dataclass(frozen=True)
class Scenario:
    day: np.ndarray  # prediction day of each row, 0..DAYS-1, in order
    fraud: np.ndarray  # the truth, known or not
    label_day: np.ndarray  # the day its label is recorded, NEVER if it never is
    snapshots: pd.DataFrame  # the append-only table, every snapshot day 0..DAYS-1


def true_arrival_age(share: float = AUTO_MATURITY_SHARE) -> int:
    """Youngest age at which ``share`` of the eventual labels are in, from the delay laws alone."""
    arrived = FRAUD_RATE * np.cumsum(FRAUD_DELAY) + (1 - FRAUD_RATE) * np.cumsum(LEGIT_DELAY)
    return int(np.flatnonzero(arrived >= share)[0])


@lru_cache(maxsize=1)
def scenario() -> Scenario:
    rng = np.random.default_rng(SEED)
    n = DAYS * PER_DAY
    day = np.repeat(np.arange(DAYS), PER_DAY)
    fraud = rng.random(n) < FRAUD_RATE
    delay = np.where(
        fraud, rng.choice(FRAUD_DELAY.size, size=n, p=FRAUD_DELAY), rng.choice(LEGIT_DELAY.size, size=n, p=LEGIT_DELAY)
    )
    label_day = np.where(rng.random(n) < LABEL_PROBABILITY, day + delay, NEVER)
    dates = np.datetime64(START) + day.astype("timedelta64[D]")
    snapshots = []
    for snapshot in range(DAYS):
        rows = slice(0, (snapshot + 1) * PER_DAY)  # the prediction days 0..snapshot
        labeled = label_day[rows] <= snapshot
        snapshots.append(
            snapshot_rows(
                dates[rows], labeled, fraud=fraud[rows] & labeled, snapshot_day=START + timedelta(days=snapshot)
            )
        )
    return Scenario(day, fraud, label_day, pd.concat(snapshots, ignore_index=True))


def window_rates(data: Scenario, as_of: datetime, maturity: int) -> dict[str, float]:
    """Fraud rate of the window's labeled rows (as of ``as_of``) and of all its rows."""
    end = (matured_until(as_of, maturity).date() - START).days
    in_window = (data.day >= end - WINDOW_DAYS) & (data.day < end)
    labeled = data.label_day <= (snapshot_day_for(as_of) - START).days
    observed = float(data.fraud[in_window & labeled].mean())
    true = float(data.fraud[in_window].mean())
    return {"observed": observed, "true": true, "relative_bias": observed / true - 1}


def measure(as_of_day: int) -> dict[str, object]:
    data = scenario()
    as_of = datetime.combine(START + timedelta(days=as_of_day), datetime.min.time(), UTC)
    seen = data.snapshots[data.snapshots["snapshot_day"] <= snapshot_day_for(as_of)]
    newest = seen[seen["snapshot_day"] == seen["snapshot_day"].max()]
    choice = resolve_label_maturity("auto", arrival_curve(seen))
    return {
        "as_of": as_of.isoformat(),
        "true_95_arrival_age": true_arrival_age(),
        "auto": choice.to_dict(),
        "auto_from_newest_snapshot": arrival_curve(newest).maturity_days(),
        "with_maturity": window_rates(data, as_of, choice.days),
        "without_maturity": window_rates(data, as_of, 0),
    }


def test_the_generator_delays_frauds_less_than_legitimate_cases():
    """The premise: frauds arrive first, so the young days' labeled rows are fraud-rich."""
    mean_delay = np.arange(15) @ FRAUD_DELAY, np.arange(15) @ LEGIT_DELAY
    assert mean_delay[0] < 1.5 < 6 < mean_delay[1]
    assert FRAUD_DELAY.sum() == pytest.approx(1) and LEGIT_DELAY.sum() == pytest.approx(1)
    data = scenario()
    assert abs(data.fraud.mean() - FRAUD_RATE) < 0.001
    assert len(data.snapshots) == DAYS * (DAYS + 1) // 2  # every prediction day in every later snapshot


@pytest.mark.parametrize("as_of_day", AS_OF_DAYS)
def test_auto_picks_the_true_arrival_age_within_a_day(as_of_day):
    figures = measure(as_of_day)
    assert true_arrival_age() == 12
    assert abs(figures["auto"]["days"] - true_arrival_age()) <= 1, figures
    assert abs(figures["auto_from_newest_snapshot"] - true_arrival_age()) <= 1, figures
    assert figures["auto"]["reason"].startswith("auto: 95 % of a cohort's eventual labels arrive within")


@pytest.mark.parametrize("as_of_day", AS_OF_DAYS)
def test_a_matured_window_has_the_true_fraud_rate_and_an_unmatured_one_does_not(as_of_day):
    figures = measure(as_of_day)
    matured, unmatured = figures["with_maturity"], figures["without_maturity"]
    assert abs(matured["relative_bias"]) <= 0.10, figures
    assert unmatured["relative_bias"] > 0.10, figures
    assert unmatured["relative_bias"] >= 5 * abs(matured["relative_bias"]), figures


def main() -> None:
    """Print the measured figures quoted in the module docstring."""
    print(json.dumps([measure(as_of_day) for as_of_day in AS_OF_DAYS], indent=2))


if __name__ == "__main__":
    main()
