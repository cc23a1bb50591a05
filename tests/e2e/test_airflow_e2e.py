"""End to end on a real Airflow: api-server, scheduler, dag-processor, triggerer (LocalExecutor),
PostgreSQL metadata, driven through the REST API the UI uses.

One stack for the module (``fraudcal_dev.airflow_stack``, see ``conftest.py``); its logs are copied
to ``artifacts/e2e/local/`` whatever the outcome.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import psycopg
import pytest

from tests.e2e.conftest import airflow_stack, finished

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(db_url, redis_client_module):
    with airflow_stack(db_url, "local") as (api, sink, _):
        yield api, sink


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
                "SELECT as_of::date::text FROM fraudcal.calibration_sets WHERE model_version = 'v1' AND method = 'residual' AND dag_id = "
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
