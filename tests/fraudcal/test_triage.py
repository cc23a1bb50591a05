"""Certified triage thresholds against an independent brute force, plus edge cases and serialisation.

The reference walks the same candidate counts (:func:`fraudcal.triage.candidate_counts`, whose
own rule is checked separately in exact arithmetic) with plain Python loops: it selects the
rows of each candidate by comparing every score with the threshold, dedupes thresholds, and
tests each with the exact binomial tail in integer arithmetic (:class:`fractions.Fraction`),
against the float ``1 - confidence`` the module compares with. Targets are mostly dyadic
(0.75, 0.875, 0.9375: exact in binary, so the integers stay small); some windows use 0.9 and
0.95. The Clopper-Pearson bound is checked against a bisection on the float binomial tail.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from fraudcal import defaults
from fraudcal.inputs import InvalidOutcomesError
from fraudcal.triage import (
    CLEAR_SIDE,
    TICKET_SIDE,
    ThresholdCertificate,
    TriageCertificate,
    automated_share,
    candidate_counts,
    certificate_violated,
    certify_clear_threshold,
    certify_ticket_threshold,
    certify_triage,
    first_count,
    minimum_count,
    realized_rate,
)

# ------------------------------------------------------------------ the reference


def exact_tail(rows: int, correct: int, target: float) -> Fraction:
    """P(Bin(rows, target) >= correct), exactly, for the float ``target``."""
    q = Fraction(target)
    a, b, d = q.numerator, q.denominator - q.numerator, q.denominator
    total = 0
    for i in range(correct, rows + 1):
        total += math.comb(rows, i) * a**i * b ** (rows - i)
    return Fraction(total, d**rows)


def exact_rejects(rows: int, correct: int, target: float, confidence: float) -> bool:
    """The test's decision in exact arithmetic: tail <= the float ``1 - confidence``."""
    return exact_tail(rows, correct, target) <= Fraction(1.0 - confidence)


def brute_force(scores: list[float], labels: list[int], side: str, target: float, confidence: float) -> dict:
    """The fixed-sequence walk, written with loops only; ``counts`` are the module's."""
    n = len(scores)
    # The clear side is the ticket side of the mirrored problem: -score, and "correct" = legitimate.
    keys = scores if side == TICKET_SIDE else [-s for s in scores]
    correct_of = labels if side == TICKET_SIDE else [1 - y for y in labels]
    descending = sorted(keys, reverse=True)
    candidates = []
    for count in candidate_counts(n, target, confidence).tolist():
        threshold = descending[count - 1]
        if candidates and candidates[-1][0] == threshold:
            continue
        rows = right = 0
        for key, correct in zip(keys, correct_of, strict=True):
            if key >= threshold:
                rows += 1
                right += correct
        candidates.append((threshold, rows, right))
    result = {"certified": False, "threshold": None, "n_automated": 0, "n_correct": 0, "tested": 0}
    for threshold, rows, right in candidates:
        result["tested"] += 1
        if not exact_rejects(rows, right, target, confidence):
            break
        value = threshold if side == TICKET_SIDE else -threshold
        result.update(certified=True, threshold=value, n_automated=rows, n_correct=right)
    result["first"] = candidates[0][1:] if candidates else None
    return result


def float_tail(rows: int, correct: int, p: float) -> float:
    return math.fsum(math.comb(rows, i) * p**i * (1 - p) ** (rows - i) for i in range(correct, rows + 1))


def bisected_lower_bound(correct: int, rows: int, confidence: float) -> float:
    """The p with P(Bin(rows, p) >= correct) = 1 - confidence (the tail rises with p)."""
    if correct == 0:
        return 0.0
    low, high = 0.0, 1.0
    for _ in range(100):
        middle = (low + high) / 2
        if float_tail(rows, correct, middle) <= 1 - confidence:
            low = middle
        else:
            high = middle
    return low


def random_window(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A calibrated window of 1 to 250 rows; often with ties (scores rounded to 2 decimals)."""
    n = int(rng.integers(1, 251))
    p = rng.beta(0.4, 0.4, size=n)
    kind = rng.integers(3)
    if kind == 1:
        p = np.round(p, 2)
    elif kind == 2:
        p = np.round(p * 8) / 8  # a few big tie groups
    return p, (rng.random(n) < p).astype(int)


def check_against_reference(p, y, side, target, confidence):
    certify = certify_ticket_threshold if side == TICKET_SIDE else certify_clear_threshold
    keyword = "target_precision" if side == TICKET_SIDE else "target_npv"
    certificate = certify(p, y, **{keyword: target}, confidence=confidence)
    expected = brute_force(p.tolist(), y.tolist(), side, target, confidence)
    context = f"side={side} target={target} confidence={confidence} n={p.size} scores={p.tolist()} labels={y.tolist()}"
    got = (certificate.certified, certificate.threshold, certificate.n_automated, certificate.n_correct)
    assert got == (expected["certified"], expected["threshold"], expected["n_automated"], expected["n_correct"]), (
        context
    )
    assert certificate.candidates_tested == expected["tested"], context
    if certificate.certified:
        bound_counts = (certificate.n_correct, certificate.n_automated)
        # What it automates on the window is exactly what it counted.
        automated = certificate.automates(p)
        correct = y[automated] if side == TICKET_SIDE else 1 - y[automated]
        assert (int(automated.sum()), int(correct.sum())) == (certificate.n_automated, certificate.n_correct)
    elif expected["first"] is not None:
        bound_counts = (expected["first"][1], expected["first"][0])
    else:
        assert certificate.lower_bound is None
        return certificate
    reference = bisected_lower_bound(*bound_counts, confidence)
    assert certificate.lower_bound == pytest.approx(reference, abs=1e-9), context
    return certificate


# ------------------------------------------------------------------ agreement with the reference


@pytest.mark.parametrize("seed", range(12))
def test_agrees_with_the_brute_force_on_random_windows_dyadic_targets(seed):
    rng = np.random.default_rng(seed)
    outcomes = {"certified": 0, "not": 0}
    for _ in range(12):
        p, y = random_window(rng)
        confidence = float(rng.choice([0.75, 0.875, 0.9]))
        ticket = check_against_reference(p, y, TICKET_SIDE, float(rng.choice([0.75, 0.875])), confidence)
        clear = check_against_reference(p, y, CLEAR_SIDE, float(rng.choice([0.875, 0.9375])), confidence)
        for certificate in (ticket, clear):
            outcomes["certified" if certificate.certified else "not"] += 1
    # Both branches must be exercised for the agreement to mean something.
    assert outcomes["certified"] > 0 and outcomes["not"] > 0, outcomes


@pytest.mark.parametrize("seed", range(3))
def test_agrees_with_the_brute_force_at_the_default_style_targets(seed):
    rng = np.random.default_rng(100 + seed)
    for _ in range(6):
        p, y = random_window(rng)
        check_against_reference(p, y, TICKET_SIDE, 0.9, 0.9)
        check_against_reference(p, y, CLEAR_SIDE, 0.95, 0.9)


def test_agrees_on_a_larger_window_where_the_grid_steps_by_more_than_one_row():
    rng = np.random.default_rng(7)
    p = rng.beta(0.4, 0.4, size=700)
    y = (rng.random(p.size) < p).astype(int)
    counts = candidate_counts(p.size, 0.875, 0.9)
    assert np.diff(counts).max() > 1  # steps of N // 200 rows above 400
    certificate = check_against_reference(p, y, TICKET_SIDE, 0.875, 0.9)
    assert certificate.certified
    check_against_reference(p, y, CLEAR_SIDE, 0.9375, 0.9)


# ------------------------------------------------------------------ the candidate counts


def exact_allowed_errors(rows: int, target: float, confidence: float) -> int:
    """Most wrong rows out of ``rows`` that still reject (-1: none)."""
    errors = -1
    while errors + 1 <= rows and exact_rejects(rows, rows - (errors + 1), target, confidence):
        errors += 1
    return errors


def exact_first_count(n: int, target: float, confidence: float) -> int | None:
    """The rule, from scratch: the smallest count with power >= 1/2 at (1 + target) / 2, else the
    last count (<= n) at which one more wrong row became allowed, else None; and never fewer
    than 50 rows (or n) once a count exists."""
    halfway = (1.0 + target) / 2.0
    previous, last_start = -1, None
    for rows in range(1, n + 1):
        errors = exact_allowed_errors(rows, target, confidence)
        if errors > previous:
            last_start = rows
        previous = errors
        if errors >= 0 and exact_tail(rows, rows - errors, halfway) >= Fraction(1, 2):
            return max(rows, min(50, n))
    return None if last_start is None else max(last_start, min(50, n))


@pytest.mark.parametrize(
    ("target", "confidence"), [(0.75, 0.9), (0.875, 0.875), (0.9, 0.9), (0.95, 0.9), (0.9375, 0.75)]
)
def test_the_first_count_is_the_smallest_with_power_one_half(target, confidence):
    expected = exact_first_count(400, target, confidence)
    assert first_count(400, target, confidence) == expected
    assert candidate_counts(400, target, confidence)[0] == expected


@pytest.mark.parametrize("n", [44, 45, 60, 76, 77, 78, 104, 105, 106])
def test_a_window_smaller_than_the_powered_count_starts_at_its_last_block(n):
    # At 0.95 / 0.9: M_0 = 45, M_1 = 77, M_2 = 105 = the powered first count.
    expected = exact_first_count(n, 0.95, 0.9)
    counts = candidate_counts(n, 0.95, 0.9)
    if expected is None:
        assert counts.size == 0
    else:
        assert counts[0] == expected
        assert counts[-1] == n


def test_the_counts_step_by_half_a_percent_and_end_at_n():
    for n, target in ((10**6, 0.95), (123_457, 0.999), (500, 0.9)):
        counts = candidate_counts(n, target, 0.9).tolist()
        assert counts[-1] == n
        for before, after in zip(counts, counts[1:-1], strict=False):
            assert after == before + max(1, before // 200)
        assert 0 < counts[-1] - counts[-2] <= max(1, counts[-2] // 200)


def test_an_npv_of_0999_needs_2302_clean_rows():
    # 0.999**2302 = 0.0999... <= 0.1 < 0.999**2301: the figure.
    assert exact_rejects(2302, 2302, 0.999, 0.9) and not exact_rejects(2301, 2301, 0.999, 0.9)
    assert minimum_count(0.999, 0.9) == 2302
    assert candidate_counts(2301, 0.999, 0.9).size == 0
    assert candidate_counts(2302, 0.999, 0.9).tolist() == [2302]


# ------------------------------------------------------------------ edge cases


def test_no_frauds_at_all():
    p = np.linspace(0, 1, 300)
    triage = certify_triage(p, np.zeros(300, int), target_precision=0.9, target_npv=0.9, confidence=0.9)
    assert not triage.ticket.certified
    assert triage.ticket.reason.startswith("only 0 frauds in the window")
    assert triage.ticket.lower_bound == 0.0 and triage.ticket.n_automated == 0
    # Every row is legitimate: the clear walk goes to the whole window.
    assert triage.clear.certified and triage.clear.threshold == 1.0 and triage.clear.n_automated == 300
    assert triage.clear.reason.endswith("every candidate rejected, up to the whole window")
    assert triage.actions(p).tolist() == ["clear"] * 300


def test_all_frauds():
    p = np.linspace(0, 1, 300)
    triage = certify_triage(p, np.ones(300, int), target_precision=0.9, target_npv=0.9, confidence=0.9)
    assert triage.ticket.certified and triage.ticket.threshold == 0.0
    assert (triage.ticket.n_automated, triage.ticket.n_correct) == (300, 300)
    assert not triage.clear.certified and triage.clear.reason.startswith("only 0 legitimate cases in the window")


def test_a_window_smaller_than_the_first_candidate_certifies_nothing():
    p = np.linspace(0.5, 1, 40)
    certificate = certify_ticket_threshold(p, np.ones(40), target_precision=0.95, confidence=0.9)
    assert not certificate.certified
    assert (certificate.candidates_tested, certificate.lower_bound, certificate.n_window) == (0, None, 40)
    assert certificate.reason == (
        "only 40 rows in the window: certifying precision >= 0.95 at confidence 0.9 needs at least 45 rows, all frauds"
    )


def test_a_single_row():
    triage = certify_triage([0.7], [1])
    assert not triage.ticket.certified and not triage.clear.certified
    assert triage.actions([0.0, 0.7, 1.0]).tolist() == ["review"] * 3


def test_an_empty_window():
    triage = certify_triage([], [])
    assert (triage.ticket.certified, triage.clear.certified, triage.ticket.n_window) == (False, False, 0)


def test_a_tie_group_at_the_threshold_is_taken_whole():
    # 0.8 / 0.9: the first candidate selects 50 rows (the floor; the power rule alone says 25);
    # the 50th highest score is in a tie group of 10.
    assert candidate_counts(100, 0.8, 0.9)[0] == 50
    p = np.r_[np.full(45, 0.95), np.full(10, 0.9), np.full(45, 0.1)]
    y = np.r_[np.ones(45), np.ones(9), 0, np.zeros(45)].astype(int)
    certificate = certify_ticket_threshold(p, y, target_precision=0.8, confidence=0.9)
    assert certificate.certified and certificate.threshold == 0.9
    assert (certificate.n_automated, certificate.n_correct) == (55, 54)
    # Counts 50..55 collapse onto 0.9 and are tested once; the next distinct threshold is 0.1.
    assert certificate.candidates_tested == 2
    assert certificate.automates(p).sum() == 55


def test_a_bad_tie_group_stops_the_walk_before_it():
    # The 50th-highest score sits in a group of 40 at 0.9 with 20 legitimate cases: no certificate.
    p = np.r_[np.full(20, 0.95), np.full(40, 0.9), np.full(40, 0.1)]
    y = np.r_[np.ones(20), np.ones(20), np.zeros(20), np.zeros(40)].astype(int)
    certificate = certify_ticket_threshold(p, y, target_precision=0.8, confidence=0.9)
    assert not certificate.certified
    assert certificate.reason == (
        "the first candidate (top 60 scores, 20 legitimate) does not reject precision < 0.8 at confidence 0.9"
    )


@pytest.mark.parametrize("bad", [0, 1, 0.0, 1.0, -0.1, 1.5, float("nan"), True, "0.9", None])
@pytest.mark.parametrize("name", ["target_precision", "target_npv", "confidence"])
def test_targets_and_confidence_out_of_range_are_refused_by_name_and_value(name, bad):
    with pytest.raises(ValueError, match=rf"{name} must be a number strictly between 0 and 1; got {bad!r}"):
        certify_triage([0.1, 0.9], [0, 1], **{name: bad})


def test_bad_outcomes_name_the_index():
    with pytest.raises(InvalidOutcomesError, match="index 1 is nan"):
        certify_triage([0.1, float("nan")], [0, 1])
    with pytest.raises(InvalidOutcomesError, match="index 0 is 2"):
        certify_ticket_threshold([0.1], [2], target_precision=0.9, confidence=0.9)


def test_a_given_sequence_of_counts_is_checked():
    with pytest.raises(ValueError, match="increase strictly"):
        certify_ticket_threshold([0.1, 0.9], [0, 1], target_precision=0.9, confidence=0.9, counts=[2, 1])
    with pytest.raises(ValueError, match="increase strictly within"):
        certify_ticket_threshold([0.1, 0.9], [0, 1], target_precision=0.9, confidence=0.9, counts=[1, 3])


# ------------------------------------------------------------------ serialisation


@pytest.fixture(scope="module")
def triage() -> TriageCertificate:
    rng = np.random.default_rng(7)
    p = rng.beta(0.3, 1.5, size=20_000)
    certificate = certify_triage(p, rng.random(p.size) < p, target_precision=0.8, target_npv=0.99, confidence=0.9)
    assert certificate.ticket.certified and certificate.clear.certified
    return certificate


def test_to_dict_is_plain_json_and_round_trips(triage):
    values = triage.to_dict()
    assert set(values) == {"ticket", "clear", "confidence"}
    decoded = json.loads(json.dumps(values))
    assert decoded == values
    assert TriageCertificate.from_dict(decoded) == triage
    for side in ("ticket", "clear"):
        for key, value in values[side].items():
            assert type(value) in (str, bool, int, float, type(None)), (side, key, type(value))
        assert ThresholdCertificate.from_dict(decoded[side]) == getattr(triage, side)


def test_an_uncertified_side_round_trips():
    certificate = certify_ticket_threshold([0.5] * 10, [1] * 10, target_precision=0.9, confidence=0.9)
    assert ThresholdCertificate.from_dict(json.loads(json.dumps(certificate.to_dict()))) == certificate


@pytest.mark.parametrize("missing", ["side", "certified", "threshold", "lower_bound", "reason", "n_window"])
def test_from_dict_refuses_a_missing_key_by_name(triage, missing):
    values = triage.ticket.to_dict()
    del values[missing]
    with pytest.raises(ValueError, match=f"needs '{missing}'"):
        ThresholdCertificate.from_dict(values)


def test_from_dict_refuses_a_wrong_side_and_inconsistent_values(triage):
    with pytest.raises(ValueError, match="side must be one of"):
        ThresholdCertificate.from_dict({**triage.ticket.to_dict(), "side": "tickets"})
    with pytest.raises(ValueError, match="sides 'clear' and 'ticket'"):
        TriageCertificate.from_dict(
            {"ticket": triage.clear.to_dict(), "clear": triage.ticket.to_dict(), "confidence": 0.9}
        )
    with pytest.raises(ValueError, match="needs 'clear'"):
        TriageCertificate.from_dict({"ticket": triage.ticket.to_dict(), "confidence": 0.9})
    with pytest.raises(ValueError, match="certified=True but threshold=None"):
        ThresholdCertificate.from_dict({**triage.ticket.to_dict(), "threshold": None})
    with pytest.raises(ValueError, match="n_correct <= n_automated <= n_window"):
        ThresholdCertificate.from_dict({**triage.ticket.to_dict(), "n_correct": triage.ticket.n_automated + 1})
    with pytest.raises(ValueError, match="confidence 0.8 differs"):
        TriageCertificate.from_dict({**triage.to_dict(), "confidence": 0.8})


def test_actions_follow_the_thresholds_exactly_and_overlap_is_review(triage):
    t, c = triage.ticket.threshold, triage.clear.threshold
    scores = [0.0, c, np.nextafter(c, 1), np.nextafter(t, 0), t, 1.0]
    assert triage.actions(scores).tolist() == ["clear", "clear", "review", "review", "ticket", "ticket"]
    ticket = ThresholdCertificate(**{**triage.ticket.to_dict(), "threshold": 0.4})
    clear = ThresholdCertificate(**{**triage.clear.to_dict(), "threshold": 0.6})
    assert TriageCertificate(ticket, clear).actions([0.3, 0.4, 0.5, 0.6, 0.7]).tolist() == [
        "clear",
        "review",
        "review",
        "review",
        "ticket",
    ]
    assert set(triage.actions(np.linspace(0, 1, 101)).tolist()) <= set(defaults.TRIAGE_ACTIONS)


def test_automated_share(triage):
    scores = np.linspace(0, 1, 1001)
    assert automated_share(scores, triage.ticket) == np.mean(scores >= triage.ticket.threshold)
    uncertified = certify_ticket_threshold([0.5] * 10, [1] * 10, target_precision=0.9, confidence=0.9)
    assert automated_share(scores, uncertified) == 0.0
    assert automated_share([], triage.ticket) == 0.0


# ------------------------------------------------------------------ what the thresholds did


def test_realized_rate_by_hand():
    assert realized_rate(0, 0) == {"n": 0, "correct": 0, "rate": None, "wilson_low": None, "wilson_high": None}
    figure = realized_rate(95, 100)
    assert figure["rate"] == 0.95 and figure["n"] == 100 and figure["correct"] == 95
    # Wilson 95 %: (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), z = 1.959964.
    z = 1.959963984540054
    centre = (0.95 + z * z / 200) / (1 + z * z / 100)
    half = z * math.sqrt(0.95 * 0.05 / 100 + z * z / 40_000) / (1 + z * z / 100)
    assert figure["wilson_low"] == pytest.approx(centre - half, abs=1e-12)
    assert figure["wilson_high"] == pytest.approx(centre + half, abs=1e-12)
    assert realized_rate(10, 10)["wilson_high"] == 1.0
    with pytest.raises(ValueError, match="correct=3 must not exceed n=2"):
        realized_rate(3, 2)


def test_certificate_violated_by_hand():
    assert not certificate_violated(0, 0, 0.95)
    assert certificate_violated(50, 100, 0.95)  # Wilson upper end about 0.60
    assert not certificate_violated(95, 100, 0.95)  # the rate is the target
    # By hand, z^2 = 3.8415: 90/100 has upper end (0.9192 + 0.0619) / 1.0384 = 0.9448 < 0.95; 91/100 has 0.9519.
    assert certificate_violated(90, 100, 0.95)
    assert not certificate_violated(91, 100, 0.95)
