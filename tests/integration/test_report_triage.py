"""The reports watch the certified triage: real PostgreSQL, a real SMTP server, labels we control.

A small prediction log of five versions over 2025-01-20..2025-02-16, each score's label drawn
from a law the test chooses, and triage rows recorded with ``db.triage.record_certificate`` in
every status (only ``in_force`` and ``approved`` rows are in force; a pending or rejected row
must change nothing):

- v1: a certificate that holds, whose thresholds change inside the report period (an approved
  row, then a pending and a rejected one that must be ignored, then a row that certifies no
  auto-ticket threshold);
- v2: no triage row at all (runs before the feature);
- v3: a certificate that the labels violate (the auto-tickets are frauds half of the time);
- v4: exactly one labeled score at or above the threshold; v5: none;
- v6: rows in force that certify no auto-ticket threshold.

Every figure is checked against a plain Python loop over the rows read back from the database,
the thresholds in force found by a loop over the recorded rows, and the Wilson interval written
out from its formula.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import psycopg2
import pytest

from fraudcal.calibration_set import compute_calibration_set
from fraudcal.drift import DriftThresholds
from fraudcal.synthetic import risk_levels
from fraudcal.triage import ThresholdCertificate
from fraudcal_airflow.db.calibration_sets import record_calibration_set
from fraudcal_airflow.db.migrations import apply_migrations
from fraudcal_airflow.db.triage import record_certificate
from fraudcal_airflow.steps.drift_report import monitor_day
from fraudcal_dev.dagtest import run_dag, task_states, xcom_values
from fraudcal_dev.synthetic_load import load_prediction_log, truncate_prediction_logs

START = datetime(2025, 1, 20, tzinfo=UTC)
DAYS = 28  # 2025-01-20 .. 2025-02-16
PERIOD = {"date_from": "2025-02-10", "date_to": "2025-02-16"}
PERIOD_START, PERIOD_END = datetime(2025, 2, 10, tzinfo=UTC), datetime(2025, 2, 17, tzinfo=UTC)
VERSIONS = ("v1", "v2", "v3", "v4", "v5", "v6")
Z = 1.959963984540054  # the normal quantile of a two-sided 95 % interval


def wilson(k: int, n: int) -> tuple[float, float]:
    """The 95 % Wilson score interval, written out from its formula (Wilson 1927)."""
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


# ----------------------------------------------------------------------------- the history


def fraud_chance(version: str, p: np.ndarray) -> np.ndarray:
    """The chance each score is a fraud: v3's high scores are frauds half of the time."""
    high = 0.5 if version == "v3" else 0.99
    return np.where(p >= 0.8, high, np.where(p <= 0.05, 0.002, 0.4 * p))


def version_log(version: str, rng: np.random.Generator) -> pd.DataFrame:
    per_day = 200
    frames = []
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        seconds = np.sort(rng.integers(0, 86_400, per_day))
        p = rng.random(per_day) * (0.7 if version in ("v4", "v5") else 1.0)
        if offset == 22:  # 2025-02-11, a prediction exactly at midnight
            seconds[0] = 0
        frames.append(pd.DataFrame({"predicted_at": [day + timedelta(seconds=int(s)) for s in seconds], "p": p}))
    frame = pd.concat(frames, ignore_index=True)
    if version == "v4":  # one labeled score above v4's threshold in the period, and one unlabeled
        frame.loc[len(frame)] = [datetime(2025, 2, 12, 9, tzinfo=UTC), 0.95]
        frame.loc[len(frame)] = [datetime(2025, 2, 13, 9, tzinfo=UTC), 0.97]
    fraud = rng.random(len(frame)) < fraud_chance(version, frame["p"].to_numpy())
    labeled = rng.random(len(frame)) >= 0.1  # about one in ten still waits for an investigator
    if version == "v4":
        fraud[-2], labeled[-2], labeled[-1] = True, True, False
    return pd.DataFrame(
        {
            "person_id": rng.integers(1, 1_000, len(frame)),
            "site_id": rng.integers(1, 20, len(frame)),
            "model_type": "fraud_detector",
            "model_version": version,
            "predicted_at": frame["predicted_at"],
            "fraud_probability": frame["p"].astype(float),
            "risk_level": risk_levels(frame["p"].to_numpy()),
            "actual_fraud_detected": pd.array(fraud, dtype="boolean"),
        }
    ).assign(actual_fraud_detected=lambda f: f["actual_fraud_detected"].where(labeled))


def side(name: str, threshold: float | None, target: float, reason: str = "certified") -> dict:
    """One side's certificate as calibrate_fraud_model records it (ThresholdCertificate.to_dict())."""
    certified = threshold is not None
    return ThresholdCertificate(
        name, certified, threshold, target, 0.9, target + 0.001 if certified else None,
        500 if certified else 0, 499 if certified else 0, 5_000, 7, reason,
    ).to_dict()


#: Per version: (as_of, status, ticket threshold or None, clear threshold or None).
TRIAGE_ROWS = {
    "v1": [
        (datetime(2025, 2, 1, tzinfo=UTC), "in_force", 0.95, 0.05),  # in force before the period only
        (datetime(2025, 2, 8, tzinfo=UTC), "in_force", 0.90, 0.05),
        (datetime(2025, 2, 12, tzinfo=UTC), "approved", 0.85, 0.04),
        (datetime(2025, 2, 13, 12, tzinfo=UTC), "pending_approval", 0.50, 0.30),  # never in force
        (datetime(2025, 2, 14, tzinfo=UTC), "rejected", 0.40, 0.35),  # never in force
        (datetime(2025, 2, 15, tzinfo=UTC), "in_force", None, 0.03),
    ],
    "v3": [(datetime(2025, 2, 5, tzinfo=UTC), "in_force", 0.80, 0.02)],
    "v4": [(datetime(2025, 2, 9, tzinfo=UTC), "in_force", 0.90, None)],
    "v5": [(datetime(2025, 2, 9, tzinfo=UTC), "in_force", 0.90, None)],
    "v6": [(datetime(2025, 2, 9, tzinfo=UTC), "in_force", None, 0.03)],
}
NO_TICKET = "no candidate threshold reached the target precision on the window"
NO_CLEAR = "the window holds too few legitimate cases to certify an NPV of 99.9 %"


def record_triage(conn: psycopg.Connection) -> None:
    for version, rows in TRIAGE_ROWS.items():
        for as_of, status, ticket, clear in rows:
            record_certificate(
                conn,
                {
                    "model_type": "fraud_detector", "model_version": version, "as_of": as_of,
                    "window_start": as_of - timedelta(days=30), "source": "fraud_log", "n": 5_000,
                    "confidence": 0.9,
                    "ticket": side("ticket", ticket, 0.95, "certified" if ticket else NO_TICKET),
                    "clear": side("clear", clear, 0.99, "certified" if clear else NO_CLEAR),
                    "ticket_threshold": ticket, "clear_threshold": clear, "ticket_share": 0.1,
                    "clear_share": 0.05, "in_force_ticket_share": None, "in_force_clear_share": None,
                    "jump_factor": 2.0, "status": status, "reason": f"test row ({status})",
                    "dag_id": "test", "run_id": f"triage-{version}-{as_of:%m%d%H}",
                },
            )


@pytest.fixture(scope="module")
def history(db_url):
    rng = np.random.default_rng(2025)
    log = pd.concat([version_log(version, rng) for version in VERSIONS], ignore_index=True)
    with psycopg.connect(db_url) as conn:
        apply_migrations(conn)
        truncate_prediction_logs(conn)
        load_prediction_log(conn, log)
        conn.execute("TRUNCATE fraudcal.calibration_sets, fraudcal.triage_certificates RESTART IDENTITY")
        conn.execute("DELETE FROM fraudcal.model_health_daily")
        conn.commit()
        as_of = datetime(2025, 2, 9, tzinfo=UTC)  # one residual set in force for the whole period
        labeled = log.dropna(subset=["actual_fraud_detected"])
        for version in VERSIONS:
            window = labeled[(labeled["model_version"] == version) & (labeled["predicted_at"] < as_of)]
            record_calibration_set(
                conn,
                compute_calibration_set(
                    window["fraud_probability"].to_numpy(), window["actual_fraud_detected"].astype(int).to_numpy(),
                    model_type="fraud_detector", model_version=version, window_start=START, window_end=as_of,
                ),
                dag_id="test", run_id="set",
            )
        record_triage(conn)
    yield log
    with psycopg.connect(db_url, autocommit=True) as conn:  # leave no triage row to the other modules
        conn.execute("TRUNCATE fraudcal.calibration_sets, fraudcal.triage_certificates RESTART IDENTITY")


# ----------------------------------------------------------------------------- the independent count


def labeled_rows(db_url: str, version: str, start: datetime, end: datetime) -> list[tuple[datetime, float, bool]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT predicted_at, fraud_probability, actual_fraud_detected FROM noc_fraud_prediction_log "
            "WHERE model_version = %s AND predicted_at >= %s AND predicted_at < %s "
            "AND actual_fraud_detected IS NOT NULL ORDER BY predicted_at",
            (version, start, end),
        ).fetchall()


def in_force(version: str, when: datetime):
    """The (ticket, clear) thresholds in force at ``when``: the newest in_force/approved row with as_of <= when."""
    chosen = None
    for as_of, status, ticket, clear in TRIAGE_ROWS.get(version, []):
        if status in ("in_force", "approved") and as_of <= when and (chosen is None or as_of > chosen[0]):
            chosen = (as_of, ticket, clear)
    return None if chosen is None else chosen[1:]


def plain_count(db_url: str, version: str, start: datetime = PERIOD_START, end: datetime = PERIOD_END) -> dict:
    """Per day and in all: tickets, frauds among them, cleared, legitimate among them, reviews, rows without thresholds."""
    counts: dict[str, dict[str, int]] = {}
    for predicted_at, p, fraud in labeled_rows(db_url, version, start, end):
        for key in (predicted_at.astimezone(UTC).date().isoformat(), "all"):
            day = counts.setdefault(
                key, {"n": 0, "tickets": 0, "frauds": 0, "cleared": 0, "legitimate": 0, "review": 0, "none": 0}
            )
            day["n"] += 1
            thresholds = in_force(version, predicted_at)
            if thresholds is None:
                day["none"] += 1
                continue
            ticket, clear = thresholds
            tickets = ticket is not None and p >= ticket and not (clear is not None and p <= clear)
            cleared = clear is not None and p <= clear and not (ticket is not None and p >= ticket)
            if tickets:
                day["tickets"] += 1
                day["frauds"] += fraud
            elif cleared:
                day["cleared"] += 1
                day["legitimate"] += not fraud
            else:
                day["review"] += 1
    return counts


def interval_words(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k / n * 100:.1f} % (95 % CI {low * 100:.1f}\u2013{high * 100:.1f} %)"


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def text_of(html: str) -> str:
    """What a reader reads: tags stripped, entities decoded, spaces collapsed."""
    import html as html_module

    return re.sub(r"\s+", " ", html_module.unescape(re.sub(r"<[^>]+>", " ", html))).replace("\xa0", " ")


def first_screen(html: str) -> str:
    """What a reader reads before the first version's section."""
    return text_of(html).split(" fraud_detector / v1 ")[0]


# ----------------------------------------------------------------------------- the coverage report


@pytest.fixture(scope="module")
def coverage_run(history, db_url, airflow_db):
    """One report_coverage run over the five versions, with the mail it sent."""
    from aiosmtpd.controller import Controller

    from fraudcal_dev.services import free_port
    from tests.integration.smtp_sink import Sink, smtp_connection

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(controller.port))
        dag_run = run_dag(
            "report_coverage", "2025-02-17", {**PERIOD, "model_versions": list(VERSIONS), "default_method": "residual"},
            retries=0,
        )
    controller.stop()
    assert dag_run.state == "success", task_states(dag_run)
    assert len(sink.messages) == 1
    with psycopg.connect(db_url) as conn:
        status, figures = conn.execute(
            "SELECT status, figures FROM fraudcal.report_runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return {"message": sink.messages[0], "status": status, "figures": figures}


def _version(figures: dict, name: str) -> dict:
    return next(version for version in figures["versions"] if version["model_version"] == name)


def test_each_days_figures_equal_a_plain_count_under_the_thresholds_in_force(coverage_run, db_url):
    for name in ("v1", "v3", "v4", "v5", "v6"):
        triage = _version(coverage_run["figures"], name)["triage"]
        expected = plain_count(db_url, name)
        assert [row["day"] for row in triage["by_day"]] == [f"2025-02-{day}" for day in range(10, 17)]
        for row in [*triage["by_day"], {**triage, "day": "all"}]:
            day = expected.get(row["day"], dict.fromkeys(("n", "tickets", "frauds", "cleared", "legitimate", "review", "none"), 0))
            assert (row["n"], row["without_certificate"]) == (day["n"], day["none"]), (name, row["day"])
            assert (row["ticket"]["n"], row["ticket"]["correct"]) == (day["tickets"], day["frauds"]), (name, row["day"])
            assert (row["clear"]["n"], row["clear"]["correct"]) == (day["cleared"], day["legitimate"]), (name, row["day"])
            assert row["review"]["n"] == day["review"], (name, row["day"])
            with_thresholds = day["n"] - day["none"]
            if with_thresholds:
                assert row["review"]["share"] == pytest.approx(day["review"] / with_thresholds, abs=1e-12)
            for figure, (k, n) in ((row["ticket"], (day["frauds"], day["tickets"])), (row["clear"], (day["legitimate"], day["cleared"]))):
                if n:
                    assert figure["rate"] == pytest.approx(k / n, abs=1e-12)
                    assert (figure["wilson_low"], figure["wilson_high"]) == pytest.approx(wilson(k, n), abs=1e-12)
                else:
                    assert figure["rate"] is None
    # The pending row of 2025-02-13 12:00 (0.50) and the rejected one of 2025-02-14 (0.40) never judged anything.
    v1 = _version(coverage_run["figures"], "v1")["triage"]
    assert v1["ticket"]["thresholds"] == [0.85, 0.9]
    assert [row["as_of"] for row in v1["certificates"]] == [
        "2025-02-08T00:00:00", "2025-02-12T00:00:00", "2025-02-15T00:00:00"
    ]
    assert v1["by_day"][3]["day"] == "2025-02-13" and v1["by_day"][3]["certificates"] == [1]


def test_the_first_screen_says_the_auto_tickets_for_many_one_and_none(coverage_run, db_url):
    html = html_of(coverage_run["message"])
    screen = first_screen(html)
    v1 = plain_count(db_url, "v1")["all"]
    assert v1["tickets"] > 50  # many
    expected = (
        f"v1: {v1['tickets']:,} auto-tickets at a certified precision of \u2265 95 % (90 % confidence); "
        f"realized {interval_words(v1['frauds'], v1['tickets'])}; "
    )
    assert expected in screen
    # From 2025-02-15 on no auto-ticket threshold was certified: said, with the reason.
    later = sum(day["n"] for key, day in plain_count(db_url, "v1").items() if key in ("2025-02-15", "2025-02-16"))
    assert f"{later:,} more labeled predictions had no certified auto-ticket threshold in force ({NO_TICKET})" in screen
    v4 = plain_count(db_url, "v4")["all"]
    assert (v4["tickets"], v4["frauds"]) == (1, 1)
    assert (
        f"v4: 1 auto-ticket at a certified precision of \u2265 95 % (90 % confidence); realized {interval_words(1, 1)}"
        in screen
    )
    assert plain_count(db_url, "v5")["all"]["tickets"] == 0
    assert (
        "v5: 0 auto-tickets at a certified precision of \u2265 95 % (90 % confidence); no labeled score reached the "
        "threshold (score \u2265 0.900), so the realized precision cannot be measured" in screen
    )
    assert f"v4: no auto-clear threshold certified: nothing was auto-cleared ({NO_CLEAR})" in screen
    assert "v2: no certified thresholds recorded" in screen
    cleared = v1["cleared"]
    assert (
        f"v1: {cleared:,} auto-cleared at a certified NPV of \u2265 99 % (90 % confidence); "
        f"realized {interval_words(v1['legitimate'], cleared)}" in screen
    )
    with_thresholds = v1["n"] - v1["none"]
    assert (
        f"v1: {v1['review']:,} of the {with_thresholds:,} labeled predictions judged by certified thresholds went to "
        f"human review ({v1['review'] / with_thresholds * 100:.1f} %)" in screen
    )


def test_a_violated_certificate_is_red_and_a_met_one_is_not(coverage_run, db_url):
    html = html_of(coverage_run["message"])
    v3 = plain_count(db_url, "v3")["all"]
    assert wilson(v3["frauds"], v3["tickets"])[1] < 0.95  # the labels break the promise beyond the interval
    sentence = (
        f"v3: {v3['tickets']:,} auto-tickets at a certified precision of \u2265 95 % (90 % confidence); realized "
        f"{interval_words(v3['frauds'], v3['tickets'])}: certificate violated"
    )
    red = [item for item in re.findall(r"<li([^>]*)>([^<]*)</li>", html) if item[1].startswith(("v1: ", "v3: "))]
    assert any(text.startswith(sentence) and "color:#b3261e" in style for style, text in red), red
    v1 = plain_count(db_url, "v1")["all"]
    assert wilson(v1["frauds"], v1["tickets"])[1] >= 0.95
    assert all("color" not in style for style, text in red if text.startswith("v1: ")), red
    # The violation decides the status and leads the subject; v1's kept certificate is no finding.
    subject = coverage_run["message"]["Subject"]
    assert subject.startswith(
        f"[RED] fraud_detector v1,v2,v3,v4,v5,v6 2025-02-10..2025-02-16: v3: auto-ticket precision "
        f"{v3['frauds'] / v3['tickets'] * 100:.1f} % below the certified 95 % (certificate violated)"
    )
    figures = coverage_run["figures"]
    assert _version(figures, "v3")["status"] == "red" and _version(figures, "v3")["triage"]["violated"]
    assert not _version(figures, "v1")["triage"]["violated"]
    assert not any(finding.startswith("v1: ") and "certificate" in finding for finding in figures["findings"])


def test_no_certified_auto_ticket_threshold_is_said_in_red(coverage_run, db_url):
    html = html_of(coverage_run["message"])
    sentence = f"v6: no auto-ticket threshold certified: every HIGH/CRITICAL score went to human review ({NO_TICKET})"
    items = dict((text, style) for style, text in re.findall(r"<li([^>]*)>([^<]*)</li>", html))
    assert sentence in items and "color:#b3261e" in items[sentence]
    v6 = plain_count(db_url, "v6")["all"]
    triage = _version(coverage_run["figures"], "v6")["triage"]
    assert v6["tickets"] == triage["ticket"]["n"] == 0 and triage["clear"]["n"] == v6["cleared"] > 0
    # Nothing was promised, so nothing is violated: the status does not turn red for it.
    assert not triage["violated"]
    assert not any(finding.startswith("v6: ") for finding in coverage_run["figures"]["findings"] if "certif" in finding)


def test_a_version_without_triage_rows_still_gets_its_report(coverage_run):
    v2 = _version(coverage_run["figures"], "v2")
    assert v2["triage"]["recorded"] is False and v2["n"] > 0 and "coverage" in v2
    assert "certified_replay" not in v2
    html = html_of(coverage_run["message"])
    assert "fraud_detector / v2" in html


def test_the_replay_table_marks_the_certified_rule_with_its_own_counts(coverage_run, db_url):
    html = html_of(coverage_run["message"])
    replay = _version(coverage_run["figures"], "v1")["certified_replay"]
    counts = plain_count(db_url, "v1")["all"]
    high = sum(p >= 0.5 for _, p, _ in labeled_rows(db_url, "v1", PERIOD_START, PERIOD_END))
    frauds = sum(fraud for _, _, fraud in labeled_rows(db_url, "v1", PERIOD_START, PERIOD_END))
    assert replay["auto_tickets"] == counts["tickets"]
    assert replay["legitimate_auto_tickets"] == counts["tickets"] - counts["frauds"]
    assert replay["missed_frauds"] == frauds - counts["frauds"]
    assert replay["automation_rate"] == pytest.approx(counts["tickets"] / high, abs=1e-12)
    later = sum(day["n"] for key, day in plain_count(db_url, "v1").items() if key in ("2025-02-15", "2025-02-16"))
    assert replay["without_threshold"] == later > 0
    assert (
        f"\u25b6 certified: score \u2265 0.850 or score \u2265 0.900 (in force) ({later:,} predictions without a "
        f"certified threshold) {counts['tickets']:,} " in text_of(html)
    )


def test_the_csv_carries_the_triage_per_day(coverage_run, db_url):
    import csv
    import io

    attachment = next(
        part for part in coverage_run["message"].iter_attachments() if part.get_content_type() == "text/csv"
    )
    table = list(csv.DictReader(io.StringIO(attachment.get_content())))
    expected = plain_count(db_url, "v3")
    for day in [f"2025-02-{value}" for value in range(10, 17)]:
        values = {r["column"]: r["value"] for r in table if r["table"] == "triage" and r["model_version"] == "v3" and r["row"] == day}
        assert (int(values["ticket_n"]), int(values["ticket_correct"])) == (expected[day]["tickets"], expected[day]["frauds"])


# ----------------------------------------------------------------------------- the drift rule


def _monitor(db_url: str, version: str, day: date) -> dict:
    with psycopg.connect(db_url) as conn:
        copy_conn = psycopg2.connect(db_url)
        try:
            return monitor_day(
                conn, copy_conn, model_type="fraud_detector", version=version, day=day, reference_days=7,
                thresholds=DriftThresholds(), run_id="test",
            )
        finally:
            copy_conn.close()


def test_the_drift_rule_fires_on_a_violated_certificate_with_its_numbers(history, db_url):
    result = _monitor(db_url, "v3", date(2025, 2, 16))
    alerts = [alert for alert in result["alerts"] if alert["rule"] == "certificate violated"]
    assert len(alerts) == 1
    week = plain_count(db_url, "v3", datetime(2025, 2, 10, tzinfo=UTC), datetime(2025, 2, 17, tzinfo=UTC))["all"]
    alert = alerts[0]
    assert (alert["tickets"], alert["frauds"]) == (week["tickets"], week["frauds"])
    assert alert["value"] == pytest.approx(week["frauds"] / week["tickets"], abs=1e-12)
    assert (alert["wilson_low"], alert["wilson_high"]) == pytest.approx(wilson(week["frauds"], week["tickets"]), abs=1e-12)
    assert alert["threshold"] == 0.95 and alert["thresholds"] == [0.8]
    assert alert["message"] == (
        f"{week['tickets']:,} auto-tickets on 2025-02-10..2025-02-16 (score \u2265 0.800), {week['frauds']:,} of them "
        f"frauds: realized precision {week['frauds'] / week['tickets'] * 100:.1f} % (95 % Wilson interval "
        f"{wilson(week['frauds'], week['tickets'])[0] * 100:.1f}\u2013{wilson(week['frauds'], week['tickets'])[1] * 100:.1f} %); "
        "certified target 95 % (90 % confidence)"
    )
    with psycopg.connect(db_url) as conn:
        (stored,) = conn.execute(
            "SELECT alerts FROM fraudcal.model_health_daily WHERE model_version = 'v3' AND day = '2025-02-16'"
        ).fetchone()
    assert [a["rule"] for a in stored if a["rule"] == "certificate violated"] == ["certificate violated"]


def test_the_drift_rule_stays_quiet_on_a_met_certificate_and_says_its_figures(history, db_url):
    result = _monitor(db_url, "v1", date(2025, 2, 16))
    assert [alert for alert in result["alerts"] if alert["rule"] == "certificate violated"] == []
    week = plain_count(db_url, "v1", datetime(2025, 2, 10, tzinfo=UTC), datetime(2025, 2, 17, tzinfo=UTC))["all"]
    assert (result["certificate"]["n"], result["certificate"]["correct"]) == (week["tickets"], week["frauds"])
    assert any(
        note.startswith(f"certificate not violated: {week['tickets']:,} auto-tickets on 2025-02-10..2025-02-16")
        for note in result["notes"]
    ), result["notes"]
    quiet = _monitor(db_url, "v2", date(2025, 2, 16))  # no triage row: nothing judged, nothing said
    assert quiet["certificate"]["recorded"] is False
    assert not any("certificate" in note for note in quiet["notes"])
    assert not any(alert["rule"] == "certificate violated" for alert in quiet["alerts"])


def test_the_drift_dag_mails_the_certificate_alert_and_requests_retraining(history, db_url, airflow_db, smtp_sink):
    dag_run = run_dag("report_drift", "2025-02-17", {"model_versions": ["v1", "v3"]}, retries=0)
    assert dag_run.state == "success", task_states(dag_run)
    results = {r["model_version"]: r for r in xcom_values(dag_run, "monitor")[0]}
    assert "certificate violated" in {a["rule"] for a in results["v3"]["alerts"]}
    assert "certificate violated" not in {a["rule"] for a in results["v1"]["alerts"]}
    message = smtp_sink.messages[0]
    assert "v3 (" in message["Subject"] and "certificate violated" in message["Subject"].split("v3 (")[1]
    html = message.get_body(preferencelist=("html",)).get_content()
    alert = next(a for a in results["v3"]["alerts"] if a["rule"] == "certificate violated")
    import html as html_module

    assert alert["message"] in html_module.unescape(html)
    cids = {part["Content-ID"].strip("<>") for part in message.walk() if part["Content-ID"]}
    assert any("ticket_precision_7d" in cid for cid in cids) and all(f"cid:{cid}" in html for cid in cids)
    extra = xcom_values(dag_run, "request_retraining")[0]
    assert "certificate violated" in extra["versions"]["v3"]["rules"]
