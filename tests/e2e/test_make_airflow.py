"""``make airflow``'s promise: demo data in an empty log, where to log in, and Ctrl-C stops
every process it started.

Runs the same command chain as the Makefile target (``python -m fraudcal_dev.services run --
scripts/airflow_local.py``) against a database of its own, on the CeleryExecutor with one
worker so that the broker and a worker are part of what must stop, and sends SIGINT to its
process group as a terminal does.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import psycopg
import pytest

from fraudcal_dev import services
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.slow


def lines_of(process: subprocess.Popen) -> queue.Queue:
    """The process's output, line by line, read on a thread (so the test can time out)."""
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def read_until(lines: queue.Queue, marker: str, timeout: float, seen: list[str]) -> str:
    while True:
        line = lines.get(timeout=timeout)
        if line is None:
            raise AssertionError("the command ended early:\n" + "".join(seen))
        seen.append(line)
        if marker in line:
            return line


def readme_rest_example() -> str:
    """The README's REST example block (marked ``rest-example``), as a user would paste it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- rest-example", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return block


def run_readme_example(url: str, password: str) -> dict:
    """Run the README's block against ``url``; wait for the runs it created; return their states."""
    import json
    import time

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_rest_example()],
        env={**os.environ, "URL": url, "PASSWORD": password},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    token_request = urllib.request.Request(
        f"{url}/auth/token",
        data=json.dumps({"username": "admin", "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(token_request, timeout=30) as response:
        token = json.load(response)["access_token"]
    deadline = time.monotonic() + 300
    while True:
        request = urllib.request.Request(
            f"{url}/api/v2/dags/calibrate_fraud_model/dagRuns?limit=50",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            runs = json.load(response)["dag_runs"]
        asked = [run for run in runs if run["run_type"] in ("manual", "backfill")]
        if len(asked) >= 4 and all(run["state"] in ("success", "failed") for run in asked):
            return {run["dag_run_id"]: (run["run_type"], run["state"]) for run in asked}
        assert time.monotonic() < deadline, f"the README's runs did not finish: {asked}"
        time.sleep(3)


def _command_line(process: psutil.Process) -> str:
    """A child's command line; "" for one that has just exited (a short-lived helper, a zombie)."""
    try:
        return " ".join(process.cmdline())
    except (psutil.ZombieProcess, psutil.NoSuchProcess):
        return ""


def test_it_loads_the_demo_data_and_ctrl_c_stops_every_process_it_started(db_url, tmp_path):
    database = f"fraudcal_airflow_ctrl_c_{os.getpid()}"
    server = os.environ["FRAUD_DB_URL"].rsplit("/", 1)[0]
    empty_log_url = services.ensure_database(
        server + "/postgres", f"fraudcal_make_airflow_{os.getpid()}", recreate=True
    )
    command = [sys.executable, "-m", "fraudcal_dev.services", "run", "--"]
    command += [sys.executable, "scripts/airflow_local.py", "--celery-workers", "1", "--metadata-database", database]
    command += ["--events", "20000", "--port", str(services.free_port())]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        # no SMTP connection, so the mail sink starts too
        env={
            **{name: value for name, value in os.environ.items() if name != "AIRFLOW_CONN_SMTP_DEFAULT"},
            "FRAUD_DB_URL": empty_log_url,
            "FRAUDCAL_ARTIFACTS_DIR": str(tmp_path),  # snapshots and maildir, not the developer's
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen: list[str] = []
    logs_folder: Path | None = None
    try:
        lines = lines_of(process)
        loaded = read_until(lines, "demo data:", timeout=120, seen=seen)
        assert "loaded 20,000 synthetic predictions" in loaded
        assert "local mail sink" in read_until(lines, "mail:", timeout=30, seen=seen)
        up = read_until(lines, "Airflow is up:", timeout=360, seen=seen)  # longer than its own 240 s
        url = up.split("Airflow is up:", 1)[1].split()[0]
        assert "login admin / " in up
        logs = read_until(lines, "Ctrl-C stops every component", timeout=30, seen=seen)
        logs_folder = Path(logs.removeprefix("logs: ").split(";", 1)[0])
        # The README's REST example, as written, on make airflow's own demo data: one manual
        # calibration and a backfill of three days, all successful.
        password = up.split("login admin / ", 1)[1].split()[0].rstrip(")")
        states = run_readme_example(url, password)
        assert sorted(kind for kind, _ in states.values()) == ["backfill"] * 3 + ["manual"], states
        assert {state for _, state in states.values()} == {"success"}, states
        children = psutil.Process(process.pid).children(recursive=True)
        started = [(child.pid, child.create_time()) for child in children]
        command_lines = [_command_line(child) for child in children]
        for part in ("airflow_local.py", "aiosmtpd", "redis-server", "celery worker", "airflow scheduler"):
            assert any(part in line for line in command_lines), (part, command_lines)

        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert process.wait(timeout=120) == 0, "".join(seen)
        read_until(lines, "stopped", timeout=5, seen=seen)
        with psycopg.connect(empty_log_url) as conn:
            rows = conn.execute("SELECT count(*) FROM noc_fraud_prediction_log").fetchone()[0]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        (ROOT / "artifacts" / "e2e").mkdir(parents=True, exist_ok=True)
        (ROOT / "artifacts" / "e2e" / "make-airflow.out").write_text("".join(seen))
        if logs_folder is not None:
            shutil.copytree(logs_folder, ROOT / "artifacts" / "e2e" / "make-airflow", dirs_exist_ok=True)
        with psycopg.connect(server + "/postgres", autocommit=True) as conn:
            services.drop_database(conn, database)
            services.drop_database(conn, urlsplit(empty_log_url).path.lstrip("/"))
    assert rows == 20_000

    def still_running(pid: int, created: float) -> str | None:
        try:
            process = psutil.Process(pid)
            # A zombie has exited; it only waits for init to collect its exit status.
            if process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE:
                return f"{pid} {process.status()} ppid={process.ppid()} {process.cmdline()}"
        except psutil.NoSuchProcess:
            pass
        return None

    assert [found for pid, created in started if (found := still_running(pid, created))] == []
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5)
