"""The vectorised replay against a brute-force reference written as plain per-day loops.

The reference filters each window row by row in Python (prediction day in ``[as_of - window,
as_of - maturity)``, label known, arrived by ``as_of``), sorts each class's scores, takes the
conformal rank with fractions (decimals for ACI), decides every row of the day one by one and
counts. It runs the ACI recursion with the reference step of ``test_aci``. Every count of
every (day, configuration, class) must be identical.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from fraudcal.replay import (
    COUNT_COLUMNS,
    MethodConfig,
    default_configs,
    read_history,
    replay,
    replay_benchmark,
    verdict,
    verdict_sentence,
)
from fraudcal.scenarios import ScenarioConfig, generate
from tests.fraudcal.test_aci import reference_quantile, reference_update

CONFIGS = (
    MethodConfig("residual", "residual"),
    MethodConfig("mondrian", "mondrian"),
    MethodConfig("aci", "mondrian_aci", {"gamma": 0.3}),
    MethodConfig("aci_slow", "mondrian_aci", {"gamma": 0.02, "window_days": 4}),
    MethodConfig("static", "mondrian", {"frozen_as_of": 9}),
    MethodConfig("residual_long", "residual", {"window_days": 9}),
)
LEVEL = 80


def small_history(seed: int, *, as_of_labels: bool) -> pd.DataFrame:
    """16 days x 80 rows, 15 % fraud, drift, late labels, scores on a 0.01 grid (ties)."""
    config = ScenarioConfig(
        days=16,
        rows_per_day=80,
        fraud_rate=0.15,
        seed=seed,
        drift_start_day=6,
        concept_drift_logit=2.0,
        concept_drift_days=5,
        label_delay_days=2.0,
        label_horizon_days=5,
        fraud_label_speedup=2.0,
    )
    frame = generate(config)
    frame["probability"] = frame["probability"].round(2)
    frame["is_high_risk"] = frame["probability"] >= 0.5
    if as_of_labels:
        return frame
    # Labels as known now: the ones that ever arrived, without their arrival time.
    label = frame["label"].astype("boolean").where(np.isfinite(frame["label_day"]))
    return frame.drop(columns=["label_day"]).assign(label=label)


# ------------------------------------------------------------------ the reference


def reference_rows(frame: pd.DataFrame) -> list[dict]:
    has_arrival = "label_day" in frame.columns
    rows = []
    for record in frame.to_dict("records"):
        label = record["label"]
        known = label is not None and label is not pd.NA and not (isinstance(label, float) and math.isnan(label))
        arrival = record["label_day"] if has_arrival else -math.inf
        known = known and math.isfinite(arrival) if has_arrival else known
        rows.append(
            {
                "day": int(record["day"]),
                "p": float(record["probability"]),
                "y": bool(label) if known else None,
                "arrival": arrival,
                "high": bool(record["is_high_risk"]),
            }
        )
    return rows


def reference_window(rows, as_of, window_days, maturity):
    return [
        row
        for row in rows
        if row["y"] is not None and as_of - window_days <= row["day"] < as_of - maturity and row["arrival"] <= as_of
    ]


def fixed_rank(n: int, level: int) -> int:
    if n == 0:
        return 1
    return math.ceil(Fraction(n + 1) * Fraction(level, 100))


def kth(scores, k):
    ranked = sorted(scores)
    return 1.0 if k > len(ranked) else ranked[k - 1]


def decide(row, method, quantiles, narrow_threshold):
    p = row["p"]
    if method == "residual":
        (q,) = quantiles
        lower, upper = max(0.0, p - q), min(1.0, p + q)
        zero, one = lower <= 0.0, upper >= 1.0
        ticket = row["high"] and (upper - lower) < narrow_threshold
    else:
        q_zero, q_one = quantiles
        zero, one = p <= q_zero, (1.0 - p) <= q_one
        ticket = row["high"] and one and not zero
    clear = zero and not one and not ticket
    return zero, one, ticket, clear


def count(rows, decisions):
    out = {}
    for name, fraud in (("fraud", True), ("legitimate", False)):
        values = dict.fromkeys(COUNT_COLUMNS, 0)
        for row, (zero, one, ticket, clear) in zip(rows, decisions, strict=True):
            if row["y"] != fraud:
                continue
            values["n"] += 1
            values["covered"] += one if fraud else zero
            values["set_0"] += zero and not one
            values["set_1"] += one and not zero
            values["set_both"] += zero and one
            values["set_empty"] += not zero and not one
            values["high_risk"] += row["high"]
            values["tickets"] += ticket
            values["tickets_fraud"] += ticket and fraud
            values["cleared"] += clear
            values["cleared_legit"] += clear and not fraud
            values["review"] += not ticket and not clear
        out[name] = {key: int(value) for key, value in values.items()}
    return out


def reference_replay(frame, days, configs, window_days, maturity, level, narrow_threshold=0.2):
    rows = reference_rows(frame)
    result = {}
    target = float(1 - Fraction(level, 100))
    for config in configs:
        length = config.options.get("window_days", window_days)
        frozen = config.options.get("frozen_as_of")
        alpha = {"0": target, "1": target}
        in_force: dict[int, tuple[float, float]] = {}
        applied = None
        for day in days:
            as_of = day if frozen is None else min(day, frozen)
            window = reference_window(rows, as_of, length, maturity)
            legit = [row["p"] for row in window if not row["y"]]
            fraud = [1.0 - row["p"] for row in window if row["y"]]
            if config.method == "residual":
                scores = [1.0 - row["p"] if row["y"] else row["p"] for row in window]
                quantiles = (kth(scores, fixed_rank(len(scores), level)),)
            elif config.method == "mondrian":
                quantiles = (kth(legit, fixed_rank(len(legit), level)), kth(fraud, fixed_rank(len(fraud), level)))
            else:
                for matured in sorted(in_force):
                    if matured > day - maturity - 1 or (applied is not None and matured <= applied):
                        continue
                    q_zero, q_one = in_force[matured]
                    labeled = [row for row in rows if row["day"] == matured and row["y"] is not None]
                    labeled = [row for row in labeled if row["arrival"] <= day]
                    batches = {
                        "0": ([row for row in labeled if not row["y"]], lambda row, q=q_zero: row["p"] > q),
                        "1": ([row for row in labeled if row["y"]], lambda row, q=q_one: 1.0 - row["p"] > q),
                    }
                    sizes = {"0": len(legit), "1": len(fraud)}
                    for label, (members, missed) in batches.items():
                        misses = sum(1 for row in members if missed(row))
                        alpha[label], _ = reference_update(
                            alpha[label], target, config.gamma, misses, len(members), sizes[label]
                        )
                    applied = matured
                quantiles = (reference_quantile(legit, alpha["0"])[0], reference_quantile(fraud, alpha["1"])[0])
                in_force[day] = quantiles
            judged = [row for row in rows if row["day"] == day and row["y"] is not None]
            decisions = [decide(row, config.method, quantiles, narrow_threshold) for row in judged]
            for name, values in count(judged, decisions).items():
                result[(day, config.name, name)] = values
    return result


def module_counts(replayed: pd.DataFrame) -> dict:
    return {
        (int(row["day"]), row["config"], row["class"]): {column: int(row[column]) for column in COUNT_COLUMNS}
        for row in replayed.to_dict("records")
    }


# ------------------------------------------------------------------ agreement


@pytest.mark.parametrize("maturity", [0, 1, 3])
@pytest.mark.parametrize("as_of_labels", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_the_replay_counts_are_the_reference_counts(seed, as_of_labels, maturity):
    frame = small_history(seed, as_of_labels=as_of_labels)
    days = range(7, 16)
    replayed = replay(frame, days=days, configs=CONFIGS, window_days=6, label_maturity_days=maturity, level=LEVEL)
    expected = reference_replay(frame, days, CONFIGS, 6, maturity, LEVEL)
    assert module_counts(replayed) == expected
    # The ACI levels really moved, so the agreement covers the recursion, not just Mondrian.
    alphas = replayed.loc[replayed["config"] == "aci", "alpha"]
    assert alphas.nunique() > 3


def test_gaps_in_the_replayed_days_apply_every_matured_day_once():
    frame = small_history(4, as_of_labels=True)
    days = [7, 8, 11, 12, 15]
    replayed = replay(frame, days=days, configs=CONFIGS[2:3], window_days=6, label_maturity_days=1, level=LEVEL)
    assert module_counts(replayed) == reference_replay(frame, days, CONFIGS[2:3], 6, 1, LEVEL)


# ------------------------------------------------------------------ maturity and as-of labels


def _row(day, p, label, label_day=None):
    return {"day": day, "probability": p, "label": label, "label_day": day + 0.5 if label_day is None else label_day}


def _base_rows():
    """Days 0-4: legitimate cases at 0.05..0.25 and frauds at 0.7..0.9 (ten of each a day)."""
    rows = []
    for day in range(5):
        rows += [_row(day, 0.05 + 0.02 * i, False) for i in range(10)]
        rows += [_row(day, 0.9 - 0.02 * i, True) for i in range(10)]
    return rows


def _quantile(replayed, config, day, class_name):
    part = replayed[(replayed["config"] == config) & (replayed["day"] == day) & (replayed["class"] == class_name)]
    return float(part["quantile"].iloc[0])


def test_a_label_inside_the_maturity_gap_is_never_used():
    # Day 5 and 6 are inside the gap of as_of 7 with a maturity of 2: legitimate cases at 0.95
    # there would raise the legitimate quantile (ten per day against 50 in the window).
    rows = _base_rows() + [_row(day, 0.95, False) for day in (5, 6) for _ in range(10)]
    rows += [_row(7, 0.5, False), _row(7, 0.5, True)]  # day 7 is judged
    frame = pd.DataFrame(rows)
    mondrian = [MethodConfig("mondrian", "mondrian")]
    mature = replay(frame, days=[7], configs=mondrian, window_days=7, label_maturity_days=2, level=LEVEL)
    eager = replay(frame, days=[7], configs=mondrian, window_days=7, label_maturity_days=0, level=LEVEL)
    legit_scores = sorted(row["probability"] for row in rows if not row["label"] and row["day"] < 5)
    assert _quantile(mature, "mondrian", 7, "legitimate") == legit_scores[fixed_rank(50, LEVEL) - 1]
    assert _quantile(eager, "mondrian", 7, "legitimate") == 0.95  # the gap's labels would change the set


def test_labels_that_arrive_after_the_as_of_are_not_used():
    # Legitimate cases of day 4 whose labels arrive on day 9: in the window of as_of 7 by day,
    # not by label. Without label_day (labels as known now) they would be used.
    rows = _base_rows() + [_row(4, 0.95, False, label_day=9.0) for _ in range(20)]
    rows += [_row(7, 0.5, False), _row(7, 0.5, True)]
    frame = pd.DataFrame(rows)
    mondrian = [MethodConfig("mondrian", "mondrian")]
    as_of = replay(frame, days=[7], configs=mondrian, window_days=7, label_maturity_days=0, level=LEVEL)
    known_now = replay(frame.drop(columns=["label_day"]), days=[7], configs=mondrian, window_days=7, level=LEVEL)
    legit_scores = sorted(row["probability"] for row in _base_rows() if not row["label"])
    assert _quantile(as_of, "mondrian", 7, "legitimate") == legit_scores[fixed_rank(50, LEVEL) - 1]
    assert _quantile(known_now, "mondrian", 7, "legitimate") == 0.95


def test_aci_judges_a_matured_day_with_the_labels_known_when_it_matured():
    frame = small_history(5, as_of_labels=True)
    configs = [MethodConfig("aci", "mondrian_aci", {"gamma": 0.5})]
    replayed = replay(frame, days=range(7, 16), configs=configs, window_days=6, label_maturity_days=0, level=LEVEL)
    assert module_counts(replayed) == reference_replay(frame, range(7, 16), configs, 6, 0, LEVEL)
    # With labels known now instead, the recursion sees other errors and ends elsewhere.
    late = frame.assign(label_day=frame["day"] + 0.5)
    other = replay(late, days=range(7, 16), configs=configs, window_days=6, label_maturity_days=0, level=LEVEL)
    assert not np.array_equal(replayed["alpha"].to_numpy(), other["alpha"].to_numpy())


# ------------------------------------------------------------------ the output


def test_output_layout_and_nulls():
    frame = small_history(0, as_of_labels=True)
    replayed = replay(frame, days=range(10, 12), configs=CONFIGS[:3], window_days=6, level=LEVEL)
    assert len(replayed) == 2 * 3 * 2
    assert replayed[["day", "config", "class"]].head(4).to_dict("records") == [
        {"day": 10, "config": "residual", "class": "fraud"},
        {"day": 10, "config": "residual", "class": "legitimate"},
        {"day": 10, "config": "mondrian", "class": "fraud"},
        {"day": 10, "config": "mondrian", "class": "legitimate"},
    ]
    assert replayed["date"].iloc[0] == "2025-01-11"
    assert replayed.loc[replayed["method"] != "mondrian_aci", "alpha"].isna().all()
    assert replayed.loc[replayed["method"] == "mondrian_aci", "saturated"].notna().all()
    totals = replayed[["tickets", "cleared", "review"]].sum(axis=1)
    assert (totals == replayed["n"]).all()  # every judged prediction gets exactly one decision


def test_history_without_day_counts_days_from_the_epoch():
    frame = pd.DataFrame(
        {
            "predicted_at": pd.to_datetime(["2025-01-01T10:00", "2025-01-02T10:00"], utc=True),
            "probability": [0.1, 0.9],
            "label": [0, 1],
        }
    )
    history = read_history(frame)
    assert history.day.tolist() == [20089, 20090] and history.iso(20089) == "2025-01-01"


def test_refusals():
    frame = small_history(0, as_of_labels=True)
    with pytest.raises(ValueError, match="strictly increasing"):
        replay(frame, days=[9, 8], configs=CONFIGS[:1], window_days=6)
    with pytest.raises(ValueError, match="unique"):
        replay(frame, days=[9], configs=CONFIGS[:1] * 2, window_days=6)
    with pytest.raises(ValueError, match="must exceed label_maturity_days"):
        replay(frame, days=[9], configs=CONFIGS[:1], window_days=3, label_maturity_days=3)
    with pytest.raises(ValueError, match="column"):
        replay(frame.drop(columns=["probability"]), days=[9], configs=CONFIGS[:1])
    with pytest.raises(ValueError, match="not one of"):
        MethodConfig("x", "isotonic")
    with pytest.raises(KeyError, match="method"):
        MethodConfig.from_dict({"name": "x"})


def test_config_round_trip_and_defaults():
    for config in default_configs():
        assert MethodConfig.from_dict(config.to_dict()) == config
    assert [config.method for config in default_configs()] == ["residual", "mondrian", "mondrian_aci", "venn_abers"]


# ------------------------------------------------------------------ verdicts


def test_verdict_counts_days_whose_wilson_interval_reaches_the_target():
    rows = []
    for day, covered in ((0, 90), (1, 85), (2, 80), (3, 70)):
        for name, fraud in (("fraud", True), ("legitimate", False)):
            rows.append(
                {
                    "day": day,
                    "config": "m",
                    "method": "mondrian",
                    "class": name,
                    "n": 100,
                    "covered": covered if fraud else 100,
                    "tickets": 10 if fraud else 1,
                    "tickets_fraud": 10 if fraud else 0,
                    "cleared": 0 if fraud else 50,
                    "cleared_legit": 0 if fraud else 50,
                    "review": 90 if fraud else 49,
                    "saturated": None,
                }
            )
    row = verdict(pd.DataFrame(rows), level=90)[0]
    # Wilson upper ends at 95 %: 85/100 -> 0.910, 80/100 -> 0.867, 70/100 -> 0.779.
    assert row["fraud"]["days_met"] == 2 and row["fraud"]["days_measured"] == 4
    assert row["legitimate"]["days_met"] == 4
    assert row["ticket_precision"]["rate"] == pytest.approx(40 / 44)
    assert row["review_share"] == pytest.approx((90 + 49) / 200)
    assert "met fraud-class coverage (90 %) on 2 of 4 days at a review load of 69.5 %" in verdict_sentence(row)


def test_the_benchmark_reports_both_times_and_their_ratio():
    frame = small_history(1, as_of_labels=True)
    figures = replay_benchmark(frame, days=range(8, 16), configs=CONFIGS[:3], window_days=6)
    assert figures["days"] == 8 and figures["rows"] == len(frame)
    assert figures["ratio"] == pytest.approx(figures["replay_seconds"] / figures["single_pass_seconds"])


# ------------------------------------------------------------------ Venn-Abers


def test_venn_abers_decides_with_the_triage_certified_on_the_same_window():
    from fraudcal.metrics import expected_calibration_error
    from fraudcal.triage import certify_triage
    from fraudcal.venn_abers import fit_venn_abers, venn_abers_probabilities

    frame = small_history(2, as_of_labels=True)
    config = MethodConfig("va", "venn_abers")
    targets = {"target_precision": 0.5, "target_npv": 0.9, "triage_confidence": 0.8}
    replayed = replay(frame, days=range(9, 16), configs=[config], window_days=6, label_maturity_days=1, **targets)
    rows = reference_rows(frame)
    assert replayed[["covered", "set_0", "set_1", "set_both", "set_empty", "alpha"]].isna().all().all()
    for day in range(9, 16):
        window = reference_window(rows, day, 6, 1)
        p = np.array([row["p"] for row in window])
        y = np.array([row["y"] for row in window])
        certificate = certify_triage(
            p, y, target_precision=0.5, target_npv=0.9, confidence=targets["triage_confidence"]
        )
        judged = [row for row in rows if row["day"] == day and row["y"] is not None]
        actions = certificate.actions([row["p"] for row in judged])
        decisions = [(False, False, action == "ticket", action == "clear") for action in actions]
        expected = count(judged, decisions)
        part = replayed[replayed["day"] == day].set_index("class")
        for name in ("fraud", "legitimate"):
            for column in ("n", "high_risk", "tickets", "tickets_fraud", "cleared", "cleared_legit", "review"):
                assert int(part.loc[name, column]) == expected[name][column], (day, name, column)
        day_p = np.array([row["p"] for row in judged])
        day_y = np.array([row["y"] for row in judged])
        _, _, merged = venn_abers_probabilities(day_p, fit_venn_abers(p, y))
        assert part.loc["fraud", "ece_raw"] == expected_calibration_error(day_p, day_y)
        assert part.loc["fraud", "ece_p"] == expected_calibration_error(merged, day_y)
        for side, column in ((certificate.ticket, "ticket_threshold"), (certificate.clear, "clear_threshold")):
            expected_threshold = math.nan if side.threshold is None else side.threshold
            np.testing.assert_equal(part.loc["fraud", column], expected_threshold)
    assert replayed["tickets"].sum() > 0 and replayed["cleared"].sum() > 0
