"""``make airflow``: a real local Airflow 3 (no Docker) over this project's DAGs.

api-server, scheduler, dag-processor and triggerer (LocalExecutor), with Airflow's metadata in
its own PostgreSQL database (``fraudcal_airflow``) on the server of the prediction log. Prints
the URL and login, and stops every process it started on Ctrl-C. The end-to-end tests start the
same stack through :func:`running_airflow`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN_USER = "admin"


@dataclass(frozen=True)
class LocalAirflow:
    """Where the running stack answers, and how to log in."""

    url: str
    username: str
    password: str
    home: Path

    def token(self) -> str:
        """A JWT for the REST API (``POST /auth/token``)."""
        request = urllib.request.Request(
            f"{self.url}/auth/token",
            method="POST",
            headers={"Content-Type": "application/json"},
            data=json.dumps({"username": self.username, "password": self.password}).encode(),
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["access_token"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def metadata_url(fraud_db_url: str, database: str) -> str:
    """SQLAlchemy URL of Airflow's own database on the prediction log's server."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import services

    url = services.ensure_database(fraud_db_url, database)
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def airflow_environment(home: Path, port: int, sql_alchemy_conn: str, password_file: Path) -> dict[str, str]:
    from cryptography.fernet import Fernet

    url = f"http://127.0.0.1:{port}"
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{ROOT / 'include'}:{ROOT / 'plugins'}:{ROOT}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "FRAUDCAL_ARTIFACTS_DIR": os.environ.get("FRAUDCAL_ARTIFACTS_DIR", str(ROOT / "artifacts" / "airflow")),
    }


def healthy(url: str) -> bool:
    with contextlib.suppress(OSError, ValueError):
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as response:
            health = json.loads(response.read())
        parts = ("metadatabase", "scheduler", "dag_processor", "triggerer")
        return all(health.get(part, {}).get("status") == "healthy" for part in parts)
    return False


@contextlib.contextmanager
def running_airflow(
    metadata_database: str = "fraudcal_airflow", startup_timeout: float = 240
) -> Iterator[LocalAirflow]:
    """Start the four components, yield once healthy, stop them (process groups) on exit."""
    home = Path(tempfile.mkdtemp(prefix="fraudcal-airflow-"))
    (home / "logs").mkdir()
    password = secrets.token_urlsafe(12)
    password_file = home / "passwords.json"
    password_file.write_text(json.dumps({ADMIN_USER: password}))
    port = free_port()
    env = airflow_environment(home, port, metadata_url(os.environ["FRAUD_DB_URL"], metadata_database), password_file)
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run(
        [airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    processes = []
    try:
        for component in COMPONENTS:
            log = (home / "logs" / f"{component}.log").open("w")
            processes.append(
                subprocess.Popen(
                    [airflow, component],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        url = env["AIRFLOW__API__BASE_URL"]
        deadline = time.monotonic() + startup_timeout
        while not healthy(url):
            if time.monotonic() > deadline or any(process.poll() is not None for process in processes):
                raise RuntimeError(f"local Airflow did not become healthy; logs in {home / 'logs'}")
            time.sleep(2)
        yield LocalAirflow(url=url, username=ADMIN_USER, password=password, home=home)
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def main() -> int:
    with running_airflow() as airflow:
        print(f"Airflow is up: {airflow.url}  (login {airflow.username} / {airflow.password})")
        print(f"logs: {airflow.home / 'logs'}; Ctrl-C stops every component")
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        try:
            while not stop:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
