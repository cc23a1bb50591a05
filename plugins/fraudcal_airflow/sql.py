"""Load SQL statements from ``include/sql`` by name.

Every statement fraudcal runs lives in a ``.sql`` file with a header comment; code refers to
it by its path without the extension (``"calibration/upsert_calibration_set"``). Values are
always bound as parameters (``%(name)s``), never formatted into the text.
"""

from __future__ import annotations

from functools import cache

from fraudcal_airflow.paths import SQL_DIR


@cache
def load_sql(name: str) -> str:
    """Return the text of ``include/sql/<name>.sql``.

    Raises
    ------
    FileNotFoundError
        If there is no such file (the message names the path looked at).
    """
    path = (SQL_DIR / f"{name}.sql").resolve()
    if SQL_DIR.resolve() not in path.parents:
        raise ValueError(f"SQL name {name!r} points outside {SQL_DIR}")
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path} for statement {name!r}")
    return path.read_text(encoding="utf-8")
