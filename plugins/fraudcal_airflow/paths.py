"""Where fraudcal finds its SQL and templates, and where it writes artifacts.

The repository layout is fixed (DESIGN.md section 2): this package sits in
``<root>/plugins/fraudcal_airflow`` and the SQL in ``<root>/include/sql``, in a checkout and
in the Docker image (``/opt/airflow``) alike. The two folders a deployment may want
elsewhere come from environment variables.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INCLUDE_DIR = PROJECT_ROOT / "include"
SQL_DIR = INCLUDE_DIR / "sql"
TEMPLATES_DIR = INCLUDE_DIR / "templates"


def artifacts_dir() -> Path:
    """Folder for snapshots, GX Data Docs and reports (``FRAUDCAL_ARTIFACTS_DIR``)."""
    return Path(os.environ.get("FRAUDCAL_ARTIFACTS_DIR", PROJECT_ROOT / "artifacts")).resolve()


def import_dir() -> Path:
    """The only folder CSV sources may be read from (``FRAUDCAL_IMPORT_DIR``)."""
    return Path(os.environ.get("FRAUDCAL_IMPORT_DIR", PROJECT_ROOT / "data" / "import")).resolve()


def safe_name(value: str) -> str:
    """A file-system-safe, collision-free name for a model version or run id.

    A plain file name whatever ``value`` holds (``/``, ``..``, ``<``, CR/LF, non-ASCII): at most
    60 of ``[A-Za-z0-9._-]``, never starting or ending with ``.``, then ``-`` and 8 hex digits of
    the value's SHA-256, so that two values that read alike (``a/b``, ``a_b``) stay apart.
    """
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", value)[:60].strip("._") or "x"
    return f"{readable}-{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def run_folder(kind: str, dag_id: str, run_id: str, name: str) -> Path:
    """The artifacts folder of one model version (or report) in one run, e.g. ``snapshots/...``."""
    return artifacts_dir() / kind / safe_name(dag_id) / safe_name(run_id) / safe_name(name)
