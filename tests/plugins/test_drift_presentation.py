"""What the drift mail shows: reference bands over the reference days only, clipped to what a
metric can be, and the coverage level asked for in its table."""

from __future__ import annotations

import math
import re
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


# ----------------------------------------------------------------------------- label maturity


def _metrics() -> dict:
    return {
        "predictions": 1_000, "labeled": 900, "frauds": 18, "fraud_rate": 0.02, "pr_auc": 0.7, "pr_auc_7d": 0.71,
        "pr_auc_baseline": 0.72, "roc_auc": 0.9, "brier": 0.02, "ece": 0.004, "mean_probability": 0.03,
        "psi": 0.41, "ks": 0.02, "coverage_90": 0.9011, "coverage_fraud_90": 0.1011, "mean_width_90": 0.12,
    }


def _arrival() -> dict:
    """The compact label-arrival entry of a snapshot whose cohorts were 40 days old at most."""
    import pandas as pd

    from fraudcal.coverage import label_arrival

    snapshot = date(2025, 2, 10)
    days = [snapshot - timedelta(days=age) for age in range(41)]
    frame = pd.DataFrame(
        {
            "prediction_day": days, "snapshot_day": snapshot, "n_predictions": 100,
            "n_labeled": [min(90, 20 + 18 * age) for age in range(41)], "n_fraud": 3,
        }
    )
    return label_arrival(frame, snapshot, max_age=presentation.ARRIVAL_MAX_AGE)


def _results(maturity: dict | None, with_arrival: bool) -> list[dict]:
    from fraudcal_airflow.reporting.render import json_ready

    results = [
        {"model_version": "v1", "day": "2025-02-10", "metrics": _metrics(),
         "alerts": [{"rule": "PSI", "metric": "psi", "value": 0.41, "threshold": 0.25}], "notes": ["a note"]},
        {"model_version": "v2", "day": "2025-02-10", "metrics": _metrics(), "alerts": [], "notes": []},
    ]
    if with_arrival:
        for result, arrival in zip(results, (json_ready(_arrival()), None), strict=True):
            result.update(label_maturity=maturity, label_arrival=arrival)
    return results


def _render(results: list[dict]) -> str:
    return presentation.render_html(
        "[ALERT] fraud_detector v1 (PSI) on 2025-02-10: retraining requested", "fraud_detector", JUDGED, results,
        {"v1-psi.png": b""}, "http://localhost:8080/run", 90, "mondrian",
    )


#: The label-arrival block of the drift mail: its row of the layout table, up to the footer's row.
ARRIVAL_BLOCK = re.compile(
    r'\n<tr><td style="padding:8px 20px;font-size:12px;">\n  <div style="font-size:13px;font-weight:bold;'
    r'margin:4px 0;">Labels by cohort age</div>.*?</td></tr>(?=\n<tr><td style="padding:16px 20px;font-size:12px;)',
    re.DOTALL,
)


def test_at_maturity_0_the_mail_is_the_mail_of_old_plus_the_label_arrival_block():
    summary = {"requested": 0, "days": 0, "reason": "label_maturity_days = 0: every labeled day counts",
               "run_day": "2025-02-10", "judged_day": "2025-02-10"}
    old = _render(_results(None, with_arrival=False))  # results as monitor returned them before label maturity
    new = _render(_results(summary, with_arrival=True))
    assert len(ARRIVAL_BLOCK.findall(new)) == 1 and ARRIVAL_BLOCK.sub("", new) == old  # nothing else changed
    assert "Label maturity" not in new  # 0 days requested: nothing to say about the judged day
    assert new.index("Labels by cohort age") > new.index("PR-AUC of the trailing 7 days")  # after the figures
    block = ARRIVAL_BLOCK.search(new).group(0)
    assert "<b>v2</b>: no label snapshots yet (calibrate_fraud_model records one per day)." in block
    # ages 0..7 one by one, then 8..40 pooled: 20 %, 38 %, ... then 90 % labeled, 3 frauds of each day's labels
    assert ">8\u201340</th>" in block and ">20.0&nbsp;%</td><td align=\"right\">38.0&nbsp;%<" in block
    assert ">15.0&nbsp;%</td>" in block  # 3 frauds among the 20 labels of age 0
    assert "label_maturity_days = auto would choose 4 days; auto: 95 % of a cohort&#39;s eventual labels" in block


def test_with_a_maturity_the_mail_says_which_day_was_judged_and_why_before_any_figure():
    summary = {"requested": "auto", "days": 3, "reason": "auto: 95 % of a cohort's eventual labels arrive within "
               "3 days (curve from 40 cohorts) [label snapshots of 5 day(s) up to 2025-02-13]",
               "run_day": "2025-02-13", "judged_day": "2025-02-10"}
    html = _render(_results(summary, with_arrival=True))
    sentence = presentation.maturity_sentence(summary)
    assert sentence.startswith("Label maturity: 3 days (auto: 95 % of a cohort's eventual labels arrive within 3 days")
    assert "The judged day is 2025-02-10, 3 days before this run's day 2025-02-13" in sentence
    assert "alerts come 3 days later, but they are not raised by labels that have not arrived yet" in sentence
    assert sentence.replace("'", "&#39;") in html
    assert html.index("Label maturity: 3 days") < html.index("<b>v1</b>:") < html.index(">on 2025-02-10</th>")


def test_the_maturity_sentence_is_left_out_only_when_0_days_were_asked_for():
    base = {"run_day": "2025-02-10", "judged_day": "2025-02-10", "reason": "why"}
    assert presentation.maturity_sentence(None) is None
    assert presentation.maturity_sentence({**base, "requested": 0, "days": 0}) is None
    assert presentation.maturity_sentence({**base, "requested": "0", "days": 0}) is None
    fallback = presentation.maturity_sentence({**base, "requested": "auto", "days": 0})  # auto that fell back
    assert fallback == (
        "Label maturity: 0 days, so the judged day is this run's day, 2025-02-10, whose labels may still be "
        "arriving (why)."
    )
    one = presentation.maturity_sentence({**base, "requested": 1, "days": 1, "judged_day": "2025-02-09"})
    assert "Label maturity: 1 day (why). The judged day is 2025-02-09, 1 day before" in one
