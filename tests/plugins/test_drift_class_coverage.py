"""The drift mail shows, and charts, the default method's coverage per class (read from class_coverage)."""

from __future__ import annotations

import math
from datetime import date, timedelta

from fraudcal_airflow.reporting import drift as presentation

JUDGED = date(2025, 2, 10)


def _row(offset: int, covered: int, n: int) -> dict:
    """A stored day with Mondrian fraud counts in class_coverage (migration 0005), nothing else."""
    return {
        "day": JUDGED + timedelta(days=offset),
        "labeled": 1_000,
        "frauds": n,
        "class_coverage": {"mondrian": {"90": {"fraud": {"covered": covered, "n": n}}}},
    }


def test_the_table_names_the_default_methods_per_class_coverage():
    metrics = presentation.table_metrics(90, "mondrian")
    assert metrics[metrics.index("coverage_fraud_90") + 1 :][:2] == [
        "mondrian_coverage_fraud_90",
        "mondrian_coverage_legitimate_90",
    ]
    assert presentation.metric_label("mondrian_coverage_fraud_90") == (
        "Mondrian 90 % label sets: coverage of the confirmed frauds (the coverage rule judges it)"
    )
    assert presentation.metric_label("residual_coverage_legitimate_95").startswith("Residual 95 % intervals:")
    assert "mondrian_coverage_fraud_90" not in presentation.table_metrics(90, "venn_abers")  # no label sets


def test_a_coverage_alert_chart_draws_the_stored_class_counts():
    rows = [_row(offset, 27 + offset % 2, 30) for offset in range(-10, 0)] + [{"day": JUDGED - timedelta(days=11)}]
    alert = {"rule": "coverage", "metric": "mondrian_coverage_fraud_90", "value": 0.5, "threshold": 0.9}
    data = presentation.alert_chart_data(rows, {"model_version": "v1", "day": JUDGED.isoformat()}, alert, 28, 3)
    values = dict(data["series"])
    assert values[JUDGED - timedelta(days=1)] == 28 / 30 and values[JUDGED - timedelta(days=2)] == 27 / 30
    assert math.isnan(values[JUDGED - timedelta(days=11)])  # a day stored before the counts existed
    assert data["threshold"] == 0.9 and data["threshold_name"] == "coverage target"
    assert data["band"] is not None and data["band"].days == 10 and data["band"].high <= 1.0
    assert presentation.metric_range("mondrian_coverage_fraud_90") == (0.0, 1.0)
