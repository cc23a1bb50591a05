"""``report_coverage`` end to end: real PostgreSQL, a real SMTP server (aiosmtpd) in the test.

The figures in the delivered message are checked against a recomputation written directly in
SQL: the set in force found with ``max(as_of)``, containment tested on the clamped bounds.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from fraudcal_dev.dagtest import load_dag, run_dag, task_states
from fraudcal_dev.services import free_port
from tests.integration.history import load_history
from tests.integration.smtp_sink import smtp_connection

DAG_ID = "report_coverage"
PERIOD = {"date_from": "2025-02-10", "date_to": "2025-02-16"}

SQL_COVERAGE = """
WITH rows AS (
    SELECT p.model_version, p.fraud_probability AS p, p.actual_fraud_detected AS fraud,
           (SELECT (levels -> %(level)s ->> 'quantile')::float8 FROM fraudcal.calibration_sets c
             WHERE c.model_version = p.model_version AND c.as_of = (
                   SELECT max(as_of) FROM fraudcal.calibration_sets c2
                    WHERE c2.model_version = p.model_version AND c2.as_of <= p.predicted_at)) AS q
      FROM noc_fraud_prediction_log p
     WHERE p.predicted_at >= %(start)s AND p.predicted_at < %(end)s
       AND p.actual_fraud_detected IS NOT NULL)
SELECT model_version, fraud, count(*),
       count(*) FILTER (WHERE greatest(0, p - q) <= fraud::int AND fraud::int <= least(1, p + q))
  FROM rows WHERE q IS NOT NULL
 GROUP BY model_version, fraud ORDER BY 1, 2
"""


def sql_coverage(db_url: str, level: str = "90") -> dict[tuple[str, bool], tuple[int, int]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(SQL_COVERAGE, {"level": level, "start": "2025-02-10", "end": "2025-02-17"}).fetchall()
    return {(version, fraud): (n, covered) for version, fraud, n, covered in rows}


@pytest.fixture(scope="module")
def history(db_url):
    return load_history(db_url)


@pytest.fixture
def prepared(history, db_url, airflow_db):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("TRUNCATE fraudcal.report_runs") if conn.execute(
            "SELECT to_regclass('fraudcal.report_runs')"
        ).fetchone()[0] else None
    return db_url


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def test_report_arrives_and_its_figures_equal_an_sql_recomputation(prepared, smtp_sink):
    dag_run = run_dag(
        DAG_ID, "2025-02-17", {**PERIOD, "recipients": ["ops@example.com", "lead@example.com"]}, retries=0
    )
    assert dag_run.state == "success", task_states(dag_run)
    assert len(smtp_sink.messages) == 1
    message = smtp_sink.messages[0]
    assert sorted(smtp_sink.envelopes[0].rcpt_tos) == ["lead@example.com", "ops@example.com"]
    expected = sql_coverage(prepared)
    n = sum(count for count, _ in expected.values())
    covered = sum(hits for _, hits in expected.values())
    fraud_n = sum(count for (version, fraud), (count, _) in expected.items() if fraud)
    fraud_covered = sum(hits for (version, fraud), (_, hits) in expected.items() if fraud)
    subject = message["Subject"]
    # What is wrong first (both versions miss the frauds: the pooled figure), the overall figure last.
    assert subject.startswith(
        "[RED] fraud_detector v1,v2 2025-02-10..2025-02-16: "
        f"the 90 % intervals contained {fraud_covered / fraud_n * 100:.1f} % of confirmed frauds (target 90 %)"
    )
    assert subject.endswith(f"; overall {covered / n * 100:.1f} %")

    with psycopg.connect(prepared) as conn:
        status, figures, sent_at, html_path = conn.execute(
            "SELECT status, figures, sent_at, html_path FROM fraudcal.report_runs"
        ).fetchone()
    assert status == "red" and sent_at is not None and Path(html_path).is_file()
    html = html_of(message)
    for version in figures["versions"]:
        name = version["model_version"]
        legit, fraud = version["coverage"]["90"]["legitimate"], version["coverage"]["90"]["fraud"]
        assert (legit["n"], legit["covered"]) == expected[(name, False)]
        assert (fraud["n"], fraud["covered"]) == expected[(name, True)]
        assert (
            f'{fraud["rate"] * 100:.1f}&nbsp;% <span style="color:#777;">({fraud["covered"]:,}/{fraud["n"]:,})' in html
        )
        sentence = (
            f"{name}: the 90 % intervals contained {fraud['covered'] / fraud['n'] * 100:.1f} % of the confirmed "
            f"frauds ({fraud['covered']:,} of {fraud['n']:,};"
        )
        assert sentence in html
    assert "Are the intervals trustworthy today?" in html
    assert html.index("Are the intervals trustworthy today?") < html.index("<img")  # the answer before any chart
    assert "<script" not in html.lower() and "data:image" not in html and "http://" not in html.split("Airflow run:")[0]


def test_the_mail_has_a_utc_date_and_a_message_id_on_a_real_domain(prepared, smtp_sink):
    from email.utils import parseaddr, parsedate_to_datetime

    assert run_dag(DAG_ID, "2025-02-17", PERIOD, retries=0).state == "success"
    message = smtp_sink.messages[0]
    assert parsedate_to_datetime(message["Date"]).utcoffset() == timedelta(0)
    right = parseaddr(message["Message-ID"])[1].rpartition("@")[2]
    assert right == "example.com"  # the smtp_default connection's from_email is fraudcal@example.com


def test_the_archive_opens_in_a_browser_and_sends_what_it_archived(prepared, smtp_sink):
    import base64

    assert run_dag(DAG_ID, "2025-02-17", PERIOD, retries=0).state == "success"
    with psycopg.connect(prepared) as conn:
        (html_path,) = conn.execute("SELECT html_path FROM fraudcal.report_runs").fetchone()
    report = Path(html_path)
    assert report.name == "report.html"
    browser = report.read_text(encoding="utf-8")
    assert "cid:" not in browser
    sources = re.findall(r'<img[^>]*\ssrc="([^"]+)"', browser)
    assert len(sources) == 4  # coverage + reliability charts for v1 and v2
    for source in sources:  # every image resolves: inlined PNG data, or a file beside the report
        if source.startswith("data:image/png;base64,"):
            assert base64.b64decode(source.split(",", 1)[1]).startswith(b"\x89PNG")
        else:
            assert (report.parent / source).read_bytes().startswith(b"\x89PNG")
    # The mail's own HTML (cid: charts) is archived beside it, and is exactly what was sent.
    sent = html_of(smtp_sink.messages[0]).replace("\r\n", "\n")  # SMTP ends lines with CRLF
    assert (report.parent / "mail.html").read_text(encoding="utf-8").rstrip("\n") == sent.rstrip("\n")


def test_every_cid_has_its_image_part_and_the_csv_matches(prepared, smtp_sink):
    assert run_dag(DAG_ID, "2025-02-17", PERIOD, retries=0).state == "success"
    message = smtp_sink.messages[0]
    html = html_of(message)
    cids = set(re.findall(r'src="cid:([^"]+)"', html))
    assert cids and len(cids) == 4  # coverage + reliability charts for v1 and v2
    parts = {part["Content-ID"].strip("<>"): part for part in message.walk() if part["Content-ID"]}
    assert cids == set(parts)
    for cid in cids:
        assert parts[cid].get_content_type() == "image/png"
        assert parts[cid].get_content().startswith(b"\x89PNG")
    attachments = [part for part in message.iter_attachments() if part.get_content_type() == "text/csv"]
    assert len(attachments) == 1
    table = list(csv.DictReader(io.StringIO(attachments[0].get_content())))
    expected = sql_coverage(prepared)
    for (version, fraud), (n, covered) in expected.items():
        row = f"90/{'fraud' if fraud else 'legitimate'}"
        values = {
            r["column"]: r["value"]
            for r in table
            if r["table"] == "coverage" and r["model_version"] == version and r["row"] == row
        }
        assert (int(values["n"]), int(values["covered"])) == (n, covered)
    assert {r["table"] for r in table} >= {
        "coverage",
        "by_day",
        "width_buckets",
        "threshold_replay",
        "automation",
        "label_sets",
        "reliability",
    }


def test_an_empty_period_gives_a_no_labeled_outcomes_report(prepared, smtp_sink):
    dag_run = run_dag(DAG_ID, "2025-02-17", {"date_from": "2024-06-01", "date_to": "2024-06-07"}, retries=0)
    assert dag_run.state == "success", task_states(dag_run)
    message = smtp_sink.messages[0]
    assert message["Subject"] == "[AMBER] fraud_detector v1,v2 2024-06-01..2024-06-07: no labeled outcomes"
    assert "No labeled outcomes in this period" in html_of(message)


def test_default_period_is_the_last_seven_labeled_days(prepared, smtp_sink):
    assert run_dag(DAG_ID, "2025-03-05", retries=0).state == "success"
    assert " 2025-02-23..2025-03-01: " in smtp_sink.messages[0]["Subject"]


def test_unreachable_smtp_fails_after_retries_with_the_report_archived(prepared, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(free_port()))  # nothing listens there
    dag = load_dag(DAG_ID)
    send = dag.get_task("send_report")
    saved = (send.retries, send.retry_delay, send.retry_exponential_backoff)
    send.retries, send.retry_delay, send.retry_exponential_backoff = 1, timedelta(seconds=1), False
    try:
        dag_run = run_dag(DAG_ID, "2025-02-17", PERIOD)
    finally:
        send.retries, send.retry_delay, send.retry_exponential_backoff = saved
    assert dag_run.state == "failed"
    states = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    assert states["build_report"][0] == "success"
    assert states["send_report"] == ("failed", 2)  # tried, retried, failed
    with psycopg.connect(prepared) as conn:
        html_path, sent_at = conn.execute("SELECT html_path, sent_at FROM fraudcal.report_runs").fetchone()
    assert sent_at is None and Path(html_path).is_file()


def test_bad_recipient_is_refused_before_a_run(airflow_db):
    import pendulum
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="recipients"):
        load_dag(DAG_ID).test(
            logical_date=pendulum.datetime(2025, 2, 17, tz="UTC"), run_conf={"recipients": ["not an address"]}
        )


def test_the_dag_is_scheduled_on_the_calibration_asset(airflow_db):
    dag = load_dag(DAG_ID)
    assert "fraudcal_calibration_sets" in str(dag.timetable.asset_condition)
