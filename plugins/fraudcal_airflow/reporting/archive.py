"""Archive a rendered report: its files in the artifacts folder, its row in ``fraudcal.report_runs``.

A report is archived before it is sent, so that a failed send loses nothing and the retry
sends exactly what was archived. The folder holds:

``report.html``
    The report to open in a browser, from anywhere: the charts inlined as ``data:`` URIs, so the
    file alone is the whole report (``fraudcal.report_runs.html_path`` points at it).
``mail.html``
    The HTML that is mailed, charts referenced by ``cid:`` (mail clients block ``data:`` images);
    the send step reads it, with the PNG files, through :func:`read_archived`.
``<chart>.png``, ``report.csv``
    The charts (the mail's image parts) and the CSV attachment.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudcal_airflow.db.report_runs import upsert_report_run
from fraudcal_airflow.reporting.render import json_ready

if TYPE_CHECKING:
    import psycopg

#: The browser copy (charts inlined); ``fraudcal.report_runs.html_path``.
HTML_NAME = "report.html"
#: The mailed HTML (charts by ``cid:``), sent as archived.
MAIL_NAME = "mail.html"
CSV_NAME = "report.csv"
_CID_SOURCE = re.compile(r'src="cid:([^"]+)"')


def archive_report(
    conn: psycopg.Connection,
    folder: Path,
    *,
    report_type: str,
    html: str,
    charts: dict[str, bytes],
    csv_text: str,
    row: dict[str, Any],
) -> int:
    """Write the files and the ``fraudcal.report_runs`` row (one transaction); return its id.

    ``row`` holds the row's columns except ``report_type`` and ``html_path``; its ``figures``
    are stored as jsonb (NaN as null).
    """
    from psycopg.types.json import Jsonb

    folder.mkdir(parents=True, exist_ok=True)
    (folder / MAIL_NAME).write_text(html, encoding="utf-8")
    (folder / HTML_NAME).write_text(browser_html(html, charts), encoding="utf-8")
    (folder / CSV_NAME).write_text(csv_text, encoding="utf-8")
    for name, data in charts.items():
        (folder / name).write_bytes(data)
    values = {
        **row,
        "report_type": report_type,
        "html_path": str(folder / HTML_NAME),
        "figures": Jsonb(json_ready(row["figures"])),
    }
    return upsert_report_run(conn, values)


def browser_html(html: str, charts: dict[str, bytes]) -> str:
    """The mail's HTML for a browser: every ``src="cid:<name>"`` of a chart becomes a PNG ``data:`` URI.

    A ``cid:`` without its chart is left as it is (the mail renders only drawn charts, so there
    is none).
    """

    def inline(match: re.Match[str]) -> str:
        data = charts.get(match.group(1))
        if data is None:
            return match.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}"'

    return _CID_SOURCE.sub(inline, html)


def read_archived(folder: Path, chart_names: list[str]) -> tuple[str, dict[str, bytes], str]:
    """The archived mail HTML (``cid:`` charts), charts and CSV of a report, to send exactly what was archived.

    A folder archived before ``mail.html`` existed held the mail's HTML as ``report.html``: a send
    retried across an upgrade still sends it.
    """
    mail = folder / MAIL_NAME if (folder / MAIL_NAME).is_file() else folder / HTML_NAME
    return (
        mail.read_text(encoding="utf-8"),
        {name: (folder / name).read_bytes() for name in chart_names},
        (folder / CSV_NAME).read_text(encoding="utf-8"),
    )


def send_archived(archived: dict[str, Any], *, csv_name: str) -> str:
    """Send an archived report exactly as archived, through ``smtp_default``; record when it was accepted.

    ``archived`` is a build step's return value (``folder``, ``charts``, ``subject``,
    ``recipients``, ``report_id``). Returns the Message-ID.
    """
    from fraudcal_airflow.connections import SMTP_CONN_ID, fraud_db_connection
    from fraudcal_airflow.db.report_runs import mark_report_sent
    from fraudcal_airflow.reporting.mail import build_message, send_message

    html, charts, csv_text = read_archived(Path(archived["folder"]), archived["charts"])
    message = build_message(
        subject=archived["subject"],
        sender=None,
        recipients=archived["recipients"],
        html=html,
        charts=charts,
        csv_text=csv_text,
        csv_name=csv_name,
    )
    send_message(message, SMTP_CONN_ID)
    with fraud_db_connection() as conn:
        mark_report_sent(conn, archived["report_id"])
    print(f"sent to {', '.join(archived['recipients'])}: {archived['subject']}")
    return message["Message-ID"]
