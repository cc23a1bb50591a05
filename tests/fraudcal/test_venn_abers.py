"""Inductive Venn-Abers against an isotonic regression refitted for every test score.

The reference is the definition itself (Vovk & Petej 2014): for a test score ``s`` and a
label ``c``, append ``(s, c)`` to the calibration pairs, pool tied scores (as scikit-learn's
``IsotonicRegression`` does: their labels are averaged with their counts as weights), run the
pool adjacent violators algorithm and read the fit at ``s``. It is written out below with
exact fractions instead of calling scikit-learn, so the test needs no new dependency and has
no rounding of its own; the module must agree within 1e-12 (it is in fact exact).
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

import fraudcal.venn_abers as venn_abers_module
from fraudcal.inputs import InvalidOutcomesError
from fraudcal.venn_abers import VennAbersSet, fit_venn_abers, venn_abers_probabilities

TOLERANCE = 1e-12


def isotonic_fit_at(scores, labels, at) -> Fraction:
    """PAVA on (score, label) pairs with tied scores pooled; the fitted value at score ``at``."""
    pooled: dict[float, list[int]] = {}
    for score, label in zip(scores, labels, strict=True):
        pooled.setdefault(float(score), []).append(int(label))
    blocks: list[list] = []  # [weight, label sum, first score, last score]
    for score in sorted(pooled):
        blocks.append([len(pooled[score]), Fraction(sum(pooled[score])), score, score])
        # Merge while the previous block's mean is not below this one's (ties pooled too).
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][0] >= blocks[-1][1] / blocks[-1][0]:
            weight, total, _, last = blocks.pop()
            blocks[-1][0] += weight
            blocks[-1][1] += total
            blocks[-1][3] = last
    for weight, total, first, last in blocks:
        if first <= at <= last:
            return total / weight
    raise AssertionError(f"score {at} is in no block")


def reference(scores, labels, test_scores) -> tuple[list[float], list[float]]:
    """``p0`` and ``p1`` of each test score by one refit per score and label."""
    p0 = [float(isotonic_fit_at([*scores, s], [*labels, 0], float(s))) for s in test_scores]
    p1 = [float(isotonic_fit_at([*scores, s], [*labels, 1], float(s))) for s in test_scores]
    return p0, p1


def probe_scores(scores) -> np.ndarray:
    """Every calibration score, the midpoints between them, and scores below and above them all."""
    distinct = np.unique(np.asarray(scores, dtype=float))
    outside = [distinct[0] / 2, (distinct[-1] + 1) / 2, 0.0, 1.0]
    return np.unique(np.concatenate([distinct, (distinct[1:] + distinct[:-1]) / 2, outside]))


def assert_matches_reference(scores, labels) -> None:
    venn_abers = fit_venn_abers(scores, labels)
    tests = probe_scores(scores)
    p0, p1, p = venn_abers_probabilities(tests, venn_abers)
    expected_p0, expected_p1 = reference(list(scores), list(labels), tests)
    assert np.max(np.abs(p0 - expected_p0)) <= TOLERANCE, (tests, p0, expected_p0)
    assert np.max(np.abs(p1 - expected_p1)) <= TOLERANCE, (tests, p1, expected_p1)
    assert np.all(p0 <= p1)
    np.testing.assert_array_equal(p, p1 / ((1.0 - p0) + p1))


@pytest.mark.parametrize("seed", range(40))
def test_small_windows_with_ties_match_the_refit(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 25))
    scores = rng.integers(0, int(rng.integers(1, 8)) + 1, size=n) / 8  # coarse grid: many ties, 0 and 1 too
    labels = (rng.random(n) < rng.random()).astype(int)
    assert_matches_reference(scores, labels)


@pytest.mark.parametrize("seed", range(6))
def test_continuous_windows_with_rare_fraud_match_the_refit(seed):
    rng = np.random.default_rng(100 + seed)
    scores = rng.beta(0.5, 5.0, size=150)
    labels = (rng.random(150) < scores).astype(int)
    assert_matches_reference(scores, labels)


def test_a_tie_between_a_fraud_and_legitimate_cases_matches_the_refit():
    scores = [0.1, 0.3, 0.3, 0.3, 0.6, 0.6, 0.9]
    labels = [0, 0, 1, 0, 1, 0, 1]
    assert_matches_reference(scores, labels)


@pytest.mark.parametrize("label", [0, 1])
def test_one_class_absent(label):
    scores = [0.05, 0.2, 0.2, 0.45, 0.8]
    labels = [label] * len(scores)
    assert_matches_reference(scores, labels)
    venn_abers = fit_venn_abers(scores, labels)
    p0, p1, _ = venn_abers_probabilities(probe_scores(scores), venn_abers)
    if label == 0:
        assert np.all(p0 == 0.0)  # no fraud anywhere: a new legitimate case changes nothing
    else:
        assert np.all(p1 == 1.0)


@pytest.mark.parametrize("label", [0, 1])
@pytest.mark.parametrize("score", [0.0, 0.4, 1.0])
def test_a_single_row_window(score, label):
    assert_matches_reference([score], [label])


def test_an_empty_window_knows_nothing():
    venn_abers = fit_venn_abers([], [])
    p0, p1, _ = venn_abers_probabilities([0.0, 0.5, 1.0], venn_abers)
    assert p0.tolist() == [0.0] * 3 and p1.tolist() == [1.0] * 3


def test_values_below_between_and_above_by_hand():
    # Calibration: 0.2 legitimate, 0.8 fraud.
    venn_abers = fit_venn_abers([0.2, 0.8], [0, 1])
    p0, p1, _ = venn_abers_probabilities([0.1, 0.2, 0.5, 0.8, 0.9], venn_abers)
    assert p0.tolist() == [0.0, 0.0, 0.0, 0.5, 0.5]
    assert p1.tolist() == [0.5, 0.5, 1.0, 1.0, 1.0]


def test_a_larger_window_matches_the_refit_on_sampled_scores():
    """2,000 rows, 3 % fraud, ties from rounding: the region where p1 changes at every score."""
    rng = np.random.default_rng(21)
    scores = np.round(rng.beta(0.3, 9.7, size=2000), 4)
    labels = (rng.random(2000) < scores).astype(int)
    venn_abers = fit_venn_abers(scores, labels)
    tests = rng.choice(probe_scores(scores), size=60, replace=False)
    p0, p1, _ = venn_abers_probabilities(tests, venn_abers)
    expected_p0, expected_p1 = reference(list(scores), list(labels), tests)
    assert np.max(np.abs(p0 - expected_p0)) <= TOLERANCE
    assert np.max(np.abs(p1 - expected_p1)) <= TOLERANCE


def test_the_exact_hull_fallback_gives_the_same_set(monkeypatch):
    rng = np.random.default_rng(4)
    scores = np.round(rng.beta(0.5, 4.0, size=3000), 3)
    labels = rng.random(3000) < scores
    fast = fit_venn_abers(scores, labels)
    monkeypatch.setattr(venn_abers_module, "_is_lower_hull", lambda *args: False)
    assert fit_venn_abers(scores, labels) == fast


def test_the_float_pava_hull_passes_the_exact_check():
    rng = np.random.default_rng(5)
    scores = rng.beta(0.3, 9.7, size=50_000)
    labels = rng.random(50_000) < scores
    ranges = venn_abers_module._Ranges.of(np.sort(scores), np.sort(scores[labels]))
    candidate_w = np.concatenate(([0], ranges.stop))
    candidate_s = np.concatenate(([0], ranges.sigma))
    keep = np.concatenate(([True], np.diff(candidate_w) > 0))
    exact = venn_abers_module._exact_lower_hull(candidate_w[keep], candidate_s[keep])
    fitted = venn_abers_module._lower_hull(ranges)
    np.testing.assert_array_equal(fitted.w, exact.w)
    np.testing.assert_array_equal(fitted.s, exact.s)


def test_the_compact_form_merges_equal_values_and_round_trips_through_json():
    rng = np.random.default_rng(6)
    scores = rng.beta(0.5, 5.0, size=5000)
    venn_abers = fit_venn_abers(scores, rng.random(5000) < scores)
    document = json.loads(json.dumps(venn_abers.to_dict()))
    assert VennAbersSet.from_dict(document) == venn_abers
    for name, breakpoints in (("p0", "lower"), ("p1", "upper")):
        assert np.all(np.diff(document[name][breakpoints]) > 0)
        assert np.all(np.diff(document[name]["value"]) > 0)  # consecutive equal values merged
    assert 0.0 not in document["p0"]["value"] and 1.0 not in document["p1"]["value"]
    assert (document["n"], document["n_positive"]) == (5000, int(venn_abers.n_positive))


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"p0": {"lower": [0.2, 0.1], "value": [0.1, 0.2]}}, ValueError, "strictly increasing"),
        ({"p1": {"upper": [0.2], "value": [0.1, 0.2]}}, ValueError, "1 breakpoints but 2 values"),
        ({"p1": {"upper": [0.2], "value": [1.5]}}, InvalidOutcomesError, "p1_value"),
        ({"n_positive": 9}, ValueError, "between 0 and n"),
    ],
)
def test_a_bad_stored_representation_is_refused(change, error, message):
    document = {
        "n": 3,
        "n_positive": 1,
        "p0": {"lower": [0.5], "value": [0.25]},
        "p1": {"upper": [0.5], "value": [0.5]},
    }
    with pytest.raises(error, match=message):
        VennAbersSet.from_dict({**document, **change})


def test_bad_input_is_refused_at_the_door():
    with pytest.raises(InvalidOutcomesError, match="probabilities must be finite"):
        fit_venn_abers([0.2, 1.2], [0, 1])
    with pytest.raises(InvalidOutcomesError, match="scores must be finite"):
        venn_abers_probabilities([float("nan")], fit_venn_abers([0.2], [0]))


def test_a_window_above_the_exact_limit_is_refused(monkeypatch):
    monkeypatch.setattr(venn_abers_module, "MAX_ROWS", 3)
    with pytest.raises(InvalidOutcomesError, match="at most 3 rows"):
        fit_venn_abers([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1])
