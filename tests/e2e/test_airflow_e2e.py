"""End to end on a real Airflow: api-server, scheduler, dag-processor, triggerer (LocalExecutor),
PostgreSQL metadata, driven through the REST API the UI uses.

One stack for the module (``scripts/airflow_local.py``); its logs are copied to
``artifacts/e2e/`` whatever the outcome, so a failed CI run leaves them behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from tests.integration.history import load_history
from tests.integration.smtp_sink import Sink, free_port, smtp_connection

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import airflow_local  # noqa: E402  (scripts/airflow_local.py)
import services  # noqa: E402

pytestmark = pytest.mark.slow


class Api:
    """A tiny client of Airflow's REST API v2 with a bearer token."""

    def __init__(self, stack: airflow_local.LocalAirflow):
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


@pytest.fixture(scope="module")
def stack(db_url, redis_client_module):
    from aiosmtpd.controller import Controller

    load_history(db_url)
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = smtp_connection(controller.port)
    database = f"fraudcal_airflow_e2e_{os.getpid()}"
    home = None
    try:
        with airflow_local.running_airflow(metadata_database=database) as airflow:
            home = airflow.home
            yield Api(airflow), sink
    finally:
        controller.stop()
        os.environ.pop("AIRFLOW_CONN_SMTP_DEFAULT", None)
        if home is not None:
            shutil.copytree(home / "logs", ROOT / "artifacts" / "e2e", dirs_exist_ok=True)
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


def test_a_rest_triggered_calibration_publishes_the_set(stack, redis_client_module):
    api, _ = stack
    status, run = api.call(
        "POST",
        "/api/v2/dags/calibrate_fraud_model/dagRuns",
        {"logical_date": "2025-02-20T00:00:00Z", "conf": {"model_versions": ["v1"]}},
    )
    assert status == 200, run
    done = api.wait_for(lambda: finished(api, "calibrate_fraud_model", run["dag_run_id"]))
    assert done["state"] == "success"
    payload = json.loads(redis_client_module.get("fraudcal:calibration:fraud_detector:v1"))
    assert payload["as_of"] == "2025-02-20T00:00:00Z" and payload["n"] > 1000
    # (the module's history already held this very set, so its row and run_id were left as they were)


def test_an_invalid_conf_is_refused_with_400_naming_the_param(stack):
    api, _ = stack
    before = len(api.runs("calibrate_fraud_model"))
    status, body = api.call(
        "POST",
        "/api/v2/dags/calibrate_fraud_model/dagRuns",
        {"logical_date": "2025-02-21T00:00:00Z", "conf": {"window_days": 0}},
    )
    assert status == 400 and "window_days" in body["detail"]
    assert len(api.runs("calibrate_fraud_model")) == before


def test_a_rest_backfill_of_three_days_records_three_sets_and_keeps_the_live_one(stack, redis_client_module, db_url):
    api, _ = stack
    live = redis_client_module.get("fraudcal:calibration:fraud_detector:v1")
    with psycopg.connect(db_url) as conn:  # the module's history holds these days' sets already
        conn.execute(
            "DELETE FROM fraudcal.calibration_sets WHERE model_version = 'v1' "
            "AND as_of >= '2025-02-06' AND as_of <= '2025-02-08'"
        )
    status, backfill = api.call(
        "POST",
        "/api/v2/backfills",
        {
            "dag_id": "calibrate_fraud_model",
            "from_date": "2025-02-05T00:00:00Z",
            "to_date": "2025-02-07T00:00:00Z",
            "dag_run_conf": {"model_versions": ["v1"]},
            "max_active_runs": 3,
            "reprocess_behavior": "none",
        },
    )
    assert status == 200, backfill

    def three_done():
        runs = [run for run in api.runs("calibrate_fraud_model") if run["run_type"] == "backfill"]
        return runs if len(runs) == 3 and all(run["state"] in ("success", "failed") for run in runs) else None

    runs = api.wait_for(three_done, timeout=300)
    assert [run["state"] for run in runs] == ["success"] * 3
    expected = sorted(run["data_interval_end"][:10] for run in runs)
    with psycopg.connect(db_url) as conn:
        recorded = [
            row[0]
            for row in conn.execute(
                "SELECT as_of::date::text FROM fraudcal.calibration_sets WHERE model_version = 'v1' AND dag_id = "
                "'calibrate_fraud_model' AND run_id = ANY(%s) ORDER BY as_of",
                ([run["dag_run_id"] for run in runs],),
            )
        ]
    assert recorded == expected and len(set(recorded)) == 3
    assert redis_client_module.get("fraudcal:calibration:fraud_detector:v1") == live


def test_the_calibration_asset_makes_the_scheduler_run_the_report_and_the_mail_arrives(stack):
    api, sink = stack

    def report_runs():
        runs = [run for run in api.runs("report_coverage") if run["run_type"] == "asset_triggered"]
        return runs if runs and all(run["state"] in ("success", "failed") for run in runs) else None

    runs = api.wait_for(report_runs, timeout=240)
    assert any(run["state"] == "success" for run in runs)
    message = api.wait_for(lambda: sink.messages[0] if sink.messages else None, timeout=60)
    assert message["Subject"].startswith("[") and "fraud_detector" in message["Subject"]


def test_the_calibration_page_is_registered_and_needs_authentication(stack):
    api, _ = stack
    status, plugins = api.call("GET", "/api/v2/plugins")
    assert status == 200
    ours = [plugin for plugin in plugins["plugins"] if plugin["name"] == "fraudcal_calibration"]
    assert ours and ours[0]["external_views"][0]["href"] == "/fraudcal/calibration"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{api.base}/fraudcal/calibration", timeout=30)
    assert refused.value.code in (401, 403)


def test_the_calibration_page_shows_the_sets_in_force_and_flags_missing_ones(stack):
    api, _ = stack
    request = urllib.request.Request(
        f"{api.base}/fraudcal/calibration", headers={"Authorization": f"Bearer {api.token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        html = response.read().decode()
    v1 = html[html.index("fraud_detector / v1") : html.index("fraud_detector / v2")]
    v2 = html[html.index("fraud_detector / v2") :]
    assert "2025-02-20T00:00:00Z" in v1  # the live set published by the REST-triggered run
    assert 'class="bad">' in v1  # as_of 2025-02-20 is long past: stale, in red
    assert "missing: the online service falls back to the point prediction" in v2  # v2 was never published


def test_the_interval_backfill_fans_out_mapped_chunks(stack, db_url):
    api, _ = stack
    status, run = api.call(
        "POST",
        "/api/v2/dags/backfill_prediction_intervals/dagRuns",
        {
            "logical_date": None,
            "conf": {"date_from": "2025-02-01", "date_to": "2025-02-10", "chunk_size": 1000, "model_versions": ["v1"]},
        },
    )
    assert status == 200, run
    done = api.wait_for(lambda: finished(api, "backfill_prediction_intervals", run["dag_run_id"]), timeout=300)
    assert done["state"] == "success"
    status, instances = api.call(
        "GET", f"/api/v2/dags/backfill_prediction_intervals/dagRuns/{run['dag_run_id']}/taskInstances?limit=100"
    )
    chunks = [ti for ti in instances["task_instances"] if ti["task_id"] == "apply_chunk"]
    assert len(chunks) >= 2 and {ti["state"] for ti in chunks} == {"success"}
    assert sorted(ti["map_index"] for ti in chunks) == list(range(len(chunks)))
    with psycopg.connect(db_url) as conn:
        unfilled = conn.execute(
            "SELECT count(*) FROM noc_fraud_prediction_log WHERE model_version = 'v1' AND prediction_lower_bound IS NULL "
            "AND predicted_at >= '2025-02-01' AND predicted_at < '2025-02-11'"
        ).fetchone()[0]
    assert unfilled == 0
