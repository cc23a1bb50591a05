"""Mondrian (label-conditional) conformal sets against an independent brute-force reference.

The reference never sorts and never computes a rank: it counts, per class, the calibration
scores at least as large as the new one and keeps the label when the conformal p-value
``(1 + #{i: y_i = c, s_i >= s}) / (n_c + 1)`` exceeds alpha, in exact fractions (Vovk,
Gammerman & Shafer 2005, section 4.5). The module's quantile rule must give the same sets.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from fraudcal.conformal import conformal_rank, coverage_fraction
from fraudcal.inputs import InvalidOutcomesError
from fraudcal.mondrian import (
    MondrianSet,
    compute_mondrian,
    label_set_mix,
    label_set_names,
    label_sets,
    minimum_class_size,
    mondrian_covers,
)

LEVELS = ("50", "80", "90", "95", "99", "99.5")


def reference_sets(probabilities, labels, scores, level) -> list[set[int]]:
    """Label sets by conformal p-values, written out: no sorting, no quantile, exact fractions."""
    alpha = 1 - coverage_fraction(level)
    sets = []
    for score in scores:
        kept = set()
        for label in (0, 1):
            # |p - c| as Python floats: p for class 0, 1 - p for class 1.
            new = float(score) if label == 0 else 1.0 - float(score)
            class_scores = [
                float(p) if label == 0 else 1.0 - float(p)
                for p, y in zip(probabilities, labels, strict=True)
                if int(y) == label
            ]
            at_least = sum(1 for value in class_scores if value >= new)
            if Fraction(1 + at_least, len(class_scores) + 1) > alpha:
                kept.add(label)
        sets.append(kept)
    return sets


def module_sets(probabilities, labels, scores, level) -> list[set[int]]:
    mondrian = compute_mondrian(probabilities, labels, levels=[level])
    holds_zero, holds_one = label_sets(scores, mondrian, level)
    return [
        {label for label, held in ((0, zero), (1, one)) if held}
        for zero, one in zip(holds_zero, holds_one, strict=True)
    ]


def probe_scores(probabilities) -> np.ndarray:
    """Every calibration score (exact ties), midpoints, both ends and a few random scores."""
    calibration = np.unique(np.asarray(probabilities, dtype=float))
    midpoints = (calibration[1:] + calibration[:-1]) / 2
    return np.concatenate([calibration, midpoints, [0.0, 1.0], np.random.default_rng(7).random(20)])


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("level", LEVELS)
def test_random_windows_give_the_reference_sets(seed, level):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 120))
    probabilities = rng.random(n)
    labels = rng.random(n) < rng.random()
    scores = probe_scores(probabilities)
    assert module_sets(probabilities, labels, scores, level) == reference_sets(probabilities, labels, scores, level)


@pytest.mark.parametrize("level", LEVELS)
def test_ties_on_a_coarse_grid_give_the_reference_sets(level):
    rng = np.random.default_rng(11)
    probabilities = rng.integers(0, 9, size=200) / 8  # nine values: heavy ties, and 0 and 1 themselves
    labels = rng.random(200) < probabilities
    scores = probe_scores(probabilities)
    assert module_sets(probabilities, labels, scores, level) == reference_sets(probabilities, labels, scores, level)


@pytest.mark.parametrize("absent", [0, 1])
def test_one_class_absent_puts_its_label_in_every_set(absent):
    rng = np.random.default_rng(3)
    probabilities = rng.random(40)
    labels = np.full(40, 1 - absent)
    scores = probe_scores(probabilities)
    got = module_sets(probabilities, labels, scores, "90")
    assert got == reference_sets(probabilities, labels, scores, "90")
    assert all(absent in labels_kept for labels_kept in got)
    entry = compute_mondrian(probabilities, labels, levels=["90"]).levels["90"][str(absent)]
    assert entry == {"n": 0, "k": 1, "quantile": 1.0}


def test_rank_above_the_class_size_gives_quantile_one():
    probabilities = np.array([0.9] * 5 + [0.1] * 50)  # 5 frauds < 9 needed at 90 %
    labels = np.array([1] * 5 + [0] * 50)
    mondrian = compute_mondrian(probabilities, labels, levels=["90", "80"])
    assert mondrian.levels["90"]["1"] == {"n": 5, "k": 6, "quantile": 1.0}
    assert mondrian.levels["90"]["too_few_frauds"] is True
    assert mondrian.levels["80"]["1"]["k"] == 5  # ceil(6 * 0.8) = 5 <= 5
    assert mondrian.levels["80"]["too_few_frauds"] is False
    scores = probe_scores(probabilities)
    for level in ("90", "80"):
        assert module_sets(probabilities, labels, scores, level) == reference_sets(probabilities, labels, scores, level)


@pytest.mark.parametrize("label", [0, 1])
@pytest.mark.parametrize("level", ["50", "90"])
def test_a_single_row_window(label, level):
    probabilities, labels = np.array([0.3]), np.array([label])
    scores = probe_scores(probabilities)
    assert module_sets(probabilities, labels, scores, level) == reference_sets(probabilities, labels, scores, level)


@pytest.mark.parametrize("level", LEVELS)
def test_exactly_two_frauds(level):
    rng = np.random.default_rng(5)
    probabilities = np.concatenate([[0.7, 0.2], rng.random(60) * 0.5])
    labels = np.array([1, 1] + [0] * 60)
    scores = probe_scores(probabilities)
    assert module_sets(probabilities, labels, scores, level) == reference_sets(probabilities, labels, scores, level)
    mondrian = compute_mondrian(probabilities, labels, levels=[level])
    assert mondrian.levels[level]["1"]["n"] == 2
    assert mondrian.levels[level]["too_few_frauds"] is (2 < minimum_class_size(level))


def test_quantile_is_the_kth_smallest_class_score():
    rng = np.random.default_rng(8)
    probabilities = rng.random(500)
    labels = rng.random(500) < 0.2
    mondrian = compute_mondrian(probabilities, labels)
    for level, entry in mondrian.levels.items():
        for label, scores in (("0", np.sort(probabilities[~labels])), ("1", np.sort(1.0 - probabilities[labels]))):
            k = conformal_rank(scores.size, level)
            assert entry[label] == {
                "n": scores.size,
                "k": k,
                "quantile": float(scores[k - 1]) if k <= scores.size else 1.0,
            }
    assert list(mondrian.levels) == ["90", "95", "99"]


@pytest.mark.parametrize("level", ["90", "95", "99", "99.5", "99.9", "80", "70", "33.3"])
def test_minimum_class_size_is_exactly_where_the_rank_fits(level):
    minimum = minimum_class_size(level)
    assert conformal_rank(minimum, level) <= minimum
    if minimum > 1:
        assert conformal_rank(minimum - 1, level) > minimum - 1


def test_minimum_class_size_of_the_usual_levels():
    assert [minimum_class_size(level) for level in (90, 95, 99, 99.5)] == [9, 19, 99, 199]


def test_names_mix_and_coverage_agree_with_the_sets():
    mondrian = MondrianSet({"90": {"0": {"n": 99, "k": 90, "quantile": 0.4}, "1": {"n": 9, "k": 9, "quantile": 0.3}}})
    scores = [0.1, 0.4, 0.5, 0.75, 0.9]
    assert label_set_names(scores, mondrian).tolist() == ["{0}", "{0}", "empty", "{1}", "{1}"]
    assert label_set_mix(scores, mondrian) == {"{0}": 2, "{1}": 2, "{0,1}": 0, "empty": 1}
    assert mondrian_covers(scores, [0, 1, 0, 1, 0], mondrian).tolist() == [True, False, False, True, False]


def test_both_labels_when_the_quantiles_overlap():
    mondrian = MondrianSet({"90": {"0": {"n": 99, "k": 90, "quantile": 0.6}, "1": {"n": 9, "k": 9, "quantile": 0.6}}})
    assert label_set_names([0.4, 0.5, 0.6], mondrian).tolist() == ["{0,1}", "{0,1}", "{0,1}"]


def test_serialisation_round_trips_and_orders_the_levels():
    rng = np.random.default_rng(2)
    probabilities = rng.random(300)
    mondrian = compute_mondrian(probabilities, rng.random(300) < probabilities, levels=["99.5", 90, "95"])
    assert list(mondrian.levels) == ["90", "95", "99.5"]
    assert MondrianSet.from_dict(mondrian.to_dict()) == mondrian
    assert mondrian.to_dict()["levels"]["90"]["too_few_frauds"] in (True, False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"k": 91}, "not the conformal rank"),
        ({"quantile": 1.5}, "impossible"),
        ({"n": 2.5}, "must be whole"),
    ],
)
def test_an_inconsistent_stored_set_is_refused(change, message):
    entry = {"0": {"n": 99, "k": 90, "quantile": 0.2}, "1": {"n": 9, "k": 9, "quantile": 0.3}}
    entry["0"] = {**entry["0"], **change}
    with pytest.raises(ValueError, match=message):
        MondrianSet({"90": entry})


def test_a_wrong_too_few_frauds_flag_is_refused():
    entry = {"0": {"n": 99, "k": 90, "quantile": 0.2}, "1": {"n": 8, "k": 9, "quantile": 1.0}, "too_few_frauds": False}
    with pytest.raises(ValueError, match="too_few_frauds"):
        MondrianSet({"90": entry})


def test_a_missing_level_names_the_levels_there_are():
    mondrian = compute_mondrian([0.2, 0.8], [0, 1], levels=["90"])
    with pytest.raises(ValueError, match=r"coverage_level 95 .*\['90'\]"):
        label_sets([0.5], mondrian, 95)


def test_bad_input_is_refused_at_the_door():
    with pytest.raises(InvalidOutcomesError, match="labels must be exactly 0 or 1"):
        compute_mondrian([0.2, 0.4], [0, 2])
    with pytest.raises(InvalidOutcomesError, match="probabilities must be finite"):
        label_sets([0.2, float("nan")], compute_mondrian([0.2], [0]))
