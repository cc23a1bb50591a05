"""Measurements of the calibration methods against the machine's own limits, for the bench.

Four figures, each a function that returns a JSON-ready dict (``python -m
fraudcal.measurements`` prints all four for a 1M-row window):

- :func:`venn_abers_fit_vs_sort`: the Venn-Abers fit against a bare ``np.sort`` of the same
  scores (medians of interleaved rounds, so that the machine's noise falls on both);
- :func:`payload_sizes`: bytes of the main payload and of the Venn-Abers companion, and the
  number of steps each Venn-Abers function keeps;
- :func:`online_lookup_p99`: the 99th percentile, in microseconds, of one pure-Python lookup
  of each kind (``interval``, ``label_set``, ``venn_abers``) on an object from
  :func:`fraudcal.online.load`;
- :func:`triage_vs_argsort`: certifying both triage thresholds
  (:func:`fraudcal.triage.certify_triage`) against a bare ``np.argsort`` of the same scores.

The window is :func:`beta_window` (seeded Beta(0.3, 9.7) scores with labels drawn from them:
a calibrated model with about 3 % fraud), or with ``--synthetic`` the labeled ``v2`` rows of
:func:`fraudcal.synthetic.generate_prediction_log` (XGBoost scores, many ties).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from fraudcal.calibration_set import calibration_payload, compute_calibration_set
from fraudcal.defaults import DEFAULT_LEVEL, DEFAULT_METHOD
from fraudcal.mondrian import compute_mondrian
from fraudcal.online import calibration_key, companion_key, load
from fraudcal.payload import canonical_json, payload_v2
from fraudcal.triage import certify_triage
from fraudcal.venn_abers import fit_venn_abers

#: Rows of the measured window.
WINDOW_ROWS = 1_000_000
#: Seed of the measured window.
WINDOW_SEED = 20250301
#: Percentile reported for online lookups (as a fraction).
LOOKUP_QUANTILE = 0.99


def beta_window(rows: int = WINDOW_ROWS, seed: int = WINDOW_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Return seeded scores ``p ~ Beta(0.3, 9.7)`` and labels ``y ~ Bernoulli(p)`` (about 3 % fraud)."""
    rng = np.random.default_rng(seed)
    probabilities = rng.beta(0.3, 9.7, size=rows)
    return probabilities, rng.random(rows) < probabilities


def synthetic_window(rows: int = WINDOW_ROWS, seed: int = WINDOW_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Return up to ``rows`` labeled ``v2`` rows of the synthetic XGBoost-scored log (imports xgboost)."""
    from fraudcal.synthetic import SyntheticConfig, generate_prediction_log

    # v2 serves half of the traffic after the first third of the period: about 1/3 of the events.
    log = generate_prediction_log(SyntheticConfig(n_events=int(rows * 3.4), seed=seed))
    labeled = log[log["actual_fraud_detected"].notna() & (log["model_version"] == "v2")].head(rows)
    return labeled["fraud_probability"].to_numpy(np.float64), labeled["actual_fraud_detected"].to_numpy(bool)


def _median_seconds(candidates: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median wall time of each candidate after one warm-up call each, rounds interleaved."""
    for function in candidates.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeat):
        for name, function in candidates.items():
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def venn_abers_fit_vs_sort(probabilities: np.ndarray, labels: np.ndarray, repeat: int = 15) -> dict[str, float]:
    """Return the median seconds of ``np.sort(scores)`` and of :func:`fit_venn_abers`, and their ratio."""
    seconds = _median_seconds(
        {"sort": lambda: np.sort(probabilities), "fit": lambda: fit_venn_abers(probabilities, labels)}, repeat
    )
    return {
        "rows": int(probabilities.size),
        "sort_seconds": seconds["sort"],
        "fit_seconds": seconds["fit"],
        "ratio": seconds["fit"] / seconds["sort"],
    }


def triage_vs_argsort(probabilities: np.ndarray, labels: np.ndarray, repeat: int = 15) -> dict[str, float]:
    """Return the median seconds of ``np.argsort(scores)`` and of :func:`certify_triage`, and their ratio.

    ``certify_triage`` runs with its defaults (both sides, one sort); the ratio is the cost of
    everything beyond that sort (input checks, gathers, cumulative sums, the candidates' tests).
    """
    seconds = _median_seconds(
        {"argsort": lambda: np.argsort(probabilities), "certify": lambda: certify_triage(probabilities, labels)},
        repeat,
    )
    return {
        "rows": int(probabilities.size),
        "argsort_seconds": seconds["argsort"],
        "certify_seconds": seconds["certify"],
        "ratio": seconds["certify"] / seconds["argsort"],
    }


def window_store(probabilities: np.ndarray, labels: np.ndarray) -> tuple[dict[str, str], dict[str, Any]]:
    """Compute the three methods of one window and store its payload as the publisher would.

    Returns
    -------
    store : dict
        Key to canonical JSON text (the main key, and the companion key when there is one).
    sets : dict
        ``{"mondrian", "venn_abers", "main", "companion"}``, for checks.
    """
    window_end = datetime(2025, 3, 1, tzinfo=UTC)
    calibration_set = compute_calibration_set(
        probabilities,
        labels,
        model_type="fraud_detector",
        model_version="bench",
        window_start=window_end - timedelta(days=30),
        window_end=window_end,
    )
    residual = calibration_payload({**calibration_set.to_dict(), "id": 1, "computed_at": window_end, "run_id": "bench"})
    mondrian = compute_mondrian(probabilities, labels)
    venn_abers = fit_venn_abers(probabilities, labels)
    main, companion = payload_v2(residual, mondrian, venn_abers, DEFAULT_METHOD)
    key = calibration_key("fraud_detector", "bench")
    store = {key: canonical_json(main)}
    if companion is not None:
        store[companion_key(key)] = canonical_json(companion)
    return store, {"mondrian": mondrian, "venn_abers": venn_abers, "main": main, "companion": companion}


def payload_sizes(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, int]:
    """Return bytes of the main payload and of the companion, and the Venn-Abers step counts."""
    store, sets = window_store(probabilities, labels)
    key = calibration_key("fraud_detector", "bench")
    venn_abers = sets["venn_abers"]
    return {
        "rows": int(probabilities.size),
        "frauds": int(np.count_nonzero(labels)),
        "distinct_scores": int(np.unique(probabilities).size),
        "main_bytes": len(store[key]),
        "companion_bytes": len(store.get(companion_key(key), "")),
        "p0_steps": int(venn_abers.p0_lower.size),
        "p1_steps": int(venn_abers.p1_upper.size),
    }


def online_lookup_p99(probabilities: np.ndarray, labels: np.ndarray, lookups: int = 20_000) -> dict[str, float]:
    """Return the 99th-percentile microseconds of one lookup of each kind, in pure Python.

    The scores looked up are drawn from the window itself (the service sees such scores);
    each call is timed alone with :func:`time.perf_counter_ns`.
    """
    store, _ = window_store(probabilities, labels)
    calibration = load(store.get, "fraud_detector", "bench")
    scores = np.random.default_rng(WINDOW_SEED).choice(probabilities, size=lookups).tolist()
    kinds: dict[str, Callable[[float], object]] = {
        "interval": lambda score: calibration.interval(score, DEFAULT_LEVEL),
        "label_set": lambda score: calibration.label_set(score, DEFAULT_LEVEL),
        "venn_abers": calibration.venn_abers,
    }
    result: dict[str, float] = {"lookups": lookups}
    for name, lookup in kinds.items():
        elapsed = []
        for score in scores:
            started = time.perf_counter_ns()
            lookup(score)
            elapsed.append(time.perf_counter_ns() - started)
        result[f"{name}_p99_us"] = float(np.quantile(elapsed, LOOKUP_QUANTILE)) / 1000
    return result


def main(argv: list[str] | None = None) -> None:
    """Print the four measurements of one window as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=WINDOW_ROWS)
    parser.add_argument("--seed", type=int, default=WINDOW_SEED)
    parser.add_argument("--synthetic", action="store_true", help="XGBoost-scored synthetic log instead of Beta scores")
    options = parser.parse_args(argv)
    window = synthetic_window if options.synthetic else beta_window
    probabilities, labels = window(options.rows, options.seed)
    report = {
        "window": "synthetic" if options.synthetic else "beta",
        "venn_abers_fit_vs_sort": venn_abers_fit_vs_sort(probabilities, labels),
        "payload_sizes": payload_sizes(probabilities, labels),
        "online_lookup": online_lookup_p99(probabilities, labels),
        "triage_vs_argsort": triage_vs_argsort(probabilities, labels),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
