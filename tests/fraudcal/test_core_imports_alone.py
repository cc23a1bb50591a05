"""The core imports and computes with Airflow, the database drivers, Redis and GX all absent.

A fresh interpreter (only ``include/`` on the path) gets an import hook that refuses those
packages, imports every module of :mod:`fraudcal` and computes one calibration set, one
payload and one report figure. The hook is first shown to refuse ``redis`` (installed in this
environment), so the test cannot pass because the hook does nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import fraudcal

INCLUDE = Path(fraudcal.__file__).resolve().parents[1]
BLOCKED = ("airflow", "psycopg", "psycopg2", "redis", "great_expectations")

SCRIPT = textwrap.dedent(
    """
    import importlib
    import importlib.abc
    import importlib.util
    import json
    import pkgutil
    import sys

    BLOCKED = {blocked!r}


    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked: the core must not import {{name}}")
            return None


    assert importlib.util.find_spec("redis") is not None, "redis is not installed: the check would prove nothing"
    sys.meta_path.insert(0, Refuse())
    try:
        import redis  # noqa: F401
    except ImportError as error:
        redis_refused = str(error)
    else:
        redis_refused = None

    import fraudcal.defaults  # noqa: E402

    defaults_without_numpy = "numpy" not in sys.modules

    import fraudcal  # noqa: E402

    modules = sorted(module.name for module in pkgutil.iter_modules(fraudcal.__path__, "fraudcal."))
    for name in modules:
        importlib.import_module(name)

    from datetime import UTC, datetime  # noqa: E402

    import numpy as np  # noqa: E402

    from fraudcal.calibration_set import calibration_payload, compute_calibration_set  # noqa: E402
    from fraudcal.coverage import interval_covers  # noqa: E402

    rng = np.random.default_rng(0)
    p = rng.random(100)
    y = rng.random(100) < p
    calibration_set = compute_calibration_set(
        p, y, model_type="m", model_version="v",
        window_start=datetime(2025, 1, 1, tzinfo=UTC), window_end=datetime(2025, 2, 1, tzinfo=UTC),
    )
    payload = calibration_payload({{**calibration_set.to_dict(), "id": 1, "computed_at": datetime.now(UTC), "run_id": "r"}})
    covered = interval_covers(p, y, payload["levels"]["90"]["quantile"])
    print(json.dumps({{
        "redis_refused": redis_refused,
        "defaults_without_numpy": defaults_without_numpy,
        "modules": modules,
        "loaded_blocked": sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED),
        "k90": payload["levels"]["90"]["k"],
        "covered": int(covered.sum()),
    }}))
    """
).format(blocked=BLOCKED)


def test_core_imports_and_computes_without_airflow_drivers_redis_or_gx():
    environment = {**os.environ, "PYTHONPATH": str(INCLUDE)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=environment, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["redis_refused"] == "blocked: the core must not import redis"
    assert report["loaded_blocked"] == []
    assert report["defaults_without_numpy"], "fraudcal.defaults must stay importable without numpy (DAG parsing)"
    expected = {f"fraudcal.{path.stem}" for path in (INCLUDE / "fraudcal").glob("*.py") if path.stem != "__init__"}
    assert set(report["modules"]) == expected
    assert report["k90"] == 91  # ceil(101 * 0.9)
    assert 0 < report["covered"] <= 100
