"""The end-to-end tier's shared parts: a REST client, and a module-scoped real Airflow.

Each test module starts its own stack through :mod:`fraudcal_dev.airflow_stack` (LocalExecutor, or
the CeleryExecutor with workers) and stops it, every process included, when the module ends.
Component logs are copied to ``artifacts/e2e/<module>/`` whatever the outcome, so a failed CI run
leaves them behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fraudcal_dev import services
from fraudcal_dev.airflow_stack import LocalAirflow, running_airflow
from tests.integration.history import load_history
from tests.integration.smtp_sink import Sink, smtp_connection

ROOT = Path(__file__).resolve().parents[2]


class Api:
    """A tiny client of Airflow's REST API v2 with a bearer token."""

    def __init__(self, stack: LocalAirflow):
        self.base, self.token = stack.url, stack.token()

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"{self.base}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def runs(self, dag_id: str) -> list[dict]:
        return self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")[1]["dag_runs"]

    def wait_for(self, condition, timeout: float = 180, every: float = 2):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout}s")


@contextlib.contextmanager
def airflow_stack(
    db_url: str, name: str, celery_workers: int = 0
) -> Iterator[tuple[Api, Sink, LocalAirflow]]:
    """A fresh test history, an SMTP sink and a real Airflow; logs kept under artifacts/e2e/name."""
    from aiosmtpd.controller import Controller

    load_history(db_url)
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=services.free_port())
    controller.start()
    os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = smtp_connection(controller.port)
    database = f"fraudcal_airflow_e2e_{os.getpid()}"
    home = Path(tempfile.mkdtemp(prefix=f"fraudcal-airflow-e2e-{name}-"))
    try:
        with running_airflow(
            metadata_database=database, celery_workers=celery_workers, home=home
        ) as airflow:
            yield Api(airflow), sink, airflow
    finally:
        controller.stop()
        os.environ.pop("AIRFLOW_CONN_SMTP_DEFAULT", None)
        # also when the stack never came up: the likeliest CI failure
        shutil.copytree(home / "logs", ROOT / "artifacts" / "e2e" / name, dirs_exist_ok=True)
        with psycopg.connect(os.environ["FRAUD_DB_URL"].rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            services.drop_database(conn, database)


@pytest.fixture(scope="module")
def redis_client_module():
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    keys = list(client.scan_iter("fraudcal:*"))
    if keys:
        client.delete(*keys)
    yield client
    client.close()


def finished(api: Api, dag_id: str, run_id: str):
    status, run = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
    return run if run.get("state") in ("success", "failed") else None
