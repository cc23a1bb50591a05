"""Archive a rendered report: its files in the artifacts folder, its row in ``fraudcal.report_runs``.

A report is archived before it is sent, so that a failed send loses nothing and the retry
sends exactly what was archived.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudcal_airflow.db.report_runs import upsert_report_run
from fraudcal_airflow.reporting.render import json_ready

if TYPE_CHECKING:
    import psycopg

HTML_NAME = "report.html"
CSV_NAME = "report.csv"
PREVIEW_NAME = "preview.html"


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
    (folder / HTML_NAME).write_text(html, encoding="utf-8")
    (folder / CSV_NAME).write_text(csv_text, encoding="utf-8")
    for name, data in charts.items():
        (folder / name).write_bytes(data)
    # A preview whose cid: references point at the PNG files, for a browser or a screenshot.
    preview = html
    for name in charts:
        preview = preview.replace(f"cid:{name}", name)
    (folder / PREVIEW_NAME).write_text(preview, encoding="utf-8")
    values = {
        **row,
        "report_type": report_type,
        "html_path": str(folder / HTML_NAME),
        "figures": Jsonb(json_ready(row["figures"])),
    }
    return upsert_report_run(conn, values)


def read_archived(folder: Path, chart_names: list[str]) -> tuple[str, dict[str, bytes], str]:
    """The archived HTML, charts and CSV of a report, to send exactly what was archived."""
    return (
        (folder / HTML_NAME).read_text(encoding="utf-8"),
        {name: (folder / name).read_bytes() for name in chart_names},
        (folder / CSV_NAME).read_text(encoding="utf-8"),
    )
