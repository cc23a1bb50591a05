"""The coverage report: extract, compute (core), chart, render, archive, e-mail.

Figures come from :mod:`fraudcal.coverage`; this module feeds it from PostgreSQL (one binary
COPY per model version, with the quantiles of the set in force already joined in SQL), draws
the charts with matplotlib (PNG), renders the Jinja2 template, writes a long-format CSV of
every table, archives the report (a row in ``fraudcal.report_runs`` and the files in the
artifacts folder) and sends it through the SMTP provider's hook as a multipart message whose
charts are ``cid:`` parts (mail clients block remote and base64 images and run no JavaScript).
"""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime, timedelta
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudcal_airflow.pgcopy import copy_to_numpy
from fraudcal_airflow.sql import load_sql

if TYPE_CHECKING:
    import psycopg
    import psycopg2.extensions

REPORT_TYPE = "coverage"
REPORT_COLUMNS = [
    ("id", "int8"),
    ("predicted_at", "timestamptz"),
    ("probability", "float8"),
    ("label", "bool"),
    ("high_risk", "bool"),
    ("q90", "float8"),
    ("q95", "float8"),
    ("q99", "float8"),
]
DEFAULT_DAYS = 7


def report_period(
    conn: psycopg.Connection, model_type: str, versions: list[str], date_from: str | None, date_to: str | None
) -> tuple[date, date]:
    """The report's inclusive dates: as given, or the last 7 days that end with a label."""
    from fraudcal_airflow.errors import CalibrationInputError

    if bool(date_from) != bool(date_to):
        raise CalibrationInputError("give both date_from and date_to, or neither (default: the last 7 labeled days)")
    if date_from:
        first, last = date.fromisoformat(date_from), date.fromisoformat(date_to)
        if first > last:
            raise CalibrationInputError(f"date_from={date_from} is after date_to={date_to}; the range is inclusive")
        return first, last
    last = conn.execute(
        load_sql("report/latest_labeled_day"), {"model_type": model_type, "model_versions": versions}
    ).fetchone()[0]
    conn.commit()
    last = last or datetime.now(UTC).date()
    return last - timedelta(days=DEFAULT_DAYS - 1), last


def extract_report_rows(
    copy_conn: psycopg2.extensions.connection, model_type: str, model_version: str, first: date, last: date
) -> dict[str, Any]:
    """One version's labeled predictions of the period with the quantiles in force (numpy)."""
    params = {
        "model_type": model_type,
        "model_version": model_version,
        "time_from": datetime(first.year, first.month, first.day, tzinfo=UTC),
        "time_to": datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1),
    }
    return copy_to_numpy(copy_conn, load_sql("report/labeled_predictions_in_force"), params, REPORT_COLUMNS)


def newest_set_ages(conn: psycopg.Connection, model_type: str, versions: list[str], now: datetime) -> dict[str, float]:
    """Hours since the newest set of each version (versions without a set are absent)."""
    rows = conn.execute(
        load_sql("report/newest_set_per_version"), {"model_type": model_type, "model_versions": versions}
    )
    ages = {version: (now - as_of).total_seconds() / 3600 for version, as_of in rows}
    conn.commit()
    return ages


def build_figures(
    rows_by_version: dict[str, dict[str, Any]],
    *,
    ages: dict[str, float],
    level: int,
    narrow_threshold: float,
    stale_after_hours: float,
) -> dict[str, Any]:
    """Per-version figures (core), the overall status and the pooled headline."""
    import numpy as np

    from fraudcal.coverage import coverage, interval_covers, report_status, version_figures

    versions = []
    pooled_covered, pooled_fraud = [], []
    for version, rows in sorted(rows_by_version.items()):
        if rows["id"].size == 0:
            continue
        quantiles = {90: rows["q90"], 95: rows["q95"], 99: rows["q99"]}
        versions.append(
            version_figures(
                model_version=version,
                days=rows["predicted_at"].astype("datetime64[D]"),
                probabilities=rows["probability"],
                labels=rows["label"],
                is_high_risk=rows["high_risk"],
                quantiles=quantiles,
                level=level,
                narrow_threshold=narrow_threshold,
                newest_set_age_hours=ages.get(version),
                stale_after_hours=stale_after_hours,
            )
        )
        usable = np.isfinite(quantiles[level]) & np.isfinite(rows["probability"])
        hits = interval_covers(rows["probability"][usable], rows["label"][usable], quantiles[level][usable])
        pooled_covered.append(hits)
        pooled_fraud.append(hits[rows["label"][usable]])
    overall = coverage(np.concatenate(pooled_covered) if pooled_covered else np.array([], bool), level / 100)
    fraud = coverage(np.concatenate(pooled_fraud) if pooled_fraud else np.array([], bool), level / 100)
    findings = [finding for figures in versions for finding in figures.get("findings", [])]
    if not versions:
        findings = ["no labeled outcomes in this period: nothing could be measured"]
    return {
        "status": report_status(versions),
        "level": level,
        "narrow_threshold": narrow_threshold,
        "overall": overall.as_dict(),
        "fraud": fraud.as_dict(),
        "versions": versions,
        "findings": findings,
    }


def headline(figures: dict[str, Any]) -> str:
    """The one line the subject and the banner share."""
    if not figures["versions"] or not figures["overall"]["n"]:
        return "no labeled outcomes"
    level = figures["level"]
    return (
        f"{level}% intervals covered {figures['overall']['rate']:.1%} "
        f"(fraud {figures['fraud']['rate']:.1%}, target {level}%)"
    )


def subject_line(figures: dict[str, Any], model_type: str, versions: list[str], first: date, last: date) -> str:
    """``[STATUS] model versions first..last: headline``."""
    return (
        f"[{figures['status'].upper()}] {model_type} {','.join(versions) or '-'} {first}..{last}: {headline(figures)}"
    )


def render_charts(figures: dict[str, Any]) -> dict[str, bytes]:
    """PNG charts per version: coverage per day with Wilson bars and target; reliability."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts: dict[str, bytes] = {}
    for version in figures["versions"]:
        if not version.get("n"):
            continue
        level, name = version["level"], version["model_version"]
        days = [row["day"][5:] for row in version["by_day"]]
        rates = [row["rate"] for row in version["by_day"]]
        errors = [
            [row["rate"] - row["low"] for row in version["by_day"]],
            [row["high"] - row["rate"] for row in version["by_day"]],
        ]
        figure, axis = plt.subplots(figsize=(6.8, 2.4), dpi=100)
        axis.errorbar(days, rates, yerr=errors, fmt="o-", color="#1a5fb4", capsize=3, label="coverage (95 % Wilson)")
        axis.axhline(level / 100, color="#b3261e", linestyle="--", label=f"target {level} %")
        fraud = [row["fraud_covered"] / row["fraud_n"] if row["fraud_n"] else math.nan for row in version["by_day"]]
        axis.plot(days, fraud, "s:", color="#b26a00", label="confirmed frauds")
        axis.set_ylim(0, 1.02)
        axis.set_ylabel("coverage")
        axis.set_title(f"{name}: {level} % intervals per day", fontsize=10)
        axis.legend(fontsize=7, loc="lower left")
        axis.tick_params(labelsize=8)
        figure.tight_layout()
        charts[f"coverage-{name}.png"] = _png(figure)
        plt.close(figure)

        figure, axis = plt.subplots(figsize=(3.4, 3.0), dpi=100)
        means = [row["mean_probability"] for row in version["reliability"]]
        observed = [row["observed_rate"] for row in version["reliability"]]
        top = max([*means, *observed, 0.05]) * 1.05
        axis.plot([0, top], [0, top], color="#999", linewidth=1)
        axis.plot(means, observed, "o-", color="#1a5fb4")
        axis.set_xlim(0, top)
        axis.set_ylim(0, top)
        axis.set_xlabel("mean predicted probability", fontsize=8)
        axis.set_ylabel("observed fraud rate", fontsize=8)
        axis.set_title(f"{name}: reliability (ECE {version['ece']:.4f})", fontsize=9)
        axis.tick_params(labelsize=7)
        figure.tight_layout()
        charts[f"reliability-{name}.png"] = _png(figure)
        plt.close(figure)
    return charts


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def render_html(figures: dict[str, Any], context: dict[str, Any]) -> str:
    """Render ``include/templates/coverage_report.html.j2`` (autoescaped)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    from fraudcal_airflow.paths import TEMPLATES_DIR

    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined
    )
    versions = [
        {
            **version,
            "charts": {
                "coverage": f"coverage-{version['model_version']}.png",
                "reliability": f"reliability-{version['model_version']}.png",
            },
        }
        for version in figures["versions"]
    ]
    return environment.get_template("coverage_report.html.j2").render(
        **context, status=figures["status"], headline=headline(figures), findings=figures["findings"], versions=versions
    )


def figures_csv(figures: dict[str, Any]) -> str:
    """Every table of the report in one long-format CSV: table, model_version, row, column, value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["table", "model_version", "row", "column", "value"])
    for version in figures["versions"]:
        name = version["model_version"]
        for level, groups in version.get("coverage", {}).items():
            for group, values in groups.items():
                for column, value in values.items():
                    writer.writerow(["coverage", name, f"{level}/{group}", column, value])
        for table, key in (
            ("by_day", "day"),
            ("width_buckets", "bucket"),
            ("threshold_replay", "narrow_threshold"),
            ("reliability", None),
        ):
            for index, row in enumerate(version.get(table, [])):
                for column, value in row.items():
                    writer.writerow([table, name, row[key] if key else index, column, value])
        for column, value in version.get("automation", {}).items():
            writer.writerow(["automation", name, "", column, value])
        for column, value in version.get("label_sets", {}).items():
            writer.writerow(["label_sets", name, "", column, value])
    return buffer.getvalue()


def archive_report(
    conn: psycopg.Connection, folder: Path, *, html: str, charts: dict[str, bytes], csv_text: str, row: dict[str, Any]
) -> int:
    """Write the files and the ``fraudcal.report_runs`` row (one transaction); return its id."""
    from psycopg.types.json import Jsonb

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text(html, encoding="utf-8")
    (folder / "report.csv").write_text(csv_text, encoding="utf-8")
    for name, data in charts.items():
        (folder / name).write_bytes(data)
    # A preview whose cid: references point at the PNG files, for a browser or a screenshot.
    preview = html
    for name in charts:
        preview = preview.replace(f"cid:{name}", name)
    (folder / "preview.html").write_text(preview, encoding="utf-8")
    values = {
        **row,
        "report_type": REPORT_TYPE,
        "html_path": str(folder / "report.html"),
        "figures": Jsonb(json_ready(row["figures"])),
    }
    with conn.transaction():
        report_id = conn.execute(load_sql("report/upsert_report_run"), values).fetchone()[0]
    return int(report_id)


def json_ready(value: Any) -> Any:
    """``value`` with NaN/inf as None and numpy scalars as Python numbers (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, date):
        return value.isoformat()
    return value


def build_message(
    *,
    subject: str,
    sender: str | None,
    recipients: list[str],
    html: str,
    charts: dict[str, bytes],
    csv_text: str | None,
    csv_name: str = "coverage_report.csv",
) -> EmailMessage:
    """multipart/mixed( multipart/related( text/plain|text/html, image/png cid parts ), text/csv )."""
    # RFC 5322 allows 998-character lines; Python's folding at 78 splits "Subject:" from its
    # value and clients then show a leading space.
    message = EmailMessage(policy=email_policy.SMTP.clone(max_line_length=998))
    message["Subject"] = subject
    if sender:
        message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Message-ID"] = make_msgid(domain="fraudcal")
    message.set_content(f"{subject}\n\nThis report is HTML; the tables are attached as CSV.")
    message.add_alternative(html, subtype="html")
    html_part = message.get_payload()[-1]
    for name, data in charts.items():
        html_part.add_related(data, maintype="image", subtype="png", cid=f"<{name}>", filename=name)
    if csv_text is not None:
        message.add_attachment(csv_text.encode("utf-8"), maintype="text", subtype="csv", filename=csv_name)
    return message


def send_message(message: EmailMessage, smtp_conn_id: str) -> None:
    """Send through the SMTP provider's hook (connection, TLS and login from ``smtp_conn_id``)."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=smtp_conn_id) as hook:
        # The hook's own send_email_smtp attaches files as application/octet-stream; charts must be
        # image/png parts of a multipart/related body for mail clients to show them inline, so the
        # message is built here and sent on the hook's authenticated client.
        if not message["From"]:
            message["From"] = hook.from_email or "fraudcal@localhost"
        recipients = [address.strip() for address in message["To"].split(",")]
        hook._smtp_client.sendmail(message["From"], recipients, message.as_bytes())


def run_url(dag_id: str, run_id: str) -> str:
    """Link to the run in the Airflow UI (``[api] base_url``)."""
    from urllib.parse import quote

    try:
        from airflow.configuration import conf

        base = conf.get("api", "base_url", fallback="http://localhost:8080")
    except Exception:  # noqa: BLE001 - a link must never fail a report
        base = "http://localhost:8080"
    return f"{base.rstrip('/')}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"
