"""The online service's use of a payload (DESIGN.md 3.3)."""

from __future__ import annotations

import pytest

from fraudcal.online import interval_for_score

PAYLOAD = {
    "levels": {"90": {"quantile": 0.125, "k": 90}, "99": {"quantile": 0.5, "k": 99}},
    "narrow_threshold": 0.2,
    "calibration_score": 0.97,
}


def test_no_payload_means_fall_back_to_the_point_prediction():
    assert interval_for_score(None, 0.4) is None


def test_interval_dict_by_hand():
    assert interval_for_score(PAYLOAD, 0.9375) == {
        "lower_bound": 0.8125,
        "upper_bound": 1.0,
        "width": 0.1875,
        "calibration_score": 0.97,
        "coverage_level": 90,
        "quantile_value": 0.125,
        "is_narrow": True,
    }
    wide = interval_for_score(PAYLOAD, 0.5, coverage_level=99)
    assert (wide["lower_bound"], wide["upper_bound"], wide["is_narrow"]) == (0.0, 1.0, False)


@pytest.mark.parametrize("score", [-0.1, 1.5, float("nan")])
def test_score_outside_unit_interval_is_refused(score):
    with pytest.raises(ValueError, match="must be a probability"):
        interval_for_score(PAYLOAD, score)


def test_level_missing_from_payload_names_the_levels_it_has():
    with pytest.raises(ValueError, match=r"coverage_level 95 .*\['90', '99'\]"):
        interval_for_score(PAYLOAD, 0.5, coverage_level=95)


def test_a_non_integer_level_is_usable_and_listed_in_numeric_order():
    payload = {**PAYLOAD, "levels": {**PAYLOAD["levels"], "99.5": {"quantile": 0.75, "k": 300}}}
    interval = interval_for_score(payload, 0.5, coverage_level="99.5")
    assert (interval["coverage_level"], interval["quantile_value"], interval["width"]) == (99.5, 0.75, 1.0)
    assert interval_for_score(payload, 0.5, coverage_level=99)["coverage_level"] == 99
    with pytest.raises(ValueError, match=r"\['90', '99', '99.5'\]"):
        interval_for_score(payload, 0.5, coverage_level=95)
