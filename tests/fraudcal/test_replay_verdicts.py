"""The replay report's material in the core: daily figures, each method's promise, the first sentence."""

from __future__ import annotations

import math

import pytest

from fraudcal.replay import (
    MethodConfig,
    comparison_sentence,
    daily_figures,
    default_configs,
    guarantee,
    replay,
    verdict,
)
from fraudcal.scenarios import ScenarioConfig, generate


@pytest.fixture(scope="module")
def replayed():
    frame = generate(ScenarioConfig(days=30, rows_per_day=300, fraud_rate=0.08, seed=5, label_delay_days=1.0))
    return replay(frame, days=range(20, 30), configs=default_configs(), window_days=14, label_maturity_days=1)


def test_daily_figures_add_up_to_the_replayed_rows(replayed):
    daily = daily_figures(replayed)
    assert len(daily) == 10 * 4
    assert list(daily["config"].iloc[:4]) == ["residual", "mondrian", "mondrian_aci", "venn_abers"]
    for (day, config), part in replayed.groupby(["day", "config"]):
        row = daily[(daily["day"] == day) & (daily["config"] == config)].iloc[0]
        fraud = part[part["class"] == "fraud"].iloc[0]
        assert row["n"] == part["n"].sum() and row["review"] == part["review"].sum()
        assert row["fraud_n"] == fraud["n"]
        assert math.isclose(row["review_share"], part["review"].sum() / part["n"].sum())
        if config == "venn_abers":
            assert math.isnan(row["fraud_coverage"])
        else:
            assert math.isclose(row["fraud_coverage"], fraud["covered"] / fraud["n"])


def rate(successes: int, n: int) -> dict:
    from fraudcal.coverage import wilson_interval

    low, high = wilson_interval(successes, n)
    return {"n": n, "successes": successes, "rate": successes / n if n else math.nan, "low": low, "high": high}


def row_of(method: str, fraud: tuple[int, int], legitimate: tuple[int, int], tickets=(0, 0), clears=(0, 0)) -> dict:
    with_sets = method != "venn_abers"
    return {
        "label": method,
        "method": method,
        "level": 90,
        "fraud": {"coverage": rate(*fraud)} if with_sets else None,
        "legitimate": {"coverage": rate(*legitimate)} if with_sets else None,
        "ticket_precision": rate(*tickets),
        "npv": rate(*clears),
    }


def test_residual_promises_coverage_of_both_classes_together_not_per_class():
    # 3 of 100 frauds, 940 of 1000 legitimate: 943 / 1100 = 85.7 %, below 90 % beyond the interval
    broken = guarantee(row_of("residual", (3, 100), (940, 1000)))
    assert broken["holds"] is False and "coverage of all labeled predictions 85.7 %" in broken["broken"][0]
    # 3 of 100 frauds but 997 of 1000 legitimate: 90.9 % overall, the promise holds while frauds are missed
    assert guarantee(row_of("residual", (3, 100), (997, 1000)))["holds"] is True


def test_mondrian_promises_each_class():
    result = guarantee(row_of("mondrian", (70, 100), (990, 1000)))
    assert result["holds"] is False and result["broken"] == [
        "coverage of confirmed frauds 70.0 % (95 % CI 60.4 % to 78.1 %; 70 of 100), below 90 %"
    ]
    assert guarantee(row_of("mondrian_aci", (85, 100), (900, 1000)))["holds"] is True  # 85/100: CI reaches 90 %


def test_venn_abers_promises_its_certified_targets_and_nothing_when_it_automated_nothing():
    result = guarantee(row_of("venn_abers", (0, 0), (0, 0), tickets=(80, 100), clears=(999, 1000)))
    assert result["holds"] is False and result["broken"][0].startswith("auto-ticket precision 80.0 %")
    nothing = guarantee(row_of("venn_abers", (0, 0), (0, 0)))
    assert nothing["holds"] is None and "automated nothing" in nothing["untested"]


def test_no_labeled_prediction_tests_no_promise():
    result = guarantee(row_of("mondrian", (0, 0), (0, 0)))
    assert (result["measured"], result["holds"], result["broken"]) == (False, None, [])


def test_the_first_sentence_puts_the_method_that_met_coverage_most_often_first(replayed):
    rows = verdict(replayed, 90)
    sentence = comparison_sentence(rows)
    ranked = sorted(
        (row for row in rows if row["fraud"] is not None),
        key=lambda row: (-row["fraud"]["days_met"] / row["fraud"]["days_measured"], row["review_share"]),
    )
    assert sentence.startswith(f"{ranked[0]['label']} met fraud-class coverage (90 %) on ")
    for row in ranked[1:]:
        assert (
            f"{row['label']} met it on {row['fraud']['days_met']} of {row['fraud']['days_measured']} days" in sentence
        )
    assert sentence.endswith("gives no label sets (review load " + f"{100 * rows[-1]['review_share']:.1f} %).")


def test_the_first_sentence_when_no_fraud_was_labeled():
    rows = [
        {"label": "Mondrian", "method": "mondrian", "level": 90, "review_share": 0.1,
         "fraud": {"days_measured": 0, "days_met": 0}},
        {"label": "Residual", "method": "residual", "level": 90, "review_share": 0.05,
         "fraud": {"days_measured": 5, "days_met": 1}},
    ]  # fmt: skip
    assert comparison_sentence(rows) == (
        "Residual met fraud-class coverage (90 %) on 1 of 5 days at a review load of 5.0 %; "
        "Mondrian had no day with a labeled fraud to judge."
    )
    assert comparison_sentence([]) == "No method was replayed."


def test_a_config_name_other_than_its_method_is_named(replayed):
    frame = generate(ScenarioConfig(days=12, rows_per_day=200, seed=1))
    rows = verdict(replay(frame, days=[10, 11], configs=[MethodConfig("static", "mondrian")], window_days=7))
    assert comparison_sentence(rows).startswith("Mondrian (static) met fraud-class coverage")
