"""``report_coverage`` end to end: real PostgreSQL, a real SMTP server (aiosmtpd) in the test.

The history records, for each version and day, one set per method (residual, Mondrian,
Venn-Abers), as ``calibrate_fraud_model`` does. The figures in the delivered message are
checked against recomputations written directly in SQL (the set of each method in force found
with ``max(as_of)`` or ``ORDER BY as_of DESC LIMIT 1``; residual containment tested on the
clamped bounds, Mondrian's as ``p <= q_0`` and ``1 - p <= q_1``) and, for Venn-Abers, in plain
Python over the stored step functions.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from fraudcal.defaults import REPORTED_METHODS
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
             WHERE c.model_version = p.model_version AND c.method = 'residual' AND c.as_of = (
                   SELECT max(as_of) FROM fraudcal.calibration_sets c2
                    WHERE c2.model_version = p.model_version AND c2.method = 'residual'
                      AND c2.as_of <= p.predicted_at)) AS q
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
    return load_history(db_url, methods=REPORTED_METHODS)


@pytest.fixture
def prepared(history, db_url, airflow_db):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("TRUNCATE fraudcal.report_runs") if conn.execute(
            "SELECT to_regclass('fraudcal.report_runs')"
        ).fetchone()[0] else None
        # Triage rows another module's calibration runs left would judge this history's predictions
        # (tests/integration/test_report_triage.py checks the certified triage).
        conn.execute("TRUNCATE fraudcal.triage_certificates")
    return db_url


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def test_report_arrives_and_its_figures_equal_an_sql_recomputation(prepared, smtp_sink):
    dag_run = run_dag(
        DAG_ID,
        "2025-02-17",
        {**PERIOD, "recipients": ["ops@example.com", "lead@example.com"], "default_method": "residual"},
        retries=0,
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


# --------------------------------------------------------------------------- the methods side by side

SQL_MONDRIAN = """
WITH rows AS (
    SELECT p.model_version, p.fraud_probability AS p, p.actual_fraud_detected AS fraud,
           p.risk_level IN ('HIGH', 'CRITICAL') AS high,
           (SELECT c.levels -> %(level)s FROM fraudcal.current_calibration_sets c
             WHERE c.model_version = p.model_version AND c.method = 'mondrian' AND c.as_of <= p.predicted_at
             ORDER BY c.as_of DESC LIMIT 1) AS entry
      FROM noc_fraud_prediction_log p
     WHERE p.predicted_at >= %(start)s AND p.predicted_at < %(end)s
       AND p.actual_fraud_detected IS NOT NULL AND p.risk_level IS NOT NULL),
sets AS (
    SELECT model_version, fraud, high,
           p <= (entry -> '0' ->> 'quantile')::float8 AS zero,
           1 - p <= (entry -> '1' ->> 'quantile')::float8 AS one
      FROM rows WHERE entry IS NOT NULL)
SELECT model_version, fraud, count(*) AS n,
       count(*) FILTER (WHERE CASE WHEN fraud THEN one ELSE zero END) AS covered,
       count(*) FILTER (WHERE high AND one AND NOT zero) AS tickets,
       count(*) FILTER (WHERE high AND NOT (one AND NOT zero)) AS reviews,
       count(*) FILTER (WHERE zero AND NOT one) AS only_zero,
       count(*) FILTER (WHERE one AND NOT zero) AS only_one,
       count(*) FILTER (WHERE one AND zero) AS both,
       count(*) FILTER (WHERE NOT one AND NOT zero) AS neither
  FROM sets GROUP BY model_version, fraud ORDER BY 1, 2
"""


def sql_mondrian(db_url: str, level: str = "90") -> dict[tuple[str, bool], dict[str, int]]:
    from psycopg.rows import dict_row

    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        rows = conn.execute(SQL_MONDRIAN, {"level": level, "start": "2025-02-10", "end": "2025-02-17"}).fetchall()
    return {(row.pop("model_version"), row.pop("fraud")): row for row in rows}


def plain_venn_abers(db_url: str) -> dict[str, dict[str, float]]:
    """Per version, ECE of the raw score and of Venn-Abers' p, in plain Python from the stored sets."""
    from bisect import bisect_left, bisect_right

    with psycopg.connect(db_url) as conn:
        sets = conn.execute(
            "SELECT model_version, as_of, levels FROM fraudcal.current_calibration_sets "
            "WHERE method = 'venn_abers' ORDER BY model_version, as_of"
        ).fetchall()
        rows = conn.execute(
            "SELECT model_version, predicted_at, fraud_probability, actual_fraud_detected "
            "FROM noc_fraud_prediction_log WHERE predicted_at >= '2025-02-10' AND predicted_at < '2025-02-17' "
            "AND actual_fraud_detected IS NOT NULL AND risk_level IS NOT NULL"
        ).fetchall()

    def ece(pairs):
        pairs = sorted(pairs)
        size, extra = divmod(len(pairs), 10)
        total, start = 0.0, 0
        for index in range(10):
            part = pairs[start : start + size + (index < extra)]
            start += len(part)
            total += abs(sum(p for p, _ in part) - sum(y for _, y in part))
        return total / len(pairs)

    figures = {}
    for version in sorted({row[0] for row in rows}):
        raw, merged = [], []
        for _, predicted_at, p, fraud in (row for row in rows if row[0] == version):
            in_force = [levels for v, as_of, levels in sets if v == version and as_of <= predicted_at]
            if not in_force:
                continue
            step = in_force[-1]
            low = bisect_right(step["p0"]["lower"], p) - 1
            p0 = step["p0"]["value"][low] if low >= 0 else 0.0
            high = bisect_left(step["p1"]["upper"], p)
            p1 = step["p1"]["value"][high] if high < len(step["p1"]["upper"]) else 1.0
            raw.append((p, int(fraud)))
            merged.append((p1 / (1 - p0 + p1), int(fraud)))
        figures[version] = {"n": len(raw), "ece_raw": ece(raw), "ece_p": ece(merged)}
    return figures


def _archived_figures(db_url: str) -> tuple[str, dict]:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT status, figures FROM fraudcal.report_runs ORDER BY id DESC LIMIT 1").fetchone()


def _first_screen(html: str) -> str:
    """What a reader reads before the first version's section: tags stripped, entities decoded."""
    import html as html_module

    text = re.sub(r"\s+", " ", html_module.unescape(re.sub(r"<[^>]+>", " ", html))).replace("\xa0", " ")
    return text.split(" fraud_detector / v1 ")[0]


def test_the_methods_side_by_side_equal_independent_recomputations(prepared, smtp_sink):
    dag_run = run_dag(DAG_ID, "2025-02-17", PERIOD, retries=0)  # default_method: the Param's default, mondrian
    assert dag_run.state == "success", task_states(dag_run)
    status, figures = _archived_figures(prepared)
    html = html_of(smtp_sink.messages[0])
    assert figures["default_method"] == "mondrian"
    for level in ("90", "95", "99"):
        mondrian, residual = sql_mondrian(prepared, level), sql_coverage(prepared, level)
        for version in figures["versions"]:
            name = version["model_version"]
            methods = version["comparison"]["methods"]
            for fraud, group in ((True, "fraud"), (False, "legitimate")):
                got = methods["mondrian"]["coverage"][level][group]
                assert (got["n"], got["covered"]) == (mondrian[(name, fraud)]["n"], mondrian[(name, fraud)]["covered"])
                got = methods["residual"]["coverage"][level][group]
                assert (got["n"], got["covered"]) == residual[(name, fraud)]
    mondrian = sql_mondrian(prepared)
    for version in figures["versions"]:
        name, entry = version["model_version"], version["comparison"]["methods"]["mondrian"]
        both = [mondrian[(name, True)], mondrian[(name, False)]]
        assert entry["label_sets"] == {
            "{0}": sum(row["only_zero"] for row in both),
            "{1}": sum(row["only_one"] for row in both),
            "{0,1}": sum(row["both"] for row in both),
            "empty": sum(row["neither"] for row in both),
        }
        assert entry["automation"]["auto_tickets"] == sum(row["tickets"] for row in both)
        assert entry["automation"]["legitimate_auto_tickets"] == mondrian[(name, False)]["tickets"]
        assert entry["automation"]["human_reviews"] == sum(row["reviews"] for row in both)
        fraud = entry["coverage"]["90"]["fraud"]
        # The mail's side-by-side table shows each method's per-class coverage.
        assert f'{fraud["rate"] * 100:.1f}&nbsp;% <span style="color:#777;">({fraud["covered"]:,}/{fraud["n"]:,})' in html
    for name, expected in plain_venn_abers(prepared).items():
        entry = next(v for v in figures["versions"] if v["model_version"] == name)["comparison"]["methods"]["venn_abers"]
        assert entry["n"] == expected["n"] > 0
        assert entry["ece_raw"] == pytest.approx(expected["ece_raw"], abs=1e-12)
        assert entry["ece_p"] == pytest.approx(expected["ece_p"], abs=1e-12)
        assert f"ECE {entry['ece_p']:.4f} against {entry['ece_raw']:.4f} for the raw score" in html

    # The first screen names the method to trust, with the pooled figures that decide it.
    pooled = {fraud: [sum(row[key] for (_, f), row in mondrian.items() if f == fraud) for key in ("covered", "n")]
              for fraud in (True, False)}
    residual = sql_coverage(prepared)
    residual_fraud = [sum(hits for (_, f), (_, hits) in residual.items() if f),
                      sum(n for (_, f), (n, _) in residual.items() if f)]
    screen = _first_screen(html)
    assert (
        f"Trust Mondrian's label sets: at 90 % they held {pooled[True][0] / pooled[True][1] * 100:.1f} % of confirmed "
        f"frauds ({pooled[True][0]:,} of {pooled[True][1]:,}; target 90 %" in screen
    )
    assert (
        f"where the residual intervals held {residual_fraud[0] / residual_fraud[1] * 100:.1f} % of confirmed frauds "
        f"({residual_fraud[0]:,} of {residual_fraud[1]:,})" in screen
    )
    assert "it measures data density, not error, so it decides no auto-tickets" in screen
    # The status follows Mondrian, whose label sets covered the frauds: no coverage shortfall is a
    # reason (the history's sets date from 2025, so staleness is: the one red reason here).
    subject = smtp_sink.messages[0]["Subject"]
    assert subject.startswith("[RED] fraud_detector v1,v2 2025-02-10..2025-02-16: stale Mondrian sets: v1 (")
    assert "confirmed frauds" not in subject and "legitimate cases" not in subject
    assert figures["findings"] and all("stale Mondrian calibration" in finding for finding in figures["findings"])
    assert status == "red"
    assert "Are Mondrian's label sets (the default method) trustworthy today?" in screen
    # The residual shortfall is still said, among the other methods' findings.
    assert any("the 90 % intervals contained 0.0 % of the confirmed frauds" in f for f in figures["other_findings"])


def test_the_status_follows_the_default_method(prepared, smtp_sink):
    # The same outcomes, the residual intervals as the default method: red for the confirmed frauds.
    assert run_dag(DAG_ID, "2025-02-17", {**PERIOD, "default_method": "residual"}, retries=0).state == "success"
    residual = sql_coverage(prepared)
    covered = sum(hits for (_, fraud), (_, hits) in residual.items() if fraud)
    n = sum(count for (_, fraud), (count, _) in residual.items() if fraud)
    subject = smtp_sink.messages[0]["Subject"]
    assert subject.startswith(
        f"[RED] fraud_detector v1,v2 2025-02-10..2025-02-16: the 90 % intervals contained {covered / n * 100:.1f} % "
        "of confirmed frauds (target 90 %)"
    )
    screen = _first_screen(html_of(smtp_sink.messages[0]))
    assert "Are the intervals trustworthy today? No." in screen
    # Still the same advice: the method to trust is Mondrian, and the default should say so.
    assert "Trust Mondrian's label sets" in screen
    assert "The online service acts on the default method, Residual: set the calibration Param default_method to mondrian." in screen
    with psycopg.connect(prepared) as conn:
        statuses = [row[0] for row in conn.execute("SELECT status FROM fraudcal.report_runs ORDER BY id")]
    assert statuses == ["red"]
