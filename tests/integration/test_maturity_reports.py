"""Label maturity in the reports: ``report_drift``'s ``label_maturity_days``, and the labeled share by
cohort age in both mails. Real PostgreSQL and a real SMTP server, through ``dag.test()``.

The log is the seeded synthetic one whose labels stop at the end of the runs' day (2025-02-05): a
label arrives after an exponential delay (mean 3 days), so the youngest days lack most of theirs.
The scores shift from 2025-01-31 on (covariate shift), so a PSI alert is there to be found. Label
snapshots are inserted here, row by row, and every figure of the label-arrival tables is checked
against a count of those rows written in this file.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg
import psycopg2
import pytest

from fraudcal.drift import DriftThresholds
from fraudcal.synthetic import SyntheticConfig, generate_prediction_log
from fraudcal_dev.dagtest import load_dag, run_dag, task_states, xcom_values
from fraudcal_dev.synthetic_load import load_prediction_log, truncate_prediction_logs

START = datetime(2025, 1, 1, tzinfo=UTC)
#: as_of of the runs: data interval 2025-02-05, the run's day; the log's labels are those known at its end.
AS_OF = "2025-02-06"
RUN_DAY = date(2025, 2, 5)
CONFIG = SyntheticConfig(
    n_events=80_000,
    days=40,
    labels_as_of=START + timedelta(days=36),
    label_delay_days=3.0,
    drift_day=30,  # 2025-01-31 on
    covariate_shift=1.0,
)
COMMON = {"model_versions": ["v1", "v2"], "reference_days": 14, "recipients": ["lead@example.com"]}
#: What a version without a label snapshot says.
NO_SNAPSHOTS = "no label snapshots yet (calibrate_fraud_model records one per day)"
#: Labeled of 200 predictions by cohort age 0..29 in the auto test's snapshot: 90 % eventually labeled.
AUTO_LABELED = [54, 90, 120, 150, 174] + [180] * 25
#: "auto": the youngest age whose labeled share reaches 95 % of the eventual one (ages 5..29 hold 180/200).
AUTO_DAYS = next(age for age, labeled in enumerate(AUTO_LABELED) if labeled / 200 >= 0.95 * (180 / 200))


@pytest.fixture(scope="module")
def log(db_url):
    with psycopg.connect(db_url) as conn:
        truncate_prediction_logs(conn)
        load_prediction_log(conn, generate_prediction_log(CONFIG))
    return db_url


@pytest.fixture
def clean(pg, log, airflow_db):
    """The module's log; no sets, certificates, stored health days, snapshots or archived reports."""
    pg.execute("TRUNCATE fraudcal.model_health_daily, fraudcal.label_snapshots, fraudcal.report_runs")
    return pg


def insert_snapshots(pg, rows: list[tuple]) -> None:
    """``(model_version, prediction_day, snapshot_day, n_predictions, n_labeled, n_fraud)`` rows of fraud_detector."""
    with pg.cursor() as cur:
        cur.executemany(
            "INSERT INTO fraudcal.label_snapshots (model_type, model_version, prediction_day, snapshot_day, "
            "n_predictions, n_labeled, n_fraud, source) VALUES ('fraud_detector', %s, %s, %s, %s, %s, %s, 'fraud_log')",
            rows,
        )


def stored_days(pg) -> dict[tuple[str, date], dict]:
    cur = pg.execute("SELECT * FROM fraudcal.model_health_daily ORDER BY model_version, day")
    names = [column.name for column in cur.description]
    return {(row["model_version"], row["day"]): row for row in (dict(zip(names, values, strict=True)) for values in cur)}


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content().replace("\r\n", "\n")


def judged(results: list[dict]) -> list[dict]:
    """What the drift run judged, without the keys label maturity added (the figures of old)."""
    return [{key: value for key, value in result.items() if not key.startswith("label_")} for result in results]


def plain_by_age(rows: list[tuple], version: str, end: date, max_age: int) -> tuple[date, list[tuple]]:
    """The newest snapshot day of ``version`` at or before ``end``, and per age 0..max_age (then the
    older ages together): (cohorts, predictions, labeled, frauds), counted from the inserted rows."""
    newest = max(row[2] for row in rows if row[0] == version and row[2] <= end)
    chosen = [row for row in rows if row[0] == version and row[2] == newest]
    oldest = max((row[2] - row[1]).days for row in chosen)

    def count(ages: range) -> tuple:
        part = [row for row in chosen if (row[2] - row[1]).days in ages]
        return (len(part), *(sum(row[index] for row in part) for index in (3, 4, 5)))

    counts = [count(range(age, age + 1)) for age in range(min(oldest, max_age) + 1)]
    if oldest > max_age:
        counts.append(count(range(max_age + 1, oldest + 1)))
    return newest, counts


# ----------------------------------------------------------------------------- report_drift


def test_maturity_0_judges_the_runs_day_as_before_and_the_mail_adds_only_the_label_arrival(clean, smtp_sink):
    from fraudcal_airflow.reporting import drift as presentation
    from fraudcal_airflow.reporting.mail import run_url
    from fraudcal_airflow.steps.drift_report import monitor_day

    dag_run = run_dag("report_drift", AS_OF, {**COMMON, "send_digest": True}, retries=0)  # the Param left at 0
    assert dag_run.state == "success", task_states(dag_run)
    results = xcom_values(dag_run, "monitor")[0]
    assert {result["day"] for result in results} == {RUN_DAY.isoformat()}
    assert list(stored_days(clean)) == [("v1", RUN_DAY), ("v2", RUN_DAY)]
    # The run's own day lacks most of its labels: the rules of old say so.
    assert all(result["notes"][0].startswith("not enough labels") for result in results)
    # Figure for figure what the step of old computed for the day before as_of (monitor_day, unchanged).
    with psycopg.connect(log_url := clean.info.dsn) as conn:
        copy_conn = psycopg2.connect(log_url)
        try:
            direct = [
                monitor_day(
                    conn, copy_conn, model_type="fraud_detector", version=version, day=RUN_DAY, reference_days=14,
                    thresholds=DriftThresholds(), run_id=dag_run.run_id,
                )
                for version in ("v1", "v2")
            ]
        finally:
            copy_conn.close()
    assert judged(results) == direct
    # The mail: the mail of old (rendered from the figures alone) plus the label-arrival block, nothing else.
    message = smtp_sink.messages[0]
    html = html_of(message)
    assert "Label maturity" not in html
    cids = {part["Content-ID"].strip("<>"): b"" for part in message.walk() if part["Content-ID"]}
    old = presentation.render_html(
        message["Subject"], "fraud_detector", RUN_DAY, judged(results), cids, run_url(dag_run.dag_id, dag_run.run_id)
    )
    block = re.compile(
        r'\n<tr><td style="padding:8px 20px;font-size:12px;">\n  <div style="font-size:13px;font-weight:bold;'
        r'margin:4px 0;">Labels by cohort age</div>.*?</td></tr>(?=\n<tr><td style="padding:16px 20px;)',
        re.DOTALL,
    )
    assert len(block.findall(html)) == 1
    assert block.sub("", html).rstrip("\n") == old.rstrip("\n")
    assert f"<b>v1</b>: {NO_SNAPSHOTS}." in html and f"<b>v2</b>: {NO_SNAPSHOTS}." in html


def test_a_maturity_of_m_days_judges_the_day_m_days_back_as_a_run_of_that_day_would(clean, smtp_sink):
    m = 5
    late = run_dag("report_drift", AS_OF, {**COMMON, "label_maturity_days": m}, retries=0)
    assert late.state == "success", task_states(late)
    matured = RUN_DAY - timedelta(days=m)  # 2025-01-31, the first day of the shift
    results = xcom_values(late, "monitor")[0]
    assert {result["day"] for result in results} == {matured.isoformat()}
    assert list(stored_days(clean)) == [("v1", matured), ("v2", matured)]  # nothing stored for the run's day
    first = stored_days(clean)
    assert all(result["label_maturity"]["judged_day"] == matured.isoformat() for result in results)
    assert not any(note.startswith("not enough labels") for result in results for note in result["notes"])
    alerts = {result["model_version"]: sorted((a["rule"], a["metric"]) for a in result["alerts"]) for result in results}
    assert ("PSI", "psi") in alerts["v1"]  # the shift is found, 5 days later

    # A run with maturity 0 whose own day is that day judges it the same, rule for rule and figure for figure.
    on_time = run_dag("report_drift", (matured + timedelta(days=1)).isoformat(), COMMON, retries=0)
    assert on_time.state == "success", task_states(on_time)
    again = xcom_values(on_time, "monitor")[0]
    assert judged(again) == judged(results)
    assert {result["model_version"]: sorted((a["rule"], a["metric"]) for a in result["alerts"]) for result in again} == alerts
    second = stored_days(clean)
    assert list(second) == list(first)
    skip = {"run_id", "computed_at", "created_at", "updated_at"}
    for key, row in first.items():
        assert {k: v for k, v in row.items() if k not in skip} == {k: v for k, v in second[key].items() if k not in skip}

    message = smtp_sink.messages[0]  # the late run's alert
    assert message["Subject"].startswith("[ALERT] fraud_detector v1 (PSI)")
    assert message["Subject"].endswith(f"on {matured}: retraining requested")
    text = html_of(message).replace("&#39;", "'")
    assert (
        f"Label maturity: 5 days (label_maturity_days = 5: a prediction day counts once it is 5 days old). The judged "
        f"day is {matured}, 5 days before this run's day {RUN_DAY}: the newest prediction day whose labels have "
        "matured." in text
    )
    assert "alerts come 5 days later, but they are not raised by labels that have not arrived yet" in text
    extra = xcom_values(late, "request_retraining")[0]
    assert extra["day"] == matured.isoformat()


def test_auto_reads_the_snapshots_up_to_the_runs_day_and_the_mail_says_why(clean, smtp_sink):
    rows = [
        ("v1", RUN_DAY - timedelta(days=age), RUN_DAY, 200, labeled, labeled // 20)
        for age, labeled in enumerate(AUTO_LABELED)
    ]
    # A later snapshot (after the run's day) of slow labels: it must not be read.
    slow = [("v1", date(2025, 2, 8) - timedelta(days=age), date(2025, 2, 8), 200, min(180, 8 * age), 0) for age in range(30)]
    insert_snapshots(clean, rows + slow)
    dag_run = run_dag("report_drift", AS_OF, {**COMMON, "label_maturity_days": "auto", "send_digest": True}, retries=0)
    assert dag_run.state == "success", task_states(dag_run)
    assert AUTO_DAYS == 4
    results = xcom_values(dag_run, "monitor")[0]
    matured = RUN_DAY - timedelta(days=AUTO_DAYS)
    assert {result["day"] for result in results} == {matured.isoformat()}
    assert list(stored_days(clean)) == [("v1", matured), ("v2", matured)]
    reason = (
        "auto: 95 % of a cohort's eventual labels arrive within 4 days (curve from 30 cohorts) "
        f"[label snapshots of 1 day(s) up to {RUN_DAY}]"
    )
    assert results[0]["label_maturity"] == {
        "requested": "auto", "days": 4, "reason": reason, "run_day": RUN_DAY.isoformat(),
        "judged_day": matured.isoformat(),
    }
    text = html_of(smtp_sink.messages[0]).replace("&#39;", "'")
    assert f"Label maturity: 4 days ({reason}). The judged day is {matured}" in text
    # The compact table of v1 (ages 0..7, then 8..29) equals a count of the rows inserted; v2 has none.
    newest, counts = plain_by_age(rows + slow, "v1", RUN_DAY, 7)
    arrival = results[0]["label_arrival"]
    assert results[1]["label_arrival"] is None and f"<b>v2</b>: {NO_SNAPSHOTS}." in text
    assert arrival["snapshot_day"] == newest.isoformat() == RUN_DAY.isoformat()
    assert [row["ages"] for row in arrival["rows"]] == [*map(str, range(8)), "8\u201329"]
    for row, (cohorts, n, labeled, frauds) in zip(arrival["rows"], counts, strict=True):
        assert (row["cohorts"], row["n_predictions"], row["n_labeled"], row["n_fraud"]) == (cohorts, n, labeled, frauds)
        assert row["labeled_share"] == labeled / n and row["fraud_share"] == frauds / labeled
    shares = "".join(f'<td align="right">{labeled / n * 100:.1f}&nbsp;%</td>' for _, n, labeled, _ in counts)
    assert f"<td>labeled</td>{shares}</tr>" in text
    assert f"(snapshot of {RUN_DAY}): label_maturity_days = auto would choose 4 days; auto: 95 %" in text


def test_a_bad_maturity_fails_at_once_naming_the_value(clean):
    import pendulum
    from airflow.sdk.exceptions import ParamValidationError

    from fraudcal_airflow.errors import ReportInputError
    from fraudcal_airflow.params import report_drift
    from fraudcal_airflow.steps.drift_report import DriftRequest

    for value, shown in (("seven", "'seven'"), (400, "400")):  # refused by the trigger form (and REST)
        with pytest.raises(ParamValidationError, match=f"label_maturity_days.*{shown}"):
            load_dag("report_drift").test(logical_date=pendulum.datetime(2025, 2, 6, tz="UTC"), run_conf={"label_maturity_days": value})
    # "400" as text passes the form's pattern: the step refuses it before any connection.
    params = {name: param.value for name, param in report_drift().items()}
    for value in ("400", "seven", -1, 7.5, True):
        with pytest.raises(ReportInputError, match=re.escape(repr(value))):
            DriftRequest.from_params({**params, "label_maturity_days": value})
    dag_run = run_dag("report_drift", AS_OF, {**COMMON, "label_maturity_days": "400"})  # default retries
    assert dag_run.state == "failed" and task_states(dag_run)["monitor"] == "failed"
    assert stored_days(clean) == {}


# ----------------------------------------------------------------------------- report_coverage


def test_the_coverage_report_shows_the_labeled_share_by_age_of_the_newest_snapshot(clean, smtp_sink):
    rng = np.random.default_rng(15)
    rows = []
    for snapshot in (date(2025, 2, 1), date(2025, 2, 4), date(2025, 2, 7)):  # the report ends 2025-02-05
        for age in range(35):
            n = int(rng.integers(0, 400))
            labeled = int(rng.binomial(n, min(1.0, 0.2 + 0.1 * age)))
            rows.append(("v1", snapshot - timedelta(days=age), snapshot, n, labeled, int(rng.binomial(labeled, 0.1))))
    insert_snapshots(clean, rows)
    dag_run = run_dag(
        "report_coverage", AS_OF, {"date_from": "2025-01-30", "date_to": RUN_DAY.isoformat(), **COMMON}, retries=0
    )
    assert dag_run.state == "success", task_states(dag_run)
    newest, counts = plain_by_age(rows, "v1", RUN_DAY, 21)
    assert newest == date(2025, 2, 4)
    message = smtp_sink.messages[0]
    attachment = next(part for part in message.iter_attachments() if part.get_content_type() == "text/csv")
    table = [row for row in csv.DictReader(io.StringIO(attachment.get_content())) if row["table"] == "label_arrival"]
    values = {(row["model_version"], row["row"], row["column"]): row["value"] for row in table}
    ages = [*map(str, range(22)), "22-34"]
    for age, (cohorts, n, labeled, frauds) in zip(ages, counts, strict=True):
        got = [int(values[("v1", age, column)]) for column in ("cohorts", "n_predictions", "n_labeled", "n_fraud")]
        assert got == [cohorts, n, labeled, frauds], age
        share = float(values[("v1", age, "labeled_share")])
        assert share == labeled / n if n else np.isnan(share)
        fraud_share = float(values[("v1", age, "fraud_share")])
        assert fraud_share == frauds / labeled if labeled else np.isnan(fraud_share)
    assert values[("v1", "auto", "snapshot_day")] == "2025-02-04"
    assert values[("v2", "auto", "reason")] == NO_SNAPSHOTS
    html = html_of(message)
    assert f"<b>v2</b>: {NO_SNAPSHOTS}." in html
    assert "<b>v1</b> (snapshot of 2025-02-04): label_maturity_days = auto would choose" in html
    cohorts, n, labeled, frauds = counts[-1]
    pooled = (
        f"<td>22\u201334 (pooled)</td><td align=\"right\">{cohorts}</td><td align=\"right\">{n:,}</td>"
        f"<td align=\"right\">{labeled:,}</td><td align=\"right\">{labeled / n * 100:.1f}&nbsp;%</td>"
    )
    assert pooled in html
    with psycopg.connect(clean.info.dsn) as conn:
        (figures,) = conn.execute("SELECT figures FROM fraudcal.report_runs").fetchone()
    stored = {entry["model_version"]: entry["arrival"] for entry in figures["label_arrival"]}
    assert stored["v2"] is None and stored["v1"]["snapshot_day"] == "2025-02-04"
    assert [row["n_labeled"] for row in stored["v1"]["rows"]] == [count[2] for count in counts]
