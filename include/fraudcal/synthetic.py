"""A seeded synthetic prediction log, scored by a real XGBoost model.

The events imitate badge-in attendance: distance from the site, hour of day, a new device,
shared badges and a per-site effect. A hidden logistic mechanism decides fraud (about 3 %);
two XGBoost models (``v1`` small, ``v2`` larger, rolled out to half the traffic after a third
of the period) are trained on a separate sample and score every event. Labels arrive with an
exponential delay, so old rows are mostly labeled and recent ones mostly not.

Drift can be injected from a given day: a covariate shift (features move), a concept shift
(the fraud mechanism changes, the models do not) and a change of the fraud rate.

Everything is a function of :class:`SyntheticConfig`, so the same config gives the same
rows, bit for bit. XGBoost is imported inside the functions that need it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

FEATURES = ("distance_z", "night_shift", "new_device", "badge_shares", "minutes_early_z", "site_risk")

#: Risk levels the online application derives from the probability (lower bounds).
RISK_LEVEL_CUTS = (("CRITICAL", 0.8), ("HIGH", 0.5), ("MEDIUM", 0.2), ("LOW", 0.0))


@dataclass(frozen=True)
class SyntheticConfig:
    """Everything that decides the synthetic log.

    Attributes
    ----------
    n_events : int
        Rows to generate.
    start : datetime
        First instant of the period (UTC).
    days : int
        Length of the period; events are uniform over it.
    labels_as_of : datetime or None
        The moment at which labels are read; defaults to the end of the period.
    label_delay_days : float
        Mean of the exponential delay between a prediction and its label.
    fraud_rate : float
        Target fraud rate before drift.
    drift_day : int or None
        Day (0-based) from which the drift below applies; ``None`` = no drift.
    covariate_shift : float
        Shift of the distance and early-arrival features, in standard deviations.
    concept_shift : float
        0 = same fraud mechanism, 1 = a different one the models never saw.
    fraud_rate_multiplier : float
        Factor on the fraud odds after ``drift_day``.
    """

    n_events: int = 200_000
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    days: int = 90
    n_sites: int = 8
    model_type: str = "fraud_detector"
    labels_as_of: datetime | None = None
    label_delay_days: float = 5.0
    fraud_rate: float = 0.03
    drift_day: int | None = None
    covariate_shift: float = 0.0
    concept_shift: float = 0.0
    fraud_rate_multiplier: float = 1.0
    seed: int = 20250101

    @property
    def end(self) -> datetime:
        """The first instant after the period."""
        return self.start + timedelta(days=self.days)


def _features(rng: np.random.Generator, n: int, n_sites: int, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` feature rows; ``shift`` (n,) moves the continuous features."""
    site_id = rng.integers(1, n_sites + 1, size=n)
    site_effects = np.linspace(-0.6, 0.9, n_sites)  # fixed per site, so sites differ stably
    features = np.column_stack(
        [
            rng.standard_normal(n) + shift,  # distance from site, standardised
            (rng.random(n) < 0.25).astype(np.float64),  # night shift
            (rng.random(n) < 0.06).astype(np.float64),  # badge-in from a new device
            rng.poisson(0.3, size=n).astype(np.float64),  # badge shared in the last 7 days
            rng.standard_normal(n) - 0.5 * shift,  # minutes early, standardised
            site_effects[site_id - 1],
        ]
    )
    return features, site_id


def _fraud_logit(features: np.ndarray, concept: np.ndarray) -> np.ndarray:
    """The hidden mechanism; ``concept`` (n,) in [0, 1] blends in a new one."""
    distance, night, device, shares, early, site = features.T
    before = 1.1 * distance + 0.8 * night + 1.8 * device + 0.9 * shares + 0.6 * site
    after = -0.2 * distance + 1.6 * early + 0.3 * device + 0.2 * shares + 1.4 * night
    return (1.0 - concept) * before + concept * after


def _calibrated_intercept(rng: np.random.Generator, n_sites: int, fraud_rate: float) -> float:
    """Find the intercept giving ``fraud_rate`` on a reference sample (bisection)."""
    features, _ = _features(rng, 200_000, n_sites, np.zeros(200_000))
    logit = _fraud_logit(features, np.zeros(200_000))
    low, high = -15.0, 5.0
    for _ in range(60):
        middle = (low + high) / 2
        rate = np.mean(1.0 / (1.0 + np.exp(-(logit + middle))))
        low, high = (middle, high) if rate < fraud_rate else (low, middle)
    return (low + high) / 2


def train_models(config: SyntheticConfig) -> dict[str, object]:
    """Train the two XGBoost models on a training sample drawn before any drift.

    Returns
    -------
    dict
        ``{"intercept": float, "v1": Booster, "v2": Booster}``.
    """
    import xgboost as xgb

    rng = np.random.default_rng(config.seed)
    intercept = _calibrated_intercept(rng, config.n_sites, config.fraud_rate)
    n_train = 60_000
    features, _ = _features(rng, n_train, config.n_sites, np.zeros(n_train))
    labels = rng.random(n_train) < 1.0 / (1.0 + np.exp(-(_fraud_logit(features, np.zeros(n_train)) + intercept)))
    train = xgb.DMatrix(features, label=labels.astype(np.float32), feature_names=list(FEATURES))
    common = {"objective": "binary:logistic", "eval_metric": "logloss", "nthread": 1, "seed": config.seed}
    v1 = xgb.train({**common, "max_depth": 2, "eta": 0.3}, train, num_boost_round=20)
    v2 = xgb.train({**common, "max_depth": 4, "eta": 0.1}, train, num_boost_round=150)
    return {"intercept": intercept, "v1": v1, "v2": v2}


def risk_levels(probabilities: np.ndarray) -> np.ndarray:
    """Map probabilities to LOW / MEDIUM / HIGH / CRITICAL as the application does."""
    levels = np.full(probabilities.shape, "LOW", dtype=object)
    for name, cut in reversed(RISK_LEVEL_CUTS):
        levels[probabilities >= cut] = name
    return levels


def generate_prediction_log(config: SyntheticConfig = SyntheticConfig()) -> pd.DataFrame:
    """Generate the prediction log as a DataFrame, sorted by ``predicted_at``.

    Returns
    -------
    DataFrame
        Columns ``person_id, site_id, model_type, model_version, predicted_at,
        fraud_probability, risk_level, actual_fraud_detected`` (nullable boolean: ``<NA>``
        while unlabeled), ready to be loaded into PostgreSQL (``fraudcal_dev.synthetic_load`` does, for demos and tests).
    """
    import xgboost as xgb

    models = train_models(config)
    rng = np.random.default_rng([config.seed, 1])
    n = config.n_events
    offsets = np.sort(rng.random(n)) * config.days * 86_400.0  # seconds into the period
    day = offsets // 86_400.0
    drifting = (day >= config.drift_day) if config.drift_day is not None else np.zeros(n, dtype=bool)

    features, site_id = _features(rng, n, config.n_sites, np.where(drifting, config.covariate_shift, 0.0))
    concept = np.where(drifting, config.concept_shift, 0.0)
    odds_shift = np.where(drifting, np.log(config.fraud_rate_multiplier), 0.0)
    fraud_probability_true = 1.0 / (1.0 + np.exp(-(_fraud_logit(features, concept) + models["intercept"] + odds_shift)))
    is_fraud = rng.random(n) < fraud_probability_true

    # v2 takes half of the traffic from a third of the period on.
    uses_v2 = (day >= config.days // 3) & (rng.random(n) < 0.5)
    matrix = xgb.DMatrix(features, feature_names=list(FEATURES))
    probability = np.where(uses_v2, models["v2"].predict(matrix), models["v1"].predict(matrix)).astype(np.float64)

    predicted_at = pd.Timestamp(config.start) + pd.to_timedelta(np.round(offsets * 1e6).astype(np.int64), unit="us")
    labels_as_of = config.labels_as_of or config.end
    label_delay = rng.exponential(config.label_delay_days * 86_400.0, size=n)
    labeled = (offsets + label_delay) < (labels_as_of - config.start).total_seconds()

    return pd.DataFrame(
        {
            "person_id": rng.integers(10_000, 60_000, size=n),
            "site_id": site_id,
            "model_type": config.model_type,
            "model_version": np.where(uses_v2, "v2", "v1"),
            "predicted_at": predicted_at,
            "fraud_probability": probability,
            "risk_level": risk_levels(probability),
            "actual_fraud_detected": pd.array(np.where(labeled, is_fraud, False), dtype="boolean"),
        }
    ).assign(actual_fraud_detected=lambda frame: frame["actual_fraud_detected"].where(labeled))


def with_drift(config: SyntheticConfig, **drift: float | int) -> SyntheticConfig:
    """Return a copy of ``config`` with drift settings replaced (a readable shorthand)."""
    return replace(config, **drift)
