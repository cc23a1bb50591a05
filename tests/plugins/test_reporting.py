"""The coverage report's presentation: one version's failure never costs the others their report."""

from __future__ import annotations

import numpy as np

from fraudcal.defaults import SUPPORTED_LEVELS
from fraudcal_airflow.reporting import coverage as report


def _rows(n: int, seed: int, labels=None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    rows = {
        "id": np.arange(n),
        "predicted_at": np.datetime64("2025-02-01T00:00:00", "us") + np.arange(n) * np.timedelta64(60, "s"),
        "probability": p,
        "label": (rng.random(n) < p) if labels is None else np.asarray(labels),
        "high_risk": p > 0.8,
    }
    rows.update({f"q{level}": np.full(n, 0.3) for level in SUPPORTED_LEVELS})
    return rows


def test_a_version_that_cannot_be_measured_is_reported_and_the_others_go_out():
    bad = _rows(4, 1, labels=np.array([0.0, 2.0, 1.0, 0.0]))  # a label of 2 breaks the core's contract
    figures = report.build_figures(
        {"good": _rows(500, 0), "bad": bad}, ages={"good": 5.0, "bad": 5.0}, level=90, narrow_threshold=0.2,
        stale_after_hours=36,
    )
    by_name = {version["model_version"]: version for version in figures["versions"]}
    assert by_name["good"]["n"] == 500 and "coverage" in by_name["good"]
    assert by_name["bad"]["status"] == "red" and "label" in by_name["bad"]["error"]
    assert figures["status"] == "red"
    assert any(finding.startswith("bad: could not be measured") for finding in figures["findings"])
    charts = report.render_charts(figures)
    assert set(charts) == set(report.chart_names("good").values())
    html = report.render_html(
        figures,
        {
            "subject": "s",
            "model_type": "m",
            "date_from": "2025-02-01",
            "date_to": "2025-02-01",
            "dag_id": "d",
            "run_id": "r",
            "run_url": "http://x",
            "chart_files": sorted(charts),
        },
    )
    assert "Could not be measured" in html
    for name in report.chart_names("bad").values():
        assert f"cid:{name}" not in html
    for name in charts:
        assert f"cid:{name}" in html


def test_a_version_with_labels_but_no_set_yet_renders():
    # Found by probing: a newly deployed version with labels and no calibration set failed the
    # whole report with UndefinedError 'newest_set_age_hours'.
    rows = _rows(50, 2)
    rows.update({f"q{level}": np.full(50, np.nan) for level in SUPPORTED_LEVELS})
    figures = report.build_figures(
        {"new": rows, "old": _rows(300, 3)}, ages={"old": 2.0}, level=90, narrow_threshold=0.2, stale_after_hours=36
    )
    new = next(version for version in figures["versions"] if version["model_version"] == "new")
    assert new["n"] == 0 and new["newest_set_age_hours"] is None and new["set_stale"] and new["status"] == "red"
    assert any("new: stale calibration (no calibration set" in finding for finding in figures["findings"])
    context = {
        "subject": "s", "model_type": "m", "date_from": "d", "date_to": "d", "dag_id": "d", "run_id": "r",
        "run_url": "u",
    }
    html = report.render_html(figures, context)
    assert "newest set missing" in html
