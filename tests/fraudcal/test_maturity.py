"""Label maturity: arrival curves, the maturity a run applies, matured windows and snapshot rows.

Expected values are worked out by hand from curves built to have them, or by independent
references written here with plain Python loops (pooling, cohort counts, a stack-based
pool-adjacent-violators fit and the plateau rule as the module docstring states it).
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from fraudcal.inputs import InvalidOutcomesError
from fraudcal.maturity import (
    AUTO,
    AUTO_MATURITY_SHARE,
    ArrivalCurve,
    InvalidMaturityError,
    InvalidSnapshotsError,
    MaturityChoice,
    arrival_curve,
    labeled_share_by_age,
    matured_until,
    resolve_label_maturity,
    snapshot_day_for,
    snapshot_rows,
)

START = date(2025, 1, 1)


def day(offset: int) -> date:
    return START + timedelta(days=offset)


def snapshots_of(labeled_at_age, *, days: int = 30, n: int = 100, single: bool = False) -> pd.DataFrame:
    """Cohorts 0..days-1 of ``n`` predictions each, labeled as ``labeled_at_age(age)`` says.

    Trajectories: every snapshot day D >= d of every cohort d; ``single``: only the last day.
    """
    rows = []
    for cohort in range(days):
        for snapshot in [days - 1] if single else range(cohort, days):
            rows.append((day(cohort), day(snapshot), n, labeled_at_age(snapshot - cohort)))
    return pd.DataFrame(rows, columns=["prediction_day", "snapshot_day", "n_predictions", "n_labeled"])


def steps(age: int) -> int:
    """50 % labeled at age 1, 90 % at age 3, 100 % from age 5 (of 100)."""
    return 0 if age < 1 else 50 if age < 3 else 90 if age < 5 else 100


# ------------------------------------------------------------------ hand-computable curves


@pytest.mark.parametrize("single", [False, True], ids=["trajectories", "single-snapshot"])
def test_deterministic_arrival_gives_the_hand_computed_curve(single):
    curve = arrival_curve(snapshots_of(steps, single=single))
    assert curve.ages.tolist() == list(range(30))
    assert curve.labeled_share.tolist() == [0.0, 0.5, 0.5, 0.9, 0.9] + [1.0] * 25
    assert curve.cohorts.tolist() == ([1] * 30 if single else list(range(30, 0, -1)))
    assert curve.eventual_share == 1.0
    assert curve.plateau_age == 5
    assert curve.maturity_days(0.95) == 5
    assert curve.maturity_days() == 5  # the default share is the auto share
    assert curve.maturity_days(0.9) == 3
    assert curve.maturity_days(0.5) == 1
    assert curve.maturity_days(0.51) == 3
    assert curve.maturity_days(1.0) == 5
    assert curve.n_cohorts == 30
    assert curve.n_snapshot_days == (1 if single else 30)


def test_an_eventual_share_below_one_is_divided_out():
    # Only 80 of 100 are ever labeled: 40 at age 1, 72 at age 3, 80 from age 5.
    curve = arrival_curve(snapshots_of(lambda age: [0, 40, 40, 72, 72][age] if age < 5 else 80))
    assert curve.eventual_share == pytest.approx(0.8, abs=1e-15)
    assert curve.share_of_eventual[:6] == pytest.approx([0.0, 0.5, 0.5, 0.9, 0.9, 1.0], abs=1e-12)
    # 72 / 80 is 0.8999999999999999 in floating point: still "90 % of the eventual labels".
    assert curve.maturity_days(0.9) == 3
    assert curve.maturity_days(0.95) == 5


def test_a_dip_in_the_labeled_share_does_not_end_or_delay_maturity():
    # Age 7 is noisy low (96 instead of 100): the monotone fit pools it with its neighbours.
    curve = arrival_curve(snapshots_of(lambda age: 96 if age == 7 else steps(age)))
    assert curve.labeled_share[7] == 0.96
    assert np.all(np.diff(curve.share_of_eventual) >= 0)
    assert curve.maturity_days(0.95) == 5
    assert curve.maturity_days(0.99) == 5


def test_an_explicit_plateau_age_is_used_as_given():
    snapshots = snapshots_of(steps)
    curve = arrival_curve(snapshots, plateau_age=3)
    # Ages 3..29 pooled: (27 + 26) cohort-snapshot pairs at 90 % and the rest at 100 %.
    pairs = {age: 30 - age for age in range(30)}
    labeled = sum(pairs[age] * steps(age) for age in range(3, 30))
    predictions = sum(pairs[age] * 100 for age in range(3, 30))
    assert curve.plateau_age == 3
    assert curve.eventual_share == pytest.approx(labeled / predictions, rel=1e-15)
    assert curve.share_of_eventual.max() == 1.0  # capped


# ------------------------------------------------------------------ too little history


def test_two_days_of_snapshots_leave_the_curve_unknown_and_auto_falls_back():
    curve = arrival_curve(snapshots_of(steps, days=2))
    assert curve.eventual_share is None
    assert curve.maturity_days() is None
    assert np.isnan(curve.share_of_eventual).all()
    assert "only ages 0..1 observed" in curve.unknown_reason
    choice = resolve_label_maturity("auto", curve, fallback_days=4)
    assert choice.days == 4
    assert choice.reason.startswith("auto requested but the arrival curve is unknown (only ages 0..1 observed")
    assert "snapshots on 2 day(s)" in choice.reason
    assert choice.reason.endswith("fell back to 4 days")


def test_too_few_cohorts_at_the_plateau_leave_the_curve_unknown():
    curve = arrival_curve(snapshots_of(steps, days=30), plateau_age=28)
    assert curve.eventual_share is None and curve.maturity_days() is None
    assert curve.unknown_reason == "only 2 cohort(s) observed at age 28 or older, 3 needed"
    assert arrival_curve(snapshots_of(steps), plateau_age=28, min_cohorts=2).maturity_days() == 5


def test_labels_still_arriving_at_the_oldest_ages_leave_the_curve_unknown():
    # The labeled share rises by 2 points a day for 40 days, longer than the 30 days observed.
    curve = arrival_curve(snapshots_of(lambda age: 2 * min(age, 40)))
    assert curve.eventual_share is None
    assert curve.unknown_reason.startswith("labels were still arriving at the oldest ages observed")
    choice = resolve_label_maturity("auto", curve)
    assert choice.days == 0
    assert "still arriving" in choice.reason and choice.reason.endswith(
        "fell back to 0 days (every labeled day counts)"
    )


def test_no_snapshots_and_no_labels_are_unknown_with_a_reason():
    empty = pd.DataFrame(columns=["prediction_day", "snapshot_day", "n_predictions", "n_labeled"])
    assert arrival_curve(empty).unknown_reason == "no snapshots"
    assert arrival_curve(empty).ages.size == 0
    unlabeled = arrival_curve(snapshots_of(lambda age: 0))
    assert unlabeled.eventual_share is None and "no cohort has a label" in unlabeled.unknown_reason


def test_too_few_ages_under_the_default_rule_even_when_flat():
    # Labels arrive the same day: flat from age 0, but ages 0..1 cannot show a plateau.
    assert arrival_curve(snapshots_of(lambda age: 100, days=2)).maturity_days() is None
    assert arrival_curve(snapshots_of(lambda age: 100, days=3)).maturity_days() == 0


# ------------------------------------------------------------------ independent references


def pava(values: list[float], weights: list[float]) -> list[float]:
    """Weighted non-decreasing least-squares fit: pool adjacent violators with a stack."""
    blocks: list[list[float]] = []  # [mean, weight, length]
    for value, weight in zip(values, weights, strict=True):
        blocks.append([value, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean2, weight2, length2 = blocks.pop()
            mean1, weight1, length1 = blocks.pop()
            total = weight1 + weight2
            blocks.append([(mean1 * weight1 + mean2 * weight2) / total, total, length1 + length2])
    fitted = []
    for mean, _, length in blocks:
        fitted += [mean] * int(length)
    return fitted


def reference_curve(rows, plateau_age=None, min_cohorts=3):
    """The curve of the module docstring, computed with loops over (d, D, n, labeled) tuples."""
    last = max(snapshot - cohort for cohort, snapshot, _, _ in rows)
    predictions, labeled, cohorts = [0] * (last + 1), [0] * (last + 1), [set() for _ in range(last + 1)]
    for cohort, snapshot, n, k in rows:
        age = snapshot - cohort
        predictions[age] += n
        labeled[age] += k
        cohorts[age].add(cohort)
    shares = [labeled[a] / predictions[a] if predictions[a] else math.nan for a in range(last + 1)]
    known = [a for a in range(last + 1) if predictions[a]]
    fitted = dict(zip(known, pava([shares[a] for a in known], [predictions[a] for a in known]), strict=True))
    plateau = plateau_age if plateau_age is not None else reference_plateau(rows, last, predictions, labeled, fitted)
    eventual = None
    if plateau is not None:
        at_plateau = [(c, n, k) for c, s, n, k in rows if s - c >= plateau]
        if len({c for c, _, _ in at_plateau}) >= min_cohorts and sum(k for _, _, k in at_plateau):
            eventual = sum(k for _, _, k in at_plateau) / sum(n for _, n, _ in at_plateau)
    return {
        "labeled_share": shares,
        "cohorts": [len(c) for c in cohorts],
        "fit": [fitted.get(a, math.nan) for a in range(last + 1)],
        "plateau_age": plateau,
        "eventual_share": eventual,
    }


def reference_plateau(rows, last, predictions, labeled, fitted):
    """The default plateau rule, written out."""
    if last < 2:
        return None
    third = math.ceil(2 * last / 3)
    reference_labeled = sum(labeled[third:])
    if reference_labeled == 0:
        return None
    reference = reference_labeled / sum(predictions[third:])
    per_cohort: dict[int, dict[int, int]] = {}
    for cohort, snapshot, n, _ in rows:
        if snapshot - cohort >= third:
            per_cohort.setdefault(cohort, {}).setdefault(snapshot, 0)
            per_cohort[cohort][snapshot] += n
    distinct = sum(max(by_snapshot.values()) for by_snapshot in per_cohort.values())
    tolerance = max(0.02, 3 * math.sqrt((1 - reference) / (reference * distinct)))
    plateau = min(age for age, value in fitted.items() if value >= (1 - tolerance) * reference)
    return plateau if plateau <= third else None


def random_rows(rng: np.random.Generator):
    """Cohorts with random sizes, a noisy rising labeled share and a random set of snapshot days."""
    days = int(rng.integers(3, 40))
    snapshot_days = sorted(set(rng.integers(0, days, size=int(rng.integers(1, days + 1))).tolist()))
    plateau_at, eventual = int(rng.integers(1, 12)), float(rng.uniform(0.05, 1.0))
    rows = []
    for cohort in range(days):
        n = int(rng.integers(0, 300))
        for snapshot in snapshot_days:
            if snapshot >= cohort:
                share = eventual * min(1.0, (snapshot - cohort + 1) / plateau_at)
                rows.append((cohort, snapshot, n, int(rng.binomial(n, share))))
    # A second "version" on some rows: pooled rows share a cohort and a snapshot day.
    extra = [(c, s, 7, int(rng.integers(0, 8))) for c, s, _, _ in rows[:: int(rng.integers(2, 9))]]
    return rows + extra


@pytest.mark.parametrize("seed", range(40))
def test_the_curve_matches_an_independent_loop_on_random_snapshots(seed):
    rng = np.random.default_rng(seed)
    rows = random_rows(rng)
    frame = pd.DataFrame(
        [(day(c), day(s), n, k) for c, s, n, k in rows],
        columns=["prediction_day", "snapshot_day", "n_predictions", "n_labeled"],
    ).sample(frac=1.0, random_state=seed)  # row order must not matter
    explicit = int(rng.integers(0, 15))
    for plateau_age in (None, explicit):
        expected = reference_curve(rows, plateau_age)
        curve = arrival_curve(frame, plateau_age=plateau_age)
        np.testing.assert_allclose(curve.labeled_share, expected["labeled_share"], rtol=1e-12)
        assert curve.cohorts.tolist() == expected["cohorts"]
        assert curve.plateau_age == expected["plateau_age"]
        if expected["eventual_share"] is None:
            assert curve.eventual_share is None and curve.maturity_days() is None
            continue
        assert curve.eventual_share == pytest.approx(expected["eventual_share"], rel=1e-12)
        share_of_eventual = np.minimum(np.array(expected["fit"]) / expected["eventual_share"], 1.0)
        np.testing.assert_allclose(curve.share_of_eventual, share_of_eventual, rtol=1e-9)
        for share in (0.5, 0.8, AUTO_MATURITY_SHARE, 1.0):
            reached = [a for a, value in enumerate(share_of_eventual) if value >= share - 1e-9]
            assert curve.maturity_days(share) == (reached[0] if reached else None)


def test_the_random_references_cover_known_and_unknown_curves():
    """The loop above must see both outcomes, or it would test only one branch."""
    outcomes = {
        reference_curve(random_rows(np.random.default_rng(seed)))["eventual_share"] is None for seed in range(40)
    }
    assert outcomes == {True, False}


# ------------------------------------------------------------------ resolve_label_maturity


@pytest.fixture(scope="module")
def known_curve() -> ArrivalCurve:
    return arrival_curve(snapshots_of(steps))


def test_auto_takes_the_curves_maturity_and_says_so(known_curve):
    choice = resolve_label_maturity(AUTO, known_curve, fallback_days=9)
    assert choice == MaturityChoice(
        "auto", 5, "auto: 95 % of a cohort's eventual labels arrive within 5 days (curve from 30 cohorts)"
    )


def test_auto_without_a_curve_falls_back_and_says_so():
    choice = resolve_label_maturity("auto", None, fallback_days=7)
    assert choice.days == 7
    assert choice.reason == "auto requested but there is no arrival curve (no label snapshots): fell back to 7 days"


@pytest.mark.parametrize(
    ("requested", "days"),
    [(7, 7), ("7", 7), (np.int64(7), 7), (0, 0), ("0", 0), ("365", 365), ("007", 7), (1, 1)],
)
def test_a_number_of_days_is_applied_as_given(requested, days, known_curve):
    choice = resolve_label_maturity(requested, known_curve)
    assert choice.days == days
    assert choice.requested is requested
    assert str(days) in choice.reason
    assert json.loads(json.dumps(choice.to_dict()))["days"] == days


def test_zero_days_says_every_labeled_day_counts():
    assert resolve_label_maturity(0, None).reason == "label_maturity_days = 0: every labeled day counts"
    assert resolve_label_maturity(1, None).reason.endswith("a prediction day counts once it is 1 day old")


@pytest.mark.parametrize(
    "requested",
    [-1, "seven", 400, "400", True, False, np.True_, 7.0, "7.0", None, "", " 7", "-1", "Auto", "auto ", "٣"],
)
def test_anything_else_is_refused_naming_the_value_and_the_rule(requested, known_curve):
    with pytest.raises(InvalidMaturityError) as raised:
        resolve_label_maturity(requested, known_curve)
    message = str(raised.value)
    assert message.startswith("label_maturity_days must be 'auto' or an integer in 0..365; got ")
    assert repr(requested) in message
    assert isinstance(raised.value, ValueError)


def test_a_boolean_is_refused_with_the_reason():
    with pytest.raises(InvalidMaturityError, match=r"got True \(a boolean is not a number of days\)"):
        resolve_label_maturity(True, None)


@pytest.mark.parametrize("fallback", [-1, 366, 1.5, True, "3"])
def test_an_invalid_fallback_is_refused(fallback):
    with pytest.raises(ValueError, match="fallback_days must be"):
        resolve_label_maturity("auto", None, fallback_days=fallback)


def test_an_auto_maturity_beyond_the_range_is_capped_and_says_so():
    ages = np.arange(400)
    share = np.minimum(1.0, ages / 390)
    curve = ArrivalCurve(ages, share, share, np.ones(400, int), 1.0, 390, n_cohorts=400, n_snapshot_days=1)
    choice = resolve_label_maturity("auto", curve)
    assert choice.days == 365 and choice.reason.endswith("capped at 365 days")


def test_maturity_choice_round_trips_and_checks_itself():
    choice = resolve_label_maturity("7", None)
    assert MaturityChoice.from_dict(json.loads(json.dumps(choice.to_dict()))) == choice
    with pytest.raises(KeyError, match="reason"):
        MaturityChoice.from_dict({"requested": 7, "days": 7})
    with pytest.raises(ValueError, match="days must be in 0..365; got 400"):
        MaturityChoice(7, 400, "x")
    with pytest.raises(InvalidMaturityError):
        MaturityChoice("seven", 7, "x")
    with pytest.raises(ValueError, match="reason"):
        MaturityChoice(7, 7, "")


# ------------------------------------------------------------------ matured_until and snapshot days


def test_zero_days_returns_as_of_exactly():
    for as_of in (
        datetime(2025, 3, 10, 6, 30, 15, 123, tzinfo=UTC),
        datetime(2025, 3, 10, 1, 0, tzinfo=timezone(timedelta(hours=2))),
        pd.Timestamp("2025-03-10T00:00:00Z"),
    ):
        assert matured_until(as_of, 0) is as_of


def test_matured_until_is_utc_midnight_of_as_of_s_utc_date_minus_the_days():
    assert matured_until(datetime(2025, 3, 10, 6, tzinfo=UTC), 3) == datetime(2025, 3, 7, tzinfo=UTC)
    # 01:00 at +02:00 is 23:00 UTC the day before: the UTC date counts.
    local = datetime(2025, 3, 10, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert matured_until(local, 1) == datetime(2025, 3, 8, tzinfo=UTC)
    assert matured_until(local, 1).tzinfo is UTC
    assert matured_until(date(2025, 3, 10), 0) == datetime(2025, 3, 10, tzinfo=UTC)
    assert matured_until(date(2025, 3, 10), 2) == datetime(2025, 3, 8, tzinfo=UTC)


@pytest.mark.parametrize("days", [-1, 366, 1.5, True, "3", None])
def test_matured_until_refuses_bad_days(days):
    with pytest.raises(ValueError, match="maturity_days must be"):
        matured_until(datetime(2025, 3, 10, tzinfo=UTC), days)


def test_matured_until_refuses_a_naive_as_of():
    with pytest.raises(ValueError, match="no time zone"):
        matured_until(datetime(2025, 3, 10), 3)
    with pytest.raises(ValueError, match="no time zone"):
        snapshot_day_for(datetime(2025, 3, 10))


@pytest.mark.parametrize(
    "as_of",
    [datetime(2025, 3, 10, tzinfo=UTC), datetime(2025, 3, 10, 17, 45, tzinfo=UTC), date(2025, 3, 10)],
    ids=["midnight", "afternoon", "date"],
)
def test_a_day_is_before_matured_until_iff_it_is_mature_on_the_snapshot_day(as_of):
    """Prediction day d is mature iff snapshot_day_for(as_of) - d >= m (module docstring)."""
    assert snapshot_day_for(as_of) == date(2025, 3, 9)
    for maturity in range(1, 8):
        end = matured_until(as_of, maturity)
        for offset in range(30):
            prediction_day = date(2025, 2, 20) + timedelta(days=offset)
            whole_day_before = datetime.combine(prediction_day + timedelta(days=1), datetime.min.time(), UTC) <= end
            assert whole_day_before == ((snapshot_day_for(as_of) - prediction_day).days >= maturity)


# ------------------------------------------------------------------ snapshot_rows


def test_snapshot_rows_match_a_loop():
    rng = np.random.default_rng(7)
    n = 5_000
    zone = timezone(timedelta(hours=-5))
    moments = [datetime(2025, 2, 1, tzinfo=zone) + timedelta(minutes=int(m)) for m in rng.integers(0, 12 * 1440, n)]
    labeled = rng.random(n) < 0.6
    fraud = labeled & (rng.random(n) < 0.1)
    rows = snapshot_rows(pd.Series(moments), labeled, fraud=fraud, snapshot_day=date(2025, 2, 14))
    expected: dict[date, list[int]] = {}
    for moment, is_labeled, is_fraud in zip(moments, labeled, fraud, strict=True):
        counts = expected.setdefault(moment.astimezone(UTC).date(), [0, 0, 0])
        counts[0] += 1
        counts[1] += int(is_labeled)
        counts[2] += int(is_fraud)
    assert list(rows.columns) == ["snapshot_day", "prediction_day", "n_predictions", "n_labeled", "n_fraud"]
    assert rows["snapshot_day"].tolist() == [date(2025, 2, 14)] * len(expected)
    assert rows["prediction_day"].tolist() == sorted(expected)
    assert rows[["n_predictions", "n_labeled", "n_fraud"]].to_numpy().tolist() == [
        expected[d] for d in sorted(expected)
    ]


def test_snapshot_rows_over_days_far_apart_and_without_fraud_flags():
    days = np.array(["1900-01-01", "2100-06-30", "1900-01-01"], dtype="datetime64[D]")
    rows = snapshot_rows(days, [1, 0, 0], snapshot_day="2100-06-30")
    assert list(rows.columns) == ["snapshot_day", "prediction_day", "n_predictions", "n_labeled"]
    assert rows["prediction_day"].tolist() == [date(1900, 1, 1), date(2100, 6, 30)]
    assert rows["n_predictions"].tolist() == [2, 1] and rows["n_labeled"].tolist() == [1, 0]


def test_snapshot_rows_of_no_predictions_are_empty():
    rows = snapshot_rows(np.array([], dtype="datetime64[us]"), np.array([], bool), snapshot_day=date(2025, 1, 1))
    assert rows.empty and list(rows.columns) == ["snapshot_day", "prediction_day", "n_predictions", "n_labeled"]


def test_snapshot_rows_feed_the_curve():
    rng = np.random.default_rng(3)
    prediction_days = np.repeat(np.arange(20), 500)
    label_age = rng.integers(0, 4, prediction_days.size)  # every label within 3 days
    dates = np.datetime64("2025-01-01") + prediction_days.astype("timedelta64[D]")
    table = pd.concat(
        snapshot_rows(
            dates[prediction_days <= d], (prediction_days + label_age <= d)[prediction_days <= d], snapshot_day=day(d)
        )
        for d in range(20)
    )
    curve = arrival_curve(table)
    assert curve.eventual_share == 1.0
    assert curve.maturity_days(1.0) == 3
    assert curve.labeled_share[3:].tolist() == [1.0] * 17


def test_snapshot_rows_count_a_million_rows_well_under_a_second():
    """Best of three, measured ~0.04 s for datetime64[us] timestamps; the bound is 1 s."""
    rng = np.random.default_rng(0)
    n = 1_000_000
    moments = np.datetime64("2025-01-01T00:00", "us") + rng.integers(0, 60 * 86_400_000_000, n).astype(
        "timedelta64[us]"
    )
    labeled = rng.random(n) < 0.5
    fraud = labeled & (rng.random(n) < 0.03)
    elapsed = []
    for _ in range(3):
        started = time.perf_counter()
        rows = snapshot_rows(moments, labeled, fraud=fraud, snapshot_day="2025-03-01")
        elapsed.append(time.perf_counter() - started)
    assert rows["n_predictions"].sum() == n and len(rows) == 60
    assert min(elapsed) < 1.0, elapsed


def test_snapshot_rows_refuse_bad_rows_naming_them():
    days = ["2025-01-01", "2025-01-03", "2025-01-02"]
    with pytest.raises(InvalidSnapshotsError, match=r"after snapshot_day 2025-01-02: row 1 has 2025-01-03 \(1 of 3"):
        snapshot_rows(days, [True, True, True], snapshot_day="2025-01-02")
    with pytest.raises(InvalidOutcomesError, match="index 2 is a fraud without a label"):
        snapshot_rows(days, [True, True, False], fraud=[False, True, True], snapshot_day="2025-01-05")
    with pytest.raises(InvalidOutcomesError, match=r"labeled must hold one value per outcome \(3\); got 2"):
        snapshot_rows(days, [True, False], snapshot_day="2025-01-05")
    with pytest.raises(InvalidOutcomesError, match="labeled must be exactly 0 or 1.*index 1 is 'yes'"):
        snapshot_rows(days, [True, "yes", False], snapshot_day="2025-01-05")
    with pytest.raises(InvalidSnapshotsError, match="prediction_day must hold dates or timestamps: row 1 has no value"):
        snapshot_rows(np.array(["2025-01-01", "NaT"], dtype="datetime64[D]"), [1, 0], snapshot_day="2025-01-05")
    with pytest.raises(InvalidSnapshotsError, match="not numbers: row 0 has 20250101"):
        snapshot_rows([20250101, 20250102], [1, 0], snapshot_day="2025-01-05")
    with pytest.raises(InvalidSnapshotsError, match="snapshot_day must be one date"):
        snapshot_rows(days, [1, 0, 1], snapshot_day=["2025-01-05"])


# ------------------------------------------------------------------ input errors of the snapshots


def one_row(**changes) -> pd.DataFrame:
    row = {"prediction_day": "2025-01-02", "snapshot_day": "2025-01-05", "n_predictions": 10, "n_labeled": 4}
    return pd.DataFrame([{**row, **changes}])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_predictions": -1, "n_labeled": 0}, "snapshots.n_predictions must be whole numbers >= 0: row 0 has -1"),
        (
            {"n_labeled": 11},
            "snapshots: n_labeled must not exceed n_predictions: row 0 has n_labeled=11 and n_predictions=10",
        ),
        ({"n_fraud": 5}, "snapshots: n_fraud must not exceed n_labeled: row 0 has n_fraud=5 and n_labeled=4"),
        ({"n_fraud": -2}, "snapshots.n_fraud must be whole numbers >= 0: row 0 has -2"),
        ({"n_labeled": 2.5}, "snapshots.n_labeled must be whole numbers >= 0: row 0 has 2.5"),
        ({"n_labeled": math.nan}, "snapshots.n_labeled must be whole numbers >= 0: row 0 has nan"),
        ({"n_labeled": "4"}, "snapshots.n_labeled must be whole numbers >= 0: row 0 has '4'"),
        ({"n_labeled": True}, "snapshots.n_labeled must be whole numbers >= 0, not booleans: row 0 has True"),
        (
            {"snapshot_day": "2025-01-01"},
            "snapshots: snapshot_day must not be before prediction_day: row 0 has prediction_day 2025-01-02 "
            "and snapshot_day 2025-01-01",
        ),
        ({"prediction_day": None}, "snapshots.prediction_day must hold dates or timestamps: row 0 has no value"),
        ({"prediction_day": "yesterday"}, "snapshots.prediction_day must hold dates or timestamps: .*yesterday"),
        ({"snapshot_day": 5}, "snapshots.snapshot_day must hold dates or timestamps, not numbers: row 0 has 5"),
    ],
)
def test_bad_snapshots_are_refused_naming_the_column_row_and_value(changes, message):
    for entry in (arrival_curve, lambda frame: labeled_share_by_age(frame, "2025-02-01")):
        with pytest.raises(InvalidSnapshotsError, match=message):
            entry(one_row(**changes))


def test_a_missing_column_is_named():
    with pytest.raises(InvalidSnapshotsError, match=r"lack column\(s\) \['n_labeled'\]; they have"):
        arrival_curve(one_row().drop(columns="n_labeled"))
    with pytest.raises(InvalidSnapshotsError, match="must be a pandas DataFrame; got list"):
        arrival_curve([{"prediction_day": "2025-01-01"}])


def test_the_row_named_is_the_first_offending_one():
    frame = pd.concat([one_row(), one_row(n_labeled=12), one_row(n_labeled=13)], ignore_index=True)
    with pytest.raises(InvalidSnapshotsError, match=r"row 1 has n_labeled=12 .*\(2 of 3 rows break the rule\)"):
        arrival_curve(frame)


@pytest.mark.parametrize(("keyword", "value"), [("plateau_age", -1), ("plateau_age", 2.0), ("min_cohorts", 0)])
def test_bad_curve_parameters_are_refused(keyword, value):
    with pytest.raises(ValueError, match=keyword):
        arrival_curve(one_row(), **{keyword: value})


def test_maturity_days_refuses_a_share_outside_zero_to_one(known_curve):
    for share in (0, -0.1, 1.5, True, "0.9"):
        with pytest.raises(ValueError, match="share must be a number in"):
            known_curve.maturity_days(share)


# ------------------------------------------------------------------ the report's table


def test_labeled_share_by_age_reads_the_newest_snapshot_at_or_before_the_day():
    frame = pd.DataFrame(
        [
            # snapshot of 2025-01-05: cohorts of ages 0, 1 and 3 (age 2 has no predictions)
            ("2025-01-05", "2025-01-05", 200, 20, 10),
            ("2025-01-04", "2025-01-05", 100, 30, 6),
            ("2025-01-02", "2025-01-05", 100, 80, 2),
            ("2025-01-02", "2025-01-05", 50, 40, 0),  # a second version of the same cohort
            # a newer snapshot, after the day asked for
            ("2025-01-05", "2025-01-07", 200, 150, 10),
        ],
        columns=["prediction_day", "snapshot_day", "n_predictions", "n_labeled", "n_fraud"],
    )
    table = labeled_share_by_age(frame, date(2025, 1, 6))
    assert table.to_dict("list") == {
        "age": [0, 1, 2, 3],
        "cohorts": [1, 1, 0, 1],
        "n_predictions": [200, 100, 0, 150],
        "n_labeled": [20, 30, 0, 120],
        "labeled_share": [0.1, 0.3, pytest.approx(math.nan, nan_ok=True), 0.8],
        "n_fraud": [10, 6, 0, 2],
        "fraud_share": [0.5, 0.2, pytest.approx(math.nan, nan_ok=True), 2 / 120],
    }
    assert labeled_share_by_age(frame, "2025-01-07")["n_labeled"].tolist() == [0, 0, 150]


def test_labeled_share_by_age_is_empty_before_the_first_snapshot():
    table = labeled_share_by_age(one_row(), datetime(2025, 1, 4, tzinfo=UTC))
    assert table.empty
    assert list(table.columns) == ["age", "cohorts", "n_predictions", "n_labeled", "labeled_share"]


# ------------------------------------------------------------------ the curve's own form


def test_the_curve_round_trips_through_json(known_curve):
    unknown = arrival_curve(snapshots_of(steps, days=2))
    # Ages 0 and 3 observed, 1 and 2 not: NaN shares that JSON must carry as null.
    gappy = arrival_curve(pd.concat([one_row(), one_row(prediction_day="2025-01-05")]))
    assert np.isnan(gappy.labeled_share[1]) and gappy.cohorts.tolist() == [1, 0, 0, 1]
    for curve in (known_curve, unknown, gappy):
        text = json.dumps(curve.to_dict(), allow_nan=False)
        assert ArrivalCurve.from_dict(json.loads(text)) == curve


def test_the_curve_is_read_only_and_checks_itself(known_curve):
    with pytest.raises(ValueError):
        known_curve.labeled_share[0] = 0.5
    with pytest.raises(KeyError, match="plateau_age"):
        ArrivalCurve.from_dict({k: v for k, v in known_curve.to_dict().items() if k != "plateau_age"})
    with pytest.raises(ValueError, match="not both or neither"):
        ArrivalCurve([0], [0.5], [1.0], [3], 0.5, 0, unknown_reason="why")
    with pytest.raises(ValueError, match="not both or neither"):
        ArrivalCurve([0], [0.5], [np.nan], [3], None, None)
    with pytest.raises(ValueError, match=r"labeled_share must be in \[0, 1\] or NaN: age 1 has 1.5"):
        ArrivalCurve([0, 1], [0.5, 1.5], [0.5, 1.0], [3, 3], 1.0, 1)
    with pytest.raises(ValueError, match="ages must be 0..1"):
        ArrivalCurve([1, 2], [0.5, 1.0], [0.5, 1.0], [3, 3], 1.0, 1)
    with pytest.raises(ValueError, match="NaN throughout"):
        ArrivalCurve([0], [0.5], [1.0], [3], None, None, unknown_reason="why")
