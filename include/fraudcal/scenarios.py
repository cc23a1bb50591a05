"""A fast, seeded synthetic history of scores and labels, with drift by construction.

Unlike :mod:`fraudcal.synthetic` (features, a hidden mechanism and a trained XGBoost model),
this module draws the model's score and the label directly, so a 150-day history of 20,000
rows a day takes about a second and every drift is exactly the one asked for. It is what
the replay (:mod:`fraudcal.replay`) and the drift scenario tests run on.

The model, calibrated by construction
-------------------------------------
The model's score is a logit ``l``; its probability is ``p = sigmoid(l)``. Every row first
gets its class, ``y ~ Bernoulli(pi_t)``, and then its score from a fixed per-class law,
``l ~ Normal(m_y, s^2)``, with

    ``m_0 = logit(fraud_rate) - d/2``,  ``m_1 = logit(fraud_rate) + d/2``,  ``s^2 = d``

(``d`` = :attr:`ScenarioConfig.separation`). For this equal-variance pair the log likelihood
ratio is ``log(phi_1(l) / phi_0(l)) = l - logit(fraud_rate)``, so at the base rate
(``pi_t = fraud_rate``) the posterior is ``P(fraud | l) = sigmoid(l)``: the score is exactly
calibrated. The ROC AUC is ``Phi(sqrt(d / 2))`` (0.94 for the default ``d = 5``). The column
``true_probability`` is the exact posterior ``P(fraud | l)`` of the row's day.

Prior (label) shift: what it must mean here
-------------------------------------------
A pure prior shift changes how many frauds there are and nothing about what a fraud (or a
legitimate case) looks like to the model: ``P(l | y)`` stays ``Normal(m_y, s^2)`` and only
``P(y)`` moves. From :attr:`ScenarioConfig.prior_shift_day` on, the fraud odds are multiplied
by :attr:`ScenarioConfig.prior_multiplier`: ``pi_t / (1 - pi_t) = M * fraud_rate / (1 -
fraud_rate)``, the classes are drawn with ``pi_t`` and the scores from the same two laws. So
the class-conditional score distributions are unchanged (the same draw, only more or fewer
of each class), the score marginal moves, and the model is calibrated at the base rate only:
the true probability is ``sigmoid(l + log M)``, so at a halved fraud rate every score
over-states the risk. Label-conditional (Mondrian) coverage is untouched by it (Podkopaev &
Ramdas 2021); the precision of a fixed score threshold is not.

Concept drift
-------------
From :attr:`ScenarioConfig.drift_start_day` the link between the score and fraud moves,
growing linearly from 0 to ``delta`` = :attr:`ScenarioConfig.concept_drift_logit` over
:attr:`ScenarioConfig.concept_drift_days` days (at once when that is 0) and staying there.
The model (``p`` as a function of the case) never changes. Two kinds
(:attr:`ScenarioConfig.concept_drift_kind`):

``"fraud_scores"`` (the default)
    Frauds drift away from what the model learned: their logit law moves down by ``delta``,
    ``l | fraud ~ Normal(m_1 - delta, s^2)``; legitimate cases and the fraud rate do not
    change. At a given score the true fraud logit moves away from the model's by ``-delta (l
    - m_1)/d - delta^2/(2d)``: up by about ``delta`` where legitimate cases live, down above
    the typical fraud. Fraud-class coverage of a set calibrated before falls (at ``delta =
    1.5``, ``d = 5``: from 90 % to about 73 %), and a rolling window lags behind.
``"posterior"``
    The true fraud logit is the model's plus ``delta`` at every score (``y ~
    Bernoulli(sigmoid(l + log M + delta))``, ``l`` drawn as without drift): the world gets
    more fraudulent at every score, the score distribution stays, the fraud rate rises
    (about 3 % to 7 % at ``delta = 1.5``). Frauds then come in at lower scores too, but the
    fraud-class coverage of a static set falls far less (to about 82 % at ``delta = 1.5``).

Label delay
-----------
Each row's label arrives ``delay`` days after the prediction, drawn per class from an
exponential law with mean :attr:`ScenarioConfig.label_delay_days` for legitimate cases and
that mean divided by :attr:`ScenarioConfig.fraud_label_speedup` for frauds (confirmed frauds
are closed faster than legitimate cases are cleared). With ``label_horizon_days > 0`` a
delay longer than the horizon means the label never arrives (``label_day = inf``: the case
was never closed); with 0 every label arrives. ``label_day`` is the arrival instant in days
since the start (a prediction at ``t`` days, ``t + delay``); a row is labeled as of the instant
``D`` (midnight opening day ``D``) iff ``label_day <= D``. The delay depends on the class
only, never on the score, so the labeled rows of a class are a random sample of that class:
Mondrian's per-class guarantee survives missing labels; a marginal (residual) figure over
labeled rows does not when the classes' delays differ.

Every number is a function of :class:`ScenarioConfig`: the same config gives the same frame,
bit for bit.

Examples
--------
>>> frame = generate(ScenarioConfig(days=2, rows_per_day=1_000, seed=3))
>>> len(frame), frame["day"].tolist()[::1000]
(2000, [0, 1])
>>> sorted(frame.columns)  # doctest: +NORMALIZE_WHITESPACE
['day', 'is_high_risk', 'label', 'label_day', 'predicted_at', 'probability', 'true_probability']
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import expit, logit

from fraudcal.synthetic import RISK_LEVEL_CUTS

#: The instant day 0 starts at (UTC), as ``predicted_at`` counts from it.
SCENARIO_START = pd.Timestamp("2025-01-01", tz="UTC")
#: How the link between score and fraud can drift (module docstring).
CONCEPT_DRIFT_KINDS = ("fraud_scores", "posterior")
#: The lowest probability that is HIGH (or CRITICAL): the application's risk cut.
HIGH_RISK_CUT = dict(RISK_LEVEL_CUTS)["HIGH"]


@dataclass(frozen=True)
class ScenarioConfig:
    """Everything that decides a scenario history.

    Attributes
    ----------
    days : int
        Days of history (day 0 is :data:`SCENARIO_START`).
    rows_per_day : int
        Predictions per day, spread uniformly over the day.
    fraud_rate : float
        The base fraud rate; the model is calibrated at it.
    seed : int
        Seed of the one random generator.
    separation : float
        ``d``: the distance between the class means of the logit, and its variance (module
        docstring); ROC AUC ``Phi(sqrt(d/2))``.
    drift_start_day : int or None
        First day of concept drift (and of the prior shift when ``prior_shift_day`` is None);
        None: no drift.
    concept_drift_logit : float
        ``delta``: the final size of the concept drift, in logit (module docstring).
    concept_drift_days : int
        Days over which the concept drift grows linearly to its final value (0: at once).
    concept_drift_kind : str
        ``"fraud_scores"`` (frauds' logits move down) or ``"posterior"`` (the true logit moves
        up at every score); module docstring.
    prior_multiplier : float
        Factor on the fraud odds from the prior shift day on (1: no prior shift).
    prior_shift_day : int or None
        First day of the prior shift; None: ``drift_start_day``.
    label_delay_days : float
        Mean label delay of a legitimate case, in days (0: labels arrive with the prediction).
    label_horizon_days : int
        A delay longer than this means the label never arrives; 0: every label arrives.
    fraud_label_speedup : float
        A fraud's mean delay is ``label_delay_days / fraud_label_speedup``.

    Raises
    ------
    ValueError
        If a count is not positive, a rate not in (0, 1), a multiplier or speedup not
        positive, a delay or horizon negative, or a drift day outside the history.
    """

    days: int = 150
    rows_per_day: int = 20_000
    fraud_rate: float = 0.03
    seed: int = 0
    separation: float = 5.0
    drift_start_day: int | None = None
    concept_drift_logit: float = 0.0
    concept_drift_days: int = 60
    concept_drift_kind: str = "fraud_scores"
    prior_multiplier: float = 1.0
    prior_shift_day: int | None = None
    label_delay_days: float = 0.0
    label_horizon_days: int = 0
    fraud_label_speedup: float = 1.0

    def __post_init__(self) -> None:
        """Refuse a config that cannot describe a history (see Raises)."""
        problems = []
        if self.days < 1 or self.rows_per_day < 1:
            problems.append(f"days={self.days} and rows_per_day={self.rows_per_day} must be >= 1")
        if not 0.0 < self.fraud_rate < 1.0:
            problems.append(f"fraud_rate={self.fraud_rate} must be strictly between 0 and 1")
        if not self.separation > 0.0:
            problems.append(f"separation={self.separation} must be > 0")
        if not (self.prior_multiplier > 0.0 and self.fraud_label_speedup > 0.0):
            problems.append(
                f"prior_multiplier={self.prior_multiplier} and fraud_label_speedup={self.fraud_label_speedup} must be > 0"
            )
        if self.label_delay_days < 0 or self.label_horizon_days < 0 or self.concept_drift_days < 0:
            problems.append("label_delay_days, label_horizon_days and concept_drift_days must be >= 0")
        for name in ("drift_start_day", "prior_shift_day"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < self.days:
                problems.append(f"{name}={value} must be a day of the history (0 to {self.days - 1})")
        if self.concept_drift_kind not in CONCEPT_DRIFT_KINDS:
            problems.append(
                f"concept_drift_kind={self.concept_drift_kind!r} must be one of {list(CONCEPT_DRIFT_KINDS)}"
            )
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ScenarioConfig:
        """Return the config a :meth:`to_dict` result holds (unknown keys refused by the constructor)."""
        return cls(**values)


def concept_shift(config: ScenarioConfig, time: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the concept drift in logit at each instant (days since the start).

    Examples
    --------
    >>> config = ScenarioConfig(days=100, drift_start_day=10, concept_drift_logit=1.5, concept_drift_days=60)
    >>> concept_shift(config, np.array([5.0, 10.0, 40.0, 70.0, 99.0])).tolist()
    [0.0, 0.0, 0.75, 1.5, 1.5]
    """
    if config.drift_start_day is None or config.concept_drift_logit == 0.0:
        return np.zeros_like(time)
    elapsed = time - config.drift_start_day
    if config.concept_drift_days == 0:
        grown = (elapsed >= 0).astype(np.float64)
    else:
        grown = np.clip(elapsed / config.concept_drift_days, 0.0, 1.0)
    return config.concept_drift_logit * grown


def prior_log_multiplier(config: ScenarioConfig, day: NDArray[np.int64]) -> NDArray[np.float64]:
    """Return ``log M`` on each day: the prior multiplier from the prior shift day on, else 0."""
    start = config.prior_shift_day if config.prior_shift_day is not None else config.drift_start_day
    if start is None or config.prior_multiplier == 1.0:
        return np.zeros(day.shape)
    return np.where(day >= start, math.log(config.prior_multiplier), 0.0)


def class_means(config: ScenarioConfig) -> tuple[float, float, float]:
    """Return ``(m_0, m_1, s)``: the class means of the model's logit and its standard deviation.

    Examples
    --------
    >>> m0, m1, s = class_means(ScenarioConfig(fraud_rate=0.5, separation=4.0))
    >>> m0, m1, s
    (-2.0, 2.0, 2.0)
    """
    centre = float(logit(config.fraud_rate))
    half = config.separation / 2.0
    return centre - half, centre + half, math.sqrt(config.separation)


def generate(config: ScenarioConfig) -> pd.DataFrame:
    """Generate the history of a scenario, sorted by ``predicted_at``.

    Parameters
    ----------
    config : ScenarioConfig

    Returns
    -------
    DataFrame
        One row per prediction: ``day`` (int64, 0-based), ``predicted_at`` (UTC
        datetime64[us], from :data:`SCENARIO_START`), ``probability`` (float64, the model's
        ``p``), ``label`` (bool, the truth, whether or not it ever arrives), ``label_day``
        (float64, the arrival instant in days since the start; ``inf``: never),
        ``is_high_risk`` (``p >= 0.5``: HIGH or CRITICAL as
        :data:`fraudcal.synthetic.RISK_LEVEL_CUTS` cut them) and ``true_probability``.

    Examples
    --------
    >>> frame = generate(ScenarioConfig(days=1, rows_per_day=5, seed=1, label_delay_days=2.0))
    >>> bool((frame["label_day"] >= frame["day"]).all()), frame["predicted_at"].is_monotonic_increasing
    (True, True)
    """
    rng = np.random.default_rng([config.seed, 15])
    n = config.days * config.rows_per_day
    day = np.repeat(np.arange(config.days, dtype=np.int64), config.rows_per_day)
    # Uniform within the day, sorted, so that predicted_at increases with the row.
    within = np.sort(rng.random((config.days, config.rows_per_day)), axis=1).ravel()
    time = day + within

    log_multiplier = prior_log_multiplier(config, day)
    prior_logit = float(logit(config.fraud_rate)) + log_multiplier
    component = rng.random(n) < expit(prior_logit)
    mean_zero, mean_one, spread = class_means(config)
    shift = concept_shift(config, time)
    moves_frauds = config.concept_drift_kind == "fraud_scores"
    fraud_mean = mean_one - (shift if moves_frauds else 0.0)
    score_logit = np.where(component, fraud_mean, mean_zero) + spread * rng.standard_normal(n)
    # Drawn in either case, so that the stream of random numbers does not depend on the knobs.
    uniform = rng.random(n)

    if moves_frauds:
        # The exact posterior of the two normals: log(phi(l; m_1 - shift) / phi(l; m_0)) plus the prior logit.
        log_ratio = ((score_logit - mean_zero) ** 2 - (score_logit - fraud_mean) ** 2) / (2.0 * config.separation)
        true_probability = expit(prior_logit + log_ratio)
        label = component
    else:
        true_probability = expit(score_logit + log_multiplier + shift)
        label = uniform < true_probability
    probability = expit(score_logit)

    return pd.DataFrame(
        {
            "day": day,
            "predicted_at": SCENARIO_START + pd.to_timedelta(np.round(time * 86_400e6).astype(np.int64), unit="us"),
            "probability": probability,
            "label": label,
            "label_day": time + _label_delays(config, rng, label),
            "is_high_risk": probability >= HIGH_RISK_CUT,
            "true_probability": true_probability,
        }
    )


def _label_delays(config: ScenarioConfig, rng: np.random.Generator, label: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Per-class exponential delays; beyond the horizon (when there is one) the label never arrives."""
    # One draw per row in either case, so that the stream of random numbers does not depend on the knobs.
    unit = rng.exponential(1.0, size=label.size)
    mean = np.where(label, config.label_delay_days / config.fraud_label_speedup, config.label_delay_days)
    delay = unit * mean
    if config.label_horizon_days > 0:
        delay[delay > config.label_horizon_days] = np.inf
    return delay
