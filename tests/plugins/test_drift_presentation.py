"""What the drift mail shows: reference bands over the reference days only, clipped to what a
metric can be, and the coverage level asked for in its table."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from fraudcal.drift import DriftThresholds
from fraudcal_airflow.reporting import drift as presentation

JUDGED = date(2025, 2, 10)


def _days(values_by_offset: dict[int, dict]) -> list[dict]:
    """Stored daily rows, oldest first: offset -1 is the day before the judged day."""
    return [
        {"day": JUDGED + timedelta(days=offset), "labeled": 5_000, "frauds": 100, **values}
        for offset, values in sorted(values_by_offset.items())
    ]


def test_the_psi_band_is_the_reference_days_only_and_never_below_zero():
    # 28 reference days alternating 0.01 / 0.03; the judged day (and a later re-run's day) drifted.
    rows = _days({offset: {"psi": 0.01 if offset % 2 else 0.03} for offset in range(-28, 0)} | {0: {"psi": 0.9}, 1: {"psi": 0.8}})
    band = presentation.reference_band(rows, "psi", JUDGED, reference_days=28, sigmas=3)
    spread = 0.01 * math.sqrt(28 / 27)  # sample sd of 14 x 0.01 and 14 x 0.03 around 0.02
    assert band.low == 0.0 and band.clipped_low  # 0.02 - 3 sd would be -0.0105: PSI cannot
    assert band.high == pytest.approx(0.02 + 3 * spread)
    assert (band.first_day, band.last_day, band.days) == (JUDGED - timedelta(days=28), JUDGED - timedelta(days=1), 28)
    label = band.label(3, "reference PSI")
    assert "28 reference days 01-13\u201302-09" in label and "clipped at 0" in label


def test_the_pr_auc_band_is_over_the_days_before_the_trailing_week():
    # Reference days at 0.80 +- 0.02; the trailing week being judged (judged day and 6 before) fell to 0.3.
    rows = _days(
        {offset: {"pr_auc": 0.78 if offset % 2 else 0.82} for offset in range(-34, -6)}
        | {offset: {"pr_auc": 0.3} for offset in range(-6, 1)}
    )
    band = presentation.reference_band(rows, "pr_auc_7d", JUDGED, reference_days=28, sigmas=3)
    assert band.last_day == JUDGED - timedelta(days=7) and band.days == 28
    assert band.low == pytest.approx(0.8 - 3 * 0.02 * math.sqrt(28 / 27))  # no block day pulls it down
    result = {"model_version": "v1", "day": JUDGED.isoformat()}
    alert = {"rule": "PR-AUC", "metric": "pr_auc_7d", "value": 0.3, "threshold": 0.72}
    data = presentation.alert_chart_data(rows, result, alert, reference_days=28, sigmas=3)
    # The trailing week's PR-AUC is not a stored column: the chart draws the daily PR-AUC (before, nothing).
    assert all(math.isfinite(value) for _, value in data["series"]) and len(data["series"]) == 35
    assert data["judged"] == (JUDGED, 0.3) and data["threshold"] == 0.72


def test_the_fraud_rate_band_leaves_out_days_without_enough_labels_as_the_rule_does():
    rows = _days({offset: {"fraud_rate": 0.02 if offset % 2 else 0.022} for offset in range(-28, 0)})
    rows[0].update(labeled=50, frauds=1, fraud_rate=0.5)  # too few labels: the band rule ignores it
    band = presentation.reference_band(rows, "fraud_rate", JUDGED, reference_days=28, sigmas=3)
    assert band.days == 27 and band.high < 0.03 and not band.clipped_low


def test_no_band_from_fewer_than_seven_reference_days():
    rows = _days({offset: {"psi": 0.02} for offset in range(-6, 0)})
    assert presentation.reference_band(rows, "psi", JUDGED, reference_days=28, sigmas=3) is None


def test_a_digest_at_95_shows_95_percent_figures(smtp_sink):
    from fraudcal_airflow.steps.drift_report import DriftRequest, notify

    request = DriftRequest(
        model_type="fraud_detector", model_versions=("v1",), source="fraud_log", reference_days=28,
        thresholds=DriftThresholds(coverage_level=95), recipients=("lead@example.com",), send_digest=True,
    )
    metrics = {
        "predictions": 1_000, "labeled": 900, "fraud_rate": 0.02, "pr_auc": 0.7, "pr_auc_7d": 0.71,
        "pr_auc_baseline": 0.72, "roc_auc": 0.9, "brier": 0.02, "ece": 0.004, "mean_probability": 0.03,
        "psi": 0.01, "ks": 0.02, "coverage_90": 0.9011, "coverage_95": 0.9522, "coverage_99": 0.9933,
        "coverage_fraud_90": 0.1011, "coverage_fraud_95": 0.2522, "coverage_fraud_99": 0.3933, "mean_width_90": 0.12,
    }
    results = [{"model_version": "v1", "day": JUDGED.isoformat(), "metrics": metrics, "alerts": [], "notes": []}]
    assert notify(request, results, "http://localhost:8080/run").startswith("[OK] ")
    html = smtp_sink.messages[0].get_body(preferencelist=("html",)).get_content()
    assert "coverage of the 95 % intervals" in html and "0.9522" in html and "0.2522" in html
    assert "0.9011" not in html and "0.1011" not in html and "0.9933" not in html


def _certificate_alert():
    """A violated week: 8 of 10 auto-tickets frauds on the judged day, 30 of 40 the day before, none before that."""
    import numpy as np

    from fraudcal.coverage import ticket_precision_block
    from fraudcal.drift import certificate_alert

    as_of = np.datetime64("2025-01-01", "us")
    certificates = [{"as_of": as_of, "confidence": 0.9, "ticket": {"certified": True, "threshold": 0.8, "target": 0.95},
                     "clear": {"certified": False, "threshold": None, "target": 0.99}}]
    when = np.array(["2025-02-09T08"] * 40 + ["2025-02-10T08"] * 10, dtype="datetime64[us]")
    labels = [1] * 30 + [0] * 10 + [1] * 8 + [0] * 2
    days = np.arange(np.datetime64("2025-02-04"), np.datetime64("2025-02-11"))
    return certificate_alert(ticket_precision_block(when, [0.9] * 50, labels, certificates, days))


def test_the_certificate_alert_chart_draws_each_days_precision_with_its_wilson_interval():
    from fraudcal.coverage import wilson_interval

    alert = _certificate_alert()
    data = presentation.certificate_chart_data(alert)
    assert data["days"] == [date(2025, 2, 9), date(2025, 2, 10)]  # days without an auto-ticket are left out
    assert data["rates"] == [30 / 40, 8 / 10]
    assert (data["lows"][0], data["highs"][0]) == wilson_interval(30, 40)
    assert data["value"] == 38 / 50 and data["target"] == 0.95
    assert presentation.draw_certificate_chart("v1", alert).startswith(b"\x89PNG")


def test_the_alert_mail_says_the_certificate_numbers(db_url, smtp_sink):  # db_url: the schema, for the charts
    from fraudcal_airflow.steps.drift_report import DriftRequest, notify

    alert = _certificate_alert()
    request = DriftRequest(
        model_type="fraud_detector", model_versions=("v1",), source="fraud_log", reference_days=28,
        thresholds=DriftThresholds(), recipients=("lead@example.com",), send_digest=False,
    )
    results = [{"model_version": "v1", "day": JUDGED.isoformat(), "metrics": {}, "alerts": [alert], "notes": []}]
    subject = notify(request, results, "http://localhost:8080/run")
    assert subject == "[ALERT] fraud_detector v1 (certificate violated) on 2025-02-10: retraining requested"
    message = smtp_sink.messages[0]
    html = message.get_body(preferencelist=("html",)).get_content()
    assert alert["message"].startswith("50 auto-tickets on 2025-02-04..2025-02-10 (score \u2265 0.800), 38 of them frauds")
    assert alert["message"] in html
    cids = {part["Content-ID"].strip("<>") for part in message.walk() if part["Content-ID"]}
    assert cids == {presentation.alert_chart_name("v1", "ticket_precision_7d")}
