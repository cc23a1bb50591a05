"""Per-class adaptive conformal inference against an independent brute-force reference.

The reference is the recursion written out in plain Python: ``alpha += gamma * (target -
misses / counts)`` per class, clipped to the band where the conformal rank stays a real
calibration score. It finds the band's edges by their defining property -- the smallest
float whose rank (computed with :mod:`decimal`, not with the module's fractions) is at most
``n``, resp. at most 1 -- searching a few floats around ``1/(n+1)`` and ``n/(n+1)``; it never
calls the module's band. Quantiles are the k-th smallest of a sorted Python list.
"""

from __future__ import annotations

import json
import math
from decimal import ROUND_CEILING, Context, Decimal

import numpy as np
import pytest

from fraudcal.aci import (
    AciState,
    aci_quantiles,
    aci_rank,
    alpha_band,
    initial_state,
    nominal_alpha,
    update_state,
)
from fraudcal.defaults import SUPPORTED_LEVELS
from fraudcal.mondrian import compute_mondrian

#: Decimal arithmetic wide enough that (n + 1)(1 - alpha) is exact for every alpha below.
EXACT = Context(prec=80)


def reference_rank(n: int, alpha: float) -> int:
    """ceil((n + 1)(1 - alpha)) on alpha's shortest decimal, in decimal arithmetic."""
    product = EXACT.multiply(Decimal(n + 1), EXACT.subtract(Decimal(1), Decimal(repr(alpha))))
    return int(product.to_integral_value(rounding=ROUND_CEILING))


def reference_edge(n: int, fraction_numerator: int, most_rank: int) -> float:
    """The smallest float near numerator/(n+1) whose reference rank is at most ``most_rank``."""
    centre = fraction_numerator / (n + 1)
    candidates = [centre]
    for _ in range(3):
        candidates.append(math.nextafter(candidates[-1], -math.inf))
    upward = [centre]
    for _ in range(3):
        upward.append(math.nextafter(upward[-1], math.inf))
    ordered = sorted(set(candidates + upward))
    return next(value for value in ordered if reference_rank(n, value) <= most_rank)


def reference_update(alpha: float, target: float, gamma: float, misses: int, count: int, n: int | None):
    """One class's step: (new alpha, saturated) or (alpha, None) when the class had no rows."""
    if count == 0:
        return alpha, None
    moved = alpha + gamma * (target - misses / count)
    if n is None:
        low, high = 0.0, 1.0
    else:
        low = min(target, reference_edge(n, 1, n)) if n else target
        high = max(target, reference_edge(n, n, 1)) if n else target
    if moved < low:
        return low, True
    if moved > high:
        return high, True
    return moved, False


def reference_quantile(scores: list[float], alpha: float) -> tuple[float, int]:
    ranked = sorted(scores)
    k = reference_rank(len(ranked), alpha)
    return (1.0 if k > len(ranked) else ranked[k - 1]), k


# ------------------------------------------------------------------ the recursion


@pytest.mark.parametrize("seed", range(20))
def test_random_batches_follow_the_reference_recursion_exactly(seed):
    rng = np.random.default_rng(seed)
    level = [50, 80, *SUPPORTED_LEVELS, 99.5][seed % 6]
    gamma = float(rng.choice([0.005, 0.05, 0.3, 1.0]))
    state = initial_state(level, gamma)
    target = nominal_alpha(level)
    alpha = {"0": target, "1": target}
    saturated = {"0": False, "1": False}
    bound = 0
    for step in range(60):
        counts = {label: int(rng.integers(0, 40)) * int(rng.random() > 0.15) for label in ("0", "1")}
        # Drifting miss rates, sometimes all or nothing, so that the clip binds now and then.
        misses = {label: int(rng.binomial(counts[label], rng.choice([0.0, 0.05, 0.2, 0.6, 1.0]))) for label in counts}
        sizes = {"0": int(rng.integers(0, 400)), "1": int(rng.integers(0, 30))} if step % 7 else None
        state = update_state(state, _day(step), misses, counts, class_sizes=sizes)
        for label in ("0", "1"):
            n = None if sizes is None else sizes[label]
            alpha[label], flag = reference_update(alpha[label], target, gamma, misses[label], counts[label], n)
            if flag is not None:
                saturated[label] = flag
                bound += flag
        assert state.alpha == alpha, (step, state.alpha, alpha)
        assert state.saturated == saturated
        assert state.updates == step + 1
        assert state.updated_through == _day(step)
    if gamma >= 0.3:
        assert bound > 0  # the clip was exercised


def _day(step: int) -> str:
    return (np.datetime64("2025-01-01") + np.timedelta64(step, "D")).astype(str)


def test_a_class_without_rows_is_left_unchanged():
    state = update_state(initial_state(90, 0.1), "2025-01-01", {"0": 5, "1": 0}, {"0": 10, "1": 0})
    assert state.alpha["1"] == nominal_alpha(90)
    assert state.alpha["0"] == 0.1 + 0.1 * (0.1 - 0.5)
    assert state.saturated == {"0": False, "1": False}


# ------------------------------------------------------------------ the clip


@pytest.mark.parametrize("n", [1, 2, 3, 9, 10, 99, 299, 999, 12_345])
def test_the_band_keeps_the_rank_a_real_calibration_score(n):
    low, high = alpha_band(n, 0.1)
    assert (low, high) == (
        min(0.1, reference_edge(n, 1, n)),
        max(0.1, reference_edge(n, n, 1)),
    )
    if n >= 9:  # enough rows for 90 %: the band is the set's edges
        assert aci_rank(n, low) == n and aci_rank(n, math.nextafter(low, -math.inf)) == n + 1
    assert aci_rank(n, high) == 1


def test_saturation_is_flagged_when_the_clip_binds_low():
    # Every fraud missed, gamma 1: alpha would go below zero; it stops where q is the largest fraud score.
    state = update_state(initial_state(90, 1.0), "2025-01-01", {"1": 10}, {"1": 10}, class_sizes={"0": 100, "1": 40})
    assert state.saturated == {"0": False, "1": True}
    assert state.alpha["1"] == alpha_band(40, 0.1)[0]
    scores = np.linspace(0.01, 0.4, 40)
    entry = aci_quantiles(np.concatenate([np.full(100, 0.1), 1.0 - scores]), [0] * 100 + [1] * 40, state)
    fraud = entry["levels"]["90"]["1"]
    assert fraud["k"] == 40 and fraud["quantile"] == pytest.approx(0.4)  # the largest score, not 1.0


def test_saturation_is_flagged_when_the_clip_binds_high_and_clears_when_it_lets_go():
    state = initial_state(90, 1.0)
    sizes = {"0": 3, "1": 3}
    for step in range(8):  # never a miss: alpha climbs by 0.1 a day up to 3/4
        state = update_state(state, _day(step), {"0": 0}, {"0": 10}, class_sizes=sizes)
    assert state.alpha["0"] == 0.75 and state.saturated["0"]
    state = update_state(state, _day(8), {"0": 5}, {"0": 10}, class_sizes=sizes)
    assert state.alpha["0"] == 0.75 + (0.1 - 0.5) and not state.saturated["0"]


def test_too_few_rows_keep_the_target_and_q_one_as_mondrian_does():
    state = update_state(initial_state(90, 1.0), "2025-01-01", {"1": 5}, {"1": 5}, class_sizes={"0": 50, "1": 5})
    assert state.alpha["1"] == 0.1 and state.saturated["1"]
    entry = aci_quantiles([0.1] * 50 + [0.9] * 5, [0] * 50 + [1] * 5, state)["levels"]["90"]
    assert entry["1"]["quantile"] == 1.0 and entry["too_few_frauds"]


# ------------------------------------------------------------------ quantiles


LEVELS = (50, 80, *SUPPORTED_LEVELS, 99.5, 99.9, 97.3)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("level", LEVELS)
def test_without_updates_the_quantiles_are_mondrians_bit_for_bit(seed, level):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    p = np.round(rng.random(n), int(rng.integers(1, 4)))  # coarse grids: ties
    y = rng.random(n) < rng.random()
    adaptive = aci_quantiles(p, y, initial_state(level, 0.05))["levels"][str(level)]
    mondrian = compute_mondrian(p, y, levels=[level]).to_dict()["levels"][str(level)]
    for label in ("0", "1"):
        assert adaptive[label].pop("alpha") == nominal_alpha(level)
    assert adaptive == mondrian


@pytest.mark.parametrize("seed", range(10))
def test_quantiles_at_any_level_match_sorting(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(0, 500))
    p = rng.random(n)
    y = rng.random(n) < 0.3
    alpha = {"0": float(rng.random()), "1": float(rng.random() * 0.3)}
    state = AciState(level=90, gamma=0.05, alpha=alpha)
    entry = aci_quantiles(p, y, state)["levels"]["90"]
    for label, scores in (("0", [float(v) for v in p[~y]]), ("1", [1.0 - float(v) for v in p[y]])):
        quantile, k = reference_quantile(scores, alpha[label])
        assert entry[label] == {"n": len(scores), "k": k, "quantile": quantile, "alpha": alpha[label]}


def test_the_layout_is_mondrians_plus_alpha():
    entry = aci_quantiles([0.1, 0.9], [0, 1], initial_state(90, 0.05))
    assert list(entry) == ["levels"] and list(entry["levels"]) == ["90"]
    assert set(entry["levels"]["90"]) == {"0", "1", "too_few_frauds"}
    assert set(entry["levels"]["90"]["1"]) == {"n", "k", "quantile", "alpha"}


# ------------------------------------------------------------------ serialisation and refusals


def test_round_trip_through_json():
    state = update_state(
        initial_state(95, 0.05), "2025-02-03", {"0": 3, "1": 4}, {"0": 50, "1": 5}, {"0": 900, "1": 40}
    )
    again = AciState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    assert again.to_dict() == state.to_dict()
    assert list(state.to_dict()) == ["level", "gamma", "alpha", "updated_through", "saturated", "updates"]


def test_from_dict_names_the_missing_keys():
    with pytest.raises(KeyError, match=r"\['saturated', 'updates'\]"):
        AciState.from_dict({"level": 90, "gamma": 0.05, "alpha": {"0": 0.1, "1": 0.1}, "updated_through": None})


def test_days_must_move_forward_and_the_error_names_both():
    state = update_state(initial_state(90, 0.05), "2025-03-02", {}, {})
    for day in ("2025-03-02", "2025-03-01"):
        with pytest.raises(ValueError, match=rf"day {day} is not after updated_through 2025-03-02"):
            update_state(state, day, {}, {})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"day": "03/02/2025"}, "ISO date"),
        ({"misses": {"1": 6}, "counts": {"1": 5}}, "exceed counts"),
        ({"misses": {"2": 1}}, "not classes"),
        ({"counts": {"0": -1}}, "whole number"),
        ({"counts": {"0": 1.5}}, "whole number"),
    ],
)
def test_bad_batches_are_refused(arguments, message):
    values = {"day": "2025-03-02", "misses": {}, "counts": {}} | arguments
    with pytest.raises(ValueError, match=message):
        update_state(initial_state(90, 0.05), values["day"], values["misses"], values["counts"])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"gamma": 0.0}, "gamma"),
        ({"gamma": 1.5}, "gamma"),
        ({"level": 100}, "coverage level"),
        ({"level": True}, "level"),
        ({"alpha": {"0": 0.1, "1": 1.2}}, r"alpha\['1'\]"),
        ({"alpha": {"0": 0.1}}, "exactly the classes"),
        ({"updates": -1}, "updates"),
        ({"updated_through": "yesterday"}, "ISO date"),
    ],
)
def test_impossible_states_are_refused(fields, message):
    values = initial_state(90, 0.05).to_dict() | fields
    with pytest.raises(ValueError, match=message):
        AciState(**values)


def test_ranks_refuse_impossible_inputs():
    with pytest.raises(ValueError, match="alpha"):
        aci_rank(10, 1.5)
    with pytest.raises(ValueError, match="n="):
        aci_rank(-1, 0.1)
